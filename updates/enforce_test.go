package updates_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/schedule"
	"github.com/consign/consign/updates"
)

// enfNow is the instant most cases decide at: Tuesday 2009-06-09 02:00 UTC,
// the moment the nightly window opens.
var enfNow = time.Date(2009, 6, 9, 2, 0, 0, 0, time.UTC)

func enfHour(h, m int) time.Time {
	return enfNow.Add(time.Duration(h-2)*time.Hour + time.Duration(m)*time.Minute)
}

// enfUpdate is a required update with the given max execution time in
// minutes (0: the classification's default).
func enfUpdate(id updates.CIID, minutes int, r updates.RestartBehavior) *updates.Update {
	return &updates.Update{CIID: id, Title: fmt.Sprintf("KB%d", 900000+id), Classification: updates.SecurityUpdates,
		MaxExecutionTime: time.Duration(minutes) * time.Minute, Restart: r}
}

func enfServicePack(id updates.CIID) *updates.Update {
	u := enfUpdate(id, 0, updates.AlwaysRequiresRestart)
	u.Classification = updates.ServicePacks
	return u
}

// enfMandatory is an enabled UTC deployment available two weeks before its
// deadline.
func enfMandatory(id uint32, deadline time.Time, ids ...updates.CIID) *updates.Deployment {
	return &updates.Deployment{ID: id, Name: fmt.Sprint("Deployment ", id), Updates: ids, Enabled: true,
		Settings:  updates.Settings{UseGMTTimes: true},
		Available: deadline.Add(-14 * 24 * time.Hour), Deadline: deadline}
}

// enfOptional is an enabled UTC deployment without a deadline, available
// since a week before enfNow.
func enfOptional(id uint32, ids ...updates.CIID) *updates.Deployment {
	return &updates.Deployment{ID: id, Name: fmt.Sprint("Optional ", id), Updates: ids, Enabled: true,
		Settings: updates.Settings{UseGMTTimes: true}, Available: enfNow.Add(-7 * 24 * time.Hour)}
}

// enfNightly are n daily windows of length d opening at 02:00 UTC from
// enfNow's day.
func enfNightly(n int, d time.Duration) []schedule.Span {
	var ws []schedule.Span
	for i := range n {
		s := enfNow.AddDate(0, 0, i)
		ws = append(ws, schedule.Span{Start: s, End: s.Add(d)})
	}
	return ws
}

func enfCached(ids ...updates.CIID) func(updates.CIID) bool {
	return func(id updates.CIID) bool { return slices.Contains(ids, id) }
}

func enfIDs(ids ...updates.CIID) []updates.CIID { return ids }

func enfDecide(t testing.TB, in updates.EnforceInput) updates.EnforcePlan {
	t.Helper()
	p, err := updates.Enforce(in)
	if err != nil {
		t.Fatalf("Enforce: %v", err)
	}
	return p
}

// enfWant is the expected plan; nil slices mean "empty".
type enfWant struct {
	install, download, neverFits, available []updates.CIID
	wait                                    []updates.Waiting
	restart                                 updates.RestartPlan
	states                                  map[uint32]updates.EnforcementState // topic 301 per deployment ID; the listed ones only
	next                                    time.Time
}

func enfCompare(t *testing.T, name string, got updates.EnforcePlan, want enfWant) {
	t.Helper()
	eq := func(what string, g, w []updates.CIID) {
		if len(g) != 0 || len(w) != 0 {
			if !slices.Equal(g, w) {
				t.Errorf("%s: %s = %v, want %v", name, what, g, w)
			}
		}
	}
	eq("Install", got.Install, want.install)
	eq("Download", got.Download, want.download)
	eq("NeverFits", got.NeverFits, want.neverFits)
	eq("Available", got.Available, want.available)
	if (len(got.Wait) != 0 || len(want.wait) != 0) && !slices.EqualFunc(got.Wait, want.wait, func(a, b updates.Waiting) bool {
		return a.CIID == b.CIID && a.Reason == b.Reason && a.Until.Equal(b.Until)
	}) {
		t.Errorf("%s: Wait = %v, want %v", name, got.Wait, want.wait)
	}
	if got.Restart.Action != want.restart.Action || !got.Restart.At.Equal(want.restart.At) || got.Restart.Certain != want.restart.Certain {
		t.Errorf("%s: Restart = %+v, want %+v", name, got.Restart, want.restart)
	}
	for id, st := range want.states {
		found := false
		for _, d := range got.Deployments {
			if d.ID == id {
				found = true
				if d.Enforcement != st {
					t.Errorf("%s: deployment %d enforcement %v (%d), want %v (%d)", name, id, d.Enforcement, d.Enforcement, st, st)
				}
			}
		}
		if !found {
			t.Errorf("%s: deployment %d not in %+v", name, id, got.Deployments)
		}
	}
	if !got.NextCheck.Equal(want.next) {
		t.Errorf("%s: NextCheck = %v, want %v", name, got.NextCheck, want.next)
	}
}

var (
	enfPassed    = enfNow.Add(-14 * time.Hour) // yesterday noon: a deadline that has passed
	enfTomorrow2 = enfNow.AddDate(0, 0, 1)     // the next window's start
)

func TestEnforceReferenceCases(t *testing.T) {
	four := []*updates.Update{enfUpdate(1, 20, updates.NeverRestarts), enfUpdate(2, 20, updates.NeverRestarts),
		enfUpdate(3, 20, updates.NeverRestarts), enfUpdate(4, 20, updates.NeverRestarts)}
	nightly2h := enfNightly(8, 2*time.Hour)
	deps := func(ds ...*updates.Deployment) []*updates.Deployment { return ds }
	W := func(ws ...updates.Waiting) []updates.Waiting { return ws }
	wait := func(id updates.CIID, r updates.WaitReason, until time.Time) updates.Waiting {
		return updates.Waiting{CIID: id, Reason: r, Until: until}
	}
	cases := []struct {
		name string
		in   updates.EnforceInput
		want enfWant
	}{
		{
			// §3.6 [SDK-a1ddab5b]: budgets of 20+5+10 = 35 min; 3×35 = 105 ≤ 120, a fourth would end at 140.
			name: "§3.6 2-hour window, four 20-minute updates: three now, the fourth next window",
			in: updates.EnforceInput{Now: enfNow, Required: four, Deployments: deps(enfMandatory(1, enfPassed, 1, 2, 3, 4)),
				Windows: nightly2h, HasWindows: true, Downloaded: enfCached(1, 2, 3, 4)},
			want: enfWant{install: enfIDs(1, 2, 3), wait: W(wait(4, updates.WaitWindow, enfTomorrow2)),
				states: map[uint32]updates.EnforcementState{1: updates.EnforcementInstalling}, next: enfTomorrow2},
		},
		{
			name: "§3.6 the same 30 minutes into the window: two fit in 90 minutes",
			in: updates.EnforceInput{Now: enfHour(2, 30), Required: four, Deployments: deps(enfMandatory(1, enfPassed, 1, 2, 3, 4)),
				Windows: nightly2h, HasWindows: true, Downloaded: enfCached(1, 2, 3, 4)},
			want: enfWant{install: enfIDs(1, 2), wait: W(wait(3, updates.WaitWindow, enfTomorrow2), wait(4, updates.WaitWindow, enfTomorrow2)),
				next: enfTomorrow2},
		},
		{
			name: "shortest max run time first, ties by CIID, whatever the input order",
			in: updates.EnforceInput{Now: enfNow, Required: []*updates.Update{enfUpdate(9, 45, 0), enfUpdate(7, 10, 0), enfUpdate(3, 10, 0), enfUpdate(5, 30, 0)},
				Deployments: deps(enfMandatory(1, enfPassed, 3, 5, 7, 9)), Downloaded: enfCached(3, 5, 7, 9)},
			want: enfWant{install: enfIDs(3, 7, 5, 9)},
		},
		{
			// §1.11, §3.6: a service pack budgets 60+15 = 75 minutes.
			name: "service pack 60-minute default: 70 minutes left holds the 20-minute update only",
			in: updates.EnforceInput{Now: enfHour(2, 50), Required: []*updates.Update{enfServicePack(10), enfUpdate(11, 0, 0)},
				Deployments: deps(enfMandatory(1, enfPassed, 10, 11)), Windows: nightly2h, HasWindows: true, Downloaded: enfCached(10, 11)},
			want: enfWant{install: enfIDs(11), wait: W(wait(10, updates.WaitWindow, enfTomorrow2)), next: enfTomorrow2},
		},
		{
			name: "service pack with exactly 75 minutes left fits",
			in: updates.EnforceInput{Now: enfHour(2, 45), Required: []*updates.Update{enfServicePack(10)},
				Deployments: deps(enfMandatory(1, enfPassed, 10)), Windows: nightly2h, HasWindows: true, Downloaded: enfCached(10)},
			want: enfWant{install: enfIDs(10), restart: updates.RestartPlan{Action: updates.RestartNow, At: enfHour(3, 45), Certain: true}},
		},
		{
			name: "deadline not reached: download only",
			in: updates.EnforceInput{Now: enfNow, Required: four[:2], Deployments: deps(enfMandatory(1, enfNow.Add(72*time.Hour), 1, 2)),
				Windows: nightly2h, HasWindows: true},
			want: enfWant{download: enfIDs(1, 2),
				wait:   W(wait(1, updates.WaitDeadline, enfNow.Add(72*time.Hour)), wait(2, updates.WaitDeadline, enfNow.Add(72*time.Hour))),
				states: map[uint32]updates.EnforcementState{1: updates.EnforcementDownloading}, next: enfNow.Add(72 * time.Hour)},
		},
		{
			name: "deadline not reached, content cached: downloaded (8)",
			in: updates.EnforceInput{Now: enfNow, Required: four[:1], Deployments: deps(enfMandatory(1, enfNow.Add(72*time.Hour), 1)),
				Windows: nightly2h, HasWindows: true, Downloaded: enfCached(1)},
			want: enfWant{wait: W(wait(1, updates.WaitDeadline, enfNow.Add(72*time.Hour))),
				states: map[uint32]updates.EnforcementState{1: updates.EnforcementDownloaded}, next: enfNow.Add(72 * time.Hour)},
		},
		{
			name: "deadline passed, no window open: waiting for maintenance window (10)",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: four[:1], Deployments: deps(enfMandatory(1, enfPassed, 1)),
				Windows: nightly2h, HasWindows: true, Downloaded: enfCached(1)},
			want: enfWant{wait: W(wait(1, updates.WaitWindow, enfTomorrow2)),
				states: map[uint32]updates.EnforcementState{1: updates.EnforcementWaitingForWindow}, next: enfTomorrow2},
		},
		{
			name: "deadline passed, content missing: downloading (7), waits for content",
			in: updates.EnforceInput{Now: enfNow, Required: four[:1], Deployments: deps(enfMandatory(1, enfPassed, 1)),
				Windows: nightly2h, HasWindows: true},
			want: enfWant{download: enfIDs(1), wait: W(wait(1, updates.WaitContent, time.Time{})),
				states: map[uint32]updates.EnforcementState{1: updates.EnforcementDownloading}},
		},
		{
			name: "override at the deadline: installs outside the window, restart waits for a window",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: []*updates.Update{enfUpdate(1, 20, updates.AlwaysRequiresRestart)},
				Deployments: deps(func() *updates.Deployment {
					d := enfMandatory(1, enfPassed, 1)
					d.OverrideServiceWindows = true
					return d
				}()),
				Windows: nightly2h, HasWindows: true, Downloaded: enfCached(1)},
			want: enfWant{install: enfIDs(1), restart: updates.RestartPlan{Action: updates.RestartInWindow, At: enfTomorrow2, Certain: true},
				states: map[uint32]updates.EnforcementState{1: updates.EnforcementInstalling}, next: enfTomorrow2},
		},
		{
			name: "override and allow restart outside windows: restart when the install ends",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: []*updates.Update{enfUpdate(1, 20, updates.AlwaysRequiresRestart)},
				Deployments: deps(func() *updates.Deployment {
					d := enfMandatory(1, enfPassed, 1)
					d.OverrideServiceWindows, d.Settings.RebootOutsideServiceWindows = true, true
					return d
				}()),
				Windows: nightly2h, HasWindows: true, Downloaded: enfCached(1)},
			want: enfWant{install: enfIDs(1), restart: updates.RestartPlan{Action: updates.RestartNow, At: enfHour(12, 20), Certain: true}},
		},
		{
			name: "restart suppressed on servers, device is a server",
			in: updates.EnforceInput{Now: enfHour(12, 0), Server: true, Required: []*updates.Update{enfUpdate(1, 20, updates.AlwaysRequiresRestart)},
				Deployments: deps(func() *updates.Deployment {
					d := enfMandatory(1, enfPassed, 1)
					d.Settings.SuppressReboot = updates.SuppressServers
					return d
				}()), Downloaded: enfCached(1)},
			want: enfWant{install: enfIDs(1), restart: updates.RestartPlan{Action: updates.RestartSuppressed, Certain: true}},
		},
		{
			name: "restart suppressed on servers, device is a workstation: restarts",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: []*updates.Update{enfUpdate(1, 20, updates.AlwaysRequiresRestart)},
				Deployments: deps(func() *updates.Deployment {
					d := enfMandatory(1, enfPassed, 1)
					d.Settings.SuppressReboot = updates.SuppressServers
					return d
				}()), Downloaded: enfCached(1)},
			want: enfWant{install: enfIDs(1), restart: updates.RestartPlan{Action: updates.RestartNow, At: enfHour(12, 20), Certain: true}},
		},
		{
			name: "an update in a suppressing and a non-suppressing deployment: the server restarts",
			in: updates.EnforceInput{Now: enfHour(12, 0), Server: true, Required: []*updates.Update{enfUpdate(1, 20, updates.AlwaysRequiresRestart)},
				Deployments: deps(func() *updates.Deployment {
					d := enfMandatory(1, enfPassed, 1)
					d.Settings.SuppressReboot = updates.SuppressServers
					return d
				}(), enfMandatory(2, enfNow.Add(48*time.Hour), 1)), Downloaded: enfCached(1)},
			want: enfWant{install: enfIDs(1), restart: updates.RestartPlan{Action: updates.RestartNow, At: enfHour(12, 20), Certain: true},
				next: enfNow.Add(48 * time.Hour)},
		},
		{
			name: "suppressed restart left pending on a server: pending system restart (5), stays Required",
			in: updates.EnforceInput{Now: enfHour(12, 0), Server: true, Required: []*updates.Update{enfUpdate(1, 20, updates.AlwaysRequiresRestart)},
				PendingRestart: enfIDs(1),
				Deployments: deps(func() *updates.Deployment {
					d := enfMandatory(1, enfPassed, 1)
					d.Settings.SuppressReboot = updates.SuppressServers | updates.SuppressWorkstations
					return d
				}()), Downloaded: enfCached(1)},
			want: enfWant{wait: W(wait(1, updates.WaitRestart, time.Time{})), restart: updates.RestartPlan{Action: updates.RestartSuppressed, Certain: true},
				states: map[uint32]updates.EnforcementState{1: updates.EnforcementPendingRestart}},
		},
		{
			name: "CanRequestRestart: a restart is planned but not certain",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: []*updates.Update{enfUpdate(1, 20, updates.CanRequestRestart)},
				Deployments: deps(enfMandatory(1, enfPassed, 1)), Downloaded: enfCached(1)},
			want: enfWant{install: enfIDs(1), restart: updates.RestartPlan{Action: updates.RestartNow, At: enfHour(12, 20)}},
		},
		{
			name: "pending restart needs only countdown + turnaround: 15 minutes left is enough",
			in: updates.EnforceInput{Now: enfHour(3, 45), Required: []*updates.Update{enfServicePack(10)}, PendingRestart: enfIDs(10),
				Deployments: deps(enfMandatory(1, enfPassed, 10)), Windows: nightly2h, HasWindows: true, Downloaded: enfCached(10)},
			want: enfWant{wait: W(wait(10, updates.WaitRestart, enfHour(3, 45))),
				restart: updates.RestartPlan{Action: updates.RestartNow, At: enfHour(3, 45), Certain: true},
				states:  map[uint32]updates.EnforcementState{1: updates.EnforcementWaitingForRestart}},
		},
		{
			name: "pending restart with 10 minutes left waits for the next window",
			in: updates.EnforceInput{Now: enfHour(3, 50), Required: []*updates.Update{enfServicePack(10)}, PendingRestart: enfIDs(10),
				Deployments: deps(enfMandatory(1, enfPassed, 10)), Windows: nightly2h, HasWindows: true, Downloaded: enfCached(10)},
			want: enfWant{wait: W(wait(10, updates.WaitRestart, enfTomorrow2)),
				restart: updates.RestartPlan{Action: updates.RestartInWindow, At: enfTomorrow2, Certain: true},
				states:  map[uint32]updates.EnforcementState{1: updates.EnforcementPendingRestart}, next: enfTomorrow2},
		},
		{
			name: "no window long enough: 11717",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: four[:1], Deployments: deps(enfMandatory(1, enfPassed, 1)),
				Windows: enfNightly(8, 30*time.Minute), HasWindows: true, Downloaded: enfCached(1)},
			want: enfWant{neverFits: enfIDs(1), states: map[uint32]updates.EnforcementState{1: updates.EnforcementWaitingForWindow}},
		},
		{
			name: "no window long enough, content missing: still downloads, still 11717",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: four[:1], Deployments: deps(enfMandatory(1, enfPassed, 1)),
				Windows: enfNightly(8, 30*time.Minute), HasWindows: true},
			want: enfWant{download: enfIDs(1), neverFits: enfIDs(1)},
		},
		{
			name: "windows but none in the horizon: 11717",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: four[:1], Deployments: deps(enfMandatory(1, enfPassed, 1)),
				HasWindows: true, Downloaded: enfCached(1)},
			want: enfWant{neverFits: enfIDs(1)},
		},
		{
			name: "only the rest of the open window is long enough, and others take it: waits, no later window",
			in: updates.EnforceInput{Now: enfNow, Required: []*updates.Update{enfUpdate(1, 60, 0), enfUpdate(2, 60, 0)},
				Deployments: deps(enfMandatory(1, enfPassed, 1, 2)), Windows: enfNightly(1, 2*time.Hour), HasWindows: true, Downloaded: enfCached(1, 2)},
			want: enfWant{install: enfIDs(1), wait: W(wait(2, updates.WaitWindow, time.Time{}))},
		},
		{
			name: "the running install takes its budget first and continues past the window",
			in: updates.EnforceInput{Now: enfNow, Required: []*updates.Update{enfServicePack(5), four[0], four[1]}, Installing: 5,
				Deployments: deps(enfMandatory(1, enfPassed, 1, 2), enfMandatory(2, enfPassed, 5)),
				Windows:     nightly2h, HasWindows: true, Downloaded: enfCached(1, 2, 5)},
			want: enfWant{install: enfIDs(1), wait: W(wait(2, updates.WaitWindow, enfTomorrow2)),
				restart: updates.RestartPlan{Action: updates.RestartNow, At: enfHour(3, 20), Certain: true},
				states:  map[uint32]updates.EnforcementState{1: updates.EnforcementInstalling, 2: updates.EnforcementInstalling}, next: enfTomorrow2},
		},
		{
			name: "optional deployment: listed as available, nothing else",
			in:   updates.EnforceInput{Now: enfNow, Required: four[:2], Deployments: deps(enfOptional(3, 1, 2)), Windows: nightly2h, HasWindows: true},
			want: enfWant{available: enfIDs(1, 2), states: map[uint32]updates.EnforcementState{3: updates.EnforcementUnknown}},
		},
		{
			name: "optional deployment, the user requests one not cached: it downloads",
			in: updates.EnforceInput{Now: enfNow, Required: four[:2], Deployments: deps(enfOptional(3, 1, 2)), UserRequested: enfIDs(2, 77),
				Windows: nightly2h, HasWindows: true},
			want: enfWant{available: enfIDs(1), download: enfIDs(2), wait: W(wait(2, updates.WaitContent, time.Time{})),
				states: map[uint32]updates.EnforcementState{3: updates.EnforcementDownloading}},
		},
		{
			name: "user request installs outside the window",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: four[:2], Deployments: deps(enfOptional(3, 1, 2)), UserRequested: enfIDs(2),
				Windows: nightly2h, HasWindows: true, Downloaded: enfCached(2)},
			want: enfWant{available: enfIDs(1), install: enfIDs(2), states: map[uint32]updates.EnforcementState{3: updates.EnforcementInstalling}},
		},
		{
			name: "user installs a mandatory update ahead of its deadline",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: four[:2], Deployments: deps(enfMandatory(1, enfNow.Add(72*time.Hour), 1, 2)),
				UserRequested: enfIDs(1), Windows: nightly2h, HasWindows: true, Downloaded: enfCached(1, 2)},
			want: enfWant{install: enfIDs(1), wait: W(wait(2, updates.WaitDeadline, enfNow.Add(72*time.Hour))), next: enfNow.Add(72 * time.Hour)},
		},
		{
			name: "hidden deployments: nothing available, requests ignored",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: four[:2], Deployments: deps(enfOptional(3, 1, 2)), UserRequested: enfIDs(2),
				Downloaded: enfCached(2), Settings: updates.AgentSettings{HideDeployments: true}},
			want: enfWant{},
		},
		{
			name: "disabled, expired and not yet available deployments are ignored",
			in: updates.EnforceInput{Now: enfNow, Required: four[:1], Downloaded: enfCached(1), Deployments: deps(
				func() *updates.Deployment { d := enfMandatory(1, enfPassed, 1); d.Enabled = false; return d }(),
				func() *updates.Deployment { d := enfMandatory(2, enfPassed, 1); d.Expiration = enfNow; return d }(),
				func() *updates.Deployment {
					d := enfMandatory(3, enfNow.Add(48*time.Hour), 1)
					d.Available = enfNow.Add(time.Hour)
					return d
				}())},
			want: enfWant{next: enfNow.Add(time.Hour)},
		},
		{
			name: "enforce all mandatory deployments: a deadline 6 days out joins, 8 days out does not",
			in: updates.EnforceInput{Now: enfNow, Required: four[:3], Downloaded: enfCached(1, 2, 3), Deployments: deps(
				enfMandatory(1, enfPassed, 1), enfMandatory(2, enfNow.Add(6*24*time.Hour), 2), enfMandatory(3, enfNow.Add(8*24*time.Hour), 3))},
			want: enfWant{install: enfIDs(1, 2), wait: W(wait(3, updates.WaitDeadline, enfNow.Add(8*24*time.Hour))),
				states: map[uint32]updates.EnforcementState{1: updates.EnforcementInstalling, 2: updates.EnforcementInstalling, 3: updates.EnforcementDownloaded},
				next:   enfNow.Add(24 * time.Hour)},
		},
		{
			name: "enforce all needs a deadline being enforced",
			in: updates.EnforceInput{Now: enfNow, Required: four[1:3], Downloaded: enfCached(2, 3), Deployments: deps(
				enfMandatory(2, enfNow.Add(6*24*time.Hour), 2), enfMandatory(3, enfNow.Add(8*24*time.Hour), 3))},
			want: enfWant{wait: W(wait(2, updates.WaitDeadline, enfNow.Add(6*24*time.Hour)), wait(3, updates.WaitDeadline, enfNow.Add(8*24*time.Hour))),
				next: enfNow.Add(24 * time.Hour)},
		},
		{
			name: "enforce all turned off",
			in: updates.EnforceInput{Now: enfNow, Required: four[:2], Downloaded: enfCached(1, 2), Settings: updates.AgentSettings{EnforceAllWithin: -1},
				Deployments: deps(enfMandatory(1, enfPassed, 1), enfMandatory(2, enfNow.Add(6*24*time.Hour), 2))},
			want: enfWant{install: enfIDs(1), wait: W(wait(2, updates.WaitDeadline, enfNow.Add(6*24*time.Hour))), next: enfNow.Add(6 * 24 * time.Hour)},
		},
		{
			name: "enforce all with a 3-hour horizon",
			in: updates.EnforceInput{Now: enfNow, Required: four[:3], Downloaded: enfCached(1, 2, 3), Settings: updates.AgentSettings{EnforceAllWithin: 3 * time.Hour},
				Deployments: deps(enfMandatory(1, enfPassed, 1), enfMandatory(2, enfHour(5, 0), 2), enfMandatory(3, enfHour(5, 1), 3))},
			want: enfWant{install: enfIDs(1, 2), wait: W(wait(3, updates.WaitDeadline, enfHour(5, 1))), next: enfHour(2, 1)},
		},
		{
			name: "slow boundary, deployment without DownloadOnSlowBoundary: nothing downloads or installs",
			in:   updates.EnforceInput{Now: enfNow, OnSlowBoundary: true, Required: four[:1], Deployments: deps(enfMandatory(1, enfPassed, 1))},
			want: enfWant{wait: W(wait(1, updates.WaitSlowBoundary, time.Time{})), states: map[uint32]updates.EnforcementState{1: updates.EnforcementUnknown}},
		},
		{
			name: "slow boundary, deployment with DownloadOnSlowBoundary: downloads",
			in: updates.EnforceInput{Now: enfNow, OnSlowBoundary: true, Required: four[:1], Deployments: deps(func() *updates.Deployment {
				d := enfMandatory(1, enfPassed, 1)
				d.Settings.DownloadOnSlowBoundary = true
				return d
			}())},
			want: enfWant{download: enfIDs(1), wait: W(wait(1, updates.WaitContent, time.Time{})),
				states: map[uint32]updates.EnforcementState{1: updates.EnforcementDownloading}},
		},
		{
			name: "update in two deployments: the earliest deadline enforces it",
			in: updates.EnforceInput{Now: enfNow, Required: four[:1], Downloaded: enfCached(1), Settings: updates.AgentSettings{EnforceAllWithin: -1},
				Deployments: deps(enfMandatory(1, enfNow.Add(48*time.Hour), 1), enfMandatory(2, enfNow.Add(24*time.Hour), 1))},
			want: enfWant{wait: W(wait(1, updates.WaitDeadline, enfNow.Add(24*time.Hour))), next: enfNow.Add(24 * time.Hour)},
		},
		{
			name: "update in two deployments: a passed deadline's override applies",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: four[:1], Downloaded: enfCached(1), Windows: nightly2h, HasWindows: true,
				Deployments: deps(enfMandatory(1, enfPassed, 1), func() *updates.Deployment {
					d := enfMandatory(2, enfPassed.Add(-time.Hour), 1)
					d.OverrideServiceWindows = true
					return d
				}())},
			want: enfWant{install: enfIDs(1)},
		},
		{
			name: "update in two deployments: an override whose deadline has not come does not apply",
			in: updates.EnforceInput{Now: enfHour(12, 0), Required: four[:1], Downloaded: enfCached(1), Windows: nightly2h, HasWindows: true,
				Deployments: deps(enfMandatory(1, enfPassed, 1), func() *updates.Deployment {
					d := enfMandatory(2, enfHour(13, 0), 1)
					d.OverrideServiceWindows = true
					return d
				}())},
			want: enfWant{wait: W(wait(1, updates.WaitWindow, enfTomorrow2)), next: enfHour(13, 0)},
		},
	}
	for _, c := range cases {
		enfCompare(t, c.name, enfDecide(t, c.in), c.want)
	}
}

// A deployment in device-local time (UseGMTTimes false) reaches its
// deadline at a different instant in each zone (§1.15 UseGMTTimes, §7
// invariant 10); in UTC mode at the same instant everywhere.
func TestEnforceDeadlineZones(t *testing.T) {
	civil := time.Date(2009, 6, 9, 10, 0, 0, 0, time.UTC) // "10:00" as the wizard stores it
	now := time.Date(2009, 6, 9, 9, 0, 0, 0, time.UTC)
	paris, newYork := time.FixedZone("CEST", 2*3600), time.FixedZone("EDT", -4*3600)
	cases := []struct {
		name    string
		gmt     bool
		loc     *time.Location
		install bool
		until   time.Time
	}{
		{"local time, UTC+2: 10:00 local was 08:00 UTC", false, paris, true, time.Time{}},
		{"local time, UTC-4: 10:00 local is 14:00 UTC", false, newYork, false, time.Date(2009, 6, 9, 14, 0, 0, 0, time.UTC)},
		{"local time, nil zone reads UTC", false, nil, false, civil},
		{"UTC, UTC+2", true, paris, false, civil},
		{"UTC, UTC-4", true, newYork, false, civil},
	}
	for _, c := range cases {
		d := enfMandatory(1, civil, 1)
		d.Available = civil.Add(-48 * time.Hour)
		d.Settings.UseGMTTimes = c.gmt
		p := enfDecide(t, updates.EnforceInput{Now: now, Location: c.loc, Required: []*updates.Update{enfUpdate(1, 20, 0)},
			Deployments: []*updates.Deployment{d}, Downloaded: enfCached(1), Settings: updates.AgentSettings{EnforceAllWithin: -1}})
		if got := len(p.Install) == 1; got != c.install {
			t.Errorf("%s: installs %t, want %t (%+v)", c.name, got, c.install, p)
		}
		if !c.install {
			if len(p.Wait) != 1 || p.Wait[0].Reason != updates.WaitDeadline || !p.Wait[0].Until.Equal(c.until) {
				t.Errorf("%s: Wait = %v, want the deadline at %v", c.name, p.Wait, c.until)
			}
			if !p.Deployments[0].Deadline.Equal(c.until) || !p.NextCheck.Equal(c.until) {
				t.Errorf("%s: deadline %v, next check %v, want %v", c.name, p.Deployments[0].Deadline, p.NextCheck, c.until)
			}
		}
	}
}

// Topic 300 per deployment (§4.3): compliant when none of its updates is
// Required, whatever is happening to the others.
func TestEnforceDeploymentCompliance(t *testing.T) {
	p := enfDecide(t, updates.EnforceInput{Now: enfNow, Required: []*updates.Update{enfUpdate(2, 20, 0)},
		Deployments: []*updates.Deployment{enfMandatory(1, enfPassed, 1, 3), enfMandatory(2, enfPassed, 1, 2), enfOptional(3, 2)}})
	want := []updates.DeploymentStatus{
		{ID: 1, Compliance: updates.AssignmentCompliant, Deadline: enfPassed, Due: true},
		{ID: 2, Compliance: updates.AssignmentNonCompliant, Deadline: enfPassed, Due: true, Enforcement: updates.EnforcementDownloading},
		{ID: 3, Compliance: updates.AssignmentNonCompliant},
	}
	if !slices.EqualFunc(p.Deployments, want, func(a, b updates.DeploymentStatus) bool {
		return a.ID == b.ID && a.Compliance == b.Compliance && a.Enforcement == b.Enforcement && a.Due == b.Due && a.Blocked == b.Blocked && a.Deadline.Equal(b.Deadline)
	}) {
		t.Errorf("Deployments = %+v, want %+v", p.Deployments, want)
	}
}

// Downloads are ordered by need: due or requested first, then by deadline.
func TestEnforceDownloadOrder(t *testing.T) {
	p := enfDecide(t, updates.EnforceInput{Now: enfNow, Settings: updates.AgentSettings{EnforceAllWithin: -1},
		Required: []*updates.Update{enfUpdate(1, 20, 0), enfUpdate(2, 20, 0), enfUpdate(3, 20, 0), enfUpdate(4, 20, 0), enfUpdate(5, 20, 0)},
		Deployments: []*updates.Deployment{enfMandatory(1, enfNow.Add(72*time.Hour), 1), enfMandatory(2, enfNow.Add(24*time.Hour), 2),
			enfMandatory(3, enfPassed, 5), enfOptional(4, 3, 4)},
		UserRequested: enfIDs(4)})
	if want := enfIDs(4, 5, 2, 1); !slices.Equal(p.Download, want) {
		t.Errorf("Download = %v, want %v", p.Download, want)
	}
}

// Every problem of the input is reported at once, each naming its field.
func TestEnforceInvalidInput(t *testing.T) {
	in := updates.EnforceInput{
		Required:       []*updates.Update{enfUpdate(1, 20, 0), nil, enfUpdate(0, 20, 0), enfUpdate(1, 30, 0)},
		Deployments:    []*updates.Deployment{enfOptional(1, 1), nil},
		Installing:     9,
		PendingRestart: enfIDs(1, 8),
		Settings:       updates.AgentSettings{RestartCountdown: -time.Minute, RestartTurnaround: -1, EnforceAllWithin: 25 * time.Hour},
	}
	_, err := updates.Enforce(in)
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("Enforce = %v, want ErrInvalid", err)
	}
	for _, field := range []string{"EnforceInput.Now", "EnforceInput.Required[1]", "EnforceInput.Required[2].CIID", "EnforceInput.Required[3].CIID",
		"EnforceInput.Deployments[1]", "EnforceInput.Installing", "EnforceInput.PendingRestart[1]",
		"EnforceInput.Settings.RestartCountdown", "EnforceInput.Settings.RestartTurnaround", "EnforceInput.Settings.EnforceAllWithin"} {
		if !strings.Contains(err.Error(), "invalid "+field+" ") && !strings.Contains(err.Error(), "invalid "+field+":") {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
	if strings.Contains(err.Error(), "PendingRestart[0]") {
		t.Errorf("PendingRestart[0] is Required and valid: %v", err)
	}
	in = updates.EnforceInput{Now: enfNow, Required: []*updates.Update{enfUpdate(1, 20, 0)}, Installing: 1, PendingRestart: enfIDs(1)}
	if _, err := updates.Enforce(in); err == nil || !strings.Contains(err.Error(), "PendingRestart[0]") {
		t.Errorf("an update both installing and pending restart: %v", err)
	}
}

// §1.16: "Enforce all mandatory deployments" takes 1–23 hours or 1–365 days.
func TestAgentSettingsValidate(t *testing.T) {
	ok := []time.Duration{0, -1, time.Hour, 23 * time.Hour, 24 * time.Hour, 48 * time.Hour, 365 * 24 * time.Hour}
	bad := []time.Duration{90 * time.Minute, 25 * time.Hour, 366 * 24 * time.Hour, time.Second}
	for _, d := range ok {
		if err := (updates.AgentSettings{EnforceAllWithin: d}).Validate(); err != nil {
			t.Errorf("EnforceAllWithin %v: %v", d, err)
		}
	}
	for _, d := range bad {
		err := (updates.AgentSettings{EnforceAllWithin: d}).Validate()
		var ve *consign.ValidationError
		if !errors.As(err, &ve) || ve.Field != "AgentSettings.EnforceAllWithin" {
			t.Errorf("EnforceAllWithin %v: %v, want a ValidationError for the field", d, err)
		}
	}
	if err := updates.DefaultAgentSettings().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	def := updates.DefaultAgentSettings()
	if def.RestartCountdown != 5*time.Minute || def.RestartTurnaround != 10*time.Minute || def.EnforceAllWithin != 7*24*time.Hour {
		t.Errorf("DefaultAgentSettings = %+v, want 5 min, 10 min, 7 days (§1.16, §5.1)", def)
	}
	// §3.6: 20 + 5 + 10 and 60 + 5 + 10; the zero value budgets the same.
	var zero updates.AgentSettings
	if b := zero.Budget(enfUpdate(1, 0, 0)); b != 35*time.Minute {
		t.Errorf("budget of a 20-minute update = %v, want 35m", b)
	}
	if b := def.Budget(enfServicePack(2)); b != 75*time.Minute {
		t.Errorf("budget of a service pack = %v, want 75m", b)
	}
	if b := (updates.AgentSettings{RestartCountdown: time.Minute, RestartTurnaround: 2 * time.Minute}).Budget(enfUpdate(1, 7, 0)); b != 10*time.Minute {
		t.Errorf("budget with custom settings = %v, want 10m", b)
	}
}

// The compliance transitions of §4.3 after a successful install.
func TestStateAfterInstall(t *testing.T) {
	never, always, can := enfUpdate(1, 0, updates.NeverRestarts), enfUpdate(2, 0, updates.AlwaysRequiresRestart), enfUpdate(3, 0, updates.CanRequestRestart)
	cases := []struct {
		u                 *updates.Update
		exit3010, restart bool
		want              updates.ComplianceState
	}{
		{never, false, false, updates.Installed},
		{never, true, false, updates.Required}, // the installer asked anyway
		{never, true, true, updates.Installed},
		{always, false, false, updates.Required},
		{always, false, true, updates.Installed},
		{can, false, false, updates.Installed},
		{can, true, false, updates.Required},
		{can, true, true, updates.Installed},
		{nil, false, false, updates.Installed},
		{nil, true, false, updates.Required},
	}
	for _, c := range cases {
		r := "nil"
		if c.u != nil {
			r = c.u.Restart.String()
		}
		if got := updates.StateAfterInstall(c.u, c.exit3010, c.restart); got != c.want {
			t.Errorf("StateAfterInstall(%s, exit needs restart %t, restarted %t) = %v, want %v", r, c.exit3010, c.restart, got, c.want)
		}
	}
}

func TestEnforceNames(t *testing.T) {
	for r, name := range map[updates.WaitReason]string{updates.WaitDeadline: "Deadline", updates.WaitContent: "Content", updates.WaitWindow: "Window",
		updates.WaitSlowBoundary: "SlowBoundary", updates.WaitRestart: "Restart", 0: "WaitReason(0)"} {
		if r.String() != name {
			t.Errorf("WaitReason %d = %q, want %q", int(r), r.String(), name)
		}
	}
	for a, name := range map[updates.RestartAction]string{updates.RestartNone: "None", updates.RestartNow: "Now", updates.RestartInWindow: "InWindow",
		updates.RestartSuppressed: "Suppressed", 9: "RestartAction(9)"} {
		if a.String() != name {
			t.Errorf("RestartAction %d = %q, want %q", int(a), a.String(), name)
		}
	}
}
