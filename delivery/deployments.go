package delivery

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/updates"
)

// SaveUpdateList creates an update list (CIID 0: it gets the next CI_ID)
// or replaces one (Update List Wizard, §2.10). Every update must be in the
// catalog; ContainsExpiredUpdates and ContainsSupersededUpdates are
// computed. The stored list is returned.
func (s *Site) SaveUpdateList(ctx context.Context, l *updates.UpdateList) (*updates.UpdateList, error) {
	var out *updates.UpdateList
	err := s.commit(ctx, "SaveUpdateList", func(t *tx) error {
		if l == nil {
			return &consign.ValidationError{Field: "UpdateList", Rule: "required"}
		}
		nl := *l
		nl.Updates = slices.Clone(l.Updates)
		var probs consign.Problems
		probs.Merge(nl.Validate())
		for i, ci := range nl.Updates {
			if _, ok := t.st.updates[ci]; !ok && ci != 0 {
				probs.AddValue(fmt.Sprintf("UpdateList.Updates[%d]", i), ci, "must name an update in the catalog")
			}
		}
		if nl.CIID != 0 {
			if _, ok := t.st.updateLists[nl.CIID]; !ok {
				probs.AddValue("UpdateList.CIID", nl.CIID, "must name an update list of this site (0 creates one)")
			}
		}
		if err := probs.Err(); err != nil {
			return err
		}
		if nl.CIID == 0 {
			nl.CIID = t.newCIID()
		}
		nl.RefreshFlags(t.st.lookupUpdate)
		t.put(kindUpdateList, ciKey(nl.CIID), nil, &nl)
		out = &nl
		return nil
	})
	return out, err
}

// DeleteUpdateList deletes an update list. Deployments made from it keep
// their updates (a deployment holds the CI_IDs, not the list).
func (s *Site) DeleteUpdateList(ctx context.Context, ci updates.CIID) error {
	return s.commit(ctx, "DeleteUpdateList", func(t *tx) error {
		if _, ok := t.st.updateLists[ci]; !ok {
			return notFound("DeleteUpdateList", "update list "+ciKey(ci))
		}
		t.del(kindUpdateList, ciKey(ci))
		return nil
	})
}

// UpdateLists returns every update list, ordered by CI_ID.
func (s *Site) UpdateLists() []*updates.UpdateList {
	var out []*updates.UpdateList
	_ = s.read("UpdateLists", func(st *state) error {
		for _, ci := range sortedKeys(st.updateLists) {
			l := *st.updateLists[ci]
			l.Updates = slices.Clone(l.Updates)
			out = append(out, &l)
		}
		return nil
	})
	return out
}

// SaveTemplate creates or replaces a deployment template by name
// (Deployment Template Wizard, §2.11). A template's collection is optional;
// when set it must exist.
func (s *Site) SaveTemplate(ctx context.Context, tpl *updates.Template) error {
	return s.commit(ctx, "SaveTemplate", func(t *tx) error {
		if tpl == nil {
			return &consign.ValidationError{Field: "Template", Rule: "required"}
		}
		nt := *tpl
		nt.Modified = t.now
		var probs consign.Problems
		probs.Merge(nt.Validate())
		if id := nt.Settings.CollectionID; id != "" && id.Validate() == nil {
			if _, ok := t.st.engine.Collection(id); !ok {
				probs.AddValue("Template.Settings.CollectionID", string(id), "must name a collection of this site")
			}
		}
		if err := probs.Err(); err != nil {
			return err
		}
		t.put(kindTemplate, nt.Name, nil, &nt)
		return nil
	})
}

// DeleteTemplate deletes a deployment template. Deployments made with it
// keep their settings.
func (s *Site) DeleteTemplate(ctx context.Context, name string) error {
	return s.commit(ctx, "DeleteTemplate", func(t *tx) error {
		if _, ok := t.st.templates[name]; !ok {
			return notFound("DeleteTemplate", "template "+name)
		}
		t.del(kindTemplate, name)
		return nil
	})
}

// Templates returns every deployment template, ordered by name.
func (s *Site) Templates() []*updates.Template {
	var out []*updates.Template
	_ = s.read("Templates", func(st *state) error {
		for _, name := range sortedKeys(st.templates) {
			tpl := *st.templates[name]
			out = append(out, &tpl)
		}
		return nil
	})
	return out
}

// DeployRequest is the Deploy Software Updates Wizard (§2.8) as one call.
type DeployRequest struct {
	// Name and Description are the General page.
	Name, Description string
	// Updates are the updates to deploy; UpdateList, when not 0, adds the
	// updates of that list (the wizard started from a list).
	Updates    []updates.CIID
	UpdateList updates.CIID
	// Template names a saved template whose settings are used; Settings,
	// when set, are used instead (explicit settings win). With neither, the
	// wizard's defaults apply. CollectionID may come from either, or from
	// CollectionID here, which wins over both.
	Template     string
	Settings     *updates.Settings
	CollectionID consign.ObjectID
	// SaveAsTemplate, when set, also saves the settings used as a template
	// of that name.
	SaveAsTemplate string
	// Available is when the updates become available; zero means "as soon
	// as possible" (now). Deadline makes the deployment mandatory; with
	// NoDeadline it is optional. Without either, the deadline is Available
	// plus the settings' Duration (the wizard's proposal). Expiration is
	// optional.
	Available  time.Time
	Deadline   time.Time
	NoDeadline bool
	Expiration time.Time
	// OverrideServiceWindows installs at the deadline even outside
	// maintenance windows (mandatory deployments only).
	OverrideServiceWindows bool
	// Disabled creates the deployment disabled.
	Disabled bool
	// Download, when some update's content is not yet in any deployment
	// package, says where to get it and which package to put it in (the
	// Deployment Package, Download Location and Language Selection pages);
	// its Updates are filled in by the wizard. Without it, every update
	// must already be provisioned.
	Download *DownloadRequest
}

// DeployResult is what DeploySoftwareUpdates made.
type DeployResult struct {
	Deployment *updates.Deployment
	// Download is the content download the wizard ran, if any.
	Download *DownloadResult
}

// DeploySoftwareUpdates is the Deploy Software Updates Wizard (§2.8): it
// resolves the updates (explicit and from a list), the settings (template
// or explicit), the schedule (available time, deadline or none), checks the
// whole request — the deployment's rules including that no update is
// expired or superseded, that the collection exists, that every update's
// content is in some deployment package or can be downloaded — and reports
// every problem at once. Missing content is downloaded first
// (DownloadUpdates into the named or a new deployment package, distributed
// to its DPs); then the deployment, and the template when asked, are
// written in one atomic step. Devices in the collection get the deployment
// in their next policy.
func (s *Site) DeploySoftwareUpdates(ctx context.Context, req DeployRequest) (*DeployResult, error) {
	res := &DeployResult{}
	var missing []updates.CIID
	// Validate everything before downloading anything.
	err := s.read("DeploySoftwareUpdates", func(st *state) error {
		d, probs := st.planDeployment(req, s.opts.Clock())
		probs.Merge(d.Validate(st.lookupUpdate))
		if err := probs.Err(); err != nil {
			return err
		}
		missing = st.unprovisioned(d.Updates)
		if len(missing) > 0 && req.Download == nil {
			var p consign.Problems
			for _, ci := range missing {
				p.AddValue("DeployRequest.Download", st.updates[ci].Ref(), "the update's content is in no deployment package; give a Download (package and location) to get it")
			}
			return p.Err()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		dl := *req.Download
		dl.Updates = missing
		if res.Download, err = s.DownloadUpdates(ctx, dl); err != nil {
			return nil, fmt.Errorf("DeploySoftwareUpdates: downloading content: %w", err)
		}
	}
	err = s.commit(ctx, "DeploySoftwareUpdates", func(t *tx) error {
		d, probs := t.st.planDeployment(req, t.now)
		probs.Merge(d.Validate(t.st.lookupUpdate))
		if err := probs.Err(); err != nil {
			return err
		}
		if res.Download != nil {
			d.PackageID = res.Download.Package.ID
		}
		d.ID = t.newAssignmentID()
		d.Created, d.Modified = t.now, t.now
		t.put(kindDeployment, assignmentKey(d.ID), nil, d)
		t.guard(kindCollection, string(d.Settings.CollectionID))
		if req.SaveAsTemplate != "" {
			tpl := &updates.Template{Name: req.SaveAsTemplate, Description: "Saved from deployment " + d.Name, Settings: d.Settings, Modified: t.now}
			if err := tpl.Validate(); err != nil {
				return err
			}
			t.put(kindTemplate, tpl.Name, nil, tpl)
		}
		res.Deployment = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// planDeployment builds the deployment a request describes, with the
// problems only the site can see (unknown list, template or collection).
func (st *state) planDeployment(req DeployRequest, now time.Time) (*updates.Deployment, *consign.Problems) {
	probs := &consign.Problems{}
	d := &updates.Deployment{Name: req.Name, Description: req.Description, Updates: slices.Clone(req.Updates),
		Expiration: req.Expiration, OverrideServiceWindows: req.OverrideServiceWindows, Enabled: !req.Disabled}
	if req.UpdateList != 0 {
		l, ok := st.updateLists[req.UpdateList]
		if !ok {
			probs.AddValue("DeployRequest.UpdateList", req.UpdateList, "must name an update list of this site")
		} else {
			for _, ci := range l.Updates {
				if !slices.Contains(d.Updates, ci) {
					d.Updates = append(d.Updates, ci)
				}
			}
		}
	}
	switch {
	case req.Settings != nil:
		d.Settings = *req.Settings
	case req.Template != "":
		tpl, ok := st.templates[req.Template]
		if !ok {
			probs.AddValue("DeployRequest.Template", req.Template, "must name a deployment template of this site")
		} else {
			d.Settings = tpl.Settings
		}
	}
	if req.CollectionID != "" {
		d.Settings.CollectionID = req.CollectionID
	}
	if id := d.Settings.CollectionID; id != "" && id.Validate() == nil {
		if _, ok := st.engine.Collection(id); !ok {
			probs.AddValue("Deployment.Settings.CollectionID", string(id), "must name a collection of this site")
		}
	}
	d.Available = req.Available
	if d.Available.IsZero() {
		d.Available = now
	}
	switch {
	case req.NoDeadline && !req.Deadline.IsZero():
		probs.Add("DeployRequest.NoDeadline", "give a Deadline or NoDeadline, not both")
	case req.NoDeadline:
	case !req.Deadline.IsZero():
		d.Deadline = req.Deadline
	default:
		dur := d.Settings.Duration
		if dur == 0 {
			dur = updates.DefaultDuration
		}
		d.Deadline = d.Available.Add(dur)
	}
	return d, probs
}

// lookupUpdate finds an update of the catalog by CI_ID.
func (st *state) lookupUpdate(ci updates.CIID) (*updates.Update, bool) {
	u, ok := st.updates[ci]
	return u, ok
}

// unprovisioned returns the updates whose content is in no deployment
// package (IsContentProvisioned false, §1.11): since a client installs an
// update from any package holding it (§1.14), any package of type software
// updates counts (see holdsUpdate). An update with no files needs no
// content.
func (st *state) unprovisioned(ids []updates.CIID) []updates.CIID {
	var out []updates.CIID
	for _, ci := range ids {
		u := st.updates[ci]
		if u == nil || len(u.Files) == 0 {
			continue
		}
		held := false
		for _, p := range st.packages {
			if p.Type == pkg.TypeSoftwareUpdates && holdsUpdate(p, u) {
				held = true
				break
			}
		}
		if !held {
			out = append(out, ci)
		}
	}
	return out
}

// DeleteDeployment deletes a software update deployment; devices drop it at
// their next policy.
func (s *Site) DeleteDeployment(ctx context.Context, id uint32) error {
	return s.commit(ctx, "DeleteDeployment", func(t *tx) error {
		if _, ok := t.st.deployments[id]; !ok {
			return notFound("DeleteDeployment", "deployment "+assignmentKey(id))
		}
		t.del(kindDeployment, assignmentKey(id))
		return nil
	})
}

// Deployment returns a copy of a software update deployment.
func (s *Site) Deployment(id uint32) (*updates.Deployment, error) {
	var out *updates.Deployment
	err := s.read("Deployment", func(st *state) error {
		d, ok := st.deployments[id]
		if !ok {
			return notFound("Deployment", "deployment "+assignmentKey(id))
		}
		c := *d
		c.Updates = slices.Clone(d.Updates)
		out = &c
		return nil
	})
	return out, err
}

// Deployments returns every software update deployment, ordered by ID.
func (s *Site) Deployments() []*updates.Deployment {
	var out []*updates.Deployment
	_ = s.read("Deployments", func(st *state) error {
		for _, id := range sortedKeys(st.deployments) {
			c := *st.deployments[id]
			c.Updates = slices.Clone(c.Updates)
			out = append(out, &c)
		}
		return nil
	})
	return out
}
