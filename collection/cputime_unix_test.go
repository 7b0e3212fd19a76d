//go:build unix

package collection_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process used so far, so that a
// benchmark on a machine shared with other work can report what its own
// work cost beside the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
