package advertisement

import (
	"fmt"
	"time"

	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

// History is a device's execution history for one program, the record the
// rerun rule reads (§1.18, §3.2 step 4a). It is kept per (PackageID,
// ProgramName), not per advertisement [B-myitf id=6841], so a new
// advertisement for a program that already ran sees the old result
// (B-rerun scenario 2).
type History struct {
	Ran       bool      // the program has run on the device
	LastRun   time.Time // when it last ran
	Succeeded bool      // whether that run succeeded
}

// DeviceFacts is what Decide needs to know about the device.
type DeviceFacts struct {
	OS             pkg.OSInfo
	Location       *time.Location // the device's time zone; nil means UTC
	OnSlowBoundary bool           // the device is on a slow or unreliable boundary
	UserLoggedOn   bool
	// LastLogon, LastLogoff and LastStartup are the device's last such
	// events, when the event assignments fire; zero means never.
	LastLogon, LastLogoff, LastStartup time.Time
	// Windows are the effective maintenance windows (the union over the
	// device's collections, §3.6), covering at least the next 7 days.
	Windows []schedule.Span
	// HasWindows is true when the device is in at least one collection with
	// an enabled window; then an empty Windows means no window in the horizon,
	// and mandatory runs wait. When false and Windows is empty the device has
	// no maintenance windows and runs at any time.
	HasWindows bool
	// Countdown is the site's countdown before a mandatory run (Advertised
	// Programs Client Agent, §1.16); the advertisement's own Countdown
	// replaces it when set (§3.2 step 4d).
	Countdown time.Duration
}

// State is the outcome of the offer decision for one device.
type State int

// Offer states.
const (
	NotYetAvailable    State = iota // before the start time
	Available                       // within the window, no assignment due
	MandatoryDue                    // an assignment is due and may run now
	Expired                         // at or after the expiration time
	Rejected                        // the program is disabled or does not support the device's platform
	WillNotRerun                    // an assignment is due but the rerun rule skips it
	WaitingForWindow                // due, but no maintenance window fits now
	WaitingForUser                  // due, but the program's logon requirement is not met
	WaitingForSlowLink              // due, but assignments are not mandatory over this slow link
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case NotYetAvailable:
		return "NotYetAvailable"
	case Available:
		return "Available"
	case MandatoryDue:
		return "MandatoryDue"
	case Expired:
		return "Expired"
	case Rejected:
		return "Rejected"
	case WillNotRerun:
		return "WillNotRerun"
	case WaitingForWindow:
		return "WaitingForWindow"
	case WaitingForUser:
		return "WaitingForUser"
	case WaitingForSlowLink:
		return "WaitingForSlowLink"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Offer is the decision for one advertisement on one device at one instant.
type Offer struct {
	State  State
	Reason string // human-readable
	// Optional: the program is listed in Run Advertised Programs, which it is
	// in every state between the start and the expiration time unless
	// NO_DISPLAY hides a mandatory advertisement (§3.2 step 3). Rerun rules
	// do not apply to a user's own run [B-rerun].
	Optional      bool
	AvailableAt   time.Time // NotYetAvailable: the start time
	DueAt         time.Time // MandatoryDue, WillNotRerun, Waiting*: the assignment occurrence concerned
	NextMandatory time.Time // the next assignment occurrence after now that falls before expiry; zero if none
	RunAt         time.Time // WaitingForWindow: the start of the first later window the program fits; zero if none before the horizon or expiry
	ExpiresAt     time.Time // the expiration time, when enabled
}

// Decide returns the offer of advertisement a, for program p, on a device,
// given the device's history for p at instant now (§3.2). Rules, in order:
//
//  1. Rejected when p is nil or disabled, or does not support the device's
//     OS (§3.2 step 1; acceptance Rejected).
//  2. NotYetAvailable before the start time, Expired at or after the
//     expiration time, each read in the device's zone unless its IsGMT is set
//     (§3.2 step 2, §1.1).
//  3. The due assignment is the latest occurrence at or before now, at or
//     after the start time, over the schedules (schedule.Token.Prev) and the
//     events: ASAP fires at the start time (the PresentTime value, even when
//     not enabled: the moment the advertisement was offered), logon, logoff
//     and startup at the device's last such event. It is due when the
//     program has not run since: a missed occurrence runs when the device is
//     next able to (§3.2 "Missed schedules", [UNVERIFIED] for 2007). Nothing
//     due means Available.
//  4. The rerun table of §3.2 step 4a, with EffectiveRerun, against the
//     program's history: WillNotRerun.
//  5. Slow link (§3.2 step 4f): unless MandatoryOverSlowLinks, a slow
//     boundary gives WaitingForSlowLink.
//  6. Logon requirement (§3.2 step 4b): WaitingForUser.
//  7. Maintenance windows (§3.6), unless IgnoreMaintenanceWindows: the
//     program starts only inside a window whose remaining time is at least
//     its Max run time plus the countdown (the advertisement's Countdown when
//     set, else the device's). Unknown run time counts as 0 here
//     (H-e755ead0; the 720-minute monitoring limit is a separate matter).
//     Otherwise WaitingForWindow, with RunAt the first later window long
//     enough.
//  8. Otherwise MandatoryDue.
//
// Whether the content can be had on a slow boundary (the advertisement's
// Slow choice: do not run, download, run from the DP) is content location's
// decision (distpoint.Locate), made once the DPs are known.
func Decide(a *Advertisement, p *pkg.Program, dev DeviceFacts, hist History, now time.Time) Offer {
	loc := dev.Location
	if loc == nil {
		loc = time.UTC
	}
	b := a.bounds(loc)
	var o Offer
	if b.hasExpiry {
		o.ExpiresAt = b.expiry
	}
	switch {
	case p == nil:
		return reason(o, Rejected, "program not found")
	case p.Disabled:
		return reason(o, Rejected, "program disabled")
	case !p.SupportsOS(dev.OS):
		return reason(o, Rejected, fmt.Sprintf("platform %s %s %s not supported", dev.OS.Name, dev.OS.Platform, dev.OS.Version))
	case b.hasPresent && now.Before(b.present):
		o.AvailableAt = b.present
		o.NextMandatory = a.nextOccurrence(b.present.Add(-time.Nanosecond), b, loc)
		return reason(o, NotYetAvailable, "advertisement not yet available")
	case b.hasExpiry && !now.Before(b.expiry):
		return reason(o, Expired, "advertisement expired")
	}

	o.Optional = a.AllowUsersToRunIndependently || !a.Mandatory()
	o.NextMandatory = a.nextOccurrence(now, b, loc)
	due, ok := a.dueOccurrence(dev, now, b, loc)
	if !ok || hist.Ran && !hist.LastRun.Before(due) {
		return reason(o, Available, "no assignment due")
	}
	o.DueAt = due

	if rerun := a.EffectiveRerun(); !mayRerun(rerun, hist) {
		return reason(o, WillNotRerun, fmt.Sprintf("rerun behaviour %s, last run succeeded: %t", rerun, hist.Succeeded))
	}
	if !a.MandatoryOverSlowLinks && dev.OnSlowBoundary {
		return reason(o, WaitingForSlowLink, "assignments are not mandatory over slow links")
	}
	switch {
	case p.Logon == pkg.UserLoggedOn && !dev.UserLoggedOn:
		return reason(o, WaitingForUser, "waiting for a user to log on")
	case p.Logon == pkg.NoUserLoggedOn && dev.UserLoggedOn:
		return reason(o, WaitingForUser, "waiting for the user to log off")
	}
	if !a.IgnoreMaintenanceWindows && (dev.HasWindows || len(dev.Windows) > 0) {
		// §3.6's fit test counts the countdown whether or not a user will
		// see it (§3.2 step 4d shows it only to a logged-on user).
		need := time.Duration(p.MaxRunTime)*time.Minute + dev.Countdown
		if a.Countdown > 0 {
			need = time.Duration(p.MaxRunTime+a.Countdown) * time.Minute
		}
		windows := dev.Windows
		if len(windows) > 1 {
			windows = schedule.Union(windows) // overlapping windows make one
		}
		if !fitsNow(windows, now, need) {
			if at := firstFit(windows, now, need); b.contains(at) {
				o.RunAt = at
			}
			return reason(o, WaitingForWindow, fmt.Sprintf("no maintenance window with %s left", need))
		}
	}
	return reason(o, MandatoryDue, "assignment due")
}

func reason(o Offer, s State, why string) Offer {
	o.State, o.Reason = s, why
	return o
}

// bounds is the availability window of an advertisement on one device.
type bounds struct {
	present, expiry       time.Time
	hasPresent, hasExpiry bool
}

// bounds reads the start and expiration times in loc, or in UTC where their
// IsGMT is set.
func (a *Advertisement) bounds(loc *time.Location) bounds {
	b := bounds{
		present:    civil(a.PresentTime, zone(a.PresentTimeIsGMT, loc)),
		hasPresent: a.PresentTimeEnabled,
		hasExpiry:  a.ExpirationTimeEnabled,
	}
	if b.hasExpiry {
		b.expiry = civil(a.ExpirationTime, zone(a.ExpirationTimeIsGMT, loc))
	}
	return b
}

// contains reports whether t is a real instant in [present, expiry).
func (b bounds) contains(t time.Time) bool {
	return !t.IsZero() && (!b.hasPresent || !t.Before(b.present)) && (!b.hasExpiry || t.Before(b.expiry))
}

func zone(gmt bool, loc *time.Location) *time.Location {
	if gmt {
		return time.UTC
	}
	return loc
}

// dueOccurrence returns the latest assignment occurrence at or before now
// and not before the start time (a one-off assignment set earlier counts as
// occurring at the start time). ASAP fires at the PresentTime value whether
// or not it is enabled: that is when the advertisement was offered.
func (a *Advertisement) dueOccurrence(dev DeviceFacts, now time.Time, b bounds, loc *time.Location) (time.Time, bool) {
	var best time.Time
	found := false
	consider := func(t time.Time, ok bool) {
		if ok && !t.After(now) && (!b.hasPresent || !t.Before(b.present)) && (!found || t.After(best)) {
			best, found = t, true
		}
	}
	for _, s := range a.Schedules {
		t, ok := s.Prev(now, loc)
		if ok && !s.Recurring() && b.hasPresent && t.Before(b.present) {
			// A one-off assignment set before the start time was missed
			// while the advertisement was not yet available: it runs when
			// the advertisement becomes available (§3.2 missed schedules).
			t = b.present
		}
		consider(t, ok)
	}
	consider(b.present, a.ASAP)
	consider(dev.LastLogon, a.OnLogon && !dev.LastLogon.IsZero())
	consider(dev.LastLogoff, a.OnLogoff && !dev.LastLogoff.IsZero())
	consider(dev.LastStartup, a.OnStartup && !dev.LastStartup.IsZero())
	return best, found
}

// nextOccurrence returns the first schedule occurrence strictly after after
// that lies in b, or zero. Future logon, logoff and startup events cannot be
// foreseen; ASAP counts while its time is still to come.
func (a *Advertisement) nextOccurrence(after time.Time, b bounds, loc *time.Location) time.Time {
	var next time.Time
	consider := func(t time.Time, ok bool) {
		if ok && t.After(after) && b.contains(t) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	from := after
	if b.hasPresent && b.present.After(from) {
		from = b.present.Add(-time.Nanosecond)
	}
	for _, s := range a.Schedules {
		consider(s.Next(from, loc))
	}
	consider(b.present, a.ASAP)
	return next
}

// mayRerun is the rerun table of §3.2 step 4a [B-rerun, B-myitf].
func mayRerun(r Rerun, h History) bool {
	if !h.Ran {
		return true
	}
	switch r {
	case RerunNever:
		return false
	case RerunIfFailed:
		return !h.Succeeded
	case RerunIfSucceeded:
		return h.Succeeded
	}
	return true
}

// fitsNow reports whether now is inside a window with at least need left
// (§3.6 program fit test).
func fitsNow(windows []schedule.Span, now time.Time, need time.Duration) bool {
	for _, w := range windows {
		if w.Contains(now) && w.End.Sub(now) >= need {
			return true
		}
	}
	return false
}

// firstFit returns the start of the earliest window starting after now that
// is at least need long, or zero.
func firstFit(windows []schedule.Span, now time.Time, need time.Duration) time.Time {
	var at time.Time
	for _, w := range windows {
		if w.Start.After(now) && w.End.Sub(w.Start) >= need && (at.IsZero() || w.Start.Before(at)) {
			at = w.Start
		}
	}
	return at
}
