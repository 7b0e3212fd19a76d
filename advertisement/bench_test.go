package advertisement_test

import (
	"testing"
	"time"

	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

// BenchmarkDecide: the worst-case advertisement (15 assignments, recurring)
// under a week of nightly windows, as evaluated per device per policy cycle.
func BenchmarkDecide(b *testing.B) {
	a := newAd(at(2009, 3, 1, 8, 0))
	for i := range 14 {
		a.Schedules = append(a.Schedules, everyHours(b, at(2009, 3, 1, 9+i%8, 0), 1+i, i%2 == 0))
	}
	a.ASAP = true
	loc := time.FixedZone("CET", 3600)
	dev := advertisement.DeviceFacts{Location: loc, HasWindows: true, Countdown: 5 * time.Minute}
	for d := range 8 {
		start := time.Date(2009, 6, 1+d, 2, 0, 0, 0, loc)
		dev.Windows = append(dev.Windows, schedule.Span{Start: start, End: start.Add(2 * time.Hour)})
	}
	p := program(pkg.EitherLogon, 60)
	h := advertisement.History{Ran: true, LastRun: time.Date(2009, 5, 30, 0, 0, 0, 0, loc)}
	now := time.Date(2009, 6, 1, 12, 0, 0, 0, loc)
	b.ReportAllocs()
	for b.Loop() {
		advertisement.Decide(a, p, dev, h, now)
	}
}
