package schedule

import (
	"slices"
	"time"
)

// The search works on int64 seconds. A civil time is the Unix time its
// wall-clock reading would have in UTC; an instant is an ordinary Unix time.
// Occurrences fall on whole minutes, so whole seconds lose nothing.

const (
	day = 24 * 60 * 60

	// horizon is the last civil time occurrences are computed for,
	// 9999-12-31 23:59, which keeps every calculation far from overflow.
	horizon int64 = 253402300740

	// reach bounds the UTC offset of a zone that is not fixed. Every zone in
	// the tz database stays within ±14 h from 1970 on. time.Date reads the
	// zone at most one offset away from the wall-clock reading, so the
	// instant it returns for civil time c lies in [c−reach, c+reach].
	reach int64 = 16 * 60 * 60

	// chunk is how many seconds of instants are searched at a time. A chunk
	// is cheap however dense the token, because the search stops as soon as
	// it has what it needs, and empty stretches are skipped (see forward).
	chunk int64 = 32 * day
)

// series is a valid token's civil occurrences, prepared for arithmetic.
type series struct {
	tok   Token
	start int64 // Start as a civil time
	first int64 // Interval, Weekly: the first occurrence
	step  int64 // Interval, Weekly: seconds between occurrences; monthly types: months
	month int   // monthly types: Start's month as year×12 + month−1
	tod   int64 // monthly types: Start's time of day in seconds
}

func newSeries(t Token) series {
	y, mo, d := t.Start.Date()
	h, mi, _ := t.Start.Clock()
	s := series{
		tok:   t,
		start: time.Date(y, mo, d, h, mi, 0, 0, time.UTC).Unix(),
		month: y*12 + int(mo) - 1,
		tod:   int64(h*3600 + mi*60),
	}
	switch t.Type {
	case Interval:
		s.first = s.start
		s.step = int64(t.DaySpan*day + t.HourSpan*3600 + t.MinuteSpan*60)
	case Weekly:
		// The first occurrence is the first day on or after Start that is Day.
		ahead := (int64(t.Day-1) - int64(t.Start.Weekday()) + 7) % 7
		s.first = s.start + ahead*day
		s.step = int64(t.ForNumberOfWeeks) * 7 * day
	case MonthlyByWeekday, MonthlyByDate:
		s.step = int64(t.ForNumberOfMonths)
	}
	return s
}

// atOrAfter returns the first civil occurrence at or after c.
func (s series) atOrAfter(c int64) (int64, bool) {
	var o int64
	switch s.tok.Type {
	case NonRecurring:
		if c > s.start {
			return 0, false
		}
		o = s.start
	case Interval, Weekly:
		o = s.first
		if c > o {
			o += (c - o + s.step - 1) / s.step * s.step
		}
	default:
		k := int64(0)
		if m := monthOf(c); m > s.month {
			k = (int64(m-s.month) + s.step - 1) / s.step
		}
		// At most two more steps: past Start in Start's month, then past c.
		for o = s.inMonth(k); o < c || o < s.start; o = s.inMonth(k) {
			k++
		}
	}
	return o, o <= horizon
}

// atOrBefore returns the last civil occurrence at or before c.
func (s series) atOrBefore(c int64) (int64, bool) {
	if c < s.start {
		return 0, false
	}
	c = min(c, horizon)
	switch s.tok.Type {
	case NonRecurring:
		return s.start, true
	case Interval, Weekly:
		if c < s.first {
			return 0, false
		}
		return s.first + (c-s.first)/s.step*s.step, true
	default:
		for k := int64(monthOf(c)-s.month) / s.step; k >= 0; k-- {
			if o := s.inMonth(k); o <= c && o >= s.start {
				return o, true
			}
		}
		return 0, false
	}
}

// inMonth returns the occurrence in the k'th month of a monthly series.
func (s series) inMonth(k int64) int64 {
	m := int64(s.month) + k*s.step
	y, mo := int(m/12), time.Month(m%12+1)
	return time.Date(y, mo, s.dayOf(y, mo), 0, 0, 0, 0, time.UTC).Unix() + s.tod
}

// dayOf returns the day of month y-mo a monthly series occurs on.
func (s series) dayOf(y int, mo time.Month) int {
	n := daysIn(y, mo)
	if s.tok.Type == MonthlyByDate {
		// MonthDay 0 is the last day (§1.8). A MonthDay the month does not
		// have (31 in April) is clamped to its last day [UNVERIFIED: the
		// reference does not say what the client does].
		if s.tok.MonthDay == 0 || s.tok.MonthDay > n {
			return n
		}
		return s.tok.MonthDay
	}
	want := time.Weekday(s.tok.Day - 1)
	if s.tok.WeekOrder == 0 { // LAST
		last := time.Date(y, mo, n, 0, 0, 0, 0, time.UTC).Weekday()
		return n - int(last-want+7)%7
	}
	first := time.Date(y, mo, 1, 0, 0, 0, 0, time.UTC).Weekday()
	return 1 + int(want-first+7)%7 + 7*(s.tok.WeekOrder-1)
}

func monthOf(c int64) int {
	t := time.Unix(c, 0).UTC()
	return t.Year()*12 + int(t.Month()) - 1
}

// zone converts civil times to instants the way time.Date does in loc.
type zone struct {
	loc   *time.Location
	fixed bool  // loc has one offset from before 1970 on (UTC, FixedZone, Asia/Tokyo)
	off   int64 // that offset, when fixed
}

func newZone(loc *time.Location) zone {
	// No civil time from 1970 on makes time.Date look earlier than this.
	t := time.Unix(-2*reach, 0).In(loc)
	_, end := t.ZoneBounds()
	_, off := t.Zone()
	return zone{loc: loc, fixed: end.IsZero(), off: int64(off)}
}

// instant returns the instant for civil time c in z. A wall-clock time a
// DST change skips is moved forward by the gap (02:30 on a spring-forward
// night becomes 03:30), in every zone: time.Date alone moves it back in
// some zones (New York) and forward in others (Berlin), which would open a
// maintenance window or fire an assignment before its wall-clock time.
func (z zone) instant(c int64) int64 {
	if z.fixed {
		return c - z.off
	}
	t := time.Unix(c, 0).UTC()
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	at := time.Date(y, mo, d, h, mi, sec, 0, z.loc)
	_, off := at.Zone()
	if got := at.Unix() + int64(off); got < c {
		return at.Unix() + (c - got) // in a gap: shift forward past it
	}
	return at.Unix()
}

// limits returns the least and greatest offset z can ever apply, so that
// instant(c) ∈ [c−hi, c−lo] for every civil c.
func (z zone) limits() (lo, hi int64) {
	if z.fixed {
		return z.off, z.off
	}
	return -reach, reach
}

// bounds returns the least and greatest offset z applies to the civil times
// whose instants may fall in [a, b). Those civil times lie within reach of
// [a, b), and time.Date reads the zone within reach of them.
func (z zone) bounds(a, b int64) (lo, hi int64) {
	if z.fixed {
		return z.off, z.off
	}
	t := time.Unix(a-2*reach, 0).In(z.loc)
	_, o := t.Zone()
	lo, hi = int64(o), int64(o)
	for {
		_, end := t.ZoneBounds()
		if end.IsZero() || end.Unix() > b+2*reach {
			return lo, hi
		}
		t = end
		_, o = t.Zone()
		lo, hi = min(lo, int64(o)), max(hi, int64(o))
	}
}

// span returns the instants any occurrence can have: [earliest, latest).
func (z zone) span() (earliest, latest int64) {
	lo, hi := z.limits()
	return -hi, horizon - lo + 1 // civil times run from 0 (1970) to horizon
}

// forward returns, sorted and without duplicates, the first limit
// occurrences (all of them when limit is 0) whose instants lie in [a, b).
//
// Within a chunk [a, e), every civil time c whose instant is in [a, e) lies
// in [a+lo, e+hi), where lo and hi are the offsets bounds finds; the instant
// is at least c−hi, which tells when later candidates cannot come earlier.
func (s series) forward(z zone, a, b int64, limit int) []int64 {
	earliest, latest := z.span()
	a, b = max(a, earliest), min(b, latest)
	gLo, gHi := z.limits()
	var out []int64
	for a < b {
		e := min(a+chunk, b)
		lo, hi := z.bounds(a, e)
		var found []int64
		for c, ok := s.atOrAfter(a + lo); ok && c < e+hi; c, ok = s.atOrAfter(c + 1) {
			if limit > 0 && len(out)+len(found) == limit && c-hi >= found[len(found)-1] {
				break
			}
			v := z.instant(c)
			if v < a || v >= e {
				continue
			}
			if i, dup := slices.BinarySearch(found, v); !dup {
				found = slices.Insert(found, i, v)
			}
			if limit > 0 && len(out)+len(found) > limit {
				found = found[:len(found)-1]
			}
		}
		out = append(out, found...)
		if limit > 0 && len(out) == limit {
			break
		}
		// Instants at or after e come from civil times at or after e+gLo,
		// and none comes before the first of those minus gHi.
		c, ok := s.atOrAfter(e + gLo)
		if !ok {
			break
		}
		a = max(e, c-gHi)
	}
	return out
}

// last returns the latest occurrence whose instant is before b: forward's
// search run backwards.
func (s series) last(z zone, b int64) (int64, bool) {
	earliest, latest := z.span()
	b = min(b, latest)
	gLo, gHi := z.limits()
	for b > earliest {
		a := max(b-chunk, earliest)
		lo, hi := z.bounds(a, b)
		var best int64
		found := false
		for c, ok := s.atOrBefore(b + hi - 1); ok && c >= a+lo; c, ok = s.atOrBefore(c - 1) {
			if found && c-lo <= best {
				break
			}
			if v := z.instant(c); v >= a && v < b && (!found || v > best) {
				best, found = v, true
			}
		}
		if found {
			return best, true
		}
		// Instants before a come from civil times before a+gHi, and none
		// comes after the last of those minus gLo.
		c, ok := s.atOrBefore(a + gHi - 1)
		if !ok {
			return 0, false
		}
		b = min(a, c-gLo+1)
	}
	return 0, false
}

// unix returns t's Unix time, clamped to ±2⁴⁰ s (about 35 000 years): far
// beyond any occurrence, and far from overflow.
func unix(t time.Time) int64 { return min(max(t.Unix(), -1<<40), 1<<40) }

// ceilUnix returns the least whole second at or after t, clamped like unix.
func ceilUnix(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return unix(t) + 1
	}
	return unix(t)
}

// Next returns the first occurrence strictly after after, interpreted in
// Location(deviceLoc) and returned in that location. ok is false when there
// is none: a non-recurring token already past, or a token that fails
// Validate (an invalid token has no occurrences).
func (t Token) Next(after time.Time, deviceLoc *time.Location) (next time.Time, ok bool) {
	if t.Validate() != nil {
		return time.Time{}, false
	}
	z := newZone(t.Location(deviceLoc))
	occ := newSeries(t).forward(z, unix(after)+1, 1<<40, 1)
	if len(occ) == 0 {
		return time.Time{}, false
	}
	return time.Unix(occ[0], 0).In(z.loc), true
}

// Prev returns the latest occurrence at or before at, in Location(deviceLoc).
// ok is false when the first occurrence is after at, or the token fails
// Validate.
func (t Token) Prev(at time.Time, deviceLoc *time.Location) (prev time.Time, ok bool) {
	if t.Validate() != nil {
		return time.Time{}, false
	}
	z := newZone(t.Location(deviceLoc))
	v, ok := newSeries(t).last(z, unix(at)+1)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(v, 0).In(z.loc), true
}

// Between returns the occurrences in [from, to), in order and in
// Location(deviceLoc), at most max of them. max must be positive, so that the
// result is always bounded: Between returns nil when it is not, and for a
// token that fails Validate.
func (t Token) Between(from, to time.Time, deviceLoc *time.Location, max int) []time.Time {
	if max <= 0 || t.Validate() != nil {
		return nil
	}
	z := newZone(t.Location(deviceLoc))
	occ := newSeries(t).forward(z, ceilUnix(from), ceilUnix(to), max)
	out := make([]time.Time, len(occ))
	for i, v := range occ {
		out[i] = time.Unix(v, 0).In(z.loc)
	}
	return out
}

// Openings returns the spans [occurrence, occurrence+Duration()) that
// overlap [from, to), in order and in Location(deviceLoc): the times a
// maintenance window built on t is open (§1.7). Duration is elapsed time, so
// a window that spans a DST change still lasts Duration. A token with no
// duration, or that fails Validate, has no openings. The result is not
// capped: the caller bounds it through the range.
func (t Token) Openings(from, to time.Time, deviceLoc *time.Location) []Span {
	d := t.Duration()
	if d <= 0 || t.Validate() != nil {
		return nil
	}
	z := newZone(t.Location(deviceLoc))
	// An opening overlaps [from, to) when it starts after from−d and before to.
	occ := newSeries(t).forward(z, unix(from.Add(-d))+1, ceilUnix(to), 0)
	out := make([]Span, len(occ))
	for i, v := range occ {
		start := time.Unix(v, 0).In(z.loc)
		out[i] = Span{Start: start, End: start.Add(d)}
	}
	return out
}
