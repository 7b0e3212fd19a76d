// Package librarytest is the conformance suite for distpoint.Library: the
// definition of a correct implementation. Every library in the tree runs it
// from its own test file, and so can one written elsewhere:
//
//	func TestConformance(t *testing.T) {
//		librarytest.Run(t, func(t *testing.T) distpoint.Library {
//			l, err := mylibrary.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return l
//		})
//	}
//
// open must return a new, empty library each time it is called.
//
// # Optional parts
//
// The suite checks that Verify finds corrupted content only when the
// library returned by open also implements Corrupter (a test-only hook,
// usually a small wrapper in the implementation's test file); otherwise it
// checks only that Verify passes intact content. It checks Materialize when
// the library implements distpoint.Materializer.
package librarytest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// Corrupter is implemented by a library under test that can damage its own
// stored content, the way a disk fault or an administrator editing a DP
// share would, so that the suite can check Verify.
type Corrupter interface {
	// CorruptBlob changes the stored bytes of the blob sum in place (its
	// size may stay the same), without the library noticing.
	CorruptBlob(sum [32]byte) error
}

// Run runs the conformance suite. open returns a new, empty library.
func Run(t *testing.T, open func(t *testing.T) distpoint.Library) {
	t.Run("BlobRoundTrip", func(t *testing.T) { testBlobRoundTrip(t, open(t)) })
	t.Run("HashMismatchStoresNothing", func(t *testing.T) { testHashMismatch(t, open(t)) })
	t.Run("SizeMismatchStoresNothing", func(t *testing.T) { testSizeMismatch(t, open(t)) })
	t.Run("ReaderErrorStoresNothing", func(t *testing.T) { testReaderError(t, open(t)) })
	t.Run("PublishAtomic", func(t *testing.T) { testPublishAtomic(t, open(t)) })
	t.Run("PublishRejectsBadInput", func(t *testing.T) { testPublishInvalid(t, open(t)) })
	t.Run("SingleInstance", func(t *testing.T) { testSingleInstance(t, open(t)) })
	t.Run("RemoveAndGC", func(t *testing.T) { testRemoveGC(t, open(t)) })
	t.Run("Verify", func(t *testing.T) { testVerify(t, open(t)) })
	t.Run("Materialize", func(t *testing.T) { testMaterialize(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, open(t)) })
	t.Run("CancelledMidPut", func(t *testing.T) { testCancelMidPut(t, open(t)) })
}

// content is a test file's bytes and their manifest entry.
type content struct {
	data []byte
	file pkg.File
}

// mkFile returns a file at path whose bytes are derived from seed.
func mkFile(path, seed string, size int) content {
	data := make([]byte, size)
	for i := range data {
		data[i] = seed[i%len(seed)] ^ byte(i/len(seed))
	}
	return content{data, pkg.File{Path: path, Size: int64(size), SHA256: sha256.Sum256(data)}}
}

func put(t *testing.T, l distpoint.Library, cs ...content) {
	t.Helper()
	for _, c := range cs {
		if err := l.PutBlob(context.Background(), c.file.SHA256, c.file.Size, bytes.NewReader(c.data)); err != nil {
			t.Fatalf("PutBlob(%s): %v", c.file.Path, err)
		}
	}
}

func manifest(cs ...content) pkg.Manifest {
	var m pkg.Manifest
	for _, c := range cs {
		m.Files = append(m.Files, c.file)
	}
	return m
}

func has(t *testing.T, l distpoint.Library, sum [32]byte) bool {
	t.Helper()
	_, ok, err := l.HasBlob(context.Background(), sum)
	if err != nil {
		t.Fatalf("HasBlob: %v", err)
	}
	return ok
}

func readBlob(t *testing.T, l distpoint.Library, sum [32]byte) []byte {
	t.Helper()
	rc, err := l.OpenBlob(context.Background(), sum)
	if err != nil {
		t.Fatalf("OpenBlob: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading blob: %v", err)
	}
	return b
}

func sameManifest(a, b pkg.Manifest) bool {
	return slices.Equal(a.Sorted().Files, b.Sorted().Files)
}

const pkgA consign.ObjectID = "TST00001"
const pkgB consign.ObjectID = "TST00002"

func testBlobRoundTrip(t *testing.T, l distpoint.Library) {
	ctx := context.Background()
	a := mkFile("a.msi", "alpha", 3<<20+17)
	empty := mkFile("empty.txt", "x", 0)
	if has(t, l, a.file.SHA256) {
		t.Fatal("HasBlob true in an empty library")
	}
	if _, err := l.OpenBlob(ctx, a.file.SHA256); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("OpenBlob of a missing blob: %v, want ErrNotFound", err)
	}
	put(t, l, a, empty)
	for _, c := range []content{a, empty} {
		size, ok, err := l.HasBlob(ctx, c.file.SHA256)
		if err != nil || !ok || size != c.file.Size {
			t.Fatalf("HasBlob(%s) = %d, %v, %v; want %d, true, nil", c.file.Path, size, ok, err, c.file.Size)
		}
		if got := readBlob(t, l, c.file.SHA256); !bytes.Equal(got, c.data) {
			t.Fatalf("OpenBlob(%s) returned %d bytes differing from the %d put", c.file.Path, len(got), len(c.data))
		}
	}
	// Putting it again is a no-op that succeeds.
	put(t, l, a)
	if got := readBlob(t, l, a.file.SHA256); !bytes.Equal(got, a.data) {
		t.Fatal("blob changed after being put again")
	}
}

func testHashMismatch(t *testing.T, l distpoint.Library) {
	ctx := context.Background()
	a := mkFile("a", "alpha", 100000)
	wrong := slices.Clone(a.data)
	wrong[5000]++
	err := l.PutBlob(ctx, a.file.SHA256, a.file.Size, bytes.NewReader(wrong))
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("PutBlob with other bytes: %v, want ErrInvalid", err)
	}
	var hm *distpoint.HashMismatchError
	if !errors.As(err, &hm) {
		t.Fatalf("PutBlob with other bytes: %T %v, want a *distpoint.HashMismatchError", err, err)
	}
	if hm.WantSHA256 != a.file.SHA256 || hm.GotSHA256 != sha256.Sum256(wrong) || hm.WantSize != a.file.Size || hm.GotSize != a.file.Size {
		t.Fatalf("HashMismatchError = %+v; want expected %x and actual %x, both %d bytes", hm, a.file.SHA256, sha256.Sum256(wrong), a.file.Size)
	}
	if has(t, l, a.file.SHA256) || has(t, l, sha256.Sum256(wrong)) {
		t.Fatal("a blob was stored despite the hash mismatch")
	}
	if _, err := l.OpenBlob(ctx, a.file.SHA256); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("OpenBlob after a failed put: %v, want ErrNotFound", err)
	}
}

func testSizeMismatch(t *testing.T, l distpoint.Library) {
	ctx := context.Background()
	a := mkFile("a", "alpha", 100000)
	for _, tc := range []struct {
		name string
		data []byte
		size int64
	}{
		{"short", a.data[:len(a.data)-1], a.file.Size},
		{"long", append(slices.Clone(a.data), 'x'), a.file.Size},
		{"size claimed too small", a.data, a.file.Size - 1},
		{"size claimed too large", a.data, a.file.Size + 1},
	} {
		err := l.PutBlob(ctx, a.file.SHA256, tc.size, bytes.NewReader(tc.data))
		var hm *distpoint.HashMismatchError
		if !errors.Is(err, consign.ErrInvalid) || !errors.As(err, &hm) {
			t.Errorf("%s: PutBlob: %v, want a *HashMismatchError matching ErrInvalid", tc.name, err)
			continue
		}
		if hm.WantSize != tc.size || hm.GotSize == tc.size {
			t.Errorf("%s: HashMismatchError sizes want %d got %d; the claimed size is %d and %d bytes were offered", tc.name, hm.WantSize, hm.GotSize, tc.size, len(tc.data))
		}
		if has(t, l, a.file.SHA256) {
			t.Fatalf("%s: a blob was stored despite the size mismatch", tc.name)
		}
	}
	if err := l.PutBlob(ctx, a.file.SHA256, -1, bytes.NewReader(nil)); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("PutBlob with size -1: %v, want ErrInvalid", err)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func testReaderError(t *testing.T, l distpoint.Library) {
	a := mkFile("a", "alpha", 3<<20)
	boom := errors.New("network dropped")
	err := l.PutBlob(context.Background(), a.file.SHA256, a.file.Size, &failingReader{a.data[:1<<20], boom})
	if !errors.Is(err, boom) {
		t.Fatalf("PutBlob from a failing reader: %v, want the reader's error", err)
	}
	if has(t, l, a.file.SHA256) {
		t.Fatal("a partial blob was stored")
	}
	put(t, l, a)
}

func testPublishAtomic(t *testing.T, l distpoint.Library) {
	ctx := context.Background()
	a, b := mkFile("bin/setup.exe", "alpha", 5000), mkFile("readme.txt", "beta", 70)
	m := manifest(b, a) // not sorted: Version returns it sorted
	if _, err := l.Version(ctx, pkgA, 1); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Version before Publish: %v, want ErrNotFound", err)
	}
	if vs, err := l.Versions(ctx, pkgA); err != nil || len(vs) != 0 {
		t.Fatalf("Versions of an unknown package = %v, %v; want empty, nil", vs, err)
	}
	put(t, l, a)
	err := l.Publish(ctx, pkgA, 1, m)
	if !errors.Is(err, consign.ErrNotFound) || !strings.Contains(err.Error(), b.file.Path) {
		t.Fatalf("Publish with a missing blob: %v, want ErrNotFound naming %s", err, b.file.Path)
	}
	if _, err := l.Version(ctx, pkgA, 1); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Version after a failed Publish: %v, want ErrNotFound", err)
	}
	if vs, err := l.Versions(ctx, pkgA); err != nil || len(vs) != 0 {
		t.Fatalf("Versions after a failed Publish = %v, %v; want empty", vs, err)
	}
	put(t, l, b)
	if err := l.Publish(ctx, pkgA, 1, m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got, err := l.Version(ctx, pkgA, 1)
	if err != nil || !slices.Equal(got.Files, m.Sorted().Files) {
		t.Fatalf("Version = %v, %v; want %v in path order", got, err, m.Sorted())
	}
	// Same content again: a no-op. Other content: a conflict.
	if err := l.Publish(ctx, pkgA, 1, manifest(a, b)); err != nil {
		t.Fatalf("Publish of the same version again: %v, want nil", err)
	}
	if err := l.Publish(ctx, pkgA, 1, manifest(a)); !errors.Is(err, consign.ErrConflict) {
		t.Fatalf("Publish of version 1 with other content: %v, want ErrConflict", err)
	}
	if got, _ := l.Version(ctx, pkgA, 1); !sameManifest(got, m) {
		t.Fatal("a conflicting Publish changed the published version")
	}
	// Versions are listed in order; the empty package version is allowed.
	for _, v := range []uint32{10, 2} {
		if err := l.Publish(ctx, pkgA, v, manifest(a)); err != nil {
			t.Fatalf("Publish v%d: %v", v, err)
		}
	}
	if err := l.Publish(ctx, pkgB, 1, pkg.Manifest{}); err != nil {
		t.Fatalf("Publish of an empty manifest: %v", err)
	}
	if vs, err := l.Versions(ctx, pkgA); err != nil || !slices.Equal(vs, []uint32{1, 2, 10}) {
		t.Fatalf("Versions = %v, %v; want [1 2 10]", vs, err)
	}
	if vs, err := l.Versions(ctx, pkgB); err != nil || !slices.Equal(vs, []uint32{1}) {
		t.Fatalf("Versions(%s) = %v, %v; want [1]", pkgB, vs, err)
	}
	if got, err := l.Version(ctx, pkgB, 1); err != nil || len(got.Files) != 0 {
		t.Fatalf("Version of the empty manifest = %v, %v", got, err)
	}
}

func testPublishInvalid(t *testing.T, l distpoint.Library) {
	ctx := context.Background()
	a := mkFile("a.cab", "alpha", 10)
	put(t, l, a)
	escape := a
	escape.file.Path = "../../etc/passwd"
	abs := a
	abs.file.Path = "/etc/passwd"
	bigger := a
	bigger.file.Size++
	for _, tc := range []struct {
		name string
		id   consign.ObjectID
		v    uint32
		m    pkg.Manifest
	}{
		{"path with ..", pkgA, 1, manifest(escape)},
		{"absolute path", pkgA, 1, manifest(abs)},
		{"duplicate path", pkgA, 1, manifest(a, a)},
		{"size differs from the blob", pkgA, 1, manifest(bigger)},
		{"bad package ID", "../x", 1, manifest(a)},
		{"empty package ID", "", 1, manifest(a)},
		{"version 0", pkgA, 0, manifest(a)},
	} {
		if err := l.Publish(ctx, tc.id, tc.v, tc.m); !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("Publish with %s: %v, want ErrInvalid", tc.name, err)
		}
	}
	if vs, err := l.Versions(ctx, pkgA); err != nil || len(vs) != 0 {
		t.Fatalf("Versions after rejected Publishes = %v, %v; want empty", vs, err)
	}
	if _, err := l.Version(ctx, "../x", 1); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("Version with a bad package ID: %v, want ErrInvalid", err)
	}
	if _, err := l.Versions(ctx, "x/../../y"); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("Versions with a bad package ID: %v, want ErrInvalid", err)
	}
	if err := l.Remove(ctx, pkgA, 0); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("Remove of version 0: %v, want ErrInvalid", err)
	}
}

func testSingleInstance(t *testing.T, l distpoint.Library) {
	ctx := context.Background()
	shared := mkFile("common/runtime.dll", "shared", 200000)
	v1only := mkFile("setup.exe", "one", 1000)
	v2only := mkFile("setup.exe", "two", 1001)
	// The same bytes under another name in another package.
	renamed := shared
	renamed.file.Path = "lib/RUNTIME2.DLL"
	put(t, l, shared, v1only)
	if err := l.Publish(ctx, pkgA, 1, manifest(shared, v1only)); err != nil {
		t.Fatal(err)
	}
	// A sender that checks HasBlob first copies only what is missing.
	for _, c := range []content{shared, v2only} {
		if !has(t, l, c.file.SHA256) {
			put(t, l, c)
		}
	}
	if err := l.Publish(ctx, pkgA, 2, manifest(shared, v2only)); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx, pkgB, 1, manifest(renamed)); err != nil {
		t.Fatalf("Publish sharing a blob under another path: %v", err)
	}
	for _, c := range []content{shared, v1only, v2only} {
		if got := readBlob(t, l, c.file.SHA256); !bytes.Equal(got, c.data) {
			t.Fatalf("blob of %s differs", c.file.Path)
		}
	}
	if n, err := l.GC(ctx); err != nil || n != 0 {
		t.Fatalf("GC with every blob referenced = %d, %v; want 0, nil", n, err)
	}
}

func testRemoveGC(t *testing.T, l distpoint.Library) {
	ctx := context.Background()
	a, b, c := mkFile("a", "alpha", 100), mkFile("b", "beta", 200), mkFile("c", "gamma", 300)
	orphan := mkFile("orphan", "delta", 400)
	put(t, l, a, b, c, orphan)
	if err := l.Publish(ctx, pkgA, 1, manifest(a, b)); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx, pkgA, 2, manifest(b, c)); err != nil {
		t.Fatal(err)
	}
	if n, err := l.GC(ctx); err != nil || n != 1 {
		t.Fatalf("GC = %d, %v; want 1 (the blob no version uses)", n, err)
	}
	if has(t, l, orphan.file.SHA256) {
		t.Fatal("GC kept an unreferenced blob")
	}
	if err := l.Remove(ctx, pkgA, 1); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := l.Version(ctx, pkgA, 1); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Version after Remove: %v, want ErrNotFound", err)
	}
	if vs, _ := l.Versions(ctx, pkgA); !slices.Equal(vs, []uint32{2}) {
		t.Fatalf("Versions after Remove = %v, want [2]", vs)
	}
	if err := l.Remove(ctx, pkgA, 1); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Remove of a removed version: %v, want ErrNotFound", err)
	}
	if !has(t, l, a.file.SHA256) {
		t.Fatal("Remove deleted a blob before GC")
	}
	if n, err := l.GC(ctx); err != nil || n != 1 {
		t.Fatalf("GC after Remove = %d, %v; want 1", n, err)
	}
	if has(t, l, a.file.SHA256) {
		t.Fatal("GC kept the blob only the removed version used")
	}
	for _, k := range []content{b, c} {
		if !has(t, l, k.file.SHA256) {
			t.Fatalf("GC deleted %s, which version 2 uses", k.file.Path)
		}
	}
	if m, err := l.Version(ctx, pkgA, 2); err != nil || !sameManifest(m, manifest(b, c)) {
		t.Fatalf("Version 2 after GC = %v, %v", m, err)
	}
	if bad, err := l.Verify(ctx, pkgA, 2); err != nil || bad != nil {
		t.Fatalf("Verify of version 2 after GC = %v, %v; want nil, nil", bad, err)
	}
}

func testVerify(t *testing.T, l distpoint.Library) {
	ctx := context.Background()
	a, b := mkFile("a.msi", "alpha", 300000), mkFile("sub/b.cab", "beta", 5000)
	bAgain := b
	bAgain.file.Path = "sub/copy-of-b.cab"
	put(t, l, a, b)
	if _, err := l.Verify(ctx, pkgA, 1); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Verify of an unpublished version: %v, want ErrNotFound", err)
	}
	m := manifest(a, b, bAgain)
	if err := l.Publish(ctx, pkgA, 1, m); err != nil {
		t.Fatal(err)
	}
	if bad, err := l.Verify(ctx, pkgA, 1); err != nil || bad != nil {
		t.Fatalf("Verify of intact content = %v, %v; want nil, nil", bad, err)
	}
	c, ok := l.(Corrupter)
	if !ok {
		t.Skip("the library does not implement librarytest.Corrupter; corruption not tested")
	}
	if err := c.CorruptBlob(b.file.SHA256); err != nil {
		t.Fatalf("CorruptBlob: %v", err)
	}
	bad, err := l.Verify(ctx, pkgA, 1)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var paths []string
	for _, mm := range bad {
		paths = append(paths, mm.File.Path)
		if mm.File.SHA256 != b.file.SHA256 || (!mm.Missing && mm.SHA256 == b.file.SHA256 && mm.Size == b.file.Size) {
			t.Errorf("Mismatch %v does not describe the corruption", mm)
		}
	}
	if !slices.Equal(paths, []string{"sub/b.cab", "sub/copy-of-b.cab"}) {
		t.Fatalf("Verify reported %q; want both files using the corrupted blob, in path order", paths)
	}
	// The corrupt blob is discarded; the refresh puts it again.
	if has(t, l, b.file.SHA256) {
		t.Fatal("HasBlob still reports the blob Verify found corrupt")
	}
	if has(t, l, a.file.SHA256) == false {
		t.Fatal("Verify discarded an intact blob")
	}
	put(t, l, b)
	if bad, err := l.Verify(ctx, pkgA, 1); err != nil || bad != nil {
		t.Fatalf("Verify after the refresh = %v, %v; want nil, nil", bad, err)
	}
	if got := readBlob(t, l, b.file.SHA256); !bytes.Equal(got, b.data) {
		t.Fatal("the refreshed blob differs")
	}
}

func testMaterialize(t *testing.T, l distpoint.Library) {
	mat, ok := l.(distpoint.Materializer)
	if !ok {
		t.Skip("the library does not implement distpoint.Materializer")
	}
	ctx := context.Background()
	a, b := mkFile("setup.exe", "alpha", 70000), mkFile("x86/deep/er/b.cab", "beta", 5000)
	bAgain := b
	bAgain.file.Path = "x64/b.cab"
	put(t, l, a, b)
	if _, err := mat.Materialize(ctx, pkgA, 1); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Materialize of an unpublished version: %v, want ErrNotFound", err)
	}
	if err := l.Publish(ctx, pkgA, 1, manifest(a, b, bAgain)); err != nil {
		t.Fatal(err)
	}
	dir, err := mat.Materialize(ctx, pkgA, 1)
	if err != nil {
		t.Fatalf("Materialize: %v", err)
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if want := []string{"setup.exe", "x64/b.cab", "x86/deep/er/b.cab"}; !slices.Equal(files, want) {
		t.Fatalf("materialised tree has %q, want %q", files, want)
	}
	for _, c := range []content{a, b, bAgain} {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(c.file.Path)))
		if err != nil || !bytes.Equal(got, c.data) {
			t.Fatalf("materialised %s: %v (or content differs)", c.file.Path, err)
		}
	}
	if again, err := mat.Materialize(ctx, pkgA, 1); err != nil || again != dir {
		t.Fatalf("Materialize again = %q, %v; want %q", again, err, dir)
	}
	if err := l.Remove(ctx, pkgA, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the materialised tree survived Remove: %v", err)
	}
}

func testConcurrent(t *testing.T, l distpoint.Library) {
	ctx := context.Background()
	var cs []content
	for i := range 6 {
		cs = append(cs, mkFile(fmt.Sprintf("f%d.bin", i), fmt.Sprintf("seed-%d", i), 200000+i*1000))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			// Goroutine g puts and publishes files g%6, (g+1)%6, (g+2)%6:
			// every blob is put by several goroutines at once.
			var mine []content
			for k := range 3 {
				mine = append(mine, cs[(g+k)%len(cs)])
			}
			for _, c := range mine {
				if err := l.PutBlob(ctx, c.file.SHA256, c.file.Size, bytes.NewReader(c.data)); err != nil {
					errs <- fmt.Errorf("goroutine %d: PutBlob(%s): %w", g, c.file.Path, err)
					return
				}
			}
			if err := l.Publish(ctx, pkgA, uint32(g+1), manifest(mine...)); err != nil {
				errs <- fmt.Errorf("goroutine %d: Publish: %w", g, err)
				return
			}
			if _, err := l.Verify(ctx, pkgA, uint32(g+1)); err != nil {
				errs <- fmt.Errorf("goroutine %d: Verify: %w", g, err)
			}
			if _, err := l.Versions(ctx, pkgA); err != nil {
				errs <- fmt.Errorf("goroutine %d: Versions: %w", g, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if vs, err := l.Versions(ctx, pkgA); err != nil || len(vs) != 8 {
		t.Fatalf("Versions = %v, %v; want 8 versions", vs, err)
	}
	for _, c := range cs {
		if got := readBlob(t, l, c.file.SHA256); !bytes.Equal(got, c.data) {
			t.Fatalf("blob of %s differs after concurrent puts", c.file.Path)
		}
	}
	for v := uint32(1); v <= 8; v++ {
		if bad, err := l.Verify(ctx, pkgA, v); err != nil || bad != nil {
			t.Fatalf("Verify v%d = %v, %v", v, bad, err)
		}
	}
}

func testCancelled(t *testing.T, l distpoint.Library) {
	a := mkFile("a", "alpha", 1000)
	put(t, l, a)
	if err := l.Publish(context.Background(), pkgA, 1, manifest(a)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := mkFile("b", "beta", 1000)
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", op, err)
		}
	}
	_, _, err := l.HasBlob(ctx, a.file.SHA256)
	check("HasBlob", err)
	check("PutBlob", l.PutBlob(ctx, b.file.SHA256, b.file.Size, bytes.NewReader(b.data)))
	_, err = l.OpenBlob(ctx, a.file.SHA256)
	check("OpenBlob", err)
	check("Publish", l.Publish(ctx, pkgA, 2, manifest(a)))
	_, err = l.Version(ctx, pkgA, 1)
	check("Version", err)
	_, err = l.Versions(ctx, pkgA)
	check("Versions", err)
	check("Remove", l.Remove(ctx, pkgA, 1))
	_, err = l.GC(ctx)
	check("GC", err)
	_, err = l.Verify(ctx, pkgA, 1)
	check("Verify", err)
	if mat, ok := l.(distpoint.Materializer); ok {
		_, err = mat.Materialize(ctx, pkgA, 1)
		check("Materialize", err)
	}
	// Nothing changed.
	if has(t, l, b.file.SHA256) {
		t.Error("a cancelled PutBlob stored the blob")
	}
	if vs, _ := l.Versions(context.Background(), pkgA); !slices.Equal(vs, []uint32{1}) {
		t.Errorf("Versions after cancelled calls = %v, want [1]", vs)
	}
}

// cancellingReader cancels its context once it has served after bytes,
// and goes on serving.
type cancellingReader struct {
	r      io.Reader
	after  int
	n      int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

func testCancelMidPut(t *testing.T, l distpoint.Library) {
	a := mkFile("big", "alpha", 8<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := l.PutBlob(ctx, a.file.SHA256, a.file.Size, &cancellingReader{r: bytes.NewReader(a.data), after: 64 << 10, cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("PutBlob cancelled part way: %v, want context.Canceled", err)
	}
	if has(t, l, a.file.SHA256) {
		t.Fatal("PutBlob cancelled part way stored the blob")
	}
	put(t, l, a)
}
