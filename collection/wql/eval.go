package wql

import (
	"math/bits"
	"slices"
	"time"
)

// Evaluation. Prepare turns the resolved query into closures: every name is
// already an index, every literal already converted, every constant
// (GETDATE(), DATEADD(dd, -30, GETDATE())) folded, so Match only reads
// values and compares.
//
// A WHERE is split into its top-level AND terms (NOT (a OR b) counts as
// NOT a AND NOT b). When every term reads one class (a term that also reads
// the FROM class SMS_R_System, whose one row is at hand, counts for the
// other class), Match asks class by class whether some row satisfies that
// class's terms: the classes joined to a row depend only on whether that row
// is NULL, so this is exactly SQL's "some row combination makes WHERE true",
// without the cross product. Otherwise the WHERE is expanded into a
// disjunction of conjunctions, each tested the same way when it can be;
// only a conjunction with a term that reads two classes enumerates the
// combinations, testing each term as soon as the classes it reads are bound.

// tri is a truth value of SQL's three-valued logic, ordered so that AND is
// min, OR is max and NOT is 2-x.
type tri uint8

const (
	triFalse tri = iota
	triUnknown
	triTrue
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// pred evaluates a condition. With row pushdown, row is the row of the class
// the condition belongs to; when enumerating combinations, r is the *combo
// and row is unused.
type pred func(r Resource, row Row) tri

// getter evaluates a value expression, like pred.
type getter func(r Resource, row Row) Value

// Prepared is a Query ready to Match resources at one instant. It is safe
// for concurrent use: its only state is the memo of outcomes by value id
// (see Sym), which it fills with atomic operations as it matches.
type Prepared struct {
	q    *Query
	main *plan
}

// Prepare fixes GETDATE() to now and, for a Global query, computes each
// global sub-select's values by calling all to iterate every resource (a
// nil all counts as no resources). For a query that is not Global, all may
// be nil. Prepare once per evaluation pass, not per resource.
func (q *Query) Prepare(now time.Time, all func(yield func(Resource) bool)) *Prepared {
	b := &builder{now: Time(now), sets: make(map[*rin]*valueSet)}
	for _, in := range q.subs {
		if !in.perResource {
			b.sets[in] = b.collect(in, all)
		}
	}
	return &Prepared{q: q, main: b.plan(q.main)}
}

// Query returns the query p was prepared from.
func (p *Prepared) Query() *Query { return p.q }

// Match reports whether the query selects r: whether some combination of r's
// rows (one row of the FROM class and of each joined class, NULLs for a LEFT
// joined class with no rows) makes WHERE true.
func (p *Prepared) Match(r Resource) bool { return p.main.exists(r) }

type builder struct {
	now  Value
	sets map[*rin]*valueSet
}

// plan is one SELECT's existence test: a resource qualifies when any
// alternative does; a plan without alternatives never matches.
type plan struct{ alts []alt }

// alt tests one conjunction of terms, class by class (root) or over the
// enumerated row combinations (combo).
type alt struct {
	root  *node
	combo *comboPlan
}

func (p *plan) exists(r Resource) bool {
	for _, a := range p.alts {
		if a.root != nil {
			if a.root.exists(r, false) {
				return true
			}
		} else if a.combo.walk(&combo{Resource: r, rows: make([]Row, len(a.combo.slots))}, 0, nil) {
			return true
		}
	}
	return false
}

// maxAlts bounds the alternatives a WHERE is expanded into.
const maxAlts = 16

// plan builds the test for a SELECT. Its WHERE's AND terms are pushed down
// class by class when each reads one class. Otherwise the WHERE is expanded
// into alternatives (some combination makes A OR B true exactly when some
// makes A true or some makes B true), each pushed down when it can be, and
// enumerated when it cannot.
func (b *builder) plan(sc *scope) *plan {
	terms := conjuncts(sc.where, nil)
	if a, never, ok := b.pushdown(sc, terms); ok || never {
		if never {
			return &plan{}
		}
		return &plan{alts: []alt{a}}
	}
	alts, ok := dnf(sc.where, false)
	if !ok {
		alts = [][]rcond{terms}
	}
	p := &plan{}
	for _, terms := range alts {
		a, never, ok := b.pushdown(sc, terms)
		if never {
			continue
		}
		if !ok {
			a = alt{combo: b.comboPlan(sc, terms)}
		}
		p.alts = append(p.alts, a)
	}
	return p
}

// pushdown builds the class-by-class test of a conjunction. never reports a
// constant term that is not TRUE; ok is false when a term reads two classes
// (SMS_R_System aside, when it is the FROM class: its one row is read
// directly).
func (b *builder) pushdown(sc *scope, terms []rcond) (a alt, never, ok bool) {
	rootFixed := sc.slots[0].class == 0
	owner := make([]int, len(terms))
	split := true
	for i, t := range terms {
		m := condMask(t)
		if rootFixed && m != 1 {
			m &^= 1
		}
		switch bits.OnesCount64(m) {
		case 0:
			if b.pred(t, reader{})(nil, nil) != triTrue {
				return alt{}, true, false
			}
			owner[i] = -1
		case 1:
			owner[i] = bits.TrailingZeros64(m)
		default:
			split = false // reported after every constant term is checked
		}
	}
	if !split {
		return alt{}, false, false
	}
	nodes := make([]*node, len(sc.slots))
	for i, sl := range sc.slots {
		nodes[i] = &node{class: sl.class, left: sl.left}
		if i > 0 {
			nodes[sl.parent].kids = append(nodes[sl.parent].kids, nodes[i])
		}
	}
	// A node whose terms all read one String or array column of its row is
	// memoised as a whole; otherwise each such term is (see memo.go).
	byNode := make([][]rcond, len(nodes))
	for i, t := range terms {
		if o := owner[i]; o >= 0 {
			byNode[o] = append(byNode[o], t)
		}
	}
	for o, ts := range byNode {
		n := nodes[o]
		n.memoProp = -1
		whole := len(ts) > 0
		for i, t := range ts {
			col, ok := singleColumn(t, o)
			if !ok || !(col.t == String || col.array) || i > 0 && col.prop != n.memoProp {
				whole = false
				break
			}
			n.memoProp = col.prop
		}
		if whole {
			n.memo = &memo{}
		} else {
			n.memoProp = -1
		}
		for _, t := range ts {
			p := b.pred(t, reader{own: o, rootFixed: rootFixed})
			if col, ok := singleColumn(t, o); !whole && ok && (col.t == String || col.array) {
				p = memoised(p, col.prop)
			}
			n.terms = append(n.terms, p)
		}
	}
	return alt{root: nodes[0]}, false, true
}

// dnf returns c (negated when neg) as alternatives, each a conjunction of
// terms, moving NOT down to the terms by De Morgan's laws, which hold in
// three-valued logic; ok is false when that takes more than maxAlts.
func dnf(c rcond, neg bool) (alts [][]rcond, ok bool) {
	switch x := c.(type) {
	case nil:
		return [][]rcond{nil}, true
	case *rnot:
		return dnf(x.x, !neg)
	case *rlogic:
		if x.and == neg { // a disjunction: the parts' alternatives
			for _, y := range x.xs {
				ys, ok := dnf(y, neg)
				if alts = append(alts, ys...); !ok || len(alts) > maxAlts {
					return nil, false
				}
			}
			return alts, true
		}
		alts = [][]rcond{nil} // a conjunction: every choice of one alternative per part
		for _, y := range x.xs {
			ys, ok := dnf(y, neg)
			if !ok || len(alts)*len(ys) > maxAlts {
				return nil, false
			}
			var next [][]rcond
			for _, a := range alts {
				for _, b := range ys {
					next = append(next, append(slices.Clip(a), b...))
				}
			}
			alts = next
		}
		return alts, true
	}
	if neg {
		return [][]rcond{{&rnot{x: c}}}, true
	}
	return [][]rcond{{c}}, true
}

// node tests one class of a pushed-down SELECT: whether some row of it (or
// NULLs, when LEFT joined and there is none) satisfies its terms while every
// class joined to it can do the same.
type node struct {
	class int
	left  bool
	terms []pred
	kids  []*node

	// When every term reads only property memoProp of the row, memo keeps
	// the outcome of all of them per id of its value (see memo.go).
	memo     *memo
	memoProp int
}

// exists reports whether the node and its subtree can be satisfied; a
// parent that is NULL-extended leaves only NULLs (LEFT) or nothing (INNER).
func (n *node) exists(r Resource, parentNull bool) bool {
	var rows []Row
	if !parentNull {
		rows = r.Rows(n.class)
	}
	if len(rows) == 0 {
		return n.left && n.test(r, nil) && n.kidsExist(r, true)
	}
	if n.memo != nil {
		return n.existsMemo(r, rows)
	}
	for _, row := range rows {
		// The kids depend only on whether this row is NULL, so the first
		// row that satisfies the terms decides.
		if n.test(r, row) {
			return n.kidsExist(r, false)
		}
	}
	return false
}

// existsMemo is the loop of exists for a memoised node, with the memo's
// lookup inline: one bit test per row whose value's outcome is known.
func (n *node) existsMemo(r Resource, rows []Row) bool {
	prop := n.memoProp
	cells := n.memo.cells.Load()
	for _, row := range rows {
		if prop < len(row) {
			if v := &row[prop]; v.n > 0 && (v.k == kStr || v.k == kArray) {
				id := uint32(v.n - 1)
				if cells != nil && int(id>>4) < len(*cells) {
					if t := (*cells)[id>>4].Load() >> (id & 15 * 2) & 3; t != 0 {
						if tri(t-1) == triTrue {
							return n.kidsExist(r, false)
						}
						continue
					}
				}
			}
		}
		if n.test(r, row) {
			return n.kidsExist(r, false)
		}
	}
	return false
}

func (n *node) test(r Resource, row Row) bool {
	if n.memo != nil && n.memoProp < len(row) {
		if v := &row[n.memoProp]; v.n > 0 && (v.k == kStr || v.k == kArray) {
			id := uint32(v.n - 1)
			if t, ok := n.memo.get(id); ok {
				return t == triTrue
			}
			res := n.testTerms(r, row)
			n.memo.put(id, triOf(res))
			return res
		}
	}
	return n.testTerms(r, row)
}

func (n *node) testTerms(r Resource, row Row) bool {
	for _, p := range n.terms {
		if p(r, row) != triTrue {
			return false
		}
	}
	return true
}

func (n *node) kidsExist(r Resource, null bool) bool {
	for _, k := range n.kids {
		if !k.exists(r, null) {
			return false
		}
	}
	return true
}

// comboPlan enumerates a SELECT's row combinations. at[j] holds the terms
// whose last class is slot j, tested as soon as slot j is bound.
type comboPlan struct {
	slots []slot
	at    [][]pred
}

// combo is one row combination being built; the preds of a comboPlan read
// their columns from it.
type combo struct {
	Resource
	rows []Row
	null uint64 // slots that are NULL-extended
}

func (b *builder) comboPlan(sc *scope, terms []rcond) *comboPlan {
	cp := &comboPlan{slots: sc.slots, at: make([][]pred, len(sc.slots))}
	for _, t := range terms {
		last := max(0, 63-bits.LeadingZeros64(condMask(t)))
		cp.at[last] = append(cp.at[last], b.pred(t, reader{own: -1}))
	}
	return cp
}

// walk binds slot j onwards and calls yield for each combination that
// satisfies every term; it stops and returns true as soon as yield returns
// false. A nil yield stops at the first combination.
func (cp *comboPlan) walk(c *combo, j int, yield func(*combo) bool) bool {
	if j == len(cp.slots) {
		return yield == nil || !yield(c)
	}
	sl := cp.slots[j]
	var rows []Row
	if j == 0 || c.null&(1<<sl.parent) == 0 {
		rows = c.Resource.Rows(sl.class)
	}
	if len(rows) == 0 {
		if !sl.left {
			return false
		}
		c.rows[j] = nil
		c.null |= 1 << j
		stop := cp.test(c, j) && cp.walk(c, j+1, yield)
		c.null &^= 1 << j
		return stop
	}
	for _, row := range rows {
		c.rows[j] = row
		if cp.test(c, j) && cp.walk(c, j+1, yield) {
			return true
		}
	}
	return false
}

func (cp *comboPlan) test(c *combo, j int) bool {
	for _, p := range cp.at[j] {
		if p(c, nil) != triTrue {
			return false
		}
	}
	return true
}

// collect computes a global sub-select's values over every resource.
func (b *builder) collect(in *rin, all func(yield func(Resource) bool)) *valueSet {
	sc := in.sub
	cp := b.comboPlan(sc, conjuncts(sc.where, nil))
	var vals []Value
	if all != nil {
		all(func(r Resource) bool {
			cp.walk(&combo{Resource: r, rows: make([]Row, len(sc.slots))}, 0, func(c *combo) bool {
				vals = append(vals, cellAt(c.rows[sc.sel.slot], sc.sel.prop))
				return true
			})
			return true
		})
	}
	return newValueSet(in.dom, vals)
}

// conjuncts appends the top-level AND terms of c to out.
func conjuncts(c rcond, out []rcond) []rcond {
	switch x := c.(type) {
	case nil:
		return out
	case *rlogic:
		if x.and {
			for _, y := range x.xs {
				out = conjuncts(y, out)
			}
			return out
		}
	case *rnot:
		switch y := x.x.(type) {
		case *rnot:
			return conjuncts(y.x, out)
		case *rlogic:
			if !y.and {
				for _, z := range y.xs {
					out = conjuncts(&rnot{x: z}, out)
				}
				return out
			}
		}
	}
	return append(out, c)
}

// condMask returns the set of slots c reads (sub-selects read their own).
func condMask(c rcond) uint64 {
	switch c := c.(type) {
	case *rlogic:
		var m uint64
		for _, x := range c.xs {
			m |= condMask(x)
		}
		return m
	case *rnot:
		return condMask(c.x)
	case *rcmp:
		return exprMask(c.a) | exprMask(c.b)
	case *rlike:
		return exprMask(c.a)
	case *rin:
		return exprMask(c.a)
	case *risnull:
		return exprMask(c.a)
	}
	return 0
}

func exprMask(x rexpr) uint64 {
	switch x := x.(type) {
	case *rcol:
		return 1 << x.slot
	case *rcall:
		var m uint64
		for _, a := range x.args {
			m |= exprMask(a)
		}
		return m
	}
	return 0
}

// reader says where a pred finds its columns: in the row it is given (slot
// own), in the resource's one SMS_R_System row (slot 0, when rootFixed), or
// in the *combo (own < 0).
type reader struct {
	own       int
	rootFixed bool
}

func (rd reader) col(x *rcol) getter {
	prop, slot := x.prop, x.slot
	switch {
	case rd.own < 0:
		return func(r Resource, _ Row) Value {
			c := r.(*combo)
			if c.null&(1<<slot) != 0 {
				return Value{}
			}
			return cellAt(c.rows[slot], prop)
		}
	case slot == rd.own:
		return func(_ Resource, row Row) Value { return cellAt(row, prop) }
	}
	return func(r Resource, _ Row) Value {
		rs := r.Rows(0)
		if len(rs) == 0 {
			return Value{}
		}
		return cellAt(rs[0], prop)
	}
}

func cellAt(row Row, i int) Value {
	if i < len(row) {
		return row[i]
	}
	return Value{}
}

// base returns the resource behind a combination.
func base(r Resource) Resource {
	if c, ok := r.(*combo); ok {
		return c.Resource
	}
	return r
}

// constant returns the value of an expression that reads no column.
func (b *builder) constant(x rexpr) (Value, bool) {
	if exprMask(x) != 0 {
		return Value{}, false
	}
	return b.getter(x, reader{})(nil, nil), true
}

func (b *builder) getter(x rexpr, rd reader) getter {
	switch x := x.(type) {
	case *rcol:
		return rd.col(x)
	case *rlit:
		v := x.v
		return func(Resource, Row) Value { return v }
	case rnow:
		v := b.now
		return func(Resource, Row) Value { return v }
	}
	fc := x.(*rcall)
	if fc.fn == fnUpper || fc.fn == fnLower {
		// Comparisons and LIKE fold case anyway (see foldRune).
		return b.getter(fc.args[0], rd)
	}
	ga, gb := b.getter(fc.args[0], rd), b.getter(fc.args[1], rd)
	if exprMask(fc) == 0 {
		v := apply(fc, ga(nil, nil), gb(nil, nil))
		return func(Resource, Row) Value { return v }
	}
	return func(r Resource, row Row) Value { return apply(fc, ga(r, row), gb(r, row)) }
}

// apply evaluates DATEDIFF(part, a, b) or DATEADD(part, a, b); NULL or
// mistyped arguments give NULL.
func apply(x *rcall, a, b Value) Value {
	if x.fn == fnDateDiff {
		if a.k != kTime || b.k != kTime {
			return Value{}
		}
		return Int(dateDiff(x.part, a.n, b.n))
	}
	n, ok := asInt(a)
	if !ok || b.k != kTime {
		return Value{}
	}
	t, ok := dateAdd(x.part, n, b.n)
	if !ok {
		return Value{}
	}
	return Value{k: kTime, n: t}
}

func (b *builder) pred(c rcond, rd reader) pred {
	switch c := c.(type) {
	case *rlogic:
		ps := make([]pred, len(c.xs))
		for i, x := range c.xs {
			ps[i] = b.pred(x, rd)
		}
		if c.and {
			return func(r Resource, row Row) tri {
				res := triTrue
				for _, p := range ps {
					if res = min(res, p(r, row)); res == triFalse {
						break
					}
				}
				return res
			}
		}
		return func(r Resource, row Row) tri {
			res := triFalse
			for _, p := range ps {
				if res = max(res, p(r, row)); res == triTrue {
					break
				}
			}
			return res
		}
	case *rnot:
		p := b.pred(c.x, rd)
		return func(r Resource, row Row) tri { return 2 - p(r, row) }
	case *rcmp:
		return b.cmpPred(c, rd)
	case *rlike:
		if c.pat == nil {
			return func(Resource, Row) tri { return triUnknown }
		}
		pat, not := c.pat, c.not
		if col, ok := c.a.(*rcol); ok && col.slot == rd.own {
			prop := col.prop
			return func(_ Resource, row Row) tri {
				if prop < len(row) && row[prop].k == kStr {
					return triOf(pat.match(row[prop].s) != not)
				}
				return like(cellAt(row, prop), pat, not)
			}
		}
		g := b.getter(c.a, rd)
		return func(r Resource, row Row) tri { return like(g(r, row), pat, not) }
	case *rin:
		g, not := b.getter(c.a, rd), c.not
		if c.sub != nil && c.perResource {
			sp := b.plan(c.sub)
			return func(r Resource, row Row) tri {
				if g(r, row).k == kNull {
					return triUnknown
				}
				return triOf(sp.exists(base(r)) != not)
			}
		}
		set := b.sets[c]
		if c.sub == nil {
			set = newValueSet(c.dom, c.list)
		}
		return func(r Resource, row Row) tri { return set.test(g(r, row), not) }
	}
	c2 := c.(*risnull)
	g, not := b.getter(c2.a, rd), c2.not
	return func(r Resource, row Row) tri { return isNull(g(r, row), not) }
}

// mirror is the operator that gives the same result with the sides swapped.
var mirror = [...]cmpOp{opEq: opEq, opNe: opNe, opLt: opGt, opLe: opGe, opGt: opLt, opGe: opLe}

func (b *builder) cmpPred(c *rcmp, rd reader) pred {
	op, d, x, y := c.op, c.dom, c.a, c.b
	if _, ok := b.constant(x); ok {
		x, y, op = y, x, mirror[op]
	}
	// The common cases read the column of the row at hand directly: against
	// a constant, or DATEDIFF of it and a constant against a constant.
	if v, ok := b.constant(y); ok && !v.IsNull() {
		if col, ok := x.(*rcol); ok && col.slot == rd.own {
			c, prop := &constCmp{v: v, op: op, dom: d, res: outcomes(op)}, col.prop
			c.asciiEq = (op == opEq || op == opNe) && v.k == kStr && isASCII(v.s)
			return func(_ Resource, row Row) tri {
				if prop < len(row) {
					return c.test(&row[prop])
				}
				return triUnknown
			}
		}
		if fc, ok := x.(*rcall); ok && fc.fn == fnDateDiff && v.k == kInt {
			if p := b.dateDiffPred(fc, v.n, outcomes(op), rd); p != nil {
				return p
			}
		}
	}
	gx, gy := b.getter(x, rd), b.getter(y, rd)
	return func(r Resource, row Row) tri { return compare(gx(r, row), gy(r, row), op, d) }
}

// constCmp compares values with a constant in the constant's own domain.
type constCmp struct {
	v       Value
	op      cmpOp
	dom     domain
	res     [3]tri // outcomes(op)
	asciiEq bool   // = or <> against an ASCII String: eqFoldASCII decides
}

// test is compare(*x, c.v, c.op, c.dom) with fast paths for a value of the
// constant's kind. It takes a pointer: copying the Value costs more than
// comparing it.
func (c *constCmp) test(x *Value) tri {
	switch {
	case x.k == kArray:
		res := triUnknown
		if len(*x.a) > 0 {
			res = triFalse
		}
		for i := range *x.a {
			if res = max(res, c.test(&(*x.a)[i])); res == triTrue {
				break
			}
		}
		return res
	case x.k != c.v.k:
		return compare(*x, c.v, c.op, c.dom)
	case x.k != kStr:
		return c.res[cmpInt(x.n, c.v.n)+1]
	case c.asciiEq:
		if eqFoldASCII(x.s, c.v.s) {
			return c.res[1]
		}
		return c.res[0]
	}
	return c.res[compareFold(x.s, c.v.s)+1]
}

// dateDiffPred returns the test DATEDIFF(part, a, b) op k where one of a and
// b is a column of the row at hand and the other a constant, or nil.
func (b *builder) dateDiffPred(fc *rcall, k int64, res [3]tri, rd reader) pred {
	col, ok := fc.args[0].(*rcol)
	other, colFirst := fc.args[1], true
	if !ok {
		col, ok = fc.args[1].(*rcol)
		other, colFirst = fc.args[0], false
	}
	c, isConst := b.constant(other)
	if !ok || col.slot != rd.own || !isConst || c.k != kTime {
		return nil
	}
	prop, part := col.prop, fc.part
	return func(_ Resource, row Row) tri {
		x := cellAt(row, prop)
		if x.k != kTime {
			return triUnknown
		}
		if colFirst {
			return res[cmpInt(dateDiff(part, x.n, c.n), k)+1]
		}
		return res[cmpInt(dateDiff(part, c.n, x.n), k)+1]
	}
}

// outcomes returns op's result for each result of a comparison: less,
// equal, greater.
func outcomes(op cmpOp) [3]tri {
	lt, eq, gt := triFalse, triFalse, triFalse
	switch op {
	case opEq:
		eq = triTrue
	case opNe:
		lt, gt = triTrue, triTrue
	case opLt:
		lt = triTrue
	case opLe:
		lt, eq = triTrue, triTrue
	case opGt:
		gt = triTrue
	case opGe:
		eq, gt = triTrue, triTrue
	}
	return [3]tri{lt, eq, gt}
}

// compare compares a and b in domain d; an array side is true when any
// element is (an empty array counts as NULL).
func compare(a, b Value, op cmpOp, d domain) tri {
	if a.k == kArray || b.k == kArray {
		if b.k == kArray && a.k != kArray {
			a, b, op = b, a, mirror[op]
		}
		res := triUnknown
		if len(*a.a) > 0 {
			res = triFalse
		}
		for _, e := range *a.a {
			if res = max(res, compare(e, b, op, d)); res == triTrue {
				break
			}
		}
		return res
	}
	var c int
	switch d {
	case dStr:
		if a.k != kStr || b.k != kStr {
			return triUnknown
		}
		c = compareFold(a.s, b.s)
	case dInt:
		x, ok1 := asInt(a)
		y, ok2 := asInt(b)
		if !ok1 || !ok2 {
			return triUnknown
		}
		c = cmpInt(x, y)
	default:
		if a.k != kTime || b.k != kTime {
			return triUnknown
		}
		c = cmpInt(a.n, b.n)
	}
	return outcomes(op)[c+1]
}

// asInt reads v as a number: an Integer, a Boolean as 0 or 1, or a String
// holding a decimal integer (SQL Server's implicit conversion, surrounding
// blanks allowed).
func asInt(v Value) (int64, bool) {
	switch v.k {
	case kInt, kBool:
		return v.n, true
	case kStr:
		return parseInt(v.s)
	}
	return 0, false
}

// parseInt parses [blanks][sign]digits[blanks] without allocating.
func parseInt(s string) (int64, bool) {
	i, j := 0, len(s)
	for i < j && s[i] == ' ' {
		i++
	}
	for j > i && s[j-1] == ' ' {
		j--
	}
	neg := false
	if i < j && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	if i == j {
		return 0, false
	}
	var n uint64
	for ; i < j; i++ {
		c := s[i]
		if c < '0' || c > '9' || n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n <= 1<<63:
		return int64(-n), true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}

// like applies a pattern to a value; an array matches when any element does.
func like(v Value, p *pattern, not bool) tri {
	switch v.k {
	case kStr:
		return triOf(p.match(v.s) != not)
	case kArray:
		res := triUnknown
		if len(*v.a) > 0 {
			res = triFalse
		}
		for _, e := range *v.a {
			if res = max(res, like(e, p, not)); res == triTrue {
				break
			}
		}
		return res
	}
	return triUnknown
}

// isNull is IS [NOT] NULL; an array is NULL when it is empty, and otherwise
// per element.
func isNull(v Value, not bool) tri {
	if v.k != kArray {
		return triOf((v.k == kNull) != not)
	}
	if len(*v.a) == 0 {
		return triOf(!not)
	}
	for _, e := range *v.a {
		if (e.k == kNull) != not {
			return triTrue
		}
	}
	return triFalse
}

// valueSet is the right side of IN: a literal list or a global
// sub-select's values, converted to the comparison's domain and sorted.
// Values that are NULL or do not convert make hasNull: they compare as
// UNKNOWN, so NOT IN is never true.
type valueSet struct {
	dom     domain
	vals    []Value
	hasNull bool
}

func newValueSet(d domain, vs []Value) *valueSet {
	s := &valueSet{dom: d}
	for _, v := range vs {
		if k, ok := setKey(v, d); ok {
			s.vals = append(s.vals, k)
		} else {
			s.hasNull = true
		}
	}
	sortValues(s.vals, d)
	return s
}

func setKey(v Value, d domain) (Value, bool) {
	switch d {
	case dStr:
		return v, v.k == kStr
	case dInt:
		n, ok := asInt(v)
		return Int(n), ok
	}
	return v, v.k == kTime
}

func compareKeys(a, b Value, d domain) int {
	if d == dStr {
		return compareFold(a.s, b.s)
	}
	return cmpInt(a.n, b.n)
}

func sortValues(vs []Value, d domain) {
	slices.SortFunc(vs, func(a, b Value) int { return compareKeys(a, b, d) })
}

// test is v [NOT] IN s; an array is true when any element is.
func (s *valueSet) test(v Value, not bool) tri {
	if len(s.vals) == 0 && !s.hasNull {
		return triOf(not) // even NULL is not IN an empty set
	}
	if v.k == kArray {
		res := triUnknown
		if len(*v.a) > 0 {
			res = triFalse
		}
		for _, e := range *v.a {
			if res = max(res, s.test(e, not)); res == triTrue {
				break
			}
		}
		return res
	}
	k, ok := setKey(v, s.dom)
	if !ok {
		return triUnknown
	}
	lo, hi := 0, len(s.vals)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareKeys(s.vals[m], k, s.dom) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	res := triFalse
	switch {
	case lo < len(s.vals) && compareKeys(s.vals[lo], k, s.dom) == 0:
		res = triTrue
	case s.hasNull:
		res = triUnknown
	}
	if not {
		return 2 - res
	}
	return res
}
