package delivery

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/consign/consign/updates"
)

// Record kinds of Software Updates.
const (
	kindUpdate     = "update"       // key: UniqueID
	kindUpdateList = "updatelist"   // key: CI_ID
	kindTemplate   = "sutemplate"   // key: template name
	kindDeployment = "sudeployment" // key: AssignmentID
)

// Counter keys (kindCounter) for the CI_IDs of updates and update lists,
// and for AssignmentIDs.
const (
	ciCounterKey         = "ciid"
	assignmentCounterKey = "assignment"
)

func ciKey(id updates.CIID) string { return strconv.FormatUint(uint64(id), 10) }

func assignmentKey(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

// applyUpdates brings the software-updates part of memory up to date with
// one stored change.
func (st *state) applyUpdates(c Change) error {
	r := c.Record
	switch r.Kind {
	case kindUpdate:
		if c.Deleted {
			if ci, ok := st.updateByUID[r.Key]; ok {
				delete(st.updates, ci)
				delete(st.updateByUID, r.Key)
			}
			return nil
		}
		var u updates.Update
		if err := json.Unmarshal(r.Data, &u); err != nil {
			return err
		}
		if _, known := st.updates[u.CIID]; !known {
			// A new update is Unknown on every device until they scan.
			if err := st.compliance.AddUpdate(u.CIID); err != nil {
				return err
			}
		}
		st.updates[u.CIID] = &u
		st.updateByUID[u.UniqueID] = u.CIID
	case kindUpdateList:
		ci, err := strconv.ParseUint(r.Key, 10, 32)
		if err != nil {
			return err
		}
		if c.Deleted {
			delete(st.updateLists, updates.CIID(ci))
			return nil
		}
		var l updates.UpdateList
		if err := json.Unmarshal(r.Data, &l); err != nil {
			return err
		}
		st.updateLists[l.CIID] = &l
	case kindTemplate:
		if c.Deleted {
			delete(st.templates, r.Key)
			return nil
		}
		var tpl updates.Template
		if err := json.Unmarshal(r.Data, &tpl); err != nil {
			return err
		}
		st.templates[tpl.Name] = &tpl
	case kindDeployment:
		id, err := strconv.ParseUint(r.Key, 10, 32)
		if err != nil {
			return err
		}
		if c.Deleted {
			if _, ok := st.deployments[uint32(id)]; ok {
				delete(st.deployments, uint32(id))
				return st.compliance.RemoveDeployment(uint32(id))
			}
			return nil
		}
		var d updates.Deployment
		if err := json.Unmarshal(r.Data, &d); err != nil {
			return err
		}
		if _, ok := st.engine.Collection(d.Settings.CollectionID); !ok {
			return fmt.Errorf("deployment %d targets collection %s, which does not exist", d.ID, d.Settings.CollectionID)
		}
		st.trackCollection(d.Settings.CollectionID)
		if err := st.compliance.SetDeployment(d.ID, d.Settings.CollectionID, d.Updates); err != nil {
			return err
		}
		st.deployments[d.ID] = &d
	}
	return nil
}

// newCIID hands out the next CI_ID, persisting the counter in the same
// atomic write.
func (t *tx) newCIID() updates.CIID {
	if t.ciSerial == 0 {
		t.ciSerial = max(t.st.ciCounter, 1)
	}
	for {
		id := updates.CIID(t.ciSerial)
		t.ciSerial++
		_, u := t.st.updates[id]
		_, l := t.st.updateLists[id]
		if !u && !l {
			t.put(kindCounter, ciCounterKey, nil, t.ciSerial)
			return id
		}
	}
}

// newAssignmentID hands out the next AssignmentID.
func (t *tx) newAssignmentID() uint32 {
	n := max(t.st.assignmentCounter, 1)
	for {
		if _, ok := t.st.deployments[n]; !ok {
			break
		}
		n++
	}
	t.put(kindCounter, assignmentCounterKey, nil, n+1)
	return n
}
