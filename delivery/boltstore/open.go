package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/consign/consign"
)

// FormatVersion is the on-disk format this package writes and reads (see
// the package comment). Open refuses a file of a higher format.
const FormatVersion = 1

// DefaultTimeout is how long Open waits for another process to release the
// file when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Options tunes Open. The zero value, like a nil *Options, gives the
// defaults: durable commits and a DefaultTimeout wait for the file lock.
type Options struct {
	// Timeout is how long Open waits for another process that has the file
	// open to close it (bbolt locks the file for one process at a time).
	// Zero means DefaultTimeout; a negative Timeout does not wait at all.
	// When the wait runs out, Open fails with an error matching
	// consign.ErrUnavailable that names the file.
	Timeout time.Duration
	// NoSync skips the fsyncs of every commit. It is UNSAFE: a crash of the
	// machine (not just the process) can lose committed writes or corrupt
	// the file. Use it only for tests and benchmarks.
	NoSync bool
	// InitialMmapSize, when positive, is the size in bytes of the file's
	// first memory map. bbolt must remap the file as it grows, and a remap
	// waits for every read in progress (a long Changes, say) to finish; a
	// map already as large as the file will grow avoids those waits. It
	// costs address space, not memory. Zero lets bbolt start small.
	InitialMmapSize int
}

// Open opens the store in the file at path, creating the file (mode 0600)
// and a fresh store in it if it does not exist.
//
// A file holds one store. Only one process can have it open: a second
// process waits for the file lock for Options.Timeout and then fails with
// an error matching consign.ErrUnavailable. Within one process, opening a
// file that is already open returns another handle on the same database
// (sharing its writes, its commit queue and the first Open's Options); the
// file is closed when the last handle is. Paths are compared after symbolic
// links are resolved; a hard link to an open file counts as another file,
// and waits for the lock like another process.
//
// Open fails with an error matching consign.ErrFailedPrecondition when the
// file is not a bbolt database, is a bbolt database that boltstore did not
// create, or was written in a newer format than FormatVersion.
func Open(path string, opts *Options) (*Store, error) {
	const op = "boltstore.Open"
	var o Options
	if opts != nil {
		o = *opts
	}
	var p consign.Problems
	p.Check(path != "", "path", "must not be empty")
	if o.InitialMmapSize < 0 {
		p.AddValue("Options.InitialMmapSize", o.InitialMmapSize, "0 (the default) or more")
	}
	if err := p.Err(); err != nil {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op, Key: path, Err: err}
	}
	key, err := fileKey(path)
	if err != nil {
		return nil, &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path, Err: err}
	}

	registry.mu.Lock()
	f := registry.files[key]
	if f == nil {
		f = &file{key: key}
		registry.files[key] = f
	}
	f.refs++
	registry.mu.Unlock()

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		db, err := openDB(path, o)
		if err != nil {
			f.releaseLocked()
			return nil, err
		}
		f.db, f.path = db, path
		f.w = newWriter(db, path)
	}
	return &Store{f: f, db: f.db, w: f.w, path: f.path}, nil
}

// file is one database file open in this process, shared by every Store
// handle on it.
type file struct {
	key  string // the registry's key: the file's absolute, resolved path
	mu   sync.Mutex
	refs int // handles and Opens in progress; guarded by registry.mu
	db   *bolt.DB
	w    *writer
	path string // as given to the Open that opened it
}

// registry holds the files open in this process, so that a second Open of
// a file shares its database instead of waiting for its own lock.
var registry = struct {
	mu    sync.Mutex
	files map[string]*file
}{files: map[string]*file{}}

// release drops one reference to f, closing the database with the last.
func (f *file) release() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.releaseLocked()
}

// releaseLocked is release with f.mu held.
func (f *file) releaseLocked() error {
	registry.mu.Lock()
	f.refs--
	last := f.refs == 0
	if last {
		delete(registry.files, f.key)
	}
	registry.mu.Unlock()
	if !last || f.db == nil {
		return nil
	}
	// An Open that finds f.refs back above zero waits on f.mu and opens
	// the file afresh once this Close has released the lock; a new file
	// entry made after the delete above waits for the lock instead.
	err := f.db.Close()
	f.db, f.w = nil, nil
	if err != nil {
		return &consign.Error{Code: consign.ErrUnavailable, Op: "boltstore.Close", Key: f.path, Err: err}
	}
	return nil
}

// fileKey returns the absolute path of the file with symbolic links
// resolved, so that two spellings of one path share one database.
func fileKey(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		return resolved, nil
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return abs, nil // bbolt will report the missing directory
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// openDB opens and, if new, initialises the bbolt database at path.
func openDB(path string, o Options) (*bolt.DB, error) {
	const op = "boltstore.Open"
	timeout := o.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt tries the lock once, then gives up
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         timeout,
		NoSync:          o.NoSync,
		FreelistType:    bolt.FreelistMapType,
		NoStatistics:    true,
		InitialMmapSize: o.InitialMmapSize,
	})
	if err != nil {
		return nil, openError(path, o.Timeout, err)
	}
	if err := initDB(db); err != nil {
		db.Close()
		var ce *consign.Error
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path, Err: err}
	}
	return db, nil
}

// openError maps bbolt's and the file system's errors from opening path.
func openError(path string, timeout time.Duration, err error) error {
	const op = "boltstore.Open"
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		wait := "no wait"
		if timeout >= 0 {
			if timeout == 0 {
				timeout = DefaultTimeout
			}
			wait = "waited " + timeout.String()
		}
		return &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path,
			Err: fmt.Errorf("file %s is locked by another process (%s): %w", path, wait, err)}
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return &consign.Error{Code: consign.ErrFailedPrecondition, Op: op, Key: path,
			Err: fmt.Errorf("file %s is not a usable bbolt database: %w", path, err)}
	case errors.Is(err, fs.ErrPermission):
		return &consign.Error{Code: consign.ErrPermissionDenied, Op: op, Key: path, Err: err}
	}
	return &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path, Err: err}
}

// Bucket and meta key names, format 1.
var (
	metaBucket    = []byte("boltstore")
	recordsBucket = []byte("records")
	indexBucket   = []byte("index")
	tombsBucket   = []byte("tombstones")
	changesBucket = []byte("changes")

	formatKey   = []byte("format")
	revisionKey = []byte("revision")
	entriesKey  = []byte("entries")
)

// initDB creates the buckets of a new store, or checks an existing one's
// format.
func initDB(db *bolt.DB) error {
	const op = "boltstore.Open"
	path := db.Path()
	fresh := false
	err := db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if meta == nil {
			var other []byte
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				other = name
				return errStop
			})
			if other != nil {
				return &consign.Error{Code: consign.ErrFailedPrecondition, Op: op, Key: path,
					Err: fmt.Errorf("file %s is a bbolt database but not a boltstore one (it has a bucket %q and no %q)", path, other, metaBucket)}
			}
			fresh = true
			return nil
		}
		v := meta.Get(formatKey)
		format, ok := getRev(v)
		if !ok || len(v) != revLen {
			return corrupt(op, path, "", fmt.Errorf("%w: format version %x", ErrCorrupt, v))
		}
		if format > FormatVersion {
			return &consign.Error{Code: consign.ErrFailedPrecondition, Op: op, Key: path,
				Err: fmt.Errorf("file %s is in store format %d, newer than format %d which this version of boltstore reads; open it with a newer version", path, format, FormatVersion)}
		}
		if _, err := readRevision(meta); err != nil {
			return corrupt(op, path, "", err)
		}
		for _, name := range [][]byte{recordsBucket, indexBucket, tombsBucket, changesBucket} {
			if tx.Bucket(name) == nil {
				return corrupt(op, path, "", fmt.Errorf("%w: bucket %q is missing", ErrCorrupt, name))
			}
		}
		return nil
	})
	if err != nil || !fresh {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(metaBucket)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{recordsBucket, indexBucket, tombsBucket, changesBucket} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		format := make([]byte, revLen)
		putRev(format, FormatVersion)
		if err := meta.Put(formatKey, format); err != nil {
			return err
		}
		if err := meta.Put(revisionKey, make([]byte, revLen)); err != nil {
			return err
		}
		return meta.Put(entriesKey, make([]byte, revLen))
	})
}

// errStop ends a ForEach early.
var errStop = errors.New("stop")

// readRevision returns the last revision taken, from the meta bucket.
func readRevision(meta *bolt.Bucket) (int64, error) {
	v := meta.Get(revisionKey)
	if len(v) != revLen {
		return 0, fmt.Errorf("%w: the revision counter is %x", ErrCorrupt, v)
	}
	rev, _ := getRev(v)
	if rev < 0 {
		return 0, fmt.Errorf("%w: the revision counter is %d", ErrCorrupt, rev)
	}
	return rev, nil
}

// corrupt wraps err (which wraps ErrCorrupt) for op on the file at path,
// about the record named key ("kind/key") if any.
func corrupt(op, path, key string, err error) error {
	if key != "" {
		err = fmt.Errorf("file %s, record %s: %w", path, key, err)
	} else {
		err = fmt.Errorf("file %s: %w", path, err)
	}
	return &consign.Error{Code: consign.ErrFailedPrecondition, Op: op, Key: key, Err: err}
}
