package wql

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
)

func TestNewSchema(t *testing.T) {
	s, err := NewSchema(
		Class{Name: "SMS_R_System", Properties: []Property{{Name: "Name", Type: String}}},
		Class{Name: "SMS_G_System_X", Properties: []Property{{Name: "resourceid", Type: Integer}, {Name: "Size", Type: Integer}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if s.NumClasses() != 2 || s.Class(1).Name != "SMS_G_System_X" {
		t.Fatalf("classes: %d", s.NumClasses())
	}
	// ResourceID is appended where missing, after the given properties.
	if p := s.Class(0).Properties; len(p) != 2 || p[1] != (Property{Name: "ResourceID", Type: Integer}) {
		t.Errorf("SMS_R_System properties %v", p)
	}
	if i, ok := s.PropertyIndex(1, "RESOURCEID"); !ok || i != 0 {
		t.Errorf("ResourceID of SMS_G_System_X at %d, %v", i, ok)
	}
	if i, ok := s.ClassIndex("sms_g_system_x"); !ok || i != 1 {
		t.Errorf("ClassIndex = %d, %v", i, ok)
	}
	if _, ok := s.ClassIndex("SMS_G_System_Y"); ok {
		t.Error("unknown class found")
	}
	if _, ok := s.PropertyIndex(7, "Name"); ok {
		t.Error("property of an unknown class found")
	}
}

func TestNewSchemaErrors(t *testing.T) {
	for _, tc := range []struct {
		classes []Class
		field   string
	}{
		{nil, "Schema.Classes[0].Name"},
		{[]Class{{Name: "SMS_G_System_X"}}, "Schema.Classes[0].Name"},
		{[]Class{{Name: "SMS_R_System"}, {Name: "sms_r_system"}}, "Schema.Classes[1].Name"},
		{[]Class{{Name: "SMS_R_System"}, {Name: "Bad Name"}}, "Schema.Classes[1].Name"},
		{[]Class{{Name: "SMS_R_System", Properties: []Property{{Name: "Name", Type: String}, {Name: "NAME", Type: String}}}},
			"Schema.Classes[0].Properties[1].Name"},
		{[]Class{{Name: "SMS_R_System", Properties: []Property{{Name: "1st", Type: String}}}}, "Schema.Classes[0].Properties[0].Name"},
		{[]Class{{Name: "SMS_R_System", Properties: []Property{{Name: "Size", Type: 9}}}}, "Schema.Classes[0].Properties[0].Type"},
		{[]Class{{Name: "SMS_R_System", Properties: []Property{{Name: "ResourceId", Type: String}}}}, "Schema.Classes[0].Properties[0]"},
		{[]Class{{Name: "SMS_R_System", Properties: []Property{{Name: "ResourceId", Type: Integer, Array: true}}}}, "Schema.Classes[0].Properties[0]"},
	} {
		_, err := NewSchema(tc.classes...)
		var ve *consign.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%v: error %v, want one on %s", tc.classes, err, tc.field)
		}
	}
}

func TestTypeString(t *testing.T) {
	for ty, want := range map[Type]string{String: "String", Integer: "Integer", DateTime: "DateTime", Boolean: "Boolean", 9: "Type(9)"} {
		if ty.String() != want {
			t.Errorf("%d: %s", ty, ty.String())
		}
	}
}

func TestValueAccessors(t *testing.T) {
	tm := time.Date(2009, 1, 15, 8, 30, 0, 123456789, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		v     Value
		typ   Type
		null  bool
		str   string
		n     int64
		b     bool
		tm    time.Time
		elems int
		isArr bool
	}{
		{v: Null(), null: true, str: "NULL"},
		{v: Str("x"), typ: String, str: "x"},
		{v: Int(-7), typ: Integer, str: "-7", n: -7, b: true},
		{v: Int(0), typ: Integer, str: "0"},
		{v: Bool(true), typ: Boolean, str: "TRUE", n: 1, b: true},
		{v: Bool(false), typ: Boolean, str: "FALSE"},
		{v: Time(tm), typ: DateTime, str: "2009-01-15T07:30:00.123456Z", tm: tm.Truncate(time.Microsecond).UTC()},
		{v: Array(Null(), Str("a"), Str("b")), typ: String, str: "{NULL, a, b}", elems: 3, isArr: true},
		{v: Array(), str: "{}", isArr: true},
	} {
		v := tc.v
		if v.Type() != tc.typ || v.IsNull() != tc.null || v.String() != tc.str || v.Int() != tc.n || v.Bool() != tc.b ||
			!v.Time().Equal(tc.tm) || len(v.Elems()) != tc.elems || v.IsArray() != tc.isArr {
			t.Errorf("%v: Type %v IsNull %v Int %d Bool %v Time %v Elems %d", v, v.Type(), v.IsNull(), v.Int(), v.Bool(), v.Time(), len(v.Elems()))
		}
	}
	// Array copies its arguments.
	vs := []Value{Str("a")}
	a := Array(vs...)
	vs[0] = Str("b")
	if a.Elems()[0] != Str("a") {
		t.Error("Array shares its argument")
	}
}

func TestValueOf(t *testing.T) {
	tm := time.Date(2009, 1, 15, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		x     any
		t     Type
		array bool
		want  string // Value.String, or "error"
	}{
		{nil, String, false, "NULL"},
		{"x", String, false, "x"},
		{5, Integer, false, "5"},
		{int8(-5), Integer, false, "-5"},
		{uint32(4000000000), Integer, false, "4000000000"},
		{uint64(math.MaxUint64), Integer, false, "error"},
		{uint(1), Integer, false, "1"},
		{tm, DateTime, false, "2009-01-15T00:00:00Z"},
		{true, Boolean, false, "TRUE"},
		{Str("v"), String, false, "v"},
		{Int(1), String, false, "error"},
		{"5", Integer, false, "error"},
		{5, String, false, "error"},
		{1, Boolean, false, "error"},
		{[]string{"a", "b"}, String, true, "{a, b}"},
		{[]int64{1, 2}, Integer, true, "{1, 2}"},
		{[]any{"a", nil}, String, true, "{a, NULL}"},
		{[]time.Time{tm}, DateTime, true, "{2009-01-15T00:00:00Z}"},
		{Array(Str("a")), String, true, "{a}"},
		{Array(Str("a")), String, false, "error"},
		{"a", String, true, "error"},
		{[]int{1}, String, true, "error"},
	} {
		v, err := ValueOf(tc.x, tc.t, tc.array)
		got := v.String()
		if err != nil {
			got = "error"
			if !errors.Is(err, consign.ErrInvalid) || !strings.Contains(err.Error(), "must be a") {
				t.Errorf("ValueOf(%v): %v", tc.x, err)
			}
		}
		if got != tc.want {
			t.Errorf("ValueOf(%#v, %v, %v) = %s, want %s", tc.x, tc.t, tc.array, got, tc.want)
		}
	}
}

func TestParseDateTime(t *testing.T) {
	want := time.Date(2009, 1, 15, 13, 45, 30, 0, time.UTC)
	for _, s := range []string{
		"20090115134530.000000+000", "20090115144530.000000+060", "20090115084530.000000-300", "20090115134530.000000+***",
		"2009-01-15 13:45:30", "2009-01-15T13:45:30", "2009-01-15T13:45:30Z", "01/15/2009 13:45:30", "1/15/2009 1:45:30 PM",
		"20090115 13:45:30", " 2009-01-15 13:45:30 ",
	} {
		if v, ok := parseDateTime(s); !ok || !v.Time().Equal(want) {
			t.Errorf("%q: %v, %v", s, v, ok)
		}
	}
	for _, s := range []string{"2009-01-15", "20090115", "1/15/2009"} {
		if v, ok := parseDateTime(s); !ok || !v.Time().Equal(want.Truncate(24*time.Hour)) {
			t.Errorf("%q: %v, %v", s, v, ok)
		}
	}
	for _, s := range []string{"", "yesterday", "2009-13-01", "20090115134530.000000+0x0", "15/01/2009"} {
		if _, ok := parseDateTime(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestDateDiffAndAdd(t *testing.T) {
	at := func(s string) int64 { v, _ := parseDateTime(s); return v.n }
	for _, tc := range []struct {
		part datePart
		a, b string
		want int64
	}{
		{pYear, "2008-12-31 23:59:59", "2009-01-01", 1}, // boundaries crossed, as SQL Server counts
		{pMonth, "2009-01-31", "2009-02-01", 1},
		{pQuarter, "2009-03-31", "2009-04-01", 1},
		{pDay, "2009-01-01 23:59:59", "2009-01-02 00:00:01", 1},
		{pDay, "2009-01-02", "2009-01-01", -1},
		{pWeek, "2009-01-03", "2009-01-04", 1}, // Saturday to Sunday
		{pWeek, "2009-01-04", "2009-01-10", 0}, // Sunday to Saturday
		{pHour, "2009-01-01 10:59", "2009-01-01 11:00", 1},
		{pMinute, "1969-12-31 23:59:59", "1970-01-01 00:00:00", 1},
		{pSecond, "2009-01-01 10:00:00", "2009-01-01 10:01:00", 60},
	} {
		if got := dateDiff(tc.part, at(tc.a), at(tc.b)); got != tc.want {
			t.Errorf("DATEDIFF(%d, %s, %s) = %d, want %d", tc.part, tc.a, tc.b, got, tc.want)
		}
	}
	for _, tc := range []struct {
		part datePart
		n    int64
		t    string
		want string // "" when out of range
	}{
		{pMonth, 1, "2009-01-31 10:00:00", "2009-02-28 10:00:00"},
		{pYear, 1, "2008-02-29", "2009-02-28"},
		{pQuarter, -1, "2009-05-31", "2009-02-28"},
		{pDay, -30, "2009-03-01", "2009-01-30"},
		{pWeek, 2, "2009-01-01", "2009-01-15"},
		{pHour, 36, "2009-01-01", "2009-01-02 12:00:00"},
		{pYear, 9000, "2009-01-01", ""},
		{pDay, math.MaxInt64, "2009-01-01", ""},
		{pMonth, math.MinInt64, "2009-01-01", ""},
	} {
		got, ok := dateAdd(tc.part, tc.n, at(tc.t))
		if tc.want == "" {
			if ok {
				t.Errorf("DATEADD(%d, %d, %s) = %v, want out of range", tc.part, tc.n, tc.t, time.UnixMicro(got))
			}
			continue
		}
		if !ok || got != at(tc.want) {
			t.Errorf("DATEADD(%d, %d, %s) = %v, want %s", tc.part, tc.n, tc.t, time.UnixMicro(got).UTC(), tc.want)
		}
	}
}

func TestParseInt(t *testing.T) {
	for s, want := range map[string]int64{"42": 42, " 42 ": 42, "-7": -7, "+7": 7, "9223372036854775807": math.MaxInt64,
		"-9223372036854775808": math.MinInt64} {
		if n, ok := parseInt(s); !ok || n != want {
			t.Errorf("%q: %d, %v", s, n, ok)
		}
	}
	for _, s := range []string{"", " ", "-", "4 2", "42a", "9223372036854775808", "-9223372036854775809", "99999999999999999999"} {
		if _, ok := parseInt(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}
