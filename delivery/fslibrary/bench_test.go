package fslibrary

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	pkg "github.com/consign/consign/package"
)

// BenchmarkHash compares PutBlob on a 64 MiB blob with crypto/sha256 over
// the same bytes in memory (issue #3: PutBlob's hashing within 10 % of
// crypto/sha256). "hashCopy" is PutBlob's copy loop writing nowhere, so it
// isolates the hashing path from the disk; "PutBlob" writes to the page
// cache only (it does not sync); "PutBlob+Publish" adds the Publish that
// makes the blob durable; "write+fsync" is the disk alone (the same bytes
// written and synced without hashing).
func BenchmarkHash(b *testing.B) {
	const size = 64 << 20
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	sum := sha256.Sum256(data)
	ctx := context.Background()

	b.Run("crypto-sha256", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			sha256.Sum256(data)
		}
	})
	b.Run("hashCopy", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, _, err := hashCopy(ctx, io.Discard, bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	m := pkg.Manifest{Files: []pkg.File{{Path: "a", Size: size, SHA256: sum}}}
	for _, publish := range []bool{false, true} {
		name := "PutBlob"
		if publish {
			name = "PutBlob+Publish"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			root := b.TempDir()
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				l, err := Open(filepath.Join(root, strconv.Itoa(i)))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := l.PutBlob(ctx, sum, size, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
				if publish {
					if err := l.Publish(ctx, "TST00001", 1, m); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				removeAll(l.Dir())
				b.StartTimer()
			}
		})
	}
	b.Run("write+fsync", func(b *testing.B) {
		b.SetBytes(size)
		dir := b.TempDir()
		for b.Loop() {
			f, err := os.CreateTemp(dir, "w-*")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(f, bytes.NewReader(data), make([]byte, copyBuffer)); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			b.StopTimer()
			os.Remove(f.Name())
			b.StartTimer()
		}
	})
}

// BenchmarkPublishMany puts 200 blobs of 64 KiB and publishes a version
// of them, durably: the case where one sync per blob cost most. "batched"
// is the library as Open sets it up (on Linux ext4/XFS/Btrfs: two
// syncfs(2) and a directory fsync per Publish); "fsync-each" is the
// portable path (an fsync per blob and per blob directory, issued
// concurrently, at Publish); "fsync-per-put" is the same bytes written by
// the earlier design's steps (file fsync and directory fsync per blob)
// for comparison.
func BenchmarkPublishMany(b *testing.B) {
	const n, size = 200, 64 << 10
	ctx := context.Background()
	rng := rand.NewChaCha8([32]byte{2})
	var blobs [][]byte
	var m pkg.Manifest
	for i := range n {
		d := make([]byte, size)
		rng.Read(d)
		blobs = append(blobs, d)
		m.Files = append(m.Files, pkg.File{Path: fmt.Sprintf("f%03d", i), Size: size, SHA256: sha256.Sum256(d)})
	}
	for _, mode := range []string{"batched", "fsync-each", "fsync-per-put"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(n * size)
			root := b.TempDir()
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				l, err := Open(filepath.Join(root, strconv.Itoa(i)))
				if err != nil {
					b.Fatal(err)
				}
				if mode == "fsync-each" {
					withFsync(l)
				}
				b.StartTimer()
				for k, d := range blobs {
					if mode == "fsync-per-put" {
						// The earlier design: sync each file and its
						// directory entry as it is put.
						p := filepath.Join(l.Dir(), "blobs", fmt.Sprintf("%02x", k), "blob")
						if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
							b.Fatal(err)
						}
						if err := os.WriteFile(p, d, 0o444); err != nil {
							b.Fatal(err)
						}
						if err := fsyncFiles([]string{p}); err != nil {
							b.Fatal(err)
						}
						if err := syncDir(filepath.Dir(p)); err != nil {
							b.Fatal(err)
						}
						continue
					}
					if err := l.PutBlob(ctx, m.Files[k].SHA256, size, bytes.NewReader(d)); err != nil {
						b.Fatal(err)
					}
				}
				if mode != "fsync-per-put" {
					if err := l.Publish(ctx, "TST00001", 1, m); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				removeAll(l.Dir())
				b.StartTimer()
			}
		})
	}
}
