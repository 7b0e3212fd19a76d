package collection

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
)

// The storage form of a Device: what a store holds for it, compact so that a
// site loading a million devices decodes each in microseconds (a JSON map of
// inventory costs tens). Stores already hold this form, so it never changes
// without a new format byte:
//
//	byte    format (storageFormat, 1)
//	uvarint ResourceID
//	strings Name, NetbiosName, SMSUniqueIdentifier,
//	        OperatingSystemNameandVersion, ResourceDomainORWorkgroup,
//	        ADSiteName, LastLogonUserName, TimeZone
//	byte    Client | Obsolete<<1 | Active<<2
//	lists   SystemOUName, SystemGroupName, IPAddresses, IPSubnets
//	uvarint properties (sorted by name), each: string name, value
//	uvarint classes (sorted by name), each: string class, uvarint rows,
//	        each row: uvarint properties (sorted by name), each: string name, value
//
// A string is a uvarint length and its bytes; a list a uvarint count and its
// strings. A value is a tag byte then: nothing (null, false, true), a string,
// a zigzag varint (integer), a zigzag varint of Unix microseconds (a
// DateTime: WMI's precision, kept as an instant in UTC), or a uvarint count
// and that many values (an array). Values are typed by the schema when
// encoded, so they decode to what the schema declares: string, int64, bool,
// time.Time, []any. Names are kept as the Device spelled them.
const storageFormat byte = 1

const (
	stNull byte = iota
	stString
	stInt
	stFalse
	stTrue
	stTime
	stArray
)

// EncodeDevice returns d's storage form, the bytes a store keeps for it (the
// format is documented in storage.go and never changes under its format
// byte). Every property and class must be in s, and every value convertible
// to its property's type (consign.ErrInvalid, with the field path); the form
// is decoded again and checked with Validate, so that nothing is stored that
// DecodeDevice or Engine.PutEncodedDevices could not load.
func EncodeDevice(d *Device, s *wql.Schema) ([]byte, error) {
	return encodeDevice(d, newLayout(s))
}

// EncodeDevice is EncodeDevice over the Engine's schema, reusing what the
// Engine knows of it: a caller storing many devices (a site's PutDevices)
// spares the schema's layout being built for each. It only reads the
// Engine.
func (e *Engine) EncodeDevice(d *Device) ([]byte, error) { return encodeDevice(d, e.lay) }

// ValidateDevice is d.Validate over the Engine's schema, as EncodeDevice
// is the package's EncodeDevice. It only reads the Engine.
func (e *Engine) ValidateDevice(d *Device) error {
	_, err := e.lay.rows(d)
	return err
}

func encodeDevice(d *Device, l *layout) ([]byte, error) {
	e := storageEncoder{l: l, b: make([]byte, 0, 512)}
	if err := e.device(d); err != nil {
		return nil, err
	}
	back, err := DecodeDevice(e.b, l.schema)
	if err != nil {
		return nil, err
	}
	if _, err := l.rows(back); err != nil {
		return nil, fmt.Errorf("device %d does not survive storage: %w", d.ResourceID, err)
	}
	return e.b, nil
}

type storageEncoder struct {
	l *layout // names are looked up in the schema's spelling first
	b []byte
}

func (e *storageEncoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *storageEncoder) list(l []string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(l)))
	for _, s := range l {
		e.str(s)
	}
}

func (e *storageEncoder) device(d *Device) error {
	e.b = append(e.b, storageFormat)
	e.b = binary.AppendUvarint(e.b, uint64(d.ResourceID))
	for _, s := range [...]string{d.Name, d.NetbiosName, d.SMSUniqueIdentifier, d.OperatingSystemNameandVersion,
		d.ResourceDomainORWorkgroup, d.ADSiteName, d.LastLogonUserName, d.TimeZone} {
		e.str(s)
	}
	var flags byte
	for i, b := range [...]bool{d.Client, d.Obsolete, d.Active} {
		if b {
			flags |= 1 << i
		}
	}
	e.b = append(e.b, flags)
	for _, l := range [...][]string{d.SystemOUName, d.SystemGroupName, d.IPAddresses, d.IPSubnets} {
		e.list(l)
	}
	var p consign.Problems
	e.row(&p, 0, d.Properties, func() string { return "Device.Properties" })
	e.b = binary.AppendUvarint(e.b, uint64(len(d.Inventory)))
	for _, class := range slices.Sorted(maps.Keys(d.Inventory)) {
		ci, ok := e.l.class(class)
		if !ok || ci == 0 {
			p.Add(fmt.Sprintf("Device.Inventory[%q]", class), "must name an inventory class of the schema")
			continue
		}
		e.str(class)
		rows := d.Inventory[class]
		e.b = binary.AppendUvarint(e.b, uint64(len(rows)))
		for i, row := range rows {
			e.row(&p, ci, row, func() string { return fmt.Sprintf("Device.Inventory[%q][%d]", class, i) })
		}
	}
	return p.Err()
}

// row encodes name → value pairs of class, sorted by name; field names the
// row in problems (made only for one).
func (e *storageEncoder) row(p *consign.Problems, class int, row map[string]any, field func() string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(row)))
	for _, name := range slices.Sorted(maps.Keys(row)) {
		pi, ok := e.l.property(class, name)
		if !ok {
			p.Add(fmt.Sprintf("%s[%q]", field(), name), "must be a property of "+e.l.schema.Class(class).Name+" in the schema")
			continue
		}
		prop := e.l.schema.Class(class).Properties[pi]
		v, err := wql.ValueOf(row[name], prop.Type, prop.Array)
		if err != nil {
			p.AddValue(fmt.Sprintf("%s[%q]", field(), name), row[name], "must be a "+typeName(prop))
			continue
		}
		e.str(name)
		e.value(v)
	}
}

func (e *storageEncoder) value(v wql.Value) {
	switch {
	case v.IsNull():
		e.b = append(e.b, stNull)
	case v.IsArray():
		e.b = append(e.b, stArray)
		e.b = binary.AppendUvarint(e.b, uint64(len(v.Elems())))
		for _, x := range v.Elems() {
			e.value(x)
		}
	case v.Type() == wql.Integer:
		e.b = append(e.b, stInt)
		e.b = binary.AppendVarint(e.b, v.Int())
	case v.Type() == wql.Boolean:
		if v.Bool() {
			e.b = append(e.b, stTrue)
		} else {
			e.b = append(e.b, stFalse)
		}
	case v.Type() == wql.DateTime:
		e.b = append(e.b, stTime)
		e.b = binary.AppendVarint(e.b, v.Time().UnixMicro())
	default:
		e.b = append(e.b, stString)
		e.str(v.String())
	}
}

// storageReader reads a storage form, remembering the first failure: after
// it every read returns zero values. It never allocates but for the error.
type storageReader struct {
	b   []byte
	pos int
	err error
}

// errStorage is a malformed storage form: a ValidationError on the record,
// so that errors.Is(err, consign.ErrInvalid) holds.
func errStorage(rule string, value any) error {
	return &consign.ValidationError{Field: "Device storage form", Value: value, Rule: rule}
}

func (r *storageReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.pos = len(r.b)
}

func (r *storageReader) truncated() {
	r.fail(errStorage("must be a complete record (it is truncated or malformed)", nil))
}

func (r *storageReader) uvarint() uint64 {
	if r.pos < len(r.b) && r.b[r.pos] < 0x80 {
		r.pos++
		return uint64(r.b[r.pos-1])
	}
	n, k := binary.Uvarint(r.b[r.pos:])
	if k <= 0 {
		r.truncated()
		return 0
	}
	r.pos += k
	return n
}

func (r *storageReader) varint() int64 {
	n, k := binary.Varint(r.b[r.pos:])
	if k <= 0 {
		r.truncated()
		return 0
	}
	r.pos += k
	return n
}

func (r *storageReader) byte() byte {
	if r.pos >= len(r.b) {
		r.truncated()
		return 0
	}
	r.pos++
	return r.b[r.pos-1]
}

// count reads a number of items of at least one byte each, which must fit
// in what is left of the record, so that a corrupt record cannot make a
// decoder allocate without bound.
func (r *storageReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)-r.pos) {
		r.truncated()
		return 0
	}
	return int(n)
}

// raw reads a string's bytes, shared with the record.
func (r *storageReader) raw() []byte {
	n := r.count()
	b := r.b[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return b
}

func (r *storageReader) str() string { return string(r.raw()) }

// skipValue skips one value.
func (r *storageReader) skipValue() {
	switch tag := r.byte(); tag {
	case stNull, stFalse, stTrue:
	case stString:
		r.raw()
	case stInt, stTime:
		r.varint()
	case stArray:
		for range r.count() {
			r.skipValue()
		}
	default:
		r.fail(errStorage("has an unknown value tag", tag))
	}
}

// end returns the first failure, or an error if bytes are left over.
func (r *storageReader) end() error {
	if r.err == nil && r.pos != len(r.b) {
		r.err = errStorage("must end where its last value ends", fmt.Sprintf("%d bytes more", len(r.b)-r.pos))
	}
	return r.err
}

// header reads the format byte and the Device fields into d, which it
// returns; strings are copied.
func (r *storageReader) header(d *Device) {
	if v := r.byte(); v != storageFormat && r.err == nil {
		r.fail(errStorage(fmt.Sprintf("must be in storage format %d", storageFormat), v))
		return
	}
	id := r.uvarint()
	if id > 1<<32-1 {
		r.fail(errStorage("ResourceID must fit in 32 bits", id))
		return
	}
	d.ResourceID = uint32(id)
	for _, f := range [...]*string{&d.Name, &d.NetbiosName, &d.SMSUniqueIdentifier, &d.OperatingSystemNameandVersion,
		&d.ResourceDomainORWorkgroup, &d.ADSiteName, &d.LastLogonUserName, &d.TimeZone} {
		*f = r.str()
	}
	flags := r.byte()
	d.Client, d.Obsolete, d.Active = flags&1 != 0, flags&2 != 0, flags&4 != 0
	for _, f := range [...]*[]string{&d.SystemOUName, &d.SystemGroupName, &d.IPAddresses, &d.IPSubnets} {
		n := r.count()
		if n == 0 {
			*f = nil
			continue
		}
		l := make([]string, n)
		for i := range l {
			l[i] = r.str()
		}
		*f = l
	}
}

// DecodeDevice decodes a storage form made by EncodeDevice. Every class and
// property must be in s; values come back as the Go types of the schema
// types they were stored as (string, int64, bool, time.Time in UTC, []any for
// arrays), and names as they were spelled. A malformed or truncated form is
// a *consign.ValidationError (consign.ErrInvalid).
func DecodeDevice(data []byte, s *wql.Schema) (*Device, error) {
	r := storageReader{b: data}
	d := &Device{}
	r.header(d)
	if props := r.row(s, 0, func() string { return "Device.Properties" }); len(props) > 0 {
		d.Properties = props
	}
	if n := r.count(); n > 0 {
		d.Inventory = make(map[string][]Instance, n)
		for range n {
			class := r.str()
			ci, ok := s.ClassIndex(class)
			if r.err == nil && (!ok || ci == 0) {
				r.fail(&consign.ValidationError{Field: fmt.Sprintf("Device.Inventory[%q]", class), Rule: "must name an inventory class of the schema"})
			}
			rows := make([]Instance, r.count())
			for i := range rows {
				rows[i] = r.row(s, ci, func() string { return fmt.Sprintf("Device.Inventory[%q][%d]", class, i) })
			}
			d.Inventory[class] = rows
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return d, nil
}

// row reads one row of class: nil when it has no properties. With a nil s,
// names are not checked (the caller did).
func (r *storageReader) row(s *wql.Schema, class int, field func() string) map[string]any {
	n := r.count()
	if n == 0 {
		return nil
	}
	row := make(map[string]any, n)
	for range n {
		name := r.str()
		if s != nil {
			if _, ok := s.PropertyIndex(class, name); !ok && r.err == nil {
				r.fail(&consign.ValidationError{Field: fmt.Sprintf("%s[%q]", field(), name), Rule: "must be a property of " + s.Class(class).Name + " in the schema"})
			}
		}
		row[name] = r.value()
	}
	return row
}

func (r *storageReader) value() any {
	switch tag := r.byte(); tag {
	case stNull:
		return nil
	case stString:
		return r.str()
	case stInt:
		return r.varint()
	case stFalse:
		return false
	case stTrue:
		return true
	case stTime:
		return time.UnixMicro(r.varint()).UTC()
	case stArray:
		out := make([]any, r.count())
		for i := range out {
			out[i] = r.value()
		}
		return out
	default:
		r.fail(errStorage("has an unknown value tag", tag))
		return nil
	}
}

// DecodeDeviceFields decodes only the Device fields of a storage form
// (ResourceID, Name, OperatingSystemNameandVersion, IPAddresses, IPSubnets,
// ADSiteName, TimeZone, …), leaving Properties and Inventory nil, and
// stops there: it costs a fraction of DecodeDevice. It does not check the
// rest of the record.
func DecodeDeviceFields(data []byte) (*Device, error) {
	r := storageReader{b: data}
	d := &Device{}
	r.header(d)
	if r.err != nil {
		return nil, r.err
	}
	return d, nil
}
