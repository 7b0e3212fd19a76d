package schedule_test

import (
	"fmt"
	"time"

	"github.com/consign/consign/schedule"
)

func ExampleParse() {
	// A maintenance window from the reference: daily from 2007-03-20 01:00, for 1 h.
	tok, err := schedule.Parse("0034394008100008")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Type, tok.Start.Format("2006-01-02 15:04"), "every", tok.DaySpan, "day(s) for", tok.Duration())
	fmt.Println(tok)

	_, err = schedule.Parse("0034394008100000")
	fmt.Println(err)
	// Output:
	// Interval 2007-03-20 01:00 every 1 day(s) for 1h0m0s
	// 0034394008100008
	// invalid Token: an Interval token needs a non-zero DaySpan, HourSpan or MinuteSpan
}

func ExampleToken_Next() {
	// Patch Tuesday at 22:00 on the device's clock: the second Tuesday of
	// every month.
	tok := schedule.Token{
		Type:              schedule.MonthlyByWeekday,
		Start:             time.Date(2024, 1, 1, 22, 0, 0, 0, time.UTC),
		Day:               3, // Tuesday
		WeekOrder:         2,
		ForNumberOfMonths: 1,
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := time.Date(2024, 2, 20, 0, 0, 0, 0, time.UTC)
	for range 3 {
		next, ok := tok.Next(at, berlin)
		if !ok {
			break
		}
		fmt.Println(next.Format(time.RFC3339))
		at = next
	}
	// Output:
	// 2024-03-12T22:00:00+01:00
	// 2024-04-09T22:00:00+02:00
	// 2024-05-14T22:00:00+02:00
}

func ExampleUnion() {
	// A device in two collections gets the union of their maintenance
	// windows: daily 01:00–02:00 and daily 01:30–03:00, both in UTC.
	a := schedule.Token{Type: schedule.Interval, Start: time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC), DaySpan: 1, HourDuration: 1, IsGMT: true}
	b := schedule.Token{Type: schedule.Interval, Start: time.Date(2024, 1, 1, 1, 30, 0, 0, time.UTC), DaySpan: 1, HourDuration: 1, MinuteDuration: 30, IsGMT: true}
	from, to := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)
	for _, s := range schedule.Union(append(a.Openings(from, to, nil), b.Openings(from, to, nil)...)) {
		fmt.Println(s.Start.Format("Jan 2 15:04"), "–", s.End.Format("15:04"))
	}
	// Output:
	// Jun 1 01:00 – 03:00
	// Jun 2 01:00 – 03:00
}
