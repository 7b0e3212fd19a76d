package updates

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/consign/consign"
)

// Source is where a site synchronises its update catalog from: ConfigMgr's
// software update point pulling from WSUS / Microsoft Update (§1.11), or any
// vendor feed. Package jsoncatalog implements one over a JSON file.
//
// The contract every Source keeps:
//
//   - Fetch(ctx, "") returns every update the source has: a full sync.
//     Fetch(ctx, cursor), with a Cursor an earlier Fetch of the same source
//     returned, returns every update whose metadata changed after that
//     cursor — new, revised, expired or newly superseded — each once, at its
//     latest revision. Batch.Cursor is the cursor for the next Fetch.
//     Cursors are opaque to the caller; a cursor the source did not issue is
//     an error wrapping consign.ErrInvalid.
//   - Fetch is idempotent: it changes nothing, and the same cursor against
//     an unchanged source returns the same batch. A caller that could not
//     apply a batch fetches again with the same cursor; applying a batch
//     twice is harmless (PlanSync finds nothing to do the second time).
//   - Updates come in a stable order (the source's own listing order).
//     Nothing depends on the order except which CI_IDs new updates get:
//     PlanSync allocates them in batch order.
//   - An update is never removed. The vendor withdraws one by expiring it:
//     the source returns it again with Expired true, normally at a higher
//     Revision. An update becomes superseded when the source returns it
//     again with the superseding update's UniqueID in SupersededBy. Expiry
//     and supersedence are one-way.
//   - Returned updates carry their UniqueID in canonical form (see
//     ParseUniqueID); their CIID is ignored, since the site assigns CI_IDs.
//     An update that breaks Update.Validate is returned as it is, not
//     dropped: PlanSync rejects it by name, and the rest of the batch still
//     synchronises.
//   - Fetch stops when ctx is done and returns ctx's error. Failing to reach
//     the data is an error wrapping consign.ErrUnavailable; data in a
//     malformed shape, one wrapping consign.ErrInvalid.
//   - The batch is the caller's: the source keeps no reference to it.
type Source interface {
	Fetch(ctx context.Context, since string) (Batch, error)
}

// Batch is the result of one Source.Fetch.
type Batch struct {
	// Updates are the updates new or changed since the cursor.
	Updates []Update
	// Cursor is what to pass as since to the next Fetch.
	Cursor string
}

// Filter is what the software update point synchronises (§1.11: the
// classifications, products and languages configured at the top site). An
// empty slice selects everything of its kind.
type Filter struct {
	// Classifications selects by classification.
	Classifications []Classification
	// Products selects by Update.Product, compared case-insensitively.
	Products []string
	// Languages selects file languages (language tags, compared
	// case-insensitively). Files in other languages are dropped; files with
	// no language are kept. An update that is not language-neutral and has
	// none of the selected languages is skipped.
	Languages []string
}

// Validate reports every rule f breaks: classifications defined, products
// non-empty, languages language tags.
func (f Filter) Validate() error {
	var ps consign.Problems
	for i, c := range f.Classifications {
		if !c.Valid() {
			ps.AddValue(fmt.Sprintf("Filter.Classifications[%d]", i), int(c), "one of the nine WSUS classifications (§1.11)")
		}
	}
	for i, p := range f.Products {
		if strings.TrimSpace(p) == "" {
			ps.Add(fmt.Sprintf("Filter.Products[%d]", i), "a product name")
		}
	}
	for i, l := range f.Languages {
		if !validLanguageTag(l) {
			ps.AddValue(fmt.Sprintf("Filter.Languages[%d]", i), l, "a language tag such as \"en\" or \"de-DE\"")
		}
	}
	return ps.Err()
}

// SkipReason says why PlanSync did not take an update.
type SkipReason uint8

// The reasons. NotSkipped is what Filter.Apply returns for a selected
// update.
const (
	NotSkipped SkipReason = iota
	// SkipClassification: its classification is not selected.
	SkipClassification
	// SkipProduct: its product is not selected.
	SkipProduct
	// SkipLanguage: it is not language-neutral and none of its languages
	// is selected.
	SkipLanguage
	// SkipDuplicate: the batch holds the same update again at a higher
	// revision (or at the same one, earlier in the batch), which was taken
	// instead.
	SkipDuplicate
)

// String names the reason.
func (r SkipReason) String() string {
	switch r {
	case NotSkipped:
		return "not skipped"
	case SkipClassification:
		return "classification not selected"
	case SkipProduct:
		return "product not selected"
	case SkipLanguage:
		return "no selected language"
	case SkipDuplicate:
		return "duplicate in batch"
	}
	return fmt.Sprintf("SkipReason(%d)", int(r))
}

// Apply returns the part of u that f selects: a copy of u whose Files and
// Languages keep only the selected languages (files with no language are
// kept), and NotSkipped; or the zero Update and the reason u is not
// selected. Classification is checked first, then product, then language.
// The copy shares nothing with u.
func (f Filter) Apply(u *Update) (Update, SkipReason) {
	if len(f.Classifications) > 0 && !slices.Contains(f.Classifications, u.Classification) {
		return Update{}, SkipClassification
	}
	if len(f.Products) > 0 && !slices.ContainsFunc(f.Products, func(p string) bool { return strings.EqualFold(p, u.Product) }) {
		return Update{}, SkipProduct
	}
	out := *u.Clone()
	if len(f.Languages) == 0 {
		return out, NotSkipped
	}
	selected := func(l string) bool {
		return slices.ContainsFunc(f.Languages, func(s string) bool { return strings.EqualFold(s, l) })
	}
	neutral := len(u.Languages) == 0
	out.Languages = slices.DeleteFunc(out.Languages, func(l string) bool { return !selected(l) })
	if !neutral && len(out.Languages) == 0 {
		return Update{}, SkipLanguage
	}
	out.Files = slices.DeleteFunc(out.Files, func(c ContentFile) bool { return c.Language != "" && !selected(c.Language) })
	if len(out.Languages) == 0 {
		out.Languages = nil
	}
	if len(out.Files) == 0 {
		out.Files = nil
	}
	return out, NotSkipped
}

// Skip is an update PlanSync did not take, and why.
type Skip struct {
	UniqueID string
	Revision uint32
	Reason   SkipReason
}

// Rejection is an incoming update that breaks Update.Validate. Index is its
// position in the batch; Err holds every problem, with fields under
// "Update".
type Rejection struct {
	Index    int
	UniqueID string
	Err      error
}

// SyncPlan is what one synchronisation changes in the site's catalog
// (§1.11). New, Revised and Expired are the updates to store, disjoint and
// each as it is to be stored; the rest are reported so the caller can log
// them. Applying the plan is the caller's job (delivery does it through its
// Store).
type SyncPlan struct {
	// New are updates the site did not know, with CI_IDs from alloc. An
	// update that arrives expired or superseded is stored expired.
	New []Update
	// Revised are known updates at a higher revision, with their stored
	// CI_ID, filtered as new ones are. An update stays expired once
	// expired.
	Revised []Update
	// Expired are known updates this sync expires: the vendor expired
	// them, or they are now superseded (ConfigMgr 2007 expires superseded
	// updates at sync, §1.11, §5.2 item 4). Update lists and deployments
	// holding them now contain expired updates (see RefreshFlags). A known
	// update is expired even when the filter no longer selects it, so that
	// nothing the vendor withdrew stays deployable.
	Expired []Update
	// Unchanged are the UniqueIDs of known updates the batch holds at the
	// same or a lower revision, with nothing to expire.
	Unchanged []string
	// Skipped are the updates the filter did not select, and duplicates.
	Skipped []Skip
	// Rejected are the invalid updates; they are not applied, and the rest
	// of the batch is. One bad entry in a vendor's catalog should not hold
	// back every other update, nor be silently dropped.
	Rejected []Rejection
}

// Writes returns New, Revised and Expired together: every update the plan
// stores.
func (p *SyncPlan) Writes() []Update {
	return slices.Concat(p.New, p.Revised, p.Expired)
}

// PlanSync decides what synchronising incoming (a Batch's Updates) into the
// site's catalog does. have finds a stored update by UniqueID (nil: the
// catalog is empty); alloc returns a fresh CI_ID for each new update, in
// batch order. PlanSync is pure: it neither calls the Source nor changes
// what have returns, and the plan shares no memory with its inputs.
//
// For each incoming update, by UniqueID:
//
//   - invalid (Update.Validate) → Rejected;
//   - listed again later in the batch at a higher revision, or earlier at
//     the same one → Skipped as a duplicate;
//   - unknown and selected by f → New;
//   - unknown and not selected → Skipped;
//   - known, at a higher revision and selected → Revised, or Expired when
//     the new revision expires it;
//   - known, not expired, and the incoming copy is expired or superseded,
//     whatever its revision and whether or not f selects it → Expired, the
//     stored metadata kept (unless revised as above) with Expired set and
//     the SupersededBy lists merged;
//   - otherwise known and selected → Unchanged; known and not selected →
//     Skipped.
//
// Syncing the same batch again after applying the plan yields no writes.
// The error is an invalid Filter (a *consign.ValidationError for each
// problem), or alloc missing or returning zero or the same CI_ID twice
// (wrapping consign.ErrInvalid); there is then no plan.
func PlanSync(have func(uniqueID string) (*Update, bool), incoming []Update, f Filter, alloc func() CIID) (SyncPlan, error) {
	var plan SyncPlan
	if err := f.Validate(); err != nil {
		return plan, err
	}
	if have == nil {
		have = func(string) (*Update, bool) { return nil, false }
	}

	// Pick, for each UniqueID, the valid entry to take.
	best := make(map[string]int, len(incoming))
	valid := make([]bool, len(incoming))
	for i := range incoming {
		u := &incoming[i]
		if err := u.Validate(); err != nil {
			plan.Rejected = append(plan.Rejected, Rejection{Index: i, UniqueID: u.UniqueID, Err: err})
			continue
		}
		valid[i] = true
		if j, ok := best[u.UniqueID]; !ok || u.Revision > incoming[j].Revision {
			best[u.UniqueID] = i
		}
	}

	allocated := make(map[CIID]bool)
	for i := range incoming {
		if !valid[i] {
			continue
		}
		in := &incoming[i]
		if best[in.UniqueID] != i {
			plan.Skipped = append(plan.Skipped, Skip{UniqueID: in.UniqueID, Revision: in.Revision, Reason: SkipDuplicate})
			continue
		}
		expiring := in.Expired || in.Superseded()
		sel, reason := f.Apply(in)
		stored, known := have(in.UniqueID)
		if known && stored == nil {
			known = false
		}
		switch {
		case !known && reason != NotSkipped:
			plan.Skipped = append(plan.Skipped, Skip{UniqueID: in.UniqueID, Revision: in.Revision, Reason: reason})
		case !known:
			if alloc == nil {
				return SyncPlan{}, consign.Errorf(consign.ErrInvalid, "PlanSync", in.UniqueID, "a new update needs a CI_ID and alloc is nil")
			}
			id := alloc()
			if id == 0 || allocated[id] {
				return SyncPlan{}, consign.Errorf(consign.ErrInvalid, "PlanSync", in.UniqueID, "alloc returned CI_ID %d, which is zero or already given to another new update", id)
			}
			allocated[id] = true
			sel.CIID = id
			sel.Expired = expiring
			plan.New = append(plan.New, sel)
		case reason == NotSkipped && in.Revision > stored.Revision:
			sel.CIID = stored.CIID
			sel.Expired = expiring || stored.Expired
			if sel.Expired && !stored.Expired {
				plan.Expired = append(plan.Expired, sel)
			} else {
				plan.Revised = append(plan.Revised, sel)
			}
		case expiring && !stored.Expired:
			u := *stored.Clone()
			u.Expired = true
			for _, s := range in.SupersededBy {
				if !slices.Contains(u.SupersededBy, s) {
					u.SupersededBy = append(u.SupersededBy, s)
				}
			}
			plan.Expired = append(plan.Expired, u)
		case reason != NotSkipped:
			plan.Skipped = append(plan.Skipped, Skip{UniqueID: in.UniqueID, Revision: in.Revision, Reason: reason})
		default:
			plan.Unchanged = append(plan.Unchanged, in.UniqueID)
		}
	}
	return plan, nil
}

// ContainsExpired reports whether ids name any expired update and any
// superseded one, as lookup finds them: the ContainsExpiredUpdates and
// ContainsSupersededUpdates of an update list or deployment (§1.12,
// §1.15). A superseded update counts as expired too, since ConfigMgr 2007
// expires superseded updates at sync. CI_IDs lookup does not find are
// neither.
func ContainsExpired(ids []CIID, lookup func(CIID) (*Update, bool)) (expired, superseded bool) {
	for _, id := range ids {
		u, ok := lookup(id)
		if !ok || u == nil {
			continue
		}
		if u.Superseded() {
			superseded = true
		}
		if u.Expired || u.Superseded() {
			expired = true
		}
		if expired && superseded {
			break
		}
	}
	return expired, superseded
}

// RefreshFlags recomputes l's ContainsExpiredUpdates and
// ContainsSupersededUpdates from the catalog (see ContainsExpired); the
// site calls it for every list holding an update a sync expired.
func (l *UpdateList) RefreshFlags(lookup func(CIID) (*Update, bool)) {
	l.ContainsExpiredUpdates, l.ContainsSupersededUpdates = ContainsExpired(l.Updates, lookup)
}

// RefreshFlags recomputes d's ContainsExpiredUpdates from the catalog (see
// ContainsExpired): a deployment may hold only deployable updates when it
// is made (Validate), and carries the flag when one expires later (§1.15,
// §7 invariant 8).
func (d *Deployment) RefreshFlags(lookup func(CIID) (*Update, bool)) {
	d.ContainsExpiredUpdates, _ = ContainsExpired(d.Updates, lookup)
}

// Clone returns a copy of u that shares no slices with it.
func (u *Update) Clone() *Update {
	c := *u
	c.Languages = slices.Clone(u.Languages)
	c.SupersededBy = slices.Clone(u.SupersededBy)
	c.Files = slices.Clone(u.Files)
	return &c
}
