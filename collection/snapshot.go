package collection

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
)

// An Engine snapshot is the Engine's whole state in the form it holds it:
// the devices' compact encodings, the values they share, and every
// collection with its membership. Restoring one costs a read of the bytes
// (the encodings are used where they lie), where loading the devices from
// their storage form costs transcoding each and evaluating every
// collection over all of them. Snapshots are a cache: one written by
// another version, for another schema, or damaged is refused, and the
// caller loads the long way. The format (version snapshotVersion):
//
//	magic    "consign engine\x00" and a version byte
//	schema   uvarint classes, each: string name, uvarint properties,
//	         each: string name, byte type, byte array (0 or 1)
//	values   uvarint count, each: byte 1 and a string (a String), or
//	         byte 2, byte element type and the array's inline encoding
//	         (store.go), whose ids are their places in this list;
//	         uvarint count, each property's interning counts: uvarint
//	         hits, uvarint added
//	zones    uvarint count, strings (the first is "")
//	slots    uvarint count, each: uvarint ResourceID (0: a free slot),
//	         uvarint zone, uvarint length and the device's encoding
//	         (store.go; none for a free slot)
//	collections uvarint count, in limiting order, each: the collection
//	         as JSON (a string), uvarint words and the membership bitmap's
//	         words, 8 bytes little-endian each (bit s is slot s)
//	queries  uvarint count, each: string query text, byte 1 and a
//	         varint of Unix nanoseconds: the time of its last evaluation
//	         (byte 0: never evaluated)
//	crc      CRC-32C (Castagnoli) of everything before, 4 bytes
//	         little-endian
//
// A string is a uvarint length and its bytes.
const (
	snapshotMagic   = "consign engine\x00"
	snapshotVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrSnapshot is what RestoreSnapshot returns (wrapped, with the reason)
// for a snapshot it cannot use: damaged, of another format version, or
// written for another schema.
var ErrSnapshot = errors.New("unusable engine snapshot")

// WriteSnapshot writes the Engine's state to w as RestoreSnapshot reads it
// back (the format is documented in snapshot.go). It only reads the Engine.
func (e *Engine) WriteSnapshot(w io.Writer) error {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<20)
	sw := snapWriter{w: bw}
	sw.raw([]byte(snapshotMagic))
	sw.raw([]byte{snapshotVersion})
	sw.raw(schemaBytes(e.schema))

	// An array's type is that of the table it is in, which an array of
	// NULLs does not tell.
	arrType := map[uint32]wql.Type{}
	for t, m := range e.in.arrs {
		for _, id := range m {
			arrType[id] = wql.Type(t)
		}
	}
	sw.uvarint(uint64(len(e.in.vals)))
	for id, v := range e.in.vals {
		if !v.IsArray() {
			sw.raw([]byte{1})
			sw.str(v.String())
			continue
		}
		t := arrType[uint32(id)]
		sw.raw([]byte{2, byte(t)})
		sw.bytes(e.enc.inlineArray(nil, t, v.Elems()))
	}
	sw.uvarint(uint64(len(e.in.stats)))
	for _, st := range e.in.stats {
		sw.uvarint(uint64(st.hits))
		sw.uvarint(uint64(st.added))
	}

	sw.uvarint(uint64(len(e.zones)))
	for _, z := range e.zones {
		sw.str(z)
	}

	sw.uvarint(uint64(len(e.rids)))
	for s, rid := range e.rids {
		if !e.live.get(s) {
			sw.uvarint(0)
			continue
		}
		sw.uvarint(uint64(rid))
		sw.uvarint(uint64(e.zone[s]))
		sw.bytes(e.data[s])
	}

	sw.uvarint(uint64(len(e.order)))
	for _, x := range e.order {
		js, err := json.Marshal(x.c)
		if err != nil {
			return err
		}
		sw.bytes(js)
		sw.uvarint(uint64(len(x.members)))
		var word [8]byte
		for _, m := range x.members {
			binary.LittleEndian.PutUint64(word[:], m)
			sw.raw(word[:])
		}
	}
	sw.uvarint(uint64(len(e.queries)))
	for _, src := range slices.Sorted(maps.Keys(e.queries)) {
		q := e.queries[src]
		sw.str(src)
		if q.at.IsZero() {
			sw.raw([]byte{0})
			continue
		}
		sw.raw([]byte{1})
		sw.raw(binary.AppendVarint(sw.buf[:0], q.at.UnixNano()))
	}
	if sw.err != nil {
		return sw.err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

// RestoreSnapshot gives a new Engine (one that has had nothing but
// SetParallel done to it) the state a snapshot holds, as WriteSnapshot
// wrote it from an Engine over the same schema. The Engine then behaves
// as the one that wrote it.
//
// The Engine keeps the devices' encodings where they lie in b: b must not
// change for as long as the Engine lives (a read-only mapping of a file is
// the intended use), and none of its bytes are returned to callers
// (Device copies what it returns).
//
// The checksum guards against damage, not against a snapshot crafted to
// be inconsistent (device encodings are not decoded to be checked), so
// only restore snapshots this program wrote.
//
// A snapshot that is damaged, of another version or for another schema is
// refused with an error matching ErrSnapshot; one the Engine cannot take
// (the Engine is not new) with consign.ErrFailedPrecondition. The Engine is
// then unusable and should be dropped.
func (e *Engine) RestoreSnapshot(b []byte) error {
	if len(e.slot) != 0 || len(e.byID) != 1 || len(e.in.vals) != 0 {
		return consign.Errorf(consign.ErrFailedPrecondition, "RestoreSnapshot", "", "the Engine already holds devices or collections")
	}
	if len(b) < len(snapshotMagic)+5 {
		return fmt.Errorf("%w: %d bytes is too short", ErrSnapshot, len(b))
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return fmt.Errorf("%w: checksum %08x, want %08x", ErrSnapshot, got, want)
	}
	r := snapReader{b: body}
	if string(r.next(len(snapshotMagic))) != snapshotMagic {
		return fmt.Errorf("%w: not an engine snapshot", ErrSnapshot)
	}
	if v := r.byte(); v != snapshotVersion {
		return fmt.Errorf("%w: format version %d, want %d", ErrSnapshot, v, snapshotVersion)
	}
	if want := schemaBytes(e.schema); string(r.next(len(want))) != string(want) {
		return fmt.Errorf("%w: written for another schema", ErrSnapshot)
	}
	e.restoreValues(&r)
	n := r.count(1)
	e.zones = make([]string, 0, n)
	for range n {
		e.zones = append(e.zones, strings.Clone(string(r.bytes())))
	}
	if r.err == nil && (len(e.zones) == 0 || e.zones[0] != "") {
		r.fail("the first zone must be empty")
	}
	e.restoreSlots(&r)
	e.restoreCollections(&r)
	for range r.count(2) {
		q := e.queries[string(r.bytes())]
		var at time.Time
		if r.byte() == 1 {
			at = time.Unix(0, r.varint())
		}
		if q == nil {
			r.fail("a query no collection has")
			break
		}
		q.at = at
	}
	if r.err == nil && len(r.b) != r.pos {
		r.fail("%d bytes after the collections", len(r.b)-r.pos)
	}
	if r.err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, r.err)
	}
	return nil
}

// restoreValues reads the interned values and their counts.
func (e *Engine) restoreValues(r *snapReader) {
	n := r.count(2)
	e.in.vals = make([]wql.Value, 0, n)
	for id := range n {
		switch r.byte() {
		case 1:
			s := strings.Clone(string(r.bytes()))
			e.in.strs[s] = uint32(id)
			e.in.vals = append(e.in.vals, wql.Interned(wql.Str(s), int32(id)))
		case 2:
			t := wql.Type(r.byte())
			key := r.bytes()
			elems, ok := decodeArrayKey(key, t)
			if !ok || int(t) >= len(e.in.arrs) {
				r.fail("value %d: a damaged array", id)
				return
			}
			e.in.arrs[t][string(key)] = uint32(id)
			e.in.vals = append(e.in.vals, wql.Interned(wql.Array(elems...), int32(id)))
		default:
			r.fail("value %d: unknown kind", id)
			return
		}
	}
	if k := r.count(2); r.err == nil && k != len(e.in.stats) {
		r.fail("%d interning counts, want %d", k, len(e.in.stats))
		return
	}
	for i := range e.in.stats {
		e.in.stats[i] = internStat{hits: uint32(r.uvarint()), added: uint32(r.uvarint())}
	}
}

// restoreSlots reads the devices into their slots.
func (e *Engine) restoreSlots(r *snapReader) {
	n := r.count(1)
	if r.err != nil {
		return
	}
	e.rids = make([]uint32, n)
	e.data = make([][]byte, n)
	e.zone = make([]uint32, n)
	e.of = make([][]int32, n)
	e.slot = make(map[uint32]int32, n)
	e.live = make(bitset, (n+63)/64)
	for s := range n {
		rid := uint32(r.uvarint())
		if rid == 0 {
			e.free = append(e.free, int32(s))
			continue
		}
		zone := r.uvarint()
		data := r.bytes()
		if r.err != nil {
			return
		}
		if zone >= uint64(len(e.zones)) {
			r.fail("slot %d: zone %d of %d", s, zone, len(e.zones))
			return
		}
		if _, dup := e.slot[rid]; dup {
			r.fail("ResourceID %d in two slots", rid)
			return
		}
		e.rids[s], e.data[s], e.zone[s] = rid, data[:len(data):len(data)], uint32(zone)
		e.slot[rid] = int32(s)
		e.live.set(s, true)
	}
}

// restoreCollections installs the collections in limiting order, with
// their memberships, and derives each device's list of collections.
func (e *Engine) restoreCollections(r *snapReader) {
	n := r.count(2)
	for i := range n {
		js := r.bytes()
		words := r.count(8)
		if r.err != nil {
			return
		}
		var c Collection
		if err := json.Unmarshal(js, &c); err != nil {
			r.fail("collection %d: %v", i, err)
			return
		}
		x := e.byID[c.ID]
		if c.ID != AllSystemsID {
			if x != nil {
				r.fail("collection %s twice", c.ID)
				return
			}
			err := e.CheckCollection(&c)
			if err == nil {
				err = e.install(&c)
			}
			if err != nil {
				r.fail("collection %s: %v", c.ID, err)
				return
			}
			x = e.byID[c.ID]
		}
		x.members = make(bitset, words)
		for w := range x.members {
			x.members[w] = binary.LittleEndian.Uint64(r.next(8))
		}
	}
	// Each device's collections, by num, in one slab.
	counts := make([]int32, len(e.rids))
	total := 0
	for _, x := range e.entries {
		if x == nil {
			continue
		}
		for w, word := range x.members {
			if word != 0 && (w >= len(e.live) || word&^e.live[w] != 0) {
				r.fail("collection %s has a member in a free slot", x.c.ID)
				return
			}
			for ; word != 0; word &= word - 1 {
				counts[w<<6+bits.TrailingZeros64(word)]++
				total++
			}
		}
	}
	slab := make([]int32, total)
	for s, k := range counts {
		e.of[s], slab = slab[:0:k], slab[k:]
	}
	for _, x := range e.entries { // by num, so each list comes out sorted
		if x == nil {
			continue
		}
		for w, word := range x.members {
			for ; word != 0; word &= word - 1 {
				s := w<<6 + bits.TrailingZeros64(word)
				e.of[s] = append(e.of[s], x.num)
			}
		}
	}
}

// schemaBytes is the snapshot's record of the schema s: what a snapshot
// must have been written for to be restored.
func schemaBytes(s *wql.Schema) []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(s.NumClasses()))
	for c := range s.NumClasses() {
		cl := s.Class(c)
		b = appendStr(b, cl.Name)
		b = binary.AppendUvarint(b, uint64(len(cl.Properties)))
		for _, p := range cl.Properties {
			b = appendStr(b, p.Name)
			arr := byte(0)
			if p.Array {
				arr = 1
			}
			b = append(b, byte(p.Type), arr)
		}
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeArrayKey reads back encoder.inlineArray's encoding of elements of
// type t, copying the strings, with every read checked (inlineArray in
// transcode.go trusts its input).
func decodeArrayKey(key []byte, t wql.Type) ([]wql.Value, bool) {
	r := snapReader{b: key}
	n := r.count(1)
	elems := make([]wql.Value, 0, n)
	for range n {
		tag := r.byte()
		if r.err != nil {
			return nil, false
		}
		if tag == tagNull {
			elems = append(elems, wql.Null())
			continue
		}
		switch t {
		case wql.String:
			elems = append(elems, wql.Str(strings.Clone(string(r.bytes()))))
		case wql.Integer:
			elems = append(elems, wql.Int(r.varint()))
		case wql.DateTime:
			if v := r.varint(); v&1 == 0 {
				elems = append(elems, wql.Time(time.Unix(v>>1, 0)))
			} else {
				elems = append(elems, wql.Time(time.UnixMicro(v>>1)))
			}
		case wql.Boolean:
			elems = append(elems, wql.Bool(tag == tagInline))
		default:
			return nil, false
		}
	}
	return elems, r.err == nil && r.pos == len(key)
}

// snapWriter writes a snapshot, keeping the first error.
type snapWriter struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (w *snapWriter) raw(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

func (w *snapWriter) uvarint(v uint64) { w.raw(binary.AppendUvarint(w.buf[:0], v)) }

func (w *snapWriter) bytes(b []byte) {
	w.uvarint(uint64(len(b)))
	w.raw(b)
}

func (w *snapWriter) str(s string) {
	w.uvarint(uint64(len(s)))
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

// snapReader reads a snapshot with every read bounds-checked: past the end
// or on a bad number it keeps the first error and returns zeroes.
type snapReader struct {
	b   []byte
	pos int
	err error
}

func (r *snapReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: "+format, append([]any{r.pos}, args...)...)
	}
}

func (r *snapReader) next(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b)-r.pos {
		r.fail("truncated")
		return make([]byte, max(n, 0))
	}
	out := r.b[r.pos : r.pos+n]
	r.pos += n
	return out
}

func (r *snapReader) byte() byte { return r.next(1)[0] }

func (r *snapReader) uvarint() uint64 { return readNumber(r, binary.Uvarint) }

func (r *snapReader) varint() int64 { return readNumber(r, binary.Varint) }

// readNumber reads a number with read (binary.Uvarint or binary.Varint).
func readNumber[T uint64 | int64](r *snapReader, read func([]byte) (T, int)) T {
	if r.err != nil {
		return 0
	}
	v, k := read(r.b[r.pos:])
	if k <= 0 {
		r.fail("bad number")
		return 0
	}
	r.pos += k
	return v
}

// count reads a count of items of at least min bytes each, refusing one
// the bytes left cannot hold (so a damaged count allocates nothing huge).
func (r *snapReader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)-r.pos)/uint64(min) {
		r.fail("count %d exceeds what is left", n)
		return 0
	}
	return int(n)
}

func (r *snapReader) bytes() []byte { return r.next(r.count(1)) }
