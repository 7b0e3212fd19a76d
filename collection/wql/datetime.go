package wql

import (
	"strconv"
	"strings"
	"time"
)

// DateTime literals and the date functions. Times are UTC instants in Unix
// microseconds; SQL Server's datetime has no zone and ConfigMgr stores
// inventory times as the site server received them, so a literal without an
// offset is read as UTC and GETDATE() is the instant given to Prepare
// [UNVERIFIED: ConfigMgr mixes server-local and UTC columns].

// dateLayouts are the literal forms accepted besides WMI's DATETIME: ISO
// (SQL Server's unambiguous forms) and the US forms the ConfigMgr console
// writes.
var dateLayouts = []string{
	"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", time.RFC3339Nano,
	"20060102", "20060102 15:04:05",
	"1/2/2006", "1/2/2006 15:04", "1/2/2006 15:04:05", "1/2/2006 3:04 PM", "1/2/2006 3:04:05 PM",
}

// parseDateTime parses a DateTime literal: WMI's DATETIME
// (yyyymmddHHMMSS.mmmmmm+UUU, UUU the offset from UTC in minutes, or ***),
// yyyy-mm-dd[ hh:mm[:ss[.fff]]], yyyymmdd[ hh:mm:ss] or mm/dd/yyyy [hh:mm[:ss]] [AM|PM].
func parseDateTime(s string) (Value, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 25 && s[14] == '.' && (s[21] == '+' || s[21] == '-') {
		t, err := time.Parse("20060102150405.000000", s[:21])
		if err != nil {
			return Value{}, false
		}
		if off := s[22:]; off != "***" {
			m, err := strconv.Atoi(off)
			if err != nil {
				return Value{}, false
			}
			if s[21] == '-' {
				m = -m
			}
			t = t.Add(-time.Duration(m) * time.Minute)
		}
		return Time(t), true
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return Time(t), true
		}
	}
	return Value{}, false
}

// datePart is a DATEDIFF/DATEADD unit.
type datePart uint8

const (
	pYear datePart = iota + 1
	pQuarter
	pMonth
	pWeek
	pDay
	pHour
	pMinute
	pSecond
)

// dateParts maps SQL Server's names and abbreviations of the units.
var dateParts = map[string]datePart{
	"year": pYear, "yy": pYear, "yyyy": pYear,
	"quarter": pQuarter, "qq": pQuarter, "q": pQuarter,
	"month": pMonth, "mm": pMonth, "m": pMonth,
	"week": pWeek, "wk": pWeek, "ww": pWeek,
	"day": pDay, "dd": pDay, "d": pDay,
	"hour": pHour, "hh": pHour,
	"minute": pMinute, "mi": pMinute, "n": pMinute,
	"second": pSecond, "ss": pSecond, "s": pSecond,
}

const (
	usSecond = int64(1e6)
	usMinute = 60 * usSecond
	usHour   = 60 * usMinute
	usDay    = 24 * usHour
)

// fixedUnit returns the length of the parts that have one (0 for months,
// quarters and years).
func (p datePart) fixedUnit() int64 {
	switch p {
	case pSecond:
		return usSecond
	case pMinute:
		return usMinute
	case pHour:
		return usHour
	case pDay:
		return usDay
	case pWeek:
		return 7 * usDay
	}
	return 0
}

// months returns how many months one unit of a calendar part is.
func (p datePart) months() int64 {
	switch p {
	case pYear:
		return 12
	case pQuarter:
		return 3
	}
	return 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// dateDiff is DATEDIFF(part, a, b): how many part boundaries lie between a
// and b (SQL Server's definition, so DATEDIFF(yy, '2008-12-31',
// '2009-01-01') is 1). Weeks start on Sunday, as in SQL Server's DATEDIFF.
func dateDiff(p datePart, a, b int64) int64 {
	switch p {
	case pWeek:
		// 1970-01-01 was a Thursday: day d is in the Sunday-based week
		// floor((d+4)/7).
		return floorDiv(floorDiv(b, usDay)+4, 7) - floorDiv(floorDiv(a, usDay)+4, 7)
	case pSecond, pMinute, pHour, pDay:
		u := p.fixedUnit()
		return floorDiv(b, u) - floorDiv(a, u)
	}
	return monthIndex(b)/p.months() - monthIndex(a)/p.months()
}

// monthIndex returns year*12 + month-1 of t.
func monthIndex(t int64) int64 {
	y, m, _ := time.UnixMicro(t).UTC().Date()
	return int64(y)*12 + int64(m) - 1
}

// dateAdd is DATEADD(part, n, t). Adding months keeps the day of the month
// but clamps it to the month's length, as SQL Server does
// (DATEADD(mm, 1, '2009-01-31') is 2009-02-28). ok is false when the result
// is outside years 1 to 9999.
func dateAdd(p datePart, n, t int64) (int64, bool) {
	const limit = 10000 * 12 // more months than years 1..9999 hold
	if u := p.fixedUnit(); u != 0 {
		if n > limit*31*usDay/u || n < -limit*31*usDay/u {
			return 0, false
		}
		return inRange(t + n*u)
	}
	if n > limit || n < -limit {
		return 0, false
	}
	tm := time.UnixMicro(t).UTC()
	y, m, d := tm.Date()
	mi := int64(y)*12 + int64(m) - 1 + n*p.months()
	ny, nm := int(floorDiv(mi, 12)), time.Month(mi-floorDiv(mi, 12)*12+1)
	if last := time.Date(ny, nm+1, 0, 0, 0, 0, 0, time.UTC).Day(); d > last {
		d = last
	}
	h, min, sec := tm.Clock()
	return inRange(time.Date(ny, nm, d, h, min, sec, tm.Nanosecond(), time.UTC).UnixMicro())
}

// minTime and maxTime bound SQL Server's datetime2 range: 0001-01-01 to
// 9999-12-31 23:59:59.999999, in Unix microseconds.
const (
	minTime = -62135596800 * usSecond
	maxTime = 253402300800*usSecond - 1
)

func inRange(t int64) (int64, bool) { return t, minTime <= t && t <= maxTime }
