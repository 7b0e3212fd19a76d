package delivery

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
)

// Devices are stored in their storage form, collection.EncodeDevice's: the
// format is documented, and owned, by package collection, so that
// collection.Engine.PutEncodedDevices can load a site's devices straight
// from their records.

// encodeDevice encodes a device for the store (collection.EncodeDevice).
func encodeDevice(d *collection.Device, s *wql.Schema) ([]byte, error) {
	return collection.EncodeDevice(d, s)
}

// decodeDevice decodes a stored device (collection.DecodeDevice); names is
// no longer needed (names in the schema's spelling are shared with it) and
// ignored.
func decodeDevice(data []byte, s *wql.Schema, names map[string]string) (*collection.Device, error) {
	return collection.DecodeDevice(data, s)
}

// errTruncated reports a binary record that ends early or whose lengths
// do not fit in it.
var errTruncated = errors.New("record truncated or malformed")

// recordReader reads the fields of a binary record (statuses and histories,
// statusrecord.go), remembering the first failure: after
// it every read returns zero values.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *recordReader) uvarint() uint64 {
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *recordReader) varint() int64 {
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *recordReader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// count reads a number of items of at least size bytes each, which must
// fit in what is left of the record, so that a corrupt record cannot make
// the decoder allocate without bound.
func (r *recordReader) count(size int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/size) {
		r.fail(errTruncated)
		return 0
	}
	return int(n)
}

// bytes reads n bytes (n from count, so they are there).
func (r *recordReader) bytes(n int) []byte {
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *recordReader) str() string { return string(r.bytes(r.count(1))) }

// end returns the first failure, or an error if bytes are left over.
func (r *recordReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after its end", len(r.b))
	}
	return r.err
}
