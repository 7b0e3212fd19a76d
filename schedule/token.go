package schedule

import (
	"fmt"
	"slices"
	"time"

	consign "github.com/consign/consign"
)

// Type is a token's recurrence type: the type code stored in bits 21–19 of
// the token's second word (§1.8).
type Type uint8

// The recurrence types. The comments name the WMI class of each.
const (
	NonRecurring     Type = 1 // SMS_ST_NonRecurring
	Interval         Type = 2 // SMS_ST_RecurInterval
	Weekly           Type = 3 // SMS_ST_RecurWeekly
	MonthlyByWeekday Type = 4 // SMS_ST_RecurMonthlyByWeekday
	MonthlyByDate    Type = 5 // SMS_ST_RecurMonthlyByDate
)

var typeNames = [...]string{
	NonRecurring:     "NonRecurring",
	Interval:         "Interval",
	Weekly:           "Weekly",
	MonthlyByWeekday: "MonthlyByWeekday",
	MonthlyByDate:    "MonthlyByDate",
}

// String returns the type's name, or "Type(n)" for an unknown code.
func (t Type) String() string {
	if t.valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

func (t Type) valid() bool { return t >= NonRecurring && t <= MonthlyByDate }

// Token is one SMS_ScheduleToken. Start is a civil (wall-clock) date-time:
// only its year..minute fields matter, and Validate requires it to be in
// time.UTC with zero seconds, which is what Parse returns. It is interpreted
// in UTC when IsGMT is true, otherwise in the device's time zone.
//
// Only the fields of Type may be non-zero; Validate checks that.
type Token struct {
	Type  Type
	Start time.Time
	IsGMT bool

	// How long each occurrence lasts. It matters for maintenance windows;
	// advertisement assignments leave it 0 (§1.8).
	DayDuration, HourDuration, MinuteDuration int // 0–31, 0–23, 0–59

	// Interval: the step between occurrences. They are not all 0, and
	// normally only one is non-zero (§1.8); when several are, they add up.
	DaySpan, HourSpan, MinuteSpan int // 0–31, 0–23, 0–59

	Day               int // Weekly and MonthlyByWeekday: 1=Sunday … 7=Saturday
	ForNumberOfWeeks  int // Weekly: 1–4
	ForNumberOfMonths int // MonthlyByWeekday, MonthlyByDate: 1–12
	WeekOrder         int // MonthlyByWeekday: 0 last, 1 first … 4 fourth
	MonthDay          int // MonthlyByDate: 0 = last day of month, 1–31
}

// Encoding limits (§1.8): the start year is stored as year−1970 in 6 bits.
const (
	minYear = 1970
	maxYear = 1970 + 63
)

// Validate reports every rule of §1.8 the token breaks, as
// *consign.ValidationError values with field names like "Token.DaySpan".
func (t Token) Validate() error {
	var p consign.Problems
	t.check(&p, "Token")
	return p.Err()
}

// check adds t's problems to p, naming fields under prefix.
func (t Token) check(p *consign.Problems, prefix string) {
	f := func(name string) string { return prefix + "." + name }
	in := func(v, lo, hi int, name string) {
		if v < lo || v > hi {
			p.AddValue(f(name), v, fmt.Sprintf("%d–%d", lo, hi))
		}
	}
	if !t.Type.valid() {
		p.AddValue(f("Type"), uint8(t.Type), "1 (NonRecurring) to 5 (MonthlyByDate)")
	}
	if y := t.Start.Year(); y < minYear || y > maxYear {
		p.AddValue(f("Start"), t.Start, fmt.Sprintf("year %d–%d (six bits from 1970)", minYear, maxYear))
	}
	if t.Start.Second() != 0 || t.Start.Nanosecond() != 0 {
		p.AddValue(f("Start"), t.Start, "a whole minute (a token cannot store seconds)")
	}
	if t.Start.Location() != time.UTC {
		p.AddValue(f("Start"), t.Start, "a civil time stored in time.UTC")
	}
	in(t.DayDuration, 0, 31, "DayDuration")
	in(t.HourDuration, 0, 23, "HourDuration")
	in(t.MinuteDuration, 0, 59, "MinuteDuration")

	// The type-specific fields: those of t.Type must be in range, the others
	// must be 0 because the string form has no room for them.
	type field struct {
		name   string
		v      int
		lo, hi int
		types  []Type
	}
	for _, fd := range []field{
		{"DaySpan", t.DaySpan, 0, 31, []Type{Interval}},
		{"HourSpan", t.HourSpan, 0, 23, []Type{Interval}},
		{"MinuteSpan", t.MinuteSpan, 0, 59, []Type{Interval}},
		{"Day", t.Day, 1, 7, []Type{Weekly, MonthlyByWeekday}},
		{"ForNumberOfWeeks", t.ForNumberOfWeeks, 1, 4, []Type{Weekly}},
		{"ForNumberOfMonths", t.ForNumberOfMonths, 1, 12, []Type{MonthlyByWeekday, MonthlyByDate}},
		{"WeekOrder", t.WeekOrder, 0, 4, []Type{MonthlyByWeekday}},
		{"MonthDay", t.MonthDay, 0, 31, []Type{MonthlyByDate}},
	} {
		switch {
		case slices.Contains(fd.types, t.Type):
			in(fd.v, fd.lo, fd.hi, fd.name)
		case fd.v != 0:
			p.AddValue(f(fd.name), fd.v, "0 for a "+t.Type.String()+" token")
		}
	}
	if t.Type == Interval && t.DaySpan == 0 && t.HourSpan == 0 && t.MinuteSpan == 0 {
		p.Add(prefix, "an Interval token needs a non-zero DaySpan, HourSpan or MinuteSpan")
	}
}

// Duration returns how long each occurrence lasts (DayDuration, HourDuration
// and MinuteDuration added up). Openings adds it as elapsed time.
func (t Token) Duration() time.Duration {
	return time.Duration(t.DayDuration)*24*time.Hour +
		time.Duration(t.HourDuration)*time.Hour +
		time.Duration(t.MinuteDuration)*time.Minute
}

// Recurring reports whether the token occurs more than once, that is, has one
// of the recurring types.
func (t Token) Recurring() bool { return t.Type.valid() && t.Type != NonRecurring }

// Location returns the time zone the token is interpreted in: time.UTC when
// IsGMT, else deviceLoc (nil deviceLoc means UTC).
func (t Token) Location(deviceLoc *time.Location) *time.Location {
	if t.IsGMT || deviceLoc == nil {
		return time.UTC
	}
	return deviceLoc
}
