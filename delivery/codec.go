package delivery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
)

// Devices are stored in a compact binary form, because a site holds one
// record per device and loads them all when it opens: decoding must cost
// microseconds, not the tens a JSON map of inventory costs. The form:
//
//	version byte (deviceCodec)
//	uvarint ResourceID
//	strings Name, NetbiosName, SMSUniqueIdentifier,
//	        OperatingSystemNameandVersion, ResourceDomainORWorkgroup,
//	        ADSiteName, LastLogonUserName, TimeZone
//	byte    Client | Obsolete<<1 | Active<<2
//	lists   SystemOUName, SystemGroupName, IPAddresses, IPSubnets
//	uvarint properties, each: string name, value
//	uvarint classes (by name), each: string class, uvarint rows,
//	        each row: uvarint properties (by name), each: string name, value
//
// A string is a uvarint length and its bytes; a list a uvarint count and its
// strings. A value is a tag byte then: nothing (null, false, true), a string,
// a zigzag varint (integer), a zigzag varint of Unix microseconds (a
// DateTime: WMI's precision, kept as an instant in UTC), or a uvarint count
// and that many values (an array). Values are typed by the schema when
// encoded, so they decode to what the schema declares: string, int64, bool,
// time.Time, []any.
const deviceCodec byte = 1

const (
	tagNull byte = iota
	tagString
	tagInt
	tagFalse
	tagTrue
	tagTime
	tagArray
)

// encodeDevice encodes a device for the store and checks that it decodes to
// a device the schema still accepts, so that nothing is written that a Site
// could not load.
func encodeDevice(d *collection.Device, s *wql.Schema) ([]byte, error) {
	e := deviceEncoder{s: s, b: make([]byte, 0, 512)}
	if err := e.device(d); err != nil {
		return nil, err
	}
	back, err := decodeDevice(e.b, s, nil)
	if err != nil {
		return nil, err
	}
	if err := back.Validate(s); err != nil {
		return nil, fmt.Errorf("does not survive storage: %w", err)
	}
	return e.b, nil
}

type deviceEncoder struct {
	s *wql.Schema
	b []byte
}

func (e *deviceEncoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *deviceEncoder) list(l []string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(l)))
	for _, s := range l {
		e.str(s)
	}
}

func (e *deviceEncoder) device(d *collection.Device) error {
	e.b = append(e.b, deviceCodec)
	e.b = binary.AppendUvarint(e.b, uint64(d.ResourceID))
	for _, s := range []string{d.Name, d.NetbiosName, d.SMSUniqueIdentifier, d.OperatingSystemNameandVersion,
		d.ResourceDomainORWorkgroup, d.ADSiteName, d.LastLogonUserName, d.TimeZone} {
		e.str(s)
	}
	var flags byte
	for i, b := range []bool{d.Client, d.Obsolete, d.Active} {
		if b {
			flags |= 1 << i
		}
	}
	e.b = append(e.b, flags)
	for _, l := range [][]string{d.SystemOUName, d.SystemGroupName, d.IPAddresses, d.IPSubnets} {
		e.list(l)
	}
	sys, _ := e.s.ClassIndex(collection.SystemClass)
	if err := e.row(sys, d.Properties); err != nil {
		return fmt.Errorf("property %w", err)
	}
	e.b = binary.AppendUvarint(e.b, uint64(len(d.Inventory)))
	for _, class := range slices.Sorted(maps.Keys(d.Inventory)) {
		ci, ok := e.s.ClassIndex(class)
		if !ok {
			return fmt.Errorf("unknown inventory class %s", class)
		}
		e.str(class)
		rows := d.Inventory[class]
		e.b = binary.AppendUvarint(e.b, uint64(len(rows)))
		for _, row := range rows {
			if err := e.row(ci, row); err != nil {
				return fmt.Errorf("%s.%w", class, err)
			}
		}
	}
	return nil
}

// row encodes name → value pairs of class, by name.
func (e *deviceEncoder) row(class int, row map[string]any) error {
	e.b = binary.AppendUvarint(e.b, uint64(len(row)))
	for _, name := range slices.Sorted(maps.Keys(row)) {
		pi, ok := e.s.PropertyIndex(class, name)
		if !ok {
			return fmt.Errorf("%s: not in the schema", name)
		}
		p := e.s.Class(class).Properties[pi]
		v, err := wql.ValueOf(row[name], p.Type, p.Array)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		e.str(name)
		e.value(v)
	}
	return nil
}

func (e *deviceEncoder) value(v wql.Value) {
	switch {
	case v.IsNull():
		e.b = append(e.b, tagNull)
	case v.IsArray():
		e.b = append(e.b, tagArray)
		e.b = binary.AppendUvarint(e.b, uint64(len(v.Elems())))
		for _, x := range v.Elems() {
			e.value(x)
		}
	case v.Type() == wql.Integer:
		e.b = append(e.b, tagInt)
		e.b = binary.AppendVarint(e.b, v.Int())
	case v.Type() == wql.Boolean:
		if v.Bool() {
			e.b = append(e.b, tagTrue)
		} else {
			e.b = append(e.b, tagFalse)
		}
	case v.Type() == wql.DateTime:
		e.b = append(e.b, tagTime)
		e.b = binary.AppendVarint(e.b, v.Time().UnixMicro())
	default:
		e.b = append(e.b, tagString)
		e.str(v.String())
	}
}

// errTruncated reports a binary record that ends early or whose lengths
// do not fit in it.
var errTruncated = errors.New("record truncated or malformed")

// decodeDevice decodes a stored device; every property must be in the
// schema s. names, when not nil, caches the class and property names seen,
// so that decoding many devices allocates each name once.
func decodeDevice(data []byte, s *wql.Schema, names map[string]string) (*collection.Device, error) {
	if names == nil {
		names = map[string]string{}
	}
	d := deviceDecoder{recordReader: recordReader{b: data}, s: s, names: names}
	dev, err := d.device()
	if err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("device record: %w", err)
	}
	return dev, nil
}

// recordReader reads the fields of a binary record (devices here, statuses
// and histories in statusrecord.go), remembering the first failure: after
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

type deviceDecoder struct {
	recordReader
	s     *wql.Schema
	names map[string]string
}

// name reads a string that names a class or property, shared through the
// names cache.
func (d *deviceDecoder) name() string {
	raw := d.bytes(d.count(1))
	if s, ok := d.names[string(raw)]; ok {
		return s
	}
	s := string(raw)
	d.names[s] = s
	return s
}

func (d *deviceDecoder) list() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.str()
	}
	return l
}

func (d *deviceDecoder) device() (*collection.Device, error) {
	if v := d.byte(); v != deviceCodec {
		return nil, fmt.Errorf("device record in format %d; this Site reads format %d", v, deviceCodec)
	}
	id := d.uvarint()
	if id > 1<<32-1 {
		return nil, fmt.Errorf("device record: ResourceID %d out of range", id)
	}
	dev := &collection.Device{ResourceID: uint32(id)}
	for _, f := range []*string{&dev.Name, &dev.NetbiosName, &dev.SMSUniqueIdentifier, &dev.OperatingSystemNameandVersion,
		&dev.ResourceDomainORWorkgroup, &dev.ADSiteName, &dev.LastLogonUserName, &dev.TimeZone} {
		*f = d.str()
	}
	flags := d.byte()
	dev.Client, dev.Obsolete, dev.Active = flags&1 != 0, flags&2 != 0, flags&4 != 0
	for _, f := range []*[]string{&dev.SystemOUName, &dev.SystemGroupName, &dev.IPAddresses, &dev.IPSubnets} {
		*f = d.list()
	}
	sys, _ := d.s.ClassIndex(collection.SystemClass)
	props, err := d.row(sys)
	if err != nil {
		return nil, fmt.Errorf("property %w", err)
	}
	if len(props) > 0 {
		dev.Properties = props
	}
	if n := d.count(1); n > 0 {
		dev.Inventory = make(map[string][]collection.Instance, n)
		for range n {
			class := d.name()
			ci, ok := d.s.ClassIndex(class)
			if !ok && d.err == nil {
				return nil, fmt.Errorf("unknown inventory class %s", class)
			}
			rows := make([]collection.Instance, d.count(1))
			for i := range rows {
				row, err := d.row(ci)
				if err != nil {
					return nil, fmt.Errorf("%s.%w", class, err)
				}
				rows[i] = row
			}
			dev.Inventory[class] = rows
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return dev, nil
}

func (d *deviceDecoder) row(class int) (map[string]any, error) {
	n := d.count(1)
	if n == 0 {
		return nil, d.err
	}
	row := make(map[string]any, n)
	for range n {
		name := d.name()
		if d.err != nil {
			return nil, d.err
		}
		if _, ok := d.s.PropertyIndex(class, name); !ok {
			return nil, fmt.Errorf("%s: not in the schema", name)
		}
		row[name] = d.value()
	}
	return row, d.err
}

func (d *deviceDecoder) value() any {
	switch tag := d.byte(); tag {
	case tagNull:
		return nil
	case tagString:
		return d.str()
	case tagInt:
		return d.varint()
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagTime:
		return time.UnixMicro(d.varint()).UTC()
	case tagArray:
		out := make([]any, d.count(1))
		for i := range out {
			out[i] = d.value()
		}
		return out
	default:
		d.fail(fmt.Errorf("device record: unknown value tag %d", tag))
		return nil
	}
}
