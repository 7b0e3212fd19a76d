// Package advertisement models Configuration Manager 2007 advertisements
// (SMS_Advertisement): one program of one package offered to one collection,
// optionally made mandatory by assignments. It decides, for one device at one
// instant, what the client does with an advertisement, and tracks what
// devices report back. Section numbers (§) and source keys ([S-ADV], …) refer
// to the domain reference, configmgr2007.md.
//
// The package is pure: no I/O, no goroutines, no clock. Time is always a
// parameter.
//
// # Advertisements and flag words
//
// Advertisement holds ConfigMgr's AdvertFlags and RemoteClientFlags as
// fields (§1.9). AdvertFlags, RemoteClientFlags and FromFlags convert, and a
// word read from ConfigMgr survives the round trip exactly, including bits no
// field models. Validate checks the rules of §1.9 and §7 (limits, the
// mandatory-only flags, logoff programs, contradictory bits); CheckUpdate the
// fields that are immutable after creation.
//
// # The offer decision
//
// Decide is the client's evaluation of §3.2 as a function: accept or reject,
// the availability window, the due assignment (schedules, ASAP, logon, logoff,
// startup; missed occurrences run late), the rerun table against the device's
// per-program History, the slow-link and logon rules and the maintenance
// window fit of §3.6. It returns an Offer saying whether the program is
// available, due, waiting (and until when), or will not run.
//
// # Exit codes and status
//
// ExitCodes classifies a program's exit code (§3.5). A device reports Events
// in Messages; ClientStatus.Apply moves the acceptance or delivery track of
// SMS_ClientAdvertisementStatus (§4.2), ignoring messages that arrive out of
// order. Summary counts statuses per advertisement, updated incrementally.
//
// # Unverified details
//
// Where the reference marks a fact [UNVERIFIED], the package picks a default
// and says so: the implicit rerun rule for advertisements without a rerun bit
// (EffectiveRerun), missed schedules running late, the ONSLOWNET polarity,
// the DONOT_FALLBACK default, and status message IDs (Event.MessageID returns
// 0 for the IDs §8 item 1 could not confirm).
package advertisement
