// Package fslibrary is a distpoint.Library over a directory: the content of
// one distribution point on a local or mounted file system.
//
// # Layout
//
//	<dir>/blobs/ab/<sha256 hex>        one read-only file per distinct content, durable
//	<dir>/pending/<sha256 hex>         verified content not yet durable; emptied by Open
//	<dir>/versions/<pkg>/<ver>.json    published manifests
//	<dir>/shares/<pkg>/<ver>/…         trees laid out by Materialize
//	<dir>/tmp/                         work in progress; emptied by Open
//
// # Crash safety
//
// Every change is written under tmp/ (same file system) and renamed into
// place, so a crash leaves either the old state or the new one plus litter
// that the next Open removes. Content is made durable in batches rather
// than one sync per blob:
//
//   - PutBlob writes to tmp/, verifies while writing, and renames the
//     verified file into pending/ without syncing it. HasBlob, OpenBlob,
//     PutBlob's single-instance check, Verify, Publish and GC all see
//     pending blobs, so to a caller a pending blob is stored.
//   - Publish makes the version's pending blobs durable, with the new
//     manifest written to tmp/ (one syncfs(2) of the file system on Linux,
//     where the file system is one known to implement it fully and there
//     are at least 8 files; otherwise an fsync of each, issued
//     concurrently so that a journaling file system commits them
//     together), renames them into blobs/, makes the renames durable (the
//     same way: one syncfs, or an fsync of each directory touched), and
//     only then renames the manifest into versions/ and syncs its
//     directory: three journal commits however many blobs it promotes,
//     where one per blob and one per blob directory were needed before.
//
// Hence the invariants a crash cannot break: a file in blobs/ has durable,
// complete, verified content (its data was synced before its name
// appeared there; a renamed but unsynced file could otherwise come back
// empty or garbage, as on ext4), and every blob a manifest in versions/
// names is in blobs/. What a crash can lose is pending/ — content put but
// not yet published — which Open discards, since it may not have reached
// the disk; the next distribution puts it again. A Publish whose sync fails
// discards the pending blobs it was promoting (content that failed to reach
// the disk cannot be trusted) and publishes nothing.
//
// One syncfs flushes everything dirty on the file system, including other
// libraries' and other programs' writes, so on a shared disk a Publish may
// wait for them; that is the price of turning two journal commits per blob
// into three per Publish. syncfs reports a writeback error only to the
// first caller that asks after it (Linux ≥ 5.8 reports them at all), so an
// error on a pending file that another process's syncfs consumed goes
// unseen; Verify then finds the damage.
//
// # Concurrency
//
// A *Library is safe for concurrent use. One process at a time may use a
// directory: Open clears tmp/ and pending/, which would break another
// process's writes.
package fslibrary

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/consign/consign"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// buffersPool recycles copy buffers: most package files are small, and
// clearing fresh megabyte buffers for each would dominate their copy.
var buffersPool = sync.Pool{New: func() any { b := make([]byte, copyBuffer); return &b }}

// copyBuffer is the chunk size for copying and hashing: large enough that
// per-call overhead vanishes next to SHA-256.
const copyBuffer = 1 << 20

// Library is a distpoint.Library and distpoint.Materializer over a
// directory. Create one with Open.
type Library struct {
	root string
	// mu orders the operations that read or change the set of published
	// versions or move blobs against each other: Publish, Remove and GC
	// hold it exclusively; Materialize, Verify and PutBlob's final rename
	// into pending/ hold it shared. So a blob is never renamed into
	// pending/ while Publish promotes it or GC clears pending/, and a blob
	// is never in both pending/ and blobs/. Blob reads need no lock: a blob
	// moves only by atomic renames (pending/ before blobs/ when looking it
	// up), and an open file survives them.
	mu sync.RWMutex
	// unsynced lists directories Publish changed (renamed blobs into,
	// created a package's folder in) but could not make durable, because
	// a sync failed; the next Publish syncs them before writing a manifest
	// that could depend on them. Guarded by mu.
	unsynced []string
	// syncFiles makes the data of the files at paths durable, and
	// syncDirs the entries of the directories dirs. Open picks one
	// syncfs(2) of the whole file system where that is known to work,
	// and an fsync of each path elsewhere; tests replace them to observe
	// or fail the syncs.
	syncFiles func(paths []string) error
	syncDirs  func(dirs []string) error
}

var (
	_ distpoint.Library      = (*Library)(nil)
	_ distpoint.Materializer = (*Library)(nil)
)

// Open returns the library stored in dir, creating dir and its layout if
// needed, and removes what a crash left in tmp/ and pending/ (content put
// but not published, which may not have reached the disk).
func Open(dir string) (*Library, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fslibrary: open %s: %w", dir, err)
	}
	l := &Library{root: abs, syncFiles: fsyncFiles, syncDirs: fsyncDirs}
	for _, sub := range []string{"blobs", "pending", "versions", "shares", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("fslibrary: open %s: %w", dir, err)
		}
	}
	for _, sub := range []string{l.tmpDir(), l.pendingDir()} {
		entries, err := os.ReadDir(sub)
		if err != nil {
			return nil, fmt.Errorf("fslibrary: open %s: %w", dir, err)
		}
		for _, e := range entries {
			if err := removeAll(filepath.Join(sub, e.Name())); err != nil {
				return nil, fmt.Errorf("fslibrary: open %s: clearing leftovers: %w", dir, err)
			}
		}
	}
	if syncfsWorks(abs) {
		l.syncFiles = func(paths []string) error { return l.syncfsOr(fsyncFiles, paths) }
		l.syncDirs = func(dirs []string) error { return l.syncfsOr(fsyncDirs, dirs) }
	}
	return l, nil
}

// syncfsMin is the fewest paths worth one syncfs(2) rather than an fsync
// of each: syncfs also waits for everything else dirty on the file system,
// which a Publish of a handful of files should not.
const syncfsMin = 8

// syncfsOr syncs the library's whole file system with one syncfs(2), or
// calls fallback(paths) for fewer than syncfsMin paths or where the system
// refuses syncfs.
func (l *Library) syncfsOr(fallback func([]string) error, paths []string) error {
	if len(paths) < syncfsMin {
		return fallback(paths)
	}
	err := syncfs(l.root)
	if errors.Is(err, errors.ErrUnsupported) {
		return fallback(paths)
	}
	return err
}

// syncParallel is how many fsyncs fsyncFiles and fsyncDirs have in flight
// at once: a journaling file system commits concurrent fsyncs together.
const syncParallel = 16

// fsyncFiles makes the data of each file at paths durable with an fsync
// of each (the portable way; where it is known to work, one syncfs(2) does
// it for all of them).
func fsyncFiles(paths []string) error {
	var g errgroup.Group
	g.SetLimit(syncParallel)
	for _, p := range paths {
		g.Go(func() error {
			// Windows flushes only handles open for writing (pending
			// files stay writable until promoted); elsewhere any
			// descriptor will do.
			flag := os.O_RDONLY
			if runtime.GOOS == "windows" {
				flag = os.O_RDWR
			}
			f, err := os.OpenFile(p, flag, 0)
			if err != nil {
				return err
			}
			err = f.Sync()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		})
	}
	return g.Wait()
}

// fsyncDirs makes the entries of each directory durable.
func fsyncDirs(dirs []string) error {
	var g errgroup.Group
	g.SetLimit(syncParallel)
	for _, d := range dirs {
		g.Go(func() error { return syncDir(d) })
	}
	return g.Wait()
}

// Dir returns the library's root directory (absolute).
func (l *Library) Dir() string { return l.root }

func (l *Library) tmpDir() string { return filepath.Join(l.root, "tmp") }

func (l *Library) pendingDir() string { return filepath.Join(l.root, "pending") }

func (l *Library) pendingPath(sum [32]byte) string {
	return filepath.Join(l.pendingDir(), hex.EncodeToString(sum[:]))
}

func (l *Library) blobPath(sum [32]byte) string {
	h := hex.EncodeToString(sum[:])
	return filepath.Join(l.root, "blobs", h[:2], h)
}

func (l *Library) versionDir(id consign.ObjectID) string {
	return filepath.Join(l.root, "versions", string(id))
}

func (l *Library) versionPath(id consign.ObjectID, v uint32) string {
	return filepath.Join(l.versionDir(id), strconv.FormatUint(uint64(v), 10)+".json")
}

func (l *Library) sharePath(id consign.ObjectID, v uint32) string {
	return filepath.Join(l.root, "shares", string(id), strconv.FormatUint(uint64(v), 10))
}

// statBlob finds the blob sum in pending/ or in blobs/ and reports which.
// pending/ is looked at first: a blob moves from there to blobs/ and never
// back, so a blob stored throughout the call is always found. A missing
// blob gives an error matching fs.ErrNotExist.
func (l *Library) statBlob(sum [32]byte) (fi fs.FileInfo, pending bool, err error) {
	if fi, err := os.Stat(l.pendingPath(sum)); err == nil {
		return fi, true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	fi, err = os.Stat(l.blobPath(sum))
	return fi, false, err
}

// HasBlob implements distpoint.Library. A pending blob (put, not yet
// published) is stored.
func (l *Library) HasBlob(ctx context.Context, sum [32]byte) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	fi, _, err := l.statBlob(sum)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("fslibrary: HasBlob: %w", err)
	}
	return fi.Size(), true, nil
}

// PutBlob implements distpoint.Library: the bytes go to a temporary file in
// tmp/, hashed as they are written, and are renamed into pending/ only if
// they match. They are not synced: Publish makes them durable, together
// with the rest of the version, before they move to blobs/.
func (l *Library) PutBlob(ctx context.Context, sum [32]byte, size int64, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if size < 0 {
		return &consign.ValidationError{Field: "PutBlob.size", Value: size, Rule: "at least 0"}
	}
	if _, _, err := l.statBlob(sum); err == nil {
		return nil // single instance: already stored
	}
	f, err := os.CreateTemp(l.tmpDir(), "blob-*")
	if err != nil {
		return fmt.Errorf("fslibrary: PutBlob: %w", err)
	}
	tmp := f.Name()
	keep := false
	defer func() {
		if !keep {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := &writebackWriter{f: f}
	got, n, err := hashCopy(ctx, w, io.LimitReader(r, size+1))
	if err != nil {
		return fmt.Errorf("fslibrary: PutBlob: %w", err)
	}
	if n != size || got != sum {
		e := &distpoint.HashMismatchError{WantSHA256: sum, WantSize: size, GotSize: n}
		if n == size {
			e.GotSHA256 = got
		}
		return e
	}
	// Start writing the rest now, so that Publish's sync finds the disk
	// already busy with it.
	w.startRest()
	if err := f.Close(); err != nil {
		return fmt.Errorf("fslibrary: PutBlob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, err := os.Stat(l.blobPath(sum)); err == nil {
		return nil // a concurrent put and Publish stored it durably
	}
	// Renaming over a pending blob another goroutine just put is
	// harmless: the bytes are the same, neither is durable yet, and
	// readers keep the file they opened.
	if err := os.Rename(tmp, l.pendingPath(sum)); err != nil {
		return fmt.Errorf("fslibrary: PutBlob: %w", err)
	}
	keep = true
	return nil
}

// writebackEvery is how many bytes PutBlob writes between asking the
// kernel to start writing them to disk (and it asks again for the rest at
// the end). Starting writeback as it goes (without waiting for it) keeps
// the disk busy from the first blob, where the kernel alone would wait for
// its dirty-page thresholds, so the sync at Publish has little left to do.
const writebackEvery = 8 << 20

// writebackWriter writes to f, starting writeback every writebackEvery
// bytes.
type writebackWriter struct {
	f       *os.File
	off     int64 // bytes written
	flushed int64 // bytes handed to writeback
}

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if err == nil && w.off-w.flushed >= writebackEvery {
		w.startRest()
	}
	return n, err
}

// startRest starts writeback of the bytes written since the last time.
func (w *writebackWriter) startRest() {
	if w.off > w.flushed {
		startWriteback(w.f, w.flushed, w.off-w.flushed)
		w.flushed = w.off
	}
}

// hashCopy copies src to dst while hashing, stopping when ctx is done.
// Reading, hashing and writing are three stages working on different
// chunks at once (each chunk is hashed and written concurrently, then
// recycled), so on a multi-core machine the copy runs at about the speed of
// the slowest stage rather than their sum.
func hashCopy(ctx context.Context, dst io.Writer, src io.Reader) (sum [32]byte, n int64, err error) {
	const buffers = 4
	type chunk struct {
		buf  []byte
		n    int
		refs *atomic.Int32 // stages still using buf
	}
	free := make(chan chunk, buffers)
	for range buffers {
		free <- chunk{buf: *buffersPool.Get().(*[]byte), refs: new(atomic.Int32)}
	}
	defer func() {
		// Both stages have finished: every buffer is back in free.
		for range buffers {
			c := <-free
			buffersPool.Put(&c.buf)
		}
	}()
	release := func(c chunk) {
		if c.refs.Add(-1) == 0 {
			free <- c
		}
	}
	toHash, toWrite := make(chan chunk, buffers), make(chan chunk, buffers)
	h := sha256.New()
	hashed, written := make(chan struct{}), make(chan error, 1)
	go func() {
		for c := range toHash {
			h.Write(c.buf[:c.n])
			release(c)
		}
		close(hashed)
	}()
	go func() {
		var err error
		for c := range toWrite {
			if err == nil {
				_, err = dst.Write(c.buf[:c.n])
			}
			release(c)
		}
		written <- err
	}()
	var rerr error
	for {
		if rerr = ctx.Err(); rerr != nil {
			break
		}
		c := <-free
		k, e := io.ReadFull(src, c.buf)
		if k > 0 {
			n += int64(k)
			c.n = k
			c.refs.Store(2)
			toHash <- c
			toWrite <- c
		} else {
			free <- c
		}
		if e == io.EOF || e == io.ErrUnexpectedEOF {
			break
		}
		if e != nil {
			rerr = e
			break
		}
	}
	close(toHash)
	close(toWrite)
	<-hashed
	if err := <-written; err != nil && rerr == nil {
		rerr = err
	}
	if rerr != nil {
		return sum, n, rerr
	}
	h.Sum(sum[:0])
	return sum, n, nil
}

// OpenBlob implements distpoint.Library; pending blobs are served too.
func (l *Library) OpenBlob(ctx context.Context, sum [32]byte) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// pending/ first, as in statBlob.
	f, err := os.Open(l.pendingPath(sum))
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(l.blobPath(sum))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, consign.Errorf(consign.ErrNotFound, "OpenBlob", hex.EncodeToString(sum[:]), "blob not stored")
	}
	if err != nil {
		return nil, fmt.Errorf("fslibrary: OpenBlob: %w", err)
	}
	return f, nil
}

// checkVersion validates the key of a version.
func checkVersion(id consign.ObjectID, v uint32) error {
	var p consign.Problems
	p.Merge(id.Validate())
	p.Check(v >= 1, "version", "at least 1 (the first SourceVersion)")
	return p.Err()
}

// manifestFile is the on-disk form of a published version.
type manifestFile struct {
	Package consign.ObjectID `json:"package"`
	Version uint32           `json:"version"`
	// Hash is pkg.Manifest.Hash of Files, checked when read back.
	Hash  string     `json:"hash"`
	Files []fileJSON `json:"files"`
}

type fileJSON struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func encodeManifest(id consign.ObjectID, v uint32, m pkg.Manifest) ([]byte, error) {
	mf := manifestFile{Package: id, Version: v, Files: make([]fileJSON, len(m.Files))}
	h := m.Hash()
	mf.Hash = hex.EncodeToString(h[:])
	for i, f := range m.Files {
		mf.Files[i] = fileJSON{Path: f.Path, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256[:])}
	}
	return json.MarshalIndent(mf, "", "\t")
}

func decodeManifest(data []byte) (pkg.Manifest, error) {
	var mf manifestFile
	if err := json.Unmarshal(data, &mf); err != nil {
		return pkg.Manifest{}, err
	}
	m := pkg.Manifest{Files: make([]pkg.File, len(mf.Files))}
	for i, f := range mf.Files {
		b, err := hex.DecodeString(f.SHA256)
		if err != nil || len(b) != 32 {
			return pkg.Manifest{}, fmt.Errorf("file %q: bad sha256 %q", f.Path, f.SHA256)
		}
		m.Files[i] = pkg.File{Path: f.Path, Size: f.Size, SHA256: [32]byte(b)}
	}
	h := m.Hash()
	if hex.EncodeToString(h[:]) != mf.Hash {
		return pkg.Manifest{}, errors.New("manifest does not match its recorded hash")
	}
	if err := m.Validate(); err != nil {
		return pkg.Manifest{}, err
	}
	return m, nil
}

// readManifest reads a published version; ErrNotFound when absent.
func (l *Library) readManifest(id consign.ObjectID, v uint32) (pkg.Manifest, error) {
	data, err := os.ReadFile(l.versionPath(id, v))
	if errors.Is(err, fs.ErrNotExist) {
		return pkg.Manifest{}, consign.Errorf(consign.ErrNotFound, "Version", versionKey(id, v), "version not published")
	}
	if err != nil {
		return pkg.Manifest{}, fmt.Errorf("fslibrary: %s: %w", versionKey(id, v), err)
	}
	m, err := decodeManifest(data)
	if err != nil {
		return pkg.Manifest{}, fmt.Errorf("fslibrary: %s: corrupt manifest %s: %v", versionKey(id, v), l.versionPath(id, v), err)
	}
	return m, nil
}

func versionKey(id consign.ObjectID, v uint32) string { return fmt.Sprintf("%s.%d", id, v) }

// Publish implements distpoint.Library. The version's pending blobs and
// the manifest (written to tmp/) are made durable together, the blobs are
// renamed into blobs/ and those renames made durable, and only then is the
// manifest renamed into versions/ (see the package comment: three syncs
// per Publish however many blobs it promotes). Publishing a version again
// with the same content promotes the blobs a refresh put since (and syncs
// nothing when there are none).
func (l *Library) Publish(ctx context.Context, id consign.ObjectID, v uint32, m pkg.Manifest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkVersion(id, v); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return err
	}
	m = m.Sorted()
	key := versionKey(id, v)
	l.mu.Lock()
	defer l.mu.Unlock()
	published := false
	if old, err := l.readManifest(id, v); err == nil {
		if old.Hash() != m.Hash() {
			return consign.Errorf(consign.ErrConflict, "Publish", key, "already published with other content")
		}
		published = true
	} else if !errors.Is(err, consign.ErrNotFound) {
		return err
	}
	var pending [][32]byte
	seen := make(map[[32]byte]bool, len(m.Files))
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, isPending, err := l.statBlob(f.SHA256)
		if errors.Is(err, fs.ErrNotExist) {
			return consign.Errorf(consign.ErrNotFound, "Publish", key, "file %s: blob %x not stored", f.Path, f.SHA256)
		}
		if err != nil {
			return fmt.Errorf("fslibrary: Publish %s: %w", key, err)
		}
		if fi.Size() != f.Size {
			return consign.Errorf(consign.ErrInvalid, "Publish", key, "file %s: manifest says %d bytes, blob %x has %d", f.Path, f.Size, f.SHA256, fi.Size())
		}
		if isPending && !seen[f.SHA256] {
			seen[f.SHA256] = true
			pending = append(pending, f.SHA256)
		}
	}
	if published && len(pending) == 0 {
		return nil
	}
	var tmp string // the manifest in tmp/, until renamed into place
	if !published {
		data, err := encodeManifest(id, v, m)
		if err != nil {
			return fmt.Errorf("fslibrary: Publish %s: %w", key, err)
		}
		// With blobs to promote, the manifest's data is synced with
		// theirs; otherwise at once.
		if tmp, err = l.writeTemp("manifest-*", data, len(pending) == 0); err != nil {
			return fmt.Errorf("fslibrary: Publish %s: %w", key, err)
		}
		defer func() {
			if tmp != "" {
				os.Remove(tmp)
			}
		}()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var files, dirs []string
	if tmp != "" && len(pending) > 0 {
		files = append(files, tmp)
	}
	if !published {
		// The package's folder in versions/ is made durable with the
		// blobs' folders.
		if err := os.Mkdir(l.versionDir(id), 0o755); err == nil {
			dirs = append(dirs, filepath.Dir(l.versionDir(id)))
		} else if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("fslibrary: Publish %s: %w", key, err)
		}
	}
	if err := l.promote(pending, files, dirs); err != nil {
		return fmt.Errorf("fslibrary: Publish %s: %w", key, err)
	}
	if published {
		return nil
	}
	if err := os.Rename(tmp, l.versionPath(id, v)); err != nil {
		return fmt.Errorf("fslibrary: Publish %s: %w", key, err)
	}
	tmp = ""
	return syncDir(l.versionDir(id))
}

// promote makes the pending blobs sums durable, with the files at
// files, and moves them into blobs/, durably: one sync of their data, the
// renames, one sync of the renames with the directories dirs (and any
// directories an earlier promote could not sync). Blobs whose sync fails
// are discarded, since content that failed to reach the disk cannot be
// trusted; the caller puts them again. Called with l.mu held.
func (l *Library) promote(sums [][32]byte, files, dirs []string) error {
	// dirs have changed already: until synced, they are owed.
	l.unsynced = append(l.unsynced, dirs...)
	if len(sums) > 0 || len(files) > 0 {
		paths := make([]string, 0, len(sums)+len(files))
		for _, s := range sums {
			paths = append(paths, l.pendingPath(s))
		}
		if err := l.syncFiles(append(paths, files...)); err != nil {
			for _, p := range paths {
				os.Remove(p)
			}
			return fmt.Errorf("making content durable: %w", err)
		}
	}
	dirs = slices.Clone(l.unsynced)
	added := map[string]bool{}
	newPrefix := false // blobs/ gained an entry
	var err error
	for _, s := range sums {
		final := l.blobPath(s)
		dir := filepath.Dir(final)
		if !added[dir] {
			added[dir] = true
			if e := os.Mkdir(dir, 0o755); e == nil {
				newPrefix = true
			} else if !errors.Is(e, fs.ErrExist) {
				err = e
				break
			}
			dirs = append(dirs, dir)
		}
		if err = os.Chmod(l.pendingPath(s), 0o444); err != nil {
			break
		}
		if err = os.Rename(l.pendingPath(s), final); err != nil {
			break
		}
	}
	if newPrefix {
		dirs = append(dirs, filepath.Join(l.root, "blobs"))
	}
	if len(dirs) > 0 {
		// Even after a failed rename, sync the ones made: a later Publish
		// will find those blobs in blobs/ and not sync them again.
		if serr := l.syncDirs(dirs); serr != nil {
			l.unsynced = dirs
			return errors.Join(err, fmt.Errorf("making renames durable: %w", serr))
		}
		l.unsynced = nil
	}
	return err
}

// writeTemp writes data to a new file in tmp/ named after pattern,
// syncing it if sync is set, and returns its path.
func (l *Library) writeTemp(pattern string, data []byte, sync bool) (string, error) {
	f, err := os.CreateTemp(l.tmpDir(), pattern)
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// Version implements distpoint.Library.
func (l *Library) Version(ctx context.Context, id consign.ObjectID, v uint32) (pkg.Manifest, error) {
	if err := ctx.Err(); err != nil {
		return pkg.Manifest{}, err
	}
	if err := checkVersion(id, v); err != nil {
		return pkg.Manifest{}, err
	}
	return l.readManifest(id, v)
}

// Versions implements distpoint.Library.
func (l *Library) Versions(ctx context.Context, id consign.ObjectID) ([]uint32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	return l.versions(id)
}

func (l *Library) versions(id consign.ObjectID) ([]uint32, error) {
	entries, err := os.ReadDir(l.versionDir(id))
	if errors.Is(err, fs.ErrNotExist) {
		return []uint32{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fslibrary: Versions %s: %w", id, err)
	}
	vs := []uint32{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil || n == 0 {
			continue
		}
		vs = append(vs, uint32(n))
	}
	slices.Sort(vs)
	return vs, nil
}

// Remove implements distpoint.Library.
func (l *Library) Remove(ctx context.Context, id consign.ObjectID, v uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkVersion(id, v); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := os.Stat(l.versionPath(id, v)); errors.Is(err, fs.ErrNotExist) {
		return consign.Errorf(consign.ErrNotFound, "Remove", versionKey(id, v), "version not published")
	}
	// The materialised tree goes first: a crash before the manifest goes
	// then leaves a published version without a tree (made again on
	// demand), never a tree without a version that nothing would clean up.
	if err := l.dropShare(id, v); err != nil {
		return err
	}
	err := os.Remove(l.versionPath(id, v))
	if errors.Is(err, fs.ErrNotExist) {
		return consign.Errorf(consign.ErrNotFound, "Remove", versionKey(id, v), "version not published")
	}
	if err != nil {
		return fmt.Errorf("fslibrary: Remove %s: %w", versionKey(id, v), err)
	}
	return syncDir(l.versionDir(id))
}

// dropShare removes a materialised tree: it is first renamed into tmp/ so
// that it disappears at once, then deleted.
func (l *Library) dropShare(id consign.ObjectID, v uint32) error {
	dir := l.sharePath(id, v)
	gone, err := os.MkdirTemp(l.tmpDir(), "dropped-*")
	if err != nil {
		return fmt.Errorf("fslibrary: %w", err)
	}
	err = os.Rename(dir, filepath.Join(gone, "tree"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.Remove(gone)
		return fmt.Errorf("fslibrary: removing tree of %s: %w", versionKey(id, v), err)
	}
	return removeAll(gone)
}

// referenced returns the set of blobs some published version uses.
func (l *Library) referenced(ctx context.Context) (map[[32]byte]bool, error) {
	refs := make(map[[32]byte]bool)
	pkgs, err := os.ReadDir(filepath.Join(l.root, "versions"))
	if err != nil {
		return nil, err
	}
	for _, p := range pkgs {
		id := consign.ObjectID(p.Name())
		if !p.IsDir() || id.Validate() != nil {
			continue
		}
		vs, err := l.versions(id)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			m, err := l.readManifest(id, v)
			if err != nil {
				// A manifest that cannot be read keeps every blob: GC
				// must never delete content it cannot prove unused.
				return nil, err
			}
			for _, f := range m.Files {
				refs[f.SHA256] = true
			}
		}
	}
	return refs, nil
}

// GC implements distpoint.Library. Pending blobs count: those no published
// version uses are deleted like the others (a refreshed blob of a
// published version, put again and waiting for its Publish, stays).
func (l *Library) GC(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	refs, err := l.referenced(ctx)
	if err != nil {
		return 0, fmt.Errorf("fslibrary: GC: %w", err)
	}
	removed := 0
	blobs := filepath.Join(l.root, "blobs")
	prefixes, err := os.ReadDir(blobs)
	if err != nil {
		return 0, fmt.Errorf("fslibrary: GC: %w", err)
	}
	for _, p := range prefixes {
		if !p.IsDir() {
			continue
		}
		n, err := sweep(ctx, filepath.Join(blobs, p.Name()), refs)
		removed += n
		if err != nil {
			return removed, err
		}
	}
	n, err := sweep(ctx, l.pendingDir(), refs)
	removed += n
	if err != nil {
		return removed, err
	}
	return removed, nil
}

// sweep deletes the blob files in dir that refs does not hold and returns
// how many it deleted.
func sweep(ctx context.Context, dir string, refs map[[32]byte]bool) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("fslibrary: GC: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		b, err := hex.DecodeString(e.Name())
		if err != nil || len(b) != 32 || refs[[32]byte(b)] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("fslibrary: GC: %w", err)
		}
		removed++
	}
	return removed, nil
}

// Verify implements distpoint.Library. Besides the blobs it re-hashes the
// files of the version's materialised tree, if there is one, that are
// copies rather than links to the blobs; a mismatch there removes the tree
// (Materialize lays it out again). A blob still pending (a refresh put it
// again; the next Publish makes it durable) is checked like the others: it
// is stored, as HasBlob says, and a corrupt one is discarded too.
func (l *Library) Verify(ctx context.Context, id consign.ObjectID, v uint32) ([]distpoint.Mismatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkVersion(id, v); err != nil {
		return nil, err
	}
	l.mu.RLock()
	m, err := l.readManifest(id, v)
	if err != nil {
		l.mu.RUnlock()
		return nil, err
	}
	var bad []distpoint.Mismatch
	var corrupt []badBlob
	dropTree := false
	share := l.sharePath(id, v)
	_, serr := os.Stat(share)
	hasShare := serr == nil
	for _, f := range m.Files {
		p := l.blobPath(f.SHA256)
		if _, pending, err := l.statBlob(f.SHA256); err == nil && pending {
			p = l.pendingPath(f.SHA256)
		}
		mm, fi, err := checkFile(ctx, p, f)
		if err != nil {
			l.mu.RUnlock()
			return nil, fmt.Errorf("fslibrary: Verify %s: %w", versionKey(id, v), err)
		}
		if mm != nil {
			bad = append(bad, *mm)
			if fi != nil {
				corrupt = append(corrupt, badBlob{f.SHA256, fi})
			}
			dropTree = true
			continue
		}
		if hasShare {
			local, err := filepath.Localize(f.Path)
			if err != nil {
				l.mu.RUnlock()
				return nil, err
			}
			p := filepath.Join(share, local)
			if tfi, err := os.Lstat(p); err == nil && os.SameFile(tfi, fi) {
				continue // a link to the blob just checked
			}
			tm, _, err := checkFile(ctx, p, f)
			if err != nil {
				l.mu.RUnlock()
				return nil, fmt.Errorf("fslibrary: Verify %s: %w", versionKey(id, v), err)
			}
			if tm != nil {
				bad = append(bad, *tm)
				dropTree = true
			}
		}
	}
	l.mu.RUnlock()
	if len(corrupt) == 0 && !dropTree {
		return nil, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range corrupt {
		// Discard only the file found corrupt, not one a concurrent
		// PutBlob has since renamed into place; it may have been promoted
		// from pending/ to blobs/ meanwhile.
		for _, p := range []string{l.pendingPath(b.sum), l.blobPath(b.sum)} {
			if fi, err := os.Stat(p); err == nil && os.SameFile(fi, b.fi) {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return bad, fmt.Errorf("fslibrary: Verify %s: discarding corrupt blob: %w", versionKey(id, v), err)
				}
			}
		}
		if err := l.dropSharesUsing(b.sum); err != nil {
			return bad, err
		}
	}
	if dropTree {
		if err := l.dropShare(id, v); err != nil {
			return bad, err
		}
	}
	return bad, nil
}

type badBlob struct {
	sum [32]byte
	fi  fs.FileInfo
}

// dropSharesUsing removes the materialised trees of every version that
// uses the blob sum: their files may be links to the corrupt content.
func (l *Library) dropSharesUsing(sum [32]byte) error {
	pkgs, err := os.ReadDir(filepath.Join(l.root, "shares"))
	if err != nil {
		return err
	}
	for _, p := range pkgs {
		id := consign.ObjectID(p.Name())
		vers, err := os.ReadDir(filepath.Join(l.root, "shares", p.Name()))
		if err != nil {
			return err
		}
		for _, ve := range vers {
			n, err := strconv.ParseUint(ve.Name(), 10, 32)
			if err != nil {
				continue
			}
			m, err := l.readManifest(id, uint32(n))
			if err != nil {
				continue
			}
			if slices.ContainsFunc(m.Files, func(f pkg.File) bool { return f.SHA256 == sum }) {
				if err := l.dropShare(id, uint32(n)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkFile hashes the file at p and compares it with f. It returns the
// mismatch (nil when the file matches) and the file's info (nil when it is
// missing).
func checkFile(ctx context.Context, p string, f pkg.File) (*distpoint.Mismatch, fs.FileInfo, error) {
	file, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &distpoint.Mismatch{File: f, Missing: true}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, nil, err
	}
	sum, n, err := hashCopy(ctx, io.Discard, file)
	if err != nil {
		return nil, nil, err
	}
	if n == f.Size && sum == f.SHA256 {
		return nil, fi, nil
	}
	return &distpoint.Mismatch{File: f, Size: n, SHA256: sum}, fi, nil
}

// Materialize implements distpoint.Materializer: the tree is built in tmp/
// from hard links to the blobs (copies where linking fails, for example
// across file systems) and renamed to shares/<pkg>/<ver>. Only durable
// blobs are linked: a blob of the version that a refresh put again but
// that is not yet published again gives consign.ErrNotFound.
func (l *Library) Materialize(ctx context.Context, id consign.ObjectID, v uint32) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkVersion(id, v); err != nil {
		return "", err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	m, err := l.readManifest(id, v)
	if err != nil {
		return "", err
	}
	final := l.sharePath(id, v)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	work, err := os.MkdirTemp(l.tmpDir(), "tree-*")
	if err != nil {
		return "", fmt.Errorf("fslibrary: Materialize: %w", err)
	}
	defer removeAll(work)
	tree := filepath.Join(work, "tree")
	for _, f := range m.Files {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		dst, err := inside(tree, f.Path)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("fslibrary: Materialize: %w", err)
		}
		src := l.blobPath(f.SHA256)
		if err := os.Link(src, dst); err != nil {
			if _, serr := os.Stat(src); errors.Is(serr, fs.ErrNotExist) {
				if _, perr := os.Stat(l.pendingPath(f.SHA256)); perr == nil {
					return "", consign.Errorf(consign.ErrNotFound, "Materialize", versionKey(id, v), "file %s: blob %x put again but not yet durable (publish the version again)", f.Path, f.SHA256)
				}
				return "", consign.Errorf(consign.ErrNotFound, "Materialize", versionKey(id, v), "file %s: blob %x missing (run Verify and refresh)", f.Path, f.SHA256)
			}
			if err := copyFile(ctx, src, dst); err != nil {
				return "", fmt.Errorf("fslibrary: Materialize %s: %w", f.Path, err)
			}
		}
	}
	if err := os.MkdirAll(tree, 0o755); err != nil { // an empty manifest
		return "", fmt.Errorf("fslibrary: Materialize: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("fslibrary: Materialize: %w", err)
	}
	if err := os.Rename(tree, final); err != nil {
		if _, serr := os.Stat(final); serr == nil {
			return final, nil // a concurrent Materialize won
		}
		return "", fmt.Errorf("fslibrary: Materialize: %w", err)
	}
	return final, syncDir(filepath.Dir(final))
}

// inside joins a manifest path onto dir and refuses any result outside dir.
func inside(dir, p string) (string, error) {
	local, err := filepath.Localize(p)
	if err != nil || !filepath.IsLocal(local) {
		return "", &consign.ValidationError{Field: "File.Path", Value: p, Rule: "inside the package root"}
	}
	full := filepath.Join(dir, local)
	rel, err := filepath.Rel(dir, full)
	if err != nil || !filepath.IsLocal(rel) {
		return "", &consign.ValidationError{Field: "File.Path", Value: p, Rule: "inside the package root"}
	}
	return full, nil
}

func copyFile(ctx context.Context, src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, _, err := hashCopy(ctx, out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fslibrary: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fslibrary: sync %s: %w", dir, err)
	}
	return nil
}

// removeAll deletes a tree whose files and folders may be read-only.
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil {
		return nil
	}
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o755)
		}
		return nil
	})
	return os.RemoveAll(p)
}
