package delivery

import (
	"context"
	"fmt"

	"github.com/consign/consign"
	"github.com/consign/consign/updates"
)

// markerSyncCursor is the kindMarker key of the catalog source's cursor
// after the last synchronisation.
const markerSyncCursor = "updatesync"

// SyncReport is what one SyncUpdates did.
type SyncReport struct {
	// New, Revised and Expired are the CI_IDs the sync stored.
	New, Revised, Expired []updates.CIID
	// Unchanged counts known updates the source sent again unchanged.
	Unchanged int
	// Skipped are updates the filter did not select (and duplicates);
	// Rejected are invalid entries of the source, with every problem.
	Skipped  []updates.Skip
	Rejected []updates.Rejection
	// Lists and Deployments are the update lists and deployments that now
	// contain an expired update (ContainsExpiredUpdates newly set).
	Lists       []updates.CIID
	Deployments []uint32
	// Cursor is the source's cursor the next sync starts from.
	Cursor string
}

// SyncUpdates synchronises the site's update catalog from src (the
// software update point's sync, §1.11): it fetches what changed since the
// last sync (everything the first time), keeps what filter selects, and in
// one atomic write stores new and revised updates, expires those the vendor
// expired or that are now superseded (ConfigMgr 2007 expires superseded
// updates at sync), flags the update lists and deployments that now hold an
// expired update (ContainsExpiredUpdates), and records the source's cursor.
// New updates are Unknown on every device until devices scan for them.
// Invalid entries are reported in the result and skipped; the rest of the
// batch still synchronises.
func (s *Site) SyncUpdates(ctx context.Context, src updates.Source, filter updates.Filter) (*SyncReport, error) {
	if src == nil {
		return nil, &consign.ValidationError{Field: "Source", Rule: "required"}
	}
	if err := filter.Validate(); err != nil {
		return nil, err
	}
	var cursor string
	_ = s.read("SyncUpdates", func(st *state) error {
		cursor = st.syncCursor
		return nil
	})
	batch, err := src.Fetch(ctx, cursor)
	if err != nil {
		return nil, fmt.Errorf("SyncUpdates: fetching from the catalog source: %w", err)
	}
	var rep *SyncReport
	err = s.commit(ctx, "SyncUpdates", func(t *tx) error {
		plan, err := updates.PlanSync(func(uid string) (*updates.Update, bool) {
			ci, ok := t.st.updateByUID[uid]
			if !ok {
				return nil, false
			}
			return t.st.updates[ci], true
		}, batch.Updates, filter, t.newCIID)
		if err != nil {
			return err
		}
		rep = &SyncReport{Unchanged: len(plan.Unchanged), Skipped: plan.Skipped, Rejected: plan.Rejected, Cursor: batch.Cursor}
		stored := map[updates.CIID]*updates.Update{}
		for _, u := range plan.Writes() {
			u := u
			t.put(kindUpdate, u.UniqueID, nil, &u)
			stored[u.CIID] = &u
		}
		for _, u := range plan.New {
			rep.New = append(rep.New, u.CIID)
		}
		for _, u := range plan.Revised {
			rep.Revised = append(rep.Revised, u.CIID)
		}
		for _, u := range plan.Expired {
			rep.Expired = append(rep.Expired, u.CIID)
		}
		lookup := func(ci updates.CIID) (*updates.Update, bool) {
			if u, ok := stored[ci]; ok {
				return u, true
			}
			u, ok := t.st.updates[ci]
			return u, ok
		}
		if len(plan.Expired) > 0 || len(plan.Revised) > 0 {
			for _, ci := range sortedKeys(t.st.updateLists) {
				old := t.st.updateLists[ci]
				l := *old
				l.RefreshFlags(lookup)
				if l.ContainsExpiredUpdates != old.ContainsExpiredUpdates || l.ContainsSupersededUpdates != old.ContainsSupersededUpdates {
					t.put(kindUpdateList, ciKey(ci), nil, &l)
				}
				if l.ContainsExpiredUpdates && !old.ContainsExpiredUpdates {
					rep.Lists = append(rep.Lists, ci)
				}
			}
			for _, id := range sortedKeys(t.st.deployments) {
				d := *t.st.deployments[id]
				was := d.ContainsExpiredUpdates
				d.RefreshFlags(lookup)
				if d.ContainsExpiredUpdates != was {
					t.put(kindDeployment, assignmentKey(id), nil, &d)
					if d.ContainsExpiredUpdates {
						rep.Deployments = append(rep.Deployments, id)
					}
				}
			}
		}
		if batch.Cursor != t.st.syncCursor {
			t.put(kindMarker, markerSyncCursor, nil, batch.Cursor)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// Update returns a copy of the update with the given CI_ID.
func (s *Site) Update(ci updates.CIID) (*updates.Update, error) {
	var out *updates.Update
	err := s.read("Update", func(st *state) error {
		u, ok := st.updates[ci]
		if !ok {
			return notFound("Update", "update "+ciKey(ci))
		}
		out = u.Clone()
		return nil
	})
	return out, err
}

// UpdateByUniqueID returns a copy of the update with the given UniqueID
// (the WSUS update ID devices know it by).
func (s *Site) UpdateByUniqueID(uid string) (*updates.Update, error) {
	var out *updates.Update
	err := s.read("UpdateByUniqueID", func(st *state) error {
		ci, ok := st.updateByUID[uid]
		if !ok {
			return notFound("UpdateByUniqueID", "update "+uid)
		}
		out = st.updates[ci].Clone()
		return nil
	})
	return out, err
}

// Updates returns every update in the catalog, ordered by CI_ID.
func (s *Site) Updates() []*updates.Update {
	var out []*updates.Update
	_ = s.read("Updates", func(st *state) error {
		for _, ci := range sortedKeys(st.updates) {
			out = append(out, st.updates[ci].Clone())
		}
		return nil
	})
	return out
}
