package delivery

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign/updates"
)

// overlay against a map model: later states win, Unknown drops out, the
// result is sorted; and the scan record round-trips.
func TestOverlayAndScanRecord(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		gen := func(label string) []updates.UpdateState {
			return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) updates.UpdateState {
				return updates.UpdateState{Update: updates.CIID(rapid.IntRange(1, 12).Draw(t, "ci")), State: updates.ComplianceState(rapid.IntRange(0, 3).Draw(t, "st"))}
			}), 0, 15).Draw(t, label)
		}
		model := map[updates.CIID]updates.ComplianceState{}
		var base []updates.UpdateState
		for _, s := range gen("base") {
			model[s.Update] = s.State
		}
		for ci, st := range model {
			if st != updates.Unknown {
				base = append(base, updates.UpdateState{Update: ci, State: st})
			}
		}
		slices.SortFunc(base, func(a, b updates.UpdateState) int { return cmp.Compare(a.Update, b.Update) })
		scan := gen("scan")
		for _, s := range scan {
			model[s.Update] = s.State
		}
		got := overlay(base, scan)
		var want []updates.UpdateState
		for ci, st := range model {
			if st != updates.Unknown {
				want = append(want, updates.UpdateState{Update: ci, State: st})
			}
		}
		slices.SortFunc(want, func(a, b updates.UpdateState) int { return cmp.Compare(a.Update, b.Update) })
		if !slices.Equal(got, want) {
			t.Fatalf("overlay(%v, %v) = %v, want %v", base, scan, got, want)
		}
		at := time.Unix(0, rapid.Int64Range(0, 1<<62).Draw(t, "at")).UTC()
		gotAt, states, err := decodeScan(encodeScan(at, got))
		if err != nil || !gotAt.Equal(at) || !slices.Equal(states, got) && len(got)+len(states) > 0 {
			t.Fatalf("scan record round trip: %v %v %v", gotAt, states, err)
		}
	})
	if _, _, err := decodeScan([]byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte scan record decoded")
	}
}
