package schedule_test

import (
	"errors"
	"strings"
	"testing"

	consign "github.com/consign/consign"
	"github.com/consign/consign/schedule"
)

// FuzzParse: Parse never panics, fails only with ErrInvalid, and whatever it
// accepts is valid and formats back to the input in upper case.
func FuzzParse(f *testing.F) {
	for _, tc := range documented {
		f.Add(tc.s)
		f.Add(strings.ToLower(tc.s))
	}
	f.Add("")
	f.Add("FC34394008100008")
	f.Add("00343940081A200G")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := schedule.Parse(s)
		if err != nil {
			if !errors.Is(err, consign.ErrInvalid) {
				t.Fatalf("Parse(%q): %v is not ErrInvalid", s, err)
			}
			return
		}
		if err := tok.Validate(); err != nil {
			t.Fatalf("Parse(%q) gave an invalid token: %v", s, err)
		}
		if got := tok.String(); got != strings.ToUpper(s) {
			t.Fatalf("String(Parse(%q)) = %s", s, got)
		}
	})
}
