package fslibrary_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"os"

	"github.com/consign/consign/delivery/fslibrary"
	pkg "github.com/consign/consign/package"
)

// Example shows a copy to a DP library: blobs put are stored at once but
// become durable only with the Publish that uses them, so a library
// reopened after a crash (or a restart) before that Publish has lost them,
// and the next copy puts them again.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "dp-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	lib, err := fslibrary.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	setup, readme := []byte("MZ setup program"), []byte("read me")
	put := func(l *fslibrary.Library, data []byte) {
		if err := l.PutBlob(ctx, sha256.Sum256(data), int64(len(data)), bytes.NewReader(data)); err != nil {
			log.Fatal(err)
		}
	}
	has := func(l *fslibrary.Library, data []byte) bool {
		_, ok, err := l.HasBlob(ctx, sha256.Sum256(data))
		if err != nil {
			log.Fatal(err)
		}
		return ok
	}
	file := func(path string, data []byte) pkg.File {
		return pkg.File{Path: path, Size: int64(len(data)), SHA256: sha256.Sum256(data)}
	}

	// Version 1: put its blobs, then publish it (one batch of syncs).
	put(lib, setup)
	fmt.Println("setup.exe stored before Publish:", has(lib, setup))
	if err := lib.Publish(ctx, "CEN00001", 1, pkg.Manifest{Files: []pkg.File{file("setup.exe", setup)}}); err != nil {
		log.Fatal(err)
	}

	// A blob put, then the process stops before the Publish that uses it.
	put(lib, readme)
	reopened, err := fslibrary.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after reopening, setup.exe stored:", has(reopened, setup))
	fmt.Println("after reopening, readme.txt stored:", has(reopened, readme))
	m, err := reopened.Version(ctx, "CEN00001", 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version 1 files:", len(m.Files))
	// Output:
	// setup.exe stored before Publish: true
	// after reopening, setup.exe stored: true
	// after reopening, readme.txt stored: false
	// version 1 files: 1
}
