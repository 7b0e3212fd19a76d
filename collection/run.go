package collection

import (
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consign/consign/collection/wql"
)

// SetParallel lets the Engine spread its long evaluations (EvaluateAll,
// Evaluate, PutCollections, LoadCollections, PutEncodedDevices) over up to
// workers goroutines of the caller's: run must call work(i) once for every
// i in [0, n) and return when all have returned, and may run the calls
// concurrently (with a sync.WaitGroup or an errgroup.Group). The package
// itself starts no goroutines, as a domain package. The parts share nothing
// they write, and the result is the same as without: with workers ≤ 1 or a
// nil run, everything runs on the calling goroutine, as it does by default.
// An evaluation of a single device never spreads.
//
// The Engine is still not safe for concurrent use: the calls of run all end
// before the Engine's method returns.
func (e *Engine) SetParallel(workers int, run func(n int, work func(i int))) {
	if workers <= 1 || run == nil {
		e.par, e.nwork = nil, 1
		return
	}
	e.par, e.nwork = run, workers
}

// parallel runs work(0..n-1) through e.par when set and n > 1, else in
// order on this goroutine.
func (e *Engine) parallel(n int, work func(i int)) {
	if e.par == nil || n <= 1 {
		for i := range n {
			work(i)
		}
		return
	}
	e.par(n, work)
}

// dirtyWord is one bitmap word of device slots to evaluate: the slots
// w*64+i for each bit i of bits.
type dirtyWord struct {
	w    int
	bits uint64
}

// evalWorker is the scratch of one goroutine of a run.
type evalWorker struct {
	block   [64]resource // the devices of the word being evaluated
	changed []uint64     // by collection num: the bits of the current word that changed
	qs      []queryState // by query.idx
	changes []Change
	sink    byte // see touch

	// The collection nums each device of the word joined, added to e.of
	// at the end of the word in one allocation (cut from ofSlab) instead
	// of one insertion each.
	joined [64][]int32
	ofSlab []int32
}

// queryState is what a worker knows of one query in the word it evaluates:
// the devices it has tested and those that matched, so that rules sharing
// the query test a device once.
type queryState struct {
	w               int
	tested, matched uint64
}

// runState is one run, shared by its workers: read-only but for the lazy
// preparation of its queries and the claim on the next chunk of words.
type runState struct {
	e                 *Engine
	now               time.Time
	order             []*entry
	isFull, isTouched []bool
	dirty             []dirtyWord // sorted by word
	words             int         // len(e.live) when some collection runs in full, else len(dirty)
	allWords          bool
	delta             bool
	nq                int

	mu    sync.Mutex
	preps []atomic.Pointer[wql.Prepared] // by query.idx
	next  atomic.Int64                   // the next chunk to claim
}

// chunkWords is how many bitmap words a worker claims at a time.
const chunkWords = 32

// run re-evaluates memberships at now (the zero time: at each query's last
// evaluation time): every device of the collections in full, the devices
// in dirty of the collections in touched, and, in limiting order, every
// device whose membership changed in a collection another one's rule limits
// to. The Delta lists the changes when delta is set.
//
// Words of 64 device slots are independent (a word's collections run in
// limiting order within it), so a run over many words is split into
// chunks of words that SetParallel's goroutines claim in turn.
func (e *Engine) run(now time.Time, full, touched []*entry, dirty []dirtyWord, delta bool) Delta {
	isFull := make([]bool, len(e.entries))
	isTouched := make([]bool, len(e.entries))
	for _, x := range full {
		isFull[x.num] = true
		for _, r := range x.rules {
			r.prep = nil // a full evaluation re-runs the query
		}
	}
	for _, x := range touched {
		isTouched[x.num] = true
	}
	// Only these collections, and those limited by them, can change. A run
	// without devices (dirty == nil) is given every collection limited by
	// those in full, in limiting order.
	order := full
	if dirty != nil {
		order = nil
		active := make([]bool, len(e.entries))
		for _, x := range e.order {
			active[x.num] = isFull[x.num] || isTouched[x.num] || slices.ContainsFunc(x.limits, func(l *entry) bool { return active[l.num] })
			if active[x.num] {
				order = append(order, x)
			}
		}
	}
	rs := &runState{e: e, now: now, order: order, isFull: isFull, isTouched: isTouched, dirty: dirty, delta: delta}
	switch {
	case len(full) > 0:
		rs.words, rs.allWords = len(e.live), true
	case len(dirty) > 0:
		rs.words = len(dirty)
	default:
		return Delta{}
	}
	for _, x := range order {
		for _, r := range x.rules {
			r.idx = -1
		}
	}
	for _, x := range order {
		for _, r := range x.rules {
			if r.idx < 0 {
				r.idx = rs.nq
				rs.nq++
			}
		}
	}
	rs.preps = make([]atomic.Pointer[wql.Prepared], rs.nq)

	chunks := (rs.words + e.chunk - 1) / e.chunk
	n := max(1, min(e.nwork, chunks))
	if e.par == nil {
		n = 1
	}
	for len(e.workers) < n {
		wk := &evalWorker{}
		for i := range wk.block {
			wk.block[i].need = e.need
		}
		e.workers = append(e.workers, wk)
	}
	for _, wk := range e.workers[:n] {
		if len(wk.changed) < len(e.entries) {
			wk.changed = make([]uint64, len(e.entries))
		}
		if cap(wk.qs) < rs.nq {
			wk.qs = make([]queryState, rs.nq)
		}
		wk.qs = wk.qs[:rs.nq]
		for i := range wk.qs {
			wk.qs[i].w = -1
		}
		wk.changes = wk.changes[:0]
	}
	if n > 1 {
		// Workers set members words in place: no bitmap may grow meanwhile.
		last := rs.words - 1
		if !rs.allWords {
			last = dirty[len(dirty)-1].w
		}
		for _, x := range order {
			for len(x.members) <= last {
				x.members = append(x.members, 0)
			}
		}
	}
	e.parallel(n, func(i int) { e.workers[i].work(rs, chunks, e.chunk) })
	if n > 1 {
		for _, x := range order {
			x.members = trim(x.members)
		}
	}

	if !delta {
		return Delta{}
	}
	changes := e.workers[0].changes
	e.workers[0].changes = nil // the Delta's now
	for _, wk := range e.workers[1:n] {
		changes = append(changes, wk.changes...)
		if wk.changes = wk.changes[:0]; cap(wk.changes) > 1<<16 {
			wk.changes = nil // no keeping a large run's scratch
		}
	}
	sortChanges(changes)
	return Delta{Changes: changes}
}

// trim drops b's trailing zero words, and copies it when that frees much.
func trim(b bitset) bitset {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	if n < cap(b)/2 {
		return slices.Clone(b[:n])
	}
	return b[:n]
}

// work evaluates chunks of words, claiming them from rs until none is left.
func (wk *evalWorker) work(rs *runState, chunks, size int) {
	e := rs.e
	for {
		c := int(rs.next.Add(1) - 1)
		if c >= chunks {
			break
		}
		from, to := c*size, min((c+1)*size, rs.words)
		// The dirty words of the chunk: all of them, or those from k on.
		k := 0
		if rs.allWords {
			k, _ = slices.BinarySearchFunc(rs.dirty, from, func(d dirtyWord, w int) int { return d.w - w })
		}
		for i := from; i < to; i++ {
			w, bits := i, uint64(0)
			if !rs.allWords {
				w, bits = rs.dirty[i].w, rs.dirty[i].bits
			} else if k < len(rs.dirty) && rs.dirty[k].w == w {
				bits = rs.dirty[k].bits
				k++
			}
			if i+1 < to {
				next := i + 1
				if !rs.allWords {
					next = rs.dirty[i+1].w
				}
				wk.touch(e, next)
			}
			wk.word(rs, w, bits)
		}
	}
	for _, x := range rs.order {
		wk.changed[x.num] = 0
	}
}

// word evaluates the collections of the run on the devices of word w, in
// limiting order; dirtyBits are the devices to evaluate for the touched
// collections.
func (wk *evalWorker) word(rs *runState, w int, dirtyBits uint64) {
	e := rs.e
	live := e.live.word(w)
	var loaded, joined uint64
	for _, x := range rs.order {
		var dirty uint64
		if rs.isFull[x.num] {
			dirty = live | x.members.word(w)
		} else {
			if rs.isTouched[x.num] {
				dirty = dirtyBits
			}
			for _, l := range x.limits {
				dirty |= wk.changed[l.num]
			}
		}
		wk.changed[x.num] = 0
		if dirty == 0 {
			continue
		}
		old := x.members.word(w)
		nw := old&^dirty | x.direct[w]&dirty&live
		for _, r := range x.rules {
			cand := dirty & live &^ nw
			if r.limit != nil {
				cand &= r.limit.members.word(w)
			}
			if cand == 0 {
				continue
			}
			qs := &wk.qs[r.idx]
			if qs.w != w {
				qs.w, qs.tested, qs.matched = w, 0, 0
			}
			need := cand &^ qs.tested
			if need != 0 {
				p := rs.prepared(r.query)
				qs.tested |= need
				for ; need != 0; need &= need - 1 {
					i := bits.TrailingZeros64(need)
					res := &wk.block[i]
					if loaded&(1<<i) == 0 {
						s := w<<6 + i
						res.load(e.lay, &e.in, e.rids[s], e.data[s])
						loaded |= 1 << i
					}
					if p.Match(res) {
						qs.matched |= 1 << i
					}
				}
			}
			nw |= qs.matched & cand
		}
		if diff := old ^ nw; diff != 0 {
			x.members.setWord(w, nw)
			wk.changed[x.num] = diff
			for ; diff != 0; diff &= diff - 1 {
				s := int32(w<<6 + bits.TrailingZeros64(diff))
				in := nw&(diff&-diff) != 0
				if in {
					i := s & 63
					wk.joined[i] = append(wk.joined[i], x.num)
					joined |= 1 << i
				} else {
					e.of[s] = deleteSorted(e.of[s], x.num)
				}
				if rs.delta {
					wk.changes = append(wk.changes, Change{Collection: x.c.ID, ResourceID: e.rids[s], Member: in})
				}
			}
		}
	}
	for ; joined != 0; joined &= joined - 1 {
		i := bits.TrailingZeros64(joined)
		s := w<<6 + i
		e.of[s] = wk.merge(e.of[s], wk.joined[i])
		wk.joined[i] = wk.joined[i][:0]
	}
}

// ofSlabSize is the size of the blocks e.of's lists are cut from.
const ofSlabSize = 8 << 10 // 32 KB: small-object allocation

// merge returns the sorted list of, a device's collection nums, with add
// (distinct, none in of) added: a new list cut from a block shared with
// other devices' lists. The list is cut to its length, so that a later
// insertSorted copies it rather than write into the block.
func (wk *evalWorker) merge(of, add []int32) []int32 {
	slices.Sort(add)
	n := len(of) + len(add)
	if len(wk.ofSlab) < n {
		wk.ofSlab = make([]int32, max(ofSlabSize, n))
	}
	out := wk.ofSlab[:n:n]
	wk.ofSlab = wk.ofSlab[n:]
	i, j := 0, 0
	for k := range out {
		if j == len(add) || i < len(of) && of[i] < add[j] {
			out[k] = of[i]
			i++
		} else {
			out[k] = add[j]
			j++
		}
	}
	return out
}

// touch reads the encodings of the devices of word w, a cache line apart,
// so that the processor fetches them from memory while the word before is
// being evaluated: the loads do not depend on each other, so their misses
// overlap, where the decoder's would come one after another.
func (wk *evalWorker) touch(e *Engine, w int) {
	var sum byte
	for word := e.live.word(w); word != 0; word &= word - 1 {
		d := e.data[w<<6+bits.TrailingZeros64(word)]
		for i := 0; i < len(d); i += 64 {
			sum += d[i]
		}
	}
	wk.sink = sum
}

// prepared returns q prepared for the run, preparing it on first use, as
// Engine.prepared does; the workers of a run share it.
func (rs *runState) prepared(q *query) *wql.Prepared {
	slot := &rs.preps[q.idx]
	if p := slot.Load(); p != nil {
		return p
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if p := slot.Load(); p != nil {
		return p
	}
	p := rs.e.prepared(q, rs.now)
	slot.Store(p)
	return p
}

// prepared returns q prepared for now (the zero time: for its last
// evaluation's time), preparing it again when it reads the time and now
// differs, or when it was dropped.
func (e *Engine) prepared(q *query, now time.Time) *wql.Prepared {
	if now.IsZero() {
		now = q.at
	}
	if q.prep != nil && (!q.q.UsesNow() || q.at.Equal(now)) {
		return q.prep
	}
	var all func(func(wql.Resource) bool)
	if q.global {
		all = e.allDevices
	}
	q.prep, q.at = q.q.Prepare(now, all), now
	return q.prep
}

// allDevices yields every device, for a global query's Prepare.
func (e *Engine) allDevices(yield func(wql.Resource) bool) {
	for w, word := range e.live {
		for ; word != 0; word &= word - 1 {
			s := w<<6 + bits.TrailingZeros64(word)
			e.one.load(e.lay, &e.in, e.rids[s], e.data[s])
			if !yield(&e.one) {
				return
			}
		}
	}
}
