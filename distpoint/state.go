package distpoint

import (
	"fmt"
	"time"

	"github.com/consign/consign"
)

// State is the state of one package on one DP:
// SMS_PackageStatusDistPointsSummarizer.State (§4.1).
type State int

// The 2007 states of a package on a DP, with ConfigMgr's values.
const (
	Installed       State = 0
	InstallPending  State = 1
	InstallRetrying State = 2
	InstallFailed   State = 3
	RemovalPending  State = 4
	RemovalRetrying State = 5
	RemovalFailed   State = 6
)

var stateNames = map[State]string{
	Installed: "Installed", InstallPending: "Install Pending", InstallRetrying: "Install Retrying",
	InstallFailed: "Install Failed", RemovalPending: "Removal Pending", RemovalRetrying: "Removal Retrying",
	RemovalFailed: "Removal Failed",
}

// String returns the console text for the state.
func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// PackageStatus is one package on one DP.
type PackageStatus struct {
	PackageID consign.ObjectID
	NALPath   string
	State     State
	// SourceVersion is the version installed on the DP (0 = none yet). A row
	// Installed with SourceVersion below the package's is "installed but old".
	SourceVersion uint32
	// TargetVersion is the version the DP is being brought to.
	TargetVersion uint32
	Retries       int
	LastCopied    time.Time
	// LastAttempt is when the last copy or removal attempt failed; the next
	// retry is due Retry.Delay after it.
	LastAttempt time.Time
	LastError   string
	// Share is where the DP's library laid out the installed version's
	// tree for clients that run the program from the DP (a Materializer's
	// directory, §3.4); "" when the library lays none out.
	Share string `json:",omitempty"`
}

// Due reports whether the row has work for the distributor at now: a copy
// or removal pending, or a retry whose delay has passed.
func (s PackageStatus) Due(now time.Time, retry Retry) bool {
	switch s.State {
	case InstallPending, RemovalPending:
		return true
	case InstallRetrying, RemovalRetrying:
		return !now.Before(s.LastAttempt.Add(retry.Limits().Delay))
	}
	return false
}

// Removing reports whether the package is being (or failed to be) removed
// from the DP.
func (s PackageStatus) Removing() bool {
	return s.State == RemovalPending || s.State == RemovalRetrying || s.State == RemovalFailed
}

// Event is something that happens to a package on a DP.
type Event int

// Events of the §4.1 state machine.
const (
	// Add: the package is copied to a new DP (New Distribution Points wizard).
	Add Event = iota + 1
	// Update: the package source changed (new SourceVersion) — every DP.
	Update
	// Refresh: recopy the same version to this DP (repair).
	Refresh
	// CopySucceeded: the copy of TargetVersion verified on the DP.
	CopySucceeded
	// CopyFailed: a copy attempt failed.
	CopyFailed
	// Remove: the package is removed from the DP.
	Remove
	// RemoveSucceeded: the content is gone; the row disappears.
	RemoveSucceeded
	// RemoveFailed: a removal attempt failed.
	RemoveFailed
	// VerifyFailed: content validation found files on the DP whose content
	// no longer matches (§5.2 item 3); a refresh repairs it.
	VerifyFailed
)

// Retry is the site-wide retry policy for DP copies (§1.4 "Site-wide
// distribution settings"). The zero value means the ConfigMgr defaults.
type Retry struct {
	// Count is the number of retries before Install Failed (default 100, 1–1000).
	Count int
	// Delay between retries (default 30 min, 1–1440 min).
	Delay time.Duration
}

// Limits returns r with defaults applied.
func (r Retry) Limits() Retry {
	if r.Count == 0 {
		r.Count = 100
	}
	if r.Delay == 0 {
		r.Delay = 30 * time.Minute
	}
	return r
}

// Transition applies ev to s. version is the package's SourceVersion for
// Add, Update and Refresh; at is the time of the event. gone is true when the
// row disappears (removal succeeded). An event that §4.1 does not allow from
// s returns an error matching consign.ErrFailedPrecondition.
func (s PackageStatus) Transition(ev Event, version uint32, at time.Time, retry Retry) (next PackageStatus, gone bool, err error) {
	retry = retry.Limits()
	next = s
	removing := s.Removing()
	bad := func() (PackageStatus, bool, error) {
		return s, false, consign.Errorf(consign.ErrFailedPrecondition, "distpoint", string(s.PackageID)+" on "+s.NALPath,
			"event %d not allowed in state %s", ev, s.State)
	}
	switch ev {
	case Add, Update, Refresh:
		if ev != Add && removing {
			return bad()
		}
		next.State, next.TargetVersion, next.Retries, next.LastError = InstallPending, version, 0, ""
	case CopySucceeded:
		if s.State != InstallPending && s.State != InstallRetrying {
			return bad()
		}
		next.State, next.SourceVersion, next.Retries, next.LastCopied, next.LastError = Installed, s.TargetVersion, 0, at, ""
	case CopyFailed:
		if s.State != InstallPending && s.State != InstallRetrying {
			return bad()
		}
		next.Retries++
		next.LastAttempt = at
		next.State = InstallRetrying
		if next.Retries > retry.Count {
			next.State = InstallFailed
		}
	case Remove:
		next.State, next.Retries, next.LastError = RemovalPending, 0, ""
	case RemoveSucceeded:
		if !removing || s.State == RemovalFailed {
			return bad()
		}
		return next, true, nil
	case RemoveFailed:
		if s.State != RemovalPending && s.State != RemovalRetrying {
			return bad()
		}
		next.Retries++
		next.LastAttempt = at
		next.State = RemovalRetrying
		if next.Retries > retry.Count {
			next.State = RemovalFailed
		}
	case VerifyFailed:
		if s.State != Installed {
			return bad()
		}
		next.State = InstallFailed
	default:
		return bad()
	}
	return next, false, nil
}
