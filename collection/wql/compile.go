package wql

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/consign/consign"
)

// Query is a compiled query rule: names resolved to schema indices, literals
// converted to the types they are compared with, LIKE patterns compiled.
// Prepare turns it into the closures Match runs. A Query is immutable and
// safe for concurrent use.
type Query struct {
	src     string
	schema  *Schema
	main    *scope
	subs    []*rin // every sub-select, inner ones before the ones holding them
	classes []int
	columns []Column
	global  bool
	usesNow bool
}

// scope is one SELECT: the classes it reads as slots (slot 0 is its FROM
// class, then one per join) and its WHERE.
type scope struct {
	slots []slot
	where rcond // nil when there is no WHERE
	sel   *rcol // the property a sub-select selects; nil for the main query
}

// slot is one class of a scope. A joined class is joined on its ResourceID
// equal to its parent's.
type slot struct {
	class  int
	parent int // the slot joined to; -1 for the FROM class
	left   bool
	alias  string
}

// maxSlots bounds the classes one SELECT may name, so a set of slots fits in
// a bit mask.
const maxSlots = 32

// domain is the type a comparison is carried out in, chosen at compile time
// from both sides' types.
type domain uint8

const (
	dStr domain = iota
	dInt
	dTime
)

// rexpr is a resolved value expression.
type rexpr interface{ typ() Type }

type (
	// rcol reads property prop of the row in slot slot.
	rcol struct {
		slot, prop int
		name       string // Class.Property, for messages
		t          Type
		array      bool
		rid        bool // the class's ResourceID
	}
	// rlit is a literal; NULL has type 0.
	rlit struct {
		v   Value
		str bool // a quoted literal, which converts to the other side's type
	}
	// rnow is GETDATE().
	rnow struct{}
	// rcall is UPPER, LOWER, DATEDIFF or DATEADD.
	rcall struct {
		fn   fnKind
		part datePart
		args []rexpr
	}
)

type fnKind uint8

const (
	fnUpper fnKind = iota
	fnLower
	fnDateDiff
	fnDateAdd
)

func (x *rcol) typ() Type { return x.t }
func (x *rlit) typ() Type { return x.v.Type() }
func (rnow) typ() Type    { return DateTime }
func (x *rcall) typ() Type {
	switch x.fn {
	case fnDateDiff:
		return Integer
	case fnDateAdd:
		return DateTime
	}
	return String
}

// rcond is a resolved condition.
type rcond interface{ cond() }

type (
	rlogic struct {
		and bool
		xs  []rcond
	}
	rnot struct{ x rcond }
	rcmp struct {
		op   cmpOp
		dom  domain
		a, b rexpr
	}
	rlike struct {
		not  bool
		a    rexpr
		text string   // the pattern as written
		pat  *pattern // nil when the pattern is NULL
	}
	// rin is IN over a literal list or a sub-select.
	rin struct {
		not  bool
		dom  domain
		a    rexpr
		list []Value // converted to dom; NULL items kept
		sub  *scope
		// perResource marks the ResourceID IN (SELECT ResourceID …) form,
		// which is true for a resource exactly when one of its own row
		// combinations satisfies the sub-select.
		perResource bool
	}
	risnull struct {
		not bool
		a   rexpr
	}
)

func (*rlogic) cond()  {}
func (*rnot) cond()    {}
func (*rcmp) cond()    {}
func (*rlike) cond()   {}
func (*rin) cond()     {}
func (*risnull) cond() {}

// Compile parses src and resolves it against s. Errors are *SyntaxError:
// unparseable text, an unknown class, property, alias or function, an
// ambiguous unqualified property, a join not on ResourceID, a function given
// the wrong number or types of arguments, a comparison of types that do not
// mix (a DateTime with an Integer) or a literal that does not convert (a
// DateTime compared with "yesterday"). ORDER BY is checked and ignored: it
// cannot change membership.
func Compile(src string, s *Schema) (*Query, error) {
	if s == nil {
		return nil, &consign.ValidationError{Field: "Schema", Rule: "must not be nil"}
	}
	st, err := Parse(src)
	if err != nil {
		return nil, err
	}
	c := &compiler{src: src, toks: st.toks, s: s, q: &Query{src: src, schema: s}}
	if c.q.main, err = c.scope(st.sel, false); err != nil {
		return nil, err
	}
	slices.Sort(c.q.classes)
	c.q.classes = slices.Compact(c.q.classes)
	slices.SortFunc(c.q.columns, func(a, b Column) int {
		return cmp.Or(cmp.Compare(a.Class, b.Class), cmp.Compare(a.Property, b.Property))
	})
	c.q.columns = slices.Compact(c.q.columns)
	return c.q, nil
}

// Source returns the query as written.
func (q *Query) Source() string { return q.src }

// Classes reports the schema indices of every class the query reads (FROM,
// joins, sub-selects), sorted, without duplicates. A change to a resource's
// rows of any other class cannot change whether it matches.
func (q *Query) Classes() []int { return slices.Clone(q.classes) }

// Column is a property of a class, as schema indices.
type Column struct{ Class, Property int }

// Columns reports every property the query names (in FROM, joins,
// sub-selects, the select list and ORDER BY), sorted by class and property,
// without duplicates. Match reads no other property of a row except the
// class's ResourceID, so a Resource may leave the others NULL: a caller
// that decodes rows on demand can decode only these.
func (q *Query) Columns() []Column { return slices.Clone(q.columns) }

// Global reports whether one resource's membership can depend on other
// resources' data: the query has a sub-select that is not of the
// ResourceID [NOT] IN (SELECT ResourceID FROM … WHERE …) form (for example
// Name IN (SELECT Name FROM …)), or is but reads a LEFT joined class's
// ResourceID on either side (a NULL there makes the answer depend on
// whether the sub-select returns anything at all). Such a query must be
// re-evaluated in full whenever any resource changes, and Prepare needs
// every resource.
func (q *Query) Global() bool { return q.global }

// UsesNow reports whether the query calls GETDATE(), so that its result can
// change with time alone.
func (q *Query) UsesNow() bool { return q.usesNow }

type compiler struct {
	src  string
	toks []token
	s    *Schema
	q    *Query
}

// errAt returns a *SyntaxError at the token starting at byte offset pos.
func (c *compiler) errAt(pos int, format string, args ...any) error {
	i, _ := slices.BinarySearchFunc(c.toks, pos, func(t token, pos int) int { return t.pos - pos })
	return errorAt(c.src, pos, c.toks[min(i, len(c.toks)-1)].text, format, args...)
}

// scope resolves one SELECT; sub is set for a sub-select, which must select
// exactly one property.
func (c *compiler) scope(sel *selectStmt, sub bool) (*scope, error) {
	sc := &scope{}
	if err := c.addSlot(sc, sel.from, -1, false); err != nil {
		return nil, err
	}
	for _, j := range sel.joins {
		if err := c.addSlot(sc, j.class, 0, j.left); err != nil {
			return nil, err
		}
		k := len(sc.slots) - 1
		a, err := c.column(sc, j.a)
		if err != nil {
			return nil, err
		}
		b, err := c.column(sc, j.b)
		if err != nil {
			return nil, err
		}
		if a.slot == k {
			a, b = b, a
		}
		if !a.rid || !b.rid || b.slot != k || a.slot == k {
			return nil, c.errAt(j.onPos, "a join must be ON %s.ResourceID = <an earlier class>.ResourceID",
				c.s.classes[sc.slots[k].class].Name)
		}
		sc.slots[k].parent = a.slot
	}
	items := make([]rexpr, len(sel.items))
	for i, it := range sel.items {
		var err error
		if it.star {
			_, err = c.slotByName(sc, it.qual, it.pos)
		} else {
			items[i], err = c.expr(sc, it.x)
		}
		if err != nil {
			return nil, err
		}
	}
	if sub {
		if len(items) != 1 || items[0] == nil {
			return nil, c.errAt(sel.pos, "a sub-select must select exactly one property")
		}
		col, ok := items[0].(*rcol)
		if !ok || col.array {
			return nil, c.errAt(sel.items[0].x.at(), "a sub-select must select one property that is not an array")
		}
		sc.sel = col
	}
	if sel.where != nil {
		var err error
		if sc.where, err = c.cond(sc, sel.where); err != nil {
			return nil, err
		}
	}
	for _, o := range sel.order {
		if _, err := c.column(sc, o); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

func (c *compiler) addSlot(sc *scope, cr classRef, parent int, left bool) error {
	ci, ok := c.s.ClassIndex(cr.name)
	if !ok {
		return c.errAt(cr.pos, "unknown class %q", cr.name)
	}
	if len(sc.slots) == maxSlots {
		return c.errAt(cr.pos, "too many joins: a select may name at most %d classes", maxSlots)
	}
	for _, sl := range sc.slots {
		if cr.alias != "" && strings.EqualFold(sl.alias, cr.alias) {
			return c.errAt(cr.aliasPos, "alias %q is used twice", cr.alias)
		}
	}
	sc.slots = append(sc.slots, slot{class: ci, parent: parent, left: left, alias: cr.alias})
	c.q.classes = append(c.q.classes, ci)
	return nil
}

// slotByName finds the slot an alias or class name names.
func (c *compiler) slotByName(sc *scope, name string, pos int) (int, error) {
	for i, sl := range sc.slots {
		if strings.EqualFold(sl.alias, name) {
			return i, nil
		}
	}
	found := -1
	for i, sl := range sc.slots {
		if strings.EqualFold(c.s.classes[sl.class].Name, name) {
			if found >= 0 {
				return 0, c.errAt(pos, "class %s appears more than once in this select: qualify with an alias", c.s.classes[sl.class].Name)
			}
			found = i
		}
	}
	if found >= 0 {
		return found, nil
	}
	if ci, ok := c.s.ClassIndex(name); ok {
		return 0, c.errAt(pos, "class %s is not in the FROM clause of this select", c.s.classes[ci].Name)
	}
	return 0, c.errAt(pos, "unknown class or alias %q", name)
}

// column resolves a property reference. An unqualified name must belong to
// exactly one class of the select.
func (c *compiler) column(sc *scope, x *ref) (*rcol, error) {
	if x.qual != "" {
		i, err := c.slotByName(sc, x.qual, x.qualPos)
		if err != nil {
			return nil, err
		}
		return c.prop(sc, i, x)
	}
	found := -1
	for i, sl := range sc.slots {
		if _, ok := c.s.PropertyIndex(sl.class, x.name); ok {
			if found >= 0 {
				return nil, c.errAt(x.pos, "ambiguous property %q: both %s and %s have it; qualify it",
					x.name, c.s.classes[sc.slots[found].class].Name, c.s.classes[sl.class].Name)
			}
			found = i
		}
	}
	if found < 0 {
		names := make([]string, len(sc.slots))
		for i, sl := range sc.slots {
			names[i] = c.s.classes[sl.class].Name
		}
		return nil, c.errAt(x.pos, "unknown property %q of class %s", x.name, strings.Join(names, " or "))
	}
	return c.prop(sc, found, x)
}

func (c *compiler) prop(sc *scope, i int, x *ref) (*rcol, error) {
	cl := &c.s.classes[sc.slots[i].class]
	pi, ok := c.s.PropertyIndex(sc.slots[i].class, x.name)
	if !ok {
		return nil, c.errAt(x.pos, "unknown property %q of class %s", x.name, cl.Name)
	}
	p := cl.Properties[pi]
	c.q.columns = append(c.q.columns, Column{sc.slots[i].class, pi})
	return &rcol{slot: i, prop: pi, name: cl.Name + "." + p.Name, t: p.Type, array: p.Array,
		rid: pi == c.s.rid[sc.slots[i].class]}, nil
}

func (c *compiler) cond(sc *scope, x cond) (rcond, error) {
	switch x := x.(type) {
	case *logicCond:
		l := &rlogic{and: x.and, xs: make([]rcond, len(x.xs))}
		for i, y := range x.xs {
			var err error
			if l.xs[i], err = c.cond(sc, y); err != nil {
				return nil, err
			}
		}
		return l, nil
	case *notCond:
		y, err := c.cond(sc, x.x)
		if err != nil {
			return nil, err
		}
		return &rnot{x: y}, nil
	case *cmpCond:
		a, err := c.expr(sc, x.l)
		if err != nil {
			return nil, err
		}
		b, err := c.expr(sc, x.r)
		if err != nil {
			return nil, err
		}
		d, err := c.domain(x.pos, a, b)
		if err != nil {
			return nil, err
		}
		if a, err = c.convert(x.l, a, d); err != nil {
			return nil, err
		}
		if b, err = c.convert(x.r, b, d); err != nil {
			return nil, err
		}
		return &rcmp{op: x.op, dom: d, a: a, b: b}, nil
	case *likeCond:
		a, err := c.expr(sc, x.l)
		if err != nil {
			return nil, err
		}
		if t := a.typ(); t != String && t != 0 {
			return nil, c.errAt(x.l.at(), "LIKE needs a String, not %s", article(t))
		}
		p, ok := x.p.(*lit)
		if !ok || !p.str && !p.v.IsNull() {
			return nil, c.errAt(x.p.at(), "a LIKE pattern must be a quoted string")
		}
		l := &rlike{not: x.not, a: a, text: p.v.s}
		if p.str {
			l.pat = compilePattern(p.v.s)
		}
		return l, nil
	case *inCond:
		a, err := c.expr(sc, x.l)
		if err != nil {
			return nil, err
		}
		if x.sub != nil {
			return c.inSub(sc, x, a)
		}
		return c.inList(sc, x, a)
	case *nullCond:
		a, err := c.expr(sc, x.x)
		if err != nil {
			return nil, err
		}
		return &risnull{not: x.not, a: a}, nil
	}
	panic("wql: unknown condition") // unreachable: the parser makes only the types above
}

func (c *compiler) inList(sc *scope, x *inCond, a rexpr) (rcond, error) {
	in := &rin{not: x.not, a: a}
	items := make([]rexpr, len(x.list))
	have := false
	for i, it := range x.list {
		l, ok := it.(*lit)
		if !ok {
			return nil, c.errAt(it.at(), "IN list items must be literals")
		}
		items[i] = &rlit{v: l.v, str: l.str}
		if l.v.IsNull() {
			continue
		}
		d, err := c.domain(it.at(), a, items[i])
		if err != nil {
			return nil, err
		}
		if have && d != in.dom {
			return nil, c.errAt(it.at(), "IN list items must all convert to one type")
		}
		in.dom, have = d, true
	}
	if !have {
		in.dom = natural(a.typ())
	}
	var err error
	if in.a, err = c.convert(x.l, a, in.dom); err != nil {
		return nil, err
	}
	for i, it := range items {
		v, err := c.convert(x.list[i], it, in.dom)
		if err != nil {
			return nil, err
		}
		in.list = append(in.list, v.(*rlit).v)
	}
	return in, nil
}

func (c *compiler) inSub(sc *scope, x *inCond, a rexpr) (rcond, error) {
	sub, err := c.scope(x.sub, true)
	if err != nil {
		return nil, err
	}
	in := &rin{not: x.not, a: a, sub: sub}
	if in.dom, err = c.domain(x.pos, a, sub.sel); err != nil {
		return nil, err
	}
	if in.a, err = c.convert(x.l, a, in.dom); err != nil {
		return nil, err
	}
	col, ok := a.(*rcol)
	// A NULL on either side would make the answer depend on whether the
	// sub-select returns anything at all, which other resources decide.
	in.perResource = ok && col.rid && !sc.nullable(col.slot) && sub.sel.rid && !sub.nullable(sub.sel.slot)
	c.q.global = c.q.global || !in.perResource
	c.q.subs = append(c.q.subs, in)
	return in, nil
}

// nullable reports whether slot i can be NULL-extended: it or a slot it is
// joined through is LEFT joined.
func (sc *scope) nullable(i int) bool {
	for ; i > 0; i = sc.slots[i].parent {
		if sc.slots[i].left {
			return true
		}
	}
	return false
}

func (c *compiler) expr(sc *scope, x operand) (rexpr, error) {
	switch x := x.(type) {
	case *ref:
		return c.column(sc, x)
	case *lit:
		return &rlit{v: x.v, str: x.str}, nil
	case *call:
		return c.call(sc, x)
	}
	panic("wql: unknown operand") // unreachable: the parser makes only the types above
}

// functions maps a function name to its arity.
var functions = map[string]int{"upper": 1, "lower": 1, "getdate": 0, "datediff": 3, "dateadd": 3}

func (c *compiler) call(sc *scope, x *call) (rexpr, error) {
	name := strings.ToLower(x.name)
	arity, ok := functions[name]
	if !ok {
		return nil, c.errAt(x.pos, "unknown function %s (WQL here has UPPER, LOWER, DATEDIFF, DATEADD and GETDATE)", x.name)
	}
	if len(x.args) != arity {
		return nil, c.errAt(x.pos, "%s takes %d argument%s, got %d", strings.ToUpper(name), arity, plural(arity), len(x.args))
	}
	switch name {
	case "getdate":
		c.q.usesNow = true
		return rnow{}, nil
	case "upper", "lower":
		a, err := c.arg(sc, x, 0, String)
		if err != nil {
			return nil, err
		}
		if l, ok := a.(*rlit); ok && !l.v.IsNull() {
			s := strings.ToUpper(l.v.s)
			if name == "lower" {
				s = strings.ToLower(l.v.s)
			}
			return &rlit{v: Str(s), str: true}, nil
		}
		fn := fnUpper
		if name == "lower" {
			fn = fnLower
		}
		return &rcall{fn: fn, args: []rexpr{a}}, nil
	}
	part, err := c.datePart(x.args[0])
	if err != nil {
		return nil, err
	}
	if name == "datediff" {
		a, err := c.arg(sc, x, 1, DateTime)
		if err != nil {
			return nil, err
		}
		b, err := c.arg(sc, x, 2, DateTime)
		if err != nil {
			return nil, err
		}
		return &rcall{fn: fnDateDiff, part: part, args: []rexpr{a, b}}, nil
	}
	n, err := c.arg(sc, x, 1, Integer)
	if err != nil {
		return nil, err
	}
	d, err := c.arg(sc, x, 2, DateTime)
	if err != nil {
		return nil, err
	}
	return &rcall{fn: fnDateAdd, part: part, args: []rexpr{n, d}}, nil
}

// arg resolves argument i of a call, which must have type t (a Boolean
// passes for an Integer) or convert to it.
func (c *compiler) arg(sc *scope, x *call, i int, t Type) (rexpr, error) {
	a, err := c.expr(sc, x.args[i])
	if err != nil {
		return nil, err
	}
	if col, ok := a.(*rcol); ok && col.array {
		return nil, c.errAt(x.args[i].at(), "array property %s cannot be a function argument", col.name)
	}
	at := a.typ()
	if at == t || at == 0 || t == Integer && at == Boolean || isStrLit(a) {
		return c.convert(x.args[i], a, natural(t))
	}
	return nil, c.errAt(x.args[i].at(), "%s needs %s as argument %d, not %s", strings.ToUpper(x.name), article(t), i+1, article(at))
}

func (c *compiler) datePart(x operand) (datePart, error) {
	if r, ok := x.(*ref); ok && r.qual == "" {
		if p, ok := dateParts[strings.ToLower(r.name)]; ok {
			return p, nil
		}
	}
	return 0, c.errAt(x.at(), "unknown date part (use yy, qq, mm, wk, dd, hh, mi or ss)")
}

// natural is the domain a type compares in by itself.
func natural(t Type) domain {
	switch t {
	case Integer, Boolean:
		return dInt
	case DateTime:
		return dTime
	}
	return dStr
}

func isStrLit(x rexpr) bool {
	l, ok := x.(*rlit)
	return ok && l.str
}

// domain chooses the domain a and b compare in, as SQL Server converts
// them: Integers and Booleans (as 0 and 1) numerically; a String against a
// number numerically (a quoted literal is converted now, a String property
// per row); a DateTime against a quoted literal as a DateTime. NULL compares
// with anything. A String property value that is not a number compares as
// UNKNOWN: SQL Server would fail the whole query, which would let one odd
// inventory value empty a collection.
func (c *compiler) domain(pos int, a, b rexpr) (domain, error) {
	ta, tb := a.typ(), b.typ()
	switch {
	case ta == 0 && tb == 0:
		return dStr, nil
	case ta == 0:
		return natural(tb), nil
	case tb == 0 || natural(ta) == natural(tb):
		return natural(ta), nil
	case ta == String && natural(tb) == dInt || tb == String && natural(ta) == dInt:
		return dInt, nil
	case ta == DateTime && isStrLit(b) || tb == DateTime && isStrLit(a):
		return dTime, nil
	}
	return 0, c.errAt(pos, "cannot compare %s with %s", article(ta), article(tb))
}

// convert converts a literal to domain d.
func (c *compiler) convert(x operand, a rexpr, d domain) (rexpr, error) {
	l, ok := a.(*rlit)
	if !ok || l.v.IsNull() {
		return a, nil
	}
	switch {
	case d == dInt && l.v.k == kStr:
		n, err := strconv.ParseInt(strings.TrimSpace(l.v.s), 10, 64)
		if err != nil {
			return nil, c.errAt(x.at(), "%q is not a number", l.v.s)
		}
		return &rlit{v: Int(n)}, nil
	case d == dInt && l.v.k == kBool:
		return &rlit{v: Int(l.v.n)}, nil
	case d == dTime && l.v.k == kStr:
		v, ok := parseDateTime(l.v.s)
		if !ok {
			return nil, c.errAt(x.at(), "%q is not a date and time (write yyyy-mm-dd hh:mm:ss or yyyymmddHHMMSS.mmmmmm+UUU)", l.v.s)
		}
		return &rlit{v: v}, nil
	}
	return a, nil
}

func article(t Type) string {
	switch t {
	case 0:
		return "NULL"
	case Integer:
		return "an Integer"
	}
	return "a " + t.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
