package consign_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/consign/consign"
)

func TestObjectID(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want consign.ObjectID
	}{
		{"CEN00012", true, "CEN00012"},
		{"jax0002c", true, "JAX0002C"},
		{"SMS00001", true, "SMS00001"},
		{"CEN0001", false, ""},
		{"CEN000123", false, ""},
		{"CE-00012", false, ""},
		{"CEN0001G", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		got, err := consign.ParseObjectID(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseObjectID(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("ParseObjectID(%q) error %v does not match ErrInvalid", tt.in, err)
		}
	}
	id := consign.ObjectID("CEN0002C")
	if id.Site() != "CEN" || id.Serial() != 0x2C {
		t.Errorf("Site/Serial of %s = %s/%d", id, id.Site(), id.Serial())
	}
}

func TestObjectIDRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		site := consign.SiteCode(rapid.StringMatching(`[A-Z0-9]{3}`).Draw(t, "site"))
		n := rapid.Uint32Range(0, 0xFFFFF).Draw(t, "serial")
		id := consign.NewObjectID(site, n)
		got, err := consign.ParseObjectID(string(id))
		if err != nil || got != id || got.Site() != site || got.Serial() != n {
			t.Fatalf("NewObjectID(%s, %d) = %s; parsed %s, %v", site, n, id, got, err)
		}
	})
}

func TestSiteCode(t *testing.T) {
	for code, ok := range map[consign.SiteCode]bool{"CEN": true, "a1z": true, "CE": false, "CENT": false, "C-N": false} {
		if err := code.Validate(); (err == nil) != ok {
			t.Errorf("SiteCode(%q).Validate() = %v, want ok %v", code, err, ok)
		}
	}
}

func TestProblems(t *testing.T) {
	var p consign.Problems
	if p.Err() != nil || p.Len() != 0 {
		t.Fatal("empty Problems is not nil")
	}
	p.Check(true, "A", "never")
	p.Add("Program.Name", "required")
	if err := p.Err(); err == nil || err.Error() != "invalid Program.Name: required" {
		t.Errorf("one problem: %v", err)
	}
	p.AddValue("Program.CommandLine", strings.Repeat("x", 3), "at most 255 bytes")
	var inner consign.Problems
	inner.Add("Token.DaySpan", "0–31")
	p.Merge(inner.Err())
	p.Merge(nil)
	err := p.Err()
	if p.Len() != 3 || !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("Len = %d, err = %v", p.Len(), err)
	}
	var ve *consign.ValidationError
	if !errors.As(err, &ve) || ve.Field != "Program.Name" {
		t.Errorf("errors.As found %+v, want the first problem", ve)
	}
	if !strings.HasPrefix(err.Error(), "3 problems: ") || !strings.Contains(err.Error(), `invalid Program.CommandLine "xxx": at most 255 bytes`) {
		t.Errorf("message = %q", err)
	}
}

func TestErrorMatchesCodeAndCause(t *testing.T) {
	cause := errors.New("disk full")
	err := fmt.Errorf("wrapped: %w", &consign.Error{Code: consign.ErrUnavailable, Op: "Apply", Key: "package/CEN00001", Err: cause})
	if !errors.Is(err, consign.ErrUnavailable) || !errors.Is(err, cause) || errors.Is(err, consign.ErrConflict) {
		t.Errorf("errors.Is does not follow code and cause: %v", err)
	}
	if got := err.Error(); got != "wrapped: Apply package/CEN00001: disk full" {
		t.Errorf("message = %q", got)
	}
	e := consign.Errorf(consign.ErrNotFound, "Get", "x", "no %s", "x")
	if !errors.Is(e, consign.ErrNotFound) || e.Error() != "Get x: no x" {
		t.Errorf("Errorf = %v", e)
	}
}
