package updates

import "fmt"

// EnforcementState is a device's enforcement state for one deployment: the
// state message of topic 301 SUM_ASSIGNMENT_ENFORCEMENT (§4.4 [S-STATE]).
// The [CB] values 11 (waiting for orchestration) and 12 (waiting for a
// superseding update) do not exist in ConfigMgr 2007 and are not modelled.
type EnforcementState uint8

// The topic 301 states, with ConfigMgr's values (§4.4).
const (
	EnforcementUnknown           EnforcementState = 0  // enforcement state unknown
	EnforcementInstalling        EnforcementState = 1  // installing update(s)
	EnforcementWaitingForRestart EnforcementState = 2  // restart countdown running
	EnforcementWaitingForInstall EnforcementState = 3  // another installation must complete first
	EnforcementSucceeded         EnforcementState = 4  // successfully installed update(s)
	EnforcementPendingRestart    EnforcementState = 5  // restart suppressed or waiting for a window
	EnforcementFailed            EnforcementState = 6  // failed to install update(s)
	EnforcementDownloading       EnforcementState = 7  // downloading update(s)
	EnforcementDownloaded        EnforcementState = 8  // downloaded update(s)
	EnforcementDownloadFailed    EnforcementState = 9  // failed to download update(s)
	EnforcementWaitingForWindow  EnforcementState = 10 // waiting for maintenance window before installing
	maxEnforcementState                           = EnforcementWaitingForWindow
)

// enforcementNames are the state names of §4.4, indexed by value.
var enforcementNames = [...]string{
	EnforcementUnknown:           "Enforcement state unknown",
	EnforcementInstalling:        "Installing update(s)",
	EnforcementWaitingForRestart: "Waiting for restart",
	EnforcementWaitingForInstall: "Waiting for another installation to complete",
	EnforcementSucceeded:         "Successfully installed update(s)",
	EnforcementPendingRestart:    "Pending system restart",
	EnforcementFailed:            "Failed to install update(s)",
	EnforcementDownloading:       "Downloading update(s)",
	EnforcementDownloaded:        "Downloaded update(s)",
	EnforcementDownloadFailed:    "Failed to download update(s)",
	EnforcementWaitingForWindow:  "Waiting for maintenance window before installing",
}

// Valid reports whether s is one of the 2007 states 0–10.
func (s EnforcementState) Valid() bool { return s <= maxEnforcementState }

// String returns the state's name as §4.4 and the console give it.
func (s EnforcementState) String() string {
	if s.Valid() {
		return enforcementNames[s]
	}
	return fmt.Sprintf("EnforcementState(%d)", int(s))
}

// EvaluationState is a device's evaluation state for one deployment: topic
// 302 SUM_ASSIGNMENT_EVALUATION (§3.7 step 3, §4.4).
type EvaluationState uint8

// The topic 302 states.
const (
	EvaluationUnknown   EvaluationState = 0
	EvaluationActivated EvaluationState = 1
	EvaluationSucceeded EvaluationState = 2
	EvaluationFailed    EvaluationState = 3
)

// Valid reports whether s is one of the states 0–3.
func (s EvaluationState) Valid() bool { return s <= EvaluationFailed }

// String returns the state's name.
func (s EvaluationState) String() string {
	switch s {
	case EvaluationUnknown:
		return "Evaluation state unknown"
	case EvaluationActivated:
		return "Activated"
	case EvaluationSucceeded:
		return "Succeeded"
	case EvaluationFailed:
		return "Failed"
	}
	return fmt.Sprintf("EvaluationState(%d)", int(s))
}

// AssignmentCompliance is a device's compliance with one deployment: topic
// 300 SUM_ASSIGNMENT_COMPLIANCE (§3.7 step 7, §4.3, §4.4). A device is
// compliant when none of the deployment's updates is Required on it.
type AssignmentCompliance uint8

// The topic 300 states.
const (
	AssignmentUnknown      AssignmentCompliance = 0
	AssignmentCompliant    AssignmentCompliance = 1
	AssignmentNonCompliant AssignmentCompliance = 2
	AssignmentConflict     AssignmentCompliance = 3
)

// Valid reports whether c is one of the states 0–3.
func (c AssignmentCompliance) Valid() bool { return c <= AssignmentConflict }

// String returns the state's name.
func (c AssignmentCompliance) String() string {
	switch c {
	case AssignmentUnknown:
		return "Compliance state unknown"
	case AssignmentCompliant:
		return "Compliant"
	case AssignmentNonCompliant:
		return "Non-compliant"
	case AssignmentConflict:
		return "Conflict"
	}
	return fmt.Sprintf("AssignmentCompliance(%d)", int(c))
}

// MessageID is a software updates status message ID: the failures a client
// reports for an update (11700–11717) or for a deployment (11750–11756),
// §3.7 step 9 [B-su-ids]. Every one of them is sent with MessageState
// MessageStateFailed.
type MessageID uint16

// MessageStateFailed is the MessageState every software updates status
// message of §3.7 step 9 carries.
const MessageStateFailed = 101

// The status message IDs of §3.7 step 9. The reference summarises 11714–
// 11716 as "bundle-related failures"; their individual meanings are those
// of its source, B-su-ids.
const (
	MsgScanToolUnavailable          MessageID = 11700 // scan tool for the update not available
	MsgScanToolFailed               MessageID = 11701 // scan tool for the update failed
	MsgContentHashMismatch          MessageID = 11702 // downloaded content does not match the policy's hash
	MsgContentNotFound              MessageID = 11703 // the update's content could not be located
	MsgExceedsFreeCache             MessageID = 11704 // content larger than the free cache space
	MsgExceedsCacheSize             MessageID = 11705 // content larger than the whole cache
	MsgDownloadFailed               MessageID = 11706 // failed to download the content
	MsgInvalidCommandLine           MessageID = 11707 // invalid command line
	MsgInstallFailed                MessageID = 11708 // the update failed to apply
	MsgExceededMaxRunTime           MessageID = 11709 // did not finish in the allocated time
	MsgProcessCreationFailed        MessageID = 11710 // creating the install process failed
	MsgInstallerPathFailed          MessageID = 11711 // failed to get the installer path
	MsgMonitorAfterRestartFailed    MessageID = 11712 // failed to monitor the install after a restart
	MsgInternalError                MessageID = 11713 // SMS internal error
	MsgBundleContentFailed          MessageID = 11714 // bundle update failed to get content
	MsgBundleInstallFailed          MessageID = 11715 // bundle update failed to install
	MsgBundleApplicabilityFailed    MessageID = 11716 // bundle update failed to evaluate its leaf updates
	MsgNoWindowFits                 MessageID = 11717 // no current or future maintenance window fits the max run time
	MsgEnforcementJobFailed         MessageID = 11750 // enforcement job failed for the deployment
	MsgEnforcementFailures          MessageID = 11751 // update failures during enforcement
	MsgNonCompliantAfterEnforcement MessageID = 11752 // updates still non-compliant after enforcement
	MsgPostRestartCheckFailed       MessageID = 11753 // compliance check after the restart failed
	MsgEnforcementNotStarted        MessageID = 11754 // failed to initiate enforcement
	MsgEvaluationNotStarted         MessageID = 11755 // failed to initiate evaluation
	MsgEvaluationJobFailed          MessageID = 11756 // evaluation job completed with failure
)

// messageText returns the meaning of id (§3.7 step 9), or "".
func messageText(id MessageID) string {
	switch id {
	case MsgScanToolUnavailable:
		return "Scan tool for this update is not available"
	case MsgScanToolFailed:
		return "Scan tool for this update failed"
	case MsgContentHashMismatch:
		return "The content hash for this update does not match the downloaded content"
	case MsgContentNotFound:
		return "The content for this update could not be located"
	case MsgExceedsFreeCache:
		return "The content of this update exceeds the free cache space"
	case MsgExceedsCacheSize:
		return "The content of this update exceeds the total cache size"
	case MsgDownloadFailed:
		return "Failed to download the content of this update"
	case MsgInvalidCommandLine:
		return "This update cannot be attempted: invalid command line"
	case MsgInstallFailed:
		return "This update failed to apply"
	case MsgExceededMaxRunTime:
		return "This update did not finish in the allocated time"
	case MsgProcessCreationFailed:
		return "Creating the process for this update failed"
	case MsgInstallerPathFailed:
		return "Failed to get the installer path for this update"
	case MsgMonitorAfterRestartFailed:
		return "Failed to monitor this update's process after a restart"
	case MsgInternalError:
		return "An internal error occurred for this update"
	case MsgBundleContentFailed:
		return "Bundle update failed to get content for this update"
	case MsgBundleInstallFailed:
		return "Bundle update failed to install this update"
	case MsgBundleApplicabilityFailed:
		return "Bundle update failed to evaluate the applicability of its leaf updates"
	case MsgNoWindowFits:
		return "No current or future maintenance window can fit this update's max run time"
	case MsgEnforcementJobFailed:
		return "The enforcement job failed for this deployment"
	case MsgEnforcementFailures:
		return "Update failures occurred during enforcement of this deployment"
	case MsgNonCompliantAfterEnforcement:
		return "Some updates are still non-compliant after enforcement of this deployment"
	case MsgPostRestartCheckFailed:
		return "The compliance check after the restart failed"
	case MsgEnforcementNotStarted:
		return "Failed to initiate enforcement of this deployment"
	case MsgEvaluationNotStarted:
		return "Failed to initiate evaluation of this deployment"
	case MsgEvaluationJobFailed:
		return "The evaluation job completed with failure for this deployment"
	}
	return ""
}

// MessageIDs returns every status message ID of §3.7 step 9 in ascending
// order, in a new slice.
func MessageIDs() []MessageID {
	var ids []MessageID
	for id := MsgScanToolUnavailable; id <= MsgEvaluationJobFailed; id++ {
		if id.Known() {
			ids = append(ids, id)
		}
	}
	return ids
}

// Known reports whether id is one of the IDs of §3.7 step 9.
func (id MessageID) Known() bool { return messageText(id) != "" }

// ForDeployment reports whether id is about a deployment (11750–11756)
// rather than about one update (11700–11717).
func (id MessageID) ForDeployment() bool { return id.Known() && id >= MsgEnforcementJobFailed }

// String returns the message's meaning, or "MessageID(n)" for an ID §3.7
// does not list.
func (id MessageID) String() string {
	if t := messageText(id); t != "" {
		return t
	}
	return fmt.Sprintf("MessageID(%d)", int(id))
}
