// Package source reads a package's source content, the folder an
// administrator names as the package source, into a manifest: every file's
// path, size and SHA-256.
//
// The source is any fs.FS: os.DirFS(dir) for a folder, or an in-memory one
// in tests. Paths that would escape the package root are rejected with a
// *consign.ValidationError (so errors.Is(err, consign.ErrInvalid)): a
// symbolic link whose target is absolute or climbs out of the root, and
// anything other than regular files, folders, and links to regular files
// inside the root. Links are followed by this package, component by
// component, never by the operating system, so a link out of the tree is
// caught even where os.DirFS would follow it; read the files with Open,
// which resolves them the same way.
package source

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
)

// maxLinks bounds how many symbolic links one path may go through, as
// operating systems do, so that a loop of links fails instead of spinning.
const maxLinks = 40

// ManifestFromFS walks fsys and returns the manifest of every regular file
// in it (a link to a regular file inside fsys counts as a file at the
// link's path), with files in path order. It hashes several files at once.
// Every problem found (links escaping the root, irregular files, paths that
// break pkg.Manifest.Validate's rules) is reported together, before any
// hashing. A cancelled ctx stops it with ctx.Err().
func ManifestFromFS(ctx context.Context, fsys fs.FS) (pkg.Manifest, error) {
	type entry struct {
		name, real string
	}
	var entries []entry
	var p consign.Problems
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch t := d.Type(); {
		case t.IsDir():
			return nil
		case t.IsRegular():
			entries = append(entries, entry{name, name})
		case t&fs.ModeSymlink != 0:
			real, fi, err := resolve(fsys, name)
			switch {
			case err != nil:
				p.Merge(err)
			case fi.IsDir():
				p.AddValue(field(name), name, "a link to a regular file, not to a folder")
			case !fi.Mode().IsRegular():
				p.AddValue(field(name), name, "a link to a regular file")
			default:
				entries = append(entries, entry{name, real})
			}
		default:
			p.AddValue(field(name), name, "a regular file or folder (not a device, pipe or socket)")
		}
		return nil
	})
	if err != nil {
		return pkg.Manifest{}, fmt.Errorf("source: %w", err)
	}
	m := pkg.Manifest{Files: make([]pkg.File, len(entries))}
	for i, e := range entries {
		m.Files[i].Path = e.name
	}
	p.Merge(m.Validate())
	if err := p.Err(); err != nil {
		return pkg.Manifest{}, err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, e := range entries {
		g.Go(func() error {
			size, sum, err := hashFile(gctx, fsys, e.real)
			if err != nil {
				return fmt.Errorf("source: %s: %w", e.name, err)
			}
			m.Files[i].Size, m.Files[i].SHA256 = size, sum
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return pkg.Manifest{}, err
	}
	return m.Sorted(), nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func hashFile(ctx context.Context, fsys fs.FS, name string) (int64, [32]byte, error) {
	var sum [32]byte
	f, err := fsys.Open(name)
	if err != nil {
		return 0, sum, err
	}
	defer f.Close()
	h := sha256.New()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, sum, err
		}
		k, err := f.Read(*bp)
		h.Write((*bp)[:k])
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, sum, err
		}
	}
	h.Sum(sum[:0])
	return n, sum, nil
}

// Open opens the file at a manifest path of fsys, following symbolic links
// the way ManifestFromFS does and refusing any that leave the root.
func Open(fsys fs.FS, name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &consign.ValidationError{Field: field(name), Value: name, Rule: "a clean relative path"}
	}
	real, fi, err := resolve(fsys, name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &consign.ValidationError{Field: field(name), Value: name, Rule: "a regular file"}
	}
	return fsys.Open(real)
}

func field(name string) string { return "Source[" + name + "]" }

// resolve follows the symbolic links in name, one path element at a time,
// and returns the link-free path inside fsys it leads to, with that file's
// information. A link with an absolute target, or one that climbs above
// the root, gives a *consign.ValidationError.
func resolve(fsys fs.FS, name string) (string, fs.FileInfo, error) {
	links := 0
	rest := strings.Split(name, "/")
	cur := "." // resolved so far: never a link, never above the root
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		next := path.Join(cur, elem)
		if next == ".." || strings.HasPrefix(next, "../") {
			return "", nil, &consign.ValidationError{Field: field(name), Value: name, Rule: "inside the package root"}
		}
		fi, err := fs.Lstat(fsys, next)
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", nil, &consign.ValidationError{Field: field(name), Value: name, Rule: fmt.Sprintf("reachable through at most %d symbolic links (a loop?)", maxLinks)}
		}
		target, err := fs.ReadLink(fsys, next)
		if err != nil {
			return "", nil, fmt.Errorf("source: cannot follow symbolic link %s: %w", next, err)
		}
		if target == "" || path.IsAbs(target) || strings.Contains(target, `\`) || (len(target) >= 2 && target[1] == ':') {
			return "", nil, &consign.ValidationError{Field: field(name), Value: target,
				Rule: "a symbolic link to a relative path inside the package root"}
		}
		// The target's elements are resolved in turn from the link's
		// folder; ".." applies to cur, which holds no links, so the
		// lexical step is exact.
		rest = append(strings.Split(target, "/"), rest...)
	}
	fi, err := fs.Stat(fsys, cur)
	if err != nil {
		return "", nil, err
	}
	return cur, fi, nil
}
