package collection

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
	"pgregory.net/rapid"
)

var (
	propRIDs = []uint32{1, 2, 3, 4, 64, 65, 130} // three bitmap words
	propIDs  = []consign.ObjectID{"CEN00001", "CEN00002", "CEN00003", "CEN00004"}
)

// TestIncrementalEqualsFull drives one Engine through random PutDevice,
// RemoveDevice, PutCollection, RemoveCollection and Evaluate calls and
// checks, after every call, that the Deltas it returned add up to its
// memberships, that CollectionsOf agrees with IsMember and that a full
// EvaluateAll finds nothing to change; at the end, that a
// fresh Engine given the final devices and collections and a full
// EvaluateAll has the same memberships, and that these follow the membership
// rule computed by brute force.
func TestIncrementalEqualsFull(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := NewEngine(nil)
		devices := map[uint32]*Device{}
		model := map[consign.ObjectID]map[uint32]bool{} // from the Deltas alone
		apply := func(d Delta) {
			for _, ch := range d.Changes {
				if model[ch.Collection] == nil {
					model[ch.Collection] = map[uint32]bool{}
				}
				if ch.Member == model[ch.Collection][ch.ResourceID] {
					t.Fatalf("delta %v repeats the current state", ch)
				}
				model[ch.Collection][ch.ResourceID] = ch.Member
			}
		}
		putCollection := func(id consign.ObjectID) {
			var limits []consign.ObjectID // existing ones, which may loop; rarely any
			for _, c := range e.Collections() {
				limits = append(limits, c.ID)
			}
			if rapid.IntRange(0, 9).Draw(t, "anyLimit") == 0 {
				limits = propIDs
			}
			c := genCollection(id, limits, propRIDs).Draw(t, "collection")
			before := snapshot(e)
			delta, err := e.PutCollection(c, evalNow)
			if err != nil {
				if !errors.Is(err, consign.ErrInvalid) {
					t.Fatalf("PutCollection: %v", err)
				}
				if after := snapshot(e); !maps.EqualFunc(before, after, slices.Equal[[]uint32]) {
					t.Fatalf("a rejected PutCollection changed memberships")
				}
			}
			apply(delta)
		}
		// Start with collections limiting each other, so that device
		// changes have chains to travel along.
		for _, id := range propIDs[:rapid.IntRange(0, len(propIDs)).Draw(t, "initial")] {
			putCollection(id)
		}
		ops := []string{"change", "put", "collection", "change", "remove", "put", "change", "removeCollection", "evaluate", "collection"}
		for range 25 {
			switch op := rapid.SampledFrom(ops).Draw(t, "op"); {
			case op == "change" && len(devices) > 0:
				// Change one class of an existing device, so that only
				// the collections reading it, and those they limit, move.
				rid := rapid.SampledFrom(slices.Sorted(maps.Keys(devices))).Draw(t, "rid")
				d := devices[rid].Clone()
				other := genDevice(rid).Draw(t, "other")
				switch rapid.IntRange(0, 3).Draw(t, "part") {
				case 0:
					d.Client = !d.Client
				case 1:
					d.Properties = other.Properties
				default:
					cls := rapid.SampledFrom([]string{"SMS_G_System_ADD_REMOVE_PROGRAMS", "SMS_G_System_LOGICAL_DISK",
						"SMS_G_System_COMPUTER_SYSTEM", "SMS_G_System_OPERATING_SYSTEM"}).Draw(t, "class")
					if d.Inventory == nil {
						d.Inventory = map[string][]Instance{}
					}
					if rows := other.Inventory[cls]; rows != nil {
						d.Inventory[cls] = rows
					} else {
						delete(d.Inventory, cls)
					}
				}
				delta, err := e.PutDevice(d, evalNow)
				if err != nil {
					t.Fatalf("PutDevice: %v", err)
				}
				devices[rid] = d
				apply(delta)
			case op == "put" || op == "change":
				rid := rapid.SampledFrom(propRIDs).Draw(t, "rid")
				d := genDevice(rid).Draw(t, "device")
				delta, err := e.PutDevice(d, evalNow)
				if err != nil {
					t.Fatalf("PutDevice: %v", err)
				}
				devices[rid] = d
				apply(delta)
			case op == "remove":
				rid := rapid.SampledFrom(propRIDs).Draw(t, "rid")
				delete(devices, rid)
				apply(e.RemoveDevice(rid))
			case op == "collection":
				putCollection(rapid.SampledFrom(propIDs).Draw(t, "id"))
			case op == "removeCollection":
				id := rapid.SampledFrom(propIDs).Draw(t, "id")
				delta, err := e.RemoveCollection(id)
				if err != nil && !errors.Is(err, consign.ErrNotFound) && !errors.Is(err, consign.ErrFailedPrecondition) {
					t.Fatalf("RemoveCollection: %v", err)
				}
				apply(delta)
			default:
				id := rapid.SampledFrom(append(slices.Clone(propIDs), AllSystemsID)).Draw(t, "id")
				delta, err := e.Evaluate(id, evalNow)
				if err != nil && !errors.Is(err, consign.ErrNotFound) {
					t.Fatalf("Evaluate: %v", err)
				}
				if len(delta.Changes) != 0 {
					t.Fatalf("re-evaluating at the same time changed %v", delta.Changes)
				}
			}
			for id, got := range snapshot(e) {
				var want []uint32
				for rid, in := range model[id] {
					if in {
						want = append(want, rid)
					}
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: members %v, but the deltas add up to %v", id, got, want)
				}
			}
			checkCollectionsOf(t, e)
			if d := e.EvaluateAll(evalNow); len(d.Changes) != 0 {
				t.Fatalf("a full evaluation after the step changed %v", d.Changes)
			}
		}

		// A fresh engine, full evaluation only.
		f := NewEngine(nil)
		for _, d := range devices {
			if _, err := f.PutDevice(d, evalNow); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range e.Collections() { // limiting order: limits first
			if c.ID == AllSystemsID {
				continue
			}
			putInOrder(t, f, e, c)
		}
		f.EvaluateAll(evalNow)
		if got, want := snapshot(e), snapshot(f); !maps.EqualFunc(got, want, slices.Equal[[]uint32]) {
			t.Fatalf("incremental %v\nfull        %v", got, want)
		}
		checkBruteForce(t, f)
	})
}

// putInOrder puts c into f after the collections c's rules limit to.
func putInOrder(t *rapid.T, f, e *Engine, c *Collection) {
	if _, ok := f.Collection(c.ID); ok {
		return
	}
	for _, r := range c.QueryRules {
		if l := r.LimitToCollectionID; l != "" && l != AllSystemsID {
			lc, _ := e.Collection(l)
			putInOrder(t, f, e, lc)
		}
	}
	if _, err := f.PutCollection(c, evalNow); err != nil {
		t.Fatalf("PutCollection(%s) on a fresh engine: %v", c.ID, err)
	}
}

// snapshot returns every collection's members.
func snapshot(e *Engine) map[consign.ObjectID][]uint32 {
	out := map[consign.ObjectID][]uint32{}
	for _, c := range e.Collections() {
		out[c.ID] = e.Members(c.ID)
	}
	return out
}

// checkCollectionsOf checks that CollectionsOf(r) is exactly the collections
// IsMember says r is in.
func checkCollectionsOf(t *rapid.T, e *Engine) {
	for _, rid := range propRIDs {
		var want []consign.ObjectID
		for _, c := range e.Collections() {
			if e.IsMember(c.ID, rid) {
				want = append(want, c.ID)
			}
		}
		if got := e.CollectionsOf(rid); !slices.Equal(got, want) {
			t.Fatalf("CollectionsOf(%d) = %v, IsMember says %v", rid, got, want)
		}
	}
}

// checkBruteForce checks every collection of e against the membership rule
// (§1.6) evaluated directly: direct rules whose resource exists, plus each
// query rule's matches intersected with its limiting collection's members. In
// particular a limited rule contributes only members of its limiting
// collection.
func checkBruteForce(t *rapid.T, e *Engine) {
	var rids []uint32
	for rid := range e.slot {
		rids = append(rids, rid)
	}
	slices.Sort(rids)
	resource := func(rid uint32) wql.Resource {
		r := new(resource)
		r.load(e.lay, &e.in, rid, e.data[e.slot[rid]])
		return r
	}
	all := func(yield func(wql.Resource) bool) {
		for _, rid := range rids {
			if !yield(resource(rid)) {
				return
			}
		}
	}
	for _, x := range e.order { // limits first, so e.Members(limit) is already checked
		want := map[uint32]bool{}
		for _, d := range x.c.DirectRules {
			if _, ok := e.slot[d.ResourceID]; ok {
				want[d.ResourceID] = true
			}
		}
		for _, r := range x.c.QueryRules {
			q, err := wql.Compile(r.Query, e.schema)
			if err != nil {
				t.Fatal(err)
			}
			p := q.Prepare(evalNow, all)
			for _, rid := range rids {
				if p.Match(resource(rid)) && (r.LimitToCollectionID == "" || e.IsMember(r.LimitToCollectionID, rid)) {
					want[rid] = true
				}
			}
		}
		if got := e.Members(x.c.ID); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
			t.Fatalf("%s: members %v, brute force %v", x.c.ID, got, slices.Sorted(maps.Keys(want)))
		}
	}
}
