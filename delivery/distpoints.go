package delivery

import (
	"context"
	"fmt"

	"github.com/consign/consign"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// AddDistributionPoint registers a DP role at this site. Packages are then
// copied to it with AddPackageToDistributionPoints or DistributeSoftware.
func (s *Site) AddDistributionPoint(ctx context.Context, dp *distpoint.DistributionPoint) error {
	return s.commit(ctx, "AddDistributionPoint", func(t *tx) error {
		if dp == nil {
			return &consign.ValidationError{Field: "DistributionPoint", Rule: "required"}
		}
		if err := dp.Validate(); err != nil {
			return err
		}
		if err := t.checkDPBoundaries(dp); err != nil {
			return err
		}
		if _, ok := t.st.dps[dp.NALPath]; ok {
			return &consign.Error{Code: consign.ErrConflict, Op: "AddDistributionPoint", Key: dp.NALPath, Err: fmt.Errorf("distribution point already exists")}
		}
		t.put(kindDP, dp.NALPath, nil, dp)
		return nil
	})
}

// DistributionPoints returns every DP of the site, ordered by NAL path.
func (s *Site) DistributionPoints() []distpoint.DistributionPoint {
	var out []distpoint.DistributionPoint
	_ = s.read("DistributionPoints", func(st *state) error {
		for _, nal := range sortedKeys(st.dps) {
			out = append(out, *st.dps[nal])
		}
		return nil
	})
	return out
}

// AddPackageToDistributionPoints copies a package to DPs (New Distribution
// Points Wizard, §2.3): each DP that does not have the package yet gets a
// row in Install Pending for the current SourceVersion. DPs that already
// have it are left alone.
func (s *Site) AddPackageToDistributionPoints(ctx context.Context, id consign.ObjectID, nalPaths ...string) error {
	return s.commit(ctx, "AddPackageToDistributionPoints", func(t *tx) error {
		return t.planAddToDPs(id, nalPaths, "DistributionPoints")
	})
}

func (t *tx) planAddToDPs(id consign.ObjectID, nalPaths []string, field string) error {
	p, ok := t.plannedPackage(id)
	if !ok {
		return notFound("AddPackageToDistributionPoints", "package "+string(id))
	}
	var probs consign.Problems
	if !p.HasSource() && len(nalPaths) > 0 {
		probs.Add(field, "the package has no source files, so it needs no distribution points (§7 invariant 4)")
	}
	for i, nal := range nalPaths {
		if _, ok := t.st.dps[nal]; !ok {
			probs.AddValue(fmt.Sprintf("%s[%d]", field, i), nal, "must name a distribution point of this site")
		}
	}
	if err := probs.Err(); err != nil {
		return err
	}
	if len(nalPaths) > 0 {
		t.guard(kindPackage, string(id))
	}
	for _, nal := range nalPaths {
		if cur, ok := t.st.pkgDPs[id][nal]; ok && !cur.Removing() {
			continue
		}
		if err := t.dpEvent(id, nal, distpoint.Add, p.SourceVersion); err != nil {
			return err
		}
	}
	return nil
}

// plannedPackage finds a package stored or created earlier in this plan.
func (t *tx) plannedPackage(id consign.ObjectID) (*pkg.Package, bool) {
	if p, ok := t.st.packages[id]; ok {
		return p, true
	}
	if t.newPackage != nil && t.newPackage.ID == id {
		return t.newPackage, true
	}
	return nil, false
}

// dpEvent applies one §4.1 event to the package-on-DP row and plans its
// write.
func (t *tx) dpEvent(id consign.ObjectID, nal string, ev distpoint.Event, version uint32) error {
	cur := distpoint.PackageStatus{PackageID: id, NALPath: nal}
	if ps, ok := t.st.pkgDPs[id][nal]; ok {
		cur = *ps
	}
	next, gone, err := cur.Transition(ev, version, t.now, t.st.opts.DPRetry)
	if err != nil {
		return err
	}
	key := packageDPKey(id, nal)
	if gone {
		t.del(kindPackageDP, key)
		return nil
	}
	t.put(kindPackageDP, key, map[string]string{"package": string(id), "dp": nal}, &next)
	return nil
}

// PackageStatus returns the state of a package on every DP that has (or is
// getting, or losing) it, ordered by NAL path
// (SMS_PackageStatusDistPointsSummarizer, §1.19).
func (s *Site) PackageStatus(id consign.ObjectID) ([]distpoint.PackageStatus, error) {
	var out []distpoint.PackageStatus
	err := s.read("PackageStatus", func(st *state) error {
		if _, ok := st.packages[id]; !ok && len(st.pkgDPs[id]) == 0 {
			return notFound("PackageStatus", "package "+string(id))
		}
		for _, nal := range sortedKeys(st.pkgDPs[id]) {
			out = append(out, *st.pkgDPs[id][nal])
		}
		return nil
	})
	return out, err
}

// RefreshPackageOnDistributionPoints recopies the package's current
// version to the chosen DPs to repair damaged or missing content (Manage
// Distribution Points: "Refresh the package on selected distribution
// points", §2.4): no new SourceVersion, each row back to Install Pending.
func (s *Site) RefreshPackageOnDistributionPoints(ctx context.Context, id consign.ObjectID, nalPaths ...string) error {
	return s.commit(ctx, "RefreshPackageOnDistributionPoints", func(t *tx) error {
		return t.planDPEvent("RefreshPackageOnDistributionPoints", id, nalPaths, distpoint.Refresh)
	})
}

// RemovePackageFromDistributionPoints removes the package from the chosen
// DPs (Manage Distribution Points: "Remove the package from selected
// distribution points", §2.4): each row goes to Removal Pending until the
// content is gone.
func (s *Site) RemovePackageFromDistributionPoints(ctx context.Context, id consign.ObjectID, nalPaths ...string) error {
	return s.commit(ctx, "RemovePackageFromDistributionPoints", func(t *tx) error {
		return t.planDPEvent("RemovePackageFromDistributionPoints", id, nalPaths, distpoint.Remove)
	})
}

// planDPEvent applies ev to the package's row on each DP, which must exist.
func (t *tx) planDPEvent(op string, id consign.ObjectID, nalPaths []string, ev distpoint.Event) error {
	p, err := t.ownPackage(op, id)
	if err != nil {
		return err
	}
	var probs consign.Problems
	for i, nal := range nalPaths {
		if _, ok := t.st.pkgDPs[id][nal]; !ok {
			probs.AddValue(fmt.Sprintf("DistributionPoints[%d]", i), nal, "must be a distribution point the package is on")
		}
	}
	if err := probs.Err(); err != nil {
		return err
	}
	for _, nal := range nalPaths {
		if err := t.dpEvent(id, nal, ev, p.SourceVersion); err != nil {
			return err
		}
	}
	return nil
}

// SetDistributionPointAvailability records that a DP has gone offline or
// come back, as site status monitoring would (the site also records it
// itself whenever DistributeContent cannot reach a DP, or reaches it
// again). Content location stops offering a protected DP that has been
// offline for more than distpoint.ProtectedFallbackAfter (8 hours) and lets
// clients inside its boundaries fall back to unprotected DPs where the
// advertisement allows it (§3.3 step 4). Recording the state a DP is
// already in changes nothing, so the offline time keeps counting.
func (s *Site) SetDistributionPointAvailability(ctx context.Context, nalPath string, online bool) error {
	return s.commit(ctx, "SetDistributionPointAvailability", func(t *tx) error {
		if _, ok := t.st.dps[nalPath]; !ok {
			return notFound("SetDistributionPointAvailability", "distribution point "+nalPath)
		}
		t.setAvailability(nalPath, online)
		return nil
	})
}

// setAvailability writes the DP's availability when it changes.
func (t *tx) setAvailability(nalPath string, online bool) {
	cur, known := t.st.availability[nalPath]
	if known && cur.Online == online || !known && online {
		return
	}
	t.put(kindAvailability, nalPath, nil, distpoint.Availability{NALPath: nalPath, Online: online, Since: t.now})
}

// DistributionPointAvailability returns the DPs the site has seen offline
// (or back online after being offline), ordered by NAL path, with the time
// of the change. A DP not listed has always been reachable.
func (s *Site) DistributionPointAvailability() []distpoint.Availability {
	var out []distpoint.Availability
	_ = s.read("DistributionPointAvailability", func(st *state) error {
		for _, nal := range sortedKeys(st.availability) {
			out = append(out, st.availability[nal])
		}
		return nil
	})
	return out
}
