package delivery

import (
	"context"
	"fmt"

	"github.com/consign/consign"
	"github.com/consign/consign/collection"
)

// PutDevices adds or replaces devices (discovery data and inventory, as a
// heartbeat or hardware inventory cycle would deliver them). Every device is
// validated against the schema first; one bad device fails the whole call
// and nothing is written. Collection membership is updated incrementally
// (only what the changed devices can affect) and devices whose policy may
// have changed are notified.
func (s *Site) PutDevices(ctx context.Context, devices ...*collection.Device) error {
	return s.commit(ctx, "PutDevices", func(t *tx) error {
		var probs consign.Problems
		seen := make(map[uint32]int, len(devices))
		data := make([][]byte, len(devices))
		for i, d := range devices {
			if d == nil {
				probs.Add(fmt.Sprintf("devices[%d]", i), "required")
				continue
			}
			if j, dup := seen[d.ResourceID]; dup {
				probs.AddValue(fmt.Sprintf("devices[%d].ResourceID", i), d.ResourceID, fmt.Sprintf("appears twice (also devices[%d])", j))
				continue
			}
			seen[d.ResourceID] = i
			if err := t.st.engine.ValidateDevice(d); err != nil {
				probs.Merge(prefixed(err, "devices", i))
				continue
			}
			b, err := t.st.engine.EncodeDevice(d)
			if err != nil {
				probs.AddValue(fmt.Sprintf("devices[%d]", i), d.ResourceID, "must hold plain Go values (strings, integers, times, booleans and slices of them): "+err.Error())
				continue
			}
			data[i] = b
		}
		if err := probs.Err(); err != nil {
			return err
		}
		for i, d := range devices {
			t.putData(kindDevice, deviceKey(d.ResourceID), nil, data[i])
		}
		return nil
	})
}

// resourceCounterKey is the kindCounter record holding the next ResourceID
// RegisterDevice hands out.
const resourceCounterKey = "resourceid"

// firstResourceID is the first ResourceID RegisterDevice hands out.
// [UNVERIFIED] ConfigMgr numbers system resources from 0x01000000
// (16777216) upwards in practice; the domain reference does not give the
// value, and nothing depends on it beyond staying clear of small IDs that
// imported or hand-made devices tend to use.
const firstResourceID = 0x01000000

// RegisterDevice is client registration with the site (§3.1): a device
// known by its SMSUniqueIdentifier gets its ResourceID back, with its
// discovery data and inventory replaced by d's; a new one gets the next
// free ResourceID. d.ResourceID is ignored and d is not modified.
// SMSUniqueIdentifier is required; the rest is validated as PutDevices
// does. Registration and the first discovery data are one atomic write.
func (s *Site) RegisterDevice(ctx context.Context, d *collection.Device) (uint32, error) {
	if d == nil {
		return 0, consign.Errorf(consign.ErrInvalid, "RegisterDevice", "", "device required")
	}
	var rid uint32
	err := s.commit(ctx, "RegisterDevice", func(t *tx) error {
		if d.SMSUniqueIdentifier == "" {
			var probs consign.Problems
			probs.Add("device.SMSUniqueIdentifier", "required")
			return probs.Err()
		}
		reg := *d
		id, known := t.st.byUID[d.SMSUniqueIdentifier]
		if !known {
			next := max(t.st.resourceCounter, firstResourceID)
			for {
				if _, taken := t.st.facts[next]; !taken {
					break
				}
				next++
			}
			id = next
			t.put(kindCounter, resourceCounterKey, nil, next+1)
		}
		reg.ResourceID = id
		if err := t.st.engine.ValidateDevice(&reg); err != nil {
			return under(err, "device")
		}
		b, err := t.st.engine.EncodeDevice(&reg)
		if err != nil {
			return consign.Errorf(consign.ErrInvalid, "RegisterDevice", deviceKey(id), "device must hold plain Go values: %v", err)
		}
		t.putData(kindDevice, deviceKey(id), nil, b)
		rid = id
		return nil
	})
	return rid, err
}

// DeleteDevice deletes a device (its resource record). Its statuses
// (with the message IDs they remember) and execution history are deleted
// with it; direct
// rules naming it stop matching.
func (s *Site) DeleteDevice(ctx context.Context, resourceID uint32) error {
	return s.commit(ctx, "DeleteDevice", func(t *tx) error {
		if _, ok := t.st.facts[resourceID]; !ok {
			return notFound("DeleteDevice", "device "+deviceKey(resourceID))
		}
		for _, id := range sortedKeys(t.st.ads) {
			if _, ok := t.st.ads[id].statuses[resourceID]; ok {
				t.del(kindStatus, statusKey(id, resourceID))
			}
		}
		for ref := range t.st.history[resourceID] {
			t.del(kindHistory, historyKey(resourceID, ref))
		}
		t.del(kindDevice, deviceKey(resourceID))
		return nil
	})
}

// Device returns the device as last put.
func (s *Site) Device(resourceID uint32) (*collection.Device, error) {
	var out *collection.Device
	err := s.read("Device", func(st *state) error {
		d, ok := st.engine.Device(resourceID)
		if !ok {
			return notFound("Device", "device "+deviceKey(resourceID))
		}
		out = d.Clone()
		return nil
	})
	return out, err
}
