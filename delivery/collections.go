package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection"
)

// CreateCollection creates a collection (New Collection Wizard, §2.7) and
// links it under parent ("" or collection.RootID for top level). An empty ID
// gets the next ID of this site; a zero RefreshType gets the wizard's
// default of a daily update. Its membership is evaluated at once.
func (s *Site) CreateCollection(ctx context.Context, c *collection.Collection, parent consign.ObjectID) (*collection.Collection, error) {
	var out *collection.Collection
	err := s.commit(ctx, "CreateCollection", func(t *tx) error {
		nc, err := t.planCollection(c, parent)
		out = nc
		return err
	})
	return out, err
}

func (t *tx) planCollection(c *collection.Collection, parent consign.ObjectID) (*collection.Collection, error) {
	if c == nil {
		return nil, &consign.ValidationError{Field: "Collection", Rule: "required"}
	}
	nc := c.Clone()
	switch {
	case nc.ID == "":
		nc.ID = t.newID()
	case nc.ID.Site() == "SMS":
		return nil, &consign.ValidationError{Field: "Collection.ID", Value: string(nc.ID), Rule: "the SMS prefix is reserved for built-in collections"}
	case t.idTaken(nc.ID):
		return nil, &consign.Error{Code: consign.ErrConflict, Op: "CreateCollection", Key: string(nc.ID), Err: fmt.Errorf("%s is already used", nc.ID)}
	}
	t.claim(nc.ID)
	if nc.SourceSite == "" {
		nc.SourceSite = t.st.opts.SiteCode
	}
	if nc.RefreshType == 0 {
		// Unset: the New Collection Wizard's default, once a day (§1.6).
		def := collection.NewCollection(nc.ID, nc.Name, t.now)
		nc.RefreshType = def.RefreshType
		if len(nc.RefreshSchedule) == 0 {
			nc.RefreshSchedule = def.RefreshSchedule
		}
	}
	if err := t.checkCollection(nc); err != nil {
		return nil, err
	}
	if parent == "" {
		parent = collection.RootID
	}
	if parent != collection.RootID {
		if _, ok := t.st.engine.Collection(parent); !ok {
			return nil, &consign.ValidationError{Field: "parent", Value: string(parent), Rule: "must name an existing collection"}
		}
		t.guard(kindCollection, string(parent))
	}
	t.put(kindCollection, string(nc.ID), nil, nc)
	t.guard(kindCollection, string(nc.ID))
	t.put(kindLink, linkKey(parent, nc.ID), nil, struct{}{})
	t.newCollection = nc
	return nc, nil
}

// checkCollection validates c against the schema and the other collections
// (the engine's own checks: every limit-to collection exists, limits do not
// loop) and guards the collections it is limited to.
func (t *tx) checkCollection(c *collection.Collection) error {
	if err := t.st.engine.CheckCollection(c); err != nil {
		return err
	}
	for _, r := range c.QueryRules {
		if r.LimitToCollectionID != "" {
			t.guard(kindCollection, string(r.LimitToCollectionID))
		}
	}
	return nil
}

// UpdateCollection replaces a collection's name, comment, rules, schedules
// and maintenance windows, and re-evaluates its membership.
func (s *Site) UpdateCollection(ctx context.Context, c *collection.Collection) error {
	return s.commit(ctx, "UpdateCollection", func(t *tx) error {
		if c == nil {
			return &consign.ValidationError{Field: "Collection", Rule: "required"}
		}
		old, err := t.ownCollection("UpdateCollection", c.ID)
		if err != nil {
			return err
		}
		nc := c.Clone()
		nc.SourceSite = old.SourceSite
		if err := t.checkCollection(nc); err != nil {
			return err
		}
		t.put(kindCollection, string(nc.ID), nil, nc)
		return nil
	})
}

// DeleteCollection deletes a collection and its links. It is refused while
// an advertisement or a software update deployment targets the collection,
// or another collection's rule is limited to it. Its subcollections stay (linked under the root when they
// have no other parent).
func (s *Site) DeleteCollection(ctx context.Context, id consign.ObjectID) error {
	return s.commit(ctx, "DeleteCollection", func(t *tx) error {
		if _, err := t.ownCollection("DeleteCollection", id); err != nil {
			return err
		}
		var users []string
		for _, a := range t.st.adsByCol[id] {
			users = append(users, "advertisement "+string(a.ad.ID))
		}
		for _, d := range t.st.deployments {
			if d.Settings.CollectionID == id {
				users = append(users, "software update deployment "+assignmentKey(d.ID))
			}
		}
		for _, other := range t.st.engine.Collections() {
			for _, r := range other.QueryRules {
				if r.LimitToCollectionID == id && other.ID != id {
					users = append(users, "collection "+string(other.ID))
				}
			}
		}
		if len(users) > 0 {
			slices.Sort(users)
			return &consign.Error{Code: consign.ErrFailedPrecondition, Op: "DeleteCollection", Key: string(id),
				Err: fmt.Errorf("still used by %s", strings.Join(slices.Compact(users), ", "))}
		}
		for _, p := range t.st.tree.Parents(id) {
			t.del(kindLink, linkKey(p, id))
		}
		for _, ch := range t.st.tree.Children(id) {
			t.del(kindLink, linkKey(id, ch))
			if len(t.st.tree.Parents(ch)) == 1 {
				t.put(kindLink, linkKey(collection.RootID, ch), nil, struct{}{})
			}
		}
		t.del(kindCollection, string(id))
		t.unguard(kindCollection, string(id))
		return nil
	})
}

func (t *tx) ownCollection(op string, id consign.ObjectID) (*collection.Collection, error) {
	c, ok := t.st.engine.Collection(id)
	if !ok {
		return nil, notFound(op, "collection "+string(id))
	}
	if id == collection.AllSystemsID || (c.SourceSite != "" && c.SourceSite != t.st.opts.SiteCode) {
		return nil, &consign.Error{Code: consign.ErrPermissionDenied, Op: op, Key: string(id),
			Err: fmt.Errorf("collection %s is built-in or was created at another site and is read-only here", id)}
	}
	return c, nil
}

// LinkCollection links child under parent as a subcollection
// (SMS_CollectToSubCollect). Links are organisational: the child keeps its
// own membership; advertisements that include subcollections reach its
// members.
func (s *Site) LinkCollection(ctx context.Context, parent, child consign.ObjectID) error {
	return s.commit(ctx, "LinkCollection", func(t *tx) error {
		for _, id := range []consign.ObjectID{parent, child} {
			if _, ok := t.st.engine.Collection(id); !ok && id != collection.RootID {
				return notFound("LinkCollection", "collection "+string(id))
			}
		}
		if parent == child || slices.Contains(t.st.tree.Descendants(child), parent) {
			return &consign.ValidationError{Field: "parent", Value: string(parent), Rule: "a collection cannot be linked under itself or its own subcollection"}
		}
		for _, id := range []consign.ObjectID{parent, child} {
			if id != collection.RootID {
				t.guard(kindCollection, string(id))
			}
		}
		t.put(kindLink, linkKey(parent, child), nil, struct{}{})
		return nil
	})
}

// UnlinkCollection removes the link between parent and child.
func (s *Site) UnlinkCollection(ctx context.Context, parent, child consign.ObjectID) error {
	return s.commit(ctx, "UnlinkCollection", func(t *tx) error {
		if _, ok := t.st.revision(kindLink, linkKey(parent, child)); !ok {
			return notFound("UnlinkCollection", linkKey(parent, child))
		}
		t.del(kindLink, linkKey(parent, child))
		return nil
	})
}

// Collection returns a copy of the collection.
func (s *Site) Collection(id consign.ObjectID) (*collection.Collection, error) {
	var out *collection.Collection
	err := s.read("Collection", func(st *state) error {
		c, ok := st.engine.Collection(id)
		if !ok {
			return notFound("Collection", "collection "+string(id))
		}
		out = c // the engine returns a copy
		return nil
	})
	return out, err
}

// Collections returns every collection, ordered by ID.
func (s *Site) Collections() []*collection.Collection {
	var out []*collection.Collection
	_ = s.read("Collections", func(st *state) error {
		out = st.engine.Collections() // copies
		return nil
	})
	return out
}

// Subcollections returns the collections linked directly under id.
func (s *Site) Subcollections(id consign.ObjectID) []consign.ObjectID {
	var out []consign.ObjectID
	_ = s.read("Subcollections", func(st *state) error {
		out = st.tree.Children(id)
		return nil
	})
	return out
}

// Members returns the resource IDs in a collection, sorted.
func (s *Site) Members(id consign.ObjectID) ([]uint32, error) {
	var out []uint32
	err := s.read("Members", func(st *state) error {
		if _, ok := st.engine.Collection(id); !ok {
			return notFound("Members", "collection "+string(id))
		}
		out = st.engine.Members(id)
		return nil
	})
	return out, err
}

// CollectionsOf returns the collections a device is a member of, sorted.
func (s *Site) CollectionsOf(resourceID uint32) []consign.ObjectID {
	var out []consign.ObjectID
	_ = s.read("CollectionsOf", func(st *state) error {
		out = st.engine.CollectionsOf(resourceID)
		return nil
	})
	return out
}

// EvaluateCollections runs a full membership evaluation of every collection
// whose update schedule (RefreshSchedule) fired since the last call, or of
// every collection when all is true — the scheduled and the "Update
// Collection Membership" paths of §3.1 item 2. Device changes are already
// evaluated incrementally by PutDevices; a full evaluation matters for rules
// that depend on the time (GETDATE) or on other resources.
func (s *Site) EvaluateCollections(ctx context.Context, all bool) error {
	var notify []uint32
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return &consign.Error{Code: consign.ErrUnavailable, Op: "EvaluateCollections", Err: fmt.Errorf("site is closed")}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		now := s.opts.Clock()
		st := s.st
		if all {
			st.membership(st.engine.EvaluateAll(now))
		} else {
			for _, c := range st.engine.Collections() {
				if !refreshDue(c, st.lastEval, now) {
					continue
				}
				d, err := st.engine.Evaluate(c.ID, now)
				if err != nil {
					return err
				}
				st.membership(d)
			}
		}
		st.lastEval = now
		notify = st.drainNotify()
		return nil
	}()
	if err == nil && len(notify) > 0 && s.transport != nil {
		if nerr := s.transport.Notify(ctx, notify); nerr != nil {
			s.opts.Logger.Warn("notify devices failed", "devices", len(notify), "err", nerr)
		}
	}
	return err
}

// refreshDue reports whether a periodic collection's schedule fired in
// (last, now]. Collection schedules are evaluated in the site server's time
// zone, here UTC.
func refreshDue(c *collection.Collection, last, now time.Time) bool {
	if c.RefreshType != collection.RefreshPeriodic {
		return false
	}
	for _, tok := range c.RefreshSchedule {
		if next, ok := tok.Next(last, time.UTC); ok && !next.After(now) {
			return true
		}
	}
	return false
}
