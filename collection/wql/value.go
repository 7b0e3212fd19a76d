package wql

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/consign/consign"
)

// kind is what a Value holds.
type kind uint8

const (
	kNull kind = iota
	kStr
	kInt
	kTime // n is Unix microseconds
	kBool // n is 0 or 1
	kArray
)

// Value is one property value, or NULL. An Array property's value is an
// array Value whose elements are single values. Values are small (40 bytes)
// and comparable with ==; arrays compare by identity, and values tagged
// with an id (Sym, Interned) by id too.
//
// DateTime values are instants with microsecond precision, the precision of
// WMI's DATETIME; their time zone is not kept.
type Value struct {
	s string
	a *[]Value
	n int64
	k kind
}

// Null returns NULL, the value of a property that has none.
func Null() Value { return Value{} }

// Str returns a String value.
func Str(s string) Value { return Value{k: kStr, s: s} }

// Int returns an Integer value.
func Int(n int64) Value { return Value{k: kInt, n: n} }

// Time returns a DateTime value: t truncated to the microsecond.
func Time(t time.Time) Value { return Value{k: kTime, n: t.UnixMicro()} }

// Bool returns a Boolean value.
func Bool(b bool) Value {
	if b {
		return Value{k: kBool, n: 1}
	}
	return Value{k: kBool}
}

// Sym returns the String value s tagged with id, a dense non-negative number
// the caller gives each distinct string it interns (a negative id gives
// Str(s)). A Prepared memoises the outcome of a condition that reads one
// column, per id, so the caller must give one id to one string only, for as
// long as it matches resources against a Prepared. Sym(s, id) is a String
// like Str(s) for every purpose but ==, which also compares ids.
func Sym(s string, id int32) Value {
	if id < 0 {
		return Str(s)
	}
	return Value{k: kStr, s: s, n: int64(id) + 1}
}

// Interned returns v tagged with id, like Sym: for a String value the same as
// Sym(v.String(), id), for an array value the array tagged with id (one id
// for one array content, and ids shared with the Strings' id space); any
// other value is returned as it is, and a negative id removes the tag.
func Interned(v Value, id int32) Value {
	if v.k != kStr && v.k != kArray {
		return v
	}
	v.n = 0
	if id >= 0 {
		v.n = int64(id) + 1
	}
	return v
}

// ID returns the id a String or array value was tagged with by Sym or
// Interned, and whether it has one.
func (v Value) ID() (int32, bool) {
	if (v.k == kStr || v.k == kArray) && v.n > 0 {
		return int32(v.n - 1), true
	}
	return 0, false
}

// Array returns an array value holding a copy of vs (for Array properties).
// Elements should be single values; an element that is itself an array
// compares as NULL.
func Array(vs ...Value) Value {
	e := append([]Value(nil), vs...)
	return Value{k: kArray, a: &e}
}

// IsNull reports whether v is NULL.
func (v Value) IsNull() bool { return v.k == kNull }

// IsArray reports whether v is an array value.
func (v Value) IsArray() bool { return v.k == kArray }

// Type returns the type of v: 0 for NULL, and for an array the type of its
// first non-NULL element (0 when it has none).
func (v Value) Type() Type {
	switch v.k {
	case kStr:
		return String
	case kInt:
		return Integer
	case kTime:
		return DateTime
	case kBool:
		return Boolean
	case kArray:
		for _, e := range *v.a {
			if t := e.Type(); t != 0 {
				return t
			}
		}
	}
	return 0
}

// String returns a String value as it is and formats every other value for
// display: NULL as "NULL", a DateTime in RFC 3339 (UTC), a Boolean as TRUE or
// FALSE, an array as {a, b}.
func (v Value) String() string {
	switch v.k {
	case kStr:
		return v.s
	case kInt:
		return strconv.FormatInt(v.n, 10)
	case kTime:
		return v.Time().Format(time.RFC3339Nano)
	case kBool:
		if v.n != 0 {
			return "TRUE"
		}
		return "FALSE"
	case kArray:
		parts := make([]string, len(*v.a))
		for i, e := range *v.a {
			parts[i] = e.String()
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "NULL"
}

// Int returns an Integer value; a Boolean as 0 or 1; 0 for anything else.
func (v Value) Int() int64 {
	if v.k == kInt || v.k == kBool {
		return v.n
	}
	return 0
}

// Time returns a DateTime value in UTC, or the zero time for anything else.
func (v Value) Time() time.Time {
	if v.k != kTime {
		return time.Time{}
	}
	return time.UnixMicro(v.n).UTC()
}

// Bool returns a Boolean value; true for a non-zero Integer; false for
// anything else.
func (v Value) Bool() bool { return (v.k == kBool || v.k == kInt) && v.n != 0 }

// Elems returns an array value's elements (shared: do not modify them), or
// nil for anything else.
func (v Value) Elems() []Value {
	if v.k != kArray {
		return nil
	}
	return *v.a
}

// ValueOf converts a Go value to a Value of type t (an array Value when array
// is set). nil is NULL. A String takes a string; an Integer any Go integer
// that fits in an int64; a DateTime a time.Time; a Boolean a bool. An array
// takes a slice of those (or of any, holding them or nil). A Value is
// accepted as it is when its type fits. Anything else is a
// *consign.ValidationError naming the type wanted and the type given.
func ValueOf(x any, t Type, array bool) (Value, error) {
	if x == nil {
		return Null(), nil
	}
	if v, ok := x.(Value); ok {
		if v.k == kNull || v.IsArray() == array && (v.Type() == t || v.Type() == 0) {
			return v, nil
		}
		return Value{}, mismatch(x, t, array)
	}
	if !array {
		return scalarOf(x, t)
	}
	rv := reflect.ValueOf(x)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return Value{}, mismatch(x, t, true)
	}
	elems := make([]Value, rv.Len())
	for i := range elems {
		e, err := scalarOf(rv.Index(i).Interface(), t)
		if err != nil {
			return Value{}, mismatch(x, t, true)
		}
		elems[i] = e
	}
	return Value{k: kArray, a: &elems}, nil
}

func scalarOf(x any, t Type) (Value, error) {
	switch t {
	case String:
		if s, ok := x.(string); ok {
			return Str(s), nil
		}
	case Integer:
		switch n := x.(type) {
		case int:
			return Int(int64(n)), nil
		case int8:
			return Int(int64(n)), nil
		case int16:
			return Int(int64(n)), nil
		case int32:
			return Int(int64(n)), nil
		case int64:
			return Int(n), nil
		case uint:
			if uint64(n) <= math.MaxInt64 {
				return Int(int64(n)), nil
			}
		case uint8:
			return Int(int64(n)), nil
		case uint16:
			return Int(int64(n)), nil
		case uint32:
			return Int(int64(n)), nil
		case uint64:
			if n <= math.MaxInt64 {
				return Int(int64(n)), nil
			}
		}
	case DateTime:
		if tm, ok := x.(time.Time); ok {
			return Time(tm), nil
		}
	case Boolean:
		if b, ok := x.(bool); ok {
			return Bool(b), nil
		}
	}
	if x == nil {
		return Null(), nil
	}
	if v, ok := x.(Value); ok && !v.IsArray() && (v.k == kNull || v.Type() == t) {
		return v, nil
	}
	return Value{}, mismatch(x, t, false)
}

func mismatch(x any, t Type, array bool) error {
	want := "a " + t.String()
	if array {
		want = "an array of " + t.String()
	}
	return &consign.ValidationError{Field: "Value", Rule: fmt.Sprintf("must be %s (got %T)", want, x)}
}

// Row is one row of a class: its property values, indexed like
// Class.Properties. A row shorter than the class reads NULL for the missing
// trailing properties; a nil Row is all NULL.
type Row []Value

// Resource is one resource's data as a compiled query reads it.
//
// Rows(c) returns the resource's rows of class c (a schema index); Rows(0)
// returns exactly one row. Every row's ResourceID must be the resource's own:
// a query relies on it for joins and sub-selects on ResourceID instead of
// comparing. Values must have their property's type (ValueOf ensures it);
// a value of another type compares as UNKNOWN.
type Resource interface {
	Rows(c int) []Row
}
