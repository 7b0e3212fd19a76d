//go:build !linux

package fslibrary

import "os"

// startWriteback is a no-op where there is no cheap way to start writeback
// early; the sync at Publish does all the work.
func startWriteback(f *os.File, off, n int64) {}
