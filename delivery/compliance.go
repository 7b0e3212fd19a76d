package delivery

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/updates"
)

// kindScan records hold one device's software update scan states, keyed by
// the device: the merged result of its scans (scanRecord).
const kindScan = "scan"

// DeviceScan is one device's scan result as it reaches the site: its
// topic 500 state for each update it scanned (§3.7 step 2). Updates not
// listed keep the state an earlier scan gave them.
type DeviceScan struct {
	ResourceID uint32
	// ScanTime is when the device scanned. A scan older than the last one
	// taken in for the device is stale and ignored, so results that arrive
	// out of order never move a device back.
	ScanTime time.Time
	States   []updates.UpdateState
}

// ScanResult says what ReportScans did with a batch.
type ScanResult struct {
	// Accepted scans were taken in; Stale ones were older than the
	// device's last scan and changed nothing.
	Accepted, Stale int
	// States counts the states of the accepted scans.
	States int
}

// scanRecord is the stored form of a device's states: the scan time, then
// 5 bytes per update (CI_ID, state). Compact, because a site holds one per
// device and they arrive by the hundred thousand.
func encodeScan(at time.Time, states []updates.UpdateState) []byte {
	b := make([]byte, 8, 8+5*len(states))
	binary.BigEndian.PutUint64(b, uint64(at.UnixNano()))
	for _, s := range states {
		b = binary.BigEndian.AppendUint32(b, uint32(s.Update))
		b = append(b, byte(s.State))
	}
	return b
}

func decodeScan(b []byte) (time.Time, []updates.UpdateState, error) {
	if len(b) < 8 || (len(b)-8)%5 != 0 {
		return time.Time{}, nil, fmt.Errorf("scan record of %d bytes: want 8 + 5 per update", len(b))
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
	states := make([]updates.UpdateState, 0, (len(b)-8)/5)
	for p := 8; p < len(b); p += 5 {
		states = append(states, updates.UpdateState{Update: updates.CIID(binary.BigEndian.Uint32(b[p:])), State: updates.ComplianceState(b[p+4])})
	}
	return at, states, nil
}

// ReportScans takes in devices' scan results (state messages of topic 500,
// batched as the management point forwards them). The whole batch is
// validated first — every device and update must exist, every state be one
// of the four — and every problem is reported at once; then every accepted
// scan is written in one atomic Store write, and the per-update,
// per-deployment and per-collection compliance summaries follow at once.
// Intake is idempotent: taking in the same scan again changes nothing.
func (s *Site) ReportScans(ctx context.Context, scans []DeviceScan) (ScanResult, error) {
	var res ScanResult
	err := s.commit(ctx, "ReportScans", func(t *tx) error {
		res = ScanResult{}
		var probs consign.Problems
		for i, sc := range scans {
			if _, ok := t.st.facts[sc.ResourceID]; !ok {
				probs.AddValue(fmt.Sprintf("scans[%d].ResourceID", i), sc.ResourceID, "must name a device of this site")
			}
			probs.Check(!sc.ScanTime.IsZero(), fmt.Sprintf("scans[%d].ScanTime", i), "required")
			for j, us := range sc.States {
				if _, ok := t.st.updates[us.Update]; !ok {
					probs.AddValue(fmt.Sprintf("scans[%d].States[%d].Update", i, j), us.Update, "must name an update in the catalog")
				}
				if us.State > updates.Installed {
					probs.AddValue(fmt.Sprintf("scans[%d].States[%d].State", i, j), uint8(us.State), "0 Unknown, 1 Not Required, 2 Required or 3 Installed (topic 500)")
				}
			}
		}
		if err := probs.Err(); err != nil {
			return err
		}
		// Scans of one device in this batch are merged in time order.
		order := make([]int, len(scans))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Or(cmp.Compare(scans[a].ResourceID, scans[b].ResourceID), scans[a].ScanTime.Compare(scans[b].ScanTime))
		})
		for k := 0; k < len(order); {
			rid := scans[order[k]].ResourceID
			last := t.st.scanTime[rid]
			merged := t.st.compliance.DeviceStates(rid)
			changed := false
			for ; k < len(order) && scans[order[k]].ResourceID == rid; k++ {
				sc := scans[order[k]]
				if sc.ScanTime.Before(last) {
					res.Stale++
					continue
				}
				res.Accepted++
				res.States += len(sc.States)
				merged = overlay(merged, sc.States)
				last, changed = sc.ScanTime, true
			}
			if changed {
				t.putData(kindScan, deviceKey(rid), nil, encodeScan(last, merged))
			}
		}
		return nil
	})
	return res, err
}

// overlay returns base (sorted by CI_ID, no Unknown) with the states of
// scan applied in order (a later state for the same update wins), sorted by
// CI_ID and without Unknown entries.
func overlay(base, scan []updates.UpdateState) []updates.UpdateState {
	byCI := func(a, b updates.UpdateState) int { return cmp.Compare(a.Update, b.Update) }
	if !slices.IsSortedFunc(scan, byCI) {
		scan = slices.Clone(scan)
		slices.SortStableFunc(scan, byCI)
	}
	out := make([]updates.UpdateState, 0, len(base)+len(scan))
	i := 0
	for j := 0; j < len(scan); j++ {
		if j+1 < len(scan) && scan[j+1].Update == scan[j].Update {
			continue // a later state for the same update wins
		}
		for i < len(base) && base[i].Update < scan[j].Update {
			out = append(out, base[i])
			i++
		}
		if i < len(base) && base[i].Update == scan[j].Update {
			i++
		}
		if scan[j].State != updates.Unknown {
			out = append(out, scan[j])
		}
	}
	return append(out, base[i:]...)
}

// applyScan brings the compliance index up to date with a device's stored
// states: the record is the device's whole set, so an update it no longer
// lists is Unknown again.
func (st *state) applyScan(c Change) error {
	rid, err := parseDeviceKey(c.Record.Key)
	if err != nil {
		return err
	}
	var at time.Time
	var states []updates.UpdateState
	if !c.Deleted {
		if at, states, err = decodeScan(c.Record.Data); err != nil {
			return err
		}
	}
	if _, ok := st.facts[rid]; !ok {
		return nil // the device was deleted; its states went with it
	}
	// states is sorted by CI_ID (encodeScan's input always is), and so
	// is DeviceStates: a merge finds the updates no longer listed.
	cur := st.compliance.DeviceStates(rid)
	keep := make([]updates.UpdateState, 0, len(states)+len(cur))
	i := 0
	for _, s := range states {
		for i < len(cur) && cur[i].Update < s.Update {
			keep = append(keep, updates.UpdateState{Update: cur[i].Update, State: updates.Unknown})
			i++
		}
		if i < len(cur) && cur[i].Update == s.Update {
			i++
		}
		if _, ok := st.updates[s.Update]; ok {
			keep = append(keep, s)
		}
	}
	for ; i < len(cur); i++ {
		keep = append(keep, updates.UpdateState{Update: cur[i].Update, State: updates.Unknown})
	}
	if c.Deleted {
		delete(st.scanTime, rid)
	} else {
		st.scanTime[rid] = at
	}
	return st.compliance.SetDevice(rid, keep)
}

// trackCollection makes the compliance index follow a collection's
// membership, from now on through membership changes.
func (st *state) trackCollection(id consign.ObjectID) {
	if st.complianceCols[id] {
		return
	}
	if err := st.compliance.SetMembers(id, st.engine.Members(id)); err != nil {
		// Members are devices the Site registered in the index; failing
		// here is a bug, and the summary would be wrong, so say so.
		panic(fmt.Sprintf("delivery: compliance index: collection %s: %v", id, err))
	}
	st.complianceCols[id] = true
}

// UpdateCompliance returns an update's compliance summary over every device
// of the site (§1.11 NumMissing, NumPresent, NumNotApplicable, NumUnknown).
// A device that never reported the update counts as Unknown.
func (s *Site) UpdateCompliance(ci updates.CIID) (updates.UpdateSummary, error) {
	var out updates.UpdateSummary
	err := s.read("UpdateCompliance", func(st *state) error {
		sum, ok := st.compliance.Update(ci)
		if !ok {
			return notFound("UpdateCompliance", "update "+ciKey(ci))
		}
		out = sum
		return nil
	})
	return out, err
}

// DeploymentCompliance returns a deployment's compliance summary: the
// members of its collection by assignment compliance for its updates
// (topic 300, §3.7 step 7). It costs the same whatever the fleet size.
func (s *Site) DeploymentCompliance(id uint32) (updates.ComplianceSummary, error) {
	var out updates.ComplianceSummary
	err := s.read("DeploymentCompliance", func(st *state) error {
		sum, ok := st.compliance.Deployment(id)
		if !ok {
			return notFound("DeploymentCompliance", "deployment "+assignmentKey(id))
		}
		out = sum
		return nil
	})
	return out, err
}

// errNotTracked says the compliance index does not follow a collection yet.
var errNotTracked = errors.New("collection not tracked by the compliance index")

// CollectionCompliance returns a collection's compliance summary: its
// members by overall compliance over every update in the catalog. The
// first call for a collection that no deployment targets counts its members
// once; from then on the summary is kept up to date as states and
// membership change.
func (s *Site) CollectionCompliance(ctx context.Context, id consign.ObjectID) (updates.ComplianceSummary, error) {
	var out updates.ComplianceSummary
	err := s.read("CollectionCompliance", func(st *state) error {
		sum, ok := st.compliance.Collection(id)
		if ok {
			out = sum
			return nil
		}
		if _, known := st.engine.Collection(id); !known {
			return notFound("CollectionCompliance", "collection "+string(id))
		}
		return errNotTracked
	})
	if err != errNotTracked {
		return out, err
	}
	// Start following the collection: a change of memory, under the write
	// lock, with no Store write.
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known := s.st.engine.Collection(id); !known {
		return out, notFound("CollectionCompliance", "collection "+string(id))
	}
	s.st.trackCollection(id)
	out, _ = s.st.compliance.Collection(id)
	return out, ctx.Err()
}

// DeviceCompliance returns a device's states for every update in the
// catalog (Unknown where it never reported), ordered by CI_ID, and its
// counts.
func (s *Site) DeviceCompliance(resourceID uint32) (updates.DeviceSummary, []updates.UpdateState, error) {
	var sum updates.DeviceSummary
	var states []updates.UpdateState
	err := s.read("DeviceCompliance", func(st *state) error {
		d, ok := st.compliance.Device(resourceID)
		if !ok {
			return notFound("DeviceCompliance", "device "+deviceKey(resourceID))
		}
		sum = d
		known := st.compliance.DeviceStates(resourceID)
		i := 0
		for _, ci := range sortedKeys(st.updates) {
			s := updates.UpdateState{Update: ci}
			if i < len(known) && known[i].Update == ci {
				s.State = known[i].State
				i++
			}
			states = append(states, s)
		}
		return nil
	})
	return sum, states, err
}

// followMember applies one membership change of a followed collection to
// the compliance index.
func (st *state) followMember(ch collection.Change) {
	var err error
	if ch.Member {
		err = st.compliance.AddMember(ch.Collection, ch.ResourceID)
	} else {
		err = st.compliance.RemoveMember(ch.Collection, ch.ResourceID)
	}
	if err != nil {
		panic(fmt.Sprintf("delivery: compliance index: %s member %d: %v", ch.Collection, ch.ResourceID, err))
	}
}
