package updates

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"

	"github.com/consign/consign"
)

// ciFields returns the Field of every *consign.ValidationError in err.
func ciFields(err error) []string {
	var out []string
	var me *multierror.Error
	if errors.As(err, &me) {
		for _, e := range me.Errors {
			out = append(out, ciFields(e)...)
		}
		return out
	}
	var ve *consign.ValidationError
	if errors.As(err, &ve) {
		out = append(out, ve.Field)
	}
	return out
}

// ciIndex returns an index with devices 1..devices, updates 101..100+updates
// and collection CEN00001 holding every device.
func ciIndex(t *testing.T, devices, updates int) *ComplianceIndex {
	t.Helper()
	x := NewComplianceIndex()
	var all []uint32
	for d := uint32(1); d <= uint32(devices); d++ {
		if err := x.AddDevice(d); err != nil {
			t.Fatal(err)
		}
		all = append(all, d)
	}
	for u := CIID(101); u <= CIID(100+updates); u++ {
		if err := x.AddUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.SetMembers("CEN00001", all); err != nil {
		t.Fatal(err)
	}
	return x
}

func ciMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// §3.7 step 2, §4.3: a registered device that never reported is Unknown
// for every update and in every summary, never compliant.
func TestComplianceNeverReportedIsUnknown(t *testing.T) {
	x := ciIndex(t, 3, 2)
	ciMust(t, x.SetDeployment(1, "CEN00001", []CIID{101, 102}))
	if got, _ := x.Update(101); got != (UpdateSummary{Unknown: 3, Total: 3}) || got.PercentCompliant() != 0 {
		t.Errorf("Update(101) = %+v (%d%%), want 3 Unknown of 3, 0%%", got, got.PercentCompliant())
	}
	if got, _ := x.Deployment(1); got != (ComplianceSummary{Unknown: 3, Total: 3}) {
		t.Errorf("Deployment(1) = %+v, want 3 Unknown", got)
	}
	if got, _ := x.Collection("CEN00001"); got != (ComplianceSummary{Unknown: 3, Total: 3}) {
		t.Errorf("Collection = %+v, want 3 Unknown", got)
	}
	if got, _ := x.Device(1); got != (DeviceSummary{Unknown: 2, Total: 2}) {
		t.Errorf("Device(1) = %+v, want 2 Unknown", got)
	}
	// One device reports one update: the other stays Unknown, so the device
	// is still Unknown overall.
	ciMust(t, x.Set(1, 101, Installed))
	if got, _ := x.Collection("CEN00001"); got != (ComplianceSummary{Unknown: 3, Total: 3}) {
		t.Errorf("after one report, Collection = %+v, want 3 Unknown", got)
	}
	ciMust(t, x.Set(1, 102, NotRequired))
	if got, _ := x.Collection("CEN00001"); got != (ComplianceSummary{Compliant: 1, Unknown: 2, Total: 3}) {
		t.Errorf("after a full report, Collection = %+v, want 1 Compliant, 2 Unknown", got)
	}
}

// The transitions of §4.3 for one device and one update, and what each
// does to the update's counters (NumMissing, NumPresent, NumNotApplicable,
// NumUnknown, §1.11) and the device's Required list (§3.7 step 3).
func TestComplianceTransitions(t *testing.T) {
	steps := []struct {
		name  string
		state ComplianceState
		want  UpdateSummary
	}{
		{"scan: applicable, missing", Required, UpdateSummary{Required: 1, Unknown: 1, Total: 2}},
		{"install OK, restart pending: still Required", Required, UpdateSummary{Required: 1, Unknown: 1, Total: 2}},
		{"restart + rescan", Installed, UpdateSummary{Installed: 1, Unknown: 1, Total: 2}},
		{"uninstalled", Required, UpdateSummary{Required: 1, Unknown: 1, Total: 2}},
		{"client stops reporting", Unknown, UpdateSummary{Unknown: 2, Total: 2}},
		{"scan: not applicable", NotRequired, UpdateSummary{NotRequired: 1, Unknown: 1, Total: 2}},
		{"applicability changes", Required, UpdateSummary{Required: 1, Unknown: 1, Total: 2}},
		{"scan: present", Installed, UpdateSummary{Installed: 1, Unknown: 1, Total: 2}},
	}
	x := ciIndex(t, 2, 1)
	for _, st := range steps {
		ciMust(t, x.Set(1, 101, st.state))
		if got, _ := x.Update(101); got != st.want {
			t.Errorf("%s: Update(101) = %+v, want %+v", st.name, got, st.want)
		}
		wantReq := []CIID(nil)
		if st.state == Required {
			wantReq = []CIID{101}
		}
		if got := x.RequiredUpdates(1); !slices.Equal(got, wantReq) {
			t.Errorf("%s: RequiredUpdates(1) = %v, want %v", st.name, got, wantReq)
		}
		if got, ok := x.State(1, 101); !ok || got != st.state {
			t.Errorf("%s: State(1, 101) = %v, %v", st.name, got, ok)
		}
	}
}

func TestCompliancePercent(t *testing.T) {
	tests := []struct {
		name string
		s    UpdateSummary
		want int
	}{
		{"all installed or not applicable", UpdateSummary{Installed: 3, NotRequired: 1, Total: 4}, 100},
		{"one missing of four", UpdateSummary{Installed: 2, NotRequired: 1, Required: 1, Total: 4}, 75},
		{"unknown counts against", UpdateSummary{Installed: 3, Unknown: 1, Total: 4}, 75},
		{"rounded down: 2 of 3", UpdateSummary{Installed: 2, Unknown: 1, Total: 3}, 66},
		{"never 100 short of all: 999 of 1000", UpdateSummary{Installed: 999, Required: 1, Total: 1000}, 99},
		{"no devices", UpdateSummary{}, 0},
	}
	for _, tt := range tests {
		if got := tt.s.PercentCompliant(); got != tt.want {
			t.Errorf("%s: PercentCompliant = %d, want %d", tt.name, got, tt.want)
		}
	}
	if got := (ComplianceSummary{Compliant: 1, NonCompliant: 1, Unknown: 1, Total: 3}).PercentCompliant(); got != 33 {
		t.Errorf("ComplianceSummary 1 of 3: %d, want 33", got)
	}
	if got := (ComplianceSummary{}).PercentCompliant(); got != 0 {
		t.Errorf("empty ComplianceSummary: %d, want 0", got)
	}
}

// Topic 300 (§3.7 step 7, §4.3): a device's assignment compliance for a
// deployment of two updates, from its two states. A third update, outside
// the deployment, is Required everywhere: it never changes the deployment's
// view, and it makes every device NonCompliant in the collection summary.
func TestComplianceDeploymentTopic300(t *testing.T) {
	tests := []struct {
		a, b ComplianceState
		want ComplianceSummary
	}{
		{Installed, Installed, ComplianceSummary{Compliant: 1, Total: 1}},
		{Installed, NotRequired, ComplianceSummary{Compliant: 1, Total: 1}},
		{NotRequired, NotRequired, ComplianceSummary{Compliant: 1, Total: 1}},
		{Required, Installed, ComplianceSummary{NonCompliant: 1, Total: 1}},
		{Required, Unknown, ComplianceSummary{NonCompliant: 1, Total: 1}},
		{Installed, Unknown, ComplianceSummary{Unknown: 1, Total: 1}},
		{Unknown, Unknown, ComplianceSummary{Unknown: 1, Total: 1}},
	}
	for _, tt := range tests {
		x := ciIndex(t, 1, 3)
		ciMust(t, x.SetDeployment(9, "CEN00001", []CIID{101, 102}))
		ciMust(t, x.SetDevice(1, []UpdateState{{101, tt.a}, {102, tt.b}, {103, Required}}))
		if got, _ := x.Deployment(9); got != tt.want {
			t.Errorf("%v, %v: Deployment = %+v, want %+v", tt.a, tt.b, got, tt.want)
		}
		if got, _ := x.Collection("CEN00001"); got != (ComplianceSummary{NonCompliant: 1, Total: 1}) {
			t.Errorf("%v, %v: Collection = %+v, want NonCompliant (103 is Required)", tt.a, tt.b, got)
		}
		// Creating the deployment after the states arrived gives the same.
		y := ciIndex(t, 1, 3)
		ciMust(t, y.SetDevice(1, []UpdateState{{101, tt.a}, {102, tt.b}, {103, Required}}))
		ciMust(t, y.SetDeployment(9, "CEN00001", []CIID{101, 102}))
		if got, _ := y.Deployment(9); got != tt.want {
			t.Errorf("%v, %v, deployed after the scan: Deployment = %+v, want %+v", tt.a, tt.b, got, tt.want)
		}
	}
}

// A deployment's summary follows its collection's membership, and a device
// removed from the site leaves every summary.
func TestComplianceMembershipFollows(t *testing.T) {
	x := ciIndex(t, 4, 2)
	ciMust(t, x.SetMembers("CEN00002", []uint32{1, 2}))
	ciMust(t, x.SetDeployment(5, "CEN00002", []CIID{101}))
	ciMust(t, x.Apply([]ScanState{{1, 101, Installed}, {2, 101, Required}, {3, 101, Required}, {4, 101, NotRequired}}))
	check := func(step string, want ComplianceSummary) {
		t.Helper()
		if got, _ := x.Deployment(5); got != want {
			t.Errorf("%s: Deployment = %+v, want %+v", step, got, want)
		}
	}
	check("start", ComplianceSummary{Compliant: 1, NonCompliant: 1, Total: 2})
	ciMust(t, x.AddMember("CEN00002", 4))
	check("device 4 joins", ComplianceSummary{Compliant: 2, NonCompliant: 1, Total: 3})
	ciMust(t, x.AddMember("CEN00002", 4))
	check("device 4 joins again", ComplianceSummary{Compliant: 2, NonCompliant: 1, Total: 3})
	ciMust(t, x.RemoveMember("CEN00002", 2))
	check("device 2 leaves", ComplianceSummary{Compliant: 2, Total: 2})
	ciMust(t, x.Set(2, 101, Installed))
	check("device 2 outside installs", ComplianceSummary{Compliant: 2, Total: 2})
	ciMust(t, x.SetMembers("CEN00002", []uint32{3, 3, 4}))
	check("membership replaced by 3, 4", ComplianceSummary{Compliant: 1, NonCompliant: 1, Total: 2})
	ciMust(t, x.RemoveDevice(3))
	check("device 3 removed", ComplianceSummary{Compliant: 1, Total: 1})
	if got, _ := x.Update(101); got != (UpdateSummary{Installed: 2, NotRequired: 1, Total: 3}) {
		t.Errorf("Update(101) after removing device 3 = %+v", got)
	}
	if got, _ := x.Collection("CEN00001"); got.Total != 3 {
		t.Errorf("All-devices collection after removing device 3: %+v, want 3 members", got)
	}
	// A new device reuses the freed slot and starts Unknown everywhere.
	ciMust(t, x.AddDevice(30))
	if s, _ := x.State(30, 101); s != Unknown {
		t.Errorf("new device in a reused slot: State = %v, want Unknown", s)
	}
	if got, _ := x.Device(30); got != (DeviceSummary{Unknown: 2, Total: 2}) {
		t.Errorf("new device in a reused slot: %+v", got)
	}
}

// A newly synchronised update is Unknown everywhere: devices compliant for
// every update become Unknown until they scan it (§4.3 "new update synced,
// not yet scanned"). Removing the only Required update makes a device
// compliant again. With no update registered, devices have reported nothing
// and are Unknown.
func TestComplianceUpdatesComeAndGo(t *testing.T) {
	x := ciIndex(t, 2, 0)
	if got, _ := x.Collection("CEN00001"); got != (ComplianceSummary{Unknown: 2, Total: 2}) {
		t.Errorf("no updates: %+v, want 2 Unknown", got)
	}
	ciMust(t, x.AddUpdate(101))
	ciMust(t, x.AddUpdate(102))
	ciMust(t, x.Apply([]ScanState{{1, 101, Installed}, {1, 102, Required}, {2, 101, Installed}, {2, 102, NotRequired}}))
	if got, _ := x.Collection("CEN00001"); got != (ComplianceSummary{Compliant: 1, NonCompliant: 1, Total: 2}) {
		t.Errorf("after scan: %+v", got)
	}
	ciMust(t, x.AddUpdate(103))
	if got, _ := x.Collection("CEN00001"); got != (ComplianceSummary{NonCompliant: 1, Unknown: 1, Total: 2}) {
		t.Errorf("after sync of 103: %+v, want the compliant device Unknown", got)
	}
	ciMust(t, x.RemoveUpdate(103))
	ciMust(t, x.RemoveUpdate(102))
	if got, _ := x.Collection("CEN00001"); got != (ComplianceSummary{Compliant: 2, Total: 2}) {
		t.Errorf("after removing 102 and 103: %+v, want both Compliant", got)
	}
	if got := x.RequiredUpdates(1); got != nil {
		t.Errorf("RequiredUpdates(1) = %v after removing 102", got)
	}
	ciMust(t, x.RemoveUpdate(101))
	if got, _ := x.Collection("CEN00001"); got != (ComplianceSummary{Unknown: 2, Total: 2}) {
		t.Errorf("no updates left: %+v, want 2 Unknown", got)
	}
}

// More updates than the first row width: the state table is re-laid out
// and keeps every state.
func TestComplianceRestride(t *testing.T) {
	x := ciIndex(t, 3, 5)
	ciMust(t, x.Apply([]ScanState{{1, 101, Required}, {2, 105, Installed}, {3, 103, NotRequired}}))
	for u := CIID(106); u <= 140; u++ {
		ciMust(t, x.AddUpdate(u))
	}
	ciMust(t, x.Set(1, 140, Required))
	if got := x.RequiredUpdates(1); !slices.Equal(got, []CIID{101, 140}) {
		t.Errorf("RequiredUpdates(1) = %v", got)
	}
	for _, c := range []struct {
		d uint32
		u CIID
		s ComplianceState
	}{{2, 105, Installed}, {3, 103, NotRequired}, {2, 140, Unknown}} {
		if got, _ := x.State(c.d, c.u); got != c.s {
			t.Errorf("State(%d, %d) = %v, want %v", c.d, c.u, got, c.s)
		}
	}
	if got, _ := x.Device(2); got != (DeviceSummary{Installed: 1, Unknown: 39, Total: 40}) {
		t.Errorf("Device(2) = %+v", got)
	}
}

func TestComplianceErrors(t *testing.T) {
	x := ciIndex(t, 2, 2)
	ciMust(t, x.SetDeployment(4, "CEN00001", []CIID{101}))
	tests := []struct {
		name   string
		err    error
		code   error
		fields []string
	}{
		{"AddDevice(0)", x.AddDevice(0), consign.ErrInvalid, []string{"Device"}},
		{"AddDevice twice", x.AddDevice(1), consign.ErrConflict, nil},
		{"RemoveDevice unknown", x.RemoveDevice(99), consign.ErrNotFound, nil},
		{"AddUpdate(0)", x.AddUpdate(0), consign.ErrInvalid, []string{"Update"}},
		{"AddUpdate twice", x.AddUpdate(101), consign.ErrConflict, nil},
		{"RemoveUpdate unknown", x.RemoveUpdate(999), consign.ErrNotFound, nil},
		{"RemoveUpdate deployed", x.RemoveUpdate(101), consign.ErrFailedPrecondition, nil},
		{"Set unknown device", x.Set(99, 101, Installed), consign.ErrInvalid, []string{"batch[0].Device"}},
		{"Apply: every problem once", x.Apply([]ScanState{
			{1, 101, Installed}, {99, 101, Installed}, {99, 999, Required}, {2, 102, 7}, {98, 102, Required},
		}), consign.ErrInvalid, []string{"batch[1].Device", "batch[2].Update", "batch[3].State", "batch[4].Device"}},
		{"SetDevice", x.SetDevice(99, []UpdateState{{101, Installed}, {999, 9}}), consign.ErrInvalid, []string{"Device", "states[1].Update", "states[1].State"}},
		{"SetMembers", x.SetMembers("nope", []uint32{1, 99}), consign.ErrInvalid, []string{"Collection", "members[1]"}},
		{"AddMember unknown device", x.AddMember("CEN00001", 99), consign.ErrInvalid, []string{"Device"}},
		{"AddMember unknown collection", x.AddMember("CEN00077", 1), consign.ErrNotFound, nil},
		{"RemoveMember unknown collection", x.RemoveMember("CEN00077", 1), consign.ErrNotFound, nil},
		{"RemoveCollection unknown", x.RemoveCollection("CEN00077"), consign.ErrNotFound, nil},
		{"RemoveCollection targeted", x.RemoveCollection("CEN00001"), consign.ErrFailedPrecondition, nil},
		{"SetDeployment: every problem", x.SetDeployment(0, "CEN00077", []CIID{101, 999, 101}), consign.ErrInvalid,
			[]string{"Deployment.ID", "Deployment.CollectionID", "Deployment.Updates[1]", "Deployment.Updates[2]"}},
		{"SetDeployment without updates", x.SetDeployment(5, "CEN00001", nil), consign.ErrInvalid, []string{"Deployment.Updates"}},
		{"RemoveDeployment unknown", x.RemoveDeployment(77), consign.ErrNotFound, nil},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.code) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.code)
			continue
		}
		if got := ciFields(tt.err); tt.fields != nil && !slices.Equal(got, tt.fields) {
			t.Errorf("%s: fields %v, want %v (%v)", tt.name, got, tt.fields, tt.err)
		}
	}
	// Nothing of the rejected calls was applied: the valid first state of
	// the rejected batch included.
	if s, _ := x.State(1, 101); s != Unknown {
		t.Errorf("State(1, 101) = %v after a rejected batch, want Unknown", s)
	}
	if got, _ := x.Update(101); got != (UpdateSummary{Unknown: 2, Total: 2}) {
		t.Errorf("Update(101) = %+v after rejected calls", got)
	}
	if got, ok := x.Deployment(5); ok {
		t.Errorf("rejected deployment 5 exists: %+v", got)
	}
	// The errors name the object.
	if err := x.RemoveUpdate(101); !strings.Contains(err.Error(), "deployment 4") {
		t.Errorf("RemoveUpdate error %q does not name the deployment", err)
	}
}

// Replacing a deployment moves its summary to the new collection and
// updates; the old ones no longer hold it back.
func TestComplianceReplaceDeployment(t *testing.T) {
	x := ciIndex(t, 3, 3)
	ciMust(t, x.SetMembers("CEN00002", []uint32{3}))
	ciMust(t, x.Apply([]ScanState{{1, 101, Required}, {2, 101, Installed}, {3, 101, Required}, {3, 102, Installed}}))
	ciMust(t, x.SetDeployment(1, "CEN00001", []CIID{101}))
	if got, _ := x.Deployment(1); got != (ComplianceSummary{Compliant: 1, NonCompliant: 2, Total: 3}) {
		t.Errorf("before: %+v", got)
	}
	ciMust(t, x.SetDeployment(1, "CEN00002", []CIID{102}))
	if got, _ := x.Deployment(1); got != (ComplianceSummary{Compliant: 1, Total: 1}) {
		t.Errorf("after: %+v", got)
	}
	ciMust(t, x.RemoveUpdate(101)) // no longer deployed
	ciMust(t, x.RemoveDeployment(1))
	ciMust(t, x.RemoveCollection("CEN00002"))
	if _, ok := x.Collection("CEN00002"); ok {
		t.Error("collection still there")
	}
}

// The per-member counters are 16 bits wide: a deployment holds at most
// 65,535 updates.
func TestComplianceDeploymentTooLarge(t *testing.T) {
	x := ciIndex(t, 1, 0)
	ids := make([]CIID, 1<<16)
	for i := range ids {
		ids[i] = CIID(i + 1)
		ciMust(t, x.AddUpdate(ids[i]))
	}
	err := x.SetDeployment(1, "CEN00001", ids)
	if got := ciFields(err); !slices.Equal(got, []string{"Deployment.Updates"}) {
		t.Fatalf("fields %v (%v), want Deployment.Updates", got, err)
	}
	ciMust(t, x.SetDeployment(1, "CEN00001", ids[:1<<16-1]))
	ciMust(t, x.Set(1, 1<<16-1, Installed))
	if got, _ := x.Deployment(1); got != (ComplianceSummary{Unknown: 1, Total: 1}) {
		t.Errorf("Deployment(1) = %+v", got)
	}
}
