package updates

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/consign/consign"
)

// ciModel is the plain-map model of a ComplianceIndex: every summary is
// recounted from it by brute force.
type ciModel struct {
	devices map[uint32]bool
	updates map[CIID]bool
	states  map[ciKey]ComplianceState // absent: Unknown
	cols    map[consign.ObjectID]map[uint32]bool
	deps    map[uint32]ciModelDep
}

type ciKey struct {
	dev uint32
	upd CIID
}

type ciModelDep struct {
	col     consign.ObjectID
	updates []CIID
}

func newCIModel() *ciModel {
	return &ciModel{
		devices: map[uint32]bool{},
		updates: map[CIID]bool{},
		states:  map[ciKey]ComplianceState{},
		cols:    map[consign.ObjectID]map[uint32]bool{},
		deps:    map[uint32]ciModelDep{},
	}
}

func (m *ciModel) updateSummary(u CIID) UpdateSummary {
	var s UpdateSummary
	for d := range m.devices {
		tally(m.states[ciKey{d, u}], &s.Required, &s.Installed, &s.NotRequired, &s.Unknown, &s.Total)
	}
	return s
}

func (m *ciModel) deviceSummary(d uint32) DeviceSummary {
	var s DeviceSummary
	for u := range m.updates {
		tally(m.states[ciKey{d, u}], &s.Required, &s.Installed, &s.NotRequired, &s.Unknown, &s.Total)
	}
	return s
}

// tally counts one state (a missing one is Unknown) and the total.
func tally(st ComplianceState, required, installed, notRequired, unknown, total *int) {
	switch st {
	case Required:
		*required++
	case Installed:
		*installed++
	case NotRequired:
		*notRequired++
	default:
		*unknown++
	}
	*total++
}

// overall is the rule of ComplianceSummary, written out: NonCompliant when
// any update is Required, Unknown when none is but some is Unknown (or
// there are no updates at all), Compliant otherwise.
func (m *ciModel) overall(d uint32, updates []CIID) int {
	if len(updates) == 0 {
		return overallUnknown
	}
	unknown := false
	for _, u := range updates {
		switch m.states[ciKey{d, u}] {
		case Required:
			return overallNonCompliant
		case Unknown:
			unknown = true
		}
	}
	if unknown {
		return overallUnknown
	}
	return overallCompliant
}

func (m *ciModel) summary(members map[uint32]bool, updates []CIID) ComplianceSummary {
	var s ComplianceSummary
	for d := range members {
		switch m.overall(d, updates) {
		case overallCompliant:
			s.Compliant++
		case overallNonCompliant:
			s.NonCompliant++
		default:
			s.Unknown++
		}
		s.Total++
	}
	return s
}

func (m *ciModel) required(d uint32) []CIID {
	var out []CIID
	for u := range m.updates {
		if m.states[ciKey{d, u}] == Required {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

func (m *ciModel) validState(s ScanState) bool {
	return m.devices[s.Device] && m.updates[s.Update] && s.State <= Installed
}

func (m *ciModel) set(s ScanState) {
	if s.State == Unknown {
		delete(m.states, ciKey{s.Device, s.Update})
		return
	}
	m.states[ciKey{s.Device, s.Update}] = s.State
}

// The ID pools: small, so that actions hit existing objects, reuse freed
// slots and outgrow the first stride of 8 updates; 0 and the last of each
// pool are often unregistered.
var (
	ciCols = []consign.ObjectID{"CEN00001", "CEN00002", "CEN00003", "bad"}
)

// ciPoolDevice is device i of the pool 0–9: its own number, except that 8
// and 9 are far apart from the others, so that the index's dense
// ResourceID table comes and goes.
func ciPoolDevice(i int) uint32 {
	switch i {
	case 8:
		return 1 << 30
	case 9:
		return 1<<32 - 1
	}
	return uint32(i)
}

// ciPoolUpdate is update i of the pool 0–13: its own number, except that
// 12 and 13 are far apart from the others, so that the index's dense CIID
// table comes and goes.
func ciPoolUpdate(i int) CIID {
	switch i {
	case 12:
		return 1 << 31
	case 13:
		return 1<<32 - 1
	}
	return CIID(i)
}

// ciDrawDevice draws a registered device nine times out of ten, otherwise
// any ID of the pool (0–9).
func ciDrawDevice(t *rapid.T, m *ciModel) uint32 {
	if len(m.devices) > 0 && rapid.IntRange(0, 9).Draw(t, "registeredDevice") > 0 {
		return rapid.SampledFrom(slices.Sorted(maps.Keys(m.devices))).Draw(t, "device")
	}
	return ciPoolDevice(rapid.IntRange(0, 9).Draw(t, "device"))
}

// ciDrawUpdate draws a registered update nine times out of ten, otherwise
// any ID of the pool (0–13).
func ciDrawUpdate(t *rapid.T, m *ciModel) CIID {
	if len(m.updates) > 0 && rapid.IntRange(0, 9).Draw(t, "registeredUpdate") > 0 {
		return rapid.SampledFrom(slices.Sorted(maps.Keys(m.updates))).Draw(t, "update")
	}
	return ciPoolUpdate(rapid.IntRange(0, 13).Draw(t, "update"))
}

// ciDrawValid draws a state of a registered device for a registered
// update.
func ciDrawValid(t *rapid.T, m *ciModel) ScanState {
	if len(m.devices) == 0 || len(m.updates) == 0 {
		t.Skip("no device or no update registered")
	}
	return ScanState{
		Device: rapid.SampledFrom(slices.Sorted(maps.Keys(m.devices))).Draw(t, "device"),
		Update: rapid.SampledFrom(slices.Sorted(maps.Keys(m.updates))).Draw(t, "update"),
		State:  ComplianceState(rapid.IntRange(0, 3).Draw(t, "state")),
	}
}

// ciDrawState draws one of the four states, and rarely the invalid 4.
func ciDrawState(t *rapid.T) ComplianceState {
	if n := rapid.IntRange(0, 40).Draw(t, "state"); n < 40 {
		return ComplianceState(n % 4)
	}
	return 4
}

func ciDrawCol(t *rapid.T) consign.ObjectID { return rapid.SampledFrom(ciCols).Draw(t, "collection") }

func ciWantErr(t *rapid.T, op string, err, code error) {
	t.Helper()
	if code == nil {
		if err != nil {
			t.Fatalf("%s: %v, want success", op, err)
		}
		return
	}
	if !errors.Is(err, code) {
		t.Fatalf("%s: error %v, want %v", op, err, code)
	}
}

// TestComplianceIndexMatchesModel drives a ComplianceIndex and the plain
// model through random sequences of every operation; after each step every
// summary the index reports equals a brute-force recount of the model, and
// every rejected call left the index unchanged.
func TestComplianceIndexMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x := NewComplianceIndex()
		if rapid.Bool().Draw(t, "grow") {
			x.Grow(rapid.IntRange(-1, 20).Draw(t, "growDevices"), rapid.IntRange(-1, 20).Draw(t, "growUpdates"))
		}
		m := newCIModel()
		ciSetUp(t, x, m)
		t.Repeat(map[string]func(*rapid.T){
			"AddDevice": func(t *rapid.T) {
				d := ciPoolDevice(rapid.IntRange(0, 9).Draw(t, "device"))
				var want error
				switch {
				case d == 0:
					want = consign.ErrInvalid
				case m.devices[d]:
					want = consign.ErrConflict
				default:
					m.devices[d] = true
				}
				ciWantErr(t, "AddDevice", x.AddDevice(d), want)
			},
			"RemoveDevice": func(t *rapid.T) {
				d := ciDrawDevice(t, m)
				var want error
				if !m.devices[d] {
					want = consign.ErrNotFound
				} else {
					delete(m.devices, d)
					for k := range m.states {
						if k.dev == d {
							delete(m.states, k)
						}
					}
					for _, members := range m.cols {
						delete(members, d)
					}
				}
				ciWantErr(t, "RemoveDevice", x.RemoveDevice(d), want)
			},
			"AddUpdate": func(t *rapid.T) {
				u := ciPoolUpdate(rapid.IntRange(0, 13).Draw(t, "update"))
				var want error
				switch {
				case u == 0:
					want = consign.ErrInvalid
				case m.updates[u]:
					want = consign.ErrConflict
				default:
					m.updates[u] = true
				}
				ciWantErr(t, "AddUpdate", x.AddUpdate(u), want)
			},
			"RemoveUpdate": func(t *rapid.T) {
				u := ciDrawUpdate(t, m)
				var want error
				deployed := false
				for _, dep := range m.deps {
					deployed = deployed || slices.Contains(dep.updates, u)
				}
				switch {
				case !m.updates[u]:
					want = consign.ErrNotFound
				case deployed:
					want = consign.ErrFailedPrecondition
				default:
					delete(m.updates, u)
					for k := range m.states {
						if k.upd == u {
							delete(m.states, k)
						}
					}
				}
				ciWantErr(t, "RemoveUpdate", x.RemoveUpdate(u), want)
			},
			"Set": func(t *rapid.T) {
				s := ScanState{ciDrawDevice(t, m), ciDrawUpdate(t, m), ciDrawState(t)}
				var want error = consign.ErrInvalid
				if m.validState(s) {
					want = nil
					m.set(s)
				}
				ciWantErr(t, "Set", x.Set(s.Device, s.Update, s.State), want)
			},
			"Apply": func(t *rapid.T) {
				batch := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) ScanState { return ciDrawValid(t, m) }), 0, 30).Draw(t, "batch")
				for _, s := range batch {
					m.set(s)
				}
				ciWantErr(t, "Apply", x.Apply(batch), nil)
			},
			"ApplyInvalid": func(t *rapid.T) {
				batch := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) ScanState { return ciDrawValid(t, m) }), 0, 10).Draw(t, "batch")
				bad := ScanState{ciDrawDevice(t, m), ciDrawUpdate(t, m), ciDrawState(t)}
				if m.validState(bad) {
					t.Skip("the drawn state is valid")
				}
				batch = slices.Insert(batch, rapid.IntRange(0, len(batch)).Draw(t, "at"), bad)
				ciWantErr(t, "Apply", x.Apply(batch), consign.ErrInvalid)
			},
			"SetDevice": func(t *rapid.T) {
				d := ciDrawDevice(t, m)
				states := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) UpdateState {
					return UpdateState{ciDrawUpdate(t, m), ciDrawState(t)}
				}), 0, 14).Draw(t, "states")
				valid := m.devices[d]
				for _, s := range states {
					valid = valid && m.validState(ScanState{d, s.Update, s.State})
				}
				var want error = consign.ErrInvalid
				if valid {
					want = nil
					for _, s := range states {
						m.set(ScanState{d, s.Update, s.State})
					}
				}
				ciWantErr(t, "SetDevice", x.SetDevice(d, states), want)
			},
			"SetMembers": func(t *rapid.T) {
				col := ciDrawCol(t)
				members := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) uint32 { return ciDrawDevice(t, m) }), 0, 12).Draw(t, "members")
				valid := col != "bad"
				for _, d := range members {
					valid = valid && m.devices[d]
				}
				var want error = consign.ErrInvalid
				if valid {
					want = nil
					set := map[uint32]bool{}
					for _, d := range members {
						set[d] = true
					}
					m.cols[col] = set
				}
				ciWantErr(t, "SetMembers", x.SetMembers(col, members), want)
			},
			"AddMember": func(t *rapid.T) {
				col, d := ciDrawCol(t), ciDrawDevice(t, m)
				var want error
				switch {
				case !m.devices[d]:
					want = consign.ErrInvalid
				case m.cols[col] == nil:
					want = consign.ErrNotFound
				default:
					m.cols[col][d] = true
				}
				ciWantErr(t, "AddMember", x.AddMember(col, d), want)
			},
			"RemoveMember": func(t *rapid.T) {
				col, d := ciDrawCol(t), ciDrawDevice(t, m)
				var want error
				switch {
				case !m.devices[d]:
					want = consign.ErrInvalid
				case m.cols[col] == nil:
					want = consign.ErrNotFound
				default:
					delete(m.cols[col], d)
				}
				ciWantErr(t, "RemoveMember", x.RemoveMember(col, d), want)
			},
			"RemoveCollection": func(t *rapid.T) {
				col := ciDrawCol(t)
				targeted := false
				for _, dep := range m.deps {
					targeted = targeted || dep.col == col
				}
				var want error
				switch {
				case m.cols[col] == nil:
					want = consign.ErrNotFound
				case targeted:
					want = consign.ErrFailedPrecondition
				default:
					delete(m.cols, col)
				}
				ciWantErr(t, "RemoveCollection", x.RemoveCollection(col), want)
			},
			"SetDeployment": func(t *rapid.T) {
				id := uint32(rapid.IntRange(0, 3).Draw(t, "deployment"))
				col := ciDrawCol(t)
				updates := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) CIID { return ciDrawUpdate(t, m) }), 0, 5).Draw(t, "updates")
				valid := id != 0 && m.cols[col] != nil && len(updates) > 0
				seen := map[CIID]bool{}
				for _, u := range updates {
					valid = valid && m.updates[u] && !seen[u]
					seen[u] = true
				}
				var want error = consign.ErrInvalid
				if valid {
					want = nil
					m.deps[id] = ciModelDep{col, slices.Clone(updates)}
				}
				ciWantErr(t, "SetDeployment", x.SetDeployment(id, col, updates), want)
			},
			"RemoveDeployment": func(t *rapid.T) {
				id := uint32(rapid.IntRange(0, 3).Draw(t, "deployment"))
				var want error
				if _, ok := m.deps[id]; !ok {
					want = consign.ErrNotFound
				} else {
					delete(m.deps, id)
				}
				ciWantErr(t, "RemoveDeployment", x.RemoveDeployment(id), want)
			},
			"": func(t *rapid.T) { ciCheck(t, x, m) },
		})
	})
}

// ciSetUp fills x and m with a random population through the index's API,
// so that the few random actions of each run start from a rich state:
// devices with every kind of state in collections that deployments target.
func ciSetUp(t *rapid.T, x *ComplianceIndex, m *ciModel) {
	nd := rapid.IntRange(0, 8).Draw(t, "setupDevices")
	nu := rapid.IntRange(0, 12).Draw(t, "setupUpdates")
	for i := 1; i <= nd; i++ {
		ciWantErr(t, "AddDevice", x.AddDevice(ciPoolDevice(i)), nil)
		m.devices[ciPoolDevice(i)] = true
	}
	for i := 1; i <= nu; i++ {
		ciWantErr(t, "AddUpdate", x.AddUpdate(ciPoolUpdate(i)), nil)
		m.updates[ciPoolUpdate(i)] = true
	}
	var batch []ScanState
	for j := 1; j <= nd; j++ {
		d := ciPoolDevice(j)
		for i := 1; i <= nu; i++ {
			u := ciPoolUpdate(i)
			// Mostly compliant states, so that flips to and from Compliant
			// are common.
			s := ScanState{d, u, ComplianceState(rapid.SampledFrom([]int{0, 1, 1, 2, 3, 3}).Draw(t, "setupState"))}
			batch = append(batch, s)
			m.set(s)
		}
	}
	ciWantErr(t, "Apply", x.Apply(batch), nil)
	for _, col := range ciCols[:3] {
		if !rapid.Bool().Draw(t, "setupCollection") {
			continue
		}
		members := map[uint32]bool{}
		var list []uint32
		for j := 1; j <= nd; j++ {
			d := ciPoolDevice(j)
			if rapid.IntRange(0, 3).Draw(t, "setupMember") > 0 {
				members[d] = true
				list = append(list, d)
			}
		}
		ciWantErr(t, "SetMembers", x.SetMembers(col, list), nil)
		m.cols[col] = members
	}
	for id := uint32(1); id <= 3; id++ {
		if len(m.cols) == 0 || nu == 0 || !rapid.Bool().Draw(t, "setupDeployment") {
			continue
		}
		col := rapid.SampledFrom(slices.Sorted(maps.Keys(m.cols))).Draw(t, "setupTarget")
		var updates []CIID
		for i := 1; i <= nu; i++ {
			if rapid.Bool().Draw(t, "setupAssigned") {
				updates = append(updates, ciPoolUpdate(i))
			}
		}
		if len(updates) == 0 {
			updates = []CIID{ciPoolUpdate(nu)}
		}
		ciWantErr(t, "SetDeployment", x.SetDeployment(id, col, updates), nil)
		m.deps[id] = ciModelDep{col, updates}
	}
}

// ciCheck compares every summary of x with a recount of m, for every ID of
// the pools (registered or not).
func ciCheck(t *rapid.T, x *ComplianceIndex, m *ciModel) {
	t.Helper()
	if x.NumDevices() != len(m.devices) || x.NumUpdates() != len(m.updates) {
		t.Fatalf("%d devices and %d updates, want %d and %d", x.NumDevices(), x.NumUpdates(), len(m.devices), len(m.updates))
	}
	allUpdates := slices.Sorted(maps.Keys(m.updates))
	for i := 0; i <= 13; i++ {
		u := ciPoolUpdate(i)
		got, ok := x.Update(u)
		if ok != m.updates[u] {
			t.Fatalf("Update(%d) found = %v, want %v", u, ok, m.updates[u])
		}
		if ok && got != m.updateSummary(u) {
			t.Fatalf("Update(%d) = %+v, want %+v", u, got, m.updateSummary(u))
		}
	}
	for j := 0; j <= 9; j++ {
		d := ciPoolDevice(j)
		got, ok := x.Device(d)
		if ok != m.devices[d] {
			t.Fatalf("Device(%d) found = %v, want %v", d, ok, m.devices[d])
		}
		if ok && got != m.deviceSummary(d) {
			t.Fatalf("Device(%d) = %+v, want %+v", d, got, m.deviceSummary(d))
		}
		if got, want := x.RequiredUpdates(d), m.required(d); !slices.Equal(got, want) {
			t.Fatalf("RequiredUpdates(%d) = %v, want %v", d, got, want)
		}
		for i := 0; i <= 13; i++ {
			u := ciPoolUpdate(i)
			s, ok := x.State(d, u)
			if ok != (m.devices[d] && m.updates[u]) || s != m.states[ciKey{d, u}] {
				t.Fatalf("State(%d, %d) = %v, %v; want %v, %v", d, u, s, ok, m.states[ciKey{d, u}], m.devices[d] && m.updates[u])
			}
		}
	}
	for _, col := range ciCols {
		got, ok := x.Collection(col)
		members := m.cols[col]
		want := members != nil
		if ok != want {
			t.Fatalf("Collection(%s) found = %v, want %v", col, ok, want)
		}
		if ok && got != m.summary(members, allUpdates) {
			t.Fatalf("Collection(%s) = %+v, want %+v", col, got, m.summary(members, allUpdates))
		}
	}
	for id := uint32(0); id <= 3; id++ {
		got, ok := x.Deployment(id)
		dep, want := m.deps[id]
		if ok != want {
			t.Fatalf("Deployment(%d) found = %v, want %v", id, ok, want)
		}
		if ok && got != m.summary(m.cols[dep.col], dep.updates) {
			t.Fatalf("Deployment(%d) = %+v, want %+v", id, got, m.summary(m.cols[dep.col], dep.updates))
		}
	}
}

// A device outside a deployment's collection never counts in its summary,
// whatever it reports and whatever other collections it is in.
func TestComplianceOutsiderNeverCounts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x := NewComplianceIndex()
		n := rapid.IntRange(2, 20).Draw(t, "devices")
		for d := 1; d <= n; d++ {
			if err := x.AddDevice(uint32(d)); err != nil {
				t.Fatal(err)
			}
		}
		for u := CIID(1); u <= 5; u++ {
			if err := x.AddUpdate(u); err != nil {
				t.Fatal(err)
			}
		}
		outsider := uint32(rapid.IntRange(1, n).Draw(t, "outsider"))
		var members []uint32
		for d := 1; d <= n; d++ {
			if uint32(d) != outsider && rapid.Bool().Draw(t, "member") {
				members = append(members, uint32(d))
			}
		}
		if err := x.SetMembers("CEN00001", members); err != nil {
			t.Fatal(err)
		}
		if err := x.SetMembers("CEN00002", []uint32{outsider}); err != nil {
			t.Fatal(err)
		}
		deployed := rapid.SliceOfNDistinct(rapid.Custom(func(t *rapid.T) CIID { return CIID(rapid.IntRange(1, 5).Draw(t, "u")) }), 1, 5, rapid.ID[CIID]).Draw(t, "deployed")
		if err := x.SetDeployment(7, "CEN00001", deployed); err != nil {
			t.Fatal(err)
		}
		for range rapid.IntRange(0, 30).Draw(t, "steps") {
			d := uint32(rapid.IntRange(1, n).Draw(t, "d"))
			u := CIID(rapid.IntRange(1, 5).Draw(t, "u"))
			s := ComplianceState(rapid.IntRange(0, 3).Draw(t, "s"))
			before, _ := x.Deployment(7)
			if err := x.Set(d, u, s); err != nil {
				t.Fatal(err)
			}
			after, _ := x.Deployment(7)
			if d == outsider && after != before {
				t.Fatalf("outsider %d reporting %d=%v changed the deployment summary from %+v to %+v", d, u, s, before, after)
			}
			if after.Total != len(members) || after.Compliant+after.NonCompliant+after.Unknown != after.Total {
				t.Fatalf("deployment summary %+v over %d members", after, len(members))
			}
		}
	})
}
