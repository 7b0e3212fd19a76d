package updates

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/schedule"
)

// The client agent defaults that shape enforcement (§1.16, §3.6, §5.1).
const (
	// DefaultRestartCountdown is the restart countdown the Computer Client
	// Agent shows before a restart [B-mw].
	DefaultRestartCountdown = 5 * time.Minute
	// DefaultRestartTurnaround is the site's "system restart turnaround
	// time": how long a restart takes, budgeted in every update's window fit
	// [B-mw].
	DefaultRestartTurnaround = 10 * time.Minute
	// DefaultEnforceAllWithin is the horizon of the Software Updates Client
	// Agent's "Enforce all mandatory deployments" setting.
	DefaultEnforceAllWithin = 7 * 24 * time.Hour
)

// AgentSettings are the site-wide client agent settings that shape the
// enforcement decision (§1.16). The zero value means the defaults.
type AgentSettings struct {
	// RestartCountdown is the countdown shown before a restart; zero means
	// DefaultRestartCountdown (5 minutes).
	RestartCountdown time.Duration
	// RestartTurnaround is how long a restart takes; zero means
	// DefaultRestartTurnaround (10 minutes).
	RestartTurnaround time.Duration
	// EnforceAllWithin is "Enforce all mandatory deployments": when one
	// deadline is enforced, the required updates of every other mandatory
	// deployment whose deadline falls within this much of now install in
	// the same pass (§1.16, §3.7 step 5). Zero means DefaultEnforceAllWithin
	// (7 days); a negative value turns the setting off. The console accepts
	// 1–23 hours or 1–365 days. [UNVERIFIED] whether the checkbox is ticked
	// on a new 2007 site; Consign's zero value has it on.
	EnforceAllWithin time.Duration
	// HideDeployments is "Hide all deployments from end users": nothing is
	// listed in Available Software Updates and the user cannot start an
	// install (§1.16, §3.7 step 4).
	HideDeployments bool
}

// DefaultAgentSettings returns the settings a new site has: the zero value
// with every default spelled out.
func DefaultAgentSettings() AgentSettings {
	return AgentSettings{
		RestartCountdown:  DefaultRestartCountdown,
		RestartTurnaround: DefaultRestartTurnaround,
		EnforceAllWithin:  DefaultEnforceAllWithin,
	}
}

// Validate reports every setting out of range, each as a
// *consign.ValidationError naming the field.
func (s AgentSettings) Validate() error {
	var p consign.Problems
	s.check(&p, "AgentSettings")
	return p.Err()
}

func (s AgentSettings) check(p *consign.Problems, at string) {
	if s.RestartCountdown < 0 {
		p.AddValue(at+".RestartCountdown", s.RestartCountdown, "zero (the 5-minute default) or positive")
	}
	if s.RestartTurnaround < 0 {
		p.AddValue(at+".RestartTurnaround", s.RestartTurnaround, "zero (the 10-minute default) or positive")
	}
	if d := s.EnforceAllWithin; d > 0 && (d%time.Hour != 0 || d > 23*time.Hour && (d%(24*time.Hour) != 0 || d > 365*24*time.Hour)) {
		p.AddValue(at+".EnforceAllWithin", d, "1–23 whole hours or 1–365 whole days (§1.16); zero for 7 days, negative for off")
	}
}

// effective returns s with zero values replaced by the defaults, and the
// enforce-all horizon (negative: off).
func (s AgentSettings) effective() AgentSettings {
	if s.RestartCountdown == 0 {
		s.RestartCountdown = DefaultRestartCountdown
	}
	if s.RestartTurnaround == 0 {
		s.RestartTurnaround = DefaultRestartTurnaround
	}
	if s.EnforceAllWithin == 0 {
		s.EnforceAllWithin = DefaultEnforceAllWithin
	}
	return s
}

// Budget is the time the client reserves in a maintenance window to install
// u: its EffectiveMaxExecutionTime plus the restart countdown and the
// restart turnaround (§3.6), whatever u's RestartBehavior, as the SDK's rule
// does: the client cannot know before the install whether it will ask for a
// restart.
func (s AgentSettings) Budget(u *Update) time.Duration {
	e := s.effective()
	return u.EffectiveMaxExecutionTime() + e.RestartCountdown + e.RestartTurnaround
}

// EnforceInput is everything Enforce needs to know about one device at one
// instant.
type EnforceInput struct {
	// Now is the instant of the decision.
	Now time.Time
	// Location is the device's time zone; nil means UTC. Deployments whose
	// Settings.UseGMTTimes is false read their times in it (Deployment.At).
	Location *time.Location
	// Server is the device's class for SuppressReboot: a server when true,
	// a workstation otherwise.
	Server bool
	// Required are the device's updates whose compliance state (topic 500)
	// is Required; only these are acted on (§3.7 step 3). Each needs a
	// distinct non-zero CIID.
	Required []*Update
	// Deployments are the deployments targeting the device. Enforce skips
	// the disabled ones and those not yet available or expired at Now, so a
	// caller can pass them all.
	Deployments []*Deployment
	// Windows are the device's effective maintenance windows (General and
	// Software Updates types, the union over its collections, §1.7, §3.6),
	// covering the horizon the caller wants NeverFits judged over: a week
	// at least, a month for monthly windows. Overlapping or touching spans
	// are merged.
	Windows []schedule.Span
	// HasWindows is true when the device is in at least one collection with
	// an enabled window: then an empty Windows means no window in the
	// horizon, and gated installs wait or never fit. When false and Windows
	// is empty the device has no maintenance windows and installs and
	// restarts at any time. This is advertisement.DeviceFacts' convention.
	HasWindows bool
	// OnSlowBoundary is true when the device is on a slow or unreliable
	// boundary: a deployment without Settings.DownloadOnSlowBoundary then
	// neither downloads nor installs its updates (§1.15 Download Settings).
	OnSlowBoundary bool
	// Downloaded reports whether an update's content is in the client
	// cache; nil means nothing is.
	Downloaded func(CIID) bool
	// Installing is the update being installed now (0: none). It continues
	// past the end of its window (§3.6) and the installs of this pass queue
	// behind it. It must be one of Required.
	Installing CIID
	// PendingRestart are the updates installed and waiting for a restart to
	// finish; they stay Required until the restart (§3.7 step 6, §4.3) and
	// are not installed again. Each must be one of Required.
	PendingRestart []CIID
	// UserRequested are the updates the user chose to install now in the
	// Available Software Updates dialog: those of optional deployments, or
	// mandatory ones ahead of their deadline (§3.7 steps 4–5). CIIDs that
	// are not Required are ignored.
	UserRequested []CIID
	// Settings are the client agent settings; the zero value means the
	// defaults.
	Settings AgentSettings
}

// WaitReason says why a required update is not installing now.
type WaitReason uint8

// The wait reasons.
const (
	// WaitDeadline: a mandatory update before its deadline; it installs at
	// the deadline (Waiting.Until) or earlier at the user's request.
	WaitDeadline WaitReason = iota + 1
	// WaitContent: due, but its content is not in the cache yet; it is in
	// EnforcePlan.Download.
	WaitContent
	// WaitWindow: due, but the open window (if any) has too little time
	// left; Waiting.Until is the start of the next window long enough, zero
	// when no later window in the horizon is.
	WaitWindow
	// WaitSlowBoundary: every deployment offering the update forbids
	// downloads on the slow boundary the device is on (§1.15).
	WaitSlowBoundary
	// WaitRestart: installed, waiting for the restart to finish
	// (EnforcePlan.Restart; Until is its time, zero when suppressed or no
	// window in the horizon holds it).
	WaitRestart
)

// String returns the reason's name.
func (r WaitReason) String() string {
	switch r {
	case WaitDeadline:
		return "Deadline"
	case WaitContent:
		return "Content"
	case WaitWindow:
		return "Window"
	case WaitSlowBoundary:
		return "SlowBoundary"
	case WaitRestart:
		return "Restart"
	}
	return fmt.Sprintf("WaitReason(%d)", int(r))
}

// Waiting is a required update that does not install now, and why.
type Waiting struct {
	CIID   CIID       // the update
	Reason WaitReason // why it waits
	// Until is the earliest instant the update can go, when known (see the
	// reasons); zero otherwise.
	Until time.Time
}

// RestartAction is what the client does about a restart.
type RestartAction uint8

// The restart actions (§3.6, §3.7 step 6, §4.4).
const (
	// RestartNone: nothing installed or pending needs a restart.
	RestartNone RestartAction = iota
	// RestartNow: restart, after the countdown, as soon as this pass's
	// installs finish (at once when nothing installs): there are no
	// windows, a window holds it, or a deployment allows restarts outside
	// windows. Topic 301 state 2.
	RestartNow
	// RestartInWindow: wait for the window starting at RestartPlan.At, the
	// first after the installs that holds countdown + turnaround (zero:
	// none in the horizon). Topic 301 state 5.
	RestartInWindow
	// RestartSuppressed: every update needing the restart belongs only to
	// deployments that suppress restarts for the device's class; the device
	// stays pending restart and the updates stay Required until someone
	// restarts it. Topic 301 state 5.
	RestartSuppressed
)

// String returns the action's name.
func (a RestartAction) String() string {
	switch a {
	case RestartNone:
		return "None"
	case RestartNow:
		return "Now"
	case RestartInWindow:
		return "InWindow"
	case RestartSuppressed:
		return "Suppressed"
	}
	return fmt.Sprintf("RestartAction(%d)", int(a))
}

// RestartPlan is the restart decision.
type RestartPlan struct {
	// Action is what the client does.
	Action RestartAction
	// At is when the restart countdown starts: for RestartNow the
	// worst-case end of this pass's installs (Now plus their maximum
	// execution times), for RestartInWindow the window's start.
	At time.Time
	// Certain is false when only CanRequestRestart updates might ask for
	// the restart: it happens only if one of them does (exit code 3010).
	// A pending restart or an AlwaysRequiresRestart install makes it true.
	Certain bool
}

// DeploymentStatus is what the device reports for one deployment.
type DeploymentStatus struct {
	// ID is the deployment's AssignmentID.
	ID uint32
	// Enforcement is the topic 301 state the client reports now (§4.4).
	Enforcement EnforcementState
	// Compliance is topic 300: compliant when none of the deployment's
	// updates is Required on the device (§4.3).
	Compliance AssignmentCompliance
	// Deadline is the deadline as an instant for this device (zero for an
	// optional deployment).
	Deadline time.Time
	// Due is true when the deployment is being enforced: its deadline has
	// passed, or "Enforce all mandatory deployments" pulled it in.
	Due bool
	// Blocked is true when the device is on a slow boundary and the
	// deployment does not allow downloads there; its updates are neither
	// downloaded nor installed through it and Enforcement stays Unknown.
	Blocked bool
}

// EnforcePlan is the decision for one device at one instant.
type EnforcePlan struct {
	// Download are the required updates to fetch into the cache, most
	// urgent first (due or requested, then by deadline; ties by CIID):
	// those of available mandatory deployments, before their deadline too
	// (§3.7 step 5), and those the user requested. Downloads are never
	// gated by windows (§3.6).
	Download []CIID
	// Install are the updates to install in this pass, in order: shortest
	// EffectiveMaxExecutionTime first, ties by CIID (§3.6). The client runs
	// them one after another, after the update already Installing. Every
	// window-gated one fits the open window when each install before it —
	// the running one included — takes its full budget (AgentSettings.Budget).
	// Only downloaded updates install. A client may call Enforce again after
	// each install, with the real time, to re-check.
	Install []CIID
	// Wait are the required updates that do not install now, by CIID.
	Wait []Waiting
	// NeverFits are the due updates that no current or future window in
	// the horizon can hold: status message MsgNoWindowFits (11717, §3.6).
	// By CIID.
	NeverFits []CIID
	// Available are the required updates of available optional
	// deployments, listed in Available Software Updates, that the user has
	// not requested and that are not installing or pending a restart
	// (§3.7 step 4). By CIID.
	Available []CIID
	// Restart is the restart decision.
	Restart RestartPlan
	// Deployments are the statuses of the deployments available at Now, in
	// input order.
	Deployments []DeploymentStatus
	// NextCheck is the first instant after Now at which the decision changes
	// with the same inputs (an available, deadline, expiration or
	// enforce-all horizon time passes, or a window a waiting update or the
	// restart needs opens); zero if none. The caller also decides again when
	// an input changes: a download or an install finishes, policy changes.
	NextCheck time.Time
}

// disposition is what the plan does with one required update.
type disposition uint8

const (
	dispNone      disposition = iota // not offered by any usable deployment
	dispAvailable                    // offered by an optional deployment only
	dispDeadline                     // waits for its deadline
	dispContent                      // due, waits for its content
	dispWindow                       // due, waits for a window
	dispNeverFits                    // due, no window can hold it
	dispSlow                         // blocked by the slow boundary
	dispInstall                      // installs in this pass
	dispRunning                      // installing already
	dispPending                      // installed, waits for the restart
)

// enfItem is Enforce's working record for one required update.
type enfItem struct {
	u                   *Update
	id                  CIID
	exec, budget        time.Duration // EffectiveMaxExecutionTime, and with the restart
	download            bool          // in EnforcePlan.Download
	deadline            time.Time     // earliest deadline among usable mandatory deployments
	mandatory, optional bool          // offered by a usable deployment of that kind
	blocked             bool          // offered by a deployment the slow boundary blocks
	blockedMandatory    bool          // ... a mandatory one
	override            bool          // a usable deployment whose deadline passed overrides windows
	requested           bool
	downloaded          bool
	running, pending    bool
	governing, suppress int32 // active deployments offering it, and those suppressing the restart
	outside             bool  // one of them allows restarts outside windows
	due                 bool
	disp                disposition
}

// enfDeployment is one available deployment as the device reads it.
type enfDeployment struct {
	d        *Deployment
	deadline time.Time
	usable   bool
}

// Enforce decides what the software updates client agent of one device
// does at in.Now (§3.6, §3.7 steps 3–9, §4.4):
//
//  1. A deployment counts when it is enabled, available (Available reached)
//     and not expired (Expiration not reached), its times read by
//     Deployment.At in the device's zone unless UseGMTTimes. On a slow
//     boundary a deployment without DownloadOnSlowBoundary is Blocked: its
//     updates are neither downloaded nor installed through it (§1.15).
//  2. Only Required updates are acted on. An update in several usable
//     mandatory deployments is enforced by the earliest deadline; the most
//     permissive window override among those whose deadline has passed
//     applies ([UNVERIFIED]: the reference is silent; a deployment whose
//     deadline has not come cannot yet override).
//  3. Required updates of usable mandatory deployments download at once,
//     before the deadline too, and so do user-requested ones (§3.7 step 5).
//  4. An update is due when its deadline has passed. Then "Enforce all
//     mandatory deployments" makes every update whose deadline lies within
//     AgentSettings.EnforceAllWithin of now due in the same pass (§1.16).
//     Before its deadline an update only downloads, unless the user
//     requested it.
//  5. A due update installs, if downloaded, when the deployment overrides
//     windows, when the device has no windows, or when the open window
//     still holds its budget (max execution time + restart countdown +
//     restart turnaround, §3.6) after the budgets of the installs queued
//     before it, the running one included. Installs go shortest max
//     execution time first; one that does not fit is skipped and the next
//     tried (§3.6). A gated update that no current (from now) or future
//     window holds is NeverFits (11717). A user-requested install is not
//     gated by windows ([UNVERIFIED] for 2007, §3.6, §8 item 6).
//  6. Restart (§3.7 step 6): needed by the running install, this pass's
//     installs and PendingRestart, for AlwaysRequiresRestart and
//     (possibly) CanRequestRestart updates. An update's restart is
//     suppressed when every available deployment offering it suppresses
//     restarts for the device's class; the restart is suppressed when
//     every update needing it is ([UNVERIFIED]: one deployment that allows
//     it restarts the device, which completes the others too). Otherwise it
//     happens when the installs end if there are no windows, a deployment
//     of an unsuppressed update allows restarts outside windows, or a
//     window then holds countdown + turnaround; else in the next window
//     that does. An update offered by no available deployment is never
//     suppressed.
//  7. Each deployment's topic 301 state follows its most active required
//     update: installing (1), downloading (7), waiting for a window (10),
//     waiting for restart (2, restart now) or pending restart (5), then
//     downloaded (8, before the deadline). An optional deployment counts
//     only the updates the user requested, the running one and those
//     pending a restart. A deployment with nothing to do reports unknown
//     (0): the decision has no history, and "successfully installed" (4)
//     is an event the caller records when installs finish.
//
// Bad input (a zero Now, nil or duplicate updates, a zero CIID, nil
// deployments, Installing or PendingRestart not Required, settings out of
// range) is reported all at once as *consign.ValidationError values.
func Enforce(in EnforceInput) (EnforcePlan, error) {
	idx, err := in.check()
	if err != nil {
		return EnforcePlan{}, err
	}
	e := enforcer{in: in, idx: idx, s: in.Settings.effective(), now: in.Now, loc: in.Location,
		gatedDevice: in.HasWindows || len(in.Windows) > 0}
	if e.loc == nil {
		e.loc = time.UTC
	}
	if len(in.Windows) > 0 {
		e.windows = schedule.Union(in.Windows)
	}
	e.wf.init(e.windows, e.now)
	e.next.now = e.now
	e.restartNeed = e.s.RestartCountdown + e.s.RestartTurnaround

	e.scan()
	e.dispose()
	var plan EnforcePlan
	execTime := e.fit(&plan)
	plan.Restart = planRestart(e.items, e.windows, e.gatedDevice, e.now.Add(execTime), e.restartNeed)
	if plan.Restart.Action == RestartInWindow {
		e.next.add(plan.Restart.At)
	}
	e.lists(&plan)
	e.statuses(&plan)
	plan.NextCheck = e.next.at
	return plan, nil
}

// enforcer is Enforce's working state.
type enforcer struct {
	in          EnforceInput
	idx         map[CIID]int // Required by CIID
	s           AgentSettings
	now         time.Time
	loc         *time.Location
	windows     []schedule.Span // merged and sorted
	wf          windowFacts
	gatedDevice bool          // the device has maintenance windows
	restartNeed time.Duration // countdown + turnaround
	next        nextCheck

	items   []enfItem
	deps    []enfDeployment
	horizon time.Time // deadlines at or before it are due
	// order lists the items by CIID, so that the lists filled from it come
	// out sorted; queue holds the items for the fit pass. They share one
	// allocation.
	order, queue []int32
	nDownload    int
}

// scan reads the deployments (Enforce rules 1–2): which are available, and
// what each required update gets from them.
func (e *enforcer) scan() {
	in, now := &e.in, e.now
	e.items = make([]enfItem, len(in.Required))
	for i, u := range in.Required {
		exec := u.EffectiveMaxExecutionTime()
		e.items[i] = enfItem{u: u, id: u.CIID, exec: exec, budget: exec + e.restartNeed}
		if in.Downloaded != nil {
			e.items[i].downloaded = in.Downloaded(u.CIID)
		}
	}
	e.deps = make([]enfDeployment, 0, len(in.Deployments))
	for _, d := range in.Deployments {
		if !d.Enabled {
			continue
		}
		avail, deadline, expiry := d.At(d.Available, e.loc), d.At(d.Deadline, e.loc), d.At(d.Expiration, e.loc)
		e.next.add(avail)
		e.next.add(expiry)
		if !avail.IsZero() && now.Before(avail) || !expiry.IsZero() && !now.Before(expiry) {
			continue
		}
		e.next.add(deadline)
		if e.s.EnforceAllWithin > 0 && !deadline.IsZero() {
			e.next.add(deadline.Add(-e.s.EnforceAllWithin))
		}
		usable := !in.OnSlowBoundary || d.Settings.DownloadOnSlowBoundary
		e.deps = append(e.deps, enfDeployment{d: d, deadline: deadline, usable: usable})
		mandatory := !deadline.IsZero()
		suppress := d.Settings.SuppressReboot&SuppressWorkstations != 0
		if in.Server {
			suppress = d.Settings.SuppressReboot&SuppressServers != 0
		}
		for _, id := range d.Updates {
			k, ok := e.idx[id]
			if !ok {
				continue
			}
			it := &e.items[k]
			it.governing++
			if suppress {
				it.suppress++
			}
			it.outside = it.outside || d.Settings.RebootOutsideServiceWindows
			switch {
			case !usable:
				it.blocked = true
				it.blockedMandatory = it.blockedMandatory || mandatory
			case !mandatory:
				it.optional = true
			default:
				if !it.mandatory || deadline.Before(it.deadline) {
					it.deadline = deadline
				}
				it.mandatory = true
				it.override = it.override || d.OverrideServiceWindows && !now.Before(deadline)
			}
		}
	}
	if in.Installing != 0 {
		e.items[e.idx[in.Installing]].running = true
	}
	for _, id := range in.PendingRestart {
		e.items[e.idx[id]].pending = true
	}
	if !e.s.HideDeployments {
		for _, id := range in.UserRequested {
			if k, ok := e.idx[id]; ok {
				e.items[k].requested = true
			}
		}
	}

	// Enforce all mandatory deployments (§1.16): a deadline being enforced
	// pulls in every deadline within the horizon.
	e.horizon = now
	if e.s.EnforceAllWithin > 0 {
		for i := range e.items {
			if it := &e.items[i]; it.mandatory && !it.pending && !now.Before(it.deadline) {
				e.horizon = now.Add(e.s.EnforceAllWithin)
				break
			}
		}
	}
}

// dispose gives each item its disposition short of the fit pass (Enforce
// rules 3–5), and queues the ones ready to install.
func (e *enforcer) dispose() {
	items := e.items
	buf := make([]int32, 2*len(items))
	e.order, e.queue = buf[:len(items)], buf[len(items):len(items)]
	for i := range e.order {
		e.order[i] = int32(i)
	}
	slices.SortFunc(e.order, func(a, b int32) int { return cmp.Compare(items[a].id, items[b].id) })
	for _, k := range e.order {
		it := &items[k]
		it.due = it.mandatory && !e.horizon.Before(it.deadline)
		switch {
		case it.pending:
			it.disp = dispPending
			continue
		case it.running:
			it.disp = dispRunning
			continue
		case !it.mandatory && !it.optional:
			if it.blocked && (it.blockedMandatory || it.requested) {
				it.disp = dispSlow
			}
			continue
		case !it.mandatory && !it.requested:
			it.disp = dispAvailable
			continue
		}
		if !it.downloaded {
			it.download = true
			e.nDownload++
		}
		switch {
		case !it.due && !it.requested:
			it.disp = dispDeadline
		case it.gated(e.gatedDevice) && !e.wf.everFits(it.budget):
			it.disp = dispNeverFits
		case !it.downloaded:
			it.disp = dispContent
		default:
			e.queue = append(e.queue, k)
		}
	}
}

// fit is the fit pass (§3.6): shortest first, each against what is left
// of the open window after the budgets queued before it, the running
// install's first. It fills plan.Install and returns the worst-case
// execution time of the running install and this pass's.
func (e *enforcer) fit(plan *EnforcePlan) time.Duration {
	items := e.items
	slices.SortFunc(e.queue, func(a, b int32) int {
		return cmp.Or(cmp.Compare(items[a].exec, items[b].exec), cmp.Compare(items[a].id, items[b].id))
	})
	var elapsed, execTime time.Duration
	if e.in.Installing != 0 {
		run := &items[e.idx[e.in.Installing]]
		elapsed, execTime = run.budget, run.exec
	}
	n := 0
	for _, k := range e.queue {
		it := &items[k]
		if it.gated(e.gatedDevice) && !(e.wf.isOpen && !e.now.Add(elapsed+it.budget).After(e.wf.open.End)) {
			it.disp = dispWindow
			continue
		}
		it.disp = dispInstall
		n++
		elapsed += it.budget
		execTime += it.exec
	}
	if n > 0 {
		plan.Install = make([]CIID, 0, n)
		for _, k := range e.queue {
			if items[k].disp == dispInstall {
				plan.Install = append(plan.Install, items[k].id)
			}
		}
	}
	return execTime
}

// lists fills Wait, NeverFits, Available and Download from the
// dispositions, each allocated once at its size.
func (e *enforcer) lists(plan *EnforcePlan) {
	items, hidden := e.items, e.s.HideDeployments
	var nWait, nNever, nAvail int
	for i := range items {
		it := &items[i]
		switch it.disp {
		case dispInstall, dispRunning, dispNone, dispAvailable:
		case dispNeverFits:
			nNever++
		default:
			nWait++
		}
		if it.available(hidden) {
			nAvail++
		}
	}
	if nWait > 0 {
		plan.Wait = make([]Waiting, 0, nWait)
	}
	if nNever > 0 {
		plan.NeverFits = make([]CIID, 0, nNever)
	}
	if nAvail > 0 {
		plan.Available = make([]CIID, 0, nAvail)
	}
	if e.nDownload > 0 {
		plan.Download = make([]CIID, 0, e.nDownload)
	}
	dl := e.queue[:0] // the queue's room, reused for the downloads
	for _, k := range e.order {
		it := &items[k]
		if it.available(hidden) {
			plan.Available = append(plan.Available, it.id)
		}
		if it.download {
			dl = append(dl, k)
		}
		var w Waiting
		switch it.disp {
		case dispNeverFits:
			plan.NeverFits = append(plan.NeverFits, it.id)
			continue
		case dispDeadline:
			w = Waiting{CIID: it.id, Reason: WaitDeadline, Until: it.deadline}
		case dispContent:
			w = Waiting{CIID: it.id, Reason: WaitContent}
		case dispWindow:
			w = Waiting{CIID: it.id, Reason: WaitWindow, Until: e.wf.firstFit(it.budget)}
			e.next.add(w.Until)
		case dispSlow:
			w = Waiting{CIID: it.id, Reason: WaitSlowBoundary}
		case dispPending:
			w = Waiting{CIID: it.id, Reason: WaitRestart}
			if plan.Restart.Action != RestartSuppressed {
				w.Until = plan.Restart.At
			}
		default:
			continue
		}
		plan.Wait = append(plan.Wait, w)
	}
	// Downloads by need: due or requested first, then by deadline, then
	// by CIID.
	slices.SortFunc(dl, func(a, b int32) int {
		x, y := &items[a], &items[b]
		if c := cmp.Compare(x.urgent(), y.urgent()); c != 0 {
			return c
		}
		if x.urgent() == 1 {
			if c := x.deadline.Compare(y.deadline); c != 0 {
				return c
			}
		}
		return cmp.Compare(x.id, y.id)
	})
	for _, k := range dl {
		plan.Download = append(plan.Download, items[k].id)
	}
}

// statuses fills plan.Deployments (Enforce rule 7, topic 300).
func (e *enforcer) statuses(plan *EnforcePlan) {
	if len(e.deps) == 0 {
		return
	}
	plan.Deployments = make([]DeploymentStatus, len(e.deps))
	for i, dep := range e.deps {
		mandatory := !dep.deadline.IsZero()
		st := DeploymentStatus{ID: dep.d.ID, Deadline: dep.deadline, Compliance: AssignmentCompliant, Blocked: !dep.usable,
			Due: mandatory && dep.usable && !e.horizon.Before(dep.deadline)}
		rank := 0
		for _, id := range dep.d.Updates {
			k, ok := e.idx[id]
			if !ok {
				continue
			}
			st.Compliance = AssignmentNonCompliant
			if !dep.usable {
				continue
			}
			if r, state := e.items[k].enforcement(mandatory, plan.Restart.Action); r > rank {
				rank, st.Enforcement = r, state
			}
		}
		plan.Deployments[i] = st
	}
}

// gated reports whether the item's install waits for a window: the device
// has windows, no passed deadline overrides them, and the user did not ask.
func (it *enfItem) gated(gatedDevice bool) bool {
	return gatedDevice && !it.override && !it.requested
}

// available reports whether the item is listed in Available Software
// Updates: offered by an optional deployment, not requested, not
// installing or pending a restart.
func (it *enfItem) available(hidden bool) bool {
	switch it.disp {
	case dispInstall, dispRunning, dispPending:
		return false
	}
	return it.optional && !it.requested && !hidden
}

// urgent reports whether the update is needed now: due or requested.
func (it *enfItem) urgent() int {
	if it.due || it.requested {
		return 0
	}
	return 1
}

// enforcement returns the topic 301 state the item gives a deployment that
// offers it (mandatory: the deployment has a deadline), with its rank: the
// deployment reports its highest-ranked state (Enforce rule 7).
func (it *enfItem) enforcement(mandatory bool, restart RestartAction) (int, EnforcementState) {
	if !mandatory && !it.requested && !it.running && !it.pending {
		return 0, EnforcementUnknown // an optional deployment enforces nothing unasked
	}
	switch it.disp {
	case dispInstall, dispRunning:
		return 6, EnforcementInstalling
	case dispContent:
		return 5, EnforcementDownloading
	case dispWindow, dispNeverFits:
		return 4, EnforcementWaitingForWindow
	case dispPending:
		if restart == RestartNow {
			return 3, EnforcementWaitingForRestart
		}
		return 3, EnforcementPendingRestart
	case dispDeadline:
		if !it.downloaded {
			return 5, EnforcementDownloading
		}
		return 2, EnforcementDownloaded
	}
	return 0, EnforcementUnknown
}

// planRestart decides the restart (Enforce rule 6). end is the worst-case
// end of this pass's installs; need is countdown + turnaround.
func planRestart(items []enfItem, windows []schedule.Span, gatedDevice bool, end time.Time, need time.Duration) RestartPlan {
	var p RestartPlan
	needed, suppressedAll, outside := false, true, false
	for i := range items {
		it := &items[i]
		switch {
		case it.pending:
			p.Certain = true
		case (it.running || it.disp == dispInstall) && it.u.Restart != NeverRestarts:
			p.Certain = p.Certain || it.u.Restart == AlwaysRequiresRestart
		default:
			continue
		}
		needed = true
		if it.governing == 0 || it.suppress < it.governing {
			suppressedAll = false
			outside = outside || it.outside
		}
	}
	switch {
	case !needed:
		return RestartPlan{}
	case suppressedAll:
		p.Action = RestartSuppressed
		return p
	case !gatedDevice || outside:
		p.Action, p.At = RestartNow, end
		return p
	}
	if w, ok := openWindow(windows, end); ok && w.End.Sub(end) >= need {
		p.Action, p.At = RestartNow, end
		return p
	}
	p.Action, p.At = RestartInWindow, firstFit(windows, end, need)
	return p
}

// openWindow returns the window containing t, if any; windows are sorted
// and disjoint.
func openWindow(windows []schedule.Span, t time.Time) (schedule.Span, bool) {
	for _, w := range windows {
		if w.Contains(t) {
			return w, true
		}
		if w.Start.After(t) {
			break
		}
	}
	return schedule.Span{}, false
}

// firstFit returns the start of the first window starting after t that is
// at least need long, or zero.
func firstFit(windows []schedule.Span, t time.Time, need time.Duration) time.Time {
	for _, w := range windows {
		if w.Start.After(t) && w.Duration() >= need {
			return w.Start
		}
	}
	return time.Time{}
}

// windowFacts are what the fit tests need to know of the windows at now.
type windowFacts struct {
	open      schedule.Span // the window open at now, if isOpen
	isOpen    bool
	left      time.Duration   // what is left of it
	future    []schedule.Span // the windows starting after now, in order
	maxFuture time.Duration   // the longest of them
}

func (f *windowFacts) init(windows []schedule.Span, now time.Time) {
	if f.open, f.isOpen = openWindow(windows, now); f.isOpen {
		f.left = f.open.End.Sub(now)
	}
	for i, w := range windows {
		if w.Start.After(now) {
			f.future = windows[i:]
			break
		}
	}
	for _, w := range f.future {
		f.maxFuture = max(f.maxFuture, w.Duration())
	}
}

// firstFit returns the start of the first window after now that is at
// least need long, or zero.
func (f *windowFacts) firstFit(need time.Duration) time.Time {
	if need <= f.maxFuture {
		for _, w := range f.future {
			if w.Duration() >= need {
				return w.Start
			}
		}
	}
	return time.Time{}
}

// everFits reports whether the open window has need left, or a later
// window is need long (§3.6: otherwise 11717).
func (f *windowFacts) everFits(need time.Duration) bool {
	return f.isOpen && f.left >= need || f.maxFuture >= need
}

// nextCheck keeps the earliest instant after now.
type nextCheck struct{ now, at time.Time }

func (n *nextCheck) add(t time.Time) {
	if t.After(n.now) && (n.at.IsZero() || t.Before(n.at)) {
		n.at = t
	}
}

// check validates in and returns the index of Required by CIID.
func (in *EnforceInput) check() (map[CIID]int, error) {
	var p consign.Problems
	const at = "EnforceInput"
	p.Check(!in.Now.IsZero(), at+".Now", "a non-zero instant")
	in.Settings.check(&p, at+".Settings")
	idx := make(map[CIID]int, len(in.Required))
	for i, u := range in.Required {
		f := func(sub string) string { return fmt.Sprintf("%s.Required[%d]%s", at, i, sub) }
		switch {
		case u == nil:
			p.Add(f(""), "a non-nil update")
		case u.CIID == 0:
			p.Add(f(".CIID"), "non-zero")
		default:
			if _, dup := idx[u.CIID]; dup {
				p.AddValue(f(".CIID"), u.CIID, "unique among Required")
				continue
			}
			idx[u.CIID] = i
		}
	}
	for i, d := range in.Deployments {
		if d == nil {
			p.Add(fmt.Sprintf("%s.Deployments[%d]", at, i), "a non-nil deployment")
		}
	}
	if _, ok := idx[in.Installing]; in.Installing != 0 && !ok {
		p.AddValue(at+".Installing", in.Installing, "one of Required: an update is Required until its install finishes (§4.3)")
	}
	for i, id := range in.PendingRestart {
		f := fmt.Sprintf("%s.PendingRestart[%d]", at, i)
		if _, ok := idx[id]; !ok {
			p.AddValue(f, id, "one of Required: an update pending a restart stays Required (§3.7 step 2, §4.3)")
		} else if id == in.Installing {
			p.AddValue(f, id, "not the update being installed")
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return idx, nil
}

// StateAfterInstall is the compliance state (topic 500) of u on a device
// after a successful install (§4.3): Required while a restart is needed and
// has not happened, Installed otherwise. A restart is needed when u
// AlwaysRequiresRestart or the installer asked for one (exitNeedsRestart:
// exit code 3010 or 1641, §3.5). A failed install leaves u Required. A nil u
// (metadata unknown) counts only exitNeedsRestart.
func StateAfterInstall(u *Update, exitNeedsRestart, restarted bool) ComplianceState {
	needs := exitNeedsRestart || u != nil && u.Restart == AlwaysRequiresRestart
	if needs && !restarted {
		return Required
	}
	return Installed
}
