package fslibrary_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/distpoint"
	"github.com/consign/consign/distpoint/librarytest"
	pkg "github.com/consign/consign/package"
)

// corruptible adds the suite's corruption hook to a *fslibrary.Library.
type corruptible struct {
	*fslibrary.Library
}

// CorruptBlob flips one byte of the blob file in place, as a disk fault or
// an edit through a hard-linked share would.
func (c corruptible) CorruptBlob(sum [32]byte) error {
	p := blobFile(c.Dir(), sum)
	if err := os.Chmod(p, 0o644); err != nil {
		return err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	data[len(data)/2] ^= 0xFF
	return os.WriteFile(p, data, 0o444)
}

func blobFile(root string, sum [32]byte) string {
	h := hexString(sum)
	return filepath.Join(root, "blobs", h[:2], h)
}

func hexString(sum [32]byte) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 64)
	for i, c := range sum {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b)
}

func open(t *testing.T, dir string) *fslibrary.Library {
	t.Helper()
	l, err := fslibrary.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func TestConformance(t *testing.T) {
	librarytest.Run(t, func(t *testing.T) distpoint.Library {
		return corruptible{open(t, t.TempDir())}
	})
}

func file(path string, data []byte) pkg.File {
	return pkg.File{Path: path, Size: int64(len(data)), SHA256: sha256.Sum256(data)}
}

// countFiles counts the regular files below dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func putAll(t *testing.T, l *fslibrary.Library, data ...[]byte) {
	t.Helper()
	for _, d := range data {
		if err := l.PutBlob(context.Background(), sha256.Sum256(d), int64(len(d)), bytes.NewReader(d)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSingleInstanceOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir)
	shared, one, two := bytes.Repeat([]byte("shared"), 10000), []byte("version one"), []byte("version two")
	putAll(t, l, shared, one, shared, two, shared)
	if err := l.Publish(ctx, "TST00001", 1, pkg.Manifest{Files: []pkg.File{file("a.dll", shared), file("setup.exe", one)}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx, "TST00001", 2, pkg.Manifest{Files: []pkg.File{file("a.dll", shared), file("setup.exe", two)}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx, "TST00002", 1, pkg.Manifest{Files: []pkg.File{file("lib/other-name.dll", shared)}}); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(dir, "blobs")); n != 3 {
		t.Fatalf("%d blob files on disk for 3 distinct contents in 5 files", n)
	}
	if n := countFiles(t, filepath.Join(dir, "tmp")); n != 0 {
		t.Fatalf("%d files left in tmp/", n)
	}
	// Materialised trees link to the blobs rather than copying them.
	tree, err := l.Materialize(ctx, "TST00002", 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := os.Stat(filepath.Join(tree, "lib", "other-name.dll"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(blobFile(dir, sha256.Sum256(shared)))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Error("the materialised file is a copy, not a hard link to the blob")
	}
}

// TestCrashLeftovers simulates a crash in the middle of writes: partial
// temporary files and a half-built tree in tmp/. Reopening removes them and
// they were never visible.
func TestCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir)
	data := []byte("complete content")
	putAll(t, l, data)
	if err := l.Publish(ctx, "TST00001", 1, pkg.Manifest{Files: []pkg.File{file("a.txt", data)}}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.WriteFile(filepath.Join(tmp, "blob-123"), []byte("half a blo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifest-9"), []byte(`{"package":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "tree-5", "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "tree-5", "tree", "sub", "f"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(tmp, "tree-5", "tree", "sub"), 0o555); err != nil {
		t.Fatal(err)
	}
	l2 := open(t, dir)
	if entries, err := os.ReadDir(tmp); err != nil || len(entries) != 0 {
		t.Fatalf("tmp/ after reopening: %v, %v; want empty", entries, err)
	}
	if m, err := l2.Version(ctx, "TST00001", 1); err != nil || len(m.Files) != 1 {
		t.Fatalf("published version after reopening: %v, %v", m, err)
	}
	if bad, err := l2.Verify(ctx, "TST00001", 1); err != nil || bad != nil {
		t.Fatalf("Verify after reopening: %v, %v", bad, err)
	}
	if n, err := l2.GC(ctx); err != nil || n != 0 {
		t.Fatalf("GC after reopening = %d, %v", n, err)
	}
}

// TestCorruptManifest: a damaged manifest file is an error, never a wrong
// manifest, and GC refuses to delete blobs while it cannot read every
// manifest.
func TestCorruptManifest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir)
	data := []byte("content")
	putAll(t, l, data)
	if err := l.Publish(ctx, "TST00001", 1, pkg.Manifest{Files: []pkg.File{file("a.txt", data)}}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "versions", "TST00001", "1.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Replace(raw, []byte(`"a.txt"`), []byte(`"b.txt"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Version(ctx, "TST00001", 1); err == nil || errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Version of a tampered manifest: %v, want a corruption error", err)
	}
	if n, err := l.GC(ctx); err == nil || n != 0 {
		t.Fatalf("GC with an unreadable manifest = %d, %v; want an error and nothing deleted", n, err)
	}
}

// TestVerifyCopiedTree: a materialised file that is a copy (hard links
// failed) is checked too, and a damaged tree is dropped and rebuilt.
func TestVerifyCopiedTree(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir)
	data := bytes.Repeat([]byte("payload"), 1000)
	putAll(t, l, data)
	if err := l.Publish(ctx, "TST00001", 1, pkg.Manifest{Files: []pkg.File{file("x/a.bin", data)}}); err != nil {
		t.Fatal(err)
	}
	tree, err := l.Materialize(ctx, "TST00001", 1)
	if err != nil {
		t.Fatal(err)
	}
	// Replace the link by a damaged copy.
	p := filepath.Join(tree, "x", "a.bin")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append([]byte("X"), data[1:]...), 0o444); err != nil {
		t.Fatal(err)
	}
	bad, err := l.Verify(ctx, "TST00001", 1)
	if err != nil || len(bad) != 1 || bad[0].File.Path != "x/a.bin" || bad[0].Missing {
		t.Fatalf("Verify = %v, %v; want the damaged tree file", bad, err)
	}
	if _, err := os.Stat(tree); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the damaged tree was kept: %v", err)
	}
	if _, ok, _ := l.HasBlob(ctx, sha256.Sum256(data)); !ok {
		t.Fatal("Verify discarded the intact blob")
	}
	tree2, err := l.Materialize(ctx, "TST00001", 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(tree2, "x", "a.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("rebuilt tree: %v", err)
	}
}
