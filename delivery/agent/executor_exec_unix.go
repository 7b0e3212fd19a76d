//go:build unix

package agent

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// defaultShell runs a command line on Unix.
var defaultShell = []string{"/bin/sh", "-c"}

// setCommandLine sets c's arguments: the shell's, then the command line as
// one argument.
func setCommandLine(c *exec.Cmd, shell []string, line string) {
	c.Args = append(append([]string{}, shell...), line)
}

// newProcessGroup starts c in a process group of its own, so that stopping
// it also stops what it started.
func newProcessGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup kills c's process group.
func killProcessGroup(c *exec.Cmd) error {
	err := syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// exitedByItself reports whether the process ended with an exit status
// rather than by a signal: a program that exited just as it was being
// stopped keeps its own result.
func exitedByItself(ps *os.ProcessState) bool { return ps.Exited() }
