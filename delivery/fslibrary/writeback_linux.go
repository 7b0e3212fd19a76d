package fslibrary

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks Linux to begin writing a file range to disk without
// waiting (sync_file_range with SYNC_FILE_RANGE_WRITE). It is only a hint:
// durability still comes from the sync at Publish, so errors are ignored.
func startWriteback(f *os.File, off, n int64) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
		})
	}
}
