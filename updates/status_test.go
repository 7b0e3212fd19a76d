package updates_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/consign/consign/updates"
)

// The topic 301 table of §4.4, value by value; 11 and 12 are [CB].
func TestEnforcementStateNames(t *testing.T) {
	want := []struct {
		s    updates.EnforcementState
		v    int
		name string
	}{
		{updates.EnforcementUnknown, 0, "Enforcement state unknown"},
		{updates.EnforcementInstalling, 1, "Installing update(s)"},
		{updates.EnforcementWaitingForRestart, 2, "Waiting for restart"},
		{updates.EnforcementWaitingForInstall, 3, "Waiting for another installation to complete"},
		{updates.EnforcementSucceeded, 4, "Successfully installed update(s)"},
		{updates.EnforcementPendingRestart, 5, "Pending system restart"},
		{updates.EnforcementFailed, 6, "Failed to install update(s)"},
		{updates.EnforcementDownloading, 7, "Downloading update(s)"},
		{updates.EnforcementDownloaded, 8, "Downloaded update(s)"},
		{updates.EnforcementDownloadFailed, 9, "Failed to download update(s)"},
		{updates.EnforcementWaitingForWindow, 10, "Waiting for maintenance window before installing"},
	}
	for _, w := range want {
		if int(w.s) != w.v || w.s.String() != w.name || !w.s.Valid() {
			t.Errorf("state %d: value %d, %q, valid %t; want %d, %q", w.v, int(w.s), w.s.String(), w.s.Valid(), w.v, w.name)
		}
	}
	for _, cb := range []updates.EnforcementState{11, 12, 255} {
		if cb.Valid() || !strings.HasPrefix(cb.String(), "EnforcementState(") {
			t.Errorf("state %d: valid %t, %q; want invalid in a 2007 model", int(cb), cb.Valid(), cb.String())
		}
	}
}

// Topics 302 and 300 (§3.7 steps 3 and 7, §4.4).
func TestEvaluationAndComplianceNames(t *testing.T) {
	eval := map[updates.EvaluationState]string{0: "Evaluation state unknown", 1: "Activated", 2: "Succeeded", 3: "Failed"}
	for s, name := range eval {
		if s.String() != name || !s.Valid() {
			t.Errorf("topic 302 value %d: %q valid %t, want %q", int(s), s.String(), s.Valid(), name)
		}
	}
	if updates.EvaluationActivated != 1 || updates.EvaluationSucceeded != 2 || updates.EvaluationFailed != 3 {
		t.Error("topic 302 constants do not carry the reference's values")
	}
	if s := updates.EvaluationState(4); s.Valid() || s.String() != "EvaluationState(4)" {
		t.Errorf("EvaluationState(4): valid %t, %q", s.Valid(), s.String())
	}
	comp := map[updates.AssignmentCompliance]string{0: "Compliance state unknown", 1: "Compliant", 2: "Non-compliant", 3: "Conflict"}
	for c, name := range comp {
		if c.String() != name || !c.Valid() {
			t.Errorf("topic 300 value %d: %q valid %t, want %q", int(c), c.String(), c.Valid(), name)
		}
	}
	if updates.AssignmentCompliant != 1 || updates.AssignmentNonCompliant != 2 || updates.AssignmentConflict != 3 {
		t.Error("topic 300 constants do not carry the reference's values")
	}
	if c := updates.AssignmentCompliance(4); c.Valid() || c.String() != "AssignmentCompliance(4)" {
		t.Errorf("AssignmentCompliance(4): valid %t, %q", c.Valid(), c.String())
	}
}

// The status message table of §3.7 step 9, each ID with a word of its
// meaning there.
func TestMessageIDs(t *testing.T) {
	table := []struct {
		id        updates.MessageID
		v         int
		word      string
		forDeploy bool
	}{
		{updates.MsgScanToolUnavailable, 11700, "not available", false},
		{updates.MsgScanToolFailed, 11701, "Scan tool", false},
		{updates.MsgContentHashMismatch, 11702, "hash", false},
		{updates.MsgContentNotFound, 11703, "located", false},
		{updates.MsgExceedsFreeCache, 11704, "free cache", false},
		{updates.MsgExceedsCacheSize, 11705, "total cache", false},
		{updates.MsgDownloadFailed, 11706, "download", false},
		{updates.MsgInvalidCommandLine, 11707, "command line", false},
		{updates.MsgInstallFailed, 11708, "failed to apply", false},
		{updates.MsgExceededMaxRunTime, 11709, "allocated time", false},
		{updates.MsgProcessCreationFailed, 11710, "process", false},
		{updates.MsgInstallerPathFailed, 11711, "installer path", false},
		{updates.MsgMonitorAfterRestartFailed, 11712, "after a restart", false},
		{updates.MsgInternalError, 11713, "internal error", false},
		{updates.MsgBundleContentFailed, 11714, "Bundle", false},
		{updates.MsgBundleInstallFailed, 11715, "Bundle", false},
		{updates.MsgBundleApplicabilityFailed, 11716, "Bundle", false},
		{updates.MsgNoWindowFits, 11717, "maintenance window", false},
		{updates.MsgEnforcementJobFailed, 11750, "enforcement job", true},
		{updates.MsgEnforcementFailures, 11751, "during enforcement", true},
		{updates.MsgNonCompliantAfterEnforcement, 11752, "non-compliant", true},
		{updates.MsgPostRestartCheckFailed, 11753, "after the restart", true},
		{updates.MsgEnforcementNotStarted, 11754, "initiate enforcement", true},
		{updates.MsgEvaluationNotStarted, 11755, "initiate evaluation", true},
		{updates.MsgEvaluationJobFailed, 11756, "evaluation job", true},
	}
	var ids []updates.MessageID
	for _, c := range table {
		ids = append(ids, c.id)
		if int(c.id) != c.v {
			t.Errorf("%q = %d, want %d", c.id, int(c.id), c.v)
		}
		if !c.id.Known() || !strings.Contains(c.id.String(), c.word) {
			t.Errorf("%d: known %t, text %q, want it to mention %q", c.v, c.id.Known(), c.id.String(), c.word)
		}
		if c.id.ForDeployment() != c.forDeploy {
			t.Errorf("%d: ForDeployment %t, want %t", c.v, c.id.ForDeployment(), c.forDeploy)
		}
	}
	if got := updates.MessageIDs(); !slices.Equal(got, ids) {
		t.Errorf("MessageIDs() = %v, want %v", got, ids)
	}
	for _, unknown := range []updates.MessageID{0, 11699, 11718, 11749, 11757, 10002} {
		if unknown.Known() || unknown.ForDeployment() || unknown.String() == "" || !strings.HasPrefix(unknown.String(), "MessageID(") {
			t.Errorf("%d: known %t, deployment %t, %q", int(unknown), unknown.Known(), unknown.ForDeployment(), unknown.String())
		}
	}
	if updates.MessageStateFailed != 101 {
		t.Errorf("MessageStateFailed = %d, want 101", updates.MessageStateFailed)
	}
}
