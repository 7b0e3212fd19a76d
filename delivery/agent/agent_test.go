package agent_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery/agent"
	"github.com/consign/consign/delivery/signing"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

// A mandatory advertisement: the agent registers, gets its policy,
// downloads the content from the DP into its cache, runs the program once
// and reports it; the site's summary shows it succeeded.
func TestMandatoryRunsOnceAndReportsSucceeded(t *testing.T) {
	e := newEnv(t)
	d := device("PC01")
	rid := e.register(d)
	coll := e.collection()
	p := e.newPackage("App", map[string]string{"setup.exe": "MZ setup", "data/config.ini": "[app]\nmode=silent\n"},
		program("Install", "setup.exe /s"))
	ad := e.advertise("App", p, "Install", coll, nil)

	r := e.newRig(d, "", nil)
	r.start()
	waitFor(t, "the run to be reported", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })

	runs := r.exec.Runs()
	if len(runs) != 1 || runs[0].Program != "Install" || runs[0].CommandLine != "setup.exe /s" {
		t.Fatalf("runs = %+v, want Install once", runs)
	}
	if b, err := os.ReadFile(filepath.Join(runs[0].WorkingDir, "data", "config.ini")); err != nil || string(b) != "[app]\nmode=silent\n" {
		t.Errorf("the program ran in %s without its content: %q, %v", runs[0].WorkingDir, b, err)
	}
	if got := r.a.ResourceID(); got != rid {
		t.Errorf("ResourceID() = %d, want %d", got, rid)
	}
	want := []advertisement.Event{advertisement.EventReceived, advertisement.EventDownloadStarted,
		advertisement.EventDownloadComplete, advertisement.EventStarted, advertisement.EventSucceeded}
	if got := e.mp.events(ad.ID); !slices.Equal(got, want) {
		t.Errorf("the site took %v, want %v", got, want)
	}
	sum := must(e.site.AdvertisementSummary(ad.ID))
	if sum.Targeted != 1 || sum.Counts.Succeeded != 1 || sum.NotReported != 0 {
		t.Errorf("summary %+v, want 1 targeted, 1 succeeded", sum)
	}
	if cs := e.status(ad, rid); cs.Acceptance != advertisement.AcceptanceAccepted || !cs.HasExitCode || cs.LastExitCode != 0 {
		t.Errorf("status %+v", cs)
	}
	if ents := r.cache.Entries(); len(ents) != 1 || ents[0].PackageID != p.ID || ents[0].Version != p.SourceVersion || ents[0].InUse != 0 {
		t.Errorf("cache entries %+v", ents)
	}

	// Later cycles, with the policy that now carries the status, run
	// nothing again.
	e.mp.notify()
	r.settle()
	r.settle()
	if n := len(r.exec.Runs()); n != 1 {
		t.Errorf("%d runs after more cycles, want 1", n)
	}
	if e.mp.registered() != 1 {
		t.Errorf("registered %d times", e.mp.registered())
	}
}

// "Run another program first": the dependency runs before the program,
// the first time only; its result feeds its own history at the site.
func TestDependencyRunsFirst(t *testing.T) {
	e := newEnv(t)
	d := device("PC01")
	rid := e.register(d)
	coll := e.collection()
	install := program("Install", "setup.exe /s")
	install.Dependency = &pkg.ProgramRef{Program: "Prereq"}
	p := e.newPackage("App", map[string]string{"setup.exe": "MZ setup", "vcredist.exe": "MZ redist"},
		program("Prereq", "vcredist.exe /q"), install)
	ad := e.advertise("App", p, "Install", coll, nil)

	r := e.newRig(d, "", nil)
	r.start()
	waitFor(t, "the run to be reported", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
	if got := programs(r.exec.Runs()); !slices.Equal(got, []string{"Prereq", "Install"}) {
		t.Fatalf("runs %v, want Prereq then Install", got)
	}
	// The dependency's content is the package's: downloaded once.
	if got := e.mp.events(ad.ID); count(got, advertisement.EventDownloadStarted) != 1 {
		t.Errorf("events %v: downloaded twice", got)
	}

	// A second advertisement of the program, rerun always: the dependency
	// has succeeded, so only the program runs.
	ad2 := e.advertise("App again", p, "Install", coll, func(a *advertisement.Advertisement) {
		a.Rerun = advertisement.RerunAlways
		a.PresentTime = t0.Add(time.Minute)
	})
	e.clock.Set(t0.Add(2 * time.Minute))
	e.mp.notify()
	waitFor(t, "the second run", func() bool { return e.status(ad2, rid).Delivery == advertisement.DeliverySucceeded })
	if got := programs(r.exec.Runs()); !slices.Equal(got, []string{"Prereq", "Install", "Install"}) {
		t.Errorf("runs %v, want Prereq, Install, Install", got)
	}
}

// A dependency that fails stops the run: the program does not run and the
// advertisement is reported failed.
func TestFailedDependencyStopsTheRun(t *testing.T) {
	install := program("Install", "setup.exe /s")
	install.Dependency = &pkg.ProgramRef{Program: "Prereq"}
	e := newApp(t, nil, program("Prereq", "prereq.cmd"), install)
	d, rid, p, ad := e.d, e.rid, e.p, e.ad

	r := e.newRig(d, "", nil)
	r.exec.Script(p.ID, "Prereq", agent.SimOutcome{ExitCode: 1603})
	r.start()
	waitFor(t, "the failure to be reported", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliveryFailed })
	if got := programs(r.exec.Runs()); !slices.Equal(got, []string{"Prereq"}) {
		t.Errorf("runs %v, want only Prereq", got)
	}
	if cs := e.status(ad, rid); cs.LastExitCode != 1603 {
		t.Errorf("status %+v, want exit code 1603", cs)
	}
	r.settle()
	if n := len(r.exec.Runs()); n != 1 {
		t.Errorf("%d runs after another cycle: the failed assignment ran again", n)
	}
}

// Rerun behaviour "never rerun": a new advertisement of a program that has
// run is not run again, and says so.
func TestRerunNeverIsNotRerun(t *testing.T) {
	e := newApp(t, nil)
	d, rid, coll, p, ad := e.d, e.rid, e.coll, e.p, e.ad
	r := e.newRig(d, "", nil)
	r.start()
	waitFor(t, "the first run", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })

	ad2 := e.advertise("App, never rerun", p, "Install", coll, func(a *advertisement.Advertisement) {
		a.Rerun = advertisement.RerunNever
		a.PresentTime = t0.Add(time.Minute)
	})
	e.clock.Set(t0.Add(2 * time.Minute))
	e.mp.notify()
	waitFor(t, "Will Not Rerun", func() bool { return e.status(ad2, rid).Delivery == advertisement.DeliveryWillNotRerun })
	r.settle()
	if n := len(r.exec.Runs()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
	if got := e.mp.events(ad2.ID); !slices.Equal(got, []advertisement.Event{advertisement.EventReceived, advertisement.EventWillNotRerun}) {
		t.Errorf("events for the second advertisement %v", got)
	}
}

// A maintenance window delays a mandatory run until it opens; the agent
// says it is waiting and wakes itself at the window's start.
func TestWindowDelaysTheRun(t *testing.T) {
	e := newEnv(t)
	d := device("PC01")
	rid := e.register(d)
	open := time.Date(2026, 3, 2, 22, 0, 0, 0, time.UTC)
	coll := e.collection(collection.ServiceWindow{ID: "{W1}", Name: "Nightly", Enabled: true, Type: collection.WindowGeneral,
		Schedule: schedule.Token{Type: schedule.Interval, Start: open, IsGMT: true, HourDuration: 2, DaySpan: 1}})
	prog := program("Install", "setup.exe /s")
	prog.MaxRunTime = 60
	p := e.newPackage("App", map[string]string{"setup.exe": "MZ setup"}, prog)
	ad := e.advertise("App", p, "Install", coll, nil)

	r := e.newRig(d, "", nil)
	r.start()
	waitFor(t, "waiting for the window", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliveryWaiting })
	r.settle()
	if n := len(r.exec.Runs()); n != 0 {
		t.Fatalf("%d runs outside the window", n)
	}
	evs := r.find(agent.EventEvaluated)
	if wake := evs[len(evs)-1].Wake; !wake.Equal(open) {
		t.Errorf("next wake-up %v, want the window's start %v", wake, open)
	}
	if got := e.status(ad, rid).LastEvent; got != advertisement.EventWaitingForWindow {
		t.Errorf("last event %v, want WaitingForWindow", got)
	}

	// An hour before the window closes a 60-minute program plus the
	// 5-minute countdown no longer fits; at its start it does.
	e.clock.Set(open.Add(-time.Minute))
	r.settle()
	if n := len(r.exec.Runs()); n != 0 {
		t.Fatalf("%d runs before the window", n)
	}
	e.clock.Set(open)
	r.a.Trigger()
	waitFor(t, "the run in the window", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
	if n := len(r.exec.Runs()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
	// WaitingForWindow was reported once, not at every cycle.
	if got := e.mp.events(ad.ID); count(got, advertisement.EventWaitingForWindow) != 1 {
		t.Errorf("events %v", got)
	}
}

// Content whose manifest does not match the policy's source hash is
// refused: reported as content hash mismatch (10057), never run, and not
// tried again for the same assignment.
func TestTamperedManifestIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(m *siteMP)
	}{
		{"signed by the site, different content", func(m *siteMP) {
			m.manifestHook = func(man *pkg.Manifest) { man.Files[0].SHA256[0] ^= 1 }
		}},
		{"changed after signing", func(m *siteMP) {
			m.envelopeHook = func(env *signing.Envelope) { env.Payload = append([]byte(" "), env.Payload...) }
		}},
		{"signed by another key", func(m *siteMP) {
			other := must(signing.GenerateKeyring(nil, t0))
			m.envelopeHook = func(env *signing.Envelope) {
				*env = must(signing.NewSigner(other).Sign(env.Kind, env.Subject, env.Payload, env.Serial, env.Issued, time.Hour))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newApp(t, nil)
			d, rid, ad := e.d, e.rid, e.ad
			e.mp.set(tc.set)

			r := e.newRig(d, "", nil)
			r.start()
			waitFor(t, "the refusal", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliveryFailed })
			if cs := e.status(ad, rid); cs.LastEvent != advertisement.EventContentHashMismatch {
				t.Errorf("status %+v, want ContentHashMismatch", cs)
			}
			r.settle()
			if n := len(r.exec.Runs()); n != 0 {
				t.Errorf("%d runs of refused content", n)
			}
			if ents := r.cache.Entries(); len(ents) != 0 {
				t.Errorf("refused content was cached: %+v", ents)
			}
			if got := e.mp.events(ad.ID); count(got, advertisement.EventContentHashMismatch) != 1 {
				t.Errorf("events %v, want one mismatch", got)
			}
		})
	}
}

// A policy with an older serial than one the agent accepted is refused,
// also by a restarted agent: it keeps acting on the newest.
func TestRolledBackPolicyIsRefused(t *testing.T) {
	e := newEnv(t)
	d := device("PC01")
	rid := e.register(d)
	coll := e.collection()
	p := e.newPackage("App", map[string]string{"setup.exe": "MZ setup"}, program("Install", "setup.exe /s"))
	dir := t.TempDir()
	r := e.newRig(d, dir, nil)
	r.start()
	waitFor(t, "a policy", func() bool { return r.count(agent.EventPolicy) > 0 })

	// The site's state rolls back (a restored backup signs with old serials).
	e.mp.set(func(m *siteMP) { m.serialAt = 5 })
	ad := e.advertise("App", p, "Install", coll, nil)
	e.mp.notify()
	waitFor(t, "the refusal", func() bool { return r.count(agent.EventPolicyRefused) > 0 })
	if ev := r.find(agent.EventPolicyRefused)[0]; !errors.Is(ev.Err, signing.ErrRollback) || ev.Serial != 5 {
		t.Errorf("refusal %+v, want a rollback of serial 5", ev)
	}
	r.settle()
	if n := len(r.exec.Runs()); n != 0 {
		t.Errorf("%d runs from a rolled-back policy", n)
	}
	r.stop()
	r.cache.Close()
	r.st.Close()

	r2 := e.newRig(d, dir, nil)
	r2.start()
	waitFor(t, "the refusal after a restart", func() bool { return r2.count(agent.EventPolicyRefused) > 0 })
	r2.settle()
	if n := len(r2.exec.Runs()); n != 0 {
		t.Errorf("%d runs from a rolled-back policy after a restart", n)
	}

	// The site moves on: the newer policy is taken and acted on.
	e.mp.set(func(m *siteMP) { m.serialAt = 0 })
	e.mp.notify()
	waitFor(t, "the run", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
}

// An expired policy is refused; when the last good policy expires while
// the site is unreachable, the agent starts nothing new until a fresh one
// arrives (freeze).
func TestExpiredPolicy(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		e := newApp(t, nil)
		d, rid, ad := e.d, e.rid, e.ad
		e.mp.set(func(m *siteMP) { m.ttl, m.issuedAt = time.Hour, -2*time.Hour })
		r := e.newRig(d, "", nil)
		r.start()
		waitFor(t, "the refusal", func() bool { return r.count(agent.EventPolicyRefused) > 0 })
		if ev := r.find(agent.EventPolicyRefused)[0]; !errors.Is(ev.Err, signing.ErrExpired) {
			t.Errorf("refusal %+v, want expired", ev)
		}
		if n := len(r.exec.Runs()); n != 0 || e.status(ad, rid).Acceptance != advertisement.AcceptanceNoStatus {
			t.Errorf("acted on an expired policy: %d runs, status %+v", n, e.status(ad, rid))
		}
	})
	t.Run("freeze", func(t *testing.T) {
		e := newApp(t, func(a *advertisement.Advertisement) { a.PresentTime = t0.Add(2 * time.Hour) })
		d, rid, ad := e.d, e.rid, e.ad
		e.mp.set(func(m *siteMP) { m.ttl = time.Hour })
		r := e.newRig(d, "", nil)
		r.start()
		waitFor(t, "acceptance", func() bool { return e.status(ad, rid).Acceptance == advertisement.AcceptanceAccepted })

		e.mp.set(func(m *siteMP) { m.down = true })
		e.clock.Set(t0.Add(3 * time.Hour)) // the advertisement is due, the policy expired
		r.settle()
		waitFor(t, "the freeze", func() bool { return r.count(agent.EventPolicyExpired) > 0 })
		r.settle()
		if n := len(r.exec.Runs()); n != 0 {
			t.Fatalf("%d runs on an expired policy", n)
		}
		e.mp.set(func(m *siteMP) { m.down = false })
		r.a.Trigger()
		waitFor(t, "the run after a fresh policy", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
	})
}

// The management point is unreachable while the agent reports: the status
// waits in the outbox and reaches the site once it is back, each message
// at least once and counted once.
func TestStatusSurvivesAnOutage(t *testing.T) {
	e := newApp(t, nil)
	d, rid, ad := e.d, e.rid, e.ad
	// Uploads are lost, or their replies are, twenty times over.
	var faults []fault
	for i := range 20 {
		faults = append(faults, []fault{lose, loseReply}[i%2])
	}
	e.mp.set(func(m *siteMP) { m.reportFaults = faults })

	r := e.newRig(d, "", nil)
	r.start()
	waitFor(t, "the run", func() bool { return len(r.exec.Runs()) == 1 })
	waitFor(t, "the status after the outage", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
	waitFor(t, "an empty outbox", func() bool { return outboxLen(t, r.st) == 0 })

	e.mp.mu.Lock()
	defer e.mp.mu.Unlock()
	if e.mp.reports <= len(faults) {
		t.Errorf("only %d uploads for %d faults", e.mp.reports, len(faults))
	}
	for id, n := range e.mp.applied {
		if n < 1 {
			t.Errorf("message %s never reached the site", id)
		}
	}
	if e.mp.accepted != len(e.mp.applied) {
		t.Errorf("the site accepted %d messages for %d distinct ones", e.mp.accepted, len(e.mp.applied))
	}
	sum := must(e.site.AdvertisementSummary(ad.ID))
	if total := sum.Counts.Succeeded + sum.Counts.Accepted + sum.Counts.Failed + sum.Counts.Running + sum.Counts.Downloading + sum.Counts.Waiting; total != 1 || sum.Counts.Succeeded != 1 {
		t.Errorf("summary %+v, want the one device counted once, as succeeded", sum.Counts)
	}
}

// A restarted agent over the same state file resumes: it does not register
// again, does not rerun what ran, and sends what it had not sent.
func TestRestartResumes(t *testing.T) {
	e := newApp(t, nil)
	d, rid, ad := e.d, e.rid, e.ad
	dir := t.TempDir()
	r := e.newRig(d, dir, nil)
	e.mp.set(func(m *siteMP) { m.losing = true }) // the site never hears
	r.start()
	waitFor(t, "the run", func() bool { return len(r.exec.Runs()) == 1 })
	waitFor(t, "the run's result", func() bool {
		for _, ev := range r.find(agent.EventStatus) {
			if ev.Status == advertisement.EventSucceeded {
				return true
			}
		}
		return false
	})
	r.stop()
	r.cache.Close()
	r.st.Close()
	if cs := e.status(ad, rid); cs.Delivery == advertisement.DeliverySucceeded {
		t.Fatalf("the site heard before the restart: %+v", cs)
	}

	e.mp.set(func(m *siteMP) { m.losing = false })
	r2 := e.newRig(d, dir, nil)
	r2.start()
	waitFor(t, "the status after the restart", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
	r2.settle()
	if n := len(r2.exec.Runs()); n != 0 {
		t.Errorf("the restarted agent ran %d programs", n)
	}
	if e.mp.registered() != 1 || r2.count(agent.EventRegistered) != 0 {
		t.Errorf("registered %d times, %d after the restart", e.mp.registered(), r2.count(agent.EventRegistered))
	}
	if got := e.mp.events(ad.ID); count(got, advertisement.EventSucceeded) != 1 || count(got, advertisement.EventReceived) != 1 {
		t.Errorf("events %v", got)
	}
}

// New names every missing required field.
func TestNewValidates(t *testing.T) {
	_, err := agent.New(agent.Config{Device: &collection.Device{Name: "PC01"}, MaxRetries: -1})
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("New = %v, want ErrInvalid", err)
	}
	for _, field := range []string{"Config.MP", "Config.State", "Config.Cache", "Config.Executor",
		"Config.Device.SMSUniqueIdentifier", "Config.MaxRetries"} {
		if !containsField(err, field) {
			t.Errorf("error %v does not name %s", err, field)
		}
	}
}

func containsField(err error, field string) bool {
	var ve *consign.ValidationError
	for _, e := range flatten(err) {
		if errors.As(e, &ve) && ve.Field == field {
			return true
		}
	}
	return false
}

func flatten(err error) []error {
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, flatten(e)...)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			out = append(out, flatten(e)...)
		}
	}
	return out
}

func programs(cmds []agent.Command) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Program)
	}
	return out
}

func count[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func outboxLen(t testing.TB, st *agent.State) int {
	ob := must(agent.NewOutbox(st, nil))
	return must(ob.Len())
}

// maxSource makes every random draw the largest: a jitter is its whole
// bound.
type maxSource struct{}

func (maxSource) Uint64() uint64 { return ^uint64(0) }

// PushJitter delays the reaction to a push by a random time up to it; at
// zero the agent reacts at once.
func TestPushJitterDelaysTheReaction(t *testing.T) {
	for _, jitter := range []time.Duration{0, 300 * time.Millisecond} {
		e := newEnv(t)
		d := device("PC01")
		e.register(d)
		coll := e.collection()
		p := e.newPackage("App", map[string]string{"setup.exe": "MZ"}, program("Install", "setup.exe /s"))
		r := e.newRig(d, "", func(c *agent.Config) { c.PushJitter, c.Rand = jitter, rand.New(maxSource{}) })
		r.start()
		waitFor(t, "the first policy", func() bool { return r.count(agent.EventPolicy) == 1 })
		pushed := time.Now()
		e.advertise("App", p, "Install", coll, nil) // the site's Transport pushes
		e.mp.notify()
		waitFor(t, "the new policy", func() bool { return r.count(agent.EventPolicy) == 2 })
		took := time.Since(pushed)
		if jitter > 0 && took < jitter*9/10 {
			t.Errorf("PushJitter %v: reacted after %v", jitter, took)
		}
		if jitter == 0 && took > 250*time.Millisecond {
			t.Errorf("no PushJitter: reacted after %v", took)
		}
	}
}

// After the site rotates its signing key, the agent learns the new key
// from the site (over its authenticated channel) and takes the policy
// signed with it; it keeps the new key across a restart.
func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	d := device("PC01")
	rid := e.register(d)
	coll := e.collection()
	p := e.newPackage("App", map[string]string{"setup.exe": "MZ"}, program("Install", "setup.exe /s"))
	dir := t.TempDir()
	r := e.newRig(d, dir, nil)
	r.start()
	waitFor(t, "the first policy", func() bool { return r.count(agent.EventPolicy) == 1 })
	if _, err := e.mp.ring.Rotate(e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	ad := e.advertise("App", p, "Install", coll, nil)
	e.mp.notify()
	waitFor(t, "the run under the new key", func() bool { return e.status(ad, rid).Delivery == advertisement.DeliverySucceeded })
	if n := r.count(agent.EventPolicyRefused); n != 0 {
		t.Errorf("%d policies refused after the rotation", n)
	}
	r.stop()
	r.cache.Close()
	r.st.Close()
	// Restarted, with the old key retired at the site: the stored policy
	// and new ones still verify.
	for _, k := range e.mp.ring.Keys() {
		if !k.CanSign() {
			if err := e.mp.ring.Retire(k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	r2 := e.newRig(d, dir, nil)
	r2.start()
	e.mp.notify()
	waitFor(t, "a policy after the restart", func() bool { return r2.count(agent.EventPolicy) >= 1 })
	if n := r2.count(agent.EventPolicyRefused); n != 0 {
		t.Errorf("%d policies refused after the restart", n)
	}
}
