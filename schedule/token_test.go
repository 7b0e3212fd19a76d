package schedule_test

import (
	"testing"
	"time"
	_ "time/tzdata" // the tests need real zones whatever the machine has

	"github.com/consign/consign/schedule"
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

var (
	newYork = mustLoad("America/New_York")
	apia    = mustLoad("Pacific/Apia")
	berlin  = mustLoad("Europe/Berlin")
)

func TestValidate(t *testing.T) {
	ok := schedule.Token{Type: schedule.Weekly, Start: civil(2024, 1, 3, 9, 0), Day: 1, ForNumberOfWeeks: 2}
	for _, tc := range []struct {
		name  string
		edit  func(*schedule.Token)
		field string
		rule  string
	}{
		{"unknown type", func(t *schedule.Token) { t.Type = 6 }, "Token.Type", "1 (NonRecurring) to 5 (MonthlyByDate)"},
		{"year 2034", func(t *schedule.Token) { t.Start = civil(2034, 1, 1, 0, 0) }, "Token.Start", "year 1970–2033 (six bits from 1970)"},
		{"year 1969", func(t *schedule.Token) { t.Start = civil(1969, 12, 31, 23, 59) }, "Token.Start", "year 1970–2033 (six bits from 1970)"},
		{"seconds", func(t *schedule.Token) { t.Start = t.Start.Add(time.Second) }, "Token.Start", "a whole minute (a token cannot store seconds)"},
		{"not UTC", func(t *schedule.Token) { t.Start = time.Date(2024, 1, 3, 9, 0, 0, 0, newYork) }, "Token.Start", "a civil time stored in time.UTC"},
		{"hour duration", func(t *schedule.Token) { t.HourDuration = 24 }, "Token.HourDuration", "0–23"},
		{"negative minutes", func(t *schedule.Token) { t.MinuteDuration = -1 }, "Token.MinuteDuration", "0–59"},
		{"day duration", func(t *schedule.Token) { t.DayDuration = 32 }, "Token.DayDuration", "0–31"},
		{"day 0", func(t *schedule.Token) { t.Day = 0 }, "Token.Day", "1–7"},
		{"day 8", func(t *schedule.Token) { t.Day = 8 }, "Token.Day", "1–7"},
		{"five weeks", func(t *schedule.Token) { t.ForNumberOfWeeks = 5 }, "Token.ForNumberOfWeeks", "1–4"},
		{"span on a weekly token", func(t *schedule.Token) { t.DaySpan = 3 }, "Token.DaySpan", "0 for a Weekly token"},
		{"month day on a weekly token", func(t *schedule.Token) { t.MonthDay = 1 }, "Token.MonthDay", "0 for a Weekly token"},
		{"zero interval", func(t *schedule.Token) { *t = schedule.Token{Type: schedule.Interval, Start: t.Start} },
			"Token", "an Interval token needs a non-zero DaySpan, HourSpan or MinuteSpan"},
		{"hour span", func(t *schedule.Token) {
			*t = schedule.Token{Type: schedule.Interval, Start: t.Start, HourSpan: 24}
		}, "Token.HourSpan", "0–23"},
		{"week order", func(t *schedule.Token) {
			*t = schedule.Token{Type: schedule.MonthlyByWeekday, Start: t.Start, Day: 3, ForNumberOfMonths: 1, WeekOrder: 5}
		}, "Token.WeekOrder", "0–4"},
		{"thirteen months", func(t *schedule.Token) {
			*t = schedule.Token{Type: schedule.MonthlyByDate, Start: t.Start, ForNumberOfMonths: 13}
		}, "Token.ForNumberOfMonths", "1–12"},
		{"month day 32", func(t *schedule.Token) {
			*t = schedule.Token{Type: schedule.MonthlyByDate, Start: t.Start, MonthDay: 32, ForNumberOfMonths: 1}
		}, "Token.MonthDay", "0–31"},
		{"day on a non-recurring token", func(t *schedule.Token) {
			*t = schedule.Token{Type: schedule.NonRecurring, Start: t.Start, Day: 1}
		}, "Token.Day", "0 for a NonRecurring token"},
	} {
		tok := ok
		tc.edit(&tok)
		if err := tok.Validate(); !hasProblem(err, tc.field, tc.rule) {
			t.Errorf("%s: Validate() = %v, want a problem %s: %s", tc.name, err, tc.field, tc.rule)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid token: %v", err)
	}
	for _, tc := range documented {
		if err := tc.want.Validate(); err != nil {
			t.Errorf("%s: %v", tc.s, err)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tok := schedule.Token{Type: schedule.Weekly, Start: civil(2024, 1, 1, 0, 0),
		Day: 0, ForNumberOfWeeks: 9, MonthDay: 3, HourDuration: 99}
	fields := validationFields(t, tok.Validate())
	for _, f := range []string{"Token.Day", "Token.ForNumberOfWeeks", "Token.MonthDay", "Token.HourDuration"} {
		if !fields[f] {
			t.Errorf("Validate did not report %s (got %v)", f, fields)
		}
	}
	if len(fields) != 4 {
		t.Errorf("Validate reported %v, want exactly 4 fields", fields)
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[schedule.Type]string{
		schedule.NonRecurring: "NonRecurring", schedule.Interval: "Interval", schedule.Weekly: "Weekly",
		schedule.MonthlyByWeekday: "MonthlyByWeekday", schedule.MonthlyByDate: "MonthlyByDate",
		0: "Type(0)", 9: "Type(9)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}

func TestDurationRecurringLocation(t *testing.T) {
	tok := documented[0].want // 2 h 59 min
	if d := tok.Duration(); d != 2*time.Hour+59*time.Minute {
		t.Errorf("Duration() = %v", d)
	}
	if d := (schedule.Token{DayDuration: 1, HourDuration: 2, MinuteDuration: 3}).Duration(); d != 26*time.Hour+3*time.Minute {
		t.Errorf("Duration() = %v", d)
	}
	if !tok.Recurring() || (schedule.Token{Type: schedule.NonRecurring}).Recurring() || (schedule.Token{}).Recurring() {
		t.Error("Recurring is wrong")
	}
	if tok.Location(newYork) != newYork || tok.Location(nil) != time.UTC {
		t.Error("a local token's Location is not the device's (or UTC for nil)")
	}
	tok.IsGMT = true
	if tok.Location(newYork) != time.UTC {
		t.Error("a GMT token's Location is not UTC")
	}
}

func TestStringOfInvalidTokenIsTruncated(t *testing.T) {
	// Fields wider than their bits are cut to their width rather than
	// spilling into neighbours, and fields of other types are left out.
	tok := schedule.Token{Type: schedule.Interval, Start: civil(2007, 3, 20, 1, 0),
		HourDuration: 1 + 32, DaySpan: 1 + 32, Day: 5}
	if got := tok.String(); got != "0034394008100008" {
		t.Errorf("String() = %s, want 0034394008100008", got)
	}
	if got := (schedule.Token{}).String(); len(got) != 16 {
		t.Errorf("String() of the zero token = %q", got)
	}
}
