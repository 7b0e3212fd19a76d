package delivery

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

func drawTime(t *rapid.T, label string) time.Time {
	if rapid.Bool().Draw(t, label+" set") {
		return time.Unix(rapid.Int64Range(-1<<40, 1<<40).Draw(t, label+" s"), rapid.Int64Range(0, 1e9-1).Draw(t, label+" ns")).UTC()
	}
	return time.Time{}
}

// Status and history records decode to exactly what was encoded, and every
// truncation of a record is an error, never a panic or a wrong value.
func TestStatusRecordRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := &clientState{ClientStatus: advertisement.ClientStatus{
			Acceptance:         advertisement.AcceptanceState(rapid.IntRange(-3, 300).Draw(t, "acceptance")),
			Delivery:           advertisement.DeliveryState(rapid.IntRange(-3, 300).Draw(t, "delivery")),
			LastEvent:          advertisement.Event(rapid.IntRange(0, 100).Draw(t, "event")),
			LastMessageID:      rapid.IntRange(0, 100000).Draw(t, "message id"),
			LastStatusTime:     drawTime(t, "status time"),
			LastAcceptanceTime: drawTime(t, "acceptance time"),
			LastExitCode:       int(rapid.Int32().Draw(t, "exit code")),
			HasExitCode:        rapid.Bool().Draw(t, "has exit code"),
			Detail:             rapid.String().Draw(t, "detail"),
		}}
		for _, id := range rapid.SliceOfN(rapid.StringN(1, 20, -1), 0, 2*recentMessages).Draw(t, "ids") {
			c.remember(messageHash(id))
		}
		for range rapid.IntRange(0, 3).Draw(t, "runs") {
			h := advertisement.History{Ran: true, LastRun: drawTime(t, "run"), Succeeded: rapid.Bool().Draw(t, "ok")}
			h.Ran = !h.LastRun.IsZero()
			ref := pkg.ProgramRef{PackageID: consign.ObjectID(rapid.StringMatching(`CEN[0-9A-F]{5}`).Draw(t, "package")), Program: rapid.String().Draw(t, "program")}
			c.setRun(ref, h)
			if got, ok := c.run(ref); !ok || got != h {
				t.Fatalf("run(%v) = %v, %v after setting %v", ref, got, ok, h)
			}
		}
		c.tsRun = drawTime(t, "task sequence run")
		for range rapid.IntRange(0, 6).Draw(t, "steps") {
			st := &advertisement.StepStatus{Index: rapid.IntRange(0, 1000).Draw(t, "step"), Name: rapid.String().Draw(t, "step name"),
				State: tasksequence.StepState(rapid.IntRange(int(tasksequence.StepSucceeded), int(tasksequence.StepSkippedCondition)).Draw(t, "state"))}
			st.Continued = st.State == tasksequence.StepFailed && rapid.Bool().Draw(t, "continued")
			c.setStep(advertisement.Message{Step: st, ExitCode: int(rapid.Int32().Draw(t, "step exit code")), Detail: rapid.String().Draw(t, "step detail")})
		}
		for i := 1; i < len(c.steps); i++ {
			if c.steps[i].index <= c.steps[i-1].index {
				t.Fatalf("steps out of order: %+v", c.steps)
			}
		}
		data := encodeStatus(c)
		back, err := decodeStatus(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.ClientStatus, c.ClientStatus) || !slices.Equal(back.recent, c.recent) || !slices.Equal(back.runs, c.runs) ||
			!back.tsRun.Equal(c.tsRun) || !slices.Equal(back.steps, c.steps) {
			t.Fatalf("decoded %+v, want %+v", back, c)
		}
		for n := range len(data) {
			if _, err := decodeStatus(data[:n]); err == nil {
				t.Fatalf("a record cut to %d of %d bytes decoded", n, len(data))
			}
		}
		h := advertisement.History{Ran: rapid.Bool().Draw(t, "ran"), Succeeded: rapid.Bool().Draw(t, "succeeded")}
		if h.Ran {
			h.LastRun = drawTime(t, "last run")
		}
		hd := encodeHistory(h)
		if hb, err := decodeHistory(hd); err != nil || !reflect.DeepEqual(hb, h) {
			t.Fatalf("history decoded %+v, %v; want %+v", hb, err, h)
		}
	})
}

// remember keeps the last recentMessages hashes in order and never writes
// into a slice a stored status shares.
func TestClientStateRemembers(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var c clientState
		var all []uint64
		for i, h := range rapid.SliceOfN(rapid.Uint64(), 0, 3*recentMessages).Draw(t, "hashes") {
			stored := c // what a status in memory keeps
			want := slices.Clone(stored.recent)
			c.remember(h)
			all = append(all, h)
			if !slices.Equal(stored.recent, want) {
				t.Fatalf("remember %d changed the stored status's IDs", i)
			}
		}
		if got, want := c.recent, all[max(0, len(all)-recentMessages):]; !slices.Equal(got, want) {
			t.Fatalf("remembers %v, want the last %d: %v", got, recentMessages, want)
		}
	})
}

func TestStatusRecordRefusesOtherVersions(t *testing.T) {
	if _, err := decodeStatus([]byte(`{"Acceptance":1}`)); err == nil {
		t.Error("a JSON status decoded")
	}
	if _, err := decodeHistory([]byte{historyCodec, 8}); err == nil {
		t.Error("a history with unknown flags decoded")
	}
}
