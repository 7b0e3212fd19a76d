package schedule_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	consign "github.com/consign/consign"
	"github.com/consign/consign/schedule"
	"pgregory.net/rapid"
)

// Zones with the awkward cases: DST either side of UTC, a 30-minute DST
// (Lord Howe), a skipped day (Apia 2011), a fixed zone, and nil (UTC).
var zones = []*time.Location{
	nil, time.UTC, newYork, mustLoad("Europe/London"), mustLoad("Australia/Lord_Howe"),
	apia, mustLoad("America/St_Johns"), mustLoad("Asia/Kathmandu"), time.FixedZone("UTC-12", -12*3600),
}

// Days near which the zones above change offset, to aim starts and queries at.
var awkwardDays = []time.Time{
	civil(2024, 3, 10, 0, 0), civil(2024, 11, 3, 0, 0), civil(2024, 3, 31, 0, 0), civil(2024, 10, 27, 0, 0),
	civil(2024, 4, 7, 0, 0), civil(2024, 10, 6, 0, 0), civil(2011, 12, 30, 0, 0), civil(2011, 9, 24, 0, 0),
	civil(1986, 1, 1, 0, 0), civil(2007, 3, 11, 0, 0), civil(2024, 2, 29, 0, 0), civil(2033, 12, 31, 0, 0),
}

func genStart(t *rapid.T) time.Time {
	if rapid.Bool().Draw(t, "nearAwkwardDay") {
		d := rapid.SampledFrom(awkwardDays).Draw(t, "awkwardDay")
		s := d.Add(time.Duration(rapid.IntRange(-3*24*60, 24*60).Draw(t, "minutes")) * time.Minute)
		if s.Year() <= 2033 {
			return s
		}
	}
	y := rapid.IntRange(1970, 2033).Draw(t, "year")
	mo := time.Month(rapid.IntRange(1, 12).Draw(t, "month"))
	n := time.Date(y, mo+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return civil(y, mo, rapid.IntRange(1, n).Draw(t, "day"), rapid.IntRange(0, 23).Draw(t, "hour"), rapid.IntRange(0, 59).Draw(t, "minute"))
}

// genToken generates valid tokens of every type.
var genToken = rapid.Custom(func(t *rapid.T) schedule.Token {
	tok := schedule.Token{
		Type:           schedule.Type(rapid.IntRange(1, 5).Draw(t, "type")),
		Start:          genStart(t),
		IsGMT:          rapid.IntRange(0, 3).Draw(t, "isGMT") == 0,
		DayDuration:    rapid.SampledFrom([]int{0, 0, 0, 1, 31}).Draw(t, "dayDuration"),
		HourDuration:   rapid.IntRange(0, 23).Draw(t, "hourDuration"),
		MinuteDuration: rapid.IntRange(0, 59).Draw(t, "minuteDuration"),
	}
	switch tok.Type {
	case schedule.Interval:
		// Mostly one non-zero span, as ConfigMgr writes them; sometimes several.
		switch rapid.IntRange(0, 3).Draw(t, "spanKind") {
		case 0:
			tok.MinuteSpan = rapid.IntRange(1, 59).Draw(t, "minuteSpan")
		case 1:
			tok.HourSpan = rapid.IntRange(1, 23).Draw(t, "hourSpan")
		case 2:
			tok.DaySpan = rapid.IntRange(1, 31).Draw(t, "daySpan")
		default:
			tok.MinuteSpan = rapid.IntRange(0, 59).Draw(t, "minuteSpan")
			tok.HourSpan = rapid.IntRange(0, 23).Draw(t, "hourSpan")
			tok.DaySpan = rapid.IntRange(1, 31).Draw(t, "daySpan")
		}
	case schedule.Weekly:
		tok.Day = rapid.IntRange(1, 7).Draw(t, "day")
		tok.ForNumberOfWeeks = rapid.IntRange(1, 4).Draw(t, "weeks")
	case schedule.MonthlyByWeekday:
		tok.Day = rapid.IntRange(1, 7).Draw(t, "day")
		tok.ForNumberOfMonths = rapid.IntRange(1, 12).Draw(t, "months")
		tok.WeekOrder = rapid.IntRange(0, 4).Draw(t, "weekOrder")
	case schedule.MonthlyByDate:
		tok.MonthDay = rapid.IntRange(0, 31).Draw(t, "monthDay")
		tok.ForNumberOfMonths = rapid.IntRange(1, 12).Draw(t, "months")
	}
	return tok
})

// transitionNear returns the first offset change of loc after d, if any.
func transitionNear(loc *time.Location, d time.Time) (time.Time, bool) {
	if loc == nil {
		return time.Time{}, false
	}
	_, end := d.In(loc).ZoneBounds()
	return end, !end.IsZero()
}

// genInstant draws an instant near the token's start, within hours of one of
// the zone's offset changes, near an awkward day, or anywhere from 1969 to
// 2036, with an occasional sub-minute part.
func genInstant(t *rapid.T, tok schedule.Token, loc *time.Location, label string) time.Time {
	var base time.Time
	switch rapid.IntRange(0, 3).Draw(t, label+"Kind") {
	case 0:
		base = tok.Start.Add(time.Duration(rapid.Int64Range(-3*24*3600, 60*24*3600).Draw(t, label+"Seconds")) * time.Second)
	case 1:
		day := rapid.SampledFrom(awkwardDays).Draw(t, label+"Day").AddDate(0, 0, -2)
		if tr, ok := transitionNear(loc, day); ok {
			base = tr.Add(time.Duration(rapid.Int64Range(-3*3600, 3*3600).Draw(t, label+"Seconds")) * time.Second)
			break
		}
		fallthrough
	case 2:
		base = rapid.SampledFrom(awkwardDays).Draw(t, label+"Day").Add(time.Duration(rapid.Int64Range(-2*24*3600, 2*24*3600).Draw(t, label+"Seconds")) * time.Second)
	default:
		base = time.Unix(rapid.Int64Range(-365*24*3600, 66*365*24*3600).Draw(t, label+"Unix"), 0)
	}
	if rapid.IntRange(0, 3).Draw(t, label+"Fraction") == 0 {
		base = base.Add(time.Duration(rapid.Int64Range(1, int64(time.Minute)-1).Draw(t, label+"Nanos")))
	}
	return base
}

// Property 1: String and Parse invert each other on valid tokens.
func TestPropertyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tok := genToken.Draw(t, "token")
		if err := tok.Validate(); err != nil {
			t.Fatalf("generated token is invalid: %v", err)
		}
		s := tok.String()
		if len(s) != 16 || strings.ToUpper(s) != s {
			t.Fatalf("String() = %q", s)
		}
		back, err := schedule.Parse(s)
		if err != nil || back != tok {
			t.Fatalf("Parse(%s) = %+v, %v; want %+v", s, back, err, tok)
		}
	})
}

// Property 1, the other way: any 16 hex digits that parse give themselves
// back in upper case. Half the strings are valid encodings in mixed case so
// that both outcomes are common.
func TestPropertyParseFormat(t *testing.T) {
	hex := "0123456789abcdefABCDEF"
	rapid.Check(t, func(t *rapid.T) {
		var s string
		if rapid.Bool().Draw(t, "fromToken") {
			b := []byte(genToken.Draw(t, "token").String())
			for i := range b {
				if rapid.Bool().Draw(t, "lower") {
					b[i] = strings.ToLower(string(b[i]))[0]
				}
			}
			s = string(b)
		} else {
			b := make([]byte, 16)
			for i := range b {
				b[i] = hex[rapid.IntRange(0, len(hex)-1).Draw(t, "digit")]
			}
			s = string(b)
		}
		tok, err := schedule.Parse(s)
		if err != nil {
			if !errors.Is(err, consign.ErrInvalid) {
				t.Fatalf("Parse(%s): %v is not ErrInvalid", s, err)
			}
			return
		}
		if err := tok.Validate(); err != nil {
			t.Fatalf("Parse(%s) gave an invalid token: %v", s, err)
		}
		if got := tok.String(); got != strings.ToUpper(s) {
			t.Fatalf("String(Parse(%s)) = %s", s, got)
		}
	})
}

// Property 2: Next is the next occurrence and Prev the previous one.
func TestPropertyNextPrev(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tok := genToken.Draw(t, "token")
		loc := rapid.SampledFrom(zones).Draw(t, "zone")
		x := genInstant(t, tok, loc, "x")

		next, ok := tok.Next(x, loc)
		if !ok {
			if tok.Recurring() {
				t.Fatalf("recurring token has no occurrence after %v", x)
			}
			if got := tok.Between(x.Add(time.Nanosecond), civil(9999, 1, 1, 0, 0), loc, 1); len(got) != 0 {
				t.Fatalf("Next(%v) found none but Between found %v", x, got)
			}
		} else {
			if !next.After(x) {
				t.Fatalf("Next(%v) = %v is not after it", x, next)
			}
			if got := tok.Between(x.Add(time.Nanosecond), next, loc, 1); len(got) != 0 {
				t.Fatalf("Next(%v) = %v skipped %v", x, next, got)
			}
			if p, ok := tok.Prev(next, loc); !ok || !p.Equal(next) {
				t.Fatalf("Prev(Next(%v) = %v) = %v, %v", x, next, p, ok)
			}
			if next.Location() != tok.Location(loc) {
				t.Fatalf("Next returned a time in %v", next.Location())
			}
		}

		prev, ok := tok.Prev(x, loc)
		if !ok {
			if got := tok.Between(civil(1969, 1, 1, 0, 0), x.Add(time.Nanosecond), loc, 1); len(got) != 0 {
				t.Fatalf("Prev(%v) found none but Between found %v", x, got)
			}
			return
		}
		if prev.After(x) {
			t.Fatalf("Prev(%v) = %v is after it", x, prev)
		}
		if got := tok.Between(prev.Add(time.Nanosecond), x.Add(time.Nanosecond), loc, 1); len(got) != 0 {
			t.Fatalf("Prev(%v) = %v skipped %v", x, prev, got)
		}
		if n, ok := tok.Next(prev.Add(-time.Nanosecond), loc); !ok || !n.Equal(prev) {
			t.Fatalf("Next(Prev(%v) = %v − 1 ns) = %v, %v", x, prev, n, ok)
		}
	})
}

// Property 3: Between is sorted, within range, bounded by max, and agrees
// with iterating Next.
func TestPropertyBetween(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tok := genToken.Draw(t, "token")
		loc := rapid.SampledFrom(zones).Draw(t, "zone")
		from := genInstant(t, tok, loc, "from")
		to := from.Add(time.Duration(rapid.Int64Range(0, 40*24*3600).Draw(t, "length")) * time.Second)
		max := rapid.IntRange(1, 200).Draw(t, "max")

		got := tok.Between(from, to, loc, max)
		if len(got) > max {
			t.Fatalf("%d occurrences, max %d", len(got), max)
		}
		var want []time.Time
		for x := from.Add(-time.Nanosecond); len(want) < max; {
			n, ok := tok.Next(x, loc)
			if !ok || !n.Before(to) {
				break
			}
			want = append(want, n)
			x = n
		}
		for i, o := range got {
			if o.Before(from) || !o.Before(to) {
				t.Fatalf("occurrence %v outside [%v, %v)", o, from, to)
			}
			if i > 0 && !o.After(got[i-1]) {
				t.Fatalf("not strictly increasing: %v then %v", got[i-1], o)
			}
		}
		if !equalTimes(got, want) {
			t.Fatalf("Between = %v\nNext iteration = %v", got, want)
		}
	})
}

// model lists the occurrences in [from, to) the slow way: every civil
// occurrence from Start on, each converted with time.Date and moved forward
// past a DST gap.
func model(tok schedule.Token, from, to time.Time, loc *time.Location) []time.Time {
	stop := to.UTC().Add(48 * time.Hour) // no zone is 48 h off UTC
	var civils []time.Time
	switch tok.Type {
	case schedule.NonRecurring:
		civils = append(civils, tok.Start)
	case schedule.Interval:
		step := time.Duration(tok.DaySpan)*24*time.Hour + time.Duration(tok.HourSpan)*time.Hour + time.Duration(tok.MinuteSpan)*time.Minute
		for c := tok.Start; !c.After(stop); c = c.Add(step) {
			civils = append(civils, c)
		}
	case schedule.Weekly:
		c := tok.Start
		for int(c.Weekday()) != tok.Day-1 {
			c = c.AddDate(0, 0, 1)
		}
		for ; !c.After(stop); c = c.AddDate(0, 0, 7*tok.ForNumberOfWeeks) {
			civils = append(civils, c)
		}
	default:
		for k := 0; ; k += tok.ForNumberOfMonths {
			first := time.Date(tok.Start.Year(), tok.Start.Month()+time.Month(k), 1, tok.Start.Hour(), tok.Start.Minute(), 0, 0, time.UTC)
			if first.After(stop) {
				break
			}
			var days []time.Time // candidate days of this month, in order
			for d := first; d.Month() == first.Month(); d = d.AddDate(0, 0, 1) {
				if tok.Type == schedule.MonthlyByDate || int(d.Weekday()) == tok.Day-1 {
					days = append(days, d)
				}
			}
			var c time.Time
			switch {
			case tok.Type == schedule.MonthlyByDate && tok.MonthDay >= 1 && tok.MonthDay <= len(days):
				c = days[tok.MonthDay-1]
			case tok.Type == schedule.MonthlyByWeekday && tok.WeekOrder >= 1:
				c = days[tok.WeekOrder-1]
			default: // last day, last weekday, or a day the month lacks
				c = days[len(days)-1]
			}
			if !c.Before(tok.Start) {
				civils = append(civils, c)
			}
		}
	}
	l := tok.Location(loc)
	var out []time.Time
	for _, c := range civils {
		o := time.Date(c.Year(), c.Month(), c.Day(), c.Hour(), c.Minute(), 0, 0, l)
		if wall := time.Date(o.Year(), o.Month(), o.Day(), o.Hour(), o.Minute(), 0, 0, time.UTC); wall.Before(c) {
			o = o.Add(c.Sub(wall)) // a skipped wall-clock time moves forward past the gap
		}
		if !o.Before(from) && o.Before(to) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, time.Time.Equal)
}

// Between agrees with the brute-force model. The range is kept within a few
// thousand steps of Start so that the model stays cheap.
func TestPropertyBetweenMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tok := genToken.Draw(t, "token")
		loc := rapid.SampledFrom(zones).Draw(t, "zone")
		reach := int64(400 * 24 * 3600)
		if tok.Type == schedule.Interval {
			step := int64(tok.DaySpan*24*3600 + tok.HourSpan*3600 + tok.MinuteSpan*60)
			reach = min(reach, 2000*step)
		}
		// Fractions of reach, so that small draws still give long ranges.
		from := tok.Start.Add(time.Duration(rapid.Int64Range(-20, 1000).Draw(t, "from")*reach/1000) * time.Second)
		to := from.Add(time.Duration(rapid.Int64Range(0, 1000).Draw(t, "length")*reach/1000) * time.Second)
		max := rapid.IntRange(1, 5000).Draw(t, "max")

		want := model(tok, from, to, loc)
		if len(want) > max {
			want = want[:max]
		}
		if got := tok.Between(from, to, loc, max); !equalTimes(got, want) {
			t.Fatalf("Between(%v, %v) of %s =\n%v\nmodel:\n%v", from, to, tok, got, want)
		}
	})
}

// Openings are the occurrences whose spans overlap the range.
func TestPropertyOpenings(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tok := genToken.Draw(t, "token")
		loc := rapid.SampledFrom(zones).Draw(t, "zone")
		from := genInstant(t, tok, loc, "from")
		to := from.Add(time.Duration(rapid.Int64Range(0, 10*24*3600).Draw(t, "length")) * time.Second)
		d := tok.Duration()
		got := tok.Openings(from, to, loc)
		if d == 0 {
			if got != nil {
				t.Fatalf("openings without a duration: %v", got)
			}
			return
		}
		starts := tok.Between(from.Add(-d+time.Nanosecond), to, loc, 1_000_000)
		if len(got) != len(starts) {
			t.Fatalf("%d openings, %d occurrences in (from−d, to)", len(got), len(starts))
		}
		for i, s := range got {
			if !s.Start.Equal(starts[i]) || s.Duration() != d || !s.Start.Before(to) || !s.End.After(from) {
				t.Fatalf("opening %v, occurrence %v, range [%v, %v), duration %v", s, starts[i], from, to, d)
			}
		}
	})
}

// Property 4: Union is sorted, has no overlapping or touching spans, and
// covers exactly the instants its input covers.
func TestPropertyUnion(t *testing.T) {
	base := civil(2024, 1, 1, 0, 0)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	genSpan := rapid.Custom(func(t *rapid.T) schedule.Span {
		s := rapid.IntRange(0, 200).Draw(t, "start")
		return schedule.Span{Start: at(s), End: at(s + rapid.IntRange(-5, 40).Draw(t, "length"))}
	})
	rapid.Check(t, func(t *rapid.T) {
		in := rapid.SliceOfN(genSpan, 0, 12).Draw(t, "spans")
		kept := slices.Clone(in)
		got := schedule.Union(in)
		if !slices.Equal(in, kept) {
			t.Fatal("Union modified its input")
		}
		for i, s := range got {
			if !s.Start.Before(s.End) {
				t.Fatalf("empty span %v in %v", s, got)
			}
			if i > 0 && !got[i-1].End.Before(s.Start) {
				t.Fatalf("spans %v and %v overlap or touch", got[i-1], s)
			}
		}
		covered := func(spans []schedule.Span, x time.Time) bool {
			return slices.ContainsFunc(spans, func(s schedule.Span) bool { return s.Contains(x) })
		}
		// Coverage only changes at whole minutes, so each minute and the
		// middle of each minute decide it.
		for m := -10; m <= 260; m++ {
			for _, x := range []time.Time{at(m), at(m).Add(30 * time.Second)} {
				if covered(in, x) != covered(got, x) {
					t.Fatalf("%v: covered by input %v, by union %v", x, covered(in, x), covered(got, x))
				}
			}
		}
	})
}

// Next, Prev and Between agree with the model around real offset changes,
// where time.Date moves skipped wall-clock times and so can put a later
// civil occurrence before an earlier one. Tokens here are dense (minutes to a
// few hours) and start shortly before the change.
func TestPropertyAroundOffsetChanges(t *testing.T) {
	dstZones := []*time.Location{newYork, mustLoad("Europe/London"), mustLoad("Australia/Lord_Howe"), apia, mustLoad("America/St_Johns")}
	rapid.Check(t, func(t *rapid.T) {
		loc := rapid.SampledFrom(dstZones).Draw(t, "zone")
		year := rapid.IntRange(1971, 2032).Draw(t, "year")
		month := time.Month(rapid.IntRange(1, 12).Draw(t, "month"))
		change, ok := transitionNear(loc, civil(year, month, 1, 0, 0))
		if !ok || change.Year() > 2033 {
			t.Skip("no offset change")
		}
		start := change.UTC().Truncate(time.Minute).Add(-time.Duration(rapid.IntRange(0, 3*24*60).Draw(t, "lead")) * time.Minute)
		tok := schedule.Token{Type: schedule.Interval, Start: start}
		if rapid.Bool().Draw(t, "minutes") {
			tok.MinuteSpan = rapid.IntRange(1, 59).Draw(t, "minuteSpan")
		} else {
			tok.HourSpan = rapid.IntRange(1, 5).Draw(t, "hourSpan")
			tok.MinuteSpan = rapid.IntRange(0, 59).Draw(t, "minuteSpan")
		}
		x := change.Add(time.Duration(rapid.Int64Range(-4*3600, 4*3600).Draw(t, "x")) * time.Second)

		horizon := x.Add(48 * time.Hour)
		all := model(tok, start.Add(-48*time.Hour), horizon, loc)
		var wantNext, wantPrev time.Time
		for _, o := range all {
			if o.After(x) && wantNext.IsZero() {
				wantNext = o
			}
			if !o.After(x) {
				wantPrev = o
			}
		}
		if next, ok := tok.Next(x, loc); !ok || !next.Equal(wantNext) {
			t.Fatalf("Next(%v) = %v, %v; model %v", x, next, ok, wantNext)
		}
		if prev, ok := tok.Prev(x, loc); ok != !wantPrev.IsZero() || !prev.Equal(wantPrev) {
			t.Fatalf("Prev(%v) = %v, %v; model %v", x, prev, ok, wantPrev)
		}
		from, to := x.Add(-3*time.Hour), x.Add(3*time.Hour)
		if got, want := tok.Between(from, to, loc, 1000), model(tok, from, to, loc); !equalTimes(got, want) {
			t.Fatalf("Between(%v, %v) =\n%v\nmodel:\n%v", from, to, got, want)
		}
	})
}
