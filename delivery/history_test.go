package delivery_test

import (
	"testing"
	"time"

	"github.com/consign/consign/advertisement"
)

// A device's execution history of a program outlives the advertisement
// whose status messages recorded it: after that advertisement is deleted,
// and after the Site reopens, another advertisement of the same program
// with "never rerun" still sees the run (§1.18).
func TestHistoryOutlivesAdvertisement(t *testing.T) {
	e := newEnv(t)
	col := e.seed()
	first := e.distribute(col.ID, advertisement.RerunNever)
	e.clock.Set(t0.Add(-50 * time.Minute))
	e.report(1, first.Advertisement.ID, advertisement.EventStarted, advertisement.EventSucceeded)
	e.clock.Set(t0)

	// Assigned after that run, so only the history decides.
	second := advertisement.New("", "again", first.Package.ID, "Install", col.ID, t0.Add(-10*time.Minute))
	second.PresentTimeIsGMT, second.ASAP, second.Rerun = true, true, advertisement.RerunNever
	ad := must(e.site.CreateAdvertisement(e.ctx, second))
	check := func(when string) {
		t.Helper()
		for rid, want := range map[uint32]advertisement.State{1: advertisement.WillNotRerun, 2: advertisement.MandatoryDue} {
			o, ok := offerFor(must(e.site.Policy(e.ctx, rid, nil)), ad.ID)
			if !ok || o.Decision.State != want {
				t.Errorf("%s: device %d offer %v (%v), want %v", when, rid, o.Decision.State, ok, want)
			}
		}
	}
	check("before")
	if err := e.site.DeleteAdvertisement(e.ctx, first.Advertisement.ID); err != nil {
		t.Fatal(err)
	}
	check("after deleting the advertisement that recorded the run")
	e.site.Close()
	e.site = e.open()
	check("after reopening")
	// A later, failed run recorded through the second advertisement wins:
	// an advertisement that reruns failed programs now runs it again.
	e.clock.Set(t0.Add(time.Hour))
	e.report(1, ad.ID, advertisement.EventFailed)
	e.clock.Set(t0.Add(2 * time.Hour))
	third := advertisement.New("", "retry", first.Package.ID, "Install", col.ID, t0.Add(70*time.Minute))
	third.PresentTimeIsGMT, third.ASAP, third.Rerun = true, true, advertisement.RerunIfFailed
	retry := must(e.site.CreateAdvertisement(e.ctx, third))
	e.site.Close()
	e.site = e.open()
	if o, _ := offerFor(must(e.site.Policy(e.ctx, 1, nil)), retry.ID); o.Decision.State != advertisement.MandatoryDue {
		t.Errorf("after a later failed run and reopening: %v, want MandatoryDue (rerun if failed)", o.Decision.State)
	}
}
