package fslibrary

import (
	"os"
	"syscall"
)

// startWriteback asks Linux to begin writing a file range to disk without
// waiting (sync_file_range with SYNC_FILE_RANGE_WRITE). It is only a hint:
// durability still comes from the final Sync, so errors are ignored.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			syscall.SyncFileRange(int(fd), off, n, syncFileRangeWrite)
		})
	}
}
