package wql

import (
	"strconv"
	"strings"
)

// The abstract syntax tree. Positions are byte offsets into the source.

type selectStmt struct {
	pos   int
	items []selItem // nil for select *
	from  classRef
	joins []join
	where cond // nil when there is no WHERE
	order []*ref
}

// selItem is one select-list item: Class.* (star set) or an expression.
type selItem struct {
	star bool
	qual string // Class or alias of Class.*
	pos  int
	x    operand
}

type classRef struct {
	name, alias   string
	pos, aliasPos int
}

type join struct {
	left  bool
	class classRef
	onPos int
	a, b  *ref // ON a = b
}

// cond is a condition: a node of the WHERE tree.
type cond interface{ at() int }

type (
	logicCond struct {
		pos int
		and bool // AND, else OR
		xs  []cond
	}
	notCond struct {
		pos int
		x   cond
	}
	cmpCond struct {
		pos  int // the operator
		op   cmpOp
		l, r operand
	}
	likeCond struct {
		pos  int // the LIKE keyword
		not  bool
		l, p operand
	}
	inCond struct {
		pos  int // the IN keyword
		not  bool
		l    operand
		list []operand
		sub  *selectStmt
	}
	nullCond struct {
		pos int // the IS keyword
		not bool
		x   operand
	}
)

func (c *logicCond) at() int { return c.pos }
func (c *notCond) at() int   { return c.pos }
func (c *cmpCond) at() int   { return c.pos }
func (c *likeCond) at() int  { return c.pos }
func (c *inCond) at() int    { return c.pos }
func (c *nullCond) at() int  { return c.pos }

// operand is a value expression.
type operand interface{ at() int }

type (
	// ref names a property, Qual.Name or Name.
	ref struct {
		qual, name   string
		qualPos, pos int // pos is the name's
	}
	lit struct {
		pos int
		v   Value
		str bool // a quoted literal, which converts to the other side's type
	}
	call struct {
		pos  int
		name string
		args []operand
	}
)

func (x *ref) at() int {
	if x.qual != "" {
		return x.qualPos
	}
	return x.pos
}
func (x *lit) at() int  { return x.pos }
func (x *call) at() int { return x.pos }

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOps = map[string]cmpOp{"=": opEq, "!=": opNe, "<>": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe}

// keywords may not be used as class, property or alias names.
var keywords = map[string]bool{
	"select": true, "distinct": true, "from": true, "where": true, "and": true, "or": true, "not": true,
	"like": true, "in": true, "is": true, "null": true, "as": true, "join": true, "inner": true,
	"left": true, "right": true, "full": true, "outer": true, "cross": true, "on": true, "order": true,
	"by": true, "true": true, "false": true,
}

// Statement is a parsed query, not yet checked against a schema.
type Statement struct {
	src  string
	toks []token
	sel  *selectStmt
}

// Parse parses src as a WQL select statement without a schema, so it finds
// syntax errors but not unknown names. Errors are *SyntaxError.
func Parse(src string) (*Statement, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	sel, err := p.statement()
	if err != nil {
		return nil, err
	}
	return &Statement{src: src, toks: toks, sel: sel}, nil
}

// Classes returns the class names the statement reads (FROM, joins and
// sub-selects) as written, in order of first appearance, without
// case-insensitive duplicates.
func (s *Statement) Classes() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(*selectStmt)
	var walkCond func(cond)
	add := func(name string) {
		if k := strings.ToLower(name); !seen[k] {
			seen[k] = true
			out = append(out, name)
		}
	}
	walk = func(sel *selectStmt) {
		add(sel.from.name)
		for _, j := range sel.joins {
			add(j.class.name)
		}
		walkCond(sel.where)
	}
	walkCond = func(c cond) {
		switch c := c.(type) {
		case *logicCond:
			for _, x := range c.xs {
				walkCond(x)
			}
		case *notCond:
			walkCond(c.x)
		case *inCond:
			if c.sub != nil {
				walk(c.sub)
			}
		}
	}
	walk(s.sel)
	return out
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int // how deeply conditions and calls nest at the next token
}

// maxDepth bounds how deeply conditions and function calls nest, so that no
// query can exhaust the stack.
const maxDepth = 100

// enter counts one more level of nesting; the caller defers p.depth--.
func (p *parser) enter() error {
	if p.depth++; p.depth > maxDepth {
		t := p.peek()
		return errorAt(p.src, t.pos, t.text, "the query nests more than %d levels deep", maxDepth)
	}
	return nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// isKw reports whether t is the keyword kw (lower case).
func isKw(t token, kw string) bool { return t.kind == tIdent && strings.EqualFold(t.val, kw) }

func (p *parser) acceptKw(kw string) bool {
	if isKw(p.peek(), kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) acceptPunct(s string) bool {
	if t := p.peek(); t.kind == tPunct && t.val == s {
		p.i++
		return true
	}
	return false
}

// unexpected returns an error at the next token.
func (p *parser) unexpected(want string) error {
	t := p.peek()
	if t.kind == tEOF {
		return errorAt(p.src, t.pos, "", "unexpected end of query, expected %s", want)
	}
	return errorAt(p.src, t.pos, t.text, "unexpected %q, expected %s", t.text, want)
}

func (p *parser) expectKw(kw string) error {
	if !p.acceptKw(kw) {
		return p.unexpected(strings.ToUpper(kw))
	}
	return nil
}

func (p *parser) expectPunct(s string) error {
	if !p.acceptPunct(s) {
		return p.unexpected(strconv.Quote(s))
	}
	return nil
}

// name reads an identifier that is not a keyword.
func (p *parser) name(what string) (token, error) {
	t := p.peek()
	if t.kind != tIdent || keywords[strings.ToLower(t.val)] {
		return t, p.unexpected(what)
	}
	p.i++
	return t, nil
}

func (p *parser) statement() (*selectStmt, error) {
	sel, err := p.selectStmt()
	if err != nil {
		return nil, err
	}
	p.acceptPunct(";") // a statement terminator, as queries copied from SQL tools carry
	if p.peek().kind != tEOF {
		return nil, p.unexpected("end of query")
	}
	return sel, nil
}

func (p *parser) selectStmt() (*selectStmt, error) {
	sel := &selectStmt{pos: p.peek().pos}
	if err := p.expectKw("select"); err != nil {
		return nil, err
	}
	p.acceptKw("distinct")
	if !p.acceptPunct("*") {
		for {
			it, err := p.selItem()
			if err != nil {
				return nil, err
			}
			sel.items = append(sel.items, it)
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	if err := p.expectKw("from"); err != nil {
		return nil, err
	}
	var err error
	if sel.from, err = p.classRef(); err != nil {
		return nil, err
	}
	for {
		j, ok, err := p.join()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		sel.joins = append(sel.joins, j)
	}
	if p.acceptKw("where") {
		if sel.where, err = p.or(); err != nil {
			return nil, err
		}
	}
	if p.acceptKw("order") {
		if err := p.expectKw("by"); err != nil {
			return nil, err
		}
		for {
			x, err := p.ref()
			if err != nil {
				return nil, err
			}
			sel.order = append(sel.order, x)
			_ = p.acceptKw("asc") || p.acceptKw("desc")
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	return sel, nil
}

func (p *parser) selItem() (selItem, error) {
	t := p.peek()
	if t.kind == tIdent && p.toks[p.i+1].val == "." && p.toks[p.i+2].val == "*" && !keywords[strings.ToLower(t.val)] {
		p.i += 3
		return selItem{star: true, qual: t.val, pos: t.pos}, nil
	}
	x, err := p.operand()
	if err != nil {
		return selItem{}, err
	}
	if p.acceptKw("as") {
		if _, err := p.name("a column alias"); err != nil {
			return selItem{}, err
		}
	} else if t := p.peek(); t.kind == tIdent && !keywords[strings.ToLower(t.val)] {
		p.i++ // a column alias without AS
	}
	return selItem{x: x, pos: t.pos}, nil
}

func (p *parser) classRef() (classRef, error) {
	t, err := p.name("a class name")
	if err != nil {
		return classRef{}, err
	}
	c := classRef{name: t.val, pos: t.pos}
	if p.acceptKw("as") {
		a, err := p.name("an alias")
		if err != nil {
			return classRef{}, err
		}
		c.alias, c.aliasPos = a.val, a.pos
	} else if a := p.peek(); a.kind == tIdent && !keywords[strings.ToLower(a.val)] {
		p.i++
		c.alias, c.aliasPos = a.val, a.pos
	}
	return c, nil
}

// join reads one [INNER | LEFT [OUTER]] JOIN Class ON a = b clause, if the
// next token starts one.
func (p *parser) join() (join, bool, error) {
	t := p.peek()
	var j join
	switch {
	case isKw(t, "inner"):
		p.i++
	case isKw(t, "left"):
		p.i++
		p.acceptKw("outer")
		j.left = true
	case isKw(t, "right") || isKw(t, "full") || isKw(t, "cross"):
		return j, false, errorAt(p.src, t.pos, t.text, "only INNER and LEFT joins are supported: a collection query selects resources, so every row must have one")
	case isKw(t, "join"):
	default:
		return j, false, nil
	}
	if err := p.expectKw("join"); err != nil {
		return j, false, err
	}
	var err error
	if j.class, err = p.classRef(); err != nil {
		return j, false, err
	}
	j.onPos = p.peek().pos
	if err := p.expectKw("on"); err != nil {
		return j, false, err
	}
	paren := p.acceptPunct("(")
	if j.a, err = p.ref(); err != nil {
		return j, false, err
	}
	if err := p.expectPunct("="); err != nil {
		return j, false, err
	}
	if j.b, err = p.ref(); err != nil {
		return j, false, err
	}
	if paren {
		if err := p.expectPunct(")"); err != nil {
			return j, false, err
		}
	}
	return j, true, nil
}

func (p *parser) or() (cond, error) { return p.logic(false) }

// logic reads a chain of AND (and set) or OR operands.
func (p *parser) logic(and bool) (cond, error) {
	kw, sub := "or", func() (cond, error) { return p.logic(true) }
	if and {
		kw, sub = "and", p.not
	}
	pos := p.peek().pos
	x, err := sub()
	if err != nil {
		return nil, err
	}
	xs := []cond{x}
	for p.acceptKw(kw) {
		y, err := sub()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return &logicCond{pos: pos, and: and, xs: xs}, nil
}

func (p *parser) not() (cond, error) {
	defer func() { p.depth-- }()
	if err := p.enter(); err != nil {
		return nil, err
	}
	if t := p.peek(); isKw(t, "not") {
		p.i++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &notCond{pos: t.pos, x: x}, nil
	}
	return p.predicate()
}

func (p *parser) predicate() (cond, error) {
	if p.acceptPunct("(") {
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		return x, p.expectPunct(")")
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if op, ok := cmpOps[t.val]; ok && t.kind == tPunct {
		p.i++
		r, err := p.operand()
		if err != nil {
			return nil, err
		}
		return &cmpCond{pos: t.pos, op: op, l: l, r: r}, nil
	}
	not := isKw(t, "not")
	if not {
		p.i++
		t = p.peek()
	}
	switch {
	case isKw(t, "like"):
		p.i++
		pat, err := p.operand()
		if err != nil {
			return nil, err
		}
		return &likeCond{pos: t.pos, not: not, l: l, p: pat}, nil
	case isKw(t, "in"):
		p.i++
		c := &inCond{pos: t.pos, not: not, l: l}
		if err := p.expectPunct("("); err != nil {
			return nil, err
		}
		if isKw(p.peek(), "select") {
			if c.sub, err = p.selectStmt(); err != nil {
				return nil, err
			}
		} else {
			for {
				x, err := p.operand()
				if err != nil {
					return nil, err
				}
				c.list = append(c.list, x)
				if !p.acceptPunct(",") {
					break
				}
			}
		}
		return c, p.expectPunct(")")
	case isKw(t, "is") && !not:
		p.i++
		c := &nullCond{pos: t.pos, x: l, not: p.acceptKw("not")}
		return c, p.expectKw("null")
	case not:
		return nil, p.unexpected("LIKE or IN")
	}
	return nil, p.unexpected("a comparison operator, LIKE, IN or IS")
}

func (p *parser) operand() (operand, error) {
	t := p.peek()
	switch t.kind {
	case tString:
		p.i++
		return &lit{pos: t.pos, v: Str(t.val), str: true}, nil
	case tNumber:
		p.i++
		return p.number(t, t.pos, false)
	case tPunct:
		if t.val == "-" && p.toks[p.i+1].kind == tNumber {
			p.i += 2
			return p.number(p.toks[p.i-1], t.pos, true)
		}
	case tIdent:
		switch strings.ToLower(t.val) {
		case "null":
			p.i++
			return &lit{pos: t.pos}, nil
		case "true", "false":
			p.i++
			return &lit{pos: t.pos, v: Bool(strings.EqualFold(t.val, "true"))}, nil
		}
		if keywords[strings.ToLower(t.val)] {
			break
		}
		if n := p.toks[p.i+1]; n.kind == tPunct && n.val == "(" {
			defer func() { p.depth-- }()
			if err := p.enter(); err != nil {
				return nil, err
			}
			p.i += 2
			c := &call{pos: t.pos, name: t.val}
			if p.acceptPunct(")") {
				return c, nil
			}
			for {
				x, err := p.operand()
				if err != nil {
					return nil, err
				}
				c.args = append(c.args, x)
				if !p.acceptPunct(",") {
					break
				}
			}
			return c, p.expectPunct(")")
		}
		return p.ref()
	}
	return nil, p.unexpected("a property, a literal or a function call")
}

func (p *parser) number(t token, pos int, neg bool) (operand, error) {
	s := t.val
	if neg {
		s = "-" + s
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, errorAt(p.src, t.pos, t.text, "number %s does not fit in 64 bits", s)
	}
	return &lit{pos: pos, v: Int(n)}, nil
}

// ref reads Name or Qualifier.Name.
func (p *parser) ref() (*ref, error) {
	t, err := p.name("a property name")
	if err != nil {
		return nil, err
	}
	if !p.acceptPunct(".") {
		return &ref{name: t.val, pos: t.pos}, nil
	}
	n, err := p.name("a property name")
	if err != nil {
		return nil, err
	}
	return &ref{qual: t.val, qualPos: t.pos, name: n.val, pos: n.pos}, nil
}
