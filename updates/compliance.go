package updates

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/consign/consign"
)

// ScanState is one device's compliance state for one update: a topic 500
// SUM_UPDATE_DETECTION state message as it reaches the site (§3.7 step 2).
// Device is the ResourceID (SMS_UpdateComplianceStatus.MachineID, §1.11).
type ScanState struct {
	Device uint32
	Update CIID
	State  ComplianceState
}

// UpdateState is one update's compliance state in a per-device batch
// (SetDevice).
type UpdateState struct {
	Update CIID
	State  ComplianceState
}

// UpdateSummary counts the registered devices by their state for one
// update: the summary counters of SMS_SoftwareUpdate (§1.11).
type UpdateSummary struct {
	// Required is NumMissing: applicable and not installed, or installed
	// and pending a restart (§3.7 step 2).
	Required int
	// Installed is NumPresent.
	Installed int
	// NotRequired is NumNotApplicable.
	NotRequired int
	// Unknown is NumUnknown: registered devices with no scan result for
	// the update (never reported, or reported Unknown).
	Unknown int
	// Total is NumTotal: every registered device, so the four counts above
	// always sum to it.
	Total int
}

// PercentCompliant is the share of devices that do not need the update:
// (Installed + NotRequired) × 100 / Total, rounded down, 0 when Total is 0.
// Unknown devices count against it: a device the site has no scan result
// for is never taken as compliant (§3.7 step 2, §4.3).
//
// [UNVERIFIED] the reference lists PercentCompliant without its formula
// (§1.11). This is the formula the console's figure is understood to use;
// rounding down means 100 is shown only when every device is compliant.
func (s UpdateSummary) PercentCompliant() int { return percent(s.Installed+s.NotRequired, s.Total) }

// ComplianceSummary counts devices by their overall compliance, with the
// fields of an update list's summary (NumCompliant, NumNonCompliant,
// NumUnknown, NumTotal, §1.12). It is the summary of a deployment (over its
// collection's members and its updates, topic 300, §3.7 step 7) and of a
// collection (over its members and every registered update).
//
// A device is NonCompliant when any of the updates is Required for it;
// otherwise Unknown when any of them is Unknown for it (it has not reported
// them all); otherwise Compliant (each one Installed or NotRequired). For a
// collection, where the updates are all the registered ones, a device counts
// as Unknown while no update is registered: it has reported nothing.
type ComplianceSummary struct {
	Compliant    int
	NonCompliant int
	Unknown      int
	// Total is the number of members; the three counts sum to it.
	Total int
}

// PercentCompliant is Compliant × 100 / Total, rounded down, 0 when Total
// is 0. Unknown devices count against it. [UNVERIFIED] formula, as for
// UpdateSummary.PercentCompliant.
func (s ComplianceSummary) PercentCompliant() int { return percent(s.Compliant, s.Total) }

// DeviceSummary counts one device's states over every registered update:
// the input of the client's enforcement decision (§3.7 step 3) and of the
// collection summaries.
type DeviceSummary struct {
	Required    int
	Installed   int
	NotRequired int
	// Unknown counts the registered updates the device has no scan result
	// for.
	Unknown int
	// Total is the number of registered updates.
	Total int
}

func percent(part, total int) int {
	if total == 0 {
		return 0
	}
	return part * 100 / total
}

// Overall compliance of a device for a set of updates, numbered as topic
// 300 (§3.7 step 7, §4.4). Used as indices of the summary counters.
const (
	overallUnknown      = 0
	overallCompliant    = 1
	overallNonCompliant = 2
)

// counts holds a device's (or an update's) states by ComplianceState. Known
// states are counted at their index; counts[Unknown] holds minus the number
// of known states, so that a state change is always counts[old]--,
// counts[new]++ and the number of Unknown states is n + counts[Unknown],
// where n is the number of registered updates (or devices). So registering
// an update or a device, which is Unknown everywhere, touches no counter.
type counts [4]int32

// depCell is the per-member counter of a deployment: how many of its
// updates are Required and Unknown for the device.
type depCell struct{ req, unk uint16 }

func (c depCell) overall() int {
	switch {
	case c.req > 0:
		return overallNonCompliant
	case c.unk > 0:
		return overallUnknown
	}
	return overallCompliant
}

// maxDeploymentUpdates bounds a deployment's updates: the per-member
// counters are 16 bits wide.
const maxDeploymentUpdates = 1<<16 - 1

// bitset is a set of device slots.
type bitset []uint64

func (b bitset) has(i int32) bool {
	w := int(i >> 6)
	return w < len(b) && b[w]&(1<<(uint(i)&63)) != 0
}

func (b *bitset) add(i int32) {
	w := int(i >> 6)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (uint(i) & 63)
}

func (b bitset) remove(i int32) {
	if w := int(i >> 6); w < len(b) {
		b[w] &^= 1 << (uint(i) & 63)
	}
}

// each calls f for every slot in a but not in not (nil: every slot in a),
// in increasing order.
func (a bitset) each(not bitset, f func(int32)) {
	for w, word := range a {
		if w < len(not) {
			word &^= not[w]
		}
		for word != 0 {
			f(int32(w<<6 | bits.TrailingZeros64(word)))
			word &= word - 1
		}
	}
}

type collection struct {
	id      consign.ObjectID
	members bitset
	n       int
	// cnt counts the members by overall compliance over every registered
	// update.
	cnt  [3]int
	deps []*deployment // the deployments targeting the collection
	pos  int           // index in ComplianceIndex.colList
}

type deployment struct {
	id      uint32
	col     *collection
	updates []int32 // update slots
	// cells holds the per-member counters, indexed by device slot; only
	// the entries of the collection's members are meaningful (and the
	// others are zero).
	cells []depCell
	cnt   [3]int // members by overall compliance for the updates
}

// ComplianceIndex is the site's in-memory index of software update
// compliance: every registered device's state for every registered update
// (SMS_UpdateComplianceStatus, §1.11, §4.3), with the summaries the console
// shows kept up to date as states arrive, so that reading one costs the
// same whatever the fleet size:
//
//   - per update: NumMissing, NumPresent, NumNotApplicable, NumUnknown,
//     NumTotal and PercentCompliant (§1.11, UpdateSummary);
//   - per deployment: its collection's members by topic 300 assignment
//     compliance for the deployment's updates (§3.7 step 7,
//     ComplianceSummary);
//   - per collection: its members by overall compliance over all updates;
//   - per device: its counts and its Required updates (§3.7 step 3).
//
// A registered device that never reported for a registered update is
// Unknown for it, never silently compliant (§3.7 step 2). Removing a device
// removes its states from every summary; a new update is Unknown on every
// device until they report it.
//
// Devices are keyed by ResourceID, updates by CIID, collections by their
// ObjectID and deployments by AssignmentID. The index holds membership as
// the caller gives it (it does not evaluate collection rules) and only the
// collection and updates of a deployment (its other properties live in
// Deployment).
//
// Calls that change the index validate their whole input first and change
// nothing when they return an error. Bad input is reported with every
// problem at once (consign.ErrInvalid, *consign.ValidationError per
// problem); a missing object is consign.ErrNotFound, an existing one on an
// add consign.ErrConflict, and a removal other objects depend on
// consign.ErrFailedPrecondition.
//
// A ComplianceIndex is not safe for concurrent use: its owner serialises
// calls (one goroutine, or a lock around every call, reads included).
// The zero value is not usable; call NewComplianceIndex.
type ComplianceIndex struct {
	// Devices, by slot.
	devSlot  map[uint32]int32
	devIDs   []uint32 // 0: a free slot
	devCnt   []counts
	devFree  []int32
	nDev     int
	devDense denseSlots // speeds up devSlot on the ingest path

	// Updates, by slot.
	updSlot  map[CIID]int32
	updIDs   []CIID // 0: a free slot
	updCnt   []counts
	updDeps  [][]*deployment // the deployments assigning each update
	updFree  []int32
	nUpd     int
	updDense denseSlots // speeds up updSlot on the ingest path

	// states[d*stride+u] is device slot d's state for update slot u.
	// Rows and columns of free slots are all Unknown (zero).
	states []ComplianceState
	stride int

	cols    map[consign.ObjectID]*collection
	colList []*collection
	deps    map[uint32]*deployment

	scratch []resolved
}

// resolved is a validated state with its slots: the apply pass of a batch.
type resolved struct {
	dev, upd int32
	state    ComplianceState
}

// NewComplianceIndex returns an empty index.
func NewComplianceIndex() *ComplianceIndex {
	return &ComplianceIndex{
		devSlot: make(map[uint32]int32),
		updSlot: make(map[CIID]int32),
		cols:    make(map[consign.ObjectID]*collection),
		deps:    make(map[uint32]*deployment),
	}
}

// Grow makes room for at least devices more devices and updates more
// updates, so that registering them does not reallocate the state table.
// Negative values count as 0.
func (x *ComplianceIndex) Grow(devices, updates int) {
	devices, updates = max(devices, 0), max(updates, 0)
	if need := len(x.updIDs) + max(updates-len(x.updFree), 0); need > x.stride {
		x.restride(need)
	}
	more := max(devices-len(x.devFree), 0)
	x.states = slices.Grow(x.states, more*x.stride)
	x.devIDs = slices.Grow(x.devIDs, more)
	x.devCnt = slices.Grow(x.devCnt, more)
	if len(x.devSlot) == 0 && devices > 0 {
		x.devSlot = make(map[uint32]int32, devices)
	}
}

// restride gives each device row room for at least n update slots.
func (x *ComplianceIndex) restride(n int) {
	stride := max(n, x.stride+x.stride/4, 8)
	rows := len(x.devIDs)
	states := make([]ComplianceState, rows*stride, max(cap(x.states)/max(x.stride, 1), rows)*stride)
	for d := range rows {
		copy(states[d*stride:], x.states[d*x.stride:(d+1)*x.stride])
	}
	x.states, x.stride = states, stride
}

// NumDevices returns the number of registered devices.
func (x *ComplianceIndex) NumDevices() int { return x.nDev }

// NumUpdates returns the number of registered updates.
func (x *ComplianceIndex) NumUpdates() int { return x.nUpd }

// AddDevice registers a device, Unknown for every update. The ResourceID
// must not be 0 (ErrInvalid) nor already registered (ErrConflict).
func (x *ComplianceIndex) AddDevice(id uint32) error {
	if id == 0 {
		return &consign.ValidationError{Field: "Device", Value: id, Rule: "a ResourceID other than 0"}
	}
	if _, ok := x.devSlot[id]; ok {
		return consign.Errorf(consign.ErrConflict, "AddDevice", deviceKey(id), "already registered")
	}
	var d int32
	if n := len(x.devFree); n > 0 {
		d, x.devFree = x.devFree[n-1], x.devFree[:n-1]
	} else {
		d = int32(len(x.devIDs))
		x.devIDs = append(x.devIDs, 0)
		x.devCnt = append(x.devCnt, counts{})
		x.states = slices.Grow(x.states, x.stride)
		x.states = x.states[:len(x.states)+x.stride]
		clear(x.states[len(x.states)-x.stride:])
	}
	x.devIDs[d] = id
	x.devSlot[id] = d
	denseAdd(&x.devDense, x.devSlot, id, d)
	x.nDev++
	return nil
}

// RemoveDevice forgets a device: its states leave every update summary and
// it leaves every collection, and so every deployment summary.
// ErrNotFound if it is not registered.
func (x *ComplianceIndex) RemoveDevice(id uint32) error {
	d, ok := x.devSlot[id]
	if !ok {
		return consign.Errorf(consign.ErrNotFound, "RemoveDevice", deviceKey(id), "not registered")
	}
	for _, c := range x.colList {
		if c.members.has(d) {
			x.removeMember(c, d)
		}
	}
	row := x.row(d)
	for u, s := range row {
		if s != Unknown {
			x.updCnt[u][s]--
			x.updCnt[u][Unknown]++
		}
	}
	clear(row)
	x.devCnt[d] = counts{}
	x.devIDs[d] = 0
	delete(x.devSlot, id)
	x.devDense.remove(id)
	x.devFree = append(x.devFree, d)
	x.nDev--
	return nil
}

// AddUpdate registers an update, Unknown on every device until they report
// it. The CIID must not be 0 (ErrInvalid) nor already registered
// (ErrConflict). Devices that were compliant for every update become
// Unknown in the collection summaries.
func (x *ComplianceIndex) AddUpdate(id CIID) error {
	if id == 0 {
		return &consign.ValidationError{Field: "Update", Value: id, Rule: "a CI_ID other than 0"}
	}
	if _, ok := x.updSlot[id]; ok {
		return consign.Errorf(consign.ErrConflict, "AddUpdate", updateKey(id), "already registered")
	}
	var u int32
	if n := len(x.updFree); n > 0 {
		u, x.updFree = x.updFree[n-1], x.updFree[:n-1]
	} else {
		u = int32(len(x.updIDs))
		if int(u) >= x.stride {
			x.restride(int(u) + 1)
		}
		x.updIDs = append(x.updIDs, 0)
		x.updCnt = append(x.updCnt, counts{})
		x.updDeps = append(x.updDeps, nil)
	}
	x.updIDs[u] = id
	x.updSlot[id] = u
	x.nUpd++
	denseAdd(&x.updDense, x.updSlot, id, u)
	// Every device is Unknown for the new update: the compliant ones
	// become Unknown, the others keep their status.
	for _, c := range x.colList {
		c.cnt[overallUnknown] += c.cnt[overallCompliant]
		c.cnt[overallCompliant] = 0
	}
	return nil
}

// RemoveUpdate forgets an update and every device's state for it.
// ErrNotFound if it is not registered; ErrFailedPrecondition while a
// deployment assigns it (as the site keeps expired updates that are still
// deployed, §1.11): remove it from those deployments first. It costs a pass
// over every device.
func (x *ComplianceIndex) RemoveUpdate(id CIID) error {
	u, ok := x.updSlot[id]
	if !ok {
		return consign.Errorf(consign.ErrNotFound, "RemoveUpdate", updateKey(id), "not registered")
	}
	if deps := x.updDeps[u]; len(deps) > 0 {
		ids := make([]string, len(deps))
		for i, dep := range deps {
			ids[i] = strconv.FormatUint(uint64(dep.id), 10)
		}
		slices.Sort(ids)
		return consign.Errorf(consign.ErrFailedPrecondition, "RemoveUpdate", updateKey(id), "assigned by deployment %s", strings.Join(ids, ", "))
	}
	n := x.nUpd
	for d, dev := range x.devIDs {
		if dev == 0 {
			continue
		}
		c := &x.devCnt[d]
		before := overall(c, n)
		p := &x.states[d*x.stride+int(u)]
		if s := *p; s != Unknown {
			c[s]--
			c[Unknown]++
			*p = Unknown
		}
		if after := overall(c, n-1); after != before {
			x.flip(int32(d), before, after)
		}
	}
	x.updIDs[u] = 0
	x.updCnt[u] = counts{}
	x.updDeps[u] = nil
	delete(x.updSlot, id)
	x.updDense.remove(uint32(id))
	x.updFree = append(x.updFree, u)
	x.nUpd--
	return nil
}

// denseSlots speeds up an ID → slot map when the IDs are compact, as
// ConfigMgr's ResourceIDs and CI_IDs are (the site hands them out in
// sequence): slots[id-base] is the slot + 1, 0 for an absent ID. The map
// stays the reference; slots is nil while the IDs are too sparse (a span of
// more than 4 per ID plus 1,024).
type denseSlots struct {
	base  uint32
	slots []int32
	retry int // the map size at which to try again after the IDs were too sparse
}

// lookup returns id's slot; covered is false when the table is not in use
// and the map must answer.
func (t *denseSlots) lookup(id uint32) (slot int32, ok, covered bool) {
	if t.slots == nil {
		return -1, false, false
	}
	if id < t.base || int64(id-t.base) >= int64(len(t.slots)) {
		return -1, false, true
	}
	s := t.slots[id-t.base]
	return s - 1, s != 0, true
}

func (t *denseSlots) remove(id uint32) {
	if id >= t.base && int64(id-t.base) < int64(len(t.slots)) {
		t.slots[id-t.base] = 0
	}
}

// denseAdd records that id, just added to m, has slot: in place when the
// table covers it, otherwise by laying the table out again over m.
func denseAdd[K ~uint32](t *denseSlots, m map[K]int32, id K, slot int32) {
	i := uint32(id)
	switch {
	case t.slots != nil && i >= t.base && int64(i-t.base) < int64(len(t.slots)):
		t.slots[i-t.base] = slot + 1
		return
	case t.slots == nil && len(m) < t.retry:
		return
	}
	// Lay out over m, with room above the highest ID for the next ones.
	t.slots, t.retry = nil, 2*len(m)
	lo, hi := uint32(1<<32-1), uint32(0)
	for id := range m {
		lo, hi = min(lo, uint32(id)), max(hi, uint32(id))
	}
	span := int64(hi-lo) + 1
	if span > 4*int64(len(m))+1024 {
		return
	}
	t.base, t.slots, t.retry = lo, make([]int32, min(span+span/2+64, 1<<32-int64(lo))), 0
	for id, s := range m {
		t.slots[uint32(id)-lo] = s + 1
	}
}

// updateSlot and deviceSlot return a slot: the ingest path's lookups.
func (x *ComplianceIndex) updateSlot(id CIID) (int32, bool) {
	if u, ok, covered := x.updDense.lookup(uint32(id)); covered {
		return u, ok
	}
	u, ok := x.updSlot[id]
	return u, ok
}

func (x *ComplianceIndex) deviceSlot(id uint32) (int32, bool) {
	if d, ok, covered := x.devDense.lookup(id); covered {
		return d, ok
	}
	d, ok := x.devSlot[id]
	return d, ok
}

// overall is a device's overall compliance from its counts over n
// registered updates. With no update registered the device has reported
// nothing: Unknown.
func overall(c *counts, n int) int {
	switch {
	case c[Required] > 0:
		return overallNonCompliant
	case n == 0 || int32(n)+c[Unknown] > 0:
		return overallUnknown
	}
	return overallCompliant
}

// flip moves device slot d from one overall status to another in the
// summaries of the collections it is a member of.
func (x *ComplianceIndex) flip(d int32, from, to int) {
	for _, c := range x.colList {
		if c.members.has(d) {
			c.cnt[from]--
			c.cnt[to]++
		}
	}
}

func (x *ComplianceIndex) row(d int32) []ComplianceState {
	return x.states[int(d)*x.stride : int(d+1)*x.stride]
}

// Set records one device's state for one update: Apply with one state.
func (x *ComplianceIndex) Set(device uint32, update CIID, state ComplianceState) error {
	return x.Apply([]ScanState{{Device: device, Update: update, State: state}})
}

// Apply records a batch of states, in order (a later state for the same
// device and update wins), updating every summary. It is the ingest path
// for state messages (§3.7 step 2). The whole batch is checked first: when a
// state names an unregistered device or update, or is not one of the four
// ComplianceStates, Apply returns an error listing every such problem
// (each unregistered ID once, at its first index) and records nothing.
//
// Apply is fastest with each device's states together, and keeps a scratch
// buffer as large as the largest batch (12 bytes per state): batches of a
// few thousand devices are a good size.
func (x *ComplianceIndex) Apply(batch []ScanState) error {
	res := x.scratch[:0]
	lastDev, lastSlot := uint32(0), int32(-1)
	bad := false
	for _, s := range batch {
		if s.Device != lastDev || lastSlot < 0 {
			d, ok := x.deviceSlot(s.Device)
			if !ok {
				bad = true
				break
			}
			lastDev, lastSlot = s.Device, d
		}
		u, ok := x.updateSlot(s.Update)
		if !ok || s.State > Installed {
			bad = true
			break
		}
		res = append(res, resolved{lastSlot, u, s.State})
	}
	x.scratch = res[:0]
	if bad {
		return x.batchProblems(batch)
	}
	x.applyResolved(res)
	return nil
}

func (x *ComplianceIndex) batchProblems(batch []ScanState) error {
	var p consign.Problems
	seenDev := map[uint32]bool{}
	seenUpd := map[CIID]bool{}
	for i, s := range batch {
		if _, ok := x.devSlot[s.Device]; !ok && !seenDev[s.Device] {
			seenDev[s.Device] = true
			p.AddValue(fmt.Sprintf("batch[%d].Device", i), s.Device, "must be a registered device")
		}
		if _, ok := x.updSlot[s.Update]; !ok && !seenUpd[s.Update] {
			seenUpd[s.Update] = true
			p.AddValue(fmt.Sprintf("batch[%d].Update", i), s.Update, "must be a registered update")
		}
		if s.State > Installed {
			p.AddValue(fmt.Sprintf("batch[%d].State", i), uint8(s.State), stateRule)
		}
	}
	return p.Err()
}

const stateRule = "0 Unknown, 1 Not Required, 2 Required or 3 Installed (topic 500)"

// SetDevice records states for one device: Apply for a batch that names
// the device once. Nothing is recorded when it returns an error.
func (x *ComplianceIndex) SetDevice(device uint32, states []UpdateState) error {
	d, devOK := x.deviceSlot(device)
	res := x.scratch[:0]
	bad := !devOK
	for _, s := range states {
		if bad {
			break
		}
		u, ok := x.updateSlot(s.Update)
		if !ok || s.State > Installed {
			bad = true
			break
		}
		res = append(res, resolved{d, u, s.State})
	}
	x.scratch = res[:0]
	if bad {
		var p consign.Problems
		if !devOK {
			p.AddValue("Device", device, "must be a registered device")
		}
		seen := map[CIID]bool{}
		for i, s := range states {
			if _, ok := x.updSlot[s.Update]; !ok && !seen[s.Update] {
				seen[s.Update] = true
				p.AddValue(fmt.Sprintf("states[%d].Update", i), s.Update, "must be a registered update")
			}
			if s.State > Installed {
				p.AddValue(fmt.Sprintf("states[%d].State", i), uint8(s.State), stateRule)
			}
		}
		return p.Err()
	}
	x.applyResolved(res)
	return nil
}

// applyResolved records validated states. Per state that changes: the
// update's counters, the device's counters, the collections of the device
// when its overall status flips, and the deployments of the update whose
// collection holds the device.
func (x *ComplianceIndex) applyResolved(res []resolved) {
	states, stride, n := x.states, x.stride, x.nUpd
	for _, r := range res {
		p := &states[int(r.dev)*stride+int(r.upd)]
		old := *p
		if old == r.state {
			continue
		}
		*p = r.state
		uc := &x.updCnt[r.upd]
		uc[old]--
		uc[r.state]++
		dc := &x.devCnt[r.dev]
		before := overall(dc, n)
		dc[old]--
		dc[r.state]++
		if after := overall(dc, n); after != before {
			x.flip(r.dev, before, after)
		}
		for _, dep := range x.updDeps[r.upd] {
			if !dep.col.members.has(r.dev) {
				continue
			}
			cell := &dep.cells[r.dev]
			before := cell.overall()
			switch old {
			case Required:
				cell.req--
			case Unknown:
				cell.unk--
			}
			switch r.state {
			case Required:
				cell.req++
			case Unknown:
				cell.unk++
			}
			if after := cell.overall(); after != before {
				dep.cnt[before]--
				dep.cnt[after]++
			}
		}
	}
}

// State returns a device's state for an update, and false when either is
// not registered.
func (x *ComplianceIndex) State(device uint32, update CIID) (ComplianceState, bool) {
	d, ok := x.deviceSlot(device)
	if !ok {
		return Unknown, false
	}
	u, ok := x.updateSlot(update)
	if !ok {
		return Unknown, false
	}
	return x.states[int(d)*x.stride+int(u)], true
}

// Update returns an update's summary over every registered device (§1.11),
// and false when it is not registered.
func (x *ComplianceIndex) Update(id CIID) (UpdateSummary, bool) {
	u, ok := x.updateSlot(id)
	if !ok {
		return UpdateSummary{}, false
	}
	c := &x.updCnt[u]
	return UpdateSummary{
		Required:    int(c[Required]),
		Installed:   int(c[Installed]),
		NotRequired: int(c[NotRequired]),
		Unknown:     x.nDev + int(c[Unknown]),
		Total:       x.nDev,
	}, true
}

// Device returns a device's counts over every registered update, and false
// when it is not registered.
func (x *ComplianceIndex) Device(id uint32) (DeviceSummary, bool) {
	d, ok := x.deviceSlot(id)
	if !ok {
		return DeviceSummary{}, false
	}
	c := &x.devCnt[d]
	return DeviceSummary{
		Required:    int(c[Required]),
		Installed:   int(c[Installed]),
		NotRequired: int(c[NotRequired]),
		Unknown:     x.nUpd + int(c[Unknown]),
		Total:       x.nUpd,
	}, true
}

// RequiredUpdates returns the updates that are Required for a device, in
// increasing CIID order: the only ones the client acts on (§3.7 step 3).
// It returns nil for a device that is not registered or needs nothing. It
// costs a pass over the device's row of the state table.
func (x *ComplianceIndex) RequiredUpdates(device uint32) []CIID {
	d, ok := x.deviceSlot(device)
	if !ok || x.devCnt[d][Required] == 0 {
		return nil
	}
	out := make([]CIID, 0, x.devCnt[d][Required])
	for u, s := range x.row(d) {
		if s == Required {
			out = append(out, x.updIDs[u])
		}
	}
	slices.Sort(out)
	return out
}

// Deployment returns a deployment's summary: its collection's members by
// assignment compliance for the deployment's updates (topic 300, §3.7 step
// 7, §4.3), and false when the deployment is not in the index. A device
// outside the collection never counts.
func (x *ComplianceIndex) Deployment(id uint32) (ComplianceSummary, bool) {
	dep, ok := x.deps[id]
	if !ok {
		return ComplianceSummary{}, false
	}
	return ComplianceSummary{
		Compliant:    dep.cnt[overallCompliant],
		NonCompliant: dep.cnt[overallNonCompliant],
		Unknown:      dep.cnt[overallUnknown],
		Total:        dep.col.n,
	}, true
}

// Collection returns a collection's summary: its members by overall
// compliance over every registered update, and false when the collection is
// not in the index.
func (x *ComplianceIndex) Collection(id consign.ObjectID) (ComplianceSummary, bool) {
	c, ok := x.cols[id]
	if !ok {
		return ComplianceSummary{}, false
	}
	return ComplianceSummary{
		Compliant:    c.cnt[overallCompliant],
		NonCompliant: c.cnt[overallNonCompliant],
		Unknown:      c.cnt[overallUnknown],
		Total:        c.n,
	}, true
}

// SetMembers creates the collection or replaces its membership with
// members (duplicates count once). Every member must be a registered
// device; the collection's ID must be a valid ObjectID. Deployments to the
// collection follow the new membership.
func (x *ComplianceIndex) SetMembers(col consign.ObjectID, members []uint32) error {
	var p consign.Problems
	if col.Validate() != nil {
		p.AddValue("Collection", string(col), "a collection ID: site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	var next bitset
	for i, m := range members {
		d, ok := x.devSlot[m]
		if !ok {
			p.AddValue(fmt.Sprintf("members[%d]", i), m, "must be a registered device")
			continue
		}
		next.add(d)
	}
	if err := p.Err(); err != nil {
		return err
	}
	c, ok := x.cols[col]
	if !ok {
		c = &collection{id: col, pos: len(x.colList)}
		x.cols[col] = c
		x.colList = append(x.colList, c)
	}
	c.members.each(next, func(d int32) { x.removeMember(c, d) })
	next.each(c.members, func(d int32) { x.addMember(c, d) })
	return nil
}

// AddMember adds a registered device to a collection in the index
// (ErrNotFound when the collection is not). Adding a member again changes
// nothing.
func (x *ComplianceIndex) AddMember(col consign.ObjectID, device uint32) error {
	c, d, err := x.memberArgs("AddMember", col, device)
	if err != nil {
		return err
	}
	if !c.members.has(d) {
		x.addMember(c, d)
	}
	return nil
}

// RemoveMember removes a registered device from a collection in the index
// (ErrNotFound when the collection is not). Removing a device that is not
// a member changes nothing.
func (x *ComplianceIndex) RemoveMember(col consign.ObjectID, device uint32) error {
	c, d, err := x.memberArgs("RemoveMember", col, device)
	if err != nil {
		return err
	}
	if c.members.has(d) {
		x.removeMember(c, d)
	}
	return nil
}

func (x *ComplianceIndex) memberArgs(op string, col consign.ObjectID, device uint32) (*collection, int32, error) {
	d, ok := x.devSlot[device]
	if !ok {
		return nil, 0, &consign.ValidationError{Field: "Device", Value: device, Rule: "must be a registered device"}
	}
	c, ok := x.cols[col]
	if !ok {
		return nil, 0, consign.Errorf(consign.ErrNotFound, op, string(col), "no such collection in the index")
	}
	return c, d, nil
}

// RemoveCollection forgets a collection. ErrNotFound when it is not in the
// index; ErrFailedPrecondition while a deployment targets it.
func (x *ComplianceIndex) RemoveCollection(col consign.ObjectID) error {
	c, ok := x.cols[col]
	if !ok {
		return consign.Errorf(consign.ErrNotFound, "RemoveCollection", string(col), "no such collection in the index")
	}
	if len(c.deps) > 0 {
		ids := make([]string, len(c.deps))
		for i, dep := range c.deps {
			ids[i] = strconv.FormatUint(uint64(dep.id), 10)
		}
		slices.Sort(ids)
		return consign.Errorf(consign.ErrFailedPrecondition, "RemoveCollection", string(col), "targeted by deployment %s", strings.Join(ids, ", "))
	}
	last := x.colList[len(x.colList)-1]
	x.colList[c.pos], last.pos = last, c.pos
	x.colList = x.colList[:len(x.colList)-1]
	delete(x.cols, col)
	return nil
}

func (x *ComplianceIndex) addMember(c *collection, d int32) {
	c.members.add(d)
	c.n++
	c.cnt[overall(&x.devCnt[d], x.nUpd)]++
	row := x.row(d)
	for _, dep := range c.deps {
		if int(d) >= len(dep.cells) {
			dep.cells = append(dep.cells, make([]depCell, len(x.devIDs)-len(dep.cells))...)
		}
		cell := cellFor(row, dep.updates)
		dep.cells[d] = cell
		dep.cnt[cell.overall()]++
	}
}

func (x *ComplianceIndex) removeMember(c *collection, d int32) {
	c.members.remove(d)
	c.n--
	c.cnt[overall(&x.devCnt[d], x.nUpd)]--
	for _, dep := range c.deps {
		dep.cnt[dep.cells[d].overall()]--
		dep.cells[d] = depCell{}
	}
}

func cellFor(row []ComplianceState, updates []int32) depCell {
	var cell depCell
	for _, u := range updates {
		switch row[u] {
		case Required:
			cell.req++
		case Unknown:
			cell.unk++
		}
	}
	return cell
}

// SetDeployment creates or replaces a deployment (its AssignmentID, target
// collection and AssignedCIs, §1.15) and computes its summary from the
// collection's current members. The ID must not be 0; the collection must
// be in the index (SetMembers first); updates must hold 1 to 65,535
// registered updates, each once. Every problem is reported at once and
// nothing changes on error. It costs a pass over the members × updates.
func (x *ComplianceIndex) SetDeployment(id uint32, col consign.ObjectID, updates []CIID) error {
	var p consign.Problems
	p.Check(id != 0, "Deployment.ID", "an AssignmentID other than 0")
	c, ok := x.cols[col]
	if !ok {
		p.AddValue("Deployment.CollectionID", string(col), "must name a collection in the index")
	}
	switch {
	case len(updates) == 0:
		p.Add("Deployment.Updates", "at least one update")
	case len(updates) > maxDeploymentUpdates:
		p.AddValue("Deployment.Updates", len(updates), "at most 65,535 updates")
	}
	slots := make([]int32, 0, len(updates))
	seen := make(map[CIID]bool, len(updates))
	for i, u := range updates {
		s, ok := x.updSlot[u]
		switch {
		case !ok:
			p.AddValue(fmt.Sprintf("Deployment.Updates[%d]", i), u, "must be a registered update")
		case seen[u]:
			p.AddValue(fmt.Sprintf("Deployment.Updates[%d]", i), u, "each update at most once")
		default:
			slots = append(slots, s)
		}
		seen[u] = true
	}
	if err := p.Err(); err != nil {
		return err
	}
	if old, ok := x.deps[id]; ok {
		x.detach(old)
	}
	dep := &deployment{id: id, col: c, updates: slots}
	if c.n > 0 {
		dep.cells = make([]depCell, len(x.devIDs))
	}
	c.members.each(nil, func(d int32) {
		cell := cellFor(x.row(d), slots)
		dep.cells[d] = cell
		dep.cnt[cell.overall()]++
	})
	x.deps[id] = dep
	c.deps = append(c.deps, dep)
	for _, u := range slots {
		x.updDeps[u] = append(x.updDeps[u], dep)
	}
	return nil
}

// RemoveDeployment forgets a deployment. ErrNotFound when it is not in the
// index.
func (x *ComplianceIndex) RemoveDeployment(id uint32) error {
	dep, ok := x.deps[id]
	if !ok {
		return consign.Errorf(consign.ErrNotFound, "RemoveDeployment", strconv.FormatUint(uint64(id), 10), "no such deployment in the index")
	}
	x.detach(dep)
	return nil
}

func (x *ComplianceIndex) detach(dep *deployment) {
	delete(x.deps, dep.id)
	dep.col.deps = deleteFirst(dep.col.deps, dep)
	for _, u := range dep.updates {
		x.updDeps[u] = deleteFirst(x.updDeps[u], dep)
	}
}

func deleteFirst(s []*deployment, dep *deployment) []*deployment {
	if i := slices.Index(s, dep); i >= 0 {
		s = slices.Delete(s, i, i+1)
	}
	if len(s) == 0 {
		return nil
	}
	return s
}

func deviceKey(id uint32) string { return "device " + strconv.FormatUint(uint64(id), 10) }
func updateKey(id CIID) string   { return "update " + strconv.FormatUint(uint64(id), 10) }
