package schedule_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	consign "github.com/consign/consign"
	"github.com/consign/consign/schedule"
)

func civil(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

// The documented tokens of §1.7 and §1.8, decoded by hand from the bit table.
// Every statement the reference makes about them agrees with the table.
var documented = []struct {
	s    string
	what string // the reference's description
	want schedule.Token
}{
	{"1033BC7B10100010", "every 2 days from 2019-11-19 01:04, duration 2 h 59 min", schedule.Token{
		Type: schedule.Interval, Start: civil(2019, 11, 19, 1, 4),
		HourDuration: 2, MinuteDuration: 59, DaySpan: 2}},
	{"0034394008100008", "daily from 2007-03-20 01:00 for 1 h", schedule.Token{
		Type: schedule.Interval, Start: civil(2007, 3, 20, 1, 0), HourDuration: 1, DaySpan: 1}},
	{"00343940081A2000", "every Monday", schedule.Token{
		Type: schedule.Weekly, Start: civil(2007, 3, 20, 1, 0), HourDuration: 1,
		Day: 2, ForNumberOfWeeks: 1}},
	{"0034394008284400", "day 1 of every month", schedule.Token{
		Type: schedule.MonthlyByDate, Start: civil(2007, 3, 20, 1, 0), HourDuration: 1,
		MonthDay: 1, ForNumberOfMonths: 1}},
	{"000120000010A000", "every 5 minutes from 1970-02-01 00:00", schedule.Token{
		Type: schedule.Interval, Start: civil(1970, 2, 1, 0, 0), MinuteSpan: 5}},
}

func TestParseDocumentedTokens(t *testing.T) {
	for _, tc := range documented {
		got, err := schedule.Parse(tc.s)
		if err != nil {
			t.Fatalf("Parse(%s) (%s): %v", tc.s, tc.what, err)
		}
		if got != tc.want {
			t.Errorf("Parse(%s) (%s) =\n %+v, want\n %+v", tc.s, tc.what, got, tc.want)
		}
		if s := got.String(); s != tc.s {
			t.Errorf("String() = %s, want %s", s, tc.s)
		}
		if lower, err := schedule.Parse(strings.ToLower(tc.s)); err != nil || lower != got {
			t.Errorf("Parse(lower case %s) = %+v, %v", tc.s, lower, err)
		}
	}
}

func TestParseList(t *testing.T) {
	all := ""
	var want []schedule.Token
	for _, tc := range documented {
		all += tc.s
		want = append(want, tc.want)
	}
	got, err := schedule.ParseList(all)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ParseList gave %d tokens, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("token %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := schedule.FormatList(got); s != all {
		t.Errorf("FormatList = %s, want %s", s, all)
	}
	if ts, err := schedule.ParseList(""); err != nil || len(ts) != 0 {
		t.Errorf(`ParseList("") = %v, %v; want an empty list`, ts, err)
	}
	if schedule.FormatList(nil) != "" {
		t.Error("FormatList(nil) is not empty")
	}
}

func TestParseListErrorsNameTheToken(t *testing.T) {
	// Token 1 has a zero span, token 2 a bad digit.
	_, err := schedule.ParseList("0034394008100008" + "0034394008100000" + "00343940081A200G")
	fields := validationFields(t, err)
	for _, f := range []string{"Token[1]", "Token[2]"} {
		if !fields[f] {
			t.Errorf("errors %v do not name %s", fields, f)
		}
	}
	if fields["Token[0]"] {
		t.Errorf("errors %v name the good token 0", fields)
	}
	_, err = schedule.ParseList("0034394008100008ABC")
	if !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("ParseList of a ragged string: %v, want ErrInvalid", err)
	}
}

// validationFields returns the Field of every *consign.ValidationError in err.
func validationFields(t *testing.T, err error) map[string]bool {
	t.Helper()
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("error %v is not ErrInvalid", err)
	}
	var errs []error
	if m, ok := err.(interface{ WrappedErrors() []error }); ok {
		errs = m.WrappedErrors()
	} else {
		errs = []error{err}
	}
	fields := map[string]bool{}
	for _, e := range errs {
		var ve *consign.ValidationError
		if !errors.As(e, &ve) {
			t.Fatalf("%v is not a *consign.ValidationError", e)
		}
		fields[ve.Field] = true
	}
	return fields
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		s, field, rule string
	}{
		{"0034394008100", "Token", "exactly 16 hex digits"},
		{"0034394008100008 ", "Token", "exactly 16 hex digits"},
		{"00343940x8100008", "Token", "a hex digit at offset 8"},
		{"+034394008100008", "Token", "a hex digit at offset 0"},
		{"FC34394008100008", "Token.Start", "minute 0–59, not 63"},
		{"03F4394008100008", "Token.Start", "hour 0–23, not 31"},
		{"0034D94008100008", "Token.Start", "month 1–12, not 13"},
		{"0034094008100008", "Token.Start", "month 1–12, not 0"},
		{"003E294008100008", "Token.Start", "day 1–28 in 2007-02, not 30"},
		{"003D294008100008", "Token.Start", "day 1–28 in 2007-02, not 29"},
		{"0020394008100008", "Token.Start", "day 1–31 in 2007-03, not 0"},
		{"0034394008000000", "Token.Type", "1 (NonRecurring) to 5 (MonthlyByDate)"},
		{"0034394008380000", "Token.Type", "1 (NonRecurring) to 5 (MonthlyByDate)"},
		{"0034394008080002", "Token", "unused bits 0x00002 of the second word set for a NonRecurring token"},
		{"00343940081A2002", "Token", "unused bits 0x00002 of the second word set for a Weekly token"},
		{"0034394008100000", "Token", "an Interval token needs a non-zero DaySpan, HourSpan or MinuteSpan"},
		{"00343940C0100008", "Token.HourDuration", "0–23"},
		{"0034397C08100008", "Token.MinuteDuration", "0–59"},
		{"0034394008178000", "Token.MinuteSpan", "0–59"},
		{"0034394008182000", "Token.Day", "1–7"},
		{"00343940081AA000", "Token.ForNumberOfWeeks", "1–4"},
		{"003439400822DA00", "Token.ForNumberOfMonths", "1–12"},
		{"003439400822DA00", "Token.WeekOrder", "0–4"},
		{"0034394008284000", "Token.ForNumberOfMonths", "1–12"},
	} {
		tok, err := schedule.Parse(tc.s)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", tc.s, tok)
			continue
		}
		if tok != (schedule.Token{}) {
			t.Errorf("Parse(%q) returned %+v with its error", tc.s, tok)
		}
		if !hasProblem(err, tc.field, tc.rule) {
			t.Errorf("Parse(%q) = %v, want a problem %s: %s", tc.s, err, tc.field, tc.rule)
		}
	}
	// A leap day parses.
	if _, err := schedule.Parse("003D298008100008"); err != nil {
		t.Errorf("2008-02-29: %v", err)
	}
}

// hasProblem reports whether err is ErrInvalid and holds a
// *consign.ValidationError with the field and rule.
func hasProblem(err error, field, rule string) bool {
	if !errors.Is(err, consign.ErrInvalid) {
		return false
	}
	errs := []error{err}
	if m, ok := err.(interface{ WrappedErrors() []error }); ok {
		errs = m.WrappedErrors()
	}
	for _, e := range errs {
		var ve *consign.ValidationError
		if errors.As(e, &ve) && ve.Field == field && ve.Rule == rule {
			return true
		}
	}
	return false
}
