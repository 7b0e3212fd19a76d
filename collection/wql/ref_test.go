package wql

import (
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The reference evaluator: a direct, naive interpretation of a resolved
// query with SQL semantics. It joins rows of all resources literally (ON
// a.ResourceID = b.ResourceID in three-valued logic), builds every row
// combination, evaluates sub-selects over all resources as sets of values,
// applies UPPER and LOWER, and compares with its own conversions, folding
// and LIKE matcher. It shares only the parser and the name resolution with
// the package.

type refEval struct {
	s   *Schema
	all []*device
	now Value
}

// matches returns the IDs of the resources the query selects: the
// ResourceIDs of the FROM rows of the combinations whose WHERE is TRUE.
func (e *refEval) matches(q *Query) map[int64]bool {
	out := map[int64]bool{}
	sc := q.main
	for _, c := range e.combos(sc) {
		if e.cond(sc.where, c) == triTrue {
			rid := e.cell(c, 0, e.s.rid[sc.slots[0].class])
			out[rid.n] = true
		}
	}
	return out
}

// combos returns every row combination of the scope over all resources; a
// nil row is NULL-extended.
func (e *refEval) combos(sc *scope) [][]Row {
	var out [][]Row
	c0 := sc.slots[0].class
	for _, d := range e.all {
		for _, r := range d.rows[c0] {
			out = append(out, []Row{r})
		}
	}
	for j := 1; j < len(sc.slots); j++ {
		sl := sc.slots[j]
		var next [][]Row
		for _, c := range out {
			parent := e.cell(c, sl.parent, e.s.rid[sc.slots[sl.parent].class])
			var matched []Row
			for _, d := range e.all {
				for _, r := range d.rows[sl.class] {
					if e.cmpRef(cellAt(r, e.s.rid[sl.class]), parent, opEq, dInt) == triTrue {
						matched = append(matched, r)
					}
				}
			}
			if len(matched) == 0 && sl.left {
				matched = []Row{nil}
			}
			for _, r := range matched {
				next = append(next, append(append([]Row(nil), c...), r))
			}
		}
		out = next
	}
	return out
}

func (e *refEval) cell(c []Row, slot, prop int) Value {
	if c[slot] == nil {
		return Null()
	}
	return cellAt(c[slot], prop)
}

func (e *refEval) cond(c rcond, combo []Row) tri {
	switch c := c.(type) {
	case nil:
		return triTrue
	case *rlogic:
		res := triFalse
		if c.and {
			res = triTrue
		}
		for _, x := range c.xs {
			if v := e.cond(x, combo); c.and {
				res = min(res, v)
			} else {
				res = max(res, v)
			}
		}
		return res
	case *rnot:
		return 2 - e.cond(c.x, combo)
	case *rcmp:
		a, b := e.expr(c.a, combo), e.expr(c.b, combo)
		return anyPair(a, b, func(x, y Value) tri { return e.cmpRef(x, y, c.op, c.dom) })
	case *rlike:
		if c.pat == nil {
			return triUnknown
		}
		return anyElem(e.expr(c.a, combo), func(x Value) tri {
			if x.k != kStr {
				return triUnknown
			}
			return triOf(likeRef([]rune(x.s), []rune(c.text)) != c.not)
		})
	case *rin:
		items := c.list
		if c.sub != nil {
			items = nil
			for _, sc := range e.combos(c.sub) {
				if e.cond(c.sub.where, sc) == triTrue {
					items = append(items, e.cell(sc, c.sub.sel.slot, c.sub.sel.prop))
				}
			}
		}
		return anyElem(e.expr(c.a, combo), func(x Value) tri {
			res := triFalse // IN: OR of x = item
			if c.not {
				res = triTrue // NOT IN: AND of x != item
			}
			for _, it := range items {
				if c.not {
					res = min(res, e.cmpRef(x, it, opNe, c.dom))
				} else {
					res = max(res, e.cmpRef(x, it, opEq, c.dom))
				}
			}
			return res
		})
	case *risnull:
		return anyElem(e.expr(c.a, combo), func(x Value) tri { return triOf(x.IsNull() != c.not) })
	}
	panic("unknown condition")
}

// anyElem applies f to a scalar, or to each element of an array (an empty
// array being one NULL) and ORs the results.
func anyElem(v Value, f func(Value) tri) tri {
	if !v.IsArray() {
		return f(v)
	}
	es := v.Elems()
	if len(es) == 0 {
		es = []Value{Null()}
	}
	res := triFalse
	for _, x := range es {
		res = max(res, f(x))
	}
	return res
}

func anyPair(a, b Value, f func(x, y Value) tri) tri {
	return anyElem(a, func(x Value) tri { return anyElem(b, func(y Value) tri { return f(x, y) }) })
}

func (e *refEval) expr(x rexpr, combo []Row) Value {
	switch x := x.(type) {
	case *rcol:
		return e.cell(combo, x.slot, x.prop)
	case *rlit:
		return x.v
	case rnow:
		return e.now
	}
	c := x.(*rcall)
	a := e.expr(c.args[0], combo)
	switch c.fn {
	case fnUpper, fnLower:
		if a.k != kStr {
			return Null()
		}
		if c.fn == fnUpper {
			return Str(strings.ToUpper(a.s))
		}
		return Str(strings.ToLower(a.s))
	}
	b := e.expr(c.args[1], combo)
	if c.fn == fnDateDiff {
		if a.k != kTime || b.k != kTime {
			return Null()
		}
		return Int(refDateDiff(c.part, a.Time(), b.Time()))
	}
	n, ok := refInt(a)
	if !ok || b.k != kTime {
		return Null()
	}
	t := refDateAdd(c.part, n, b.Time())
	if t.Year() < 1 || t.Year() > 9999 {
		return Null()
	}
	return Time(t)
}

func (e *refEval) cmpRef(a, b Value, op cmpOp, d domain) tri {
	var c int
	switch d {
	case dStr:
		if a.k != kStr || b.k != kStr {
			return triUnknown
		}
		c = refCompareFold(a.s, b.s)
	case dInt:
		x, ok1 := refInt(a)
		y, ok2 := refInt(b)
		if !ok1 || !ok2 {
			return triUnknown
		}
		c = cmpInt(x, y)
	case dTime:
		if a.k != kTime || b.k != kTime {
			return triUnknown
		}
		c = a.Time().Compare(b.Time())
	}
	return map[cmpOp]tri{
		opEq: triOf(c == 0), opNe: triOf(c != 0), opLt: triOf(c < 0),
		opLe: triOf(c <= 0), opGt: triOf(c > 0), opGe: triOf(c >= 0),
	}[op]
}

func refInt(v Value) (int64, bool) {
	switch v.k {
	case kInt:
		return v.Int(), true
	case kBool:
		if v.Bool() {
			return 1, true
		}
		return 0, true
	case kStr:
		n, err := strconv.ParseInt(strings.Trim(v.s, " "), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func refFold(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }

func refCompareFold(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	for i := 0; i < len(ra) && i < len(rb); i++ {
		if x, y := refFold(ra[i]), refFold(rb[i]); x != y {
			return cmpInt(int64(x), int64(y))
		}
	}
	return cmpInt(int64(len(ra)), int64(len(rb)))
}

// likeRef is a recursive LIKE matcher over runes.
func likeRef(s, p []rune) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case '%':
		for k := 0; k <= len(s); k++ {
			if likeRef(s[k:], p[1:]) {
				return true
			}
		}
		return false
	case '_':
		return len(s) > 0 && likeRef(s[1:], p[1:])
	case '[':
		end := -1
		for i := 1; i < len(p); i++ {
			if p[i] == ']' {
				end = i
				break
			}
		}
		if end < 0 || len(s) == 0 {
			return false
		}
		set, neg := p[1:end], false
		if len(set) > 0 && set[0] == '^' {
			set, neg = set[1:], true
		}
		in := false
		for i := 0; i < len(set); i++ {
			lo, hi := set[i], set[i]
			if i+2 < len(set) && set[i+1] == '-' {
				hi = set[i+2]
				i += 2
			}
			for v := lo; v <= hi; v++ {
				if refFold(v) == refFold(s[0]) {
					in = true
				}
			}
		}
		return in != neg && likeRef(s[1:], p[end+1:])
	}
	return len(s) > 0 && refFold(s[0]) == refFold(p[0]) && likeRef(s[1:], p[1:])
}

func refDateDiff(p datePart, a, b time.Time) int64 {
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	switch p {
	case pYear:
		return int64(b.Year() - a.Year())
	case pQuarter:
		return int64((b.Year()*4 + (int(b.Month())-1)/3) - (a.Year()*4 + (int(a.Month())-1)/3))
	case pMonth:
		return int64((b.Year()*12 + int(b.Month())) - (a.Year()*12 + int(a.Month())))
	case pWeek:
		sunday := func(t time.Time) time.Time { return day(t).AddDate(0, 0, -int(t.Weekday())) }
		return int64(sunday(b).Sub(sunday(a)).Round(time.Hour).Hours() / 24 / 7)
	case pDay:
		return int64(day(b).Sub(day(a)).Round(time.Hour).Hours() / 24)
	case pHour:
		return int64(b.Truncate(time.Hour).Sub(a.Truncate(time.Hour)) / time.Hour)
	case pMinute:
		return int64(b.Truncate(time.Minute).Sub(a.Truncate(time.Minute)) / time.Minute)
	}
	return int64(b.Truncate(time.Second).Sub(a.Truncate(time.Second)) / time.Second)
}

func refDateAdd(p datePart, n int64, t time.Time) time.Time {
	months := map[datePart]int64{pYear: 12, pQuarter: 3, pMonth: 1}
	if m, ok := months[p]; ok {
		u := t.AddDate(0, int(n*m), 0)
		for u.Day() != t.Day() && u.Day() < 4 { // overflowed into the next month: clamp
			u = u.AddDate(0, 0, -1)
		}
		return u
	}
	units := map[datePart]time.Duration{pWeek: 7 * 24 * time.Hour, pDay: 24 * time.Hour, pHour: time.Hour,
		pMinute: time.Minute, pSecond: time.Second}
	return t.Add(time.Duration(n) * units[p])
}
