package pkg

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func file(path string, size int64) File {
	return File{Path: path, Size: size, SHA256: sha256.Sum256([]byte(path))}
}

func TestManifestValidate(t *testing.T) {
	tests := []struct {
		name   string
		files  []File
		fields []string
	}{
		{"empty", nil, nil},
		{"ok", []File{file("setup.exe", 10), file("data/a.cab", 0), file("data/sub/b.cab", 5)}, nil},
		{"empty path", []File{file("", 1)}, []string{"Manifest.Files[0].Path"}},
		{"absolute", []File{file("/setup.exe", 1)}, []string{"Manifest.Files[0].Path"}},
		{"backslash", []File{file(`data\a.cab`, 1)}, []string{"Manifest.Files[0].Path"}},
		{"drive letter", []File{file("C:/a.cab", 1)}, []string{"Manifest.Files[0].Path"}},
		{"forbidden char", []File{file("a?.cab", 1)}, []string{"Manifest.Files[0].Path"}},
		{"control char", []File{file("a\x01.cab", 1)}, []string{"Manifest.Files[0].Path"}},
		{"dot-dot", []File{file("../a.cab", 1)}, []string{"Manifest.Files[0].Path"}},
		{"inner dot-dot", []File{file("x/../a.cab", 1)}, []string{"Manifest.Files[0].Path"}},
		{"dot", []File{file(".", 1)}, []string{"Manifest.Files[0].Path"}},
		{"dot element", []File{file("./a.cab", 1)}, []string{"Manifest.Files[0].Path"}},
		{"double slash", []File{file("a//b", 1)}, []string{"Manifest.Files[0].Path"}},
		{"trailing slash", []File{file("a/", 1)}, []string{"Manifest.Files[0].Path"}},
		{"trailing dot", []File{file("readme.", 1)}, []string{"Manifest.Files[0].Path"}},
		{"trailing space", []File{file("dir /a", 1)}, []string{"Manifest.Files[0].Path"}},
		{"invalid utf8", []File{file("a\xffb", 1)}, []string{"Manifest.Files[0].Path"}},
		{"negative size", []File{file("a", -1)}, []string{"Manifest.Files[0].Size"}},
		{"duplicate ignoring case", []File{file("Setup.exe", 1), file("data/x", 1), file("setup.EXE", 2)}, []string{"Manifest.Files[2].Path"}},
		{"file is also a folder", []File{file("Data", 1), file("data/x", 1)}, []string{"Manifest.Files[0].Path"}},
		{"all at once", []File{file("/a", -1), file("b", 1), file("B", 1)},
			[]string{"Manifest.Files[0].Path", "Manifest.Files[0].Size", "Manifest.Files[2].Path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblems(t, Manifest{Files: tt.files}.Validate(), tt.fields...)
		})
	}
}

func TestManifestSizeAndSorted(t *testing.T) {
	m := Manifest{Files: []File{file("b", 2), file("a", 3), file("C", 5)}}
	if got := m.Size(); got != 10 {
		t.Errorf("Size = %d, want 10", got)
	}
	s := m.Sorted()
	if got := []string{s.Files[0].Path, s.Files[1].Path, s.Files[2].Path}; !slices.Equal(got, []string{"C", "a", "b"}) {
		t.Errorf("Sorted paths = %q, want byte order", got)
	}
	if m.Files[0].Path != "b" {
		t.Errorf("Sorted changed its receiver")
	}
}

// TestManifestHashEncoding rebuilds the documented encoding by hand.
func TestManifestHashEncoding(t *testing.T) {
	a, b := file("setup.exe", 1234), file("data/x.cab", 0) // sorted: data/x.cab, setup.exe
	var in []byte
	for _, f := range []File{b, a} {
		in = binary.BigEndian.AppendUint64(in, uint64(len(f.Path)))
		in = append(in, f.Path...)
		in = binary.BigEndian.AppendUint64(in, uint64(f.Size))
		in = append(in, f.SHA256[:]...)
	}
	if got, want := (Manifest{Files: []File{a, b}}).Hash(), sha256.Sum256(in); got != want {
		t.Errorf("Hash = %x, want %x", got, want)
	}
	if got, want := (Manifest{}).Hash(), sha256.Sum256(nil); got != want {
		t.Errorf("empty Hash = %x, want %x", got, want)
	}
}

func genFile() *rapid.Generator[File] {
	return rapid.Custom(func(t *rapid.T) File {
		return File{
			Path:   rapid.StringMatching(`[a-c]{1,2}(/[a-c]{1,2}){0,2}`).Draw(t, "path"),
			Size:   rapid.Int64Range(0, 1<<40).Draw(t, "size"),
			SHA256: [32]byte{rapid.Byte().Draw(t, "digest")},
		}
	})
}

func TestManifestHashProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		files := rapid.SliceOf(genFile()).Draw(t, "files")
		m := Manifest{Files: files}
		perm := rapid.Permutation(files).Draw(t, "perm")
		if m.Hash() != (Manifest{Files: perm}).Hash() {
			t.Fatalf("Hash depends on file order")
		}
		if len(files) == 0 {
			return
		}
		// Changing any one field of any one file changes the hash.
		i := rapid.IntRange(0, len(files)-1).Draw(t, "i")
		changed := slices.Clone(files)
		switch rapid.IntRange(0, 2).Draw(t, "field") {
		case 0:
			changed[i].Path += "z"
		case 1:
			changed[i].Size++
		case 2:
			changed[i].SHA256[31]++
		}
		if m.Hash() == (Manifest{Files: changed}).Hash() {
			t.Fatalf("Hash ignores a change to file %d", i)
		}
	})
}

func BenchmarkManifestHash(b *testing.B) {
	files := make([]File, 10000)
	for i := range files {
		files[i] = file(fmt.Sprintf("dir%03d/file%05d.bin", i%100, i), int64(i))
	}
	m := Manifest{Files: files}
	for b.Loop() {
		m.Hash()
	}
}
