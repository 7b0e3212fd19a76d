package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The on-disk encoding, format 1 (see the package comment for the layout).

const (
	// revLen is the length of an encoded revision: 8 bytes, big-endian, so
	// that byte order is revision order.
	revLen = 8
	// MaxKeyBytes bounds the parts of a record that become bbolt keys: Kind
	// and Key together, and each index field's name and value together
	// with Key. bbolt refuses keys over 32 KiB; the margin leaves room for
	// the revision and length prefixes this package adds.
	MaxKeyBytes = 32_000
	// MaxDataBytes bounds Record.Data: bbolt's largest value, less room for
	// the revision and the encoded index.
	MaxDataBytes = bolt.MaxValueSize - 64<<10
)

// ErrCorrupt matches (with errors.Is) the errors for stored bytes this
// package cannot decode: a record, change entry or meta value that was
// damaged on disk or written by something other than boltstore. Such
// errors also match consign.ErrFailedPrecondition and name the file and,
// when known, the record.
var ErrCorrupt = errors.New("stored bytes do not decode")

// putRev writes rev into b[:revLen].
func putRev(b []byte, rev int64) { binary.BigEndian.PutUint64(b, uint64(rev)) }

// getRev reads a revision from b[:revLen]; ok is false when b is too short
// or the revision is not positive.
func getRev(b []byte) (rev int64, ok bool) {
	if len(b) < revLen {
		return 0, false
	}
	rev = int64(binary.BigEndian.Uint64(b))
	return rev, rev > 0
}

// appendString appends s with its length as a uvarint prefix, so that
// several strings in one key stay unambiguous whatever bytes they hold.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// readString reads a string written by appendString and returns the rest.
func readString(b []byte) (s, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

// uvarintLen is the length of n encoded as a uvarint.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// stringLen is the length of s encoded by appendString.
func stringLen(s string) int { return uvarintLen(len(s)) + len(s) }

// indexNames returns the names of index in ascending order, so that equal
// maps encode to equal bytes.
func indexNames(index map[string]string) []string {
	if len(index) == 0 {
		return nil
	}
	names := make([]string, 0, len(index))
	for name := range index {
		names = append(names, name)
	}
	if len(names) > 1 {
		slices.Sort(names)
	}
	return names
}

// indexLen is the length of the index part of an encoded record value.
func indexLen(index map[string]string) int {
	n := uvarintLen(len(index))
	for name, v := range index {
		n += stringLen(name) + stringLen(v)
	}
	return n
}

// appendValue appends the encoded record value: the revision (rev, which a
// writer fills in later when it is 0), the index (field count, then name
// and value of each field in name order) and the data, verbatim, to the
// end. It returns the extended slice and the index part's bounds in it.
func appendValue(b []byte, rev int64, names []string, index map[string]string, data []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, revLen)...)
	putRev(b[start:], rev)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		b = appendString(b, name)
		b = appendString(b, index[name])
	}
	return append(b, data...)
}

// value is a decoded record value. Its slices alias the bytes decoded.
type value struct {
	rev   int64
	index []byte // the raw index part, field count included
	data  []byte
}

// decodeValue splits an encoded record value.
func decodeValue(b []byte) (value, error) {
	rev, ok := getRev(b)
	if !ok {
		return value{}, fmt.Errorf("%w: record value of %d bytes has no valid revision", ErrCorrupt, len(b))
	}
	rest := b[revLen:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)) {
		return value{}, fmt.Errorf("%w: bad index field count", ErrCorrupt)
	}
	rest = rest[w:]
	for i := uint64(0); i < 2*n; i++ {
		if _, rest, ok = readString(rest); !ok {
			return value{}, fmt.Errorf("%w: index field %d is truncated", ErrCorrupt, i/2)
		}
	}
	indexEnd := len(b) - len(rest)
	return value{rev: rev, index: b[revLen:indexEnd], data: rest}, nil
}

// eachIndex calls f with every field of a raw index part, in name order.
// The part must have been checked by decodeValue.
func eachIndex(raw []byte, f func(name, value []byte)) {
	n, w := binary.Uvarint(raw)
	raw = raw[w:]
	for range n {
		var name, v []byte
		name, raw, _ = readString(raw)
		v, raw, _ = readString(raw)
		f(name, v)
	}
}

// indexMap decodes a raw index part into a new map, nil when it has no
// fields (as memstore returns records written without an index).
func indexMap(raw []byte) map[string]string {
	n, _ := binary.Uvarint(raw)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	eachIndex(raw, func(name, v []byte) { m[string(name)] = string(v) })
	return m
}

// changeKey appends the key of a change entry: the revision, then the kind
// (length-prefixed) and the record key. Entries of one revision are thus
// grouped by kind and ordered by key.
func changeKey(b []byte, rev int64, kind, key []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, revLen)...)
	putRev(b[start:], rev)
	b = binary.AppendUvarint(b, uint64(len(kind)))
	b = append(b, kind...)
	return append(b, key...)
}

// decodeChangeKey splits a change entry's key.
func decodeChangeKey(b []byte) (rev int64, kind, key []byte, err error) {
	rev, ok := getRev(b)
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: change entry key %x has no valid revision", ErrCorrupt, b)
	}
	kind, key, ok = readString(b[revLen:])
	if !ok || len(kind) == 0 || len(key) == 0 {
		return 0, nil, nil, fmt.Errorf("%w: change entry key %x has no kind and key", ErrCorrupt, b)
	}
	return rev, kind, key, nil
}

// Change entry values: what the entry stands for.
var (
	liveMark = []byte{}          // the record's current state, in the records bucket
	tombMark = []byte{tombValue} // a tombstone
)

const tombValue = 'd'

// indexPrefix appends the prefix of the index entries for field name
// holding v; the record key follows it.
func indexPrefix(b []byte, name, v string) []byte {
	return appendString(appendString(b, name), v)
}

// indexPrefixBytes is indexPrefix for byte slices.
func indexPrefixBytes(b []byte, name, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// sameIndexField reports whether raw (a decoded index part) has field name
// with value v.
func sameIndexField(raw []byte, name, v []byte) bool {
	found := false
	eachIndex(raw, func(n, val []byte) {
		if !found && bytes.Equal(n, name) && bytes.Equal(val, v) {
			found = true
		}
	})
	return found
}

// kindCache turns kinds into strings, reusing the last one made when the
// kind repeats (change feeds repeat a few kinds many times).
type kindCache struct {
	last string
}

// get returns kind as a string.
func (c *kindCache) get(kind []byte) string {
	if c.last == "" || c.last != string(kind) { // the comparison does not allocate
		c.last = string(kind)
	}
	return c.last
}
