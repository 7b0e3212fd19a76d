package collection

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/consign/consign/collection/wql"
)

// Devices are kept encoded, a few hundred bytes each, and decoded into
// reusable wql rows only while an evaluation reads them: a wql.Value is 40
// bytes, so a million devices held as rows would take gigabytes.
//
// A device's encoding is one section per schema class, in schema order, each
// prefixed by its length in bytes (so a decoder skips the classes a query does
// not read, and PutDevice finds the classes that changed by comparing
// sections). A section is stored by column: its row count (absent for class
// 0, which has one row), its count of columns (the properties up to the last
// one any row has a value for), then each column as its length in bytes and
// the values of every row, or length 0 when every row's is NULL. A decoder
// thus skips the columns no query reads with one length, and NULL columns
// (GroupID, RevisionID, …) cost a byte per class instead of one per row.
// ResourceID is not stored (its column is empty): every row gets the
// device's.
//
// A value starts with a tag byte: 0 is NULL. A String is tag 1 and an
// interned id, or tag 2, a length and the bytes. An Integer is tag 1 and a
// zig-zag varint; a DateTime is tag 1 and a varint of Unix seconds×2, or
// microseconds×2+1 when it has a fraction of a second; a Boolean is tag 1
// (false) or 2 (true). An array is tag 1 and an interned id, or tag 2, an
// element count and the elements, each encoded as a single value.
const (
	tagNull   = 0
	tagIntern = 1 // also "present" for Integers and DateTimes, false for Booleans
	tagInline = 2 // also true for Booleans
)

// layout is what encoding needs to know about a schema.
type layout struct {
	schema   *wql.Schema
	classes  []*wql.Class
	classIdx map[string]int         // by the schema's spelling
	propIdx  []map[string]int       // per class, by the schema's spelling
	rid      []int                  // per class: index of ResourceID
	statBase []int                  // per class: first index of its properties in interner.stats
	field    [len(deviceFields)]int // SMS_R_System index of each Device field, -1 when the schema lacks it
	sysField []bool                 // by SMS_R_System index: whether a Device field sets it
}

func newLayout(s *wql.Schema) *layout {
	l := &layout{schema: s, classIdx: map[string]int{}}
	n := 0 // properties so far
	for c := range s.NumClasses() {
		cl := s.Class(c)
		l.classIdx[cl.Name] = c
		idx := make(map[string]int, len(cl.Properties))
		for j, p := range cl.Properties {
			idx[p.Name] = j
		}
		l.propIdx = append(l.propIdx, idx)
		rid, _ := s.PropertyIndex(c, wql.ResourceID)
		l.classes = append(l.classes, cl)
		l.rid = append(l.rid, rid)
		l.statBase = append(l.statBase, n)
		n += len(cl.Properties)
	}
	l.sysField = make([]bool, len(l.classes[0].Properties))
	for i, f := range deviceFields {
		l.field[i] = -1
		if j, ok := s.PropertyIndex(0, f.Name); ok && l.classes[0].Properties[j] == f.Property {
			l.field[i] = j
			l.sysField[j] = true
		}
	}
	return l
}

// class returns the index of the class named name, trying the schema's
// spelling before the case-insensitive lookup (which allocates).
func (l *layout) class(name string) (int, bool) {
	if c, ok := l.classIdx[name]; ok {
		return c, true
	}
	return l.schema.ClassIndex(name)
}

// property returns the index of property name of class c, like class.
func (l *layout) property(c int, name string) (int, bool) {
	if j, ok := l.propIdx[c][name]; ok {
		return j, true
	}
	return l.schema.PropertyIndex(c, name)
}

// interner shares the String and array values that repeat across devices
// (DisplayName, Publisher, OU paths, subnets), so each is stored once and
// decodes without allocating, and carries its index as its wql id (wql.Sym),
// by which a wql.Prepared memoises conditions. Whether a property's values
// are worth interning is learned per property: while the values it has
// interned (past the first 32) outnumber the repeats found among them
// (names, GUIDs, IP addresses), further new ones are stored inline. (Counting
// the new values stored inline as well, as this once did, starves a property
// with a few hundred values spread evenly, such as subnets: its first values
// cannot repeat often enough to keep up, and most devices then stored theirs
// inline.) The table only grows.
type interner struct {
	strs map[string]uint32
	// arrs holds the interned arrays by element type, each keyed by its
	// inline encoding (which does not say the type: an Integer 2 and a
	// DateTime one second after 1970 encode alike).
	arrs  [wql.Boolean + 1]map[string]uint32
	vals  []wql.Value
	stats []internStat // per class property, indexed via layout.statBase
}

// internStat counts a property's lookups that found their value (hits) and
// the values it added (added).
type internStat struct{ hits, added uint32 }

func newInterner(l *layout) interner {
	n := l.statBase[len(l.statBase)-1] + len(l.classes[len(l.classes)-1].Properties)
	in := interner{strs: map[string]uint32{}, stats: make([]internStat, n)}
	for t := range in.arrs {
		in.arrs[t] = map[string]uint32{}
	}
	return in
}

// lookup returns key's id in m, adding it (with the value mk makes) while the
// property's values repeat often enough.
func (in *interner) lookup(m map[string]uint32, stat int, key string, mk func() wql.Value) (uint32, bool) {
	st := &in.stats[stat]
	if id, ok := m[key]; ok {
		st.hits++
		return id, true
	}
	if st.added >= 32 && st.added > st.hits {
		return 0, false
	}
	st.added++
	id := uint32(len(in.vals))
	// The id tags the value, so that a wql.Prepared memoises conditions on
	// it (see wql.Sym).
	in.vals = append(in.vals, wql.Interned(mk(), int32(id)))
	m[strings.Clone(key)] = id
	return id, true
}

// encoder turns rows into a device encoding.
type encoder struct {
	l   *layout
	in  *interner
	buf []byte // the device so far
	sec []byte // the section being built
	col []byte // the column being built
	arr []byte // an inline array being built
}

// encode returns the encoding of a device's rows.
func (e *encoder) encode(rows [][]wql.Row) []byte {
	e.buf = e.buf[:0]
	for c, r := range rows {
		e.section(c, r)
	}
	return bytes.Clone(e.buf)
}

// section appends the rows of class c as one section.
func (e *encoder) section(c int, rows []wql.Row) {
	e.sec = e.sec[:0]
	if c != 0 {
		e.sec = binary.AppendUvarint(e.sec, uint64(len(rows)))
	}
	rid := e.l.rid[c]
	ncols := 0
	for _, row := range rows {
		for j := len(row) - 1; j >= ncols; j-- {
			if j != rid && !row[j].IsNull() {
				ncols = j + 1
				break
			}
		}
	}
	e.sec = binary.AppendUvarint(e.sec, uint64(ncols))
	for j := range ncols {
		e.col = e.col[:0]
		null := true
		if j != rid {
			for _, row := range rows {
				var v wql.Value
				if j < len(row) {
					v = row[j]
				}
				null = null && v.IsNull()
				e.col = e.value(e.col, e.l.classes[c].Properties[j], e.l.statBase[c]+j, v)
			}
		}
		if null {
			e.sec = append(e.sec, 0)
			continue
		}
		e.sec = binary.AppendUvarint(e.sec, uint64(len(e.col)))
		e.sec = append(e.sec, e.col...)
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(len(e.sec)))
	e.buf = append(e.buf, e.sec...)
}

func (e *encoder) value(b []byte, p wql.Property, stat int, v wql.Value) []byte {
	if v.IsNull() {
		return append(b, tagNull)
	}
	if !p.Array {
		return e.scalar(b, p.Type, stat, v, true)
	}
	elems := v.Elems()
	e.arr = e.inlineArray(e.arr[:0], p.Type, elems)
	id, ok := e.in.lookup(e.in.arrs[p.Type], stat, string(e.arr), func() wql.Value { return cloneArray(elems) })
	if ok {
		b = append(b, tagIntern)
		return binary.AppendUvarint(b, uint64(id))
	}
	b = append(b, tagInline)
	return append(b, e.arr...)
}

// inlineArray appends the inline encoding of an array of elements of type
// t: a count and each element as a single value. It is also the array's
// key among the interned arrays of its type.
func (e *encoder) inlineArray(b []byte, t wql.Type, elems []wql.Value) []byte {
	b = binary.AppendUvarint(b, uint64(len(elems)))
	for _, x := range elems {
		b = e.scalar(b, t, 0, x, false)
	}
	return b
}

// scalar encodes one single value; intern says whether a String may be
// interned (array elements are not: the array as a whole is).
func (e *encoder) scalar(b []byte, t wql.Type, stat int, v wql.Value, intern bool) []byte {
	if v.IsNull() {
		return append(b, tagNull)
	}
	switch t {
	case wql.String:
		s := v.String()
		if intern {
			if id, ok := e.in.lookup(e.in.strs, stat, s, func() wql.Value { return wql.Str(strings.Clone(s)) }); ok {
				b = append(b, tagIntern)
				return binary.AppendUvarint(b, uint64(id))
			}
		}
		b = append(b, tagInline)
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	case wql.Integer:
		return binary.AppendVarint(append(b, tagIntern), v.Int())
	case wql.DateTime:
		us := v.Time().UnixMicro()
		if us%1e6 == 0 {
			return binary.AppendVarint(append(b, tagIntern), us/1e6*2)
		}
		return binary.AppendVarint(append(b, tagIntern), us*2+1)
	default: // wql.Boolean
		if v.Bool() {
			return append(b, tagInline)
		}
		return append(b, tagIntern)
	}
}

func cloneArray(elems []wql.Value) wql.Value {
	cp := make([]wql.Value, len(elems))
	for i, x := range elems {
		cp[i] = x
		if x.Type() == wql.String {
			cp[i] = wql.Str(strings.Clone(x.String()))
		}
	}
	return wql.Array(cp...)
}

// sections splits an encoding into its class sections.
func sections(data []byte, n int, out [][]byte) [][]byte {
	out = out[:0]
	for range n {
		l, k := binary.Uvarint(data)
		out = append(out, data[k:k+int(l)])
		data = data[k+int(l):]
	}
	return out
}

// changedClasses returns the classes whose sections differ between two
// encodings of the same schema.
func changedClasses(a, b []byte, n int) classSet {
	var sa, sb [][]byte
	sa, sb = sections(a, n, sa), sections(b, n, sb)
	var cs classSet
	for c := range n {
		if !bytes.Equal(sa[c], sb[c]) {
			cs = cs.add(c)
		}
	}
	return cs
}

// classSet is a set of class indices. Classes from 63 on share bit 63: a
// set may then claim a class it lacks, which only costs extra evaluation.
type classSet uint64

func (s classSet) add(c int) classSet    { return s | 1<<min(c, 63) }
func (s classSet) meets(t classSet) bool { return s&t != 0 }
func allClasses() classSet               { return ^classSet(0) }
func classesOf(cs []int) (s classSet) {
	for _, c := range cs {
		s = s.add(c)
	}
	return s
}

// resource is one decoded device, a wql.Resource. It decodes a class on the
// first Rows call for it and reuses its buffers from device to device, so
// evaluation does not allocate (except for arrays stored inline, which
// wql.Array copies).
//
// When need is set, only the properties it marks (indexed like
// interner.stats) are decoded; the others read NULL. The Engine points it at
// the union of the columns its queries read (wql.Query.Columns).
type resource struct {
	l    *layout
	in   *interner
	need []bool
	rid  uint32
	secs [][]byte
	rows [][]wql.Row // per class, valid when done
	done []bool
	vals []wql.Value
	buf  []wql.Row
	elem []wql.Value
}

// load points r at device rid with encoding data.
func (r *resource) load(l *layout, in *interner, rid uint32, data []byte) {
	n := len(l.classes)
	r.l, r.in, r.rid = l, in, rid
	r.secs = sections(data, n, r.secs)
	if len(r.done) != n {
		r.done = make([]bool, n)
		r.rows = make([][]wql.Row, n)
	}
	clear(r.done)
	r.vals, r.buf = r.vals[:0], r.buf[:0]
}

// Rows implements wql.Resource.
func (r *resource) Rows(c int) []wql.Row {
	if !r.done[c] {
		r.decode(c)
	}
	return r.rows[c]
}

func (r *resource) decode(c int) {
	b := r.secs[c]
	pos, nrows := 0, uint64(1)
	if c != 0 {
		nrows, pos = uvarint(b, 0)
	}
	ncols, pos := uvarint(b, pos)
	props := r.l.classes[c].Properties
	rid := r.l.rid[c]
	width := int(ncols)
	var need []bool
	if r.need != nil {
		base := r.l.statBase[c]
		need = r.need[base : base+len(props)]
		width = min(width, lastTrue(need)+1)
	}
	width = max(width, rid+1)
	start := len(r.vals)
	r.vals = slices.Grow(r.vals, int(nrows)*width)[:start+int(nrows)*width]
	vals := r.vals[start:]
	clear(vals)
	first := len(r.buf)
	for i := range int(nrows) {
		row := vals[i*width : (i+1)*width : (i+1)*width]
		row[rid] = wql.Int(int64(r.rid))
		r.buf = append(r.buf, row)
	}
	rows := r.buf[first:len(r.buf):len(r.buf)]
	for j := range min(int(ncols), width) {
		var n uint64
		n, pos = uvarint(b, pos)
		if n == 0 {
			continue
		}
		if need == nil || need[j] {
			p, prop := pos, &props[j]
			if prop.Type == wql.String && !prop.Array { // most columns: interned Strings
				vals := r.in.vals
				for _, row := range rows {
					if b[p] == tagIntern {
						var id uint64
						id, p = uvarint(b, p+1)
						row[j] = vals[id]
					} else {
						p = r.scalar(&row[j], wql.String, b, p)
					}
				}
			} else {
				for _, row := range rows {
					p = r.value(&row[j], prop, b, p)
				}
			}
		}
		pos += int(n)
	}
	r.rows[c] = rows
	r.done[c] = true
}

// lastTrue returns the index of the last true in bs, or -1.
func lastTrue(bs []bool) int {
	for i := len(bs) - 1; i >= 0; i-- {
		if bs[i] {
			return i
		}
	}
	return -1
}

// value decodes the value of property p at b[pos:] into dst and returns the
// position after it.
func (r *resource) value(dst *wql.Value, p *wql.Property, b []byte, pos int) int {
	if !p.Array {
		return r.scalar(dst, p.Type, b, pos)
	}
	tag := b[pos]
	switch tag {
	case tagNull:
		*dst = wql.Null()
		return pos + 1
	case tagIntern:
		id, pos := uvarint(b, pos+1)
		*dst = r.in.vals[id]
		return pos
	}
	n, pos := uvarint(b, pos+1)
	start := len(r.elem)
	r.elem = slices.Grow(r.elem, int(n))[:start+int(n)]
	for j := range int(n) {
		pos = r.scalar(&r.elem[start+j], p.Type, b, pos)
	}
	*dst = wql.Array(r.elem[start:]...)
	r.elem = r.elem[:start]
	return pos
}

func (r *resource) scalar(dst *wql.Value, t wql.Type, b []byte, pos int) int {
	tag := b[pos]
	pos++
	if tag == tagNull {
		*dst = wql.Null()
		return pos
	}
	switch t {
	case wql.String:
		n, pos := uvarint(b, pos)
		switch {
		case tag == tagIntern:
			*dst = r.in.vals[n]
		case n == 0:
			*dst = wql.Str("")
		default:
			// The encoding is never modified once built, so the string
			// may share its bytes.
			*dst = wql.Str(unsafe.String(&b[pos], int(n)))
		}
		if tag == tagIntern {
			return pos
		}
		return pos + int(n)
	case wql.Integer:
		n, k := binary.Varint(b[pos:])
		*dst = wql.Int(n)
		return pos + k
	case wql.DateTime:
		n, k := binary.Varint(b[pos:])
		if n&1 == 0 {
			*dst = wql.Time(time.Unix(n>>1, 0))
		} else {
			*dst = wql.Time(time.UnixMicro(n >> 1))
		}
		return pos + k
	default: // wql.Boolean
		*dst = wql.Bool(tag == tagInline)
		return pos
	}
}

// uvarint reads an unsigned varint at b[pos:], with a fast path for the
// one-byte values most counts and ids are.
func uvarint(b []byte, pos int) (uint64, int) {
	if x := b[pos]; x < 0x80 {
		return uint64(x), pos + 1
	}
	v, k := binary.Uvarint(b[pos:])
	return v, pos + k
}

// decodeDevice rebuilds a Device from r, the inverse of encode up to the
// forms documented on Engine.Device.
func decodeDevice(r *resource) *Device {
	l := r.l
	d := &Device{ResourceID: r.rid}
	sys := r.Rows(0)[0]
	for i, f := range deviceFields {
		if j := l.field[i]; j >= 0 && j < len(sys) && f.set != nil && !sys[j].IsNull() {
			f.set(d, sys[j])
		}
	}
	for j, v := range sys {
		if v.IsNull() || j == l.rid[0] || slices.Contains(l.field[:], j) {
			continue
		}
		if d.Properties == nil {
			d.Properties = map[string]any{}
		}
		d.Properties[l.classes[0].Properties[j].Name] = goValue(v, l.classes[0].Properties[j])
	}
	for c := 1; c < len(l.classes); c++ {
		rows := r.Rows(c)
		if len(rows) == 0 {
			continue
		}
		insts := make([]Instance, len(rows))
		for i, row := range rows {
			inst := Instance{}
			for j, v := range row {
				if !v.IsNull() && j != l.rid[c] {
					inst[l.classes[c].Properties[j].Name] = goValue(v, l.classes[c].Properties[j])
				}
			}
			insts[i] = inst
		}
		if d.Inventory == nil {
			d.Inventory = map[string][]Instance{}
		}
		d.Inventory[l.classes[c].Name] = insts
	}
	return d
}

// goValue returns v as the Go type of p's type: string, int64, time.Time or
// bool, or a slice of one of those for an array (NULL elements become zero
// values).
func goValue(v wql.Value, p wql.Property) any {
	elems := v.Elems()
	switch {
	case p.Type == wql.String && p.Array:
		return mapSlice(elems, wql.Value.String)
	case p.Type == wql.String:
		return v.String()
	case p.Type == wql.Integer && p.Array:
		return mapSlice(elems, wql.Value.Int)
	case p.Type == wql.Integer:
		return v.Int()
	case p.Type == wql.DateTime && p.Array:
		return mapSlice(elems, wql.Value.Time)
	case p.Type == wql.DateTime:
		return v.Time()
	case p.Array:
		return mapSlice(elems, wql.Value.Bool)
	default:
		return v.Bool()
	}
}

func mapSlice[T any](vs []wql.Value, f func(wql.Value) T) []T {
	out := make([]T, len(vs))
	for i, v := range vs {
		if !v.IsNull() {
			out[i] = f(v)
		}
	}
	return out
}
