package updates

import (
	"cmp"
	"slices"
)

// DeviceStates returns a device's states that are not Unknown, in
// increasing CIID order: everything its scans have established. It returns
// nil for a device that is not registered. It costs a pass over the
// device's row of the state table.
func (x *ComplianceIndex) DeviceStates(device uint32) []UpdateState {
	d, ok := x.devSlot[device]
	if !ok {
		return nil
	}
	var out []UpdateState
	for u, s := range x.row(d) {
		if s != Unknown {
			out = append(out, UpdateState{Update: x.updIDs[u], State: s})
		}
	}
	if byCI := func(a, b UpdateState) int { return cmp.Compare(a.Update, b.Update) }; !slices.IsSortedFunc(out, byCI) {
		slices.SortFunc(out, byCI) // slots are reused out of CI_ID order
	}
	return out
}
