package updates_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/consign/consign/schedule"
	"github.com/consign/consign/updates"
	"pgregory.net/rapid"
)

// enfScenario is one random device at one instant, with the test's own
// record of its cache.
type enfScenario struct {
	in     updates.EnforceInput
	cached map[updates.CIID]bool
}

var enfBase = time.Date(2009, 6, 9, 0, 0, 0, 0, time.UTC)

func enfMinutes(t *rapid.T, label string, lo, hi int) time.Duration {
	return time.Duration(rapid.IntRange(lo, hi).Draw(t, label)) * time.Minute
}

const enfDay = 24 * 60

var enfGenScenario = rapid.Custom(func(t *rapid.T) enfScenario {
	now := enfBase.Add(enfMinutes(t, "now", 0, 3*enfDay))
	in := updates.EnforceInput{
		Now:            now,
		Location:       time.FixedZone("dev", rapid.IntRange(-48, 56).Draw(t, "zone quarter-hours")*15*60),
		Server:         rapid.Bool().Draw(t, "server"),
		OnSlowBoundary: rapid.IntRange(0, 3).Draw(t, "slow") == 0,
		Settings: updates.AgentSettings{
			RestartCountdown:  enfMinutes(t, "countdown", 0, 6),
			RestartTurnaround: time.Duration(rapid.SampledFrom([]int{0, 10, 30}).Draw(t, "turnaround")) * time.Minute,
			EnforceAllWithin:  rapid.SampledFrom([]time.Duration{0, -1, 3 * time.Hour, 48 * time.Hour}).Draw(t, "enforceAll"),
			HideDeployments:   rapid.IntRange(0, 7).Draw(t, "hide") == 0,
		},
	}
	ids := rapid.SliceOfNDistinct(rapid.IntRange(1, 30), 0, 10, rapid.ID[int]).Draw(t, "required")
	cached := map[updates.CIID]bool{}
	for _, id := range ids {
		u := &updates.Update{CIID: updates.CIID(id), Classification: updates.SecurityUpdates,
			MaxExecutionTime: time.Duration(rapid.SampledFrom([]int{0, 0, 5, 20, 45, 60, 120, 300}).Draw(t, "maxExec")) * time.Minute,
			Restart:          updates.RestartBehavior(rapid.IntRange(0, 2).Draw(t, "restart"))}
		if rapid.IntRange(0, 4).Draw(t, "servicePack") == 0 {
			u.Classification = updates.ServicePacks
		}
		in.Required = append(in.Required, u)
		cached[u.CIID] = rapid.IntRange(0, 3).Draw(t, "notCached") != 0
	}
	in.Downloaded = func(id updates.CIID) bool { return cached[id] }
	for i := range rapid.IntRange(0, 4).Draw(t, "deployments") + 1 {
		d := &updates.Deployment{ID: uint32(i + 1), Enabled: rapid.IntRange(0, 5).Draw(t, "disabled") != 0,
			Updates:                rapid.SliceOfN(rapid.Custom(func(t *rapid.T) updates.CIID { return updates.CIID(rapid.IntRange(1, 30).Draw(t, "ci")) }), 0, 8).Draw(t, "updates"),
			Available:              now.Add(enfMinutes(t, "available", -10*enfDay, 6*60)),
			OverrideServiceWindows: rapid.Bool().Draw(t, "override"),
			Settings: updates.Settings{
				UseGMTTimes:                 rapid.Bool().Draw(t, "gmt"),
				SuppressReboot:              updates.SuppressReboot(rapid.IntRange(0, 3).Draw(t, "suppress")),
				RebootOutsideServiceWindows: rapid.Bool().Draw(t, "outside"),
				DownloadOnSlowBoundary:      rapid.Bool().Draw(t, "slowDownload"),
			},
		}
		// Most deployments offer Required updates only, so that they matter.
		if len(ids) > 0 && rapid.IntRange(0, 3).Draw(t, "onRequired") != 0 {
			d.Updates = d.Updates[:0]
			for _, id := range rapid.SliceOfN(rapid.SampledFrom(ids), 1, 6).Draw(t, "requiredUpdates") {
				d.Updates = append(d.Updates, updates.CIID(id))
			}
		}
		if rapid.IntRange(0, 2).Draw(t, "optional") != 0 {
			d.Deadline = now.Add(enfMinutes(t, "deadline", -2*enfDay, 3*enfDay))
		}
		if rapid.IntRange(0, 2).Draw(t, "expires") == 0 {
			d.Expiration = now.Add(enfMinutes(t, "expiration", -enfDay, 20*enfDay))
		}
		in.Deployments = append(in.Deployments, d)
	}
	in.HasWindows = rapid.IntRange(0, 3).Draw(t, "hasWindows") != 0
	if in.HasWindows {
		for range rapid.IntRange(0, 6).Draw(t, "windows") {
			// Half the windows start in the 4 hours before now: often open.
			start := now.Add(enfMinutes(t, "windowStart", -4*60, 0))
			if rapid.Bool().Draw(t, "later") {
				start = now.Add(enfMinutes(t, "windowStart", 0, 7*enfDay))
			}
			in.Windows = append(in.Windows, schedule.Span{Start: start, End: start.Add(enfMinutes(t, "windowLength", 10, 8*60))})
		}
	}
	if len(ids) > 0 && rapid.Bool().Draw(t, "installing") {
		in.Installing = updates.CIID(rapid.SampledFrom(ids).Draw(t, "running"))
	}
	for _, id := range ids {
		if updates.CIID(id) != in.Installing && rapid.IntRange(0, 9).Draw(t, "pending") == 0 {
			in.PendingRestart = append(in.PendingRestart, updates.CIID(id))
		}
	}
	for _, id := range rapid.SliceOfN(rapid.IntRange(1, 32), 0, 4).Draw(t, "requested") {
		in.UserRequested = append(in.UserRequested, updates.CIID(id))
	}
	return enfScenario{in: in, cached: cached}
})

// enfModel is the test's own, brute-force reading of a scenario.
type enfModel struct {
	s          enfScenario
	countdown  time.Duration
	turnaround time.Duration
	windows    []schedule.Span
	gated      bool // the device has maintenance windows
	active     []*updates.Deployment
	usable     map[*updates.Deployment]bool
	horizon    time.Time // deadlines at or before it are due
}

func newEnfModel(s enfScenario) *enfModel {
	in := s.in
	m := &enfModel{s: s, countdown: 5 * time.Minute, turnaround: 10 * time.Minute, usable: map[*updates.Deployment]bool{},
		windows: schedule.Union(in.Windows), gated: in.HasWindows || len(in.Windows) > 0}
	if in.Settings.RestartCountdown > 0 {
		m.countdown = in.Settings.RestartCountdown
	}
	if in.Settings.RestartTurnaround > 0 {
		m.turnaround = in.Settings.RestartTurnaround
	}
	for _, d := range in.Deployments {
		avail, exp := d.At(d.Available, in.Location), d.At(d.Expiration, in.Location)
		if d.Enabled && !in.Now.Before(avail) && (exp.IsZero() || in.Now.Before(exp)) {
			m.active = append(m.active, d)
			m.usable[d] = !in.OnSlowBoundary || d.Settings.DownloadOnSlowBoundary
		}
	}
	m.horizon = in.Now
	within := in.Settings.EnforceAllWithin
	if within == 0 {
		within = 7 * 24 * time.Hour
	}
	if within > 0 {
		for _, u := range in.Required {
			if !slices.Contains(in.PendingRestart, u.CIID) && m.deadline(u.CIID, in.Now) {
				m.horizon = in.Now.Add(within)
			}
		}
	}
	return m
}

func (m *enfModel) update(id updates.CIID) *updates.Update {
	for _, u := range m.s.in.Required {
		if u.CIID == id {
			return u
		}
	}
	return nil
}

func (m *enfModel) budget(u *updates.Update) time.Duration {
	return u.EffectiveMaxExecutionTime() + m.countdown + m.turnaround
}

// deadline reports whether a usable mandatory deployment offers id with a
// deadline at or before t.
func (m *enfModel) deadline(id updates.CIID, t time.Time) bool {
	for _, d := range m.active {
		if m.usable[d] && !d.Deadline.IsZero() && slices.Contains(d.Updates, id) && !t.Before(d.At(d.Deadline, m.s.in.Location)) {
			return true
		}
	}
	return false
}

func (m *enfModel) offered(id updates.CIID, usableOnly, mandatoryOnly bool) bool {
	for _, d := range m.active {
		if slices.Contains(d.Updates, id) && (!usableOnly || m.usable[d]) && (!mandatoryOnly || !d.Deadline.IsZero()) {
			return true
		}
	}
	return false
}

func (m *enfModel) requested(id updates.CIID) bool {
	return !m.s.in.Settings.HideDeployments && slices.Contains(m.s.in.UserRequested, id) && m.offered(id, true, false)
}

func (m *enfModel) override(id updates.CIID) bool {
	for _, d := range m.active {
		if m.usable[d] && d.OverrideServiceWindows && !d.Deadline.IsZero() && slices.Contains(d.Updates, id) &&
			!m.s.in.Now.Before(d.At(d.Deadline, m.s.in.Location)) {
			return true
		}
	}
	return false
}

func (m *enfModel) windowGated(id updates.CIID) bool {
	return m.gated && !m.requested(id) && !m.override(id)
}

// fitsSomewhere: the open window has need left, or a later one is need long.
func (m *enfModel) fitsSomewhere(need time.Duration) bool {
	now := m.s.in.Now
	for _, w := range m.windows {
		if w.Contains(now) && w.End.Sub(now) >= need || w.Start.After(now) && w.Duration() >= need {
			return true
		}
	}
	return false
}

func (m *enfModel) busy(id updates.CIID) bool {
	return id == m.s.in.Installing || slices.Contains(m.s.in.PendingRestart, id)
}

func enfCheckScenario(t *rapid.T, s enfScenario) updates.EnforcePlan {
	in := s.in
	p, err := updates.Enforce(in)
	if err != nil {
		t.Fatalf("Enforce: %v", err)
	}
	m := newEnfModel(s)
	now := in.Now

	// Only Required updates offered by an available deployment appear.
	seen := map[updates.CIID]string{}
	note := func(list string, id updates.CIID) {
		if m.update(id) == nil {
			t.Fatalf("%s holds %d, which is not Required", list, id)
		}
		if !m.offered(id, false, false) && !slices.Contains(m.s.in.PendingRestart, id) {
			t.Fatalf("%s holds %d, which no available deployment offers", list, id)
		}
		if other, dup := seen[id]; dup {
			t.Fatalf("%d is in both %s and %s", id, other, list)
		}
		seen[id] = list
	}
	for _, id := range p.Install {
		note("Install", id)
	}
	for _, w := range p.Wait {
		note("Wait", w.CIID)
	}
	for _, id := range p.NeverFits {
		note("NeverFits", id)
	}
	for _, id := range p.Available {
		if m.update(id) == nil || !m.offered(id, true, false) || m.s.in.Settings.HideDeployments {
			t.Fatalf("Available holds %d, not a Required update of a usable deployment shown to users", id)
		}
	}

	// Install: sorted, cached, not busy, usable, and due or requested.
	if !slices.IsSortedFunc(p.Install, func(a, b updates.CIID) int {
		return cmp.Or(cmp.Compare(m.update(a).EffectiveMaxExecutionTime(), m.update(b).EffectiveMaxExecutionTime()), cmp.Compare(a, b))
	}) {
		t.Fatalf("Install %v is not sorted by max execution time, then CIID", p.Install)
	}
	for _, id := range p.Install {
		switch {
		case !s.cached[id]:
			t.Fatalf("Install holds %d, whose content is not cached", id)
		case m.busy(id):
			t.Fatalf("Install holds %d, which is installing or pending a restart", id)
		case !m.requested(id) && !m.deadline(id, m.horizon):
			t.Fatalf("Install holds %d: neither requested nor due (deadline at or before %v)", id, m.horizon)
		}
		if in.Settings.EnforceAllWithin < 0 && !m.requested(id) && !m.deadline(id, now) {
			t.Fatalf("Install holds %d before its deadline with enforce-all off", id)
		}
	}

	// The window budget (§3.6): every gated install ends, at its full budget
	// after those before it and the running one, before the open window closes.
	elapsed := time.Duration(0)
	if run := m.update(in.Installing); run != nil {
		elapsed = m.budget(run)
	}
	for _, id := range p.Install {
		elapsed += m.budget(m.update(id))
		if !m.windowGated(id) {
			continue
		}
		fits := false
		for _, w := range m.windows {
			fits = fits || w.Contains(now) && !now.Add(elapsed).After(w.End)
		}
		if !fits {
			t.Fatalf("Install starts %d, which would end at %v, past the open window (%v)", id, now.Add(elapsed), m.windows)
		}
	}

	// NeverFits is exactly the due, gated updates no window can hold (11717).
	for _, u := range in.Required {
		id := u.CIID
		want := !m.busy(id) && m.deadline(id, m.horizon) && m.windowGated(id) && !m.fitsSomewhere(m.budget(u))
		if got := slices.Contains(p.NeverFits, id); got != want {
			t.Fatalf("NeverFits contains %d: %t, want %t", id, got, want)
		}
	}

	// Every update a usable mandatory deployment enforces, or the user
	// requested, has exactly one disposition; its download never waits.
	for _, u := range in.Required {
		id := u.CIID
		if m.busy(id) || !m.offered(id, true, true) && !m.requested(id) {
			continue
		}
		if _, ok := seen[id]; !ok {
			t.Fatalf("%d is offered by a usable mandatory deployment or requested but has no disposition", id)
		}
		if got := slices.Contains(p.Download, id); got == s.cached[id] {
			t.Fatalf("%d: cached %t, in Download %t", id, s.cached[id], got)
		}
	}
	for _, id := range p.Download {
		if m.update(id) == nil || s.cached[id] || m.busy(id) || !m.offered(id, true, true) && !m.requested(id) {
			t.Fatalf("Download holds %d, which is not a Required, uncached update of a usable mandatory deployment or a request", id)
		}
	}

	// Topic 300 per available deployment.
	if len(p.Deployments) != len(m.active) {
		t.Fatalf("%d deployment statuses for %d available deployments", len(p.Deployments), len(m.active))
	}
	for i, d := range m.active {
		st := p.Deployments[i]
		nonCompliant := slices.ContainsFunc(d.Updates, func(id updates.CIID) bool { return m.update(id) != nil })
		if st.ID != d.ID || (st.Compliance == updates.AssignmentNonCompliant) != nonCompliant || st.Blocked == m.usable[d] {
			t.Fatalf("status %+v of deployment %d: non-compliant %t, usable %t", st, d.ID, nonCompliant, m.usable[d])
		}
		if !st.Enforcement.Valid() || st.Blocked && st.Enforcement != updates.EnforcementUnknown {
			t.Fatalf("status %+v of deployment %d", st, d.ID)
		}
	}
	if !p.NextCheck.IsZero() && !p.NextCheck.After(now) {
		t.Fatalf("NextCheck %v is not after now %v", p.NextCheck, now)
	}
	for _, w := range p.Wait {
		if !w.Until.IsZero() && w.Reason != updates.WaitRestart && !w.Until.After(now) {
			t.Fatalf("%+v waits until a time not after now %v", w, now)
		}
	}
	return p
}

func TestEnforceProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { enfCheckScenario(t, enfGenScenario.Draw(t, "scenario")) })
}

// enfGenEnforcing are scenarios in which enforcement is under way: every
// deployment is available with its deadline passed, no window override, no
// user request, all content cached, and a window open now.
var enfGenEnforcing = rapid.Custom(func(t *rapid.T) enfScenario {
	s := enfGenScenario.Draw(t, "scenario")
	in := &s.in
	in.OnSlowBoundary, in.UserRequested, in.HasWindows = false, nil, true
	for _, d := range in.Deployments {
		d.Enabled, d.OverrideServiceWindows, d.Expiration = true, false, time.Time{}
		d.Settings.UseGMTTimes = true
		d.Available = in.Now.Add(-30 * enfDay * time.Minute)
		d.Deadline = in.Now.Add(-enfMinutes(t, "overdue", 0, 3*enfDay))
	}
	for id := range s.cached {
		s.cached[id] = true
	}
	start := in.Now.Add(-enfMinutes(t, "opened", 0, 60))
	in.Windows = append(in.Windows, schedule.Span{Start: start, End: in.Now.Add(enfMinutes(t, "left", 1, 10*60))})
	return s
})

// §3.6: updates go shortest first, each if what is left of the window after
// the budgets before it holds its own; one that does not fit is skipped and
// the next tried. So Install is exactly the greedy choice.
func TestEnforceWindowBudget(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := enfGenEnforcing.Draw(t, "scenario")
		p := enfCheckScenario(t, s)
		m := newEnfModel(s)
		var end time.Time
		for _, w := range m.windows {
			if w.Contains(s.in.Now) {
				end = w.End
			}
		}
		var queue []*updates.Update
		for _, u := range s.in.Required {
			if !m.busy(u.CIID) && m.offered(u.CIID, true, true) && m.fitsSomewhere(m.budget(u)) {
				queue = append(queue, u)
			}
		}
		slices.SortFunc(queue, func(a, b *updates.Update) int {
			return cmp.Or(cmp.Compare(a.EffectiveMaxExecutionTime(), b.EffectiveMaxExecutionTime()), cmp.Compare(a.CIID, b.CIID))
		})
		at := s.in.Now
		if run := m.update(s.in.Installing); run != nil {
			at = at.Add(m.budget(run))
		}
		var want []updates.CIID
		for _, u := range queue {
			if b := m.budget(u); !at.Add(b).After(end) {
				want = append(want, u.CIID)
				at = at.Add(b)
			}
		}
		if !slices.Equal(p.Install, want) {
			t.Fatalf("Install = %v, want %v (window ends %v)", p.Install, want, end)
		}
	})
}

// The restart rule (§3.7 step 6), and its consequence for compliance (§4.3):
// a device applies each plan — installs, then restarts only when told to —
// and an update that needed a restart stays Required for as long as the
// restart is suppressed.
func TestEnforceSuppressedRestartKeepsRequired(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := enfGenScenario.Draw(t, "scenario")
		s.in.Installing = 0
		state := map[updates.CIID]updates.ComplianceState{}
		for _, u := range s.in.Required {
			state[u.CIID] = updates.Required
		}
		for step := range 4 {
			p := enfCheckScenario(t, s)
			m := newEnfModel(s)

			// The model of the decision: who needs the restart, and is it suppressed for each.
			needers, allSuppressed := 0, true
			for _, u := range s.in.Required {
				if !slices.Contains(s.in.PendingRestart, u.CIID) && (!slices.Contains(p.Install, u.CIID) || u.Restart == updates.NeverRestarts) {
					continue
				}
				needers++
				gov, supp := 0, 0
				for _, d := range m.active {
					if slices.Contains(d.Updates, u.CIID) {
						gov++
						if s.in.Server && d.Settings.SuppressReboot&updates.SuppressServers != 0 ||
							!s.in.Server && d.Settings.SuppressReboot&updates.SuppressWorkstations != 0 {
							supp++
						}
					}
				}
				allSuppressed = allSuppressed && gov > 0 && supp == gov
			}
			switch {
			case needers == 0 && p.Restart.Action != updates.RestartNone:
				t.Fatalf("step %d: restart %v with nothing needing one", step, p.Restart)
			case needers > 0 && allSuppressed != (p.Restart.Action == updates.RestartSuppressed):
				t.Fatalf("step %d: restart %v, want suppressed %t", step, p.Restart, allSuppressed)
			case needers > 0 && p.Restart.Action == updates.RestartNone:
				t.Fatalf("step %d: %d updates need a restart, plan says none", step, needers)
			}
			for _, id := range s.in.PendingRestart {
				if slices.Contains(p.Download, id) || !slices.ContainsFunc(p.Wait, func(w updates.Waiting) bool {
					return w.CIID == id && w.Reason == updates.WaitRestart
				}) {
					t.Fatalf("step %d: pending %d is downloaded again or not waiting for the restart: %+v", step, id, p)
				}
			}

			// Apply: install, then restart if the plan says now.
			restarted := p.Restart.Action == updates.RestartNow
			var pending []updates.CIID
			for _, id := range p.Install {
				u := m.update(id)
				asks := u.Restart == updates.CanRequestRestart && rapid.Bool().Draw(t, fmt.Sprint("asks", id))
				state[id] = updates.StateAfterInstall(u, asks, restarted)
				if state[id] == updates.Required {
					pending = append(pending, id)
				}
			}
			for _, id := range s.in.PendingRestart {
				state[id] = updates.StateAfterInstall(m.update(id), true, restarted)
				if state[id] == updates.Required {
					pending = append(pending, id)
				}
			}
			if p.Restart.Action == updates.RestartSuppressed {
				for _, id := range pending {
					if u := m.update(id); state[id] != updates.Required || u.Restart == updates.NeverRestarts && !slices.Contains(s.in.PendingRestart, id) {
						t.Fatalf("step %d: %d (%v) after a suppressed restart is %v", step, id, u.Restart, state[id])
					}
				}
			}
			if restarted && len(pending) > 0 {
				t.Fatalf("step %d: restarted, yet %v are still Required", step, pending)
			}

			// The next instant: Required shrinks to what is still Required.
			var req []*updates.Update
			for _, u := range s.in.Required {
				if state[u.CIID] == updates.Required {
					req = append(req, u)
				}
			}
			s.in.Required, s.in.PendingRestart = req, pending
			s.in.Now = s.in.Now.Add(enfMinutes(t, "advance", 1, 2*enfDay))
		}
	})
}

// §4.3: after a successful install an update is Required exactly while a
// restart it needs has not happened.
func TestStateAfterInstallProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u := &updates.Update{CIID: 1, Restart: updates.RestartBehavior(rapid.IntRange(0, 2).Draw(t, "restart"))}
		exit, restarted := rapid.Bool().Draw(t, "exitNeedsRestart"), rapid.Bool().Draw(t, "restarted")
		needs := exit || u.Restart == updates.AlwaysRequiresRestart
		want := updates.Installed
		if needs && !restarted {
			want = updates.Required
		}
		if got := updates.StateAfterInstall(u, exit, restarted); got != want {
			t.Fatalf("StateAfterInstall(%v, %t, %t) = %v, want %v", u.Restart, exit, restarted, got, want)
		}
	})
}
