package delivery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
)

// encodeDevice encodes a device for the store and checks that it decodes to
// a device the schema still accepts, so that nothing is written that a Site
// could not load (values JSON cannot carry, such as a wql.Value, fail here).
func encodeDevice(d *collection.Device, s *wql.Schema) ([]byte, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	back, err := decodeDevice(data, s)
	if err != nil {
		return nil, err
	}
	if err := back.Validate(s); err != nil {
		return nil, fmt.Errorf("does not survive storage: %w", err)
	}
	return data, nil
}

// decodeDevice decodes a stored device. JSON loses the Go types of the
// free-form property maps (numbers become json.Number, times strings), so
// every value is converted back to the type its schema property declares.
func decodeDevice(data []byte, s *wql.Schema) (*collection.Device, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var d collection.Device
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	sys, _ := s.ClassIndex("SMS_R_System")
	for name, v := range d.Properties {
		x, err := retype(s, sys, name, v)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", name, err)
		}
		d.Properties[name] = x
	}
	for class, rows := range d.Inventory {
		ci, ok := s.ClassIndex(class)
		if !ok {
			return nil, fmt.Errorf("unknown inventory class %s", class)
		}
		for _, row := range rows {
			for name, v := range row {
				x, err := retype(s, ci, name, v)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", class, name, err)
				}
				row[name] = x
			}
		}
	}
	return &d, nil
}

func retype(s *wql.Schema, class int, name string, v any) (any, error) {
	pi, ok := s.PropertyIndex(class, name)
	if !ok {
		return nil, fmt.Errorf("not in the schema")
	}
	p := s.Class(class).Properties[pi]
	if v == nil {
		return nil, nil
	}
	if p.Array {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want an array, got %T", v)
		}
		out := make([]any, len(list))
		for i, e := range list {
			if e == nil {
				continue
			}
			x, err := scalar(p.Type, e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	}
	return scalar(p.Type, v)
}

func scalar(t wql.Type, v any) (any, error) {
	switch t {
	case wql.Integer:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want a number, got %T", v)
		}
		return n.Int64()
	case wql.DateTime:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a time, got %T", v)
		}
		return time.Parse(time.RFC3339Nano, str)
	case wql.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want a boolean, got %T", v)
		}
		return b, nil
	default:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %T", v)
		}
		return str, nil
	}
}
