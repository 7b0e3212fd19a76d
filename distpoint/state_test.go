package distpoint

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign"
)

var at = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// The transitions of §4.1, one row each.
func TestTransitionTable(t *testing.T) {
	retry := Retry{Count: 2, Delay: time.Minute}
	tests := []struct {
		name    string
		from    PackageStatus
		ev      Event
		version uint32
		want    State
		wantVer uint32
		gone    bool
		err     bool
	}{
		{"add", PackageStatus{}, Add, 1, InstallPending, 0, false, false},
		{"copy ok", PackageStatus{State: InstallPending, TargetVersion: 1}, CopySucceeded, 0, Installed, 1, false, false},
		{"copy error", PackageStatus{State: InstallPending, TargetVersion: 1}, CopyFailed, 0, InstallRetrying, 0, false, false},
		{"retry ok", PackageStatus{State: InstallRetrying, TargetVersion: 1, Retries: 1}, CopySucceeded, 0, Installed, 1, false, false},
		{"retries exhausted", PackageStatus{State: InstallRetrying, TargetVersion: 1, Retries: 2}, CopyFailed, 0, InstallFailed, 0, false, false},
		{"update", PackageStatus{State: Installed, SourceVersion: 1}, Update, 2, InstallPending, 1, false, false},
		{"refresh", PackageStatus{State: Installed, SourceVersion: 1}, Refresh, 1, InstallPending, 1, false, false},
		{"refresh failed", PackageStatus{State: InstallFailed, SourceVersion: 1}, Refresh, 1, InstallPending, 1, false, false},
		{"remove", PackageStatus{State: Installed, SourceVersion: 1}, Remove, 0, RemovalPending, 1, false, false},
		{"removed", PackageStatus{State: RemovalPending}, RemoveSucceeded, 0, RemovalPending, 0, true, false},
		{"removal error", PackageStatus{State: RemovalPending}, RemoveFailed, 0, RemovalRetrying, 0, false, false},
		{"removal exhausted", PackageStatus{State: RemovalRetrying, Retries: 2}, RemoveFailed, 0, RemovalFailed, 0, false, false},
		{"copy ok while installed", PackageStatus{State: Installed}, CopySucceeded, 0, Installed, 0, false, true},
		{"refresh while removing", PackageStatus{State: RemovalPending}, Refresh, 1, RemovalPending, 0, false, true},
		{"update while removing", PackageStatus{State: RemovalPending}, Update, 2, RemovalPending, 0, false, true},
		{"re-add after removal failed", PackageStatus{State: RemovalFailed}, Add, 3, InstallPending, 0, false, false},
		{"content hash mismatch found", PackageStatus{State: Installed, SourceVersion: 1}, VerifyFailed, 0, InstallFailed, 1, false, false},
		{"refresh repairs it", PackageStatus{State: InstallFailed, SourceVersion: 1}, Refresh, 1, InstallPending, 1, false, false},
		{"verify while copying", PackageStatus{State: InstallPending}, VerifyFailed, 0, InstallPending, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, gone, err := tt.from.Transition(tt.ev, tt.version, at, retry)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				if !errors.Is(err, consign.ErrFailedPrecondition) {
					t.Errorf("err = %v, want ErrFailedPrecondition", err)
				}
				return
			}
			if next.State != tt.want || next.SourceVersion != tt.wantVer || gone != tt.gone {
				t.Errorf("got %v v%d gone=%v, want %v v%d gone=%v", next.State, next.SourceVersion, gone, tt.want, tt.wantVer, tt.gone)
			}
		})
	}
}

func TestRetryDefaults(t *testing.T) {
	if r := (Retry{}).Limits(); r.Count != 100 || r.Delay != 30*time.Minute {
		t.Errorf("defaults = %+v, want 100 retries 30 min apart (§1.4)", r)
	}
}

// Whatever events arrive, a DP only reports Installed for a version that a
// copy of that version verified, and Install Failed only after the retry
// budget is spent.
func TestTransitionProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		retry := Retry{Count: rapid.IntRange(1, 5).Draw(t, "retries"), Delay: time.Minute}
		s := PackageStatus{PackageID: "CEN00001", NALPath: "dp"}
		version := uint32(1)
		failures := 0
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			ev := Event(rapid.IntRange(int(Add), int(VerifyFailed)).Draw(t, "event"))
			if ev == Update {
				version++
			}
			prev := s
			next, gone, err := s.Transition(ev, version, at, retry)
			if err != nil {
				if next != prev {
					t.Fatalf("a refused event changed the row: %+v -> %+v", prev, next)
				}
				continue
			}
			if gone {
				s = PackageStatus{PackageID: "CEN00001", NALPath: "dp"}
				continue
			}
			if ev == CopyFailed {
				failures++
			}
			if ev == Add || ev == Update || ev == Refresh || ev == CopySucceeded {
				failures = 0
			}
			if next.State == Installed && next.SourceVersion != prev.TargetVersion {
				t.Fatalf("Installed v%d but the copy was of v%d", next.SourceVersion, prev.TargetVersion)
			}
			if next.State == InstallFailed && prev.State != InstallFailed && ev != VerifyFailed && failures <= retry.Count {
				t.Fatalf("Install Failed after %d failures with a budget of %d", failures, retry.Count)
			}
			s = next
		}
	})
}

func TestDue(t *testing.T) {
	retry := Retry{Count: 3, Delay: 30 * time.Minute}
	failed, _, _ := PackageStatus{State: InstallPending}.Transition(CopyFailed, 0, at, retry)
	for _, tc := range []struct {
		s    PackageStatus
		now  time.Time
		want bool
	}{
		{PackageStatus{State: InstallPending}, at, true},
		{PackageStatus{State: RemovalPending}, at, true},
		{PackageStatus{State: Installed}, at, false},
		{PackageStatus{State: InstallFailed}, at, false},
		{failed, at.Add(29 * time.Minute), false},
		{failed, at.Add(30 * time.Minute), true},
	} {
		if got := tc.s.Due(tc.now, retry); got != tc.want {
			t.Errorf("%v (last attempt %v) Due at %v = %v, want %v", tc.s.State, tc.s.LastAttempt, tc.now, got, tc.want)
		}
	}
}
