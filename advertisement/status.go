package advertisement

import (
	"fmt"
	"time"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

// AcceptanceState is the acceptance track of a client's status for one
// advertisement: SMS_ClientAdvertisementStatus.LastAcceptanceState (§1.19,
// §4.2 [S-CAS]).
type AcceptanceState int

// Acceptance states, with ConfigMgr's values. The constants carry the track
// name because the offer decision (State) uses the plain names.
const (
	AcceptanceNoStatus        AcceptanceState = 0  // policy not yet reported on
	AcceptanceAccepted        AcceptanceState = 1  // 10002: received and eligible
	AcceptanceRejected        AcceptanceState = 2  // not eligible (platform, disabled program)
	AcceptanceExpired         AcceptanceState = 3  // expired before it ran
	AcceptanceNoFurtherStatus AcceptanceState = -1 // "Accepted - No Further Status": 65535 program received
)

// String returns ConfigMgr's LastAcceptanceStateName.
func (s AcceptanceState) String() string {
	switch s {
	case AcceptanceNoStatus:
		return "No Status"
	case AcceptanceAccepted:
		return "Accepted"
	case AcceptanceRejected:
		return "Rejected"
	case AcceptanceExpired:
		return "Expired"
	case AcceptanceNoFurtherStatus:
		return "Accepted - No Further Status"
	}
	return fmt.Sprintf("AcceptanceState(%d)", int(s))
}

// DeliveryState is the delivery track: SMS_ClientAdvertisementStatus.LastState
// (§1.19, §4.2 [S-CAS]).
type DeliveryState int

// Delivery states, with ConfigMgr's MessageState values.
const (
	DeliveryNoStatus           DeliveryState = 0
	DeliveryWillNotRerun       DeliveryState = 4
	DeliveryDownloadInProgress DeliveryState = 5
	DeliveryDownloadComplete   DeliveryState = 6
	DeliveryCancelled          DeliveryState = 7
	DeliveryWaiting            DeliveryState = 8 // for a window, the user, content or a dependent program
	DeliveryRunning            DeliveryState = 9
	DeliveryRetrying           DeliveryState = 10
	DeliveryFailed             DeliveryState = 11
	DeliveryRebootPending      DeliveryState = 12
	DeliverySucceeded          DeliveryState = 13
)

// String returns ConfigMgr's LastStateName.
func (s DeliveryState) String() string {
	switch s {
	case DeliveryNoStatus:
		return "No Status"
	case DeliveryWillNotRerun:
		return "Will Not Rerun"
	case DeliveryDownloadInProgress:
		return "Download In Progress"
	case DeliveryDownloadComplete:
		return "Download Complete"
	case DeliveryCancelled:
		return "Cancelled"
	case DeliveryWaiting:
		return "Waiting"
	case DeliveryRunning:
		return "Running"
	case DeliveryRetrying:
		return "Retrying"
	case DeliveryFailed:
		return "Failed"
	case DeliveryRebootPending:
		return "Reboot Pending"
	case DeliverySucceeded:
		return "Succeeded"
	}
	return fmt.Sprintf("DeliveryState(%d)", int(s))
}

// final reports whether a delivery state ends a run.
func (s DeliveryState) final() bool {
	switch s {
	case DeliverySucceeded, DeliveryFailed, DeliveryCancelled, DeliveryWillNotRerun:
		return true
	}
	return false
}

// Event is what a device reports about one advertisement. The zero Event is
// not an event: ClientStatus.LastEvent is zero until a message is applied.
type Event int

// Events, each moving one track of ClientStatus (§3.5 status table, §4.2).
const (
	EventReceived            Event = iota + 1 // 10002 → Accepted
	EventProgramReceived                      // 65535 → Accepted - No Further Status
	EventRejected                             // → Rejected (ID unverified)
	EventExpired                              // → Expired (ID unverified)
	EventWillNotRerun                         // → Will Not Rerun (ID unverified)
	EventDownloadStarted                      // → Download In Progress (ID unverified)
	EventDownloadComplete                     // → Download Complete (ID unverified)
	EventDownloadFailedHash                   // 10030 → Failed: execmgr does not retry a hash failure (§3.4)
	EventCacheTooSmall                        // 10050 → Failed, not retried (§3.4)
	EventWaitingForWindow                     // 10073 → Waiting
	EventWaiting                              // user logon/logoff, content or dependency → Waiting (ID unverified)
	EventStarted                              // 10005 → Running
	EventSucceeded                            // 10008 (exit code) → Succeeded
	EventSucceededMIF                         // 10009 (status MIF) → Succeeded
	EventFailed                               // 10006 (exit code) → Failed
	EventFailedMIF                            // 10007 (status MIF) → Failed
	EventContentHashMismatch                  // 10057 → Failed
	EventRetrying                             // retry exit code, DP or cache unavailable → Retrying (ID unverified)
	EventRestartPending                       // success, restart required → Reboot Pending (ID unverified)
	EventRestarted                            // the pending restart happened → Succeeded (ID unverified)
	EventExceededTime                         // max run time exceeded → Failed (§3.5; ID unverified)
	EventCancelled                            // → Cancelled (ID unverified)
	EventTSResumed                            // 11142 → Running
	EventTSFailed                             // 11170 → Failed
	EventTSSucceeded                          // 11171 → Succeeded
	// EventTSStep: a task sequence step ended; Message.Step says which
	// and how. The sequence is still Running. ConfigMgr reports steps
	// with 111xx messages whose IDs the reference does not record (ID
	// unverified).
	EventTSStep
)

// eventDef is one row of the event table: its name, its status message ID (0
// where §3.5 and §8 item 1 leave it unverified), and the state it sets on
// exactly one track.
type eventDef struct {
	name       string
	messageID  int
	acceptance AcceptanceState // non-zero: an acceptance-track event
	delivery   DeliveryState   // non-zero: a delivery-track event
	exitCode   bool            // the message carries the program's exit code
}

// eventDefs is a constant table indexed by Event.
var eventDefs = [...]eventDef{
	EventReceived:            {"Received", 10002, AcceptanceAccepted, 0, false},
	EventProgramReceived:     {"ProgramReceived", 65535, AcceptanceNoFurtherStatus, 0, false},
	EventRejected:            {"Rejected", 0, AcceptanceRejected, 0, false},
	EventExpired:             {"Expired", 0, AcceptanceExpired, 0, false},
	EventWillNotRerun:        {"WillNotRerun", 0, 0, DeliveryWillNotRerun, false},
	EventDownloadStarted:     {"DownloadStarted", 0, 0, DeliveryDownloadInProgress, false},
	EventDownloadComplete:    {"DownloadComplete", 0, 0, DeliveryDownloadComplete, false},
	EventDownloadFailedHash:  {"DownloadFailedHash", 10030, 0, DeliveryFailed, false},
	EventCacheTooSmall:       {"CacheTooSmall", 10050, 0, DeliveryFailed, false},
	EventWaitingForWindow:    {"WaitingForWindow", 10073, 0, DeliveryWaiting, false},
	EventWaiting:             {"Waiting", 0, 0, DeliveryWaiting, false},
	EventStarted:             {"Started", 10005, 0, DeliveryRunning, false},
	EventSucceeded:           {"Succeeded", 10008, 0, DeliverySucceeded, true},
	EventSucceededMIF:        {"SucceededMIF", 10009, 0, DeliverySucceeded, false},
	EventFailed:              {"Failed", 10006, 0, DeliveryFailed, true},
	EventFailedMIF:           {"FailedMIF", 10007, 0, DeliveryFailed, false},
	EventContentHashMismatch: {"ContentHashMismatch", 10057, 0, DeliveryFailed, false},
	EventRetrying:            {"Retrying", 0, 0, DeliveryRetrying, true},
	EventRestartPending:      {"RestartPending", 0, 0, DeliveryRebootPending, true},
	EventRestarted:           {"Restarted", 0, 0, DeliverySucceeded, false},
	EventExceededTime:        {"ExceededTime", 0, 0, DeliveryFailed, false},
	EventCancelled:           {"Cancelled", 0, 0, DeliveryCancelled, false},
	EventTSResumed:           {"TSResumed", 11142, 0, DeliveryRunning, false},
	EventTSFailed:            {"TSFailed", 11170, 0, DeliveryFailed, false},
	EventTSSucceeded:         {"TSSucceeded", 11171, 0, DeliverySucceeded, false},
	EventTSStep:              {"TSStep", 0, 0, DeliveryRunning, true},
}

func (e Event) def() (eventDef, bool) {
	if e <= 0 || int(e) >= len(eventDefs) {
		return eventDef{}, false
	}
	return eventDefs[e], true
}

// String returns the event's name.
func (e Event) String() string {
	if d, ok := e.def(); ok {
		return d.name
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// RunOutcome reports whether e ends a run of the program and, if so,
// whether the run succeeded: what the execution history records (§3.2 4a,
// the history rerun rules are checked against), on the site and on the
// device alike. A restart still pending counts as success (§3.5: "No
// action required" with 3010 records success).
func (e Event) RunOutcome() (succeeded, final bool) {
	switch e {
	case EventSucceeded, EventSucceededMIF, EventRestartPending, EventTSSucceeded:
		return true, true
	case EventFailed, EventFailedMIF, EventContentHashMismatch, EventExceededTime, EventTSFailed:
		return false, true
	}
	return false, false
}

// MessageID returns the ConfigMgr status message ID for e where the reference
// marks it verified (§3.5), and 0 otherwise: §8 item 1 warns against the
// commonly quoted but unverified IDs (10003, 10018, …).
func (e Event) MessageID() int {
	d, _ := e.def()
	return d.messageID
}

// EventForMessageID returns the event with status message ID id, and false
// when no event has that verified ID.
func EventForMessageID(id int) (Event, bool) {
	if id == 0 {
		return 0, false
	}
	for e := range eventDefs {
		if eventDefs[e].messageID == id {
			return Event(e), true
		}
	}
	return 0, false
}

// Message is one status report from a device about one advertisement.
type Message struct {
	ID              string           // unique per message; the caller drops duplicates by it
	AdvertisementID consign.ObjectID // attribute 401 in ConfigMgr [UNVERIFIED id]
	ResourceID      uint32           // the device
	Event           Event
	Time            time.Time // when the device raised it
	ExitCode        int       // for events that carry one (Succeeded, Failed, Retrying, RestartPending)
	Detail          string    // status MIF text, or a reason
	// RunFirst, when set, says the message is about a program the
	// advertised program runs first ("run another program first", §1.3),
	// not the advertised program itself: it feeds that program's execution
	// history and leaves the advertisement's status alone.
	RunFirst *pkg.ProgramRef
	// Step says which task sequence step an EventTSStep message is about
	// and how it ended; set exactly on those messages.
	Step *StepStatus
}

// StepStatus is how one step of a task sequence ended on a device: the
// per-step progress a task sequence reports (§1.10).
type StepStatus struct {
	// Index is the step's position in the order tasksequence.Sequence.Walk
	// visits steps (a group before its steps), from 0.
	Index int
	// Name is the step's name when it ran.
	Name  string
	State tasksequence.StepState
	// Continued is set on a failed step whose ContinueOnError let the
	// sequence go on.
	Continued bool
}

// Validate reports every problem with m.
func (m Message) Validate() error {
	var ps consign.Problems
	ps.Check(m.ID != "", "Message.ID", "required")
	checkID(&ps, "Message.AdvertisementID", m.AdvertisementID)
	ps.Check(m.ResourceID != 0, "Message.ResourceID", "required")
	if _, ok := m.Event.def(); !ok {
		ps.AddValue("Message.Event", int(m.Event), "one of the Event constants")
	}
	ps.Check(!m.Time.IsZero(), "Message.Time", "required")
	if m.Event == EventTSStep {
		if m.Step == nil {
			ps.Add("Message.Step", "required on a TSStep message")
		} else {
			ps.Check(m.Step.Index >= 0, "Message.Step.Index", "zero or more")
			ps.Check(m.Step.Name != "", "Message.Step.Name", "required")
			ps.Check(m.Step.State >= tasksequence.StepSucceeded && m.Step.State <= tasksequence.StepSkippedCondition,
				"Message.Step.State", "one of the tasksequence.StepState constants")
			ps.Check(!m.Step.Continued || m.Step.State == tasksequence.StepFailed, "Message.Step.Continued", "only on a failed step")
		}
	} else {
		ps.Check(m.Step == nil, "Message.Step", "only on a TSStep message")
	}
	ps.Check(m.Step == nil || m.RunFirst == nil, "Message.RunFirst", "a task sequence step is not a program run first")
	return ps.Err()
}

// ClientStatus is one device's status for one advertisement, the
// SMS_ClientAdvertisementStatus row (§1.19). The zero value is "No Status" on
// both tracks.
type ClientStatus struct {
	Acceptance         AcceptanceState
	Delivery           DeliveryState
	LastEvent          Event     // the last message applied, on either track
	LastMessageID      int       // its status message ID (0 where unverified)
	LastStatusTime     time.Time // the delivery track's last message time
	LastAcceptanceTime time.Time // the acceptance track's last message time
	LastExitCode       int       // LastExecutionResult: the last exit code reported
	HasExitCode        bool      // whether LastExitCode was ever reported
	Detail             string    // the last applied message's Detail
}

// Apply returns the status after m (§4.2). Each event moves one track to the
// state in the Event table; the other track is untouched.
//
// Every event is accepted from every state: the device is the source of
// truth, and status messages can be lost, so a Succeeded following a
// DownloadInProgress (the Running report lost) or a DownloadStarted after a
// Succeeded (a new assignment or a Re-run restarting from a terminal state,
// §4.2) are both taken as reported. The one guard is time: a message older
// than the last one applied on its track is ignored (out-of-order
// delivery), so a late "Running" never hides a "Succeeded". A message with the
// same time as the last one is applied. Applying a message twice gives the
// same status as applying it once. An invalid Event is ignored; check
// Message.Validate first.
func (s ClientStatus) Apply(m Message) ClientStatus {
	d, ok := m.Event.def()
	if !ok {
		return s
	}
	if d.acceptance != AcceptanceNoStatus {
		if m.Time.Before(s.LastAcceptanceTime) {
			return s
		}
		s.Acceptance, s.LastAcceptanceTime = d.acceptance, m.Time
	} else {
		if m.Time.Before(s.LastStatusTime) {
			return s
		}
		if m.Time.Equal(s.LastStatusTime) && s.Delivery.final() && !d.delivery.final() {
			return s // a Running stamped with the same time never hides a result
		}
		s.Delivery, s.LastStatusTime = d.delivery, m.Time
		if d.exitCode {
			s.LastExitCode, s.HasExitCode = m.ExitCode, true
		}
	}
	s.LastEvent, s.LastMessageID, s.Detail = m.Event, d.messageID, m.Detail
	return s
}
