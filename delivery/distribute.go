package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

// DistributeRequest is the Distribute Software Wizard (§2.5) filled in:
// package, distribution points, program, target collection, advertisement.
type DistributeRequest struct {
	// PackageID chooses an existing package; NewPackage creates one (its ID
	// may be empty). Exactly one must be set.
	PackageID  consign.ObjectID
	NewPackage *pkg.Package
	// NewPrograms are created in the package first (as a package definition
	// file would supply them); their PackageID is filled in.
	NewPrograms []*pkg.Program
	// ProgramName is the program to advertise.
	ProgramName string
	// DistributionPoints and DPGroups select DPs (NAL paths; a group selects
	// all its members). DPs that already have the package are left alone.
	DistributionPoints []string
	DPGroups           []distpoint.Group
	// CollectionID chooses an existing collection; NewCollection creates one
	// under ParentCollection (default: the root). A new collection with no
	// RefreshSchedule gets the wizard's default of every 2 hours (§1.6).
	CollectionID     consign.ObjectID
	NewCollection    *collection.Collection
	ParentCollection consign.ObjectID
	// Advertisement carries the name, comment, schedule and options; its
	// PackageID, ProgramName and CollectionID are filled in by the wizard.
	// Nil means a default optional advertisement named after the program,
	// available now.
	Advertisement *advertisement.Advertisement
	// AssignAt, when set, is the wizard's "Yes, assign the program": one
	// non-recurring mandatory assignment at that time (UTC).
	AssignAt time.Time
}

// DistributeResult is what DistributeSoftware made.
type DistributeResult struct {
	Package       *pkg.Package
	Collection    *collection.Collection
	Advertisement *advertisement.Advertisement
	// DistributionPoints are the package's rows on the chosen DPs after the
	// wizard: Installed where the content was copied, Install Retrying
	// where a copy failed (Copy says why), Install Pending when the Site
	// has no content libraries (Options.Libraries) to copy to.
	DistributionPoints []distpoint.PackageStatus
	// Copy is the content copy the wizard ran, nil without
	// Options.Libraries. Its failures do not fail the wizard, whose objects
	// are written: the rows retry like any other.
	Copy *DistributionReport
}

// DistributeSoftware runs the Distribute Software Wizard as one call: it
// chooses or creates the package and its programs, records the chosen DPs
// as Install Pending, chooses or creates the collection and creates the
// advertisement. The request is validated as a whole — every problem is
// reported at once — and written in one atomic Store write, so a failure
// leaves nothing behind. Then, when the Site has content libraries
// (Options.Libraries), it copies the package to the chosen DPs
// (DistributeContent for this package) and reports each DP's outcome.
func (s *Site) DistributeSoftware(ctx context.Context, req DistributeRequest) (*DistributeResult, error) {
	var res *DistributeResult
	err := s.commit(ctx, "DistributeSoftware", func(t *tx) error {
		r, err := t.planDistribute(req)
		res = r
		return err
	})
	if err != nil || s.opts.Libraries == nil || len(res.DistributionPoints) == 0 {
		return res, err
	}
	// The objects are written; now copy the content, as Distribution
	// Manager would start to. Its outcome is on the rows.
	// From here the wizard has succeeded: a copy that fails or is cancelled
	// is reported in res.Copy and on the rows, which retry like any other.
	res.Copy, err = s.distributeContent(ctx, res.Package.ID)
	if err != nil {
		s.opts.Logger.Warn("DistributeSoftware: the content copy stopped early; the rows retry", "package", res.Package.ID, "err", err)
	}
	rows, err := s.PackageStatus(res.Package.ID)
	if err != nil {
		return res, nil // the rows as planned stay in res
	}
	chosen := map[string]bool{}
	for _, r := range res.DistributionPoints {
		chosen[r.NALPath] = true
	}
	res.DistributionPoints = res.DistributionPoints[:0]
	for _, r := range rows {
		if chosen[r.NALPath] {
			res.DistributionPoints = append(res.DistributionPoints, r)
		}
	}
	return res, nil
}

func (t *tx) planDistribute(req DistributeRequest) (*DistributeResult, error) {
	var probs consign.Problems
	res := &DistributeResult{}

	// Package.
	switch {
	case (req.PackageID == "") == (req.NewPackage == nil):
		probs.Add("PackageID", "choose an existing package or give a new one, not both")
	case req.NewPackage != nil:
		p, err := t.planPackage(req.NewPackage)
		probs.Merge(err)
		res.Package = p
	default:
		p, ok := t.st.packages[req.PackageID]
		if !ok {
			probs.AddValue("PackageID", string(req.PackageID), "must name an existing package")
		} else {
			c := *p
			res.Package = &c
		}
	}
	var pkgID consign.ObjectID
	if res.Package != nil {
		pkgID = res.Package.ID
	}
	for i, np := range req.NewPrograms {
		if np == nil {
			probs.Add(fmt.Sprintf("NewPrograms[%d]", i), "required")
			continue
		}
		prog := *np
		prog.PackageID = pkgID
		if res.Package != nil {
			probs.Merge(prefixed(t.planProgram("DistributeSoftware", &prog, true), "NewPrograms", i))
		} else {
			// The package is invalid: still report the program's own problems.
			probs.Merge(prefixed(without(prog.Validate(), "Program.PackageID"), "NewPrograms", i))
		}
	}
	// A group is a selection shortcut: it ticks its members (§1.4).
	nals := distpoint.ExpandGroups(req.DistributionPoints, req.DPGroups)
	if res.Package != nil {
		probs.Merge(t.planAddToDPs(res.Package.ID, nals, "DistributionPoints"))
	} else {
		for i, nal := range nals {
			if _, ok := t.st.dps[nal]; !ok {
				probs.AddValue(fmt.Sprintf("DistributionPoints[%d]", i), nal, "must name a distribution point of this site")
			}
		}
	}

	// Collection.
	switch {
	case (req.CollectionID == "") == (req.NewCollection == nil):
		probs.Add("CollectionID", "choose an existing collection or give a new one, not both")
	case req.NewCollection != nil:
		nc := req.NewCollection.Clone()
		if len(nc.RefreshSchedule) == 0 {
			nc.RefreshType = collection.RefreshPeriodic
			nc.RefreshSchedule = []schedule.Token{everyTwoHours(t.now)}
		}
		c, err := t.planCollection(nc, req.ParentCollection)
		probs.Merge(err)
		res.Collection = c
	default:
		c, ok := t.st.engine.Collection(req.CollectionID)
		if !ok {
			probs.AddValue("CollectionID", string(req.CollectionID), "must name an existing collection")
		} else {
			res.Collection = c
		}
	}

	// Advertisement: the wizard fills in its package, program and
	// collection.
	a := req.Advertisement
	if a == nil {
		a = advertisement.New("", req.ProgramName, "", "", "", t.now.UTC())
		a.PresentTimeIsGMT = true
	}
	a = cloneAdvertisement(a)
	a.ProgramName = req.ProgramName
	if res.Package != nil {
		a.PackageID = res.Package.ID
	}
	if res.Collection != nil {
		a.CollectionID = res.Collection.ID
	}
	if !req.AssignAt.IsZero() {
		a.Schedules = append(a.Schedules, schedule.Token{Type: schedule.NonRecurring, Start: civil(req.AssignAt.UTC()), IsGMT: true})
	}
	if probs.Len() > 0 {
		// Report the advertisement's own problems with the others.
		probs.Merge(without(a.Validate(nil), "Advertisement.PackageID", "Advertisement.CollectionID"))
		return nil, probs.Err()
	}
	ad, err := t.planAdvertisement(a)
	if err != nil {
		return nil, err
	}
	res.Advertisement = ad
	for _, w := range t.writes {
		if w.Record.Kind == kindPackageDP && w.Op == Put {
			var ps distpoint.PackageStatus
			mustDecode(w.Record.Data, &ps)
			res.DistributionPoints = append(res.DistributionPoints, ps)
		}
	}
	return res, nil
}

// everyTwoHours is the Distribute Software Wizard's default collection
// update schedule (§1.6).
func everyTwoHours(now time.Time) schedule.Token {
	return schedule.Token{Type: schedule.Interval, Start: civil(now.UTC().Truncate(time.Hour)), IsGMT: true, HourSpan: 2}
}

// civil returns t's wall clock as a schedule start (fields in UTC).
func civil(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
}
