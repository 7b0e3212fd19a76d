package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/consign/consign"
)

// StateFormat is the on-disk format of the state file this package writes
// and reads. OpenState refuses a file of a higher format.
const StateFormat = 1

// DefaultLockTimeout is how long OpenState waits for another process to
// release the state file when StateOptions.LockTimeout is zero.
const DefaultLockTimeout = 2 * time.Second

// MaxKeyLen is the longest key State.Put accepts, in bytes.
const MaxKeyLen = 1024

// StateOptions tunes OpenState. A nil *StateOptions, like the zero value,
// gives durable commits and a DefaultLockTimeout wait for the file lock.
type StateOptions struct {
	// LockTimeout is how long OpenState waits for another agent that has
	// the file open to close it. Zero means DefaultLockTimeout; a negative
	// value tries once and does not wait.
	LockTimeout time.Duration
	// NoSync skips the fsync of every commit. It is UNSAFE: a machine
	// crash can lose status messages the Outbox said were stored. Use it
	// only in tests and simulations.
	NoSync bool
}

// State is the agent's one durable state file: the outbox, the cache index
// and a small key/value area, in one bbolt database. Every write is
// committed (and, unless StateOptions.NoSync, fsynced) before the call
// returns. A State is safe for concurrent use. After Close every method
// fails with an error matching consign.ErrUnavailable.
type State struct {
	db   *bolt.DB
	path string

	mu        sync.Mutex
	cacheOpen bool // an open Cache mirrors the cache bucket; one at a time
}

// Bucket and meta key names, format 1.
var (
	metaBucket   = []byte("agent")
	kvBucket     = []byte("kv")
	outboxBucket = []byte("outbox")
	cacheBucket  = []byte("cache")

	formatKey      = []byte("format")
	outboxCountKey = []byte("outbox.count")
)

// OpenState opens the state file at path, creating it (mode 0600) if it
// does not exist.
//
// Only one process can have the file open. When another has it, OpenState
// waits up to StateOptions.LockTimeout and then fails with an error matching
// consign.ErrUnavailable that says the file is locked by another agent. A
// file that is not a bbolt database, or one that this package did not
// create, or one in a newer format than StateFormat, gives an error matching
// consign.ErrFailedPrecondition.
func OpenState(path string, opts *StateOptions) (*State, error) {
	const op = "agent.OpenState"
	var o StateOptions
	if opts != nil {
		o = *opts
	}
	if path == "" {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op,
			Err: &consign.ValidationError{Field: "path", Rule: "must not be empty"}}
	}
	timeout := o.LockTimeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt tries the lock once, then gives up
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: o.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, consign.Errorf(consign.ErrUnavailable, op, path,
				"state file is locked by another agent (waited %v): %w", timeout, err)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
			return nil, consign.Errorf(consign.ErrFailedPrecondition, op, path, "not a usable state file: %w", err)
		case errors.Is(err, fs.ErrPermission):
			return nil, &consign.Error{Code: consign.ErrPermissionDenied, Op: op, Key: path, Err: err}
		}
		return nil, &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path, Err: err}
	}
	if err := initState(db); err != nil {
		db.Close()
		var ce *consign.Error
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path, Err: err}
	}
	return &State{db: db, path: path}, nil
}

// initState creates the buckets of a new file, or checks an existing one.
func initState(db *bolt.DB) error {
	const op = "agent.OpenState"
	path := db.Path()
	return db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(metaBucket)
		if meta == nil {
			var other []byte
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				other = name
				return errStop
			})
			if other != nil {
				return consign.Errorf(consign.ErrFailedPrecondition, op, path,
					"a bbolt database but not an agent state file (it has a bucket %q and no %q)", other, metaBucket)
			}
			var err error
			if meta, err = tx.CreateBucket(metaBucket); err != nil {
				return err
			}
			if err := meta.Put(formatKey, putUint64(StateFormat)); err != nil {
				return err
			}
			if err := meta.Put(outboxCountKey, putUint64(0)); err != nil {
				return err
			}
		}
		format, ok := getUint64(meta.Get(formatKey))
		if !ok {
			return consign.Errorf(consign.ErrFailedPrecondition, op, path, "damaged state file: format is %x", meta.Get(formatKey))
		}
		if format > StateFormat {
			return consign.Errorf(consign.ErrFailedPrecondition, op, path,
				"state file format %d is newer than format %d, which this version reads", format, StateFormat)
		}
		if _, ok := getUint64(meta.Get(outboxCountKey)); !ok {
			return consign.Errorf(consign.ErrFailedPrecondition, op, path, "damaged state file: outbox count is %x", meta.Get(outboxCountKey))
		}
		for _, name := range [][]byte{kvBucket, outboxBucket, cacheBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
}

// errStop ends a ForEach early.
var errStop = errors.New("stop")

// Path returns the file's path as given to OpenState.
func (s *State) Path() string { return s.path }

// Close closes the file and releases its lock. Closing twice is harmless.
// The caller must stop using Outboxes and Caches over s first.
func (s *State) Close() error {
	if err := s.db.Close(); err != nil {
		return &consign.Error{Code: consign.ErrUnavailable, Op: "agent.State.Close", Key: s.path, Err: err}
	}
	return nil
}

// Get returns the value stored under key in the key/value area, and false
// when there is none. The value is a copy the caller may keep.
func (s *State) Get(key string) ([]byte, bool, error) {
	const op = "agent.State.Get"
	var v []byte
	ok := false
	err := s.view(op, key, func(tx *bolt.Tx) error {
		if b := tx.Bucket(kvBucket).Get([]byte(key)); b != nil {
			v, ok = append([]byte{}, b...), true
		}
		return nil
	})
	return v, ok, err
}

// Put stores value under key in the key/value area, replacing any value
// there. The key must be 1 to MaxKeyLen bytes; a nil value is stored as an
// empty one.
func (s *State) Put(key string, value []byte) error {
	const op = "agent.State.Put"
	if err := checkKey(op, key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return s.update(op, key, func(tx *bolt.Tx) error {
		return tx.Bucket(kvBucket).Put([]byte(key), value)
	})
}

// Delete removes key from the key/value area. Deleting a missing key is
// not an error.
func (s *State) Delete(key string) error {
	const op = "agent.State.Delete"
	if err := checkKey(op, key); err != nil {
		return err
	}
	return s.update(op, key, func(tx *bolt.Tx) error {
		return tx.Bucket(kvBucket).Delete([]byte(key))
	})
}

func checkKey(op, key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return &consign.Error{Code: consign.ErrInvalid, Op: op, Key: key,
			Err: &consign.ValidationError{Field: "key", Rule: fmt.Sprintf("1 to %d bytes", MaxKeyLen)}}
	}
	return nil
}

// view runs fn in a read transaction and maps bbolt's errors.
func (s *State) view(op, key string, fn func(tx *bolt.Tx) error) error {
	return s.dbError(op, key, s.db.View(fn))
}

// update runs fn in a read-write transaction, committed before it returns,
// and maps bbolt's errors.
func (s *State) update(op, key string, fn func(tx *bolt.Tx) error) error {
	return s.dbError(op, key, s.db.Update(fn))
}

// dbError passes consign errors through and maps the rest to
// ErrUnavailable: the write did not happen and may be retried.
func (s *State) dbError(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var ce *consign.Error
	if errors.As(err, &ce) {
		return err
	}
	var full *OutboxFullError
	if errors.As(err, &full) {
		return err
	}
	var space *CacheSpaceError
	if errors.As(err, &space) {
		return err
	}
	var ve *consign.ValidationError
	if errors.As(err, &ve) {
		return &consign.Error{Code: consign.ErrInvalid, Op: op, Key: key, Err: err}
	}
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return consign.Errorf(consign.ErrUnavailable, op, key, "state file %s is closed: %w", s.path, err)
	}
	return consign.Errorf(consign.ErrUnavailable, op, key, "state file %s: %w", s.path, err)
}

// putUint64 returns v as 8 big-endian bytes, so byte order is numeric order.
func putUint64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// getUint64 reads 8 big-endian bytes.
func getUint64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}
