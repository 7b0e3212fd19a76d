package advertisement_test

import (
	"slices"
	"testing"
	"time"

	"github.com/consign/consign/advertisement"
	"pgregory.net/rapid"
)

const accepted = advertisement.AcceptanceAccepted

func msg(e advertisement.Event, at time.Time) advertisement.Message {
	return advertisement.Message{ID: e.String() + at.String(), AdvertisementID: "CEN00010", ResourceID: 16777217, Event: e, Time: at}
}

// replay applies events one minute apart from base.
func replay(events ...advertisement.Event) advertisement.ClientStatus {
	var s advertisement.ClientStatus
	for i, e := range events {
		s = s.Apply(msg(e, base.Add(time.Duration(i)*time.Minute)))
	}
	return s
}

// The typical transitions of §4.2, each from a status reached by replaying
// the events before it.
func TestApplyTransitions(t *testing.T) {
	E := func(es ...advertisement.Event) []advertisement.Event { return es }
	cases := []struct {
		name       string
		events     []advertisement.Event
		acceptance advertisement.AcceptanceState
		delivery   advertisement.DeliveryState
	}{
		{"policy received", E(advertisement.EventReceived), advertisement.AcceptanceAccepted, advertisement.DeliveryNoStatus},
		{"program received (optional)", E(advertisement.EventProgramReceived), advertisement.AcceptanceNoFurtherStatus, advertisement.DeliveryNoStatus},
		{"rejected", E(advertisement.EventRejected), advertisement.AcceptanceRejected, advertisement.DeliveryNoStatus},
		{"rerun forbidden", E(advertisement.EventReceived, advertisement.EventWillNotRerun), accepted, advertisement.DeliveryWillNotRerun},
		{"download started", E(advertisement.EventReceived, advertisement.EventDownloadStarted), accepted, advertisement.DeliveryDownloadInProgress},
		{"download complete", E(advertisement.EventReceived, advertisement.EventDownloadStarted, advertisement.EventDownloadComplete), accepted, advertisement.DeliveryDownloadComplete},
		{"no window fits", E(advertisement.EventReceived, advertisement.EventDownloadComplete, advertisement.EventWaitingForWindow), accepted, advertisement.DeliveryWaiting},
		{"waiting for logon", E(advertisement.EventReceived, advertisement.EventDownloadComplete, advertisement.EventWaiting), accepted, advertisement.DeliveryWaiting},
		{"window opens", E(advertisement.EventReceived, advertisement.EventWaitingForWindow, advertisement.EventStarted), accepted, advertisement.DeliveryRunning},
		{"exit 0", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventSucceeded), accepted, advertisement.DeliverySucceeded},
		{"MIF success", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventSucceededMIF), accepted, advertisement.DeliverySucceeded},
		{"3010, restart pending", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventRestartPending), accepted, advertisement.DeliveryRebootPending},
		{"restart done", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventRestartPending, advertisement.EventRestarted), accepted, advertisement.DeliverySucceeded},
		{"retry code", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventRetrying), accepted, advertisement.DeliveryRetrying},
		{"retry runs again", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventRetrying, advertisement.EventStarted), accepted, advertisement.DeliveryRunning},
		{"failure code", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventFailed), accepted, advertisement.DeliveryFailed},
		{"MIF failure", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventFailedMIF), accepted, advertisement.DeliveryFailed},
		{"exceeded max run time", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventExceededTime), accepted, advertisement.DeliveryFailed},
		{"hash mismatch", E(advertisement.EventReceived, advertisement.EventDownloadStarted, advertisement.EventContentHashMismatch), accepted, advertisement.DeliveryFailed},
		{"download hash failure", E(advertisement.EventReceived, advertisement.EventDownloadStarted, advertisement.EventDownloadFailedHash), accepted, advertisement.DeliveryFailed},
		{"cache too small", E(advertisement.EventReceived, advertisement.EventDownloadStarted, advertisement.EventCacheTooSmall), accepted, advertisement.DeliveryFailed},
		{"cancelled", E(advertisement.EventReceived, advertisement.EventWaiting, advertisement.EventCancelled), accepted, advertisement.DeliveryCancelled},
		{"expired before run", E(advertisement.EventReceived, advertisement.EventExpired), advertisement.AcceptanceExpired, advertisement.DeliveryNoStatus},
		{"TS resumed after reboot", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventTSResumed), accepted, advertisement.DeliveryRunning},
		{"TS failed", E(advertisement.EventReceived, advertisement.EventTSResumed, advertisement.EventTSFailed), accepted, advertisement.DeliveryFailed},
		{"TS succeeded", E(advertisement.EventReceived, advertisement.EventTSResumed, advertisement.EventTSSucceeded), accepted, advertisement.DeliverySucceeded},
		{"new assignment after success", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventSucceeded, advertisement.EventDownloadStarted), accepted, advertisement.DeliveryDownloadInProgress},
		{"new assignment, rerun forbidden", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventSucceeded, advertisement.EventWillNotRerun), accepted, advertisement.DeliveryWillNotRerun},
		{"Re-run after failure", E(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventFailed, advertisement.EventStarted), accepted, advertisement.DeliveryRunning},
		{"lost Running report", E(advertisement.EventReceived, advertisement.EventDownloadStarted, advertisement.EventSucceeded), accepted, advertisement.DeliverySucceeded},
		{"delivery without acceptance", E(advertisement.EventStarted), advertisement.AcceptanceNoStatus, advertisement.DeliveryRunning},
	}
	for _, c := range cases {
		s := replay(c.events...)
		if s.Acceptance != c.acceptance || s.Delivery != c.delivery {
			t.Errorf("%s: %v/%v, want %v/%v", c.name, s.Acceptance, s.Delivery, c.acceptance, c.delivery)
		}
		if last := c.events[len(c.events)-1]; s.LastEvent != last || s.LastMessageID != last.MessageID() {
			t.Errorf("%s: LastEvent %v (%d), want %v", c.name, s.LastEvent, s.LastMessageID, last)
		}
	}
}

func TestApplyDetails(t *testing.T) {
	s := replay(advertisement.EventReceived, advertisement.EventStarted)
	m := msg(advertisement.EventFailed, base.Add(time.Hour))
	m.ExitCode = 1603
	s = s.Apply(m)
	if !s.HasExitCode || s.LastExitCode != 1603 || s.LastMessageID != 10006 || !s.LastStatusTime.Equal(m.Time) {
		t.Errorf("after 10006: %+v", s)
	}
	m = msg(advertisement.EventFailedMIF, base.Add(2*time.Hour))
	m.Detail = "Install failed: disk full"
	s = s.Apply(m)
	if s.Detail != m.Detail || s.LastExitCode != 1603 || s.LastMessageID != 10007 {
		t.Errorf("after 10007: %+v", s)
	}

	// Out of order: a late Running does not hide the Succeeded after it.
	done := replay(advertisement.EventReceived, advertisement.EventStarted, advertisement.EventSucceeded)
	late := done.Apply(msg(advertisement.EventStarted, base.Add(90*time.Second)))
	if late != done {
		t.Errorf("late Running changed %+v to %+v", done, late)
	}
	// An acceptance message is ordered only against its own track.
	acc := done.Apply(msg(advertisement.EventExpired, base.Add(30*time.Second)))
	if acc.Acceptance != advertisement.AcceptanceExpired || acc.Delivery != advertisement.DeliverySucceeded {
		t.Errorf("acceptance message older than the last delivery one: %+v", acc)
	}
	if bad := done.Apply(advertisement.Message{Event: 999, Time: base.Add(time.Hour)}); bad != done {
		t.Errorf("invalid event changed the status: %+v", bad)
	}
}

var genMessage = rapid.Custom(func(t *rapid.T) advertisement.Message {
	e := advertisement.Event(rapid.IntRange(int(advertisement.EventReceived), int(advertisement.EventTSSucceeded)).Draw(t, "event"))
	m := msg(e, base.Add(time.Duration(rapid.IntRange(0, 1000).Draw(t, "minute"))*time.Minute))
	m.ExitCode = rapid.IntRange(-1, 4000).Draw(t, "exit")
	return m
})

// Apply is idempotent, and each track ends in the state of its latest
// message whatever order the messages arrive in.
func TestApplyOrderIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ms := rapid.SliceOfN(genMessage, 1, 12).Draw(t, "messages")
		perm := rapid.Permutation(ms).Draw(t, "arrival")
		var s advertisement.ClientStatus
		for _, m := range perm {
			once := s.Apply(m)
			if twice := once.Apply(m); twice != once {
				t.Fatalf("applying %v twice: %+v then %+v", m.Event, once, twice)
			}
			s = once
		}
		// The model: per track, the latest message wins; among equal
		// times, the one that arrived last — except that a delivery state
		// that does not end a run never replaces one that does.
		var wantAcc advertisement.AcceptanceState
		var wantDel advertisement.DeliveryState
		var accAt, delAt time.Time
		for _, m := range perm {
			probe := advertisement.ClientStatus{}.Apply(m)
			if probe.Acceptance != advertisement.AcceptanceNoStatus {
				if !m.Time.Before(accAt) {
					wantAcc, accAt = probe.Acceptance, m.Time
				}
			} else if m.Time.After(delAt) || m.Time.Equal(delAt) && !(final(wantDel) && !final(probe.Delivery)) {
				wantDel, delAt = probe.Delivery, m.Time
			}
		}
		if s.Acceptance != wantAcc || s.Delivery != wantDel || !s.LastAcceptanceTime.Equal(accAt) || !s.LastStatusTime.Equal(delAt) {
			t.Fatalf("got %v/%v, want %v/%v", s.Acceptance, s.Delivery, wantAcc, wantDel)
		}
	})
}

func TestMessageIDs(t *testing.T) {
	verified := map[int]advertisement.Event{
		10002: advertisement.EventReceived,
		10005: advertisement.EventStarted,
		10006: advertisement.EventFailed,
		10007: advertisement.EventFailedMIF,
		10008: advertisement.EventSucceeded,
		10009: advertisement.EventSucceededMIF,
		10030: advertisement.EventDownloadFailedHash,
		10050: advertisement.EventCacheTooSmall,
		10057: advertisement.EventContentHashMismatch,
		10073: advertisement.EventWaitingForWindow,
		11142: advertisement.EventTSResumed,
		11170: advertisement.EventTSFailed,
		11171: advertisement.EventTSSucceeded,
		65535: advertisement.EventProgramReceived,
	}
	for e := advertisement.EventReceived; e <= advertisement.EventTSSucceeded; e++ {
		id := e.MessageID()
		if id == 0 {
			continue
		}
		if verified[id] != e {
			t.Errorf("%v.MessageID() = %d, which §3.5 gives to %v", e, id, verified[id])
		}
	}
	for id, e := range verified {
		if e.MessageID() != id {
			t.Errorf("%v.MessageID() = %d, want %d", e, e.MessageID(), id)
		}
		if got, ok := advertisement.EventForMessageID(id); !ok || got != e {
			t.Errorf("EventForMessageID(%d) = %v, %t", id, got, ok)
		}
	}
	// §8 item 1: the commonly quoted IDs are unverified and not used.
	for _, id := range []int{0, 10003, 10004, 10018, 10019, 10021, 10035, 10037, 10040, 10051, 10070} {
		if e, ok := advertisement.EventForMessageID(id); ok {
			t.Errorf("EventForMessageID(%d) = %v, want none", id, e)
		}
	}
	if advertisement.Event(0).MessageID() != 0 || advertisement.Event(99).String() != "Event(99)" {
		t.Error("invalid events")
	}
}

func TestMessageValidate(t *testing.T) {
	if err := msg(advertisement.EventStarted, base).Validate(); err != nil {
		t.Errorf("valid message: %v", err)
	}
	got := problems(t, advertisement.Message{AdvertisementID: "bad"}.Validate())
	want := []string{"Message.ID", "Message.AdvertisementID", "Message.ResourceID", "Message.Event", "Message.Time"}
	if !slices.Equal(got, want) {
		t.Errorf("Validate reported %q, want %q", got, want)
	}
}

func final(s advertisement.DeliveryState) bool {
	switch s {
	case advertisement.DeliverySucceeded, advertisement.DeliveryFailed, advertisement.DeliveryCancelled, advertisement.DeliveryWillNotRerun:
		return true
	}
	return false
}

// The events that end a run, and whether the run succeeded (§3.2 4a,
// §3.5): what the execution history records.
func TestRunOutcome(t *testing.T) {
	for _, tc := range []struct {
		e                advertisement.Event
		succeeded, final bool
	}{
		{advertisement.EventSucceeded, true, true},
		{advertisement.EventRestartPending, true, true},
		{advertisement.EventTSSucceeded, true, true},
		{advertisement.EventFailed, false, true},
		{advertisement.EventContentHashMismatch, false, true},
		{advertisement.EventExceededTime, false, true},
		{advertisement.EventStarted, false, false},
		{advertisement.EventReceived, false, false},
		{advertisement.EventDownloadStarted, false, false},
	} {
		if s, f := tc.e.RunOutcome(); s != tc.succeeded || f != tc.final {
			t.Errorf("%v.RunOutcome() = %v, %v; want %v, %v", tc.e, s, f, tc.succeeded, tc.final)
		}
	}
}
