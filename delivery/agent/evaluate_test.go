package agent

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/memstore"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

var now0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// offerFor builds a one-offer policy for a program of package CEN00001.
func offerFor(mod func(a *advertisement.Advertisement, p *pkg.Program)) *httpmp.PolicyPayload {
	p := pkg.NewProgram("CEN00001", "Install", "setup.exe")
	p.Logon = pkg.EitherLogon
	p.MaxRunTime = 60
	a := advertisement.New("CEN00002", "App", "CEN00001", "Install", "CEN00003", now0.Add(-time.Hour))
	a.PresentTimeIsGMT, a.ASAP = true, true
	if mod != nil {
		mod(a, p)
	}
	return &httpmp.PolicyPayload{ResourceID: 1, Offers: []httpmp.PolicyOffer{{Advertisement: a, Program: p,
		Package: &delivery.PackageInfo{ID: "CEN00001", SourceVersion: 1}}}}
}

func TestEvaluate(t *testing.T) {
	ref := pkg.ProgramRef{PackageID: "CEN00001", Program: "Install"}
	ranOK := map[pkg.ProgramRef]advertisement.History{ref: {Ran: true, LastRun: now0.Add(-30 * time.Minute), Succeeded: true}}
	window := func(start time.Time, hours int) collection.ServiceWindow {
		return collection.ServiceWindow{ID: "w", Name: "w", Enabled: true, Type: collection.WindowGeneral,
			Schedule: schedule.Token{Type: schedule.Interval, Start: start, IsGMT: true, HourDuration: hours, DaySpan: 1}}
	}
	due := now0.Add(-time.Hour)
	for _, tc := range []struct {
		name       string
		policy     *httpmp.PolicyPayload
		hist       map[pkg.ProgramRef]advertisement.History
		offers     map[consign.ObjectID]*offerState
		ds         delivery.DeviceState
		state      advertisement.State
		acceptance advertisement.Event
		note       advertisement.Event
		run        bool
		wake       time.Time
	}{
		{name: "due, never ran", policy: offerFor(nil),
			state: advertisement.MandatoryDue, acceptance: advertisement.EventReceived, run: true},
		{name: "ran and succeeded: rerun if failed does not", policy: offerFor(nil), hist: ranOK,
			state: advertisement.Available, acceptance: advertisement.EventReceived},
		{name: "never rerun, for a new advertisement", hist: ranOK,
			policy: offerFor(func(a *advertisement.Advertisement, _ *pkg.Program) {
				a.Rerun, a.PresentTime = advertisement.RerunNever, now0.Add(-10*time.Minute)
			}),
			state: advertisement.WillNotRerun, acceptance: advertisement.EventReceived, note: advertisement.EventWillNotRerun},
		{name: "disabled program", policy: offerFor(func(_ *advertisement.Advertisement, p *pkg.Program) { p.Disabled = true }),
			state: advertisement.Rejected, acceptance: advertisement.EventRejected},
		{name: "a problem the site found", policy: func() *httpmp.PolicyPayload {
			p := offerFor(nil)
			p.Offers[0].Problem = "dependency CEN00001;;Gone does not exist"
			return p
		}(), state: advertisement.Rejected, acceptance: advertisement.EventRejected},
		{name: "expired", policy: offerFor(func(a *advertisement.Advertisement, _ *pkg.Program) {
			a.ExpirationTime, a.ExpirationTimeEnabled, a.ExpirationTimeIsGMT = now0.Add(-time.Minute), true, true
		}), state: advertisement.Expired, acceptance: advertisement.EventExpired},
		{name: "expires later: wake to report it", policy: offerFor(func(a *advertisement.Advertisement, _ *pkg.Program) {
			a.ExpirationTime, a.ExpirationTimeEnabled, a.ExpirationTimeIsGMT = now0.Add(time.Hour), true, true
		}), hist: ranOK, state: advertisement.Available, acceptance: advertisement.EventReceived, wake: now0.Add(time.Hour)},
		{name: "not yet available", policy: offerFor(func(a *advertisement.Advertisement, _ *pkg.Program) {
			a.PresentTime = now0.Add(2 * time.Hour)
		}), state: advertisement.NotYetAvailable, acceptance: advertisement.EventReceived, wake: now0.Add(2 * time.Hour)},
		{name: "waiting for a window", policy: func() *httpmp.PolicyPayload {
			p := offerFor(nil)
			p.Windows = []collection.ServiceWindow{window(now0.Add(13*time.Hour), 2)}
			return p
		}(), state: advertisement.WaitingForWindow, acceptance: advertisement.EventReceived,
			note: advertisement.EventWaitingForWindow, wake: now0.Add(13 * time.Hour)},
		{name: "inside a window long enough", policy: func() *httpmp.PolicyPayload {
			p := offerFor(nil)
			p.Windows = []collection.ServiceWindow{window(now0.Add(-time.Hour), 3)}
			return p
		}(), state: advertisement.MandatoryDue, acceptance: advertisement.EventReceived, run: true},
		{name: "a disabled window gates nothing", policy: func() *httpmp.PolicyPayload {
			p := offerFor(nil)
			w := window(now0.Add(13*time.Hour), 2)
			w.Enabled = false
			p.Windows = []collection.ServiceWindow{w}
			return p
		}(), state: advertisement.MandatoryDue, acceptance: advertisement.EventReceived, run: true},
		{name: "waiting for a user", policy: offerFor(func(_ *advertisement.Advertisement, p *pkg.Program) { p.Logon = pkg.UserLoggedOn }),
			state: advertisement.WaitingForUser, acceptance: advertisement.EventReceived, note: advertisement.EventWaiting},
		{name: "a user is logged on", policy: offerFor(func(_ *advertisement.Advertisement, p *pkg.Program) { p.Logon = pkg.UserLoggedOn }),
			ds: delivery.DeviceState{UserLoggedOn: true}, state: advertisement.MandatoryDue, acceptance: advertisement.EventReceived, run: true},
		{name: "a retry later", policy: offerFor(nil),
			offers: map[consign.ObjectID]*offerState{"CEN00002": {Due: due, Retries: 1, RetryAt: now0.Add(15 * time.Minute)}},
			state:  advertisement.MandatoryDue, acceptance: advertisement.EventReceived, wake: now0.Add(15 * time.Minute)},
		{name: "the retry is due", policy: offerFor(nil),
			offers: map[consign.ObjectID]*offerState{"CEN00002": {Due: due, Retries: 1, RetryAt: now0}},
			state:  advertisement.MandatoryDue, acceptance: advertisement.EventReceived, run: true},
		{name: "a retry of an earlier assignment does not hold a new one", policy: offerFor(nil),
			offers: map[consign.ObjectID]*offerState{"CEN00002": {Due: due.Add(-24 * time.Hour), RetryAt: now0.Add(time.Hour)}},
			state:  advertisement.MandatoryDue, acceptance: advertisement.EventReceived, run: true},
		{name: "the assignment failed for good", policy: offerFor(nil),
			offers: map[consign.ObjectID]*offerState{"CEN00002": {Due: due, Done: true}},
			state:  advertisement.MandatoryDue, acceptance: advertisement.EventReceived},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := evaluate(tc.policy, facts{os: pkg.OSInfo{Name: "Win NT", Platform: "I386"}, loc: time.UTC}, tc.ds,
				DefaultCountdown, tc.hist, tc.offers, now0)
			if len(ds) != 1 {
				t.Fatalf("%d decisions", len(ds))
			}
			d := ds[0]
			if d.decided.State != tc.state || d.acceptance != tc.acceptance || d.note != tc.note || d.run != tc.run || !d.wake.Equal(tc.wake) {
				t.Errorf("got %v acceptance %v note %v run %v wake %v (%s); want %v %v %v %v %v",
					d.decided.State, d.acceptance, d.note, d.run, d.wake, d.decided.Reason, tc.state, tc.acceptance, tc.note, tc.run, tc.wake)
			}
		})
	}
}

func TestRunOrder(t *testing.T) {
	prog := func(name, dep string, always bool) *pkg.Program {
		p := pkg.NewProgram("CEN00001", name, name+".exe")
		if dep != "" {
			p.Dependency = &pkg.ProgramRef{Program: dep}
		}
		p.RunDependencyAlways = always
		return p
	}
	ref := func(name string) pkg.ProgramRef { return pkg.ProgramRef{PackageID: "CEN00001", Program: name} }
	ok := func(names ...string) map[pkg.ProgramRef]advertisement.History {
		h := map[pkg.ProgramRef]advertisement.History{}
		for _, n := range names {
			h[ref(n)] = advertisement.History{Ran: true, LastRun: now0, Succeeded: true}
		}
		return h
	}
	ad := advertisement.New("CEN00002", "App", "CEN00001", "C", "CEN00003", now0)
	for _, tc := range []struct {
		name     string
		program  *pkg.Program
		runFirst []*pkg.Program
		hist     map[pkg.ProgramRef]advertisement.History
		want     []string
		loop     bool
	}{
		{name: "no dependency", program: prog("C", "", false), want: []string{"C"}},
		{name: "a chain, none run", program: prog("C", "B", false), runFirst: []*pkg.Program{prog("A", "", false), prog("B", "A", false)},
			want: []string{"A", "B", "C"}},
		{name: "the first link succeeded", program: prog("C", "B", false), runFirst: []*pkg.Program{prog("A", "", false), prog("B", "A", false)},
			hist: ok("A"), want: []string{"B", "C"}},
		{name: "the direct dependency succeeded", program: prog("C", "B", false), runFirst: []*pkg.Program{prog("A", "", false), prog("B", "A", false)},
			hist: ok("B"), want: []string{"C"}},
		{name: "run the dependency always", program: prog("C", "B", true), runFirst: []*pkg.Program{prog("B", "", false)},
			hist: ok("B"), want: []string{"B", "C"}},
		{name: "a failed dependency runs again", program: prog("C", "B", false), runFirst: []*pkg.Program{prog("B", "", false)},
			hist: map[pkg.ProgramRef]advertisement.History{ref("B"): {Ran: true, LastRun: now0}}, want: []string{"B", "C"}},
		{name: "the site left the dependency out: it succeeded there", program: prog("C", "B", false), want: []string{"C"}},
		{name: "a loop", program: prog("C", "B", false), runFirst: []*pkg.Program{prog("B", "C", true)}, loop: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order, err := runOrder(&httpmp.PolicyOffer{Advertisement: ad, Program: tc.program, RunFirst: tc.runFirst}, tc.hist)
			if tc.loop {
				var le *pkg.LoopError
				if !errors.As(err, &le) {
					t.Fatalf("runOrder = %v, %v; want a loop error", names(order), err)
				}
				return
			}
			if err != nil || !slices.Equal(names(order), tc.want) {
				t.Errorf("runOrder = %v, %v; want %v", names(order), err, tc.want)
			}
		})
	}
}

func names(ps []*pkg.Program) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// The agent decides as the site does: for random advertisements,
// programs, maintenance windows, time zones, session states and
// histories, evaluate's decision on the policy the management point sends
// (through JSON) is the site's own decision at the same instant.
func TestEvaluateAgreesWithSite(t *testing.T) {
	ctx := context.Background()
	rapid.Check(t, func(rt *rapid.T) {
		now := now0.Add(time.Duration(rapid.IntRange(0, 24*60).Draw(rt, "minutes")) * time.Minute)
		site, err := delivery.Open(ctx, memstore.New(), nil, &delivery.Options{Clock: func() time.Time { return now }})
		if err != nil {
			rt.Fatal(err)
		}
		dev := &collection.Device{ResourceID: 16777220, Name: "PC01", Client: true,
			OperatingSystemNameandVersion: rapid.SampledFrom([]string{"Microsoft Windows NT Workstation 6.1", "Microsoft Windows NT Workstation 5.1"}).Draw(rt, "os"),
			TimeZone:                      rapid.SampledFrom([]string{"", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}).Draw(rt, "zone")}
		if err := site.PutDevices(ctx, dev); err != nil {
			rt.Fatal(err)
		}
		var windows []collection.ServiceWindow
		for i := range rapid.IntRange(0, 2).Draw(rt, "windows") {
			windows = append(windows, collection.ServiceWindow{ID: string(rune('a' + i)), Name: "w", Enabled: rapid.Bool().Draw(rt, "enabled"),
				Type: collection.WindowGeneral, Schedule: schedule.Token{Type: schedule.Interval,
					Start:        now0.Truncate(time.Hour).Add(time.Duration(rapid.IntRange(-30, 30).Draw(rt, "window start")) * time.Hour),
					IsGMT:        rapid.Bool().Draw(rt, "window gmt"),
					HourDuration: rapid.IntRange(1, 4).Draw(rt, "window hours"), DaySpan: 1}})
		}
		coll, err := site.CreateCollection(ctx, &collection.Collection{Name: "PCs", ServiceWindows: windows,
			QueryRules: []collection.QueryRule{{RuleName: "pcs", Query: `select * from SMS_R_System where SMS_R_System.Name like "PC%"`}}}, "")
		if err != nil {
			rt.Fatal(err)
		}
		p, err := site.CreatePackage(ctx, pkg.NewPackage("", "App"))
		if err != nil {
			rt.Fatal(err)
		}
		prog := pkg.NewProgram(p.ID, "Install", "setup.exe")
		prog.Logon = rapid.SampledFrom([]pkg.LogonRequirement{pkg.UserLoggedOn, pkg.NoUserLoggedOn, pkg.EitherLogon}).Draw(rt, "logon")
		if prog.Logon != pkg.UserLoggedOn {
			prog.RunMode = pkg.RunWithAdminRights
		}
		prog.MaxRunTime = rapid.IntRange(0, 180).Draw(rt, "max run time")
		prog.Disabled = rapid.IntRange(0, 19).Draw(rt, "disabled") == 0
		if rapid.IntRange(0, 3).Draw(rt, "platforms") == 0 {
			prog.AnyPlatform = false
			prog.Platforms = []pkg.OSRequirement{{Name: "Win NT", Platform: "I386",
				MinVersion: must(pkg.ParseFileVersion("6.0")), MaxVersion: must(pkg.ParseFileVersion("6.9999"))}}
		}
		if err := site.CreateProgram(ctx, prog); err != nil {
			rt.Fatal(err)
		}
		ad := advertisement.New("", "Ad", p.ID, "Install", coll.ID,
			now0.Add(time.Duration(rapid.IntRange(-48, 12).Draw(rt, "present"))*time.Hour))
		ad.PresentTimeIsGMT = rapid.Bool().Draw(rt, "present gmt")
		ad.ASAP = rapid.Bool().Draw(rt, "asap")
		if rapid.Bool().Draw(rt, "recurring") {
			ad.Schedules = []schedule.Token{{Type: schedule.Interval, Start: ad.PresentTime.Add(time.Hour), IsGMT: ad.PresentTimeIsGMT,
				HourSpan: rapid.IntRange(1, 23).Draw(rt, "every")}}
		}
		if rapid.Bool().Draw(rt, "expires") {
			ad.ExpirationTime, ad.ExpirationTimeEnabled = ad.PresentTime.Add(time.Duration(rapid.IntRange(1, 96).Draw(rt, "expiry"))*time.Hour), true
			ad.ExpirationTimeIsGMT = ad.PresentTimeIsGMT
		}
		ad.Rerun = rapid.SampledFrom([]advertisement.Rerun{advertisement.RerunNever, advertisement.RerunAlways,
			advertisement.RerunIfFailed, advertisement.RerunIfSucceeded}).Draw(rt, "rerun")
		if ad.Mandatory() { // options of mandatory assignments only
			ad.MandatoryOverSlowLinks = rapid.Bool().Draw(rt, "slow links")
			ad.IgnoreMaintenanceWindows = rapid.Bool().Draw(rt, "ignore windows")
			ad.Countdown = rapid.SampledFrom([]int{0, 0, 15}).Draw(rt, "countdown")
		}
		if ad, err = site.CreateAdvertisement(ctx, ad); err != nil {
			rt.Fatal(err)
		}
		hist := map[pkg.ProgramRef]advertisement.History{}
		if rapid.Bool().Draw(rt, "ran") {
			h := advertisement.History{Ran: true, Succeeded: rapid.Bool().Draw(rt, "succeeded"),
				LastRun: now.Add(-time.Duration(rapid.IntRange(0, 72).Draw(rt, "ran ago")) * time.Hour)}
			ev := advertisement.EventFailed
			if h.Succeeded {
				ev = advertisement.EventSucceeded
			}
			if _, err := site.Report(ctx, dev.ResourceID, []advertisement.Message{{ID: "1", AdvertisementID: ad.ID, Event: ev, Time: h.LastRun}}); err != nil {
				rt.Fatal(err)
			}
			hist[prog.Ref()] = h
		}
		ds := delivery.DeviceState{UserLoggedOn: rapid.Bool().Draw(rt, "user"), OnSlowBoundary: rapid.Bool().Draw(rt, "slow")}

		pol, err := site.Policy(ctx, dev.ResourceID, &ds)
		if err != nil {
			rt.Fatal(err)
		}
		payload := httpmp.PolicyPayload{ResourceID: dev.ResourceID, Windows: pol.Windows}
		for _, o := range pol.Offers {
			payload.Offers = append(payload.Offers, httpmp.PolicyOffer{Advertisement: o.Advertisement, Package: o.Package,
				Program: o.Program, RunFirst: o.RunFirst, Status: o.Status, Problem: o.Problem})
		}
		var wire httpmp.PolicyPayload
		if err := json.Unmarshal(must(json.Marshal(payload)), &wire); err != nil {
			rt.Fatal(err)
		}
		f, ok := factsOf(dev)
		if !ok {
			rt.Fatalf("zone %q", dev.TimeZone)
		}
		got := evaluate(&wire, f, ds, DefaultCountdown, hist, nil, now)
		if len(got) != len(pol.Offers) || len(got) != 1 {
			rt.Fatalf("%d decisions for %d offers", len(got), len(pol.Offers))
		}
		if want := pol.Offers[0].Decision; !sameOffer(got[0].decided, want) {
			rt.Fatalf("agent decided %+v\nsite decided  %+v", got[0].decided, want)
		}
	})
}

// sameOffer compares decisions as instants (JSON gives times another
// location).
func sameOffer(a, b advertisement.Offer) bool {
	return a.State == b.State && a.Reason == b.Reason && a.Optional == b.Optional &&
		a.AvailableAt.Equal(b.AvailableAt) && a.DueAt.Equal(b.DueAt) && a.NextMandatory.Equal(b.NextMandatory) &&
		a.RunAt.Equal(b.RunAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
