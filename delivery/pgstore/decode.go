package pgstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// rowDecoder turns the rows of List and Changes into records. A Site opens
// by reading the whole feed (a million records and more), so it decodes the
// binary result format itself: pgx's generic Scan allocates a dozen times
// per row (the bytea arrays through reflection among them), which made the
// client, not PostgreSQL, the bottleneck. Kinds and index field names,
// which repeat, are interned. Where the pool returns text (a pool set to
// the simple protocol), it falls back to Scan.
type rowDecoder struct {
	binary bool
	cols   int
	strs   map[string]string
}

// newRowDecoder prepares to decode rows whose columns are those of the
// List and Changes queries: [kind,] key, rev, [deleted,] index_names,
// index_values, data.
func newRowDecoder(rows pgx.Rows) *rowDecoder {
	fds := rows.FieldDescriptions()
	d := &rowDecoder{binary: true, cols: len(fds), strs: map[string]string{}}
	for _, fd := range fds {
		d.binary = d.binary && fd.Format == pgx.BinaryFormatCode
	}
	return d
}

// intern returns b as a string, the same string for equal bytes.
func (d *rowDecoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	d.strs[s] = s
	return s
}

// changeRow decodes a Changes row: kind, key, rev, deleted, index_names,
// index_values, data.
func (d *rowDecoder) changeRow(rows pgx.Rows) (kind, key string, rev int64, deleted bool, index map[string]string, data []byte, err error) {
	if !d.binary {
		var k, ky []byte
		var names, values [][]byte
		err = rows.Scan(&k, &ky, &rev, &deleted, &names, &values, &data)
		return d.intern(k), string(ky), rev, deleted, indexMap(names, values), data, err
	}
	raw := rows.RawValues()
	if len(raw) != 7 || len(raw[2]) != 8 || len(raw[3]) != 1 {
		return "", "", 0, false, nil, nil, errors.New("pgstore: unexpected Changes row")
	}
	index, err = d.index(raw[4], raw[5])
	return d.intern(raw[0]), string(raw[1]), int64(binary.BigEndian.Uint64(raw[2])), raw[3][0] != 0, index, cloneData(raw[6]), err
}

// listRow decodes a List row: key, rev, index_names, index_values, data.
func (d *rowDecoder) listRow(rows pgx.Rows) (key string, rev int64, index map[string]string, data []byte, err error) {
	if !d.binary {
		var k []byte
		var names, values [][]byte
		err = rows.Scan(&k, &rev, &names, &values, &data)
		return string(k), rev, indexMap(names, values), data, err
	}
	raw := rows.RawValues()
	if len(raw) != 5 || len(raw[1]) != 8 {
		return "", 0, nil, nil, errors.New("pgstore: unexpected List row")
	}
	index, err = d.index(raw[2], raw[3])
	return string(raw[0]), int64(binary.BigEndian.Uint64(raw[1])), index, cloneData(raw[4]), err
}

// cloneData copies a data column; NULL (a tombstone's) stays nil.
func cloneData(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

// index pairs the binary bytea[] arrays of a record's index field names
// and values into a map (nil when there are none).
func (d *rowDecoder) index(names, values []byte) (map[string]string, error) {
	var buf [8][]byte
	ns, err := byteaArray(names, buf[:0])
	if err != nil || len(ns) == 0 {
		return nil, err
	}
	m := make(map[string]string, len(ns))
	i := 0
	err = eachElem(values, func(v []byte) error {
		if i >= len(ns) {
			return errors.New("pgstore: more index values than names")
		}
		m[d.intern(ns[i])] = string(v)
		i++
		return nil
	})
	if err == nil && i != len(ns) {
		err = errors.New("pgstore: fewer index values than names")
	}
	return m, err
}

// byteaArray appends the elements of a binary one-dimensional bytea[]
// (aliasing src) to dst.
func byteaArray(src []byte, dst [][]byte) ([][]byte, error) {
	err := eachElem(src, func(e []byte) error {
		dst = append(dst, e)
		return nil
	})
	return dst, err
}

// eachElem calls f with each element of src, a one-dimensional array in
// PostgreSQL's binary format: ndim, has-nulls flag and element type (int32
// each); length and lower bound per dimension; then each element's length
// (-1 for NULL, which the store never writes) and bytes. NULL arrays (nil)
// and empty ones (ndim 0) have no elements.
func eachElem(src []byte, f func([]byte) error) error {
	if src == nil {
		return nil
	}
	if len(src) < 12 {
		return fmt.Errorf("pgstore: array of %d bytes", len(src))
	}
	switch ndim := binary.BigEndian.Uint32(src); ndim {
	case 0:
		return nil
	case 1:
	default:
		return fmt.Errorf("pgstore: array of %d dimensions", ndim)
	}
	if len(src) < 20 {
		return fmt.Errorf("pgstore: array header of %d bytes", len(src))
	}
	n := int(int32(binary.BigEndian.Uint32(src[12:])))
	p := 20
	for range n {
		if len(src) < p+4 {
			return errors.New("pgstore: array ends inside an element length")
		}
		l := int(int32(binary.BigEndian.Uint32(src[p:])))
		p += 4
		if l < 0 || len(src) < p+l {
			return fmt.Errorf("pgstore: array element of length %d", l)
		}
		if err := f(src[p : p+l : p+l]); err != nil {
			return err
		}
		p += l
	}
	if p != len(src) {
		return fmt.Errorf("pgstore: %d bytes after the array's elements", len(src)-p)
	}
	return nil
}
