package advertisement

import "fmt"

// AdvertFlags is SMS_Advertisement.AdvertFlags (reference §1.9, [S-ADV]).
// Advertisement models most bits as fields; AdvertFlags and FromFlags convert.
type AdvertFlags uint32

// The AdvertFlags bits of §1.9 [S-ADV]. Bits marked [CB] exist only in later
// versions; Validate rejects them, FromFlags keeps them.
const (
	AdvImmediate                     AdvertFlags = 0x00000020 // assignment event "As soon as possible"
	AdvOnSystemStartup               AdvertFlags = 0x00000100 // assignment at system startup
	AdvOnUserLogon                   AdvertFlags = 0x00000200 // assignment event "Logon"
	AdvOnUserLogoff                  AdvertFlags = 0x00000400 // assignment event "Logoff"; the program must be NOUSERLOGGEDIN
	AdvOptionalPredownload           AdvertFlags = 0x00001000 // [CB] pre-download content for available deployments
	AdvWindowsCE                     AdvertFlags = 0x00008000 // device (Windows CE) advertisement
	AdvEnablePeerCaching             AdvertFlags = 0x00010000 // [CB, 2012 SP1]
	AdvDoNotFallback                 AdvertFlags = 0x00020000 // do not fall back to unprotected DPs
	AdvEnableTSFromCDAndPXE          AdvertFlags = 0x00040000 // task sequence available to boot media and PXE
	AdvIntranetOnly                  AdvertFlags = 0x00080000 // APTSINTRANETONLY: intranet clients only
	AdvOverrideServiceWindows        AdvertFlags = 0x00100000 // ignore maintenance windows (mandatory only)
	AdvRebootOutsideOfServiceWindows AdvertFlags = 0x00200000 // allow restarts outside maintenance windows
	AdvWakeOnLAN                     AdvertFlags = 0x00400000 // WAKE_ON_LAN_ENABLED (mandatory only)
	AdvShowProgress                  AdvertFlags = 0x00800000 // task sequence: show progress
	AdvNoDisplay                     AdvertFlags = 0x02000000 // hidden from Run Advertised Programs (mandatory only)
	AdvOnSlowNet                     AdvertFlags = 0x04000000 // ONSLOWNET (mandatory only); see MandatoryOverSlowLinks
	AdvTargetToWinPE                 AdvertFlags = 0x10000000 // task sequence targets WinPE
	AdvHiddenInWinPE                 AdvertFlags = 0x20000000 // task sequence hidden in WinPE
)

const (
	// advEvents are the assignment events: any of them makes an
	// advertisement mandatory (§1.9, §7 invariant 2).
	advEvents = AdvImmediate | AdvOnSystemStartup | AdvOnUserLogon | AdvOnUserLogoff
	// advMandatoryOnly may be set only on a mandatory advertisement
	// (§7 invariant 2).
	advMandatoryOnly = AdvNoDisplay | AdvOnSlowNet | AdvOverrideServiceWindows | AdvWakeOnLAN
	// advTaskSequence are the modelled bits legal only on a task sequence
	// advertisement (§1.9 "Task-sequence advertisements (differences)").
	advTaskSequence = AdvEnableTSFromCDAndPXE | AdvShowProgress
	// advModelled are the bits Advertisement holds as fields.
	advModelled = advEvents | advMandatoryOnly | advTaskSequence | AdvDoNotFallback | AdvRebootOutsideOfServiceWindows
	advCB       = AdvOptionalPredownload | AdvEnablePeerCaching
	advDefined  = advModelled | advCB | AdvWindowsCE | AdvIntranetOnly | AdvTargetToWinPE | AdvHiddenInWinPE
)

// RemoteClientFlags is SMS_Advertisement.RemoteClientFlags (§1.9, [S-ADV]):
// where content comes from on fast and slow boundaries, rerun behaviour and
// reminders.
type RemoteClientFlags uint32

// The RemoteClientFlags bits of §1.9 [S-ADV]. Bits marked [CB] exist only in
// later versions; Validate rejects them, FromFlags keeps them.
const (
	RCFBatteryPower                 RemoteClientFlags = 0x0001  // unused
	RCFRunFromCD                    RemoteClientFlags = 0x0002  // unused
	RCFDownloadFromCD               RemoteClientFlags = 0x0004  // unused
	RCFRunFromLocalDP               RemoteClientFlags = 0x0008  // fast boundary: run program from the DP
	RCFDownloadFromLocalDP          RemoteClientFlags = 0x0010  // fast boundary: download and run locally
	RCFDontRunNoLocalDP             RemoteClientFlags = 0x0020  // slow boundary: do not run program
	RCFDownloadFromRemoteDP         RemoteClientFlags = 0x0040  // slow boundary: download and run locally
	RCFRunFromRemoteDP              RemoteClientFlags = 0x0080  // slow boundary: run program from the DP
	RCFDownloadOnDemandFromLocalDP  RemoteClientFlags = 0x0100  // task sequence: download on demand
	RCFDownloadOnDemandFromRemoteDP RemoteClientFlags = 0x0200  // task sequence: download on demand, remote DP allowed
	RCFBalloonRemindersRequired     RemoteClientFlags = 0x0400  // display reminders per client agent intervals
	RCFRerunAlways                  RemoteClientFlags = 0x0800  // always rerun program
	RCFRerunNever                   RemoteClientFlags = 0x1000  // never rerun advertised program
	RCFRerunIfFailed                RemoteClientFlags = 0x2000  // rerun if failed previous attempt (console default)
	RCFRerunIfSucceeded             RemoteClientFlags = 0x4000  // rerun if succeeded on previous attempt
	RCFPersistOnWriteFilterDevices  RemoteClientFlags = 0x8000  // [CB]
	RCFDontFallback                 RemoteClientFlags = 0x20000 // [CB]
	RCFDPAllowMeteredNetwork        RemoteClientFlags = 0x40000 // [CB]
)

// DefaultRemoteClientFlags is the SDK's default 0x30 (§1.9): download on
// fast boundaries, do not run on slow ones, and no rerun bit. It is what the
// zero Advertisement encodes.
const DefaultRemoteClientFlags = RCFDownloadFromLocalDP | RCFDontRunNoLocalDP

const (
	rcfRerun    = RCFRerunAlways | RCFRerunNever | RCFRerunIfFailed | RCFRerunIfSucceeded
	rcfFast     = RCFRunFromLocalDP | RCFDownloadFromLocalDP | RCFDownloadOnDemandFromLocalDP
	rcfSlow     = RCFDontRunNoLocalDP | RCFDownloadFromRemoteDP | RCFRunFromRemoteDP | RCFDownloadOnDemandFromRemoteDP
	rcfModelled = rcfRerun | rcfFast | rcfSlow | RCFBalloonRemindersRequired
	rcfCB       = RCFPersistOnWriteFilterDevices | RCFDontFallback | RCFDPAllowMeteredNetwork
	rcfDefined  = rcfModelled | rcfCB | RCFBatteryPower | RCFRunFromCD | RCFDownloadFromCD
)

// Rerun is the advertisement's "Program rerun behavior" (§1.9, §3.2 step 4a).
type Rerun int

// Rerun settings. The zero value is RerunUnspecified, matching the SDK's
// default RemoteClientFlags 0x30, which sets no rerun bit.
const (
	// RerunUnspecified sets no RERUN_* bit; the client then applies the
	// implicit rule of §1.9 (see EffectiveRerun).
	RerunUnspecified Rerun = iota
	RerunAlways            // RERUN_ALWAYS 0x0800
	RerunNever             // RERUN_NEVER 0x1000
	RerunIfFailed          // RERUN_IF_FAILED 0x2000, the console default
	RerunIfSucceeded       // RERUN_IF_SUCCEEDED 0x4000
)

func (r Rerun) bit() RemoteClientFlags {
	switch r {
	case RerunAlways:
		return RCFRerunAlways
	case RerunNever:
		return RCFRerunNever
	case RerunIfFailed:
		return RCFRerunIfFailed
	case RerunIfSucceeded:
		return RCFRerunIfSucceeded
	}
	return 0
}

// String returns the client-side name of the behaviour
// (CCM_SoftwareDistribution.ADV_RepeatRunBehavior, §1.18).
func (r Rerun) String() string {
	switch r {
	case RerunUnspecified:
		return "Unspecified"
	case RerunAlways:
		return "RerunAlways"
	case RerunNever:
		return "RerunNever"
	case RerunIfFailed:
		return "RerunIfFail"
	case RerunIfSucceeded:
		return "RerunIfSuccess"
	}
	return "Rerun(invalid)"
}

// FastChoice is what a client inside a fast (LAN) boundary does with the
// content (§1.9 Distribution Points page, §3.3 step 7).
//
// The values are stored as integers, so they are never renumbered: choices
// added later follow FastUnspecified.
type FastChoice int

// Fast-boundary choices. The zero value is the default, FastDownload. On a
// task sequence advertisement (IsTaskSequence) the Distribution Points page
// names them differently (§1.9 "Task-sequence advertisements"); the bits are
// the same.
const (
	// FastDownload (0x10): download content from the distribution point and
	// run locally. On a task sequence: "Download all contents locally before
	// starting task sequence".
	FastDownload FastChoice = iota
	// FastRunFromDP (0x08): run program from the distribution point. On a
	// task sequence: "Access content directly from a distribution point when
	// needed by the running task sequence".
	FastRunFromDP
	// FastUnspecified is none or several fast-boundary bits: set only by
	// FromFlags to round-trip such a word.
	FastUnspecified
	// FastDownloadOnDemand (0x100, DOWNLOAD_ON_DEMAND_FROM_LOCAL_DP), task
	// sequences only: "Download content locally when needed by running task
	// sequence".
	FastDownloadOnDemand
)

func (f FastChoice) bit() RemoteClientFlags {
	switch f {
	case FastDownload:
		return RCFDownloadFromLocalDP
	case FastRunFromDP:
		return RCFRunFromLocalDP
	case FastDownloadOnDemand:
		return RCFDownloadOnDemandFromLocalDP
	}
	return 0
}

// name returns the constant's name, for validation messages.
func (f FastChoice) name() string {
	switch f {
	case FastDownload:
		return "FastDownload"
	case FastRunFromDP:
		return "FastRunFromDP"
	case FastUnspecified:
		return "FastUnspecified"
	case FastDownloadOnDemand:
		return "FastDownloadOnDemand"
	}
	return fmt.Sprintf("FastChoice(%d)", int(f))
}

// remote returns the slow-boundary choice that takes the same content choice
// from a remote DP: the task sequence page's "When no local distribution
// point is available, use a remote distribution point" (§1.9). It returns
// SlowUnspecified for a choice with no counterpart.
func (f FastChoice) remote() SlowChoice {
	switch f {
	case FastDownload:
		return SlowDownload
	case FastRunFromDP:
		return SlowRunFromDP
	case FastDownloadOnDemand:
		return SlowDownloadOnDemand
	}
	return SlowUnspecified
}

// SlowChoice is what a client on a slow or unreliable boundary (or using a
// fallback source location) does (§1.9 Distribution Points page, §3.3 step 7).
//
// The values are stored as integers, so they are never renumbered: choices
// added later follow SlowUnspecified.
type SlowChoice int

// Slow-boundary choices. The zero value is the default, SlowDoNotRun. On a
// task sequence advertisement each choice but SlowDoNotRun is the remote
// counterpart of a FastChoice, ticked by "When no local distribution point is
// available, use a remote distribution point" (§1.9).
const (
	// SlowDoNotRun (0x20): do not run program. On a task sequence: the
	// remote-DP box unticked.
	SlowDoNotRun SlowChoice = iota
	// SlowDownload (0x40): download content and run locally. On a task
	// sequence: download all contents before starting, from a remote DP.
	SlowDownload
	// SlowRunFromDP (0x80): run program from the distribution point. On a
	// task sequence: access content directly from a remote DP.
	SlowRunFromDP
	// SlowUnspecified is none or several slow-boundary bits: set only by
	// FromFlags to round-trip such a word.
	SlowUnspecified
	// SlowDownloadOnDemand (0x200, DOWNLOAD_ON_DEMAND_FROM_REMOTE_DP), task
	// sequences only: download content when needed by the running task
	// sequence, from a remote DP.
	SlowDownloadOnDemand
)

func (s SlowChoice) bit() RemoteClientFlags {
	switch s {
	case SlowDoNotRun:
		return RCFDontRunNoLocalDP
	case SlowDownload:
		return RCFDownloadFromRemoteDP
	case SlowRunFromDP:
		return RCFRunFromRemoteDP
	case SlowDownloadOnDemand:
		return RCFDownloadOnDemandFromRemoteDP
	}
	return 0
}

// name returns the constant's name, for validation messages.
func (s SlowChoice) name() string {
	switch s {
	case SlowDoNotRun:
		return "SlowDoNotRun"
	case SlowDownload:
		return "SlowDownload"
	case SlowRunFromDP:
		return "SlowRunFromDP"
	case SlowUnspecified:
		return "SlowUnspecified"
	case SlowDownloadOnDemand:
		return "SlowDownloadOnDemand"
	}
	return fmt.Sprintf("SlowChoice(%d)", int(s))
}

// Priority is the advertisement's replication priority to child sites
// (§1.9; the console shows High/Medium/Low).
type Priority int

// Priorities. The zero value is not a priority; New sets PriorityNormal.
const (
	PriorityHigh   Priority = 1
	PriorityNormal Priority = 2 // the default
	PriorityLow    Priority = 3
)

// TimeFlags bits (§1.9), derived by Advertisement.TimeFlags.
const (
	TimeEnablePresent     uint32 = 0x1
	TimeEnableExpiration  uint32 = 0x2
	TimeEnableAvailable   uint32 = 0x4 // not modelled: never set
	TimeEnableUnavailable uint32 = 0x8 // not modelled: never set
	TimeEnableMandatory   uint32 = 0x10
	TimeGMTPresent        uint32 = 0x20
	TimeGMTExpiration     uint32 = 0x40
	TimeGMTAvailable      uint32 = 0x80  // not modelled: never set
	TimeGMTUnavailable    uint32 = 0x100 // not modelled: never set
	TimeGMTMandatory      uint32 = 0x200
)
