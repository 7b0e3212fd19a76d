package agent

import (
	"slices"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/httpmp"
	pkg "github.com/consign/consign/package"
)

// offerState is what the agent remembers about one advertisement of its
// policy, kept in the State: what it last reported, and the retries and
// final failures of the current assignment that the execution history
// does not record.
type offerState struct {
	// Acceptance is the acceptance-track event reported (Received,
	// Rejected or Expired), by name.
	Acceptance string `json:"acc,omitempty"`
	// Note and NoteDue are the last delivery-track waiting event reported
	// (WillNotRerun, WaitingForWindow, Waiting, Retrying) and the
	// assignment it concerned, so that each is reported once.
	Note    string    `json:"note,omitempty"`
	NoteDue time.Time `json:"noteDue,omitzero"`
	// Due is the assignment occurrence Retries, RetryAt and Done refer to.
	Due time.Time `json:"due,omitzero"`
	// Retries counts the runs of Due that ended in a retry exit code.
	Retries int `json:"retries,omitempty"`
	// RetryAt holds the next attempt of Due back until then.
	RetryAt time.Time `json:"retryAt,omitzero"`
	// Done: Due ended in a failure that the execution history does not
	// record (a download that failed its hash check, a cache too small), so
	// it is not attempted again.
	Done bool `json:"done,omitempty"`
}

// decision is the agent's evaluation of one offer at one instant.
type decision struct {
	offer *httpmp.PolicyOffer
	id    consign.ObjectID
	// decided is advertisement.Decide's answer.
	decided advertisement.Offer
	// acceptance is the acceptance-track event the decision implies:
	// EventRejected, EventExpired or EventReceived.
	acceptance advertisement.Event
	// note is the delivery-track event to report for decided.DueAt, or 0:
	// EventWillNotRerun, EventWaitingForWindow or EventWaiting.
	note advertisement.Event
	// run: the offer is mandatory, due and not held back by a retry or an
	// earlier final failure of the same assignment.
	run bool
	// wake is when the decision may next change without a new policy;
	// zero when only a new policy can change it.
	wake time.Time
}

// facts is what the agent knows about its own device for decisions.
type facts struct {
	os  pkg.OSInfo
	loc *time.Location
}

// evaluate decides every offer of p at now, with the same pure functions
// the site uses (advertisement.Decide over collection.EffectiveWindows),
// for a device with facts f and session state ds, execution history hist,
// and the offers' remembered state (which it reads, never writes).
// Decisions are in policy order.
func evaluate(p *httpmp.PolicyPayload, f facts, ds delivery.DeviceState, countdown time.Duration,
	hist map[pkg.ProgramRef]advertisement.History, offers map[consign.ObjectID]*offerState, now time.Time) []decision {
	df := advertisement.DeviceFacts{
		OS: f.os, Location: f.loc,
		OnSlowBoundary: ds.OnSlowBoundary, UserLoggedOn: ds.UserLoggedOn,
		LastLogon: ds.LastLogon, LastLogoff: ds.LastLogoff, LastStartup: ds.LastStartup,
		Countdown: countdown,
	}
	// The facts with the windows of each set of window types the offers
	// need (delivery.WindowTypes): General, and General and OSD for task
	// sequences.
	withWindows := make(map[bool]*advertisement.DeviceFacts, 2) // by IsTaskSequence
	factsFor := func(ad *advertisement.Advertisement) *advertisement.DeviceFacts {
		if f, ok := withWindows[ad.IsTaskSequence()]; ok {
			return f
		}
		types := delivery.WindowTypes(ad)
		wf := df
		for _, w := range p.Windows {
			if w.Enabled && slices.Contains(types, w.Type) {
				wf.HasWindows = true
				break
			}
		}
		if wf.HasWindows {
			wf.Windows = collection.EffectiveWindows(p.Windows, types, now, now.Add(WindowHorizon), f.loc)
		}
		withWindows[ad.IsTaskSequence()] = &wf
		return &wf
	}
	out := make([]decision, 0, len(p.Offers))
	for i := range p.Offers {
		o := &p.Offers[i]
		ad := o.Advertisement
		d := decision{offer: o, id: ad.ID}
		ref := pkg.ProgramRef{PackageID: ad.PackageID, Program: ad.ProgramName}
		if o.Problem != "" {
			// The site found the offer unusable (a broken dependency chain):
			// it cannot run here either.
			d.decided = advertisement.Offer{State: advertisement.Rejected, Reason: o.Problem}
		} else {
			d.decided = advertisement.Decide(ad, o.Program, *factsFor(ad), hist[ref], now)
		}
		st := offers[d.id]
		switch d.decided.State {
		case advertisement.Rejected:
			d.acceptance = advertisement.EventRejected
		case advertisement.Expired:
			d.acceptance = advertisement.EventExpired
		default:
			d.acceptance = advertisement.EventReceived
		}
		dc := d.decided
		switch dc.State {
		case advertisement.NotYetAvailable:
			d.wake = earliest(dc.AvailableAt, dc.NextMandatory)
		case advertisement.Available:
			d.wake = dc.NextMandatory
		case advertisement.WillNotRerun:
			d.note, d.wake = advertisement.EventWillNotRerun, dc.NextMandatory
		case advertisement.WaitingForWindow:
			d.note, d.wake = advertisement.EventWaitingForWindow, earliest(dc.RunAt, dc.NextMandatory)
		case advertisement.WaitingForUser, advertisement.WaitingForSlowLink:
			// Only a change of session state (Trigger) or the next
			// assignment ends the wait.
			d.note, d.wake = advertisement.EventWaiting, dc.NextMandatory
		case advertisement.MandatoryDue:
			d.run = true
			if st != nil && st.Due.Equal(dc.DueAt) {
				switch {
				case st.Done:
					d.run, d.wake = false, dc.NextMandatory
				case now.Before(st.RetryAt):
					d.run, d.wake = false, earliest(st.RetryAt, dc.NextMandatory)
				}
			}
		}
		if !dc.ExpiresAt.IsZero() && dc.State != advertisement.Expired {
			d.wake = earliest(d.wake, dc.ExpiresAt)
		}
		out = append(out, d)
	}
	return out
}

// earliest returns the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// runOrder returns the programs to run for offer o, dependencies first and
// the advertised program last (§1.3, §3.2 step 4e): a program's dependency
// runs first when the program has RunDependencyAlways or the dependency has
// not succeeded on this device. The site sends, in RunFirst, the
// dependencies its own view of the history called for; one it left out has
// succeeded as far as the site knows, and the chain stops there.
func runOrder(o *httpmp.PolicyOffer, hist map[pkg.ProgramRef]advertisement.History) ([]*pkg.Program, error) {
	if o.Program == nil {
		return nil, consign.Errorf(consign.ErrNotFound, "agent.runOrder", string(o.Advertisement.ID), "the policy has no program for the advertisement")
	}
	byRef := make(map[pkg.ProgramRef]*pkg.Program, len(o.RunFirst)+1)
	byRef[o.Program.Ref()] = o.Program
	for _, p := range o.RunFirst {
		if p != nil {
			byRef[p.Ref()] = p
		}
	}
	order := []*pkg.Program{o.Program}
	seen := map[pkg.ProgramRef]bool{o.Program.Ref(): true}
	for p := o.Program; ; {
		dep, ok := p.DependsOn()
		if !ok {
			break
		}
		if h := hist[dep]; !p.RunDependencyAlways && h.Ran && h.Succeeded {
			break
		}
		d, ok := byRef[dep]
		if !ok {
			break
		}
		if seen[dep] {
			return nil, &pkg.LoopError{Cycle: refs(order, dep)}
		}
		seen[dep] = true
		order = append(order, d)
		p = d
	}
	for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
		order[i], order[j] = order[j], order[i]
	}
	return order, nil
}

// refs lists the programs of a dependency loop, from dep.
func refs(order []*pkg.Program, dep pkg.ProgramRef) []pkg.ProgramRef {
	var out []pkg.ProgramRef
	in := false
	for _, p := range order {
		if p.Ref() == dep {
			in = true
		}
		if in {
			out = append(out, p.Ref())
		}
	}
	return out
}

// packageOf returns the package information for id from the policy: the
// offer's own package, or that of another offer of the same package (a
// dependency in another package, §1.3); nil when the policy has none.
func packageOf(p *httpmp.PolicyPayload, o *httpmp.PolicyOffer, id consign.ObjectID) *delivery.PackageInfo {
	if o.Package != nil && o.Package.ID == id {
		return o.Package
	}
	for i := range p.Offers {
		if pi := p.Offers[i].Package; pi != nil && pi.ID == id {
			return pi
		}
	}
	return nil
}

// factsOf derives the decision facts from the device's discovery data: its
// platform (as the site derives it) and its time zone (UTC when empty or
// unknown; ok is false for an unknown one).
func factsOf(d *collection.Device) (f facts, ok bool) {
	f.os, f.loc, ok = delivery.DeviceOS(d), time.UTC, true
	if d.TimeZone != "" {
		loc, err := time.LoadLocation(d.TimeZone)
		if err != nil {
			return f, false
		}
		f.loc = loc
	}
	return f, true
}
