package source_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery/source"
	pkg "github.com/consign/consign/package"
)

func file(path, data string) pkg.File {
	return pkg.File{Path: path, Size: int64(len(data)), SHA256: sha256.Sum256([]byte(data))}
}

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink}
}

func TestManifestFromFS(t *testing.T) {
	fsys := fstest.MapFS{
		"setup.exe":         {Data: []byte("MZ setup")},
		"x86/lib/a.dll":     {Data: []byte("a dll")},
		"x64/a.dll":         link("../x86/lib/a.dll"),
		"docs/readme.txt":   {Data: []byte("read me")},
		"docs/same.txt":     link("./readme.txt"),
		"alias/deep.dll":    link("../x64/a.dll"), // a link to a link
		"empty/placeholder": {Data: nil},
	}
	m, err := source.ManifestFromFS(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := pkg.Manifest{Files: []pkg.File{
		file("alias/deep.dll", "a dll"),
		file("docs/readme.txt", "read me"),
		file("docs/same.txt", "read me"),
		file("empty/placeholder", ""),
		file("setup.exe", "MZ setup"),
		file("x64/a.dll", "a dll"),
		file("x86/lib/a.dll", "a dll"),
	}}
	if len(m.Files) != len(want.Files) {
		t.Fatalf("got %v, want %v", m, want)
	}
	for i := range want.Files {
		if m.Files[i] != want.Files[i] {
			t.Errorf("file %d = %+v, want %+v", i, m.Files[i], want.Files[i])
		}
	}
	f, err := source.Open(fsys, "alias/deep.dll")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b, _ := io.ReadAll(f); string(b) != "a dll" {
		t.Fatalf("Open through two links read %q", b)
	}
}

func TestRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
	}{
		{"absolute link", fstest.MapFS{"a": link("/etc/passwd")}},
		{"link climbing out", fstest.MapFS{"sub/a": link("../../outside")}},
		{"link out through a linked folder", fstest.MapFS{"d": link("sub"), "sub/x": link("../.."), "a": link("d/x/etc/passwd")}},
		{"link to a folder", fstest.MapFS{"a": link("sub"), "sub/f": {}}},
		{"link loop", fstest.MapFS{"a": link("b"), "b": link("a")}},
		{"Windows drive link", fstest.MapFS{"a": link(`C:\Windows`)}},
		{"named pipe", fstest.MapFS{"p": {Mode: fs.ModeNamedPipe}}},
		{"device", fstest.MapFS{"dev": {Mode: fs.ModeDevice}}},
		{"forbidden character", fstest.MapFS{"a?.txt": {}}},
		{"case duplicates", fstest.MapFS{"Setup.exe": {}, "setup.EXE": {}}},
	} {
		m, err := source.ManifestFromFS(context.Background(), tc.fsys)
		if !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("%s: ManifestFromFS = %v, %v; want ErrInvalid", tc.name, m, err)
			continue
		}
		var ve *consign.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: %v carries no *consign.ValidationError", tc.name, err)
		}
	}
	// Every problem is reported at once.
	_, err := source.ManifestFromFS(context.Background(), fstest.MapFS{
		"a": link("/etc"), "b": link("../x"), "ok.txt": {Data: []byte("fine")},
	})
	if err == nil || !strings.Contains(err.Error(), "2 problems") {
		t.Errorf("two bad links: %v, want both reported", err)
	}
	if _, err := source.Open(fstest.MapFS{"a": link("../x")}, "a"); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("Open of a link out: %v, want ErrInvalid", err)
	}
}

// TestDirFS checks real symbolic links, which os.DirFS itself would follow
// out of the tree.
func TestDirFS(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "tool.exe"), []byte("tool"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bin/tool.exe", filepath.Join(root, "tool.exe")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	m, err := source.ManifestFromFS(context.Background(), os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || m.Files[1] != file("tool.exe", "tool") {
		t.Fatalf("manifest %v", m)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "abs")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(root, filepath.Join(outside, "secret"))
	if err := os.Symlink(rel, filepath.Join(root, "rel")); err != nil {
		t.Fatal(err)
	}
	_, err = source.ManifestFromFS(context.Background(), os.DirFS(root))
	if !errors.Is(err, consign.ErrInvalid) || !strings.Contains(err.Error(), "2 problems") {
		t.Fatalf("links out of the tree: %v, want both rejected", err)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := source.ManifestFromFS(ctx, fstest.MapFS{"a": {Data: []byte("x")}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ManifestFromFS with a cancelled context: %v", err)
	}
}
