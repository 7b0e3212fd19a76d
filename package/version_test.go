package pkg

import (
	"cmp"
	"errors"
	"testing"

	"github.com/consign/consign"
	"pgregory.net/rapid"
)

func TestParseFileVersion(t *testing.T) {
	tests := []struct {
		in   string
		want FileVersion
		ok   bool
	}{
		{"5.10.0000.0", FileVersion{5, 10, 0, 0}, true}, // SMS_OS_Details, Windows XP
		{"5.10.9999.9999", FileVersion{5, 10, 9999, 9999}, true},
		{"4.00.6487.2000", FileVersion{4, 0, 6487, 2000}, true}, // ConfigMgr 2007 SP1 client
		{"6", FileVersion{6, 0, 0, 0}, true},
		{"6.1", FileVersion{6, 1, 0, 0}, true},
		{"6.1.7600", FileVersion{6, 1, 7600, 0}, true},
		{"4294967295.0.0.4294967295", FileVersion{4294967295, 0, 0, 4294967295}, true},
		{"", FileVersion{}, false},
		{"1.2.3.4.5", FileVersion{}, false},
		{"1..2", FileVersion{}, false},
		{"1.2.", FileVersion{}, false},
		{".1", FileVersion{}, false},
		{"+1.2", FileVersion{}, false},
		{"-1", FileVersion{}, false},
		{"1.2a", FileVersion{}, false},
		{" 1.2", FileVersion{}, false},
		{"4294967296", FileVersion{}, false},
	}
	for _, tt := range tests {
		got, err := ParseFileVersion(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("ParseFileVersion(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			continue
		}
		var ve *consign.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("ParseFileVersion(%q) = %v, %v; want a ValidationError", tt.in, got, err)
		}
	}
}

func genFileVersion() *rapid.Generator[FileVersion] {
	return rapid.Custom(func(t *rapid.T) FileVersion {
		// Small parts make equal parts (and equal versions) likely.
		part := rapid.OneOf(rapid.Uint32Range(0, 3), rapid.Uint32())
		return FileVersion{part.Draw(t, "major"), part.Draw(t, "minor"), part.Draw(t, "build"), part.Draw(t, "revision")}
	})
}

func TestFileVersionRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := genFileVersion().Draw(t, "v")
		got, err := ParseFileVersion(v.String())
		if err != nil || got != v {
			t.Fatalf("ParseFileVersion(%q) = %v, %v", v.String(), got, err)
		}
	})
}

func TestFileVersionCompareIsTupleOrder(t *testing.T) {
	tuple := func(v FileVersion) [4]uint32 { return [4]uint32{v.Major, v.Minor, v.Build, v.Revision} }
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := genFileVersion().Draw(t, "a"), genFileVersion().Draw(t, "b"), genFileVersion().Draw(t, "c")
		ta, tb := tuple(a), tuple(b)
		want := 0
		for i := range ta {
			if want = cmp.Compare(ta[i], tb[i]); want != 0 {
				break
			}
		}
		if got := a.Compare(b); got != want {
			t.Fatalf("%v.Compare(%v) = %d, want %d", a, b, got, want)
		}
		if a.Compare(b) != -b.Compare(a) {
			t.Fatalf("Compare not antisymmetric for %v, %v", a, b)
		}
		if (a.Compare(b) == 0) != (a == b) {
			t.Fatalf("Compare 0 but not equal: %v, %v", a, b)
		}
		if a.Compare(b) <= 0 && b.Compare(c) <= 0 && a.Compare(c) > 0 {
			t.Fatalf("Compare not transitive: %v, %v, %v", a, b, c)
		}
	})
}

func FuzzParseFileVersion(f *testing.F) {
	for _, s := range []string{"5.10.0000.0", "4.00.6487.2000", "1", "", "1..2", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseFileVersion(s)
		if err != nil {
			return
		}
		again, err := ParseFileVersion(v.String())
		if err != nil || again != v {
			t.Fatalf("%q parsed to %v, whose String %q parses to %v, %v", s, v, v.String(), again, err)
		}
	})
}
