package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// Store is a delivery.Store and delivery.BulkWriter kept in a bbolt file.
// Open one with Open; the zero value is not usable. A Store is safe for
// concurrent use.
type Store struct {
	f      *file
	db     *bolt.DB
	w      *writer
	path   string
	closed atomic.Bool
}

var (
	_ delivery.Store      = (*Store)(nil)
	_ delivery.BulkWriter = (*Store)(nil)
)

// Path returns the path of the store's file, as given to the Open that
// opened it.
func (s *Store) Path() string { return s.path }

// Close closes this handle. The file is closed, and its lock released, when
// the last handle on it in this process is closed; that Close waits for the
// calls still running on the file. Later calls on the handle return an
// error matching consign.ErrUnavailable; a second Close returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.f.release()
}

// usable returns why op cannot run now, if it cannot.
func (s *Store) usable(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if s.closed.Load() {
		return consign.Errorf(consign.ErrUnavailable, op, "", "store %s is closed", s.path)
	}
	return nil
}

// view runs fn in a read transaction after checking that op may run.
func (s *Store) view(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	if err := s.db.View(fn); err != nil {
		return s.boltErr(op, err)
	}
	return nil
}

// boltErr maps an error from a bbolt transaction: consign errors pass
// through, a closed database is unavailable, anything else is a failure of
// the file, also unavailable (the transaction was rolled back).
func (s *Store) boltErr(op string, err error) error {
	var ce *consign.Error
	switch {
	case errors.As(err, &ce), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return consign.Errorf(consign.ErrUnavailable, op, "", "store %s is closed", s.path)
	}
	return &consign.Error{Code: consign.ErrUnavailable, Op: op, Err: fmt.Errorf("file %s: %w", s.path, err)}
}

// kindBucket returns the kind's bucket under the root bucket name, or nil
// if the kind has none.
func kindBucket(tx *bolt.Tx, root []byte, kind string) *bolt.Bucket {
	r := tx.Bucket(root)
	if r == nil {
		return nil
	}
	return r.Bucket([]byte(kind))
}

// record decodes a stored value into a record that shares nothing with it.
func (s *Store) record(op string, kind, key string, v []byte) (delivery.Record, error) {
	d, err := decodeValue(v)
	if err != nil {
		return delivery.Record{}, corrupt(op, s.path, kind+"/"+key, err)
	}
	return delivery.Record{Kind: kind, Key: key, Revision: d.rev, Index: indexMap(d.index), Data: bytes.Clone(d.data)}, nil
}

// Get returns the record, or an error matching consign.ErrNotFound.
func (s *Store) Get(ctx context.Context, kind, key string) (delivery.Record, error) {
	const op = "boltstore.Get"
	var rec delivery.Record
	found := false
	err := s.view(ctx, op, func(tx *bolt.Tx) error {
		b := kindBucket(tx, recordsBucket, kind)
		if b == nil || key == "" {
			return nil
		}
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		var err error
		rec, err = s.record(op, kind, key, v)
		found = err == nil
		return err
	})
	if err != nil {
		return delivery.Record{}, err
	}
	if !found {
		return delivery.Record{}, &consign.Error{Code: consign.ErrNotFound, Op: op, Key: kind + "/" + key}
	}
	return rec, nil
}

// List returns the records of kind matching q in ascending key order, and
// the key to pass as q.After for the next page ("" when there is none). A
// record matches q.IndexName only if its Index has that field: a missing
// field does not match an empty q.IndexValue. With an index filter, List
// reads the kind's index entries for that field and value, never the
// kind's other records.
func (s *Store) List(ctx context.Context, kind string, q delivery.Query) ([]delivery.Record, string, error) {
	const op = "boltstore.List"
	if q.Limit < 0 {
		return nil, "", &consign.Error{Code: consign.ErrInvalid, Op: op,
			Err: &consign.ValidationError{Field: "Query.Limit", Value: q.Limit, Rule: "0 (no limit) or more"}}
	}
	var out []delivery.Record
	var next string
	err := s.view(ctx, op, func(tx *bolt.Tx) error {
		kb := kindBucket(tx, recordsBucket, kind)
		if kb == nil {
			return nil
		}
		// add appends the record at key unless the page is full, in which
		// case it sets next and reports that listing is over.
		add := func(key, v []byte) (bool, error) {
			if q.Limit > 0 && len(out) == q.Limit { // and there is at least one more
				next = out[len(out)-1].Key
				return false, nil
			}
			r, err := s.record(op, kind, string(key), v)
			if err != nil {
				return false, err
			}
			out = append(out, r)
			return true, nil
		}
		after := []byte(q.After)
		if q.IndexName == "" {
			c := kb.Cursor()
			k, v := c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil; k, v = c.Next() {
				if v == nil {
					return corrupt(op, s.path, kind+"/"+string(k), fmt.Errorf("%w: a bucket among the records", ErrCorrupt))
				}
				if more, err := add(k, v); !more || err != nil {
					return err
				}
			}
			return nil
		}
		ib := kindBucket(tx, indexBucket, kind)
		if ib == nil {
			return nil
		}
		prefix := indexPrefix(nil, q.IndexName, q.IndexValue)
		recs := seeker{c: kb.Cursor()} // index entries come in key order
		c := ib.Cursor()
		k, _ := c.Seek(append(prefix[:len(prefix):len(prefix)], after...))
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			key := k[len(prefix):]
			if len(key) == 0 || bytes.Compare(key, after) <= 0 {
				if len(key) == 0 {
					return corrupt(op, s.path, kind, fmt.Errorf("%w: index entry %x names no record", ErrCorrupt, k))
				}
				continue
			}
			v := recs.find(key)
			if v == nil {
				return corrupt(op, s.path, kind+"/"+string(key), fmt.Errorf("%w: index entry %s=%q for a record that does not exist", ErrCorrupt, q.IndexName, q.IndexValue))
			}
			if more, err := add(key, v); !more || err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// Changes returns, in increasing revision order, the latest state of every
// record last written with a revision greater than after, tombstones
// included (they are kept forever). limit (0 = no limit) is rounded up to
// the end of a revision: a page never ends inside one. One read transaction
// serves the whole call, so a page is a consistent snapshot, and writes
// commit in revision order, so a revision is never visible before a lower
// one.
//
// It reads in two passes: the change entries in revision order, then the
// records they name in key order, so that reading the whole store walks
// each kind's records bucket once from start to end instead of searching
// it once per record.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]delivery.Change, error) {
	const op = "boltstore.Changes"
	if limit < 0 {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op,
			Err: &consign.ValidationError{Field: "limit", Value: limit, Rule: "0 (no limit) or more"}}
	}
	if after == math.MaxInt64 {
		return nil, s.usable(ctx, op)
	}
	var out []delivery.Change
	err := s.view(ctx, op, func(tx *bolt.Tx) error {
		cb := tx.Bucket(changesBucket)
		if cb == nil {
			return corrupt(op, s.path, "", fmt.Errorf("%w: bucket %q is missing", ErrCorrupt, changesBucket))
		}
		start := make([]byte, revLen)
		putRev(start, max(after, 0)+1)

		// Pass 1: the entries, their kinds and keys. Keys go into one
		// buffer that becomes one string, sliced per record.
		var (
			live   []int32 // positions in out of live records, to read in pass 2
			keyBuf []byte
			ends   []int // end of each change's key in keyBuf
			kinds  kindCache
		)
		if n := s.sizeHint(tx, after, limit); n > 0 {
			out, live, ends = make([]delivery.Change, 0, n), make([]int32, 0, n), make([]int, 0, n)
			keyBuf = make([]byte, 0, 24*n)
		}
		c := cb.Cursor()
		for k, v := c.Seek(start); k != nil; k, v = c.Next() {
			rev, kind, key, err := decodeChangeKey(k)
			if err != nil {
				return corrupt(op, s.path, "", err)
			}
			if limit > 0 && len(out) >= limit && rev != out[len(out)-1].Record.Revision {
				break
			}
			if len(out)&4095 == 4095 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("%s: %w", op, err)
				}
			}
			ch := delivery.Change{Record: delivery.Record{Kind: kinds.get(kind), Revision: rev}}
			switch {
			case len(v) == 1 && v[0] == tombValue:
				ch.Deleted = true
			case len(v) == 0:
				live = append(live, int32(len(out)))
			default:
				return corrupt(op, s.path, ch.Record.Kind+"/"+string(key), fmt.Errorf("%w: change entry value %x", ErrCorrupt, v))
			}
			keyBuf = append(keyBuf, key...)
			ends = append(ends, len(keyBuf))
			out = append(out, ch)
		}
		keys := string(keyBuf)
		for i := range out {
			begin := 0
			if i > 0 {
				begin = ends[i-1]
			}
			out[i].Record.Key = keys[begin:ends[i]]
		}

		// Pass 2: the records, in kind and key order.
		slices.SortFunc(live, func(a, b int32) int {
			ra, rb := &out[a].Record, &out[b].Record
			if ra.Kind != rb.Kind {
				return strings.Compare(ra.Kind, rb.Kind)
			}
			return strings.Compare(ra.Key, rb.Key)
		})
		var (
			seek seeker
			data arena
		)
		for i, pos := range live {
			if i&4095 == 4095 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("%s: %w", op, err)
				}
			}
			rec := &out[pos].Record
			if i == 0 || rec.Kind != out[live[i-1]].Record.Kind {
				seek = seeker{}
				if b := kindBucket(tx, recordsBucket, rec.Kind); b != nil {
					seek.c = b.Cursor()
				}
			}
			v := seek.find([]byte(rec.Key))
			if v == nil {
				return corrupt(op, s.path, rec.Kind+"/"+rec.Key,
					fmt.Errorf("%w: change entry at revision %d for a record that does not exist", ErrCorrupt, rec.Revision))
			}
			d, err := decodeValue(v)
			if err == nil && d.rev != rec.Revision {
				err = fmt.Errorf("%w: change entry at revision %d for a record at revision %d", ErrCorrupt, rec.Revision, d.rev)
			}
			if err != nil {
				return corrupt(op, s.path, rec.Kind+"/"+rec.Key, err)
			}
			rec.Index, rec.Data = indexMap(d.index), data.clone(d.data)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sizeHint guesses how many changes Changes(after, limit) returns, from
// the count of change entries kept in the meta bucket: exact for a whole
// store read from the start, an upper bound otherwise (0 when unknown).
func (s *Store) sizeHint(tx *bolt.Tx, after int64, limit int) int {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		return 0
	}
	v := meta.Get(entriesKey)
	if len(v) != revLen {
		return 0
	}
	n := int(min(binary.BigEndian.Uint64(v), 1<<26))
	switch {
	case limit > 0:
		return min(n, limit+limit/8)
	case after <= 0:
		return n
	}
	return 0 // a catch-up read: usually small, let it grow
}

// seeker looks keys up in a bucket with one cursor. When keys are asked for
// in increasing order and lie close together, as when Changes reads a
// whole kind, it steps the cursor forward instead of searching from the
// root. Any order gives correct answers.
type seeker struct {
	c *bolt.Cursor // nil: the bucket does not exist
	k []byte       // the cursor's key; nil before the first search or at the end
}

// seekSteps is how far find steps before it searches instead.
const seekSteps = 4

// find returns the value at key, or nil if the key is absent.
func (s *seeker) find(key []byte) []byte {
	if s.c == nil {
		return nil
	}
	if s.k != nil && bytes.Compare(key, s.k) > 0 {
		for range seekSteps {
			k, v := s.c.Next()
			s.k = k
			if k == nil {
				break
			}
			switch c := bytes.Compare(k, key); {
			case c == 0:
				return v
			case c > 0:
				return nil
			}
		}
	}
	k, v := s.c.Seek(key)
	s.k = k
	if k == nil || !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// arena copies byte slices into shared chunks, so that copying out a
// million small records costs a few thousand allocations. Each copy is
// capped at its own length, so appending to it reallocates instead of
// overwriting its neighbour.
type arena struct {
	buf []byte
}

const arenaChunk = 64 << 10

// clone returns a copy of b (nil for an empty b).
func (a *arena) clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > arenaChunk/8 {
		return bytes.Clone(b)
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}
