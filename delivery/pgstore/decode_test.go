package pgstore

import (
	"encoding/binary"
	"maps"
	"slices"
	"testing"
)

// array encodes elems as a one-dimensional bytea[] in PostgreSQL's binary
// format.
func array(elems ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, 1) // ndim
	b = binary.BigEndian.AppendUint32(b, 0)    // no NULLs
	b = binary.BigEndian.AppendUint32(b, 17)   // bytea
	b = binary.BigEndian.AppendUint32(b, uint32(len(elems)))
	b = binary.BigEndian.AppendUint32(b, 1) // lower bound
	for _, e := range elems {
		b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
		b = append(b, e...)
	}
	return b
}

func TestEachElem(t *testing.T) {
	empty := binary.BigEndian.AppendUint32(make([]byte, 0, 12), 0)
	empty = append(empty, make([]byte, 8)...)
	twoDims := array("a")
	binary.BigEndian.PutUint32(twoDims, 2)
	negative := array("ab")
	binary.BigEndian.PutUint32(negative[20:], 0xffffffff)
	for _, c := range []struct {
		name string
		src  []byte
		want []string
		bad  bool
	}{
		{"NULL", nil, nil, false},
		{"no dimensions", empty, nil, false},
		{"elements", array("state", "", "a\x00\xff"), []string{"state", "", "a\x00\xff"}, false},
		{"short header", []byte{0, 0, 0, 1}, nil, true},
		{"two dimensions", twoDims, nil, true},
		{"cut inside an element", array("abc")[:25], nil, true},
		{"cut inside a length", array("abc", "d")[:29], nil, true},
		{"NULL element", negative, nil, true},
		{"trailing bytes", append(array("a"), 0), nil, true},
	} {
		var got []string
		err := eachElem(c.src, func(e []byte) error {
			got = append(got, string(e))
			return nil
		})
		if (err != nil) != c.bad || !c.bad && !slices.Equal(got, c.want) {
			t.Errorf("%s: eachElem = %q, %v; want %q, error %v", c.name, got, err, c.want, c.bad)
		}
	}
}

func TestDecodeIndex(t *testing.T) {
	d := &rowDecoder{strs: map[string]string{}}
	m, err := d.index(array("a", "b\x00"), array("1", ""))
	if want := map[string]string{"a": "1", "b\x00": ""}; err != nil || !maps.Equal(m, want) {
		t.Errorf("index = %v, %v; want %v", m, err, want)
	}
	if m, err := d.index(nil, nil); err != nil || m != nil {
		t.Errorf("index of NULL arrays = %v, %v; want nil", m, err)
	}
	if _, err := d.index(array("a", "b"), array("1")); err == nil {
		t.Error("index with fewer values than names: want an error")
	}
	if _, err := d.index(array("a"), array("1", "2")); err == nil {
		t.Error("index with more values than names: want an error")
	}
	// Names are interned: two records share one string per field name.
	m1, _ := d.index(array("state"), array("x"))
	m2, _ := d.index(array("state"), array("y"))
	for k1 := range m1 {
		for k2 := range m2 {
			if k1 != k2 || len(d.strs) != 3 {
				t.Errorf("interned names: %q, %q, %d strings", k1, k2, len(d.strs))
			}
		}
	}
}
