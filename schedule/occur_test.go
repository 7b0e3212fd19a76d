package schedule_test

import (
	"math"
	"testing"
	"time"

	"github.com/consign/consign/schedule"
)

func mustParse(s string) schedule.Token {
	t, err := schedule.Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

// firstN returns the first n occurrences strictly after after.
func firstN(tok schedule.Token, after time.Time, loc *time.Location, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		next, ok := tok.Next(after, loc)
		if !ok {
			break
		}
		out = append(out, next)
		after = next
	}
	return out
}

func TestOccurrences(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi int) time.Time { return civil(y, mo, d, h, mi) }
	for _, tc := range []struct {
		name  string
		tok   schedule.Token
		after time.Time
		want  []time.Time
	}{
		{"every 2 days (documented)", mustParse("1033BC7B10100010"), utc(2024, 1, 1, 0, 0),
			[]time.Time{utc(2024, 1, 1, 1, 4), utc(2024, 1, 3, 1, 4)}},
		{"daily (documented) from before its start", mustParse("0034394008100008"), utc(2000, 1, 1, 0, 0),
			[]time.Time{utc(2007, 3, 20, 1, 0), utc(2007, 3, 21, 1, 0)}},
		{"every Monday (documented): first Monday after Tuesday 2007-03-20", mustParse("00343940081A2000"), utc(2007, 1, 1, 0, 0),
			[]time.Time{utc(2007, 3, 26, 1, 0), utc(2007, 4, 2, 1, 0)}},
		{"day 1 of every month (documented): none in the start month", mustParse("0034394008284400"), utc(2007, 3, 1, 0, 0),
			[]time.Time{utc(2007, 4, 1, 1, 0), utc(2007, 5, 1, 1, 0), utc(2007, 6, 1, 1, 0)}},
		{"every 5 minutes from 1970 (documented), asked in 2024", mustParse("000120000010A000"), time.Date(2024, 6, 15, 13, 2, 30, 5, time.UTC),
			[]time.Time{utc(2024, 6, 15, 13, 5), utc(2024, 6, 15, 13, 10)}},
		{"after is exclusive", mustParse("0034394008100008"), utc(2007, 3, 21, 1, 0),
			[]time.Time{utc(2007, 3, 22, 1, 0)}},
		{"a nanosecond before counts", mustParse("0034394008100008"), utc(2007, 3, 21, 1, 0).Add(-time.Nanosecond),
			[]time.Time{utc(2007, 3, 21, 1, 0)}},
		{"every 2 weeks on Sunday from a Wednesday",
			schedule.Token{Type: schedule.Weekly, Start: utc(2024, 1, 3, 9, 0), Day: 1, ForNumberOfWeeks: 2}, utc(2024, 1, 1, 0, 0),
			[]time.Time{utc(2024, 1, 7, 9, 0), utc(2024, 1, 21, 9, 0), utc(2024, 2, 4, 9, 0)}},
		{"weekly on Start's own weekday starts at Start",
			schedule.Token{Type: schedule.Weekly, Start: utc(2024, 1, 3, 9, 0), Day: 4, ForNumberOfWeeks: 1}, utc(2024, 1, 1, 0, 0),
			[]time.Time{utc(2024, 1, 3, 9, 0), utc(2024, 1, 10, 9, 0)}},
		{"second Tuesday of every month",
			schedule.Token{Type: schedule.MonthlyByWeekday, Start: utc(2024, 1, 1, 22, 0), Day: 3, WeekOrder: 2, ForNumberOfMonths: 1}, utc(2023, 1, 1, 0, 0),
			[]time.Time{utc(2024, 1, 9, 22, 0), utc(2024, 2, 13, 22, 0), utc(2024, 3, 12, 22, 0)}},
		{"fourth Thursday, start month after its occurrence",
			schedule.Token{Type: schedule.MonthlyByWeekday, Start: utc(2024, 11, 29, 8, 0), Day: 5, WeekOrder: 4, ForNumberOfMonths: 1}, utc(2024, 1, 1, 0, 0),
			[]time.Time{utc(2024, 12, 26, 8, 0), utc(2025, 1, 23, 8, 0)}},
		{"last Friday of every other month",
			schedule.Token{Type: schedule.MonthlyByWeekday, Start: utc(2024, 1, 1, 0, 0), Day: 6, WeekOrder: 0, ForNumberOfMonths: 2}, utc(2024, 1, 1, 0, 0),
			[]time.Time{utc(2024, 1, 26, 0, 0), utc(2024, 3, 29, 0, 0), utc(2024, 5, 31, 0, 0)}},
		{"day 31 is clamped to the month's last day",
			schedule.Token{Type: schedule.MonthlyByDate, Start: utc(2024, 1, 31, 6, 0), MonthDay: 31, ForNumberOfMonths: 1}, utc(2024, 1, 1, 0, 0),
			[]time.Time{utc(2024, 1, 31, 6, 0), utc(2024, 2, 29, 6, 0), utc(2024, 3, 31, 6, 0), utc(2024, 4, 30, 6, 0)}},
		{"day 0 is the last day",
			schedule.Token{Type: schedule.MonthlyByDate, Start: utc(2023, 1, 15, 0, 0), MonthDay: 0, ForNumberOfMonths: 1}, utc(2023, 1, 1, 0, 0),
			[]time.Time{utc(2023, 1, 31, 0, 0), utc(2023, 2, 28, 0, 0), utc(2023, 3, 31, 0, 0)}},
		{"quarterly on the 15th",
			schedule.Token{Type: schedule.MonthlyByDate, Start: utc(2023, 11, 20, 0, 0), MonthDay: 15, ForNumberOfMonths: 3}, utc(2023, 1, 1, 0, 0),
			[]time.Time{utc(2024, 2, 15, 0, 0), utc(2024, 5, 15, 0, 0)}},
		{"non-recurring occurs once",
			schedule.Token{Type: schedule.NonRecurring, Start: utc(2024, 5, 1, 12, 0)}, utc(2024, 1, 1, 0, 0),
			[]time.Time{utc(2024, 5, 1, 12, 0)}},
		{"non-recurring already past",
			schedule.Token{Type: schedule.NonRecurring, Start: utc(2024, 5, 1, 12, 0)}, utc(2024, 5, 1, 12, 0), nil},
		{"1 day 12 hours",
			schedule.Token{Type: schedule.Interval, Start: utc(2024, 5, 1, 0, 0), DaySpan: 1, HourSpan: 12}, utc(2024, 5, 1, 0, 0),
			[]time.Time{utc(2024, 5, 2, 12, 0), utc(2024, 5, 4, 0, 0)}},
	} {
		got := firstN(tc.tok, tc.after, nil, len(tc.want)+1)
		if tc.tok.Recurring() {
			got = got[:len(tc.want)]
		}
		if !equalTimes(got, tc.want) {
			t.Errorf("%s: occurrences after %v = %v, want %v", tc.name, tc.after, got, tc.want)
		}
	}
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func TestLocalTimeKeepsTheWallClockAcrossDST(t *testing.T) {
	daily := mustParse("0034394008100008") // 01:00 local, every day
	for _, from := range []time.Time{
		time.Date(2007, 10, 30, 0, 0, 0, 0, newYork), // fall back on 2007-11-04
		time.Date(2008, 3, 5, 0, 0, 0, 0, newYork),   // spring forward on 2008-03-09
	} {
		got := daily.Between(from, from.AddDate(0, 0, 10), newYork, 100)
		if len(got) != 10 {
			t.Fatalf("%d occurrences in 10 days", len(got))
		}
		for i, o := range got {
			if o.Location() != newYork || o.Hour() != 1 || o.Minute() != 0 || o.Day() != from.AddDate(0, 0, i).Day() {
				t.Errorf("occurrence %d = %v, want 01:00 local on day %d", i, o, from.AddDate(0, 0, i).Day())
			}
		}
	}
	// IsGMT ignores the device's zone.
	gmt := daily
	gmt.IsGMT = true
	next, _ := gmt.Next(time.Date(2008, 3, 10, 0, 0, 0, 0, time.UTC), newYork)
	if want := civil(2008, 3, 10, 1, 0); !next.Equal(want) || next.Location() != time.UTC {
		t.Errorf("GMT token: Next = %v, want %v in UTC", next, want)
	}
}

func TestSkippedAndRepeatedWallClock(t *testing.T) {
	// 02:30 does not exist in New York on 2024-03-10 nor in Berlin on
	// 2024-03-31; the occurrence moves forward past the gap, to 03:30.
	for _, tc := range []struct {
		loc *time.Location
		day int
	}{{newYork, 10}, {berlin, 31}} {
		tok := schedule.Token{Type: schedule.Interval, Start: civil(2024, 3, 1, 2, 30), DaySpan: 1}
		next, _ := tok.Next(time.Date(2024, 3, tc.day-1, 12, 0, 0, 0, tc.loc), tc.loc)
		if next.Hour() != 3 || next.Minute() != 30 || next.Day() != tc.day {
			t.Errorf("%v: Next over the gap = %v, want 03:30 local", tc.loc, next)
		}
	}
	// A 7-minute series: the skipped hour's wall-clock times land in 03:xx
	// EDT, so after 01:53 EST comes 01:59 EST, then 03:00 EDT.
	tok := schedule.Token{Type: schedule.Interval, Start: civil(2024, 3, 10, 0, 0), MinuteSpan: 7}
	after := time.Date(2024, 3, 10, 1, 53, 0, 0, newYork)
	next, _ := tok.Next(after, newYork)
	if want := time.Date(2024, 3, 10, 1, 59, 0, 0, newYork); !next.Equal(want) {
		t.Errorf("Next(%v) = %v, want %v", after, next, want)
	}
	// Going back from 03:01 EDT, the latest instant is civil 01:59 EST.
	at := time.Date(2024, 3, 10, 3, 1, 0, 0, newYork)
	prev, _ := tok.Prev(at, newYork)
	if want := time.Date(2024, 3, 10, 1, 59, 0, 0, newYork); !prev.Equal(want) {
		t.Errorf("Prev(%v) = %v, want %v", at, prev, want)
	}
	// Samoa skipped 2011-12-30: the daily 10:00 of that day lands on the
	// 31st's, and the two count as one occurrence.
	tok = schedule.Token{Type: schedule.Interval, Start: civil(2011, 12, 28, 10, 0), DaySpan: 1}
	got := tok.Between(time.Date(2011, 12, 29, 0, 0, 0, 0, apia), time.Date(2012, 1, 2, 0, 0, 0, 0, apia), apia, 10)
	want := []time.Time{
		time.Date(2011, 12, 29, 10, 0, 0, 0, apia),
		time.Date(2011, 12, 31, 10, 0, 0, 0, apia),
		time.Date(2012, 1, 1, 10, 0, 0, 0, apia),
	}
	if !equalTimes(got, want) {
		t.Errorf("Samoa: %v, want %v", got, want)
	}
	// Every 15 minutes over New York's fall-back night: the repeated hour's
	// wall clock occurs once, so the result has no duplicates and stays sorted.
	tok = schedule.Token{Type: schedule.Interval, Start: civil(2024, 11, 1, 0, 0), MinuteSpan: 15}
	from := time.Date(2024, 11, 3, 0, 0, 0, 0, newYork)
	got = tok.Between(from, from.Add(5*time.Hour), newYork, 100)
	if len(got) != 16 { // 00:00 … 03:45 local: 4 h of wall clock in 5 h
		t.Errorf("fall-back night: %d occurrences, want 16: %v", len(got), got)
	}
}

func TestPrev(t *testing.T) {
	tok := mustParse("0034394008100008")
	for _, tc := range []struct {
		at   time.Time
		want time.Time
		ok   bool
	}{
		{civil(2007, 3, 20, 0, 59), time.Time{}, false},
		{civil(2007, 3, 20, 1, 0), civil(2007, 3, 20, 1, 0), true},
		{civil(2007, 3, 21, 0, 59), civil(2007, 3, 20, 1, 0), true},
		{civil(2030, 6, 1, 1, 0).Add(time.Nanosecond), civil(2030, 6, 1, 1, 0), true},
		{civil(2030, 6, 1, 1, 0).Add(-time.Nanosecond), civil(2030, 5, 31, 1, 0), true},
		{time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), civil(9999, 12, 31, 1, 0), true}, // the horizon
	} {
		got, ok := tok.Prev(tc.at, nil)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("Prev(%v) = %v, %v; want %v, %v", tc.at, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := tok.Next(civil(9999, 12, 31, 1, 0), nil); ok {
		t.Error("Next found an occurrence after the year 9999")
	}
}

func TestExtremeInstants(t *testing.T) {
	tok := mustParse("0034394008100008")
	farPast := []time.Time{{}, time.Unix(-1<<62, 0), time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC)}
	farFuture := []time.Time{time.Unix(1<<62, 999), time.Unix(math.MaxInt64, 999999999), time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, loc := range []*time.Location{nil, newYork, time.FixedZone("UTC+100", 100*3600)} {
		l := tok.Location(loc)
		first, last := time.Date(2007, 3, 20, 1, 0, 0, 0, l), time.Date(9999, 12, 31, 1, 0, 0, 0, l)
		for _, x := range farPast {
			if n, ok := tok.Next(x, loc); !ok || !n.Equal(first) {
				t.Errorf("%v: Next(%v) = %v, %v; want %v", loc, x, n, ok, first)
			}
			if p, ok := tok.Prev(x, loc); ok {
				t.Errorf("%v: Prev(%v) = %v", loc, x, p)
			}
		}
		for _, x := range farFuture {
			if n, ok := tok.Next(x, loc); ok {
				t.Errorf("%v: Next(%v) = %v", loc, x, n)
			}
			if p, ok := tok.Prev(x, loc); !ok || !p.Equal(last) {
				t.Errorf("%v: Prev(%v) = %v, %v; want %v", loc, x, p, ok, last)
			}
			if got := tok.Between(farPast[0], x, loc, 2); len(got) != 2 || !got[0].Equal(first) {
				t.Errorf("%v: Between(zero, %v) = %v", loc, x, got)
			}
		}
	}
}

func TestBetween(t *testing.T) {
	every5 := mustParse("000120000010A000")
	from := civil(2024, 1, 1, 0, 0)
	got := every5.Between(from, from.Add(time.Hour), nil, 100)
	if len(got) != 12 || !got[0].Equal(from) || !got[11].Equal(from.Add(55*time.Minute)) {
		t.Errorf("an hour of 5-minute occurrences: %v", got)
	}
	if got := every5.Between(from, from.Add(time.Hour), nil, 3); len(got) != 3 || !got[2].Equal(from.Add(10*time.Minute)) {
		t.Errorf("max 3: %v", got)
	}
	for _, max := range []int{0, -1} {
		if got := every5.Between(from, from.Add(time.Hour), nil, max); got != nil {
			t.Errorf("max %d: %v, want nil", max, got)
		}
	}
	if got := every5.Between(from.Add(time.Hour), from, nil, 10); len(got) != 0 {
		t.Errorf("reversed range: %v", got)
	}
	// A monthly token asked about decades before and after its start.
	monthly := mustParse("0034394008284400")
	got = monthly.Between(civil(1970, 1, 1, 0, 0), civil(2100, 1, 1, 0, 0), nil, 1000)
	if first := civil(2007, 4, 1, 1, 0); len(got) != 1000 || !got[0].Equal(first) || !got[999].Equal(first.AddDate(0, 999, 0)) {
		t.Errorf("monthly over a century: %d occurrences, %v … %v", len(got), got[0], got[len(got)-1])
	}
}

func TestInvalidTokenHasNoOccurrences(t *testing.T) {
	bad := schedule.Token{Type: schedule.Interval, Start: civil(2024, 1, 1, 0, 0), HourDuration: 1} // zero span
	at := civil(2024, 6, 1, 0, 0)
	if _, ok := bad.Next(at, nil); ok {
		t.Error("Next of an invalid token")
	}
	if _, ok := bad.Prev(at, nil); ok {
		t.Error("Prev of an invalid token")
	}
	if bad.Between(civil(2020, 1, 1, 0, 0), at, nil, 10) != nil || bad.Openings(civil(2020, 1, 1, 0, 0), at, nil) != nil {
		t.Error("Between or Openings of an invalid token")
	}
}

func TestOpenings(t *testing.T) {
	window := mustParse("0034394008100008") // daily 01:00 for 1 h
	span := func(d, h int) schedule.Span {
		s := civil(2007, 3, d, h, 0)
		return schedule.Span{Start: s, End: s.Add(time.Hour)}
	}
	for _, tc := range []struct {
		from, to time.Time
		want     []schedule.Span
	}{
		{civil(2007, 3, 21, 0, 30), civil(2007, 3, 22, 1, 30), []schedule.Span{span(21, 1), span(22, 1)}},
		{civil(2007, 3, 21, 1, 30), civil(2007, 3, 22, 1, 0), []schedule.Span{span(21, 1)}}, // from inside a window; to exclusive
		{civil(2007, 3, 21, 2, 0), civil(2007, 3, 22, 0, 0), nil},                           // a window's end is exclusive
		{civil(2007, 3, 1, 0, 0), civil(2007, 3, 21, 0, 0), []schedule.Span{span(20, 1)}},   // nothing before Start
	} {
		got := window.Openings(tc.from, tc.to, nil)
		if len(got) != len(tc.want) {
			t.Errorf("Openings(%v, %v) = %v, want %v", tc.from, tc.to, got, tc.want)
			continue
		}
		for i := range got {
			if !got[i].Start.Equal(tc.want[i].Start) || !got[i].End.Equal(tc.want[i].End) {
				t.Errorf("Openings(%v, %v)[%d] = %v, want %v", tc.from, tc.to, i, got[i], tc.want[i])
			}
		}
	}
	noDuration := mustParse("000120000010A000")
	if got := noDuration.Openings(civil(2024, 1, 1, 0, 0), civil(2024, 1, 2, 0, 0), nil); got != nil {
		t.Errorf("a token without duration has openings %v", got)
	}
	// Duration is elapsed time: the window opening at 01:00 on the
	// fall-back night lasts an hour, not until 02:00 on the wall clock.
	nyWindow := schedule.Token{Type: schedule.Interval, Start: civil(2024, 11, 1, 1, 0), DaySpan: 1, HourDuration: 1}
	got := nyWindow.Openings(time.Date(2024, 11, 3, 0, 0, 0, 0, newYork), time.Date(2024, 11, 3, 12, 0, 0, 0, newYork), newYork)
	if len(got) != 1 || got[0].Duration() != time.Hour || !got[0].Start.Equal(time.Date(2024, 11, 3, 1, 0, 0, 0, newYork)) {
		t.Errorf("fall-back night window: %v", got)
	}
}

func TestSpanAndUnion(t *testing.T) {
	at := func(m int) time.Time { return civil(2024, 1, 1, 0, 0).Add(time.Duration(m) * time.Minute) }
	s := schedule.Span{Start: at(10), End: at(20)}
	if !s.Contains(at(10)) || s.Contains(at(20)) || s.Contains(at(9)) || s.Duration() != 10*time.Minute {
		t.Error("Span.Contains or Duration is wrong")
	}
	in := []schedule.Span{{at(30), at(40)}, {at(0), at(10)}, {at(10), at(15)}, {at(35), at(50)}, {at(60), at(60)}, {at(70), at(65)}}
	want := []schedule.Span{{at(0), at(15)}, {at(30), at(50)}}
	got := schedule.Union(in)
	if len(got) != len(want) {
		t.Fatalf("Union = %v, want %v", got, want)
	}
	for i := range got {
		if !got[i].Start.Equal(want[i].Start) || !got[i].End.Equal(want[i].End) {
			t.Errorf("Union[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if !in[0].Start.Equal(at(30)) || !in[1].End.Equal(at(10)) {
		t.Error("Union modified its input")
	}
	if len(schedule.Union(nil)) != 0 {
		t.Error("Union(nil) is not empty")
	}
}
