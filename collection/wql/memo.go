package wql

import "sync/atomic"

// Memoisation. A caller that interns its repeated values (DisplayName,
// Publisher, OU paths, subnets) tags each with a dense id (Sym, Interned).
// A WHERE term that reads a single column of the row at hand, and nothing
// that depends on the resource otherwise, is a function of that column's
// value: its outcome is kept per id, so the LIKE, comparison or IN list runs
// once per distinct value instead of once per row. The outcome is fixed for
// a Prepared (GETDATE() and global sub-selects are folded by Prepare).
//
// Prepared is safe for concurrent use, so the memo is made of atomics: a
// cell holds 16 outcomes of 2 bits (0 = not known yet, else tri+1), set with
// an atomic OR; the cells grow by copy and compare-and-swap, to cover the
// largest id seen (4 bytes per 16 ids). Two goroutines computing the same
// outcome store the same bits, and an outcome stored into cells being
// replaced by a larger copy is only computed again.

// memo keeps outcomes by id.
type memo struct {
	cells atomic.Pointer[[]atomic.Uint32]
}

// get returns the outcome kept for id, and whether there is one.
func (m *memo) get(id uint32) (tri, bool) {
	if p := m.cells.Load(); p != nil && int(id>>4) < len(*p) {
		v := (*p)[id>>4].Load() >> (id & 15 * 2) & 3
		return tri(v) - 1, v != 0
	}
	return 0, false
}

// put keeps t as the outcome for id.
func (m *memo) put(id uint32, t tri) {
	i := int(id >> 4)
	p := m.cells.Load()
	for p == nil || i >= len(*p) {
		n := max(64, 2*i)
		cells := make([]atomic.Uint32, n)
		if p != nil {
			for j := range *p {
				cells[j].Store((*p)[j].Load())
			}
		}
		if m.cells.CompareAndSwap(p, &cells) {
			p = &cells
		} else {
			p = m.cells.Load()
		}
	}
	(*p)[i].Or(uint32(t+1) << (id & 15 * 2))
}

// memoised wraps p, a pred whose outcome depends only on property prop of
// the row at hand, so that it runs once per id of that property's values.
func memoised(p pred, prop int) pred {
	m := &memo{}
	return func(r Resource, row Row) tri {
		if prop < len(row) {
			if v := &row[prop]; v.n > 0 && (v.k == kStr || v.k == kArray) {
				id := uint32(v.n - 1)
				if t, ok := m.get(id); ok {
					return t
				}
				t := p(r, row)
				m.put(id, t)
				return t
			}
		}
		return p(r, row)
	}
}

// singleColumn returns the property of slot own that c reads, when that is
// the only column c reads and c holds no per-resource sub-select (whose
// outcome depends on the resource's other rows).
func singleColumn(c rcond, own int) (*rcol, bool) {
	var col *rcol
	prop := -1
	ok := true
	var expr func(x rexpr)
	expr = func(x rexpr) {
		switch x := x.(type) {
		case *rcol:
			if x.slot != own || prop >= 0 && x.prop != prop {
				ok = false
			}
			prop, col = x.prop, x
		case *rcall:
			for _, a := range x.args {
				expr(a)
			}
		}
	}
	var cond func(c rcond)
	cond = func(c rcond) {
		switch c := c.(type) {
		case *rlogic:
			for _, x := range c.xs {
				cond(x)
			}
		case *rnot:
			cond(c.x)
		case *rcmp:
			expr(c.a)
			expr(c.b)
		case *rlike:
			expr(c.a)
		case *rin:
			if c.sub != nil && c.perResource {
				ok = false
			}
			expr(c.a)
		case *risnull:
			expr(c.a)
		default:
			ok = false
		}
	}
	cond(c)
	return col, ok && col != nil
}
