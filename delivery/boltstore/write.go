package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// Apply performs every write or none (see delivery.Store), in one bbolt
// transaction: it checks every Expect, then writes, and returns the new
// revision. Invalid writes (empty Kind or Key, an unknown Op, an Expect
// below AnyRevision, a Kind and Key named twice, keys or data too large for
// bbolt: see MaxKeyBytes and MaxDataBytes) give an error matching
// consign.ErrInvalid that wraps a *consign.ValidationError per problem, its
// Field naming the write, e.g. "writes[2].Record.Key". Its cost is linear in
// the number of writes; concurrent calls share commits (see the package
// comment).
func (s *Store) Apply(ctx context.Context, writes []delivery.Write) (int64, error) {
	const op = "boltstore.Apply"
	if err := s.usable(ctx, op); err != nil {
		return 0, err
	}
	var p consign.Problems
	delivery.CheckWrites(&p, writes)
	size := 0
	for i, w := range writes {
		checkLimits(&p, "writes", ".Record", i, w.Record, w.Op == delivery.Put)
		size += encodedSize(w.Record, w.Op == delivery.Put)
	}
	if err := p.Err(); err != nil {
		return 0, &consign.Error{Code: consign.ErrInvalid, Op: op, Err: err}
	}
	r := newRequest(ctx, op, len(writes), size)
	for _, w := range writes {
		r.add(w.Record, w.Op == delivery.Delete, w.Expect)
	}
	return s.w.do(r)
}

// PutBatch stores every record unconditionally, all under one new revision,
// which it returns; it is Apply with every write a Put expecting
// AnyRevision, with the same validation (fields such as
// "records[3].Key") and cost.
func (s *Store) PutBatch(ctx context.Context, records []delivery.Record) (int64, error) {
	const op = "boltstore.PutBatch"
	if err := s.usable(ctx, op); err != nil {
		return 0, err
	}
	var p consign.Problems
	delivery.CheckRecords(&p, records)
	size := 0
	for i, rec := range records {
		checkLimits(&p, "records", "", i, rec, true)
		size += encodedSize(rec, true)
	}
	if err := p.Err(); err != nil {
		return 0, &consign.Error{Code: consign.ErrInvalid, Op: op, Err: err}
	}
	r := newRequest(ctx, op, len(records), size)
	for _, rec := range records {
		r.add(rec, false, delivery.AnyRevision)
	}
	return s.w.do(r)
}

// checkLimits adds a problem for keys, index entries and data of the i-th
// element of the call's list that bbolt cannot hold (delivery.CheckWrites
// checks the rest).
func checkLimits(p *consign.Problems, list, field string, i int, r delivery.Record, put bool) {
	path := func(name string) string { return fmt.Sprintf("%s[%d]%s.%s", list, i, field, name) }
	if len(r.Kind)+len(r.Key) > MaxKeyBytes {
		p.AddValue(path("Key"), fmt.Sprintf("%d bytes", len(r.Key)), fmt.Sprintf("with Kind, at most %d bytes", MaxKeyBytes))
	}
	if !put {
		return
	}
	for name, v := range r.Index {
		if len(name)+len(v)+len(r.Key) > MaxKeyBytes {
			p.AddValue(path("Index["+name+"]"), fmt.Sprintf("%d bytes", len(v)), fmt.Sprintf("with the field name and Key, at most %d bytes", MaxKeyBytes))
		}
	}
	if len(r.Data) > MaxDataBytes {
		p.AddValue(path("Data"), fmt.Sprintf("%d bytes", len(r.Data)), fmt.Sprintf("at most %d bytes", MaxDataBytes))
	}
}

// encodedSize is how many bytes of a request's arena the record needs:
// its kind and key, its change entry's key, and for a Put its value and its
// index entries' keys (for a Delete, its tombstone).
func encodedSize(r delivery.Record, put bool) int {
	kk := len(r.Kind) + len(r.Key)
	n := kk + revLen + uvarintLen(len(r.Kind)) + kk
	if !put {
		return n + revLen
	}
	n += revLen + indexLen(r.Index) + len(r.Data)
	for name, v := range r.Index {
		n += stringLen(name) + stringLen(v) + len(r.Key)
	}
	return n
}

// request is one Apply or PutBatch on its way to a commit.
type request struct {
	ctx    context.Context
	op     string
	writes []pending
	arena  []byte // kinds, keys and values of writes, carved without overlap
	// set by the writer
	rev  int64
	err  error
	done bool
}

// pending is one write of a request, encoded.
type pending struct {
	del        bool
	expect     int64
	kind, key  []byte // in the arena
	val        []byte // in the arena: the encoded value (Puts), revision filled at commit
	index      []byte // val's index part
	kindS      string // for messages
	keyS       string
	old        value // the record's current state, found by the check
	checkedRev int64 // old.rev (0 when not live)
}

func newRequest(ctx context.Context, op string, n, size int) *request {
	return &request{ctx: ctx, op: op, writes: make([]pending, 0, n), arena: make([]byte, 0, size)}
}

// order returns the positions of r's writes in kind and key order, the
// order in which they are written: successive writes then go to the same
// or neighbouring pages, which are still in the processor's caches. A
// request already in order (the common case) costs one pass to check.
func (r *request) order() []int32 {
	less := func(a, b *pending) int {
		return cmp.Or(bytes.Compare(a.kind, b.kind), bytes.Compare(a.key, b.key))
	}
	order := make([]int32, len(r.writes))
	sorted := true
	for i := range order {
		order[i] = int32(i)
		if i > 0 && sorted && less(&r.writes[i-1], &r.writes[i]) > 0 {
			sorted = false
		}
	}
	if !sorted {
		slices.SortFunc(order, func(a, b int32) int { return less(&r.writes[a], &r.writes[b]) })
	}
	return order
}

// carve appends what fill appends to the arena and returns it, capped so
// that later appends cannot overwrite it.
func (r *request) carve(fill func([]byte) []byte) []byte {
	start := len(r.arena)
	r.arena = fill(r.arena)
	return r.arena[start:len(r.arena):len(r.arena)]
}

// add encodes one write into the request; it copies Index and Data.
func (r *request) add(rec delivery.Record, del bool, expect int64) {
	w := pending{del: del, expect: expect, kindS: rec.Kind, keyS: rec.Key}
	w.kind = r.carve(func(b []byte) []byte { return append(b, rec.Kind...) })
	w.key = r.carve(func(b []byte) []byte { return append(b, rec.Key...) })
	if !del {
		names := indexNames(rec.Index)
		w.val = r.carve(func(b []byte) []byte { return appendValue(b, 0, names, rec.Index, rec.Data) })
		w.index = w.val[revLen : len(w.val)-len(rec.Data)]
	}
	r.writes = append(r.writes, w)
}

// writer commits requests. Requests that arrive while a commit is running
// queue up; the first of them then commits all that have queued (up to
// groupWrites writes) in one transaction, each under its own revision, so
// that concurrent callers share one pair of fsyncs. A request whose Expect
// fails is checked before it writes anything, so it fails alone and the
// others in its transaction commit; a request that fails after it began
// writing (its context cancelled during a long write) aborts the
// transaction, which is then run again without it.
type writer struct {
	db    *bolt.DB
	path  string
	mu    sync.Mutex
	cond  *sync.Cond
	queue []*request
}

// groupWrites bounds the writes committed together (a single request is
// never split, however large).
const groupWrites = 16 << 10

func newWriter(db *bolt.DB, path string) *writer {
	w := &writer{db: db, path: path}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// do queues r, commits it (and whatever queued behind it) when it reaches
// the front, and returns its revision or error.
func (w *writer) do(r *request) (int64, error) {
	w.mu.Lock()
	w.queue = append(w.queue, r)
	for !r.done && w.queue[0] != r {
		w.cond.Wait()
	}
	if r.done {
		w.mu.Unlock()
		return r.rev, r.err
	}
	n, total := 1, len(r.writes)
	for n < len(w.queue) && total+len(w.queue[n].writes) <= groupWrites {
		total += len(w.queue[n].writes)
		n++
	}
	group := w.queue[:n:n]
	w.mu.Unlock()

	w.commit(group)

	w.mu.Lock()
	for _, g := range group {
		g.done = true
	}
	w.queue = append([]*request(nil), w.queue[n:]...)
	w.cond.Broadcast()
	w.mu.Unlock()
	return r.rev, r.err
}

// errAbort aborts a group's transaction so that it can run again without
// the request that failed while writing.
var errAbort = errors.New("abort")

// errNothing rolls back a transaction in which no request wrote anything.
var errNothing = errors.New("nothing to commit")

// commit runs the group in one transaction, as many times as it takes for
// the requests that can commit to commit. Every request leaves with a
// revision or an error.
func (w *writer) commit(group []*request) {
	for {
		var abort *request
		var abortErr error
		var todo []*request
		for _, r := range group {
			if r.err == nil {
				r.rev = 0
				todo = append(todo, r)
			}
		}
		if len(todo) == 0 {
			return
		}
		err := w.db.Update(func(tx *bolt.Tx) error {
			t, err := w.begin(tx)
			if err != nil {
				return err
			}
			wrote := false
			for _, r := range todo {
				if err := r.ctx.Err(); err != nil {
					r.rev, r.err = 0, fmt.Errorf("%s: %w", r.op, err)
					continue
				}
				if err := t.check(r); err != nil {
					r.err = err // the request wrote nothing yet
					continue
				}
				t.rev++
				if err := t.write(r, t.rev); err != nil {
					abort, abortErr = r, err
					return errAbort
				}
				r.rev, wrote = t.rev, true
			}
			if !wrote {
				return errNothing // every request failed its check: no commit needed
			}
			// Cancelled while the others wrote: roll back and go again
			// without it.
			for _, r := range todo {
				if r.rev != 0 && r.ctx.Err() != nil {
					abort, abortErr = r, fmt.Errorf("%s: %w", r.op, r.ctx.Err())
					return errAbort
				}
			}
			return t.finish()
		})
		switch {
		case errors.Is(err, errNothing):
		case abort != nil:
			// The verdicts of this run were reached after writes that were
			// rolled back; only the aborted request keeps its error.
			for _, r := range todo {
				r.rev, r.err = 0, nil
			}
			abort.err = abortErr
			continue
		case err != nil:
			for _, r := range todo {
				if r.rev != 0 || r.err == nil || isConflict(r.err) {
					r.rev, r.err = 0, w.failed(r.op, err)
				}
			}
		}
		return
	}
}

// isConflict reports whether err is a failed Expect, a verdict that a
// transaction which did not commit cannot give.
func isConflict(err error) bool { return errors.Is(err, consign.ErrConflict) }

// failed maps the error of a transaction that did not commit.
func (w *writer) failed(op string, err error) error {
	var ce *consign.Error
	if errors.As(err, &ce) {
		return err
	}
	return &consign.Error{Code: consign.ErrUnavailable, Op: op, Err: fmt.Errorf("file %s: nothing was written: %w", w.path, err)}
}

// txn is one write transaction's state.
type txn struct {
	w                             *writer
	tx                            *bolt.Tx
	meta, recs, index, tombs, chg *bolt.Bucket
	rev                           int64 // the last revision taken
	entries                       int64 // change entries added less those removed
	scratch                       []byte
	// The buckets of the kind written last (nil until needed).
	kind                []byte
	kRecs, kIdx, kTombs *bolt.Bucket
	// Whether each records and index bucket written in this transaction
	// has only been appended to.
	appends map[*bolt.Bucket]*appender
}

// appender follows the keys put in one bucket during a transaction. When
// every one of them lands after the bucket's last key (records of new
// devices in key order, their index entries, …), the bucket is packed
// fuller when it is written, instead of bbolt's default of half-full pages
// that leave room for inserts in between: a sequential load then writes
// about half the pages.
type appender struct {
	last []byte
	only bool
}

// appendFill is the fill of pages of buckets only appended to.
const appendFill = 0.9

// put notes that key is put in b.
func (t *txn) noteput(b *bolt.Bucket, key []byte) {
	a := t.appends[b]
	if a == nil {
		if t.appends == nil {
			t.appends = map[*bolt.Bucket]*appender{}
		}
		last, _ := b.Cursor().Last()
		a = &appender{last: last, only: true}
		t.appends[b] = a
	}
	if a.only && bytes.Compare(key, a.last) > 0 {
		a.last = key
		return
	}
	a.only = false
}

func (w *writer) begin(tx *bolt.Tx) (*txn, error) {
	t := &txn{w: w, tx: tx, meta: tx.Bucket(metaBucket), recs: tx.Bucket(recordsBucket), index: tx.Bucket(indexBucket),
		tombs: tx.Bucket(tombsBucket), chg: tx.Bucket(changesBucket)}
	if t.meta == nil || t.recs == nil || t.index == nil || t.tombs == nil || t.chg == nil {
		return nil, corrupt("boltstore.Apply", w.path, "", fmt.Errorf("%w: a bucket is missing", ErrCorrupt))
	}
	var err error
	if t.rev, err = readRevision(t.meta); err != nil {
		return nil, corrupt("boltstore.Apply", w.path, "", err)
	}
	// Change entries are appended at the end of the revision order: full
	// pages waste no space there.
	t.chg.FillPercent = 1
	return t, nil
}

// finish stores the revision counter.
func (t *txn) finish() error {
	for b, a := range t.appends {
		if a.only {
			b.FillPercent = appendFill
		}
	}
	v := make([]byte, 2*revLen)
	putRev(v, t.rev)
	if err := t.meta.Put(revisionKey, v[:revLen:revLen]); err != nil {
		return err
	}
	if t.entries == 0 {
		return nil
	}
	// The count only sizes Changes' buffers: a damaged one is replaced.
	var n int64
	if old := t.meta.Get(entriesKey); len(old) == revLen {
		n = int64(binary.BigEndian.Uint64(old))
	}
	putRev(v[revLen:], max(n+t.entries, 0))
	return t.meta.Put(entriesKey, v[revLen:])
}

// useKind points the kind buckets at kind.
func (t *txn) useKind(kind []byte) {
	if t.kind != nil && bytes.Equal(t.kind, kind) {
		return
	}
	t.kind = kind
	t.kRecs, t.kIdx, t.kTombs = t.recs.Bucket(kind), t.index.Bucket(kind), t.tombs.Bucket(kind)
}

// check finds every write's current record and checks its Expect. It
// writes nothing.
func (t *txn) check(r *request) error {
	for i := range r.writes {
		p := &r.writes[i]
		t.useKind(p.kind)
		p.old = value{}
		if t.kRecs != nil {
			if v := t.kRecs.Get(p.key); v != nil {
				d, err := decodeValue(v)
				if err != nil {
					return corrupt(r.op, t.w.path, p.kindS+"/"+p.keyS, err)
				}
				p.old = d
			}
		}
		if p.expect != delivery.AnyRevision && p.expect != p.old.rev {
			return consign.Errorf(consign.ErrConflict, r.op, p.kindS+"/"+p.keyS,
				"writes[%d] expects revision %d, found %d", i, p.expect, p.old.rev)
		}
	}
	return nil
}

// write performs the request's writes under revision rev. The context is
// checked as it goes, so that a cancelled long write stops early.
func (t *txn) write(r *request, rev int64) error {
	order := r.order()
	for i, j := range order {
		if i&1023 == 1023 {
			if err := r.ctx.Err(); err != nil {
				return fmt.Errorf("%s: %w", r.op, err)
			}
		}
		p := &r.writes[j]
		t.useKind(p.kind)
		var err error
		if p.del {
			err = t.remove(r, p, rev)
		} else {
			err = t.put(r, p, rev)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// put writes one record.
func (t *txn) put(r *request, p *pending, rev int64) error {
	var err error
	if t.kRecs == nil {
		if t.kRecs, err = t.recs.CreateBucket(p.kind); err != nil {
			return err
		}
	}
	if p.old.rev != 0 {
		if err := t.deleteChange(p.old.rev, p); err != nil {
			return err
		}
		if !bytes.Equal(p.old.index, p.index) {
			if err := t.reindex(r, p, p.old.index, p.index); err != nil {
				return err
			}
		}
	} else {
		if err := t.dropTombstone(r, p); err != nil {
			return err
		}
		if err := t.reindex(r, p, nil, p.index); err != nil {
			return err
		}
	}
	putRev(p.val, rev)
	if p.old.rev == 0 {
		t.noteput(t.kRecs, p.key)
	}
	if err := t.kRecs.Put(p.key, p.val); err != nil {
		return err
	}
	return t.putChange(r, rev, p, liveMark)
}

// remove deletes one record, leaving a tombstone; an absent record is left
// alone.
func (t *txn) remove(r *request, p *pending, rev int64) error {
	if p.old.rev == 0 {
		return nil
	}
	if err := t.deleteChange(p.old.rev, p); err != nil {
		return err
	}
	if err := t.reindex(r, p, p.old.index, nil); err != nil {
		return err
	}
	if err := t.kRecs.Delete(p.key); err != nil {
		return err
	}
	var err error
	if t.kTombs == nil {
		if t.kTombs, err = t.tombs.CreateBucket(p.kind); err != nil {
			return err
		}
	}
	tomb := r.carve(func(b []byte) []byte {
		b = append(b, make([]byte, revLen)...)
		putRev(b[len(b)-revLen:], rev)
		return b
	})
	if err := t.kTombs.Put(p.key, tomb); err != nil {
		return err
	}
	return t.putChange(r, rev, p, tombMark)
}

// dropTombstone removes the tombstone of a record about to be written
// again, and its change entry.
func (t *txn) dropTombstone(r *request, p *pending) error {
	if t.kTombs == nil {
		return nil
	}
	v := t.kTombs.Get(p.key)
	if v == nil {
		return nil
	}
	trev, ok := getRev(v)
	if !ok || len(v) != revLen {
		return corrupt(r.op, t.w.path, p.kindS+"/"+p.keyS, fmt.Errorf("%w: tombstone %x", ErrCorrupt, v))
	}
	if err := t.deleteChange(trev, p); err != nil {
		return err
	}
	return t.kTombs.Delete(p.key)
}

// reindex replaces the record's index entries for the fields of before
// with those of after (raw index parts; nil for none), touching only the
// fields that differ.
func (t *txn) reindex(r *request, p *pending, before, after []byte) error {
	var err error
	if len(before) > 0 {
		eachIndex(before, func(name, v []byte) {
			if err == nil && (after == nil || !sameIndexField(after, name, v)) {
				if t.kIdx != nil {
					t.scratch = append(indexPrefixBytes(t.scratch[:0], name, v), p.key...)
					err = t.kIdx.Delete(t.scratch)
				}
			}
		})
	}
	if err != nil || len(after) == 0 {
		return err
	}
	eachIndex(after, func(name, v []byte) {
		if err != nil || (before != nil && sameIndexField(before, name, v)) {
			return
		}
		if t.kIdx == nil {
			if t.kIdx, err = t.index.CreateBucket(p.kind); err != nil {
				return
			}
		}
		k := r.carve(func(b []byte) []byte { return append(indexPrefixBytes(b, name, v), p.key...) })
		t.noteput(t.kIdx, k)
		err = t.kIdx.Put(k, liveMark)
	})
	return err
}

// deleteChange removes the change entry of p at rev.
func (t *txn) deleteChange(rev int64, p *pending) error {
	t.scratch = changeKey(t.scratch[:0], rev, p.kind, p.key) // Delete does not keep the key
	t.entries--
	return t.chg.Delete(t.scratch)
}

// putChange adds the change entry of p at rev, live or a tombstone.
func (t *txn) putChange(r *request, rev int64, p *pending, mark []byte) error {
	t.entries++
	return t.chg.Put(r.carve(func(b []byte) []byte { return changeKey(b, rev, p.kind, p.key) }), mark)
}
