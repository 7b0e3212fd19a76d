package collection

import (
	"bytes"
	"cmp"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
)

// Delta is what a call changed in the memberships.
type Delta struct {
	// Changes are sorted by collection, then resource.
	Changes []Change
}

// Change is one resource joining (Member) or leaving a collection.
type Change struct {
	Collection consign.ObjectID
	ResourceID uint32
	Member     bool
}

// Engine holds one site's devices and collections and the membership of
// every collection (§1.6, §7). Devices are kept in a compact encoding (see
// Engine.Device for what survives it) and decoded into wql rows only while
// evaluations read them, and then only the properties some query reads
// (wql.Query.Columns); repeated values are interned and carry their intern
// id to the queries (wql.Sym), which memoise their conditions by it.
// Memberships are bitmaps over dense device slots. A million devices with
// some twenty inventory rows each take about 900 MB.
//
// Full evaluation (EvaluateAll, Evaluate, PutCollection) re-runs every rule
// over every device, as ConfigMgr's scheduled update does. PutDevice and
// RemoveDevice are incremental: they re-evaluate only the device's own
// membership in the collections whose rules read a class the change touched
// (or name the device directly), then the collections limited by those whose
// membership changed, in limiting order. A query whose result for one device
// depends on others (an uncorrelated sub-select, wql.Query.Global) is
// re-evaluated in full when a class it reads changes on any device. The
// outcome always equals a full evaluation at the same time, except that a
// query using GETDATE() keeps the time of its last evaluation for devices the
// change did not touch, as a collection does in ConfigMgr between scheduled
// updates.
//
// An Engine is not safe for concurrent use. It reads no clock (now is a
// parameter) and starts no goroutines: SetParallel lends it the caller's
// for its long evaluations and loads, which they finish before the call
// returns.
type Engine struct {
	schema *wql.Schema
	lay    *layout
	in     interner

	// Devices, by slot.
	slot  map[uint32]int32 // ResourceID → slot
	rids  []uint32
	data  [][]byte
	zone  []uint32  // index into zones
	of    [][]int32 // the nums of the collections each device is a member of, sorted
	live  bitset
	free  []int32
	zones []string

	// Collections.
	entries []*entry // by num; nil when free
	byID    map[consign.ObjectID]*entry
	order   []*entry            // every collection after those its rules limit to (entry.pos)
	nums    []int32             // free collection nums
	direct  map[uint32][]*entry // ResourceID → collections with a direct rule for it
	queries map[string]*query   // by text: collections often repeat a query

	// The columns (indexed like interner.stats) some query reads, and how
	// many queries read each: evaluations decode only those.
	need     []bool
	needRefs []int32

	// Scratch, reused by every evaluation.
	one     resource      // the device a global query's Prepare is reading
	workers []*evalWorker // the scratch of each goroutine of a run; [0] runs serial ones
	loaders []*transcoder // the same for PutEncodedDevices
	enc     encoder

	// par runs the parts of a long run on the caller's goroutines (see
	// SetParallel); nil runs them one after another.
	par   func(n int, work func(i int))
	nwork int

	// batch and chunk are loadBatch and chunkWords; tests make them small
	// to reach the parallel paths with few devices.
	batch, chunk int
}

// entry is one collection inside the Engine.
type entry struct {
	c       *Collection
	num     int32
	rules   []rule
	direct  map[int]uint64 // word → bits of existing devices its direct rules name
	members bitset
	limits  []*entry // the distinct collections its rules limit to
	users   []*entry // the collections whose rules limit to it
	pos     int      // index in Engine.order
	reads   classSet // classes any of its queries read
	global  classSet // classes its global queries read
}

// rule is a query rule: a shared query and the rule's limit.
type rule struct {
	*query
	limit *entry
}

// query is a compiled query, shared by every rule with the same text, so
// that one evaluation matches a device against it once.
type query struct {
	q      *wql.Query
	reads  classSet
	global bool
	refs   int           // rules using it
	prep   *wql.Prepared // nil when it must be prepared again
	at     time.Time     // the now prep was made for

	// idx numbers the queries of one run, for evalWorker.qs.
	idx int
}

// NewEngine returns an Engine over schema s (DefaultSchema when nil) holding
// only the built-in All Systems collection.
func NewEngine(s *wql.Schema) *Engine {
	if s == nil {
		s = DefaultSchema()
	}
	e := &Engine{
		schema:  s,
		lay:     newLayout(s),
		slot:    map[uint32]int32{},
		byID:    map[consign.ObjectID]*entry{},
		direct:  map[uint32][]*entry{},
		queries: map[string]*query{},
		zones:   []string{""},
		batch:   loadBatch,
		chunk:   chunkWords,
	}
	e.in = newInterner(e.lay)
	e.need = make([]bool, len(e.in.stats))
	e.needRefs = make([]int32, len(e.in.stats))
	e.one.need = e.need
	e.enc = encoder{l: e.lay, in: &e.in}
	if err := e.install(allSystems()); err != nil {
		panic("collection: All Systems: " + err.Error()) // a constant, which every test installs
	}
	return e
}

// allSystems is the built-in collection SMS00001, whose one rule selects
// every SMS_R_System resource; like every built-in collection it updates
// daily (§1.6), from the tokens' default start 1970-02-01 (§1.8).
func allSystems() *Collection {
	c := NewCollection(AllSystemsID, "All Systems", time.Date(1970, 2, 1, 0, 0, 0, 0, time.UTC))
	c.Comment = "All Systems"
	c.QueryRules = []QueryRule{{RuleName: "All Systems", Query: "select * from SMS_R_System"}}
	return c
}

// Schema returns the schema devices and queries are checked against.
func (e *Engine) Schema() *wql.Schema { return e.schema }

// PutCollection adds c, or replaces the collection with its ID, and evaluates
// it in full at now, then every collection its membership limits. It rejects
// (consign.ErrInvalid) a collection that fails Validate, a rule limited to a
// collection the Engine does not have, and rules that would make limiting
// collections loop (the error names the loop); it refuses
// (consign.ErrFailedPrecondition) to change a built-in collection. The Engine
// keeps a copy of c.
func (e *Engine) PutCollection(c *Collection, now time.Time) (Delta, error) {
	d, errs := e.PutCollections([]*Collection{c}, now)
	return d, errs[0]
}

// PutCollections adds or replaces several collections and evaluates them
// together, in one pass over the devices: what loading a site wants, since
// one PutCollection each would read every device once per collection.
// Collections limited to others in cs may come in any order. A collection
// PutCollection would refuse is left out: errs[i] says why cs[i] was
// refused (nil when it was installed); the others are installed and
// evaluated.
func (e *Engine) PutCollections(cs []*Collection, now time.Time) (d Delta, errs []error) {
	return e.putCollections(cs, now, true)
}

// LoadCollections is PutCollections without the Delta, for loading a site:
// the first evaluation of a hundred collections over a million devices
// makes tens of millions of changes, which the caller reads afterwards
// (Members, IsMember, CollectionsOf) rather than as a sorted list.
func (e *Engine) LoadCollections(cs []*Collection, now time.Time) (errs []error) {
	_, errs = e.putCollections(cs, now, false)
	return errs
}

func (e *Engine) putCollections(cs []*Collection, now time.Time, delta bool) (d Delta, errs []error) {
	errs = make([]error, len(cs))
	pending := make([]int, len(cs))
	for i := range pending {
		pending[i] = i
	}
	var installed []*entry
	for len(pending) > 0 {
		var next []int
		for _, i := range pending {
			c := cs[i].Clone()
			err := e.CheckCollection(c)
			if err == nil {
				err = e.install(c)
			}
			errs[i] = err
			if err != nil {
				next = append(next, i)
				continue
			}
			installed = append(installed, e.byID[c.ID])
		}
		if len(next) == len(pending) {
			break // no progress: what is left is refused
		}
		pending = next
	}
	in := map[*entry]bool{}
	var full []*entry
	for _, x := range installed {
		for _, y := range e.dependents(x) {
			if !in[y] {
				in[y] = true
				full = append(full, y)
			}
		}
	}
	if len(full) == 0 {
		return Delta{}, errs
	}
	slices.SortFunc(full, func(a, b *entry) int { return cmp.Compare(a.pos, b.pos) })
	return e.run(now, full, nil, nil, delta), errs
}

// CheckCollection reports, without changing anything, every reason
// PutCollection would refuse c: a built-in ID, what Validate finds, a rule
// limited to a collection the Engine does not have, and rules that would
// make limiting collections loop (the error names the loop). A caller that
// must write c somewhere else first (a Store) checks with it beforehand.
func (e *Engine) CheckCollection(c *Collection) error {
	if strings.HasPrefix(string(c.ID), "SMS") {
		return consign.Errorf(consign.ErrFailedPrecondition, "PutCollection", string(c.ID), "built-in collections cannot be changed")
	}
	if err := c.Validate(e.schema); err != nil {
		return err
	}
	var p consign.Problems
	for i, r := range c.QueryRules {
		if _, ok := e.byID[r.LimitToCollectionID]; r.LimitToCollectionID != "" && !ok {
			p.AddValue("Collection.QueryRules"+ruleKey(i, r.RuleName)+".LimitToCollectionID",
				string(r.LimitToCollectionID), "must name an existing collection")
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	if loop := e.limitLoop(c); loop != nil {
		i := slices.IndexFunc(c.QueryRules, func(r QueryRule) bool { return r.LimitToCollectionID == loop[1] })
		names := make([]string, len(loop))
		for i, id := range loop {
			names[i] = string(id)
		}
		return &consign.ValidationError{Field: "Collection.QueryRules" + ruleKey(i, c.QueryRules[i].RuleName) + ".LimitToCollectionID",
			Value: string(loop[1]), Rule: "limiting collections must not loop: " + strings.Join(names, " → ")}
	}
	return nil
}

// limitLoop returns a loop of limiting collections from c back to c, if c's
// rules would make one. The collections installed never loop, so a new loop
// passes through c.
func (e *Engine) limitLoop(c *Collection) []consign.ObjectID {
	limits := func(id consign.ObjectID) []consign.ObjectID {
		var out []consign.ObjectID
		if id == c.ID {
			for _, r := range c.QueryRules {
				if r.LimitToCollectionID != "" {
					out = append(out, r.LimitToCollectionID)
				}
			}
		} else if x := e.byID[id]; x != nil {
			for _, l := range x.limits {
				out = append(out, l.c.ID)
			}
		}
		return out
	}
	seen := map[consign.ObjectID]bool{}
	var path []consign.ObjectID
	var visit func(id consign.ObjectID) bool
	visit = func(id consign.ObjectID) bool {
		path = append(path, id)
		if id == c.ID && len(path) > 1 {
			return true
		}
		if !seen[id] {
			seen[id] = true
			for _, l := range limits(id) {
				if visit(l) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		return false
	}
	if !visit(c.ID) {
		return nil
	}
	return path
}

// install compiles c and puts it in place of the collection with its ID,
// keeping that one's membership so that the next run reports differences.
func (e *Engine) install(c *Collection) error {
	rules := make([]rule, len(c.QueryRules))
	for i, r := range c.QueryRules {
		q := e.queries[r.Query]
		if q == nil {
			// Rules of c repeating a query share it too: two objects for
			// one text would leave e.queries without it once either is
			// dropped.
			if j := slices.IndexFunc(rules[:i], func(p rule) bool { return p.q.Source() == r.Query }); j >= 0 {
				q = rules[j].query
			}
		}
		if q == nil {
			cq, err := wql.Compile(r.Query, e.schema)
			if err != nil {
				return err
			}
			q = &query{q: cq, reads: classesOf(cq.Classes()), global: cq.Global()}
		}
		rules[i].query = q
	}
	for _, r := range rules {
		if r.refs++; r.refs == 1 {
			e.addColumns(r.q, 1)
		}
		e.queries[r.q.Source()] = r.query
	}
	x := e.byID[c.ID]
	isNew := x == nil
	if isNew {
		x = &entry{num: e.newNum()}
		e.entries[x.num] = x
		e.byID[c.ID] = x
	} else {
		e.drop(x)
	}
	for _, l := range x.limits {
		l.users = slices.DeleteFunc(l.users, func(y *entry) bool { return y == x })
	}
	x.c, x.rules, x.limits, x.reads, x.global = c, rules, nil, 0, 0
	for i, r := range c.QueryRules {
		ru := &x.rules[i]
		if r.LimitToCollectionID != "" {
			ru.limit = e.byID[r.LimitToCollectionID]
			if !slices.Contains(x.limits, ru.limit) {
				x.limits = append(x.limits, ru.limit)
				ru.limit.users = append(ru.limit.users, x)
			}
		}
		x.reads |= ru.reads
		if ru.global {
			x.global |= ru.reads
		}
	}
	x.direct = nil
	for _, d := range c.DirectRules {
		e.direct[d.ResourceID] = append(e.direct[d.ResourceID], x)
		if s, ok := e.slot[d.ResourceID]; ok {
			x.setDirect(s, true)
		}
	}
	e.place(x, isNew)
	return nil
}

// place keeps e.order in limiting order after x was added (isNew) or its
// limits changed: a new collection goes last, after everything it can limit
// to; a changed one that now limits to a collection placed after it moves
// last, with the collections it limits, in their order. The cost follows
// x's dependents, not the number of collections, but for the move.
func (e *Engine) place(x *entry, isNew bool) {
	if isNew {
		x.pos = len(e.order)
		e.order = append(e.order, x)
		return
	}
	if !slices.ContainsFunc(x.limits, func(l *entry) bool { return l.pos > x.pos }) {
		return
	}
	deps := e.dependents(x)
	moving := make(map[*entry]bool, len(deps))
	for _, y := range deps {
		moving[y] = true
	}
	order := make([]*entry, 0, len(e.order))
	for _, y := range e.order {
		if !moving[y] {
			order = append(order, y)
		}
	}
	e.order = append(order, deps...)
	e.renumber(0)
}

// renumber sets entry.pos from e.order[from:] on.
func (e *Engine) renumber(from int) {
	for i := from; i < len(e.order); i++ {
		e.order[i].pos = i
	}
}

func (e *Engine) newNum() int32 {
	if n := len(e.nums); n > 0 {
		num := e.nums[n-1]
		e.nums = e.nums[:n-1]
		return num
	}
	e.entries = append(e.entries, nil)
	return int32(len(e.entries) - 1)
}

// drop removes x's rules from the Engine's indexes.
func (e *Engine) drop(x *entry) {
	for _, r := range x.rules {
		if r.refs--; r.refs == 0 {
			delete(e.queries, r.q.Source())
			e.addColumns(r.q, -1)
		}
	}
	for _, d := range x.c.DirectRules {
		l := slices.DeleteFunc(e.direct[d.ResourceID], func(y *entry) bool { return y == x })
		if len(l) == 0 {
			delete(e.direct, d.ResourceID)
		} else {
			e.direct[d.ResourceID] = l
		}
	}
}

// addColumns counts the columns q reads (d = 1) or no longer reads (d = -1)
// in e.need.
func (e *Engine) addColumns(q *wql.Query, d int32) {
	for _, col := range q.Columns() {
		i := e.lay.statBase[col.Class] + col.Property
		e.needRefs[i] += d
		e.need[i] = e.needRefs[i] > 0
	}
}

func (x *entry) setDirect(slot int32, on bool) {
	w, bit := int(slot>>6), uint64(1)<<(slot&63)
	if x.direct == nil {
		x.direct = map[int]uint64{}
	}
	if on {
		x.direct[w] |= bit
	} else if x.direct[w] &^= bit; x.direct[w] == 0 {
		delete(x.direct, w)
	}
}

// dependents returns x and every collection limited, directly or through
// others, by x, in limiting order.
func (e *Engine) dependents(x *entry) []*entry {
	out := []*entry{x}
	if len(x.users) == 0 {
		return out
	}
	in := map[*entry]bool{x: true}
	for i := 0; i < len(out); i++ {
		for _, y := range out[i].users {
			if !in[y] {
				in[y] = true
				out = append(out, y)
			}
		}
	}
	slices.SortFunc(out, func(a, b *entry) int { return cmp.Compare(a.pos, b.pos) })
	return out
}

// RemoveCollection removes the collection id; the Delta lists its members
// leaving it. It refuses (consign.ErrFailedPrecondition) to remove a built-in
// collection or one that another collection's rule limits to, and reports
// consign.ErrNotFound for an unknown id.
func (e *Engine) RemoveCollection(id consign.ObjectID) (Delta, error) {
	x := e.byID[id]
	switch {
	case x == nil:
		return Delta{}, consign.Errorf(consign.ErrNotFound, "RemoveCollection", string(id), "no such collection")
	case strings.HasPrefix(string(id), "SMS"):
		return Delta{}, consign.Errorf(consign.ErrFailedPrecondition, "RemoveCollection", string(id), "built-in collections cannot be removed")
	}
	if len(x.users) > 0 {
		y := slices.MinFunc(x.users, func(a, b *entry) int { return strings.Compare(string(a.c.ID), string(b.c.ID)) })
		return Delta{}, consign.Errorf(consign.ErrFailedPrecondition, "RemoveCollection", string(id), "collection %s limits a rule to it", y.c.ID)
	}
	var d Delta
	for w, word := range x.members {
		for ; word != 0; word &= word - 1 {
			s := int32(w<<6 + bits.TrailingZeros64(word))
			e.of[s] = deleteSorted(e.of[s], x.num)
			d.Changes = append(d.Changes, Change{Collection: id, ResourceID: e.rids[s], Member: false})
		}
	}
	e.drop(x)
	delete(e.byID, id)
	e.entries[x.num] = nil
	e.nums = append(e.nums, x.num)
	for _, l := range x.limits {
		l.users = slices.DeleteFunc(l.users, func(y *entry) bool { return y == x })
	}
	e.order = slices.Delete(e.order, x.pos, x.pos+1)
	e.renumber(x.pos)
	sortChanges(d.Changes)
	return d, nil
}

// Evaluate runs the collection id in full at now, as its refresh schedule
// or a console "Update Collection Membership" does (§1.6, §3.1), together with
// every collection limited by it.
func (e *Engine) Evaluate(id consign.ObjectID, now time.Time) (Delta, error) {
	x := e.byID[id]
	if x == nil {
		return Delta{}, consign.Errorf(consign.ErrNotFound, "Evaluate", string(id), "no such collection")
	}
	return e.run(now, e.dependents(x), nil, nil, true), nil
}

// EvaluateTimeDependent runs in full at now every collection with a rule
// whose query reads the time (GETDATE()), with the collections limited to
// them: what evaluating everything at now would change, since no other
// membership depends on when it is evaluated. An Engine restored from a
// snapshot calls it to stand where one loaded at now would.
func (e *Engine) EvaluateTimeDependent(now time.Time) Delta {
	in := map[*entry]bool{}
	var full []*entry
	for _, x := range e.order {
		if !slices.ContainsFunc(x.rules, func(r rule) bool { return r.q.UsesNow() }) {
			continue
		}
		for _, y := range e.dependents(x) {
			if !in[y] {
				in[y] = true
				full = append(full, y)
			}
		}
	}
	if len(full) == 0 {
		return Delta{}
	}
	slices.SortFunc(full, func(a, b *entry) int { return cmp.Compare(a.pos, b.pos) })
	return e.run(now, full, nil, nil, true)
}

// EvaluateAll runs every collection in full over every device at now, in
// limiting order.
func (e *Engine) EvaluateAll(now time.Time) Delta {
	return e.run(now, e.order, nil, nil, true)
}

// PutDevice adds d, or replaces the device with its ResourceID, after
// checking it with Validate, and re-evaluates what the change can affect (see
// Engine). The Engine keeps d in its compact form, not d itself.
func (e *Engine) PutDevice(d *Device, now time.Time) (Delta, error) {
	rows, err := e.lay.rows(d)
	if err != nil {
		return Delta{}, err
	}
	return e.putData(d.ResourceID, e.enc.encode(rows), e.zoneID(d.TimeZone), now, true), nil
}

// putData puts the device rid with encoding data, as PutDevice does.
func (e *Engine) putData(rid uint32, data []byte, zone uint32, now time.Time, delta bool) Delta {
	s, exists := e.slot[rid]
	changed := allClasses()
	if exists {
		changed = changedClasses(e.data[s], data, len(e.lay.classes))
		e.data[s], e.zone[s] = data, zone
		if changed == 0 {
			return Delta{}
		}
	} else {
		s = e.newSlot(rid, data, zone)
		for _, x := range e.direct[rid] {
			x.setDirect(s, true)
		}
	}
	return e.change(now, s, changed, e.direct[rid], delta)
}

// RemoveDevice removes the device id from the Engine and from every
// collection; the Delta lists the collections it left, and any change a
// global query makes to other devices' memberships (evaluated at the time of
// that query's last evaluation). Removing an unknown device does nothing.
func (e *Engine) RemoveDevice(id uint32) Delta {
	s, ok := e.slot[id]
	if !ok {
		return Delta{}
	}
	e.live.set(int(s), false)
	var touched []*entry
	for _, n := range e.of[s] {
		touched = append(touched, e.entries[n])
	}
	d := e.change(time.Time{}, s, allClasses(), touched, true)
	for _, x := range e.direct[id] {
		x.setDirect(s, false)
	}
	delete(e.slot, id)
	e.rids[s], e.data[s], e.zone[s], e.of[s] = 0, nil, 0, nil
	e.free = append(e.free, s)
	return d
}

// change re-evaluates after device slot s changed in the classes changed:
// its own membership where a rule reads such a class, and in touched; every
// device of the collections with a global query reading such a class.
func (e *Engine) change(now time.Time, s int32, changed classSet, touched []*entry, delta bool) Delta {
	var full []*entry
	for _, x := range e.order {
		if x.global.meets(changed) {
			full = append(full, x)
		} else if x.reads.meets(changed) {
			touched = append(touched, x)
		}
	}
	return e.run(now, full, touched, []dirtyWord{{w: int(s >> 6), bits: 1 << (s & 63)}}, delta)
}

func (e *Engine) newSlot(rid uint32, data []byte, zone uint32) int32 {
	var s int32
	if n := len(e.free); n > 0 {
		s, e.free = e.free[n-1], e.free[:n-1]
		e.rids[s], e.data[s], e.zone[s] = rid, data, zone
	} else {
		s = int32(len(e.rids))
		e.rids = append(e.rids, rid)
		e.data = append(e.data, data)
		e.zone = append(e.zone, zone)
		e.of = append(e.of, nil)
	}
	e.slot[rid] = s
	e.live.set(int(s), true)
	return s
}

func (e *Engine) zoneID(tz string) uint32 {
	if i := slices.Index(e.zones, tz); i >= 0 {
		return uint32(i)
	}
	e.zones = append(e.zones, strings.Clone(tz))
	return uint32(len(e.zones) - 1)
}

// zoneIDBytes is zoneID of a name in a record, which it copies only when
// it is new.
func (e *Engine) zoneIDBytes(tz []byte) uint32 {
	for i, z := range e.zones {
		if z == string(tz) {
			return uint32(i)
		}
	}
	return e.zoneID(string(tz))
}

func sortChanges(cs []Change) {
	slices.SortFunc(cs, func(a, b Change) int {
		return cmp.Or(strings.Compare(string(a.Collection), string(b.Collection)), cmp.Compare(a.ResourceID, b.ResourceID))
	})
}

// Collection returns a copy of the collection id.
func (e *Engine) Collection(id consign.ObjectID) (*Collection, bool) {
	x := e.byID[id]
	if x == nil {
		return nil, false
	}
	return x.c.Clone(), true
}

// Collections returns a copy of every collection, sorted by ID.
func (e *Engine) Collections() []*Collection {
	out := make([]*Collection, 0, len(e.byID))
	for _, x := range e.byID {
		out = append(out, x.c.Clone())
	}
	slices.SortFunc(out, func(a, b *Collection) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// HasDevice reports whether the Engine holds the device id.
func (e *Engine) HasDevice(id uint32) bool {
	_, ok := e.slot[id]
	return ok
}

// NumDevices reports how many devices the Engine holds.
func (e *Engine) NumDevices() int { return len(e.slot) }

// Members returns the ResourceIDs of the members of collection id, sorted
// (nil for an unknown collection).
func (e *Engine) Members(id consign.ObjectID) []uint32 {
	x := e.byID[id]
	if x == nil {
		return nil
	}
	var out []uint32
	for w, word := range x.members {
		for ; word != 0; word &= word - 1 {
			out = append(out, e.rids[w<<6+bits.TrailingZeros64(word)])
		}
	}
	slices.Sort(out)
	return out
}

// IsMember reports whether device rid is a member of collection id.
func (e *Engine) IsMember(id consign.ObjectID, rid uint32) bool {
	x := e.byID[id]
	s, ok := e.slot[rid]
	return x != nil && ok && x.members.get(int(s))
}

// CollectionsOf returns the IDs of the collections device rid is a member of,
// sorted. It reads a per-device index: the cost follows the answer's length.
func (e *Engine) CollectionsOf(rid uint32) []consign.ObjectID {
	s, ok := e.slot[rid]
	if !ok {
		return nil
	}
	out := make([]consign.ObjectID, len(e.of[s]))
	for i, n := range e.of[s] {
		out[i] = e.entries[n].c.ID
	}
	slices.Sort(out)
	return out
}

// Device rebuilds the device id from the Engine's compact form. It equals
// the device last put, except that values come back in their schema type's
// Go form (string, int64, time.Time in UTC to the microsecond, bool, or a
// slice of those), NULLs and empty lists are left out, property and class
// names take the schema's spelling, and inventory rows omit ResourceID.
func (e *Engine) Device(id uint32) (*Device, bool) {
	s, ok := e.slot[id]
	if !ok {
		return nil, false
	}
	// Decoded strings share the bytes they are read from: decode a copy,
	// so that what is returned never shares the Engine's encodings (which
	// may lie in a snapshot's read-only mapping, see RestoreSnapshot).
	var r resource
	r.load(e.lay, &e.in, id, bytes.Clone(e.data[s]))
	d := decodeDevice(&r)
	d.TimeZone = e.zones[e.zone[s]]
	return d, true
}

// bitset is a set of slots.
type bitset []uint64

func (b bitset) word(w int) uint64 {
	if w < len(b) {
		return b[w]
	}
	return 0
}

func (b *bitset) setWord(w int, v uint64) {
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] = v
}

func (b bitset) get(i int) bool { return b.word(i>>6)&(1<<(i&63)) != 0 }

func (b *bitset) set(i int, on bool) {
	w := b.word(i >> 6)
	if on {
		w |= 1 << (i & 63)
	} else {
		w &^= 1 << (i & 63)
	}
	b.setWord(i>>6, w)
}
