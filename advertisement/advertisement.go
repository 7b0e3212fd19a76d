package advertisement

import (
	"fmt"
	"math/bits"
	"time"
	"unicode/utf8"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
	"github.com/consign/consign/tasksequence"
)

// Limits from §1.9 and §1.3.
const (
	MaxNameLen        = 100 // AdvertisementName, console limit
	MaxCommentLen     = 127 // Comment
	MaxProgramNameLen = 50  // ProgramName (§1.3)
	MaxAssignments    = 15  // mandatory assignments, schedules and events together
)

// Advertisement is SMS_Advertisement (§1.9 [S-ADV]): one program of one
// package offered to one collection, optionally with mandatory assignments.
//
// The flag words are held as fields (AdvertFlags, RemoteClientFlags and
// FromFlags convert); bits without a field live in OtherAdvertFlags and
// OtherRemoteClientFlags so that any word read from ConfigMgr survives a
// round trip. PresentTime and ExpirationTime are civil times: only their
// wall-clock fields are read, in the device's zone unless the matching IsGMT
// is set (§1.1).
type Advertisement struct {
	ID                    consign.ObjectID // AdvertisementID
	Name                  string           // AdvertisementName: required, immutable
	Comment               string
	PackageID             consign.ObjectID // immutable
	ProgramName           string           // immutable; tasksequence.ProgramName ("*") for a task sequence
	CollectionID          consign.ObjectID // immutable
	IncludeSubcollections bool

	PresentTime           time.Time // "Advertisement start time"
	PresentTimeEnabled    bool
	PresentTimeIsGMT      bool
	ExpirationTime        time.Time // "Advertisement will expire"
	ExpirationTimeEnabled bool
	ExpirationTimeIsGMT   bool

	// Schedules are the AssignedSchedule tokens; each is a mandatory
	// assignment. The event assignments follow.
	Schedules []schedule.Token
	ASAP      bool // IMMEDIATE: "As soon as possible"
	OnLogon   bool // ONUSERLOGON
	OnLogoff  bool // ONUSERLOGOFF: the program must be "only when no user is logged on"
	OnStartup bool // ONSYSTEMSTARTUP

	Priority Priority

	IgnoreMaintenanceWindows   bool // OVERRIDE_SERVICE_WINDOWS (mandatory only)
	AllowRestartOutsideWindows bool // REBOOT_OUTSIDE_OF_SERVICE_WINDOWS
	// MandatoryOverSlowLinks is ONSLOWNET (mandatory only), which the SDK
	// describes as "assignments are mandatory over slow networks". Clear —
	// the console's default, "Assignments are not mandatory over slow links"
	// ticked — a mandatory run waits while the device is on a slow boundary
	// (§3.2 step 4f). The polarity is [UNVERIFIED] (§1.9, §8 item 4); this
	// follows the SDK's wording and keeps the bit clear by default.
	MandatoryOverSlowLinks bool
	WakeOnLAN              bool // WAKE_ON_LAN_ENABLED (mandatory only)

	// AllowUsersToRunIndependently is the inverse of NO_DISPLAY: when false
	// on a mandatory advertisement the program is hidden from Run Advertised
	// Programs. §1.9 calls NO_DISPLAY "only legal on mandatory
	// advertisements", but the console's box starts unticked, so real sites'
	// optional advertisements carry the bit; it is accepted there and has no
	// effect.
	AllowUsersToRunIndependently bool

	// Fast and Slow are the Distribution Points page's content choices for
	// fast and slow boundaries (RemoteClientFlags). A task sequence
	// advertisement reads them as its own page's choices (see the
	// FastChoice and SlowChoice constants) and may also use the
	// download-on-demand ones.
	Fast FastChoice
	Slow SlowChoice
	// AllowFallbackToUnprotected is the inverse of DONOT_FALLBACK (§1.9,
	// §3.3 step 4).
	AllowFallbackToUnprotected bool
	BalloonReminders           bool // BALLOON_REMINDERS_REQUIRED
	Countdown                  int  // MandatoryCountdown in minutes; 0 = the site's countdown
	Rerun                      Rerun

	// ShowProgress is SHOW_PROGRESS, the task sequence Interaction page's
	// "Show task sequence progress" (§1.9); task sequences only.
	ShowProgress bool
	// AvailableToBootMediaAndPXE is ENABLE_TS_FROM_CD_AND_PXE, the task
	// sequence General page's "Make this task sequence available to boot
	// media and PXE" (§1.9); task sequences only, and not with "Download
	// all contents locally before starting task sequence" (FastDownload).
	AvailableToBootMediaAndPXE bool

	// OtherAdvertFlags and OtherRemoteClientFlags hold the bits no field
	// models, and groups of bits that contradict each other (two rerun bits,
	// both fast choices), exactly as read.
	OtherAdvertFlags       AdvertFlags
	OtherRemoteClientFlags RemoteClientFlags

	SourceSite consign.SiteCode // the creating site; locked at child sites
}

// New returns an optional advertisement with the New Advertisement Wizard's
// defaults (§1.9, §2.6): subcollections included, start time present and
// enabled in device-local time, no expiry, Medium priority, "Rerun if failed
// previous attempt", download on fast boundaries, do not run on slow ones,
// users not allowed to run a mandatory program independently of its
// assignments (the Interaction tab's box starts unticked), and SourceSite
// taken from id.
//
// AllowFallbackToUnprotected is true [UNVERIFIED]: the reference gives no
// software distribution default; the task-sequence page's equivalent is on
// by default, and clients inside protected boundaries waiting forever for
// content is a known pain point (§5.2 item 9).
func New(id consign.ObjectID, name string, p consign.ObjectID, program string, coll consign.ObjectID, present time.Time) *Advertisement {
	return &Advertisement{
		ID:                         id,
		Name:                       name,
		PackageID:                  p,
		ProgramName:                program,
		CollectionID:               coll,
		IncludeSubcollections:      true,
		PresentTime:                present,
		PresentTimeEnabled:         true,
		Priority:                   PriorityNormal,
		AllowFallbackToUnprotected: true,
		Rerun:                      RerunIfFailed,
		SourceSite:                 id.Site(),
	}
}

// NewTaskSequence returns an optional advertisement of the task sequence
// package tsPackage to coll with the task sequence wizard's defaults (§1.9
// "Task-sequence advertisements"): New's, with ProgramName
// tasksequence.ProgramName, "Download content locally when needed by running task
// sequence" (FastDownloadOnDemand), the remote-DP box unticked
// (SlowDoNotRun) and "When no protected distribution point is available, use
// an unprotected distribution point" ticked (AllowFallbackToUnprotected, on
// by default per §1.9). Rerun stays as New sets it.
//
// ShowProgress is false and AvailableToBootMediaAndPXE false: the reference
// gives no default for either box, so they start unticked [UNVERIFIED].
func NewTaskSequence(id consign.ObjectID, name string, tsPackage consign.ObjectID, coll consign.ObjectID, present time.Time) *Advertisement {
	a := New(id, name, tsPackage, tasksequence.ProgramName, coll, present)
	a.Fast = FastDownloadOnDemand
	a.Slow = SlowDoNotRun
	a.AllowFallbackToUnprotected = true
	a.ShowProgress = false // [UNVERIFIED] default
	return a
}

// IsTaskSequence reports whether the advertisement offers a task sequence:
// its ProgramName is tasksequence.ProgramName. Whether PackageID really names a
// task sequence package (type 4) is for the caller, which knows the package.
func (a *Advertisement) IsTaskSequence() bool { return a.ProgramName == tasksequence.ProgramName }

// AdvertFlags returns the AdvertFlags word the fields encode.
func (a *Advertisement) AdvertFlags() AdvertFlags {
	f := a.OtherAdvertFlags
	set := func(on bool, bit AdvertFlags) {
		if on {
			f |= bit
		}
	}
	set(a.ASAP, AdvImmediate)
	set(a.OnStartup, AdvOnSystemStartup)
	set(a.OnLogon, AdvOnUserLogon)
	set(a.OnLogoff, AdvOnUserLogoff)
	set(!a.AllowFallbackToUnprotected, AdvDoNotFallback)
	set(a.IgnoreMaintenanceWindows, AdvOverrideServiceWindows)
	set(a.AllowRestartOutsideWindows, AdvRebootOutsideOfServiceWindows)
	set(a.WakeOnLAN, AdvWakeOnLAN)
	set(!a.AllowUsersToRunIndependently, AdvNoDisplay)
	set(a.MandatoryOverSlowLinks, AdvOnSlowNet)
	set(a.ShowProgress, AdvShowProgress)
	set(a.AvailableToBootMediaAndPXE, AdvEnableTSFromCDAndPXE)
	return f
}

// RemoteClientFlags returns the RemoteClientFlags word the fields encode.
func (a *Advertisement) RemoteClientFlags() RemoteClientFlags {
	f := a.OtherRemoteClientFlags | a.Rerun.bit() | a.Fast.bit() | a.Slow.bit()
	if a.BalloonReminders {
		f |= RCFBalloonRemindersRequired
	}
	return f
}

// FromFlags sets every flag-derived field from the two words, so that
// AdvertFlags and RemoteClientFlags then return exactly af and rcf. A group
// of alternatives (rerun, fast choice, slow choice) with exactly one bit set
// becomes its field; with none or several the field is Unspecified and the
// bits stay in OtherRemoteClientFlags, where Validate reports a
// contradiction.
func (a *Advertisement) FromFlags(af AdvertFlags, rcf RemoteClientFlags) {
	a.ASAP = af&AdvImmediate != 0
	a.OnStartup = af&AdvOnSystemStartup != 0
	a.OnLogon = af&AdvOnUserLogon != 0
	a.OnLogoff = af&AdvOnUserLogoff != 0
	a.AllowFallbackToUnprotected = af&AdvDoNotFallback == 0
	a.IgnoreMaintenanceWindows = af&AdvOverrideServiceWindows != 0
	a.AllowRestartOutsideWindows = af&AdvRebootOutsideOfServiceWindows != 0
	a.WakeOnLAN = af&AdvWakeOnLAN != 0
	a.AllowUsersToRunIndependently = af&AdvNoDisplay == 0
	a.MandatoryOverSlowLinks = af&AdvOnSlowNet != 0
	a.ShowProgress = af&AdvShowProgress != 0
	a.AvailableToBootMediaAndPXE = af&AdvEnableTSFromCDAndPXE != 0
	a.OtherAdvertFlags = af &^ advModelled

	a.BalloonReminders = rcf&RCFBalloonRemindersRequired != 0
	rest := rcf &^ RCFBalloonRemindersRequired
	a.Rerun = RerunUnspecified
	for r := RerunAlways; r <= RerunIfSucceeded; r++ {
		if rest&rcfRerun == r.bit() {
			a.Rerun, rest = r, rest&^r.bit()
		}
	}
	a.Fast = FastUnspecified
	for _, c := range [...]FastChoice{FastDownload, FastRunFromDP, FastDownloadOnDemand} {
		if rest&rcfFast == c.bit() {
			a.Fast, rest = c, rest&^c.bit()
		}
	}
	a.Slow = SlowUnspecified
	for _, c := range [...]SlowChoice{SlowDoNotRun, SlowDownload, SlowRunFromDP, SlowDownloadOnDemand} {
		if rest&rcfSlow == c.bit() {
			a.Slow, rest = c, rest&^c.bit()
		}
	}
	a.OtherRemoteClientFlags = rest
}

// TimeFlags returns the read-only TimeFlags word (§1.9) derived from the
// fields. ENABLE_MANDATORY is set when the advertisement is mandatory;
// GMT_MANDATORY when it has schedules and every one is in UTC. The
// AVAILABLE/UNAVAILABLE bits belong to program windows, which are not
// modelled, and are never set.
func (a *Advertisement) TimeFlags() uint32 {
	var f uint32
	set := func(on bool, bit uint32) {
		if on {
			f |= bit
		}
	}
	set(a.PresentTimeEnabled, TimeEnablePresent)
	set(a.PresentTimeIsGMT, TimeGMTPresent)
	set(a.ExpirationTimeEnabled, TimeEnableExpiration)
	set(a.ExpirationTimeIsGMT, TimeGMTExpiration)
	set(a.Mandatory(), TimeEnableMandatory)
	allGMT := len(a.Schedules) > 0
	for _, s := range a.Schedules {
		allGMT = allGMT && s.IsGMT
	}
	set(allGMT, TimeGMTMandatory)
	return f
}

// Mandatory reports whether the advertisement has any assignment: a schedule
// or an event (§1.9, §7 invariant 2).
func (a *Advertisement) Mandatory() bool { return a.Assignments() > 0 }

// Assignments counts the mandatory assignments: schedules and events, both
// of which the console's Mandatory assignments list holds. §1.9 allows at
// most MaxAssignments per program, across all its advertisements.
func (a *Advertisement) Assignments() int {
	n := len(a.Schedules)
	for _, on := range []bool{a.ASAP, a.OnLogon, a.OnLogoff, a.OnStartup} {
		if on {
			n++
		}
	}
	return n
}

// EffectiveRerun returns the rerun behaviour the client applies. A set
// behaviour is returned as is. RerunUnspecified (no RERUN_* bit, as in the
// SDK default 0x30) becomes RerunIfFailed with at most one assignment and
// RerunAlways with several: the SMS 2003 client rule of §1.9's notes
// [B-myitf id=6841], [UNVERIFIED] for 2007.
func (a *Advertisement) EffectiveRerun() Rerun {
	if a.Rerun != RerunUnspecified {
		return a.Rerun
	}
	if a.Assignments() > 1 {
		return RerunAlways
	}
	return RerunIfFailed
}

// Validate reports every rule the advertisement breaks (§1.9, §7 invariants
// 2 and 3), each as a *consign.ValidationError. p is the advertised program;
// when it is nil the checks that need it are skipped. A task sequence
// advertisement (IsTaskSequence) has no program: pass nil, and its own rules
// apply instead (see checkTaskSequence).
func (a *Advertisement) Validate(p *pkg.Program) error {
	var ps consign.Problems
	checkID(&ps, "Advertisement.ID", a.ID)
	checkID(&ps, "Advertisement.PackageID", a.PackageID)
	checkID(&ps, "Advertisement.CollectionID", a.CollectionID)
	if a.SourceSite != "" && a.SourceSite.Validate() != nil {
		ps.AddValue("Advertisement.SourceSite", string(a.SourceSite), "three letters or digits")
	}
	ps.Check(a.Name != "", "Advertisement.Name", "required")
	ps.Check(utf8.RuneCountInString(a.Name) <= MaxNameLen, "Advertisement.Name", fmt.Sprintf("at most %d characters", MaxNameLen))
	ps.Check(utf8.RuneCountInString(a.Comment) <= MaxCommentLen, "Advertisement.Comment", fmt.Sprintf("at most %d characters", MaxCommentLen))
	ps.Check(a.ProgramName != "", "Advertisement.ProgramName", "required")
	ps.Check(utf8.RuneCountInString(a.ProgramName) <= MaxProgramNameLen, "Advertisement.ProgramName", fmt.Sprintf("at most %d characters", MaxProgramNameLen))
	ps.Check(a.Priority >= PriorityHigh && a.Priority <= PriorityLow, "Advertisement.Priority", "1 (high), 2 (normal) or 3 (low)")
	ps.Check(a.Countdown >= 0, "Advertisement.Countdown", "zero (site default) or a positive number of minutes")
	ps.Check(a.Rerun >= RerunUnspecified && a.Rerun <= RerunIfSucceeded, "Advertisement.Rerun", "one of the Rerun constants")
	ps.Check(a.Fast >= FastDownload && a.Fast <= FastDownloadOnDemand, "Advertisement.Fast", "one of the FastChoice constants")
	ps.Check(a.Slow >= SlowDoNotRun && a.Slow <= SlowDownloadOnDemand, "Advertisement.Slow", "one of the SlowChoice constants")

	if n := a.Assignments(); n > MaxAssignments {
		ps.AddValue("Advertisement.Schedules", n, fmt.Sprintf("at most %d assignments, schedules and events together", MaxAssignments))
	}
	for i, s := range a.Schedules {
		if err := s.Validate(); err != nil {
			ps.Add(fmt.Sprintf("Advertisement.Schedules[%d]", i), "a valid schedule token: "+err.Error())
		}
	}
	if !a.Mandatory() {
		const rule = "needs a mandatory assignment (§7 invariant 2)"
		ps.Check(!a.MandatoryOverSlowLinks, "Advertisement.MandatoryOverSlowLinks", rule)
		ps.Check(!a.IgnoreMaintenanceWindows, "Advertisement.IgnoreMaintenanceWindows", rule)
		ps.Check(!a.WakeOnLAN, "Advertisement.WakeOnLAN", rule)
	}
	if a.PresentTimeEnabled && a.ExpirationTimeEnabled && a.PresentTimeIsGMT == a.ExpirationTimeIsGMT {
		// Times in different zones cannot be compared until a device's zone
		// is known; Decide then treats the advertisement as expired.
		ps.Check(civil(a.ExpirationTime, time.UTC).After(civil(a.PresentTime, time.UTC)), "Advertisement.ExpirationTime", "after the start time (PresentTime)")
	}
	a.checkTaskSequence(&ps)
	switch {
	case p == nil:
	case a.IsTaskSequence():
		ps.AddValue("Advertisement.ProgramName", a.ProgramName, "must match the program given: a task sequence advertisement (\"*\") has no program, pass none (§1.9)")
	default:
		ps.Check(p.PackageID == a.PackageID && p.Name == a.ProgramName, "Advertisement.ProgramName", "must match the program given")
		ps.Check(!a.OnLogoff || p.Logon == pkg.NoUserLoggedOn, "Advertisement.OnLogoff", "the program must run only when no user is logged on (NOUSERLOGGEDIN)")
	}
	a.checkOtherFlags(&ps)
	return ps.Err()
}

// checkTaskSequence applies the task sequence rules of §1.9 ("Task-sequence
// advertisements (differences)"): the task sequence options are legal only on
// a task sequence advertisement; its Distribution Points page has one content
// choice plus "use a remote distribution point", so Slow is SlowDoNotRun or
// Fast's remote counterpart; and "Download all contents locally before
// starting task sequence" is not allowed with boot media and PXE.
func (a *Advertisement) checkTaskSequence(ps *consign.Problems) {
	if !a.IsTaskSequence() {
		const rule = "legal only on a task sequence advertisement (ProgramName \"*\", §1.9)"
		ps.Check(a.Fast != FastDownloadOnDemand, "Advertisement.Fast", "download on demand (0x100): "+rule)
		ps.Check(a.Slow != SlowDownloadOnDemand, "Advertisement.Slow", "download on demand from a remote DP (0x200): "+rule)
		ps.Check(!a.ShowProgress, "Advertisement.ShowProgress", rule)
		ps.Check(!a.AvailableToBootMediaAndPXE, "Advertisement.AvailableToBootMediaAndPXE", rule)
		return
	}
	fast, slow, ok := a.choices()
	if !ok {
		return // out of range or contradictory: reported by the other checks
	}
	if slow != SlowDoNotRun && slow != fast.remote() {
		ps.AddValue("Advertisement.Slow", a.Slow.name(), fmt.Sprintf("on a task sequence advertisement, SlowDoNotRun or %s, the remote counterpart of Fast: "+
			"the page has one content choice plus \"When no local distribution point is available, use a remote distribution point\" (§1.9)", fast.remote().name()))
	}
	if a.AvailableToBootMediaAndPXE && fast == FastDownload {
		ps.AddValue("Advertisement.Fast", a.Fast.name(), "not \"Download all contents locally before starting task sequence\" (FastDownload, also the default when no fast-boundary bit is set) "+
			"when AvailableToBootMediaAndPXE is set (§1.9)")
	}
}

// choices returns Fast and Slow after defaulting (§7 invariant 3): an
// unspecified choice whose group has no bit in OtherRemoteClientFlags reads
// as the console default (FastDownload, SlowDoNotRun), as content location
// reads it. ok is false when a choice is out of range or its group holds
// bits beside the field (a contradiction checkOtherFlags reports).
func (a *Advertisement) choices() (FastChoice, SlowChoice, bool) {
	fast, slow := a.Fast, a.Slow
	if fast < FastDownload || fast > FastDownloadOnDemand || slow < SlowDoNotRun || slow > SlowDownloadOnDemand ||
		a.OtherRemoteClientFlags&(rcfFast|rcfSlow) != 0 {
		return fast, slow, false
	}
	if fast == FastUnspecified {
		fast = FastDownload
	}
	if slow == SlowUnspecified {
		slow = SlowDoNotRun
	}
	return fast, slow, true
}

// checkOtherFlags rejects what OtherAdvertFlags and OtherRemoteClientFlags
// may not hold: bits a field models, contradictory alternatives (§7
// invariant 3), [CB] bits and bits §1.9 does not define.
func (a *Advertisement) checkOtherFlags(ps *consign.Problems) {
	const af, rf = "Advertisement.OtherAdvertFlags", "Advertisement.OtherRemoteClientFlags"
	hex := func(v uint32) string { return fmt.Sprintf("0x%08X", v) }
	if b := a.OtherAdvertFlags & advModelled; b != 0 {
		ps.AddValue(af, hex(uint32(b)), "must not hold bits modelled by fields; set the fields instead")
	}
	if b := a.OtherAdvertFlags & advCB; b != 0 {
		ps.AddValue(af, hex(uint32(b)), "[CB] bits are not supported by ConfigMgr 2007")
	}
	if b := a.OtherAdvertFlags &^ advDefined; b != 0 {
		ps.AddValue(af, hex(uint32(b)), "bits not defined for AdvertFlags")
	}
	word := a.RemoteClientFlags()
	for _, g := range []struct {
		mask RemoteClientFlags
		name string
	}{{rcfRerun, "Rerun"}, {rcfFast, "Fast"}, {rcfSlow, "Slow"}, {RCFBalloonRemindersRequired, "BalloonReminders"}} {
		switch {
		case a.OtherRemoteClientFlags&g.mask == 0:
		case bits.OnesCount32(uint32(word&g.mask)) > 1:
			ps.AddValue(rf, hex(uint32(word&g.mask)), "contradictory: at most one "+g.name+" choice")
		default:
			ps.AddValue(rf, hex(uint32(a.OtherRemoteClientFlags&g.mask)), "must not hold bits modelled by fields; set "+g.name+" instead")
		}
	}
	if b := a.OtherRemoteClientFlags & rcfCB; b != 0 {
		ps.AddValue(rf, hex(uint32(b)), "[CB] bits are not supported by ConfigMgr 2007")
	}
	if b := a.OtherRemoteClientFlags &^ rcfDefined; b != 0 {
		ps.AddValue(rf, hex(uint32(b)), "bits not defined for RemoteClientFlags")
	}
}

func checkID(ps *consign.Problems, field string, id consign.ObjectID) {
	if id.Validate() != nil {
		ps.AddValue(field, string(id), "site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
}

// CheckUpdate reports the fields that may not change after creation and did
// between old and new: Name, PackageID, ProgramName and CollectionID (§1.9,
// §7 invariant 1), plus the identity fields ID and SourceSite. Each is a
// *consign.ValidationError; nil means the update is allowed.
func CheckUpdate(old, new *Advertisement) error {
	var ps consign.Problems
	const rule = "immutable after creation"
	ps.Check(old.ID == new.ID, "Advertisement.ID", rule)
	ps.Check(old.Name == new.Name, "Advertisement.Name", rule)
	ps.Check(old.PackageID == new.PackageID, "Advertisement.PackageID", rule)
	ps.Check(old.ProgramName == new.ProgramName, "Advertisement.ProgramName", rule)
	ps.Check(old.CollectionID == new.CollectionID, "Advertisement.CollectionID", rule)
	ps.Check(old.SourceSite == new.SourceSite, "Advertisement.SourceSite", rule)
	return ps.Err()
}

// civil reads t's wall-clock fields as a time in loc.
func civil(t time.Time, loc *time.Location) time.Time {
	if loc == t.Location() {
		return t // already that wall clock in that zone
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), loc)
}
