package pkg

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/consign/consign"
)

// File is one file of a package's content.
type File struct {
	// Path is relative to the package source folder: slash-separated, clean,
	// never absolute and never climbing out with "..". Clients map it onto a
	// Windows path, so it may not use characters Windows forbids.
	Path string
	// Size is the length in bytes.
	Size int64
	// SHA256 is the digest of the file's bytes.
	SHA256 [32]byte
}

// Manifest lists the files of one version of a package's content.
type Manifest struct {
	Files []File
}

// Validate checks every file: its path as described on File, sizes not
// negative, and paths unique ignoring case (Windows file systems fold case,
// so "Setup.exe" and "setup.EXE" are one file). A path may also not be both
// a file and the folder of another file. The rule that the source path plus
// a file path fits in 254 characters needs the source path and is checked
// by Package.Validate.
func (m Manifest) Validate() error {
	var p consign.Problems
	m.check(&p, "Manifest")
	return p.Err()
}

// check records m's problems with field paths under prefix.
func (m Manifest) check(p *consign.Problems, prefix string) {
	seen := make(map[string]int, len(m.Files))
	dirs := make(map[string]bool)
	for i, f := range m.Files {
		field := fmt.Sprintf("%s.Files[%d]", prefix, i)
		if rule := pathRule(f.Path); rule != "" {
			p.AddValue(field+".Path", f.Path, rule)
		} else {
			key := foldPath(f.Path)
			if j, dup := seen[key]; dup {
				p.AddValue(field+".Path", f.Path, fmt.Sprintf("unique ignoring case (same as Files[%d])", j))
			} else {
				seen[key] = i
			}
			for d := path.Dir(key); d != "."; d = path.Dir(d) {
				dirs[d] = true
			}
		}
		p.Check(f.Size >= 0, field+".Size", "at least 0")
	}
	for i, f := range m.Files {
		if dirs[foldPath(f.Path)] {
			p.AddValue(fmt.Sprintf("%s.Files[%d].Path", prefix, i), f.Path, "not also the folder of another file")
		}
	}
}

// foldPath is the key two paths share when Windows treats them as one file.
func foldPath(s string) string { return strings.ToUpper(s) }

// pathRule returns the rule a manifest path breaks, or "".
func pathRule(s string) string {
	switch {
	case s == "":
		return "required"
	case !utf8.ValidString(s):
		return "valid UTF-8"
	case strings.HasPrefix(s, "/"):
		return "relative, not absolute"
	case strings.ContainsAny(s, `\<>:"|?*`) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 }):
		return `forward slashes only, and none of the characters Windows forbids (<>:"|?* and control characters)`
	}
	elems := strings.Split(s, "/")
	if slices.Contains(elems, "..") {
		return `inside the package: no ".." elements`
	}
	if s == "." || path.Clean(s) != s {
		return `clean: no empty or "." elements and no trailing slash`
	}
	for _, elem := range elems {
		// Windows drops a trailing dot or space, so "a." would collide with "a".
		if strings.HasSuffix(elem, ".") || strings.HasSuffix(elem, " ") {
			return "no element ending in a dot or a space"
		}
	}
	return ""
}

// Size returns the total size of the files in bytes.
func (m Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Sorted returns a copy of m with the files in byte order of Path (then
// Size, then SHA256, so that even an invalid manifest with duplicate paths
// has one sorted form). m is not changed.
func (m Manifest) Sorted() Manifest {
	files := slices.Clone(m.Files)
	slices.SortFunc(files, func(a, b File) int {
		return cmp.Or(
			strings.Compare(a.Path, b.Path),
			cmp.Compare(a.Size, b.Size),
			slices.Compare(a.SHA256[:], b.SHA256[:]),
		)
	})
	return Manifest{Files: files}
}

// Hash returns a digest of the whole content, the analogue of ConfigMgr's
// package source hash (clients compare it after download, §3.4, [B-hash]).
// It depends only on the set of files, not on their order in m.
//
// Encoding: SHA-256 over, for each file of m.Sorted() in turn, the length
// of Path in bytes as an 8-byte big-endian integer, the bytes of Path, Size
// as an 8-byte big-endian two's-complement integer, and the 32 bytes of
// SHA256. An empty manifest hashes the empty input.
func (m Manifest) Hash() [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, f := range m.Sorted().Files {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Path)))
		h.Write(n[:])
		h.Write([]byte(f.Path))
		binary.BigEndian.PutUint64(n[:], uint64(f.Size))
		h.Write(n[:])
		h.Write(f.SHA256[:])
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
