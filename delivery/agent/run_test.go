package agent_test

import (
	"slices"
	"testing"
	"time"

	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery/agent"
	pkg "github.com/consign/consign/package"
)

// A retry exit code (1618: another installation is in progress) runs the
// program again after the retry interval, not before; a success ends it.
func TestRetryExitCode(t *testing.T) {
	e := newApp(t, nil)
	d, rid, p, ad := e.d, e.rid, e.p, e.ad
	r := e.newRig(d, "", func(c *agent.Config) { c.RetryInterval = time.Hour })
	r.exec.Script(p.ID, "Install", agent.SimOutcome{ExitCode: 1618}, agent.SimOutcome{ExitCode: 1618}, agent.SimOutcome{ExitCode: 0})
	r.start()
	waitFor(t, "Retrying", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliveryRetrying })
	r.settle()
	if n := len(r.exec.Runs()); n != 1 {
		t.Fatalf("%d runs before the retry interval passed", n)
	}
	// The second run asks for a retry again; the third succeeds.
	e.clock.Set(t0.Add(time.Hour))
	r.a.Trigger()
	waitFor(t, "the second retry", func() bool { return r.statuses(advertisement.EventRetrying) == 2 })
	e.clock.Set(t0.Add(2 * time.Hour))
	r.a.Trigger()
	waitFor(t, "Succeeded", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
	want := []advertisement.Event{advertisement.EventReceived, advertisement.EventDownloadStarted, advertisement.EventDownloadComplete,
		advertisement.EventStarted, advertisement.EventRetrying, advertisement.EventStarted, advertisement.EventRetrying,
		advertisement.EventStarted, advertisement.EventSucceeded}
	if got := e.mp.events(ad.ID); !slices.Equal(got, want) {
		t.Errorf("events %v\nwant %v", got, want)
	}
}

// A program that keeps asking for a retry is reported failed, with its
// exit code, once the retries are used up; the assignment is over.
func TestRetriesRunOut(t *testing.T) {
	e := newApp(t, nil)
	d, rid, p, ad := e.d, e.rid, e.p, e.ad
	r := e.newRig(d, "", func(c *agent.Config) { c.RetryInterval, c.MaxRetries = time.Hour, 1 })
	r.exec.Script(p.ID, "Install", agent.SimOutcome{ExitCode: 1618})
	r.start()
	waitFor(t, "Retrying", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliveryRetrying })
	e.clock.Set(t0.Add(time.Hour))
	r.a.Trigger()
	waitFor(t, "Failed", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliveryFailed })
	if cs := e.status(ad, rid); cs.LastExitCode != 1618 {
		t.Errorf("status %+v", cs)
	}
	e.clock.Set(t0.Add(3 * time.Hour))
	r.settle()
	if n := len(r.exec.Runs()); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
}

// With no DP holding the content, the agent says it is waiting for content,
// once, and tries content location again after the retry interval.
func TestWaitsForContent(t *testing.T) {
	e := newEnv(t)
	d := device("PC01")
	rid := e.register(d)
	coll := e.collection()
	p := e.newPackageNoDP("App", map[string]string{"setup.exe": "MZ"}, program("Install", "setup.exe"))
	ad := e.advertise("App", p, "Install", coll, nil)
	r := e.newRig(d, "", func(c *agent.Config) { c.RetryInterval = time.Hour })
	r.start()
	waitFor(t, "Waiting", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliveryWaiting })
	e.clock.Set(t0.Add(time.Hour))
	r.settle()
	if n := len(r.exec.Runs()); n != 0 {
		t.Fatalf("%d runs without content", n)
	}
	e.distribute(p)
	e.clock.Set(t0.Add(2 * time.Hour))
	r.a.Trigger()
	waitFor(t, "Succeeded", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
	if got := e.mp.events(ad.ID); count(got, advertisement.EventWaiting) != 1 {
		t.Errorf("events %v: want Waiting once", got)
	}
}

// Content larger than the whole cache fails with 10050 and is not retried
// (§3.4).
func TestCacheTooSmall(t *testing.T) {
	e := newApp(t, nil)
	d, rid, ad := e.d, e.rid, e.ad
	dir := t.TempDir()
	st := must(agent.OpenState(dir+"/small.db", &agent.StateOptions{NoSync: true}))
	t.Cleanup(func() { st.Close() })
	small := must(agent.OpenCache(st, dir+"/cache", &agent.CacheOptions{MaxBytes: 4}))
	t.Cleanup(func() { small.Close() })
	r := e.newRig(d, "", func(c *agent.Config) { c.State, c.Cache, c.RetryInterval = st, small, time.Minute })
	r.start()
	waitFor(t, "Failed", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliveryFailed })
	if cs := e.status(ad, rid); cs.LastEvent != advertisement.EventCacheTooSmall {
		t.Errorf("status %+v, want CacheTooSmall", cs)
	}
	e.clock.Set(t0.Add(time.Hour))
	r.settle()
	if n, got := len(r.exec.Runs()), e.mp.events(ad.ID); n != 0 || count(got, advertisement.EventCacheTooSmall) != 1 {
		t.Errorf("%d runs, events %v", n, got)
	}
}

// A program still running at its maximum run time is reported as having
// exceeded it, a failure.
func TestExceededTime(t *testing.T) {
	prog := program("Install", "setup.exe")
	prog.MaxRunTime = 30
	e := newApp(t, nil, prog)
	d, rid, p, ad := e.d, e.rid, e.p, e.ad
	r := e.newRig(d, "", nil)
	r.exec.Script(p.ID, "Install", agent.SimOutcome{Duration: time.Hour})
	r.start()
	waitFor(t, "Failed", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliveryFailed })
	if cs := e.status(ad, rid); cs.LastEvent != advertisement.EventExceededTime {
		t.Errorf("status %+v, want ExceededTime", cs)
	}
}

// A device whose credential the site stops accepting registers again and
// carries on.
func TestRegistersAgainWhenTheCredentialIsRefused(t *testing.T) {
	e := newEnv(t)
	d := device("PC01")
	rid := e.register(d)
	coll := e.collection()
	p := e.newPackage("App", map[string]string{"setup.exe": "MZ"}, program("Install", "setup.exe"), program("Repair", "setup.exe /f"))
	r := e.newRig(d, "", nil)
	r.start()
	waitFor(t, "a policy", func() bool { return r.count(agent.EventPolicy) > 0 })
	e.mp.set(func(m *siteMP) { m.revoked[m.token] = true })
	ad := e.advertise("Repair", p, "Repair", coll, nil)
	e.mp.notify()
	waitFor(t, "the run", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
	if n := e.mp.registered(); n != 2 {
		t.Errorf("registered %d times, want 2", n)
	}
}

// New discovery data reaches the site, and the agent decides with it: a
// program for Windows 7 only is rejected once the device reports Windows XP.
func TestSetDevice(t *testing.T) {
	prog := program("Install", "setup.exe")
	prog.AnyPlatform = false
	prog.Platforms = []pkg.OSRequirement{{Name: "Win NT", Platform: "I386",
		MinVersion: must(pkg.ParseFileVersion("6.1")), MaxVersion: must(pkg.ParseFileVersion("6.1.9999.9999"))}}
	e := newApp(t, func(a *advertisement.Advertisement) { a.PresentTime = t0.Add(time.Hour) }, prog)
	d, rid, ad := e.d, e.rid, e.ad
	r := e.newRig(d, "", nil)
	r.start()
	waitFor(t, "Accepted", func() bool { return e.status(ad, rid).Acceptance == advertisement.AcceptanceAccepted })

	xp := device("PC01")
	xp.OperatingSystemNameandVersion = "Microsoft Windows NT Workstation 5.1"
	if err := r.a.SetDevice(xp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Rejected", func() bool { return e.status(ad, rid).Acceptance == advertisement.AcceptanceRejected })
	if got := must(e.site.Device(rid)); got.OperatingSystemNameandVersion != xp.OperatingSystemNameandVersion {
		t.Errorf("the site has %q", got.OperatingSystemNameandVersion)
	}
	e.clock.Set(t0.Add(2 * time.Hour))
	r.settle()
	if n := len(r.exec.Runs()); n != 0 {
		t.Errorf("%d runs of a rejected program", n)
	}
	if err := r.a.SetDevice(nil); err == nil {
		t.Error("SetDevice(nil) succeeded")
	}
}

// Run refuses to run twice at once, and returns when its context ends.
func TestRunTwice(t *testing.T) {
	e := newEnv(t)
	r := e.newRig(device("PC01"), "", nil)
	r.start()
	waitFor(t, "registration", func() bool { return r.a.ResourceID() != 0 })
	if err := r.a.Run(t.Context()); err == nil {
		t.Error("a second Run at once succeeded")
	}
	r.stop()
	r.start() // and again after it returned
	r.stop()
}
