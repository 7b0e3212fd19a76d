package collection

import (
	"encoding/binary"
	"strings"
	"time"
	"unsafe"

	"github.com/consign/consign/collection/wql"
)

// transcoder turns storage forms (storage.go) into the Engine's encoding
// (store.go) in one pass over the record, without a Device or rows in
// between: each value read goes, converted and interned, to its column's
// buffer, and the columns are then put together class by class.
//
// With shared set it only reads the interner, so that several transcoders
// run at once: a value the interner would add is stored inline in this
// device and kept in news, and the values found are counted in hits, until
// learn tells the interner. Interning saves memory and evaluation time and
// changes no value, so a device storing inline what later ones share is the
// same device.
type transcoder struct {
	l      *layout
	in     *interner
	shared bool
	hits   []uint32   // by interner stat, while shared
	news   []newValue // while shared
	newKey []byte     // the keys of news

	cache  [][]cacheEntry // by interner stat: see internStr
	sel    [][]selected   // by class: the properties LoadOptions.Values asks for
	out    []wql.Value    // where the record's values of sel go
	fields bool           // copy the Device fields' strings (LoadOptions.Fields)

	rec        []byte
	rid        uint32
	h          header
	cls        []classState // by class
	seen       []int        // the classes the record has, SMS_R_System first
	guesses    [][]guess    // by class
	classGuess []guess
	slab       []byte // where encodings are cut from
	fieldSlab  []byte // where the Device fields' strings are copied to
	buf, arr   []byte
}

// classState is what the record being transcoded has of one class.
type classState struct {
	cols    []column // by property
	touched []int32  // the properties with a value
	nrows   int      // -1: the record has no such class
}

// column is one column of a class being built: the values of rows
// [0, rows) in the Engine's encoding, NULLs included.
type column struct {
	buf  []byte
	rows int
}

func newTranscoder(l *layout, in *interner) *transcoder {
	t := &transcoder{l: l, in: in, hits: make([]uint32, len(in.stats)), cache: make([][]cacheEntry, len(in.stats)),
		cls: make([]classState, len(l.classes)), guesses: make([][]guess, len(l.classes)), sel: make([][]selected, len(l.classes))}
	for c := range t.cls {
		t.cls[c] = classState{cols: make([]column, len(l.classes[c].Properties)), nrows: -1}
	}
	return t
}

// newValue is a value a shared transcoder found the interner should add:
// a String (arr false) or an array's inline encoding of type typ, its key
// at newKey[from:to].
type newValue struct {
	stat     int
	arr      bool
	typ      wql.Type
	from, to int
}

// learn tells the interner what the transcoder found while shared: the
// hits it counted, and the values to add, which it looks up again (another
// transcoder may have added one meanwhile, a hit then).
func (t *transcoder) learn() {
	for i, h := range t.hits {
		if h != 0 {
			t.in.stats[i].hits += h
			t.hits[i] = 0
		}
	}
	shared := t.shared
	t.shared = false
	for _, nv := range t.news {
		b := t.newKey[nv.from:nv.to]
		t.intern(nv.arr, nv.stat, unsafe.String(unsafe.SliceData(b), len(b)), nv.typ)
	}
	t.shared = shared
	t.news, t.newKey = t.news[:0], t.newKey[:0]
}

// Device field indices (deviceFields) of the storage form's strings and
// lists, in their order; -1: TimeZone, which is not a property.
var (
	hdrFields  = [8]int{2, 3, 4, 5, 9, 14, 15, -1}
	listFields = [4]int{10, 11, 12, 13}
)

const (
	fieldResourceType = 1
	fieldClient       = 6
	fieldObsolete     = 7
	fieldActive       = 8
)

// Tags of the cells the transcoder makes from a record's Device fields,
// beside the storage tags (stString, …) of stored values.
const (
	hdrList = 100 + iota // a list of strings: a count, then each as a length and its bytes
	hdrInt               // an Integer in cell.n
)

// cell is one value of a record being transcoded: property j of its class,
// of storage tag tag (or hdrList, hdrInt), its bytes in the record at
// [pos, end) — a string's bytes, or an array's count and elements — and an
// Integer, DateTime (Unix microseconds) or array length in n.
type cell struct {
	j        int32
	tag      byte
	pos, end int32
	n        int64
}

// load transcodes one record, or says it is for slowLoad.
func (t *transcoder) load(rec []byte) loadItem {
	t.rec = rec
	ok := t.transcode()
	t.reset()
	if !ok {
		clear(t.out)
		return loadItem{slow: true}
	}
	tz := t.h.strs[7]
	it := loadItem{rid: t.rid, data: t.keep(t.buf), tz: rec[tz[0]:tz[1]:tz[1]], hdr: t.h}
	if t.fields {
		it.hdrCopy = t.copyFields()
		start := t.h.strs[0][0]
		it.tz = it.hdrCopy[tz[0]-start : tz[1]-start : tz[1]-start] // rec is out of the caches when it is read
	}
	return it
}

// reset empties the columns the record used.
func (t *transcoder) reset() {
	for _, c := range t.seen {
		cs := &t.cls[c]
		for _, j := range cs.touched {
			cs.cols[j] = column{buf: cs.cols[j].buf[:0]}
		}
		cs.touched, cs.nrows = cs.touched[:0], -1
	}
	t.seen = t.seen[:0]
}

// transcode reads the record into columns and puts them together in
// t.buf. It reports whether the record is one the transcoder takes: well
// formed, every name in the schema's spelling and every value of its
// property's type, a ResourceID and a Name, no property given both as a
// Device field and in Properties, inventory rows of the device's
// ResourceID. Anything else is for slowLoad, which then gives PutDevice's
// error, or takes the record as DecodeDevice and PutDevice would (names in
// another case).
func (t *transcoder) transcode() bool {
	r := storageReader{b: t.rec}
	if r.byte() != storageFormat {
		return false
	}
	id := r.uvarint()
	if id == 0 || id > 1<<32-1 {
		return false
	}
	t.rid = uint32(id)
	for k := range t.h.strs {
		n := r.count()
		t.h.strs[k] = [2]int32{int32(r.pos), int32(r.pos + n)}
		r.pos += n
	}
	if t.h.strs[0][0] == t.h.strs[0][1] { // no Name
		return false
	}
	t.h.flags = r.byte()
	for k := range t.h.lists {
		start := r.pos
		n := r.count()
		for range n {
			r.raw()
		}
		t.h.lists[k] = [3]int32{int32(start), int32(r.pos), int32(n)}
	}
	t.h.end = int32(r.pos)
	if r.err != nil {
		return false
	}

	// SMS_R_System: the Device fields, then Properties.
	l := t.l
	t.seen = append(t.seen, 0)
	t.cls[0].nrows = 1
	for k, f := range hdrFields {
		if f >= 0 && l.field[f] >= 0 && t.h.strs[k][0] < t.h.strs[k][1] {
			t.put(0, 0, cell{j: int32(l.field[f]), tag: stString, pos: t.h.strs[k][0], end: t.h.strs[k][1]}) // distinct fields: no clash
		}
	}
	for k, f := range listFields {
		if l.field[f] >= 0 && t.h.lists[k][2] > 0 {
			t.put(0, 0, cell{j: int32(l.field[f]), tag: hdrList, pos: t.h.lists[k][0], end: t.h.lists[k][1], n: int64(t.h.lists[k][2])})
		}
	}
	for _, x := range [...]struct {
		f  int
		n  int64
		on bool
	}{
		{fieldResourceType, ResourceTypeSystem, true},
		{fieldClient, 1, t.h.flags&1 != 0},
		{fieldObsolete, int64(t.h.flags >> 1 & 1), true},
		{fieldActive, int64(t.h.flags >> 2 & 1), true},
	} {
		if x.on && l.field[x.f] >= 0 {
			t.put(0, 0, cell{j: int32(l.field[x.f]), tag: hdrInt, n: x.n})
		}
	}
	sys := l.classes[0].Properties
	for k := range r.count() {
		j, ok := t.property(0, k, t.name(&r))
		if !ok || l.sysField[j] {
			return false
		}
		x, ok := readValue(&r, j, &sys[j])
		if !ok {
			return false
		}
		if x.tag != stNull && !t.put(0, 0, x) {
			return false
		}
	}

	// Inventory.
	for k := range r.count() {
		c, ok := t.class(k, t.name(&r))
		if !ok || c == 0 {
			return false
		}
		nrows := r.count()
		if t.cls[c].nrows >= 0 {
			return false // the class twice: DecodeDevice keeps the last
		}
		t.seen = append(t.seen, c)
		t.cls[c].nrows = nrows
		if r.pos, ok = t.rows(c, nrows, r.pos); !ok {
			return false
		}
	}
	if r.end() != nil {
		return false
	}
	t.emit()
	return true
}

// rows reads nrows rows of class c from rec[pos:] into the columns, and
// returns the position after them. It is transcode's inner loop, most of
// the work, written out for speed: the common String value is read here,
// the rest by readValue.
func (t *transcoder) rows(c, nrows, pos int) (int, bool) {
	b := t.rec
	props := t.l.classes[c].Properties
	rid := t.l.rid[c]
	for row := range nrows {
		nprops, p, ok := uvarintAt(b, pos)
		if !ok {
			return 0, false
		}
		pos = p
		for k := range int(nprops) {
			n, p, ok := uvarintAt(b, pos)
			if !ok || n >= uint64(len(b)-p) { // a name, then at least a tag
				return 0, false
			}
			name := unsafe.String(unsafe.SliceData(b[p:]), int(n))
			pos = p + int(n)
			j, ok := t.property(c, k, name)
			if !ok {
				return 0, false
			}
			prop := &props[j]
			var x cell
			if b[pos] == stString && prop.Type == wql.String && !prop.Array && j != rid {
				n, p, ok := uvarintAt(b, pos+1)
				if !ok || n > uint64(len(b)-p) {
					return 0, false
				}
				x = cell{j: int32(j), tag: stString, pos: int32(p), end: int32(p + int(n))}
				pos = p + int(n)
			} else {
				r := storageReader{b: b, pos: pos}
				x, ok = readValue(&r, j, prop)
				if !ok {
					return 0, false
				}
				pos = r.pos
			}
			switch {
			case j == rid:
				// Not stored: every row gets the device's. It may say so,
				// and nothing else.
				if x.tag != stNull && x.n != int64(t.rid) {
					return 0, false
				}
			case x.tag != stNull:
				if !t.put(c, row, x) {
					return 0, false
				}
			}
		}
	}
	return pos, true
}

// uvarintAt reads an unsigned varint at b[pos:], and reports whether there
// was one.
func uvarintAt(b []byte, pos int) (uint64, int, bool) {
	if pos < len(b) && b[pos] < 0x80 {
		return uint64(b[pos]), pos + 1, true
	}
	if pos > len(b) {
		return 0, pos, false
	}
	v, k := binary.Uvarint(b[pos:])
	return v, pos + k, k > 0
}

// put adds value x of row row of class c to its column. It reports false
// when the row has a value there already (a property named twice, which
// DecodeDevice takes as the last).
func (t *transcoder) put(c, row int, x cell) bool {
	cs := &t.cls[c]
	col := &cs.cols[x.j]
	if col.rows > row {
		return false
	}
	if col.rows == 0 {
		cs.touched = append(cs.touched, x.j)
	}
	for col.rows < row {
		col.buf = append(col.buf, tagNull)
		col.rows++
	}
	prop := &t.l.classes[c].Properties[x.j]
	col.buf = t.appendValue(col.buf, prop, t.l.statBase[c]+int(x.j), &x)
	col.rows++
	if row == 0 {
		for _, s := range t.sel[c] {
			if s.j == int(x.j) {
				t.out[s.k] = t.cellValue(prop, &x)
			}
		}
	}
	return true
}

// emit puts the columns together in t.buf, class by class, as
// encoder.encode does.
func (t *transcoder) emit() {
	buf := t.buf[:0]
	for c := range t.cls {
		cs := &t.cls[c]
		at := len(buf)
		buf = append(buf, 0)
		n := cs.nrows
		if c != 0 {
			buf = binary.AppendUvarint(buf, uint64(max(n, 0)))
		}
		ncols := 0
		for _, j := range cs.touched {
			ncols = max(ncols, int(j)+1)
		}
		buf = binary.AppendUvarint(buf, uint64(ncols))
		for j := range ncols {
			col := &cs.cols[j]
			if col.rows == 0 {
				buf = append(buf, 0)
				continue
			}
			for col.rows < n {
				col.buf = append(col.buf, tagNull)
				col.rows++
			}
			buf = binary.AppendUvarint(buf, uint64(len(col.buf)))
			buf = append(buf, col.buf...)
		}
		buf = patchLen(buf, at)
		if n > 0 {
			for _, s := range t.sel[c] {
				if s.j == t.l.rid[c] {
					t.out[s.k] = wql.Int(int64(t.rid))
				}
			}
		}
	}
	t.buf = buf
}

// patchLen writes the length of b[at+1:] as a uvarint at b[at], where one
// byte was reserved for it, moving b[at+1:] when it needs more.
func patchLen(b []byte, at int) []byte {
	n := len(b) - at - 1
	if n < 0x80 {
		b[at] = byte(n)
		return b
	}
	var tmp [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(tmp[:], uint64(n))
	b = append(b, tmp[:k-1]...)
	copy(b[at+k:], b[at+1:at+1+n])
	copy(b[at:], tmp[:k])
	return b
}

// slabSize is the size of the blocks encodings are cut from.
const slabSize = 32 << 10 // the largest size class: small-object allocation

// keep returns a copy of b cut from a block shared with other devices'
// encodings, which costs less than an allocation each: encodings are never
// changed, and a block is freed once none of its devices is in the Engine
// any more.
func (t *transcoder) keep(b []byte) []byte {
	if len(t.slab) < len(b) {
		t.slab = make([]byte, max(slabSize, len(b)))
	}
	out := t.slab[:len(b):len(b)]
	copy(out, b)
	t.slab = t.slab[len(b):]
	return out
}

// copyFields returns a copy of the record's Device field strings and lists
// (from the first string to the end of the lists), cut from a block, for
// fieldMaker.
func (t *transcoder) copyFields() []byte {
	b := t.rec[t.h.strs[0][0]:t.h.end]
	if len(t.fieldSlab) < len(b) {
		t.fieldSlab = make([]byte, max(slabSize, len(b)))
	}
	out := t.fieldSlab[:len(b):len(b)]
	copy(out, b)
	t.fieldSlab = t.fieldSlab[len(b):]
	return out
}

// A record's names come sorted, and mostly the same from row to row and
// device to device: the transcoder guesses that the k-th name of a row of
// class c is the one it was last time (guesses[c][k]), and only looks up a
// name that differs, which saves a map lookup per value.
type guess struct {
	name string // the schema's spelling
	i    int
}

// property returns the index of the k-th property name of a row of class
// c, in the schema's spelling only.
func (t *transcoder) property(c, k int, name string) (int, bool) {
	g := t.guesses[c]
	if k < len(g) && g[k].name == name {
		return g[k].i, true
	}
	j, ok := t.l.propIdx[c][name]
	if !ok {
		return 0, false
	}
	t.guesses[c] = remember(g, k, guess{t.l.classes[c].Properties[j].Name, j})
	return j, true
}

// class returns the index of the k-th class name of a record's inventory,
// in the schema's spelling only.
func (t *transcoder) class(k int, name string) (int, bool) {
	g := t.classGuess
	if k < len(g) && g[k].name == name {
		return g[k].i, true
	}
	c, ok := t.l.classIdx[name]
	if !ok {
		return 0, false
	}
	t.classGuess = remember(g, k, guess{t.l.classes[c].Name, c})
	return c, true
}

func remember(g []guess, k int, x guess) []guess {
	switch {
	case k < len(g):
		g[k] = x
	case k == len(g) && k < 64:
		g = append(g, x)
	}
	return g
}

// name reads a name and returns it sharing the record's bytes, for a map
// lookup.
func (t *transcoder) name(r *storageReader) string {
	b := r.raw()
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// readValue reads a value of property p (index j) as a cell, of tag stNull
// for NULL. It reports false for a value of another type than p's.
func readValue(r *storageReader, j int, p *wql.Property) (cell, bool) {
	tag := r.byte()
	c := cell{j: int32(j), tag: tag}
	switch tag {
	case stNull:
	case stString:
		if p.Array || p.Type != wql.String {
			return c, false
		}
		n := r.count()
		c.pos, c.end = int32(r.pos), int32(r.pos+n)
		r.pos += n
	case stInt:
		if p.Array || p.Type != wql.Integer {
			return c, false
		}
		c.n = r.varint()
	case stTime:
		if p.Array || p.Type != wql.DateTime {
			return c, false
		}
		c.n = r.varint()
	case stFalse, stTrue:
		if p.Array || p.Type != wql.Boolean {
			return c, false
		}
	case stArray:
		if !p.Array {
			return c, false
		}
		c.pos = int32(r.pos) // the count, then the elements, like a list
		n := r.count()
		c.n = int64(n)
		for range n {
			switch tag := r.byte(); {
			case tag == stNull:
			case tag == stString && p.Type == wql.String:
				r.raw()
			case tag == stInt && p.Type == wql.Integer, tag == stTime && p.Type == wql.DateTime:
				r.varint()
			case (tag == stFalse || tag == stTrue) && p.Type == wql.Boolean:
			default:
				return c, false
			}
		}
		c.end = int32(r.pos)
	default:
		return c, false
	}
	return c, r.err == nil
}

// appendValue appends cell x of property p in the Engine's encoding, as
// encoder.value does.
func (t *transcoder) appendValue(b []byte, p *wql.Property, stat int, x *cell) []byte {
	switch x.tag {
	case stString:
		s := t.str(x.pos, x.end)
		if id, ok := t.internStr(stat, s); ok {
			return binary.AppendUvarint(append(b, tagIntern), uint64(id))
		}
		b = binary.AppendUvarint(append(b, tagInline), uint64(len(s)))
		return append(b, s...)
	case stInt, hdrInt:
		return binary.AppendVarint(append(b, tagIntern), x.n)
	case stTime:
		return appendTime(b, x.n)
	case stFalse:
		return append(b, tagIntern)
	case stTrue:
		return append(b, tagInline)
	}
	// An array (stArray, hdrList): its inline encoding, interned as a whole.
	t.inline(x)
	key := unsafe.String(unsafe.SliceData(t.arr), len(t.arr))
	if st := t.in.stats[stat]; st.added >= 32 && st.hits < st.added/8 {
		return append(append(b, tagInline), t.arr...) // as in internStr
	}
	if id, ok := t.intern(true, stat, key, p.Type); ok {
		return binary.AppendUvarint(append(b, tagIntern), uint64(id))
	}
	return append(append(b, tagInline), t.arr...)
}

// inline sets t.arr to the inline encoding of array cell x (stArray,
// hdrList): its length, then each element as encoder.scalar writes it
// without interning.
func (t *transcoder) inline(x *cell) {
	t.arr = binary.AppendUvarint(t.arr[:0], uint64(x.n))
	r := storageReader{b: t.rec, pos: int(x.pos)}
	r.count()
	for range x.n {
		tag := byte(stString) // a list's elements are untagged strings
		if x.tag == stArray {
			tag = r.byte()
		}
		switch tag {
		case stNull:
			t.arr = append(t.arr, tagNull)
		case stString:
			s := r.raw()
			t.arr = binary.AppendUvarint(append(t.arr, tagInline), uint64(len(s)))
			t.arr = append(t.arr, s...)
		case stInt:
			t.arr = binary.AppendVarint(append(t.arr, tagIntern), r.varint())
		case stTime:
			t.arr = appendTime(t.arr, r.varint())
		case stFalse:
			t.arr = append(t.arr, tagIntern)
		case stTrue:
			t.arr = append(t.arr, tagInline)
		}
	}
}

// appendTime appends a DateTime of Unix microseconds us, as encoder.scalar.
func appendTime(b []byte, us int64) []byte {
	if us%1e6 == 0 {
		return binary.AppendVarint(append(b, tagIntern), us/1e6*2)
	}
	return binary.AppendVarint(append(b, tagIntern), us*2+1)
}

func (t *transcoder) str(pos, end int32) string {
	b := t.rec[pos:end]
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// selected is a property LoadOptions.Values asks for: property j of its
// class, the k-th asked for.
type selected struct{ j, k int }

// selectValues sets what the transcoder reads for LoadOptions.Values.
func (t *transcoder) selectValues(cols []wql.Column) {
	for c := range t.sel {
		t.sel[c] = t.sel[c][:0]
	}
	for k, col := range cols {
		t.sel[col.Class] = append(t.sel[col.Class], selected{j: col.Property, k: k})
	}
}

// cellValue returns the value of cell x of property p, sharing no byte
// with the record.
func (t *transcoder) cellValue(p *wql.Property, x *cell) wql.Value {
	switch x.tag {
	case stString:
		s := t.str(x.pos, x.end)
		if id, ok := t.in.strs[s]; ok {
			return wql.Interned(t.in.vals[id], -1)
		}
		return wql.Str(strings.Clone(s))
	case stInt, hdrInt:
		return wql.Int(x.n)
	case stTime:
		return wql.Time(time.UnixMicro(x.n))
	case stFalse, stTrue:
		return wql.Bool(x.tag == stTrue)
	}
	t.inline(x)
	return inlineArray(p.Type, t.arr)
}

// The transcoder keeps, per property, a small cache of the interned
// Strings it met, so that a value met again costs a short hash and a
// comparison instead of a lookup in the interner's map, which holds every
// property's values. The cache is the transcoder's own, and the interner
// only grows, so an entry never goes stale. It is two-way set associative:
// a set is two entries, one cache line, the one used last first.
const (
	cacheBits = 9 // sets
	cacheSize = 2 << cacheBits
)

// cacheEntry holds a String of up to cacheKey bytes in place, so that a
// hit reads one entry and nothing else.
type cacheEntry struct {
	key [cacheKey]byte
	n   uint8 // the key's length + 1; 0: empty
	id  uint32
}

const cacheKey = 27 // an entry takes 32 bytes

func (e *cacheEntry) is(key string) bool {
	return int(e.n) == len(key)+1 && string(e.key[:len(key)]) == key
}

// internStr is intern for a String, through the property's cache.
func (t *transcoder) internStr(stat int, key string) (uint32, bool) {
	if st := t.in.stats[stat]; st.added >= 32 && st.hits < st.added/8 {
		// The property no longer interns new values, and its values seldom
		// repeat (names, GUIDs, addresses): store them inline without
		// looking them up, which would nearly always miss.
		return 0, false
	}
	if len(key) > cacheKey {
		return t.intern(false, stat, key, wql.String)
	}
	c := t.cache[stat]
	if c == nil {
		c = make([]cacheEntry, cacheSize)
		t.cache[stat] = c
	}
	set := c[quickHash(key)>>(64-cacheBits)*2:][:2]
	hit := set[0].is(key)
	if !hit && set[1].is(key) {
		set[0], set[1] = set[1], set[0]
		hit = true
	}
	if hit {
		if t.shared {
			t.hits[stat]++
		} else {
			t.in.stats[stat].hits++
		}
		return set[0].id, true
	}
	id, ok := t.intern(false, stat, key, wql.String)
	if ok {
		set[1] = set[0]
		set[0].n, set[0].id = uint8(len(key)+1), id
		copy(set[0].key[:], key)
	}
	return id, ok
}

// quickHash hashes s from its length and its first and last eight bytes:
// all of it for most values, and enough to spread the rest.
func quickHash(s string) uint64 {
	n := len(s)
	var a, b uint64
	switch {
	case n >= 8:
		a = binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), n))
		b = binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[n-8:]), 8))
	case n > 0:
		for i := range n {
			a = a<<8 | uint64(s[i])
		}
	}
	h := (a ^ uint64(n)<<56) * 0x9E3779B97F4A7C15
	h ^= b * 0xC2B2AE3D27D4EB4F
	return h ^ h>>29
}

// intern is interner.lookup for a String (arr false) or an array's inline
// encoding (arr true) of type typ, which only reads the interner when
// shared.
func (t *transcoder) intern(arr bool, stat int, key string, typ wql.Type) (uint32, bool) {
	in := t.in
	m := in.strs
	if arr {
		m = in.arrs[typ]
	}
	if id, ok := m[key]; ok {
		if t.shared {
			t.hits[stat]++
		} else {
			in.stats[stat].hits++
		}
		return id, true
	}
	st := &in.stats[stat]
	if st.added >= 32 && st.added > st.hits {
		return 0, false
	}
	if t.shared {
		from := len(t.newKey)
		t.newKey = append(t.newKey, key...)
		t.news = append(t.news, newValue{stat: stat, arr: arr, typ: typ, from: from, to: len(t.newKey)})
		return 0, false
	}
	st.added++
	id := uint32(len(in.vals))
	var v wql.Value
	if arr {
		v = inlineArray(typ, []byte(key))
	} else {
		v = wql.Str(strings.Clone(key))
	}
	in.vals = append(in.vals, wql.Interned(v, int32(id)))
	m[strings.Clone(key)] = id
	return id, true
}

// inlineArray decodes an array's inline encoding (count, then each element
// as encoder.scalar writes it without interning) into a Value that shares
// nothing with b.
func inlineArray(t wql.Type, b []byte) wql.Value {
	var r resource
	n, pos := uvarint(b, 0)
	elems := make([]wql.Value, n)
	for i := range elems {
		pos = r.scalar(&elems[i], t, b, pos)
		if t == wql.String && !elems[i].IsNull() {
			elems[i] = wql.Str(strings.Clone(elems[i].String()))
		}
	}
	return wql.Array(elems...)
}
