package fslibrary_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
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
// an edit through a hard-linked share would; the blob may be pending.
func (c corruptible) CorruptBlob(sum [32]byte) error {
	p := pendingFile(c.Dir(), sum)
	if _, err := os.Stat(p); err != nil {
		p = blobFile(c.Dir(), sum)
	}
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

func pendingFile(root string, sum [32]byte) string {
	return filepath.Join(root, "pending", hexString(sum))
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

// exists reports whether a file is at p.
func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Stat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// TestPendingUntilPublish: a put blob is stored (HasBlob, OpenBlob) but
// sits in pending/, not at its final path in blobs/, until a Publish that
// uses it makes it durable and moves it there, read-only.
func TestPendingUntilPublish(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir)
	data := bytes.Repeat([]byte("pending content "), 5000)
	sum := sha256.Sum256(data)
	putAll(t, l, data)
	if exists(t, blobFile(dir, sum)) {
		t.Fatal("a blob not yet published is at its final path in blobs/")
	}
	if !exists(t, pendingFile(dir, sum)) {
		t.Fatal("the put blob is not in pending/")
	}
	if size, ok, err := l.HasBlob(ctx, sum); err != nil || !ok || size != int64(len(data)) {
		t.Fatalf("HasBlob of a pending blob = %d, %v, %v; want %d, true, nil", size, ok, err, len(data))
	}
	rc, err := l.OpenBlob(ctx, sum)
	if err != nil {
		t.Fatalf("OpenBlob of a pending blob: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("OpenBlob of a pending blob read %d bytes, %v", len(got), err)
	}
	// A second put of the same content finds the pending copy.
	if err := l.PutBlob(ctx, sum, int64(len(data)), &failingReader{}); err != nil {
		t.Fatalf("PutBlob of a pending blob read its reader: %v", err)
	}
	if err := l.Publish(ctx, "TST00001", 1, pkg.Manifest{Files: []pkg.File{file("a.bin", data)}}); err != nil {
		t.Fatal(err)
	}
	if exists(t, pendingFile(dir, sum)) || !exists(t, blobFile(dir, sum)) {
		t.Fatal("Publish did not move the blob from pending/ to blobs/")
	}
	fi, err := os.Stat(blobFile(dir, sum))
	if err != nil || fi.Mode().Perm()&0o222 != 0 {
		t.Fatalf("the published blob is writable: %v, %v", fi.Mode(), err)
	}
	if n := countFiles(t, filepath.Join(dir, "tmp")); n != 0 {
		t.Fatalf("%d files left in tmp/", n)
	}
}

// failingReader fails any read: PutBlob must not read it.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("read") }

// TestOpenDiscardsPending: reopening a library drops what was put but not
// published, since it may not have reached the disk; published content
// stays.
func TestOpenDiscardsPending(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir)
	kept, lost := []byte("published"), []byte("put, never published")
	putAll(t, l, kept, lost)
	if err := l.Publish(ctx, "TST00001", 1, pkg.Manifest{Files: []pkg.File{file("a", kept)}}); err != nil {
		t.Fatal(err)
	}
	l2 := open(t, dir)
	if _, ok, err := l2.HasBlob(ctx, sha256.Sum256(lost)); err != nil || ok {
		t.Fatalf("HasBlob of a pending blob after reopening = %v, %v; want false", ok, err)
	}
	if n := countFiles(t, filepath.Join(dir, "pending")); n != 0 {
		t.Fatalf("%d files left in pending/ after reopening", n)
	}
	err := l2.Publish(ctx, "TST00001", 2, pkg.Manifest{Files: []pkg.File{file("b", lost)}})
	if !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Publish of the discarded blob: %v, want ErrNotFound", err)
	}
	if bad, err := l2.Verify(ctx, "TST00001", 1); err != nil || bad != nil {
		t.Fatalf("Verify of the published version after reopening = %v, %v", bad, err)
	}
}

// copyTree copies the directory tree src to dst (files, folders, modes):
// the state a crash would leave if every change made so far had reached
// the disk.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, data, 0o644); err != nil {
			return err
		}
		return os.Chmod(out, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCrashBeforePublish: a crash after PutBlob and before Publish (the
// directory as it was then, reopened) loses the put blob, never serves it,
// and keeps what was published.
func TestCrashBeforePublish(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir)
	old, put := bytes.Repeat([]byte("old"), 3000), bytes.Repeat([]byte("new"), 3000)
	putAll(t, l, old)
	if err := l.Publish(ctx, "TST00001", 1, pkg.Manifest{Files: []pkg.File{file("a", old)}}); err != nil {
		t.Fatal(err)
	}
	putAll(t, l, put)
	crashed := filepath.Join(t.TempDir(), "crashed")
	copyTree(t, dir, crashed)

	l2 := open(t, crashed)
	if _, ok, err := l2.HasBlob(ctx, sha256.Sum256(put)); err != nil || ok {
		t.Fatalf("HasBlob after the crash = %v, %v; want false", ok, err)
	}
	if _, err := l2.OpenBlob(ctx, sha256.Sum256(put)); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("OpenBlob after the crash: %v, want ErrNotFound", err)
	}
	if exists(t, blobFile(crashed, sha256.Sum256(put))) {
		t.Fatal("the unpublished blob is in blobs/ after the crash")
	}
	if bad, err := l2.Verify(ctx, "TST00001", 1); err != nil || bad != nil {
		t.Fatalf("Verify of the published version after the crash = %v, %v", bad, err)
	}
	// The copy is put again and published.
	putAll(t, l2, put)
	if err := l2.Publish(ctx, "TST00001", 2, pkg.Manifest{Files: []pkg.File{file("a", put)}}); err != nil {
		t.Fatal(err)
	}
}

// TestGCRemovesPendingBlobs: blobs put but used by no published version
// are unreferenced, pending or not; a pending blob that a published
// version uses (a refresh's) stays.
func TestGCRemovesPendingBlobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := corruptible{open(t, dir)}
	used, orphan1, orphan2 := []byte("used"), []byte("orphan one"), []byte("orphan two")
	putAll(t, l.Library, used)
	if err := l.Publish(ctx, "TST00001", 1, pkg.Manifest{Files: []pkg.File{file("a", used)}}); err != nil {
		t.Fatal(err)
	}
	// Damage the published blob, let Verify discard it, and put it again:
	// it is pending and referenced.
	if err := l.CorruptBlob(sha256.Sum256(used)); err != nil {
		t.Fatal(err)
	}
	if bad, err := l.Verify(ctx, "TST00001", 1); err != nil || len(bad) != 1 {
		t.Fatalf("Verify of the damaged blob = %v, %v", bad, err)
	}
	putAll(t, l.Library, used, orphan1, orphan2)
	if n, err := l.GC(ctx); err != nil || n != 2 {
		t.Fatalf("GC = %d, %v; want 2 (the pending blobs no version uses)", n, err)
	}
	for _, d := range [][]byte{orphan1, orphan2} {
		if _, ok, _ := l.HasBlob(ctx, sha256.Sum256(d)); ok {
			t.Fatalf("GC kept the unreferenced pending blob %q", d)
		}
	}
	if !exists(t, pendingFile(dir, sha256.Sum256(used))) {
		t.Fatal("GC deleted the refreshed pending blob a published version uses")
	}
	if n := countFiles(t, filepath.Join(dir, "pending")); n != 1 {
		t.Fatalf("%d files in pending/ after GC, want 1", n)
	}
}

// TestRefreshPromotes: the refresh of a published version (Verify
// discards a damaged blob, the blob is put again, the version is published
// again with the same manifest) moves the new copy to blobs/. Until then
// the pending copy counts as stored for Verify, but Materialize links only
// durable blobs.
func TestRefreshPromotes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := corruptible{open(t, dir)}
	data := bytes.Repeat([]byte("refresh me"), 999)
	sum := sha256.Sum256(data)
	m := pkg.Manifest{Files: []pkg.File{file("x/a.bin", data)}}
	putAll(t, l.Library, data)
	if err := l.Publish(ctx, "TST00001", 1, m); err != nil {
		t.Fatal(err)
	}
	if err := l.CorruptBlob(sum); err != nil {
		t.Fatal(err)
	}
	if bad, err := l.Verify(ctx, "TST00001", 1); err != nil || len(bad) != 1 {
		t.Fatalf("Verify = %v, %v; want the damaged file", bad, err)
	}
	putAll(t, l.Library, data)
	if exists(t, blobFile(dir, sum)) || !exists(t, pendingFile(dir, sum)) {
		t.Fatal("the refreshed blob is not pending")
	}
	if bad, err := l.Verify(ctx, "TST00001", 1); err != nil || bad != nil {
		t.Fatalf("Verify with the refreshed blob pending = %v, %v; want nil, nil", bad, err)
	}
	if _, err := l.Materialize(ctx, "TST00001", 1); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Materialize with a blob not yet durable: %v, want ErrNotFound", err)
	}
	if err := l.Publish(ctx, "TST00001", 1, m); err != nil {
		t.Fatalf("Publish again: %v", err)
	}
	if !exists(t, blobFile(dir, sum)) || exists(t, pendingFile(dir, sum)) {
		t.Fatal("publishing the version again did not promote the refreshed blob")
	}
	tree, err := l.Materialize(ctx, "TST00001", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(tree, "x", "a.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("materialised file: %v", err)
	}
	// A damaged pending blob is discarded like a durable one.
	if err := l.CorruptBlob(sum); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, "TST00001", 1); err != nil {
		t.Fatal(err)
	}
	putAll(t, l.Library, data)
	if err := l.CorruptBlob(sum); err != nil { // the pending copy
		t.Fatal(err)
	}
	if bad, err := l.Verify(ctx, "TST00001", 1); err != nil || len(bad) != 1 {
		t.Fatalf("Verify of a damaged pending blob = %v, %v", bad, err)
	}
	if _, ok, _ := l.HasBlob(ctx, sum); ok || exists(t, pendingFile(dir, sum)) {
		t.Fatal("Verify kept the damaged pending blob")
	}
}

// TestConcurrentPutPublish: several goroutines put the same blobs at once
// and publish versions using them, racing the promotion of those very
// blobs; a blob once put is never reported missing, and in the end each is
// once in blobs/ and nowhere else. Run it with -race.
func TestConcurrentPutPublish(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir)
	const goroutines, rounds = 8, 4
	var blobs [][]byte
	for r := range rounds {
		blobs = append(blobs, bytes.Repeat([]byte{byte(r), 'x'}, 100000+r))
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*rounds*3)
	for g := range goroutines {
		wg.Go(func() {
			for r, data := range blobs {
				sum := sha256.Sum256(data)
				if err := l.PutBlob(ctx, sum, int64(len(data)), bytes.NewReader(data)); err != nil {
					errs <- fmt.Errorf("goroutine %d round %d: PutBlob: %w", g, r, err)
					return
				}
				if _, ok, err := l.HasBlob(ctx, sum); err != nil || !ok {
					errs <- fmt.Errorf("goroutine %d round %d: HasBlob after PutBlob = %v, %v", g, r, ok, err)
				}
				m := pkg.Manifest{Files: []pkg.File{file("a", data)}}
				// Every goroutine publishes the same version (all but one
				// are no-ops) and one of its own.
				if err := l.Publish(ctx, "TST00001", uint32(r+1), m); err != nil {
					errs <- fmt.Errorf("goroutine %d round %d: Publish: %w", g, r, err)
				}
				if err := l.Publish(ctx, "TST00002", uint32(g*rounds+r+1), m); err != nil {
					errs <- fmt.Errorf("goroutine %d round %d: Publish: %w", g, r, err)
				}
				rc, err := l.OpenBlob(ctx, sum)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d round %d: OpenBlob: %w", g, r, err)
					continue
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("goroutine %d round %d: OpenBlob read %d bytes, %v", g, r, len(got), err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, data := range blobs {
		sum := sha256.Sum256(data)
		if !exists(t, blobFile(dir, sum)) {
			t.Errorf("blob %x is not in blobs/", sum[:4])
		}
	}
	if n := countFiles(t, filepath.Join(dir, "pending")); n != 0 {
		t.Errorf("%d files left in pending/ after every version was published", n)
	}
	if n := countFiles(t, filepath.Join(dir, "tmp")); n != 0 {
		t.Errorf("%d files left in tmp/", n)
	}
	for v := uint32(1); v <= rounds; v++ {
		if bad, err := l.Verify(ctx, "TST00001", v); err != nil || bad != nil {
			t.Errorf("Verify v%d = %v, %v", v, bad, err)
		}
	}
}

// gatedReader serves its first half, says so on started, and serves the
// rest once gate is closed.
type gatedReader struct {
	data    []byte
	off     int
	started chan struct{}
	gate    chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	half := len(g.data) / 2
	if g.off == half {
		close(g.started)
		<-g.gate
	}
	end := len(g.data)
	if g.off < half {
		end = half
	}
	if g.off == len(g.data) {
		return 0, io.EOF
	}
	n := copy(p, g.data[g.off:end])
	g.off += n
	return n, nil
}

// TestPutFinishingAfterPromotion: a put that began before another put of
// the same blob was published, and ends after the Publish promoted it,
// leaves the durable copy alone and nothing in pending/: a blob is never
// both pending and in blobs/.
func TestPutFinishingAfterPromotion(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := open(t, dir)
	data := bytes.Repeat([]byte("slow and fast"), 10000)
	sum := sha256.Sum256(data)
	slow := &gatedReader{data: data, started: make(chan struct{}), gate: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- l.PutBlob(ctx, sum, int64(len(data)), slow) }()
	<-slow.started
	putAll(t, l, data)
	if err := l.Publish(ctx, "TST00001", 1, pkg.Manifest{Files: []pkg.File{file("a", data)}}); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(blobFile(dir, sum))
	if err != nil {
		t.Fatal(err)
	}
	close(slow.gate)
	if err := <-done; err != nil {
		t.Fatalf("the slow PutBlob: %v", err)
	}
	if n := countFiles(t, filepath.Join(dir, "pending")); n != 0 {
		t.Fatalf("%d files in pending/: the slow put added a copy of a durable blob", n)
	}
	after, err := os.Stat(blobFile(dir, sum))
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the durable blob was replaced: %v", err)
	}
}
