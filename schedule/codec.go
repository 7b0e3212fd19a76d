package schedule

import (
	"fmt"
	"strings"
	"time"

	consign "github.com/consign/consign"
)

// Token string layout (§1.8 [S-SCHED]): 16 hex digits forming two 32-bit
// words, high word first. Each field is {shift, width} within its word. The
// layout was checked against the reference's examples (see the tests).
type bits struct{ shift, width uint }

func (b bits) get(w uint32) int { return int(w>>b.shift) & (1<<b.width - 1) }

// put returns v truncated to the field's width, in place. Truncation keeps
// String of an invalid token deterministic instead of spilling into other
// fields.
func (b bits) put(v int) uint32 { return uint32(v) & (1<<b.width - 1) << b.shift }

// Word 1.
var (
	startMinute    = bits{26, 6}
	startHour      = bits{21, 5}
	startDay       = bits{16, 5}
	startMonth     = bits{12, 4}
	startYear      = bits{6, 6} // year − 1970
	minuteDuration = bits{0, 6}
)

// Word 2.
var (
	hourDuration = bits{27, 5}
	dayDuration  = bits{22, 5}
	typeCode     = bits{19, 3}
	isGMT        = bits{0, 1}

	minuteSpan = bits{13, 6} // Interval
	hourSpan   = bits{8, 5}
	daySpan    = bits{3, 5}

	weekDay = bits{16, 3} // Weekly and MonthlyByWeekday
	weeks   = bits{13, 3} // Weekly

	months    = bits{12, 4} // MonthlyByWeekday
	weekOrder = bits{9, 3}

	monthDay   = bits{14, 5} // MonthlyByDate
	dateMonths = bits{10, 4}
)

// typeBits is the mask of bits 18–1 of word 2 each type uses; the rest of
// that range is unused and must be zero.
func typeBits(t Type) uint32 {
	var fs []bits
	switch t {
	case Interval:
		fs = []bits{minuteSpan, hourSpan, daySpan}
	case Weekly:
		fs = []bits{weekDay, weeks}
	case MonthlyByWeekday:
		fs = []bits{weekDay, months, weekOrder}
	case MonthlyByDate:
		fs = []bits{monthDay, dateMonths}
	}
	var m uint32
	for _, f := range fs {
		m |= f.put(-1)
	}
	return m
}

const specificBits = uint32(1<<19 - 2) // bits 18–1 of word 2

// String returns the token's 16 upper-case hex digits, as
// SMS_ScheduleMethods.WriteToString does. It never panics: for a token that
// fails Validate, each field is truncated to its bit width and fields that do
// not belong to Type are left out, so the result is deterministic but may not
// parse back to the same token.
func (t Token) String() string {
	y, mo, d := t.Start.Date()
	h, mi, _ := t.Start.Clock()
	w1 := startMinute.put(mi) | startHour.put(h) | startDay.put(d) |
		startMonth.put(int(mo)) | startYear.put(y-minYear) | minuteDuration.put(t.MinuteDuration)
	w2 := hourDuration.put(t.HourDuration) | dayDuration.put(t.DayDuration) | typeCode.put(int(t.Type))
	if t.IsGMT {
		w2 |= isGMT.put(1)
	}
	switch t.Type {
	case Interval:
		w2 |= minuteSpan.put(t.MinuteSpan) | hourSpan.put(t.HourSpan) | daySpan.put(t.DaySpan)
	case Weekly:
		w2 |= weekDay.put(t.Day) | weeks.put(t.ForNumberOfWeeks)
	case MonthlyByWeekday:
		w2 |= weekDay.put(t.Day) | months.put(t.ForNumberOfMonths) | weekOrder.put(t.WeekOrder)
	case MonthlyByDate:
		w2 |= monthDay.put(t.MonthDay) | dateMonths.put(t.ForNumberOfMonths)
	}
	return fmt.Sprintf("%08X%08X", w1, w2)
}

// FormatList concatenates the tokens' strings, the multi-token form
// SMS_ScheduleMethods.WriteToString produces.
func FormatList(ts []Token) string {
	var b strings.Builder
	for _, t := range ts {
		b.WriteString(t.String())
	}
	return b.String()
}

const tokenLen = 16

// Parse reads one token from its 16 hex digits (either case), as
// SMS_ScheduleMethods.ReadFromString does. It accepts exactly the strings
// String produces: the errors are *consign.ValidationError values
// (errors.Is(err, consign.ErrInvalid)) naming the offending field and rule,
// with the offset of a character that is not a hex digit. A token that
// parses also passes Validate.
func Parse(s string) (Token, error) { return parse(s, "Token") }

// ParseList reads tokens concatenated in 16-character chunks. The empty
// string is an empty list. Errors name the token by index, as in
// "Token[2].DaySpan", and report every bad token.
func ParseList(s string) ([]Token, error) {
	if len(s)%tokenLen != 0 {
		return nil, &consign.ValidationError{Field: "Tokens", Value: s,
			Rule: fmt.Sprintf("a multiple of %d hex digits", tokenLen)}
	}
	ts := make([]Token, 0, len(s)/tokenLen)
	var p consign.Problems
	for i := 0; i < len(s); i += tokenLen {
		t, err := parse(s[i:i+tokenLen], fmt.Sprintf("Token[%d]", i/tokenLen))
		p.Merge(err)
		ts = append(ts, t)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return ts, nil
}

// parse is Parse with the name errors give the token.
func parse(s, name string) (Token, error) {
	if len(s) != tokenLen {
		return Token{}, &consign.ValidationError{Field: name, Value: s,
			Rule: fmt.Sprintf("exactly %d hex digits", tokenLen)}
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d, ok := hexDigit(s[i])
		if !ok {
			return Token{}, &consign.ValidationError{Field: name, Value: s[i : i+1],
				Rule: fmt.Sprintf("a hex digit at offset %d", i)}
		}
		v = v<<4 | uint64(d)
	}
	w1, w2 := uint32(v>>32), uint32(v)

	// The start date must be checked before time.Date normalises it away.
	var p consign.Problems
	start := name + ".Start"
	y, mo, d := minYear+startYear.get(w1), startMonth.get(w1), startDay.get(w1)
	h, mi := startHour.get(w1), startMinute.get(w1)
	p.Check(mi <= 59, start, fmt.Sprintf("minute 0–59, not %d", mi))
	p.Check(h <= 23, start, fmt.Sprintf("hour 0–23, not %d", h))
	if mo < 1 || mo > 12 {
		p.Add(start, fmt.Sprintf("month 1–12, not %d", mo))
	} else if n := daysIn(y, time.Month(mo)); d < 1 || d > n {
		p.Add(start, fmt.Sprintf("day 1–%d in %04d-%02d, not %d", n, y, mo, d))
	}
	typ := Type(typeCode.get(w2))
	if !typ.valid() {
		p.AddValue(name+".Type", uint8(typ), "1 (NonRecurring) to 5 (MonthlyByDate)")
	} else if unused := w2 & specificBits &^ typeBits(typ); unused != 0 {
		p.AddValue(name, s, fmt.Sprintf("unused bits 0x%05X of the second word set for a %v token", unused, typ))
	}
	if p.Len() > 0 {
		return Token{}, p.Err()
	}

	t := Token{
		Type:           typ,
		Start:          time.Date(y, time.Month(mo), d, h, mi, 0, 0, time.UTC),
		IsGMT:          isGMT.get(w2) == 1,
		DayDuration:    dayDuration.get(w2),
		HourDuration:   hourDuration.get(w2),
		MinuteDuration: minuteDuration.get(w1),
	}
	switch typ {
	case Interval:
		t.MinuteSpan, t.HourSpan, t.DaySpan = minuteSpan.get(w2), hourSpan.get(w2), daySpan.get(w2)
	case Weekly:
		t.Day, t.ForNumberOfWeeks = weekDay.get(w2), weeks.get(w2)
	case MonthlyByWeekday:
		t.Day, t.ForNumberOfMonths, t.WeekOrder = weekDay.get(w2), months.get(w2), weekOrder.get(w2)
	case MonthlyByDate:
		t.MonthDay, t.ForNumberOfMonths = monthDay.get(w2), dateMonths.get(w2)
	}
	t.check(&p, name)
	if err := p.Err(); err != nil {
		return Token{}, err
	}
	return t, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// daysIn returns the number of days in month m of year y.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
