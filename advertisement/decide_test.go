package advertisement_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
	"pgregory.net/rapid"
)

// scenario is one random input to Decide.
type scenario struct {
	ad   *advertisement.Advertisement
	prog *pkg.Program
	dev  advertisement.DeviceFacts
	hist advertisement.History
	now  time.Time
}

func (s scenario) decide() advertisement.Offer {
	return advertisement.Decide(s.ad, s.prog, s.dev, s.hist, s.now)
}

// civilIn is the test's own reading of a civil time (§1.1).
func civilIn(t time.Time, gmt bool, loc *time.Location) time.Time {
	if gmt {
		loc = time.UTC
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

func (s scenario) present() time.Time {
	return civilIn(s.ad.PresentTime, s.ad.PresentTimeIsGMT, s.dev.Location)
}

func (s scenario) expiry() time.Time {
	return civilIn(s.ad.ExpirationTime, s.ad.ExpirationTimeIsGMT, s.dev.Location)
}

func (s scenario) need() time.Duration {
	if s.ad.Countdown > 0 {
		return time.Duration(s.prog.MaxRunTime+s.ad.Countdown) * time.Minute
	}
	return time.Duration(s.prog.MaxRunTime)*time.Minute + s.dev.Countdown
}

var base = time.Date(2010, 6, 1, 0, 0, 0, 0, time.UTC)

// drawTime draws a whole minute within ±days of base.
func drawTime(t *rapid.T, label string, days int) time.Time {
	return base.Add(time.Duration(rapid.IntRange(-days*24*60, days*24*60).Draw(t, label)) * time.Minute)
}

var genScenario = rapid.Custom(func(t *rapid.T) scenario {
	loc := time.FixedZone("dev", rapid.IntRange(-48, 56).Draw(t, "zone quarter-hours")*15*60)
	a := newAd(drawTime(t, "present", 20))
	a.PresentTimeEnabled = rapid.Bool().Draw(t, "presentEnabled")
	a.PresentTimeIsGMT = rapid.Bool().Draw(t, "presentGMT")
	a.ExpirationTime = a.PresentTime.Add(time.Duration(rapid.IntRange(-2*24*60, 40*24*60).Draw(t, "expiry offset")) * time.Minute)
	a.ExpirationTimeEnabled = rapid.Bool().Draw(t, "expiryEnabled")
	a.ExpirationTimeIsGMT = rapid.Bool().Draw(t, "expiryGMT")
	for i := range rapid.IntRange(0, 3).Draw(t, "schedules") {
		start := drawTime(t, fmt.Sprint("schedule", i), 30)
		gmt := rapid.Bool().Draw(t, "scheduleGMT")
		switch rapid.IntRange(0, 2).Draw(t, "kind") {
		case 0:
			a.Schedules = append(a.Schedules, once(t, start, gmt))
		case 1:
			a.Schedules = append(a.Schedules, everyHours(t, start, rapid.IntRange(1, 23).Draw(t, "hours"), gmt))
		default:
			a.Schedules = append(a.Schedules, everyDays(t, start, rapid.IntRange(1, 7).Draw(t, "days"), gmt))
		}
	}
	a.ASAP = rapid.Bool().Draw(t, "asap")
	a.OnLogon = rapid.Bool().Draw(t, "onLogon")
	a.OnLogoff = rapid.Bool().Draw(t, "onLogoff")
	a.OnStartup = rapid.Bool().Draw(t, "onStartup")
	a.Rerun = advertisement.Rerun(rapid.IntRange(0, 4).Draw(t, "rerun"))
	a.IgnoreMaintenanceWindows = rapid.Bool().Draw(t, "ignoreMW")
	a.MandatoryOverSlowLinks = rapid.Bool().Draw(t, "overSlow")
	a.AllowUsersToRunIndependently = rapid.Bool().Draw(t, "allowUsers")
	a.Countdown = rapid.SampledFrom([]int{0, 0, 5, 15}).Draw(t, "adCountdown")

	p := program(pkg.LogonRequirement(rapid.SampledFrom([]pkg.LogonRequirement{pkg.UserLoggedOn, pkg.NoUserLoggedOn, pkg.EitherLogon}).Draw(t, "logon")),
		rapid.SampledFrom([]int{0, 15, 60, 120, 720}).Draw(t, "maxRun"))
	p.Disabled = rapid.IntRange(0, 9).Draw(t, "disabled") == 0

	now := drawTime(t, "now", 35)
	dev := advertisement.DeviceFacts{
		Location:       loc,
		OnSlowBoundary: rapid.Bool().Draw(t, "slow"),
		UserLoggedOn:   rapid.Bool().Draw(t, "user"),
		HasWindows:     rapid.Bool().Draw(t, "hasWindows"),
		Countdown:      time.Duration(rapid.SampledFrom([]int{0, 5}).Draw(t, "countdown")) * time.Minute,
	}
	event := func(label string) time.Time {
		if rapid.Bool().Draw(t, label+" ever") {
			return now.Add(-time.Duration(rapid.IntRange(0, 40*24*60).Draw(t, label)) * time.Minute)
		}
		return time.Time{}
	}
	dev.LastLogon, dev.LastLogoff, dev.LastStartup = event("logon"), event("logoff"), event("startup")
	if dev.HasWindows {
		for i := range rapid.IntRange(0, 4).Draw(t, "windows") {
			start := now.Add(time.Duration(rapid.IntRange(-24*60, 7*24*60).Draw(t, fmt.Sprint("window", i))) * time.Minute)
			dev.Windows = append(dev.Windows, schedule.Span{Start: start, End: start.Add(time.Duration(rapid.IntRange(1, 23*60).Draw(t, "length")) * time.Minute)})
		}
	}
	var h advertisement.History
	if rapid.Bool().Draw(t, "ran") {
		h = advertisement.History{Ran: true, LastRun: event("lastRun"), Succeeded: rapid.Bool().Draw(t, "succeeded")}
		if h.LastRun.IsZero() {
			h.LastRun = now
		}
	}
	return scenario{ad: a, prog: p, dev: dev, hist: h, now: now}
})

func inWindow(s advertisement.State) bool {
	switch s {
	case advertisement.Available, advertisement.MandatoryDue, advertisement.WillNotRerun,
		advertisement.WaitingForWindow, advertisement.WaitingForUser, advertisement.WaitingForSlowLink:
		return true
	}
	return false
}

// Property 3: an advertisement is offered only inside [present, expiry),
// each read in the device's zone or UTC; properties 4 and 5 on the same
// inputs.
func TestDecideProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario.Draw(t, "scenario")
		o := s.decide()
		afterStart := !s.ad.PresentTimeEnabled || !s.now.Before(s.present())
		beforeEnd := !s.ad.ExpirationTimeEnabled || s.now.Before(s.expiry())
		switch {
		case s.prog.Disabled:
			if o.State != advertisement.Rejected {
				t.Fatalf("disabled program: %v", o.State)
			}
		case !afterStart:
			if o.State != advertisement.NotYetAvailable || !o.AvailableAt.Equal(s.present()) {
				t.Fatalf("before start %v: %+v", s.present(), o)
			}
		case !beforeEnd:
			if o.State != advertisement.Expired {
				t.Fatalf("after expiry %v: %+v", s.expiry(), o)
			}
		default:
			if !inWindow(o.State) {
				t.Fatalf("inside the window: %+v", o)
			}
		}
		if inWindow(o.State) && (!afterStart || !beforeEnd) {
			t.Fatalf("offered outside [present, expiry): %+v", o)
		}
		if o.State != advertisement.Available && inWindow(o.State) {
			// Property 4: due only when the program has not run since.
			if o.DueAt.After(s.now) || s.ad.PresentTimeEnabled && o.DueAt.Before(s.present()) {
				t.Fatalf("DueAt %v outside [present, now]: %+v", o.DueAt, o)
			}
			if s.hist.Ran && !s.hist.LastRun.Before(o.DueAt) {
				t.Fatalf("due at %v although the program ran at %v: %+v", o.DueAt, s.hist.LastRun, o)
			}
		}
		if !o.NextMandatory.IsZero() && (!o.NextMandatory.After(s.now) ||
			s.ad.ExpirationTimeEnabled && !o.NextMandatory.Before(s.expiry())) {
			t.Fatalf("NextMandatory %v not in (now, expiry): %+v", o.NextMandatory, o)
		}
		gated := !s.ad.IgnoreMaintenanceWindows && (s.dev.HasWindows || len(s.dev.Windows) > 0)
		// Windows that overlap or touch are one window (the union of §3.6).
		windows := schedule.Union(s.dev.Windows)
		if gated && o.State == advertisement.MandatoryDue {
			// Property 5: a due run starts only where it fits.
			fits := false
			for _, w := range windows {
				fits = fits || !s.now.Before(w.Start) && s.now.Before(w.End) && w.End.Sub(s.now) >= s.need()
			}
			if !fits {
				t.Fatalf("MandatoryDue outside a window that fits %v: %+v", s.need(), o)
			}
		}
		if o.State == advertisement.WaitingForWindow && !o.RunAt.IsZero() {
			ok := false
			for _, w := range windows {
				ok = ok || w.Start.Equal(o.RunAt) && w.End.Sub(w.Start) >= s.need()
			}
			if !ok || !o.RunAt.After(s.now) {
				t.Fatalf("RunAt %v is not a later window of %v: %+v", o.RunAt, s.need(), o)
			}
		}
		if o.State == advertisement.MandatoryDue {
			// Once it has run, the same assignment is no longer due.
			s.hist = advertisement.History{Ran: true, LastRun: s.now, Succeeded: true}
			if again := s.decide(); again.State != advertisement.Available {
				t.Fatalf("after running at now: %+v", again)
			}
		}
	})
}

// rerunTable is §3.2 step 4a, written out: run[setting][history], history
// being never run, last succeeded, last failed.
var rerunTable = map[advertisement.Rerun][3]bool{
	advertisement.RerunNever:       {true, false, false},
	advertisement.RerunAlways:      {true, true, true},
	advertisement.RerunIfFailed:    {true, false, true},
	advertisement.RerunIfSucceeded: {true, true, false},
}

// Property 2: the rerun table, with history per program: the program ran
// (under another advertisement) before this one started, and a brand-new
// advertisement for it still sees that result.
func TestRerunTable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		present := drawTime(t, "present", 20)
		a := newAd(present)
		a.ASAP = true
		extra := rapid.IntRange(0, 3).Draw(t, "extra schedules")
		now := present.Add(time.Duration(rapid.IntRange(extra, 30*24*60).Draw(t, "since start")) * time.Minute)
		for i := range extra {
			a.Schedules = append(a.Schedules, once(t, present.Add(time.Duration(i+1)*time.Minute), false))
		}
		a.Rerun = advertisement.Rerun(rapid.IntRange(0, 4).Draw(t, "rerun"))
		hcase := rapid.IntRange(0, 2).Draw(t, "history")
		var h advertisement.History
		if hcase > 0 {
			h = advertisement.History{Ran: true, Succeeded: hcase == 1,
				LastRun: present.Add(-time.Duration(rapid.IntRange(1, 1000*24*60).Draw(t, "ran before")) * time.Minute)}
		}
		setting := a.Rerun
		if setting == advertisement.RerunUnspecified {
			// §1.9 notes: if-failed with one assignment, always with several.
			setting = advertisement.RerunIfFailed
			if extra > 0 {
				setting = advertisement.RerunAlways
			}
		}
		want := advertisement.WillNotRerun
		if rerunTable[setting][hcase] {
			want = advertisement.MandatoryDue
		}
		o := advertisement.Decide(a, program(pkg.EitherLogon, 60), advertisement.DeviceFacts{}, h, now)
		if o.State != want {
			t.Fatalf("rerun %v (effective %v), history %+v: got %v, want %v", a.Rerun, setting, h, o.State, want)
		}
	})
}

func TestDecideCases(t *testing.T) {
	present := at(2009, 3, 2, 8, 0) // a Monday
	day := func(d, h, m int) time.Time { return time.Date(2009, 3, d, h, m, 0, 0, time.UTC) }
	// Maintenance windows 02:00–04:00 each night (§3.6 "2-hour window").
	var nightly []schedule.Span
	for d := 2; d <= 12; d++ {
		nightly = append(nightly, schedule.Span{Start: day(d, 2, 0), End: day(d, 4, 0)})
	}
	plus2 := time.FixedZone("UTC+2", 2*3600)
	cases := []struct {
		name   string
		edit   func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History)
		now    time.Time
		want   advertisement.State
		wantAt time.Time // DueAt, RunAt, AvailableAt or NextMandatory per state; zero = not checked
	}{
		{"optional, started", nil, day(3, 9, 0), advertisement.Available, time.Time{}},
		{"before start", nil, day(2, 7, 59), advertisement.NotYetAvailable, present},
		{"start in device zone", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			d.Location = plus2
		}, day(2, 6, 0), advertisement.Available, time.Time{}},
		{"start in UTC", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			d.Location, a.PresentTimeIsGMT = plus2, true
		}, day(2, 6, 0), advertisement.NotYetAvailable, present},
		{"expired", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.ExpirationTimeEnabled, a.ExpirationTime = true, day(9, 0, 0)
		}, day(9, 0, 0), advertisement.Expired, time.Time{}},
		{"disabled program", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			p.Disabled = true
		}, day(3, 9, 0), advertisement.Rejected, time.Time{}},
		{"ASAP due at start", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.ASAP = true
		}, day(3, 9, 0), advertisement.MandatoryDue, present},
		{"ASAP already run", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.ASAP = true
			*h = advertisement.History{Ran: true, LastRun: day(2, 8, 30), Succeeded: false}
		}, day(3, 9, 0), advertisement.Available, time.Time{}},
		{"missed schedule runs late", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.Schedules = append(a.Schedules, once(t, day(3, 1, 0), false))
		}, day(5, 12, 0), advertisement.MandatoryDue, day(3, 1, 0)},
		// A one-off assignment set before the start time was missed while
		// the advertisement was not available: it is due from the start time.
		{"one-off schedule before start runs at start", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.Schedules = append(a.Schedules, once(t, day(2, 7, 0), false))
		}, day(5, 12, 0), advertisement.MandatoryDue, present},
		{"recurring occurrence before start is not", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.Schedules = append(a.Schedules, everyDays(t, day(1, 7, 0), 7, false))
		}, day(5, 12, 0), advertisement.Available, day(8, 7, 0)},
		{"future schedule is next", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.Schedules = append(a.Schedules, once(t, day(6, 1, 0), false))
		}, day(5, 12, 0), advertisement.Available, day(6, 1, 0)},
		{"recurring, succeeded yesterday, if failed", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.Schedules = append(a.Schedules, everyDays(t, day(2, 9, 0), 1, false))
			*h = advertisement.History{Ran: true, LastRun: day(3, 9, 5), Succeeded: true}
		}, day(4, 10, 0), advertisement.WillNotRerun, day(4, 9, 0)},
		{"recurring, always", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.Schedules, a.Rerun = append(a.Schedules, everyDays(t, day(2, 9, 0), 1, false)), advertisement.RerunAlways
			*h = advertisement.History{Ran: true, LastRun: day(3, 9, 5), Succeeded: true}
		}, day(4, 10, 0), advertisement.MandatoryDue, day(4, 9, 0)},
		{"logon event", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.OnLogon, d.LastLogon, d.UserLoggedOn = true, day(4, 8, 30), true
		}, day(4, 10, 0), advertisement.MandatoryDue, day(4, 8, 30)},
		{"logon before start", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.OnLogon, d.LastLogon, d.UserLoggedOn = true, day(2, 7, 30), true
		}, day(4, 10, 0), advertisement.Available, time.Time{}},
		{"slow link", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.ASAP, a.MandatoryOverSlowLinks, d.OnSlowBoundary = true, false, true
		}, day(3, 9, 0), advertisement.WaitingForSlowLink, present},
		{"needs a user", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.ASAP, p.Logon = true, pkg.UserLoggedOn
		}, day(3, 9, 0), advertisement.WaitingForUser, present},
		{"needs no user", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.ASAP, p.Logon, d.UserLoggedOn = true, pkg.NoUserLoggedOn, true
		}, day(3, 9, 0), advertisement.WaitingForUser, present},
		// §3.6 fit test: 60 min + 5 min countdown in 02:00–04:00.
		{"window fits at its start", windows(nightly, 60, 0), day(3, 2, 0), advertisement.MandatoryDue, present},
		{"window fits exactly", windows(nightly, 60, 0), day(3, 2, 55), advertisement.MandatoryDue, present},
		{"window too short now: next night", windows(nightly, 60, 0), day(3, 2, 56), advertisement.WaitingForWindow, day(4, 2, 0)},
		{"outside windows", windows(nightly, 60, 0), day(3, 9, 0), advertisement.WaitingForWindow, day(4, 2, 0)},
		{"custom countdown 10 min", windows(nightly, 60, 10), day(3, 2, 51), advertisement.WaitingForWindow, day(4, 2, 0)},
		{"120 min never fits 2 h windows", windows(nightly, 120, 0), day(3, 2, 0), advertisement.WaitingForWindow, time.Time{}},
		{"unknown run time fits with the countdown", windows(nightly, 0, 0), day(3, 3, 55), advertisement.MandatoryDue, present},
		{"unknown run time, countdown does not fit", windows(nightly, 0, 0), day(3, 3, 56), advertisement.WaitingForWindow, day(4, 2, 0)},
		{"windows ignored", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			windows(nightly, 120, 0)(t, a, p, d, h)
			a.IgnoreMaintenanceWindows = true
		}, day(3, 9, 0), advertisement.MandatoryDue, present},
		{"window beyond expiry", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			windows(nightly, 60, 0)(t, a, p, d, h)
			a.ExpirationTimeEnabled, a.ExpirationTime = true, day(4, 1, 0)
		}, day(3, 9, 0), advertisement.WaitingForWindow, time.Time{}},
		{"has windows, none in horizon", func(t *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, h *advertisement.History) {
			a.ASAP, d.HasWindows = true, true
		}, day(3, 9, 0), advertisement.WaitingForWindow, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, p := newAd(present), program(pkg.EitherLogon, 60)
			var d advertisement.DeviceFacts
			var h advertisement.History
			if c.edit != nil {
				c.edit(t, a, p, &d, &h)
			}
			o := advertisement.Decide(a, p, d, h, c.now)
			if o.State != c.want {
				t.Fatalf("State = %v (%s), want %v", o.State, o.Reason, c.want)
			}
			var got time.Time
			switch o.State {
			case advertisement.NotYetAvailable:
				got = o.AvailableAt
			case advertisement.WaitingForWindow:
				got = o.RunAt
			case advertisement.Available:
				got = o.NextMandatory
			default:
				got = o.DueAt
			}
			if !c.wantAt.IsZero() || o.State == advertisement.WaitingForWindow {
				if !got.Equal(c.wantAt) {
					t.Errorf("time = %v, want %v (%+v)", got, c.wantAt, o)
				}
			}
		})
	}
}

// windows returns an edit making the advertisement ASAP under the given
// windows, for a program of maxRun minutes, with a 5-minute site countdown
// and the advertisement's own countdown.
func windows(w []schedule.Span, maxRun, adCountdown int) func(*testing.T, *advertisement.Advertisement, *pkg.Program, *advertisement.DeviceFacts, *advertisement.History) {
	return func(_ *testing.T, a *advertisement.Advertisement, p *pkg.Program, d *advertisement.DeviceFacts, _ *advertisement.History) {
		a.ASAP, a.Countdown, p.MaxRunTime = true, adCountdown, maxRun
		d.Windows, d.HasWindows, d.Countdown = w, true, 5*time.Minute
	}
}

func TestDecidePlatform(t *testing.T) {
	v := func(s string) pkg.FileVersion {
		fv, err := pkg.ParseFileVersion(s)
		if err != nil {
			t.Fatal(err)
		}
		return fv
	}
	p := program(pkg.EitherLogon, 60)
	p.AnyPlatform = false
	p.Platforms = []pkg.OSRequirement{{Name: "Win NT", Platform: "I386", MinVersion: v("5.10.0000.0"), MaxVersion: v("5.10.9999.9999")}}
	a := newAd(at(2009, 3, 2, 8, 0))
	a.ASAP = true
	now := at(2009, 3, 3, 8, 0)
	xp := advertisement.DeviceFacts{OS: pkg.OSInfo{Name: "Win NT", Platform: "I386", Version: v("5.10.2600.0")}}
	if o := advertisement.Decide(a, p, xp, advertisement.History{}, now); o.State != advertisement.MandatoryDue {
		t.Errorf("Windows XP: %+v", o)
	}
	win7 := advertisement.DeviceFacts{OS: pkg.OSInfo{Name: "Win NT", Platform: "I386", Version: v("6.1.7600.0")}}
	o := advertisement.Decide(a, p, win7, advertisement.History{}, now)
	if o.State != advertisement.Rejected || !strings.Contains(o.Reason, "Win NT I386 6.1.7600.0") {
		t.Errorf("Windows 7: %+v", o)
	}
	if o := advertisement.Decide(a, nil, xp, advertisement.History{}, now); o.State != advertisement.Rejected {
		t.Errorf("no program: %+v", o)
	}
}

func TestDecideOptionalListing(t *testing.T) {
	a := newAd(at(2009, 3, 2, 8, 0))
	now := at(2009, 3, 3, 8, 0)
	p := program(pkg.EitherLogon, 60)
	if o := advertisement.Decide(a, p, advertisement.DeviceFacts{}, advertisement.History{}, now); !o.Optional {
		t.Errorf("optional advertisement not listed: %+v", o)
	}
	a.ASAP, a.AllowUsersToRunIndependently = true, false // NO_DISPLAY
	if o := advertisement.Decide(a, p, advertisement.DeviceFacts{}, advertisement.History{}, now); o.Optional {
		t.Errorf("NO_DISPLAY mandatory advertisement listed: %+v", o)
	}
	a.AllowUsersToRunIndependently = true
	if o := advertisement.Decide(a, p, advertisement.DeviceFacts{}, advertisement.History{}, now); !o.Optional || o.State != advertisement.MandatoryDue {
		t.Errorf("mandatory advertisement users may run: %+v", o)
	}
}
