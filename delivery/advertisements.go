package delivery

import (
	"context"
	"fmt"
	"slices"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

// CreateAdvertisement advertises a program to a collection (New
// Advertisement Wizard, §2.6). An empty ID gets the next ID of this site. The
// package, program and collection must exist; the advertisement is
// validated against its program (§7 invariants 2 and 3). Members of the
// collection are notified through the Transport.
func (s *Site) CreateAdvertisement(ctx context.Context, a *advertisement.Advertisement) (*advertisement.Advertisement, error) {
	var out *advertisement.Advertisement
	err := s.commit(ctx, "CreateAdvertisement", func(t *tx) error {
		na, err := t.planAdvertisement(a)
		out = na
		return err
	})
	return out, err
}

func (t *tx) planAdvertisement(a *advertisement.Advertisement) (*advertisement.Advertisement, error) {
	if a == nil {
		return nil, &consign.ValidationError{Field: "Advertisement", Rule: "required"}
	}
	na := cloneAdvertisement(a)
	if na.ID == "" {
		na.ID = t.newID()
	} else if t.idTaken(na.ID) {
		return nil, &consign.Error{Code: consign.ErrConflict, Op: "CreateAdvertisement", Key: string(na.ID), Err: fmt.Errorf("%s is already used", na.ID)}
	}
	t.claim(na.ID)
	if na.SourceSite == "" {
		na.SourceSite = t.st.opts.SiteCode
	}
	if err := t.checkAdvertisement(na); err != nil {
		return nil, err
	}
	t.guardAdvertisement(na)
	t.put(kindAdvertisement, string(na.ID), map[string]string{"package": string(na.PackageID), "collection": string(na.CollectionID)}, na)
	return na, nil
}

// checkAdvertisement validates a against its program and the site's
// objects, reporting every problem at once.
func (t *tx) checkAdvertisement(a *advertisement.Advertisement) error {
	var probs consign.Problems
	ref := pkg.ProgramRef{PackageID: a.PackageID, Program: a.ProgramName}
	prog := t.st.programs[ref]
	if p, ok := t.plannedPrograms()[ref]; ok {
		prog = p
	}
	p, ok := t.plannedPackage(a.PackageID)
	switch {
	case !ok:
		probs.AddValue("Advertisement.PackageID", string(a.PackageID), "must name an existing package")
	case p.Type == pkg.TypeTaskSequence:
		// A task sequence is advertised as the program "*" (§1.9, §1.10);
		// there is no program to check the advertisement against.
		prog = nil
		probs.Check(a.IsTaskSequence(), "Advertisement.ProgramName",
			fmt.Sprintf("must be %q: package %s is a task sequence", tasksequence.ProgramName, a.PackageID))
		if _, ok := t.st.sequences[a.PackageID]; !ok && !t.puts(kindSequence, string(a.PackageID)) {
			probs.AddValue("Advertisement.PackageID", string(a.PackageID), "task sequence package has no sequence yet (SetSequence)")
		}
	case prog == nil:
		probs.AddValue("Advertisement.ProgramName", a.ProgramName, "must name a program of package "+string(a.PackageID))
	}
	if _, ok := t.st.engine.Collection(a.CollectionID); !ok && (t.newCollection == nil || t.newCollection.ID != a.CollectionID) {
		probs.AddValue("Advertisement.CollectionID", string(a.CollectionID), "must name an existing collection")
	}
	probs.Merge(a.Validate(prog))
	// At most 15 assignments per program, re-runs included, across all its
	// advertisements (§1.9, §5.1).
	others := 0
	for _, o := range t.st.adsByPkg[a.PackageID] {
		if o.ad.ID != a.ID && o.ad.ProgramName == a.ProgramName {
			others += o.ad.Assignments()
		}
	}
	if n := a.Assignments(); n > 0 && n+others > advertisement.MaxAssignments {
		probs.AddValue("Advertisement.Schedules", n, fmt.Sprintf("at most %d assignments per program across its advertisements; the program's other advertisements have %d", advertisement.MaxAssignments, others))
	}
	return probs.Err()
}

// guardAdvertisement guards what an advertisement refers to: its
// collection and its program, or its task sequence package.
func (t *tx) guardAdvertisement(a *advertisement.Advertisement) {
	t.guard(kindCollection, string(a.CollectionID))
	if a.IsTaskSequence() {
		t.guard(kindPackage, string(a.PackageID))
		return
	}
	t.guard(kindProgram, programKey(pkg.ProgramRef{PackageID: a.PackageID, Program: a.ProgramName}))
}

// UpdateAdvertisement changes an advertisement. Its name, package, program
// and collection cannot change (§1.9).
func (s *Site) UpdateAdvertisement(ctx context.Context, a *advertisement.Advertisement) error {
	return s.commit(ctx, "UpdateAdvertisement", func(t *tx) error {
		if a == nil {
			return &consign.ValidationError{Field: "Advertisement", Rule: "required"}
		}
		old, ok := t.st.ads[a.ID]
		if !ok {
			return notFound("UpdateAdvertisement", "advertisement "+string(a.ID))
		}
		if old.ad.SourceSite != "" && old.ad.SourceSite != t.st.opts.SiteCode {
			return &consign.Error{Code: consign.ErrPermissionDenied, Op: "UpdateAdvertisement", Key: string(a.ID),
				Err: fmt.Errorf("advertisement %s was created at site %s and is read-only here", a.ID, old.ad.SourceSite)}
		}
		if err := advertisement.CheckUpdate(old.ad, a); err != nil {
			return err
		}
		na := cloneAdvertisement(a)
		na.SourceSite = old.ad.SourceSite
		if err := t.checkAdvertisement(na); err != nil {
			return err
		}
		t.guardAdvertisement(na)
		t.put(kindAdvertisement, string(na.ID), map[string]string{"package": string(na.PackageID), "collection": string(na.CollectionID)}, na)
		return nil
	})
}

// DeleteAdvertisement deletes an advertisement and its client status;
// targeted devices are notified so they drop the policy (§3.1 item 6).
func (s *Site) DeleteAdvertisement(ctx context.Context, id consign.ObjectID) error {
	return s.commit(ctx, "DeleteAdvertisement", func(t *tx) error {
		a, ok := t.st.ads[id]
		if !ok {
			return notFound("DeleteAdvertisement", "advertisement "+string(id))
		}
		if a.ad.SourceSite != "" && a.ad.SourceSite != t.st.opts.SiteCode {
			return &consign.Error{Code: consign.ErrPermissionDenied, Op: "DeleteAdvertisement", Key: string(id),
				Err: fmt.Errorf("advertisement %s was created at site %s and is read-only here", id, a.ad.SourceSite)}
		}
		t.deleteAdvertisement(a)
		return nil
	})
}

// deleteAdvertisement deletes a and the devices' statuses for it. The
// program runs those statuses recorded move into history records: a
// device's execution history outlives the advertisement.
func (t *tx) deleteAdvertisement(a *adState) {
	for _, rid := range sortedKeys(a.statuses) {
		for _, r := range a.statuses[rid].runs {
			if h := t.st.history[rid][r.ref]; h.Ran {
				t.putData(kindHistory, historyKey(rid, r.ref), nil, encodeHistory(h))
			}
		}
		t.del(kindStatus, statusKey(a.ad.ID, rid))
	}
	t.del(kindAdvertisement, string(a.ad.ID))
}

// Advertisement returns a copy of the advertisement.
func (s *Site) Advertisement(id consign.ObjectID) (*advertisement.Advertisement, error) {
	var out *advertisement.Advertisement
	err := s.read("Advertisement", func(st *state) error {
		a, ok := st.ads[id]
		if !ok {
			return notFound("Advertisement", "advertisement "+string(id))
		}
		out = cloneAdvertisement(a.ad)
		return nil
	})
	return out, err
}

// Advertisements returns every advertisement, ordered by ID.
func (s *Site) Advertisements() []*advertisement.Advertisement {
	var out []*advertisement.Advertisement
	_ = s.read("Advertisements", func(st *state) error {
		for _, id := range sortedKeys(st.ads) {
			out = append(out, cloneAdvertisement(st.ads[id].ad))
		}
		return nil
	})
	return out
}

func cloneAdvertisement(a *advertisement.Advertisement) *advertisement.Advertisement {
	n := *a
	n.Schedules = slices.Clone(a.Schedules)
	return &n
}
