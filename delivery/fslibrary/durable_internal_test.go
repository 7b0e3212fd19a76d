package fslibrary

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/distpoint"
	"github.com/consign/consign/distpoint/librarytest"
	pkg "github.com/consign/consign/package"
)

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func openT(t tb, dir string) *Library {
	t.Helper()
	l, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func fileOf(path string, data []byte) pkg.File {
	return pkg.File{Path: path, Size: int64(len(data)), SHA256: sha256.Sum256(data)}
}

func putT(t tb, l *Library, data ...[]byte) {
	t.Helper()
	for _, d := range data {
		if err := l.PutBlob(context.Background(), sha256.Sum256(d), int64(len(d)), bytes.NewReader(d)); err != nil {
			t.Fatal(err)
		}
	}
}

// withFsync makes l use the portable durability path (an fsync of each
// file and directory) whatever its file system.
func withFsync(l *Library) *Library {
	l.syncFiles, l.syncDirs = fsyncFiles, fsyncDirs
	return l
}

// fallbackLib adds the conformance suite's corruption hook.
type fallbackLib struct{ *Library }

func (c fallbackLib) CorruptBlob(sum [32]byte) error {
	p := c.pendingPath(sum)
	if _, err := os.Stat(p); err != nil {
		p = c.blobPath(sum)
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

// TestConformanceFsyncFallback runs the suite on the portable path, which
// Linux uses only on file systems whose syncfs is not trusted.
func TestConformanceFsyncFallback(t *testing.T) {
	t.Logf("syncfs used for %s: %v", t.TempDir(), syncfsWorks(t.TempDir()))
	librarytest.Run(t, func(t *testing.T) distpoint.Library {
		return fallbackLib{withFsync(openT(t, t.TempDir()))}
	})
}

// TestPublishSyncOrder checks the order of the durability steps with
// recording syncs: the blobs' data (and the manifest's) is synced while
// they are still in pending/ and before any is visible in blobs/; the
// renames into blobs/ are synced before the manifest appears; and a
// Publish of any number of blobs costs one sync of each kind.
func TestPublishSyncOrder(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"default", "fsync"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir)
			if name == "fsync" {
				withFsync(l)
			}
			realFiles, realDirs := l.syncFiles, l.syncDirs
			var data [][]byte
			var m pkg.Manifest
			for i := range 40 {
				d := fmt.Appendf(nil, "blob %d", i)
				data = append(data, d)
				m.Files = append(m.Files, fileOf(fmt.Sprintf("f%02d", i), d))
			}
			m.Files = append(m.Files, fileOf("again", data[0])) // shared content
			putT(t, l, data...)
			var synced []fs.FileInfo // files whose data was synced
			var fileSyncs, dirSyncs int
			published := func() bool {
				_, err := os.Stat(l.versionPath("TST00001", 1))
				return err == nil
			}
			l.syncFiles = func(paths []string) error {
				fileSyncs++
				for _, d := range data {
					if _, err := os.Stat(l.blobPath(sha256.Sum256(d))); err == nil {
						t.Errorf("blob %q is in blobs/ before its data was synced", d)
					}
				}
				if published() {
					t.Error("the manifest is published before the blobs' data was synced")
				}
				if len(paths) != len(data)+1 {
					t.Errorf("one sync for %d paths, want the %d distinct blobs and the manifest", len(paths), len(data))
				}
				for _, p := range paths {
					fi, err := os.Stat(p)
					if err != nil {
						t.Fatal(err)
					}
					synced = append(synced, fi)
				}
				return realFiles(paths)
			}
			l.syncDirs = func(dirs []string) error {
				dirSyncs++
				if published() {
					t.Error("the manifest is published before the renames into blobs/ were synced")
				}
				for _, d := range data {
					p := l.blobPath(sha256.Sum256(d))
					fi, err := os.Stat(p)
					if err != nil {
						t.Fatalf("blob %q not in blobs/ when the renames are synced: %v", d, err)
					}
					if !slices.ContainsFunc(synced, func(s fs.FileInfo) bool { return os.SameFile(s, fi) }) {
						t.Errorf("blob %q reached blobs/ without its data being synced", d)
					}
					if !slices.Contains(dirs, filepath.Dir(p)) {
						t.Errorf("the rename of %q into %s is not synced", d, filepath.Dir(p))
					}
				}
				return realDirs(dirs)
			}
			if err := l.Publish(ctx, "TST00001", 1, m); err != nil {
				t.Fatal(err)
			}
			if fileSyncs != 1 || dirSyncs != 1 {
				t.Errorf("Publish of %d blobs synced files %d times and directories %d times; want once each", len(data), fileSyncs, dirSyncs)
			}
			if !published() {
				t.Fatal("not published")
			}
			// Nothing pending: publishing again, or another version of
			// the same blobs, syncs no blob.
			fileSyncs, dirSyncs = 0, 0
			if err := l.Publish(ctx, "TST00001", 1, m); err != nil {
				t.Fatal(err)
			}
			if err := l.Publish(ctx, "TST00001", 2, m); err != nil {
				t.Fatal(err)
			}
			if fileSyncs != 0 || dirSyncs != 0 {
				t.Errorf("Publish with no pending blob synced files %d and directories %d times", fileSyncs, dirSyncs)
			}
		})
	}
}

// TestPublishSyncFailure: when the blobs' data cannot be made durable,
// Publish fails, publishes nothing, and discards the blobs it could not
// trust; they are put again and published.
func TestPublishSyncFailure(t *testing.T) {
	ctx := context.Background()
	l := openT(t, t.TempDir())
	a, b := []byte("alpha"), []byte("beta")
	putT(t, l, a)
	m := pkg.Manifest{Files: []pkg.File{fileOf("a", a)}}
	if err := l.Publish(ctx, "TST00001", 1, m); err != nil {
		t.Fatal(err)
	}
	putT(t, l, b)
	real := l.syncFiles
	eio := errors.New("simulated EIO")
	l.syncFiles = func([]string) error { return eio }
	m2 := pkg.Manifest{Files: []pkg.File{fileOf("a", a), fileOf("b", b)}}
	if err := l.Publish(ctx, "TST00001", 2, m2); !errors.Is(err, eio) {
		t.Fatalf("Publish with a failing sync: %v, want the sync's error", err)
	}
	if _, err := l.Version(ctx, "TST00001", 2); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Version after a failed sync: %v, want ErrNotFound", err)
	}
	if _, ok, _ := l.HasBlob(ctx, sha256.Sum256(b)); ok {
		t.Fatal("a blob whose sync failed is still stored")
	}
	if _, ok, _ := l.HasBlob(ctx, sha256.Sum256(a)); !ok {
		t.Fatal("a durable blob was discarded")
	}
	if entries, _ := os.ReadDir(l.tmpDir()); len(entries) != 0 {
		t.Fatalf("tmp/ after a failed Publish: %v", entries)
	}
	l.syncFiles = real
	putT(t, l, b)
	if err := l.Publish(ctx, "TST00001", 2, m2); err != nil {
		t.Fatal(err)
	}
}

// TestPublishSyncFailureNewPackage: a failed first Publish of a package
// has created its folder in versions/ without syncing that; the retry
// syncs it with the blobs' folders, so the manifest cannot outlive a crash
// without its folder's entry.
func TestPublishSyncFailureNewPackage(t *testing.T) {
	ctx := context.Background()
	l := openT(t, t.TempDir())
	a := []byte("alpha")
	putT(t, l, a)
	m := pkg.Manifest{Files: []pkg.File{fileOf("a", a)}}
	realFiles, realDirs := l.syncFiles, l.syncDirs
	l.syncFiles = func([]string) error { return errors.New("simulated EIO") }
	if err := l.Publish(ctx, "TST00002", 1, m); err == nil {
		t.Fatal("Publish with a failing sync succeeded")
	}
	l.syncFiles = realFiles
	var got []string
	l.syncDirs = func(dirs []string) error {
		got = append(got, dirs...)
		return realDirs(dirs)
	}
	putT(t, l, a)
	if err := l.Publish(ctx, "TST00002", 1, m); err != nil {
		t.Fatal(err)
	}
	if versions := filepath.Join(l.Dir(), "versions"); !slices.Contains(got, versions) {
		t.Fatalf("the retried Publish synced %q, not %s, where the package's folder was created", got, versions)
	}
}

// TestPublishDirSyncFailure: when the renames into blobs/ cannot be made
// durable, Publish fails and publishes nothing; the blobs are in blobs/
// already, so the next Publish syncs those directories before it writes a
// manifest naming them.
func TestPublishDirSyncFailure(t *testing.T) {
	ctx := context.Background()
	l := openT(t, t.TempDir())
	a := []byte("alpha")
	putT(t, l, a)
	m := pkg.Manifest{Files: []pkg.File{fileOf("a", a)}}
	real := l.syncDirs
	eio := errors.New("simulated EIO")
	l.syncDirs = func([]string) error { return eio }
	if err := l.Publish(ctx, "TST00001", 1, m); !errors.Is(err, eio) {
		t.Fatalf("Publish with a failing directory sync: %v, want the sync's error", err)
	}
	if _, err := l.Version(ctx, "TST00001", 1); !errors.Is(err, consign.ErrNotFound) {
		t.Fatalf("Version after a failed sync: %v, want ErrNotFound", err)
	}
	blobDir := filepath.Dir(l.blobPath(sha256.Sum256(a)))
	var got []string
	l.syncDirs = func(dirs []string) error {
		got = append(got, dirs...)
		return real(dirs)
	}
	if err := l.Publish(ctx, "TST00001", 1, m); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, blobDir) {
		t.Fatalf("the retried Publish synced %q, not the directory %s whose rename was not durable", got, blobDir)
	}
	got = nil
	if err := l.Publish(ctx, "TST00001", 2, m); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("a later Publish synced %q again", got)
	}
}

// TestLibraryModel drives a library through random puts, publishes,
// removes, GCs, clean reopens and crashes (the directory copied as it is
// and reopened) and compares it with a model: a blob is stored when put
// and not yet collected, survives a reopen or crash only once a Publish
// used it, and every published version stays intact.
func TestLibraryModel(t *testing.T) {
	ctx := context.Background()
	contents := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc"), []byte("dddd"), {}}
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		l := withFsync(openT(t, dir))
		stored := map[int]bool{}       // content index → stored
		durable := map[int]bool{}      // content index → in blobs/
		versions := map[uint32][]int{} // published version → contents
		reopen := func(from string) {
			l = withFsync(openT(rt, from))
			for i := range contents {
				stored[i] = durable[i]
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"put": func(rt *rapid.T) {
				i := rapid.IntRange(0, len(contents)-1).Draw(rt, "content")
				putT(rt, l, contents[i])
				stored[i] = true
			},
			"publish": func(rt *rapid.T) {
				v := rapid.Uint32Range(1, 4).Draw(rt, "version")
				idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(contents)-1), 0, 3, rapid.ID).Draw(rt, "contents")
				if old, ok := versions[v]; ok {
					idx = old // the same content again: a no-op, or a refresh's promotion
				}
				var m pkg.Manifest
				missing := false
				for _, i := range idx {
					m.Files = append(m.Files, fileOf(fmt.Sprintf("f%d", i), contents[i]))
					missing = missing || !stored[i]
				}
				err := l.Publish(ctx, "TST00001", v, m)
				if missing {
					if !errors.Is(err, consign.ErrNotFound) {
						rt.Fatalf("Publish v%d with a missing blob: %v, want ErrNotFound", v, err)
					}
					return
				}
				if err != nil {
					rt.Fatalf("Publish v%d: %v", v, err)
				}
				versions[v] = idx
				for _, i := range idx {
					durable[i] = true
				}
			},
			"remove": func(rt *rapid.T) {
				v := rapid.Uint32Range(1, 4).Draw(rt, "version")
				err := l.Remove(ctx, "TST00001", v)
				if _, ok := versions[v]; !ok {
					if !errors.Is(err, consign.ErrNotFound) {
						rt.Fatalf("Remove of unpublished v%d: %v", v, err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				delete(versions, v)
			},
			"gc": func(rt *rapid.T) {
				used := map[int]bool{}
				for _, idx := range versions {
					for _, i := range idx {
						used[i] = true
					}
				}
				want := 0
				for i := range contents {
					if stored[i] && !used[i] {
						want++
						stored[i], durable[i] = false, false
					}
				}
				if n, err := l.GC(ctx); err != nil || n != want {
					rt.Fatalf("GC = %d, %v; want %d", n, err, want)
				}
			},
			"reopen": func(rt *rapid.T) { reopen(dir) },
			"crash": func(rt *rapid.T) {
				crashed := filepath.Join(t.TempDir(), "crashed")
				if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
					rt.Fatal(err)
				}
				dir = crashed
				reopen(dir)
			},
			"": func(rt *rapid.T) {
				for i, c := range contents {
					_, ok, err := l.HasBlob(ctx, sha256.Sum256(c))
					if err != nil || ok != stored[i] {
						rt.Fatalf("HasBlob(%q) = %v, %v; the model says %v", c, ok, err, stored[i])
					}
					_, err = os.Stat(l.blobPath(sha256.Sum256(c)))
					if (err == nil) != durable[i] {
						rt.Fatalf("%q in blobs/: %v; the model says %v", c, err == nil, durable[i])
					}
				}
				for v := range versions {
					if bad, err := l.Verify(ctx, "TST00001", v); err != nil || bad != nil {
						rt.Fatalf("Verify v%d = %v, %v", v, bad, err)
					}
				}
			},
		})
	})
}
