package memstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// Store is an in-memory delivery.Store and delivery.BulkWriter. Create one
// with New; the zero value is not usable.
type Store struct {
	mu      sync.RWMutex
	closed  bool
	rev     int64             // the last revision taken
	tables  map[string]*table // by kind
	changes *ordered[*entry]  // every live record and tombstone, by revision
}

var (
	_ delivery.Store      = (*Store)(nil)
	_ delivery.BulkWriter = (*Store)(nil)
)

// entry is one record as stored, or its tombstone. It never changes once
// stored; the next write of the record replaces it.
type entry struct {
	kind, key string
	rev       int64
	deleted   bool
	index     map[string]string // nil for tombstones
	data      []byte            // nil for tombstones
}

// byRevision orders the change index. Within one revision the order is by
// kind and key only so that every entry has a distinct place.
func byRevision(a, b *entry) int {
	return cmp.Or(cmp.Compare(a.rev, b.rev), strings.Compare(a.kind, b.kind), strings.Compare(a.key, b.key))
}

// record returns a copy of e that shares nothing with it.
func (e *entry) record() delivery.Record {
	return delivery.Record{Kind: e.kind, Key: e.key, Revision: e.rev, Index: maps.Clone(e.index), Data: bytes.Clone(e.data)}
}

// table holds the records of one kind.
type table struct {
	recs  map[string]*entry                      // live records and tombstones, by key
	keys  *ordered[string]                       // live keys
	index map[string]map[string]*ordered[string] // index field → value → live keys
}

// New returns an empty Store.
func New() *Store {
	return &Store{tables: map[string]*table{}, changes: newOrdered(byRevision)}
}

// Get returns the record, or an error matching consign.ErrNotFound.
func (s *Store) Get(ctx context.Context, kind, key string) (delivery.Record, error) {
	const op = "memstore.Get"
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(ctx, op); err != nil {
		return delivery.Record{}, err
	}
	if t := s.tables[kind]; t != nil {
		if e := t.recs[key]; e != nil && !e.deleted {
			return e.record(), nil
		}
	}
	return delivery.Record{}, &consign.Error{Code: consign.ErrNotFound, Op: op, Key: kind + "/" + key}
}

// List returns the records of kind matching q in ascending key order, and
// the key to pass as q.After for the next page ("" when there is none). A
// record matches q.IndexName only if its Index has that field: a missing
// field does not match an empty q.IndexValue.
func (s *Store) List(ctx context.Context, kind string, q delivery.Query) ([]delivery.Record, string, error) {
	const op = "memstore.List"
	if q.Limit < 0 {
		return nil, "", &consign.Error{Code: consign.ErrInvalid, Op: op,
			Err: &consign.ValidationError{Field: "Query.Limit", Value: q.Limit, Rule: "0 (no limit) or more"}}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(ctx, op); err != nil {
		return nil, "", err
	}
	t := s.tables[kind]
	if t == nil {
		return nil, "", nil
	}
	keys := t.keys
	if q.IndexName != "" {
		if keys = t.index[q.IndexName][q.IndexValue]; keys == nil {
			return nil, "", nil
		}
	}
	var recs []delivery.Record
	for key := range keys.from(func(k string) bool { return k > q.After }) {
		if q.Limit > 0 && len(recs) == q.Limit { // and there is at least one more
			return recs, recs[len(recs)-1].Key, nil
		}
		recs = append(recs, t.recs[key].record())
	}
	return recs, "", nil
}

// Apply performs every write or none (see delivery.Store). Invalid writes
// (empty Kind or Key, an unknown Op, an Expect below AnyRevision, a Kind and
// Key named twice) give an error matching consign.ErrInvalid that wraps a
// *consign.ValidationError per problem, its Field naming the write, e.g.
// "writes[2].Record.Key".
func (s *Store) Apply(ctx context.Context, writes []delivery.Write) (int64, error) {
	const op = "memstore.Apply"
	var p consign.Problems
	delivery.CheckWrites(&p, writes)
	entries := make([]*entry, len(writes))
	for i, w := range writes {
		entries[i] = newEntry(w.Record, w.Op == delivery.Delete)
	}
	if err := p.Err(); err != nil {
		return 0, &consign.Error{Code: consign.ErrInvalid, Op: op, Err: err}
	}
	return s.commit(ctx, op, writes, entries)
}

// PutBatch stores every record unconditionally, all under one new revision,
// which it returns. Its validation matches Apply's, with fields such as
// "records[3].Key".
func (s *Store) PutBatch(ctx context.Context, records []delivery.Record) (int64, error) {
	const op = "memstore.PutBatch"
	var p consign.Problems
	delivery.CheckRecords(&p, records)
	entries := make([]*entry, len(records))
	for i, r := range records {
		entries[i] = newEntry(r, false)
	}
	if err := p.Err(); err != nil {
		return 0, &consign.Error{Code: consign.ErrInvalid, Op: op, Err: err}
	}
	return s.commit(ctx, op, nil, entries)
}

// Changes returns, in increasing revision order, the latest state of every
// record last written with a revision greater than after, tombstones
// included. limit (0 = no limit) is rounded up to the end of a revision: a
// page never ends inside one, so the last Revision returned is a safe after
// for the next page.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]delivery.Change, error) {
	const op = "memstore.Changes"
	if limit < 0 {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op,
			Err: &consign.ValidationError{Field: "limit", Value: limit, Rule: "0 (no limit) or more"}}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(ctx, op); err != nil {
		return nil, err
	}
	var out []delivery.Change
	for e := range s.changes.from(func(e *entry) bool { return e.rev > after }) {
		if limit > 0 && len(out) >= limit && e.rev != out[len(out)-1].Record.Revision {
			break
		}
		out = append(out, delivery.Change{Record: e.record(), Deleted: e.deleted})
	}
	return out, nil
}

// Close releases the store's memory. Later calls, except Close, return an
// error matching consign.ErrUnavailable; Close itself always returns nil so
// that deferred and cleanup Closes can run in any order.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.tables, s.changes = nil, nil
	return nil
}

// usable returns why op cannot run now, if it cannot. The caller holds mu,
// so a context cancelled while waiting for it is seen too.
func (s *Store) usable(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if s.closed {
		return consign.Errorf(consign.ErrUnavailable, op, "", "store is closed")
	}
	return nil
}

// newEntry copies r into a new entry (revision not yet set), or makes a
// tombstone for it.
func newEntry(r delivery.Record, deleted bool) *entry {
	e := &entry{kind: r.Kind, key: r.Key, deleted: deleted}
	if !deleted {
		if len(r.Index) > 0 {
			e.index = maps.Clone(r.Index)
		}
		e.data = bytes.Clone(r.Data)
	}
	return e
}

// commit checks every write's Expect against the current state and, if all
// hold, stores entries under the next revision.
func (s *Store) commit(ctx context.Context, op string, writes []delivery.Write, entries []*entry) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(ctx, op); err != nil {
		return 0, err
	}
	for i, w := range writes {
		if cur := s.revision(w.Record.Kind, w.Record.Key); w.Expect != delivery.AnyRevision && w.Expect != cur {
			return 0, consign.Errorf(consign.ErrConflict, op, w.Record.Kind+"/"+w.Record.Key,
				"writes[%d] expects revision %d, found %d", i, w.Expect, cur)
		}
	}
	s.rev++
	for _, e := range entries {
		e.rev = s.rev
		s.write(e)
	}
	return s.rev, nil
}

// revision returns the revision of the live record, or 0 if there is none.
func (s *Store) revision(kind, key string) int64 {
	if t := s.tables[kind]; t != nil {
		if e := t.recs[key]; e != nil && !e.deleted {
			return e.rev
		}
	}
	return 0
}

// write stores e in place of the record's previous state. A tombstone for a
// record that is not live changes nothing.
func (s *Store) write(e *entry) {
	t := s.tables[e.kind]
	if t == nil {
		if e.deleted {
			return
		}
		t = &table{recs: map[string]*entry{}, keys: newOrdered(strings.Compare), index: map[string]map[string]*ordered[string]{}}
		s.tables[e.kind] = t
	}
	old := t.recs[e.key]
	wasLive := old != nil && !old.deleted
	if e.deleted && !wasLive {
		return
	}
	if old != nil {
		s.changes.remove(old)
	}
	t.recs[e.key] = e
	s.changes.insert(e)

	var before map[string]string
	switch {
	case wasLive:
		before = old.index
		if e.deleted {
			t.keys.remove(e.key)
		}
	default:
		t.keys.insert(e.key)
	}
	// Touch only the index entries that change, so that rewriting a record
	// with the same index fields costs no index work.
	for name, v := range before {
		if nv, ok := e.index[name]; !ok || nv != v {
			t.unindex(name, v, e.key)
		}
	}
	for name, v := range e.index {
		if ov, ok := before[name]; !ok || ov != v {
			t.indexKey(name, v, e.key)
		}
	}
}

// indexKey adds key to the set of live keys whose field name holds v.
func (t *table) indexKey(name, v, key string) {
	values := t.index[name]
	if values == nil {
		values = map[string]*ordered[string]{}
		t.index[name] = values
	}
	keys := values[v]
	if keys == nil {
		keys = newOrdered(strings.Compare)
		values[v] = keys
	}
	keys.insert(key)
}

// unindex removes key from the set of live keys whose field name holds v,
// dropping sets that become empty.
func (t *table) unindex(name, v, key string) {
	keys := t.index[name][v]
	if keys == nil {
		return
	}
	keys.remove(key)
	if keys.empty() {
		delete(t.index[name], v)
		if len(t.index[name]) == 0 {
			delete(t.index, name)
		}
	}
}
