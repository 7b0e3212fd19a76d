//go:build !linux

package fslibrary

import "errors"

// syncfsWorks is false: without syncfs(2), Publish fsyncs each file.
func syncfsWorks(dir string) bool { return false }

// syncfs is not available here.
func syncfs(dir string) error { return errors.ErrUnsupported }
