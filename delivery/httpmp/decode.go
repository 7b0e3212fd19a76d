package httpmp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
)

// decodeBody reads r's JSON body into v strictly: Content-Type must be
// application/json (415 otherwise), the body at most limit bytes (413),
// one JSON value with no unknown fields and nothing after it (400).
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return refuse(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "",
			fmt.Sprintf("Content-Type must be application/json, not %q", ct))
	}
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	return decodeJSON(body, v)
}

func tooLarge(limit int64) *refusal {
	return refuse(http.StatusRequestEntityTooLarge, CodeTooLarge, "",
		fmt.Sprintf("request body is larger than %d bytes", limit))
}

// decodeJSON decodes exactly one JSON value from rd into v, refusing
// unknown fields and trailing data. Numbers inside interface values (device
// properties and inventory) are kept as json.Number for coerceDevice.
func decodeJSON(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
		return nil
	case err != nil:
		return jsonError(err)
	}
	return invalid("", "request body holds more than one JSON value")
}

// jsonError turns a decoding failure into a 400 (or a 413 for a body over
// the limit) naming what it can.
func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.Is(err, io.EOF):
		return invalid("", "request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "request body ends in the middle of a JSON value")
	case errors.As(err, &se):
		return invalid("", fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se))
	case errors.As(err, &te):
		field := te.Field
		return invalid(field, fmt.Sprintf("%s must be a JSON %s, not %s", fieldOrBody(field), jsonKind(te.Type.Kind().String()), te.Value))
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return invalid(name, fmt.Sprintf("unknown field %q", name))
	}
	return invalid("", "malformed request body: "+strings.TrimPrefix(msg, "json: "))
}

func fieldOrBody(f string) string {
	if f == "" {
		return "the request body"
	}
	return f
}

// jsonKind names a Go kind the way a JSON author thinks of it.
func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "number (" + k + ")"
	case k == "struct", k == "map":
		return "object"
	case k == "slice", k == "array":
		return "array"
	case k == "bool":
		return "boolean"
	}
	return k
}

// coerceDevice converts the values of d's Properties and Inventory, as JSON
// decoding left them (json.Number, string, []any), to the Go types the
// schema's property types need: int64 for Integer, time.Time (RFC 3339) for
// DateTime, typed slices for arrays. A value that does not convert is left
// as it is, so that the Site's validation names it with the rule it breaks.
// Names the schema does not know are left alone for the same reason.
func coerceDevice(d *collection.Device, s *wql.Schema) {
	if d == nil {
		return
	}
	for name, x := range d.Properties {
		d.Properties[name] = coerceProperty(s, 0, name, x)
	}
	for class, rows := range d.Inventory {
		c, ok := s.ClassIndex(class)
		if !ok {
			for _, row := range rows {
				for name, x := range row {
					row[name] = plainNumber(x)
				}
			}
			continue
		}
		for _, row := range rows {
			for name, x := range row {
				row[name] = coerceProperty(s, c, name, x)
			}
		}
	}
}

func coerceProperty(s *wql.Schema, class int, name string, x any) any {
	j, ok := s.PropertyIndex(class, name)
	if !ok {
		return plainNumber(x)
	}
	p := s.Class(class).Properties[j]
	if !p.Array {
		if v, ok := coerceScalar(x, p.Type); ok {
			return v
		}
		return plainNumber(x)
	}
	elems, isList := x.([]any)
	if !isList {
		return plainNumber(x)
	}
	switch p.Type {
	case wql.String:
		return coerceSlice[string](elems, p.Type)
	case wql.Integer:
		return coerceSlice[int64](elems, p.Type)
	case wql.DateTime:
		return coerceSlice[time.Time](elems, p.Type)
	case wql.Boolean:
		return coerceSlice[bool](elems, p.Type)
	}
	return x
}

// coerceSlice converts every element to T, or returns elems unchanged when
// one does not convert.
func coerceSlice[T any](elems []any, t wql.Type) any {
	out := make([]T, len(elems))
	for i, e := range elems {
		v, ok := coerceScalar(e, t)
		if !ok {
			return plainSlice(elems)
		}
		tv, ok := v.(T)
		if !ok {
			return plainSlice(elems)
		}
		out[i] = tv
	}
	return out
}

func coerceScalar(x any, t wql.Type) (any, bool) {
	switch t {
	case wql.String:
		s, ok := x.(string)
		return s, ok
	case wql.Boolean:
		b, ok := x.(bool)
		return b, ok
	case wql.Integer:
		if n, ok := x.(json.Number); ok {
			if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
				return i, true
			}
			// 1.0 or 1e3 from a JSON writer that prints integers as floats.
			if f, err := n.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return int64(f), true
			}
		}
	case wql.DateTime:
		if s, ok := x.(string); ok {
			if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return tm, true
			}
		}
	}
	return nil, false
}

// plainNumber turns a json.Number left over in a value the schema does not
// type into a float64 (what encoding/json gives by default), so that the
// Site's error names a familiar type; slices are walked.
func plainNumber(x any) any {
	switch v := x.(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case []any:
		return plainSlice(v)
	}
	return x
}

func plainSlice(elems []any) []any {
	out := make([]any, len(elems))
	for i, e := range elems {
		out[i] = plainNumber(e)
	}
	return out
}

// etagValue strips the quotes (and a weak-validator prefix) from an ETag as
// a client may send it back.
func etagValue(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}

// matchesETag reports whether an If-None-Match header value names etag
// (quoted) or is "*".
func matchesETag(header, etag string) bool {
	if header == "" {
		return false
	}
	want := etagValue(etag)
	for part := range strings.SplitSeq(header, ",") {
		p := strings.TrimSpace(part)
		if p == "*" || etagValue(p) == want {
			return true
		}
	}
	return false
}
