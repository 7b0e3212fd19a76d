package fslibrary

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncfsWorks reports whether the file system holding dir is one whose
// syncfs(2) is known to write back every dirty page, inode and directory
// entry and flush the device cache, like fsync of each would. Others
// (FUSE before Linux 5.15 returns success without asking its server to
// sync, for example) get an fsync of each file instead.
func syncfsWorks(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	switch uint32(st.Type) {
	case 0xEF53, // ext2, ext3, ext4
		0x58465342, // XFS
		0x9123683E, // Btrfs
		0xF2F52010, // F2FS
		0x2FC12FC1, // ZFS
		0x01021994, // tmpfs: nothing to write
		0x794C7630: // overlayfs: syncs its upper file system
		return true
	}
	return false
}

// syncfs makes everything written to the file system holding dir durable
// with one syncfs(2). Where the system refuses the call (ENOSYS, as some
// sandboxes do), the error matches errors.ErrUnsupported.
func syncfs(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = unix.Syncfs(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	switch {
	case serr == nil:
		return nil
	case errors.Is(serr, unix.ENOSYS):
		return fmt.Errorf("syncfs %s: %w", dir, errors.ErrUnsupported)
	}
	return fmt.Errorf("syncfs %s: %w", dir, serr)
}
