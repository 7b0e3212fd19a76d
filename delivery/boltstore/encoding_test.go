package boltstore

import (
	"bytes"
	"maps"
	"testing"

	"pgregory.net/rapid"
)

var (
	genBytes  = rapid.SliceOfN(rapid.Byte(), 0, 300)
	genString = byteString(0) // any bytes, not only UTF-8
	genKey    = byteString(1)
	genIndex  = rapid.MapOfN(genString, genString, 0, 5)
	genRev    = rapid.Int64Range(1, 1<<62)
)

// byteString generates strings of min to 20 arbitrary bytes.
func byteString(min int) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string { return string(rapid.SliceOfN(rapid.Byte(), min, 20).Draw(t, "bytes")) })
}

// TestValueRoundTrip: a record value decodes to the revision, index and
// data it was encoded from, whatever bytes they hold.
func TestValueRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rev, index, data := genRev.Draw(t, "rev"), genIndex.Draw(t, "index"), genBytes.Draw(t, "data")
		prefix := genBytes.Draw(t, "prefix") // values are appended to buffers holding other things
		b := appendValue(bytes.Clone(prefix), rev, indexNames(index), index, data)
		if !bytes.Equal(b[:len(prefix)], prefix) {
			t.Fatalf("appendValue changed the bytes before it")
		}
		v := b[len(prefix):]
		if len(v) != revLen+indexLen(index)+len(data) {
			t.Fatalf("encoded %d bytes; indexLen says %d", len(v), revLen+indexLen(index)+len(data))
		}
		d, err := decodeValue(v)
		if err != nil {
			t.Fatalf("decodeValue = %v", err)
		}
		got := indexMap(d.index)
		if d.rev != rev || !bytes.Equal(d.data, data) || !maps.Equal(got, index) || (len(index) == 0) != (got == nil) {
			t.Fatalf("decoded rev %d index %q data %x; want %d %q %x", d.rev, got, d.data, rev, index, data)
		}
		// Equal maps encode alike, so unchanged indexes are recognised.
		again := appendValue(nil, rev, indexNames(maps.Clone(index)), index, nil)
		if !bytes.Equal(again[revLen:], d.index) {
			t.Fatalf("the same index encoded twice differs")
		}
	})
}

// TestDecodeAnyBytes: decoding arbitrary (damaged) bytes returns an error
// or a value whose parts can be read, never a panic.
func TestDecodeAnyBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "bytes")
		if d, err := decodeValue(b); err == nil {
			indexMap(d.index)
			eachIndex(d.index, func(name, v []byte) { sameIndexField(d.index, name, v) })
		}
		decodeChangeKey(b)
		readString(b)
	})
}

// TestDamagedValue: a valid value with one byte changed or cut short still
// decodes without panicking.
func TestDamagedValue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		index := genIndex.Draw(t, "index")
		v := appendValue(nil, genRev.Draw(t, "rev"), indexNames(index), index, genBytes.Draw(t, "data"))
		i := rapid.IntRange(0, len(v)-1).Draw(t, "at")
		if rapid.Bool().Draw(t, "cut") {
			v = v[:i]
		} else {
			v[i] = rapid.Byte().Draw(t, "byte")
		}
		if d, err := decodeValue(v); err == nil {
			indexMap(d.index)
		}
	})
}

// TestChangeKeyOrder: change entry keys decode to what they encode and
// sort by revision first, so a cursor walks the feed in revision order.
func TestChangeKeyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r1, r2 := genRev.Draw(t, "r1"), genRev.Draw(t, "r2")
		k1, k2 := genKey.Draw(t, "kind1"), genKey.Draw(t, "kind2")
		key1, key2 := genKey.Draw(t, "key1"), genKey.Draw(t, "key2")
		a, b := changeKey(nil, r1, []byte(k1), []byte(key1)), changeKey(nil, r2, []byte(k2), []byte(key2))
		rev, kind, key, err := decodeChangeKey(a)
		if err != nil || rev != r1 || string(kind) != k1 || string(key) != key1 {
			t.Fatalf("decodeChangeKey = %d %q %q %v; want %d %q %q", rev, kind, key, err, r1, k1, key1)
		}
		if r1 < r2 && bytes.Compare(a, b) >= 0 {
			t.Fatalf("change key at revision %d sorts after one at %d", r1, r2)
		}
		if r1 == r2 && k1 == k2 && (bytes.Compare(a, b) < 0) != (key1 < key2) {
			t.Fatalf("change keys of one revision and kind do not sort by key")
		}
	})
}

// TestIndexPrefix: the entries of one index field and value are exactly
// the keys under its prefix, in record key order; no other field or value
// shares the prefix, however the strings are chosen.
func TestIndexPrefix(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n1, v1, n2, v2 := genString.Draw(t, "n1"), genString.Draw(t, "v1"), genString.Draw(t, "n2"), genString.Draw(t, "v2")
		key1, key2 := genKey.Draw(t, "key1"), genKey.Draw(t, "key2")
		p1 := indexPrefix(nil, n1, v1)
		e2 := append(indexPrefixBytes(nil, []byte(n2), []byte(v2)), key2...)
		if same := n1 == n2 && v1 == v2; bytes.HasPrefix(e2, p1) != same {
			t.Fatalf("entry %q=%q of key %q: has the prefix of %q=%q: %v; want %v", n2, v2, key2, n1, v1, !same, same)
		}
		e1, e1b := append(bytes.Clone(p1), key1...), append(bytes.Clone(p1), key2...)
		if (bytes.Compare(e1, e1b) < 0) != (key1 < key2) {
			t.Fatalf("entries of one field and value do not sort by key")
		}
	})
}
