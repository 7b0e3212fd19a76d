package delivery

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/updates"
)

// AddBoundary adds (or replaces) a boundary of this site (§1.5): the
// network locations content location and protected DPs are decided by.
func (s *Site) AddBoundary(ctx context.Context, b *distpoint.Boundary) error {
	return s.commit(ctx, "AddBoundary", func(t *tx) error {
		if b == nil {
			return &consign.ValidationError{Field: "Boundary", Rule: "required"}
		}
		nb := *b
		if nb.SiteCode == "" {
			nb.SiteCode = t.st.opts.SiteCode
		}
		if err := nb.Validate(); err != nil {
			return err
		}
		t.put(kindBoundary, nb.Name, nil, &nb)
		return nil
	})
}

// Boundaries returns the site's boundaries, ordered by name.
func (s *Site) Boundaries() []distpoint.Boundary {
	var out []distpoint.Boundary
	_ = s.read("Boundaries", func(st *state) error {
		for _, name := range sortedKeys(st.boundaries) {
			out = append(out, *st.boundaries[name])
		}
		return nil
	})
	return out
}

// Locate is content location (§3.3) for a device: the DPs it should try for
// a package version, in order, each local or remote, with protected-DP rules
// and fallback applied; and what the advertisement's fast and slow
// choices then say — download, run from the DP (each location carries its
// package share), do not run, or wait for content. adID names the
// advertisement whose choices apply; "" means the console defaults
// (download on fast boundaries, do not run on slow ones, fallback to
// unprotected DPs allowed).
//
// A protected DP the site has seen offline for more than 8 hours
// (SetDistributionPointAvailability, or DistributeContent failing to reach
// it) no longer counts as having the content. When the package distributes
// on demand (pkg.FlagDistributeOnDemand) and the device is inside a
// protected branch DP's boundaries, the request adds the package to that
// branch DP, as the management point does; the result's OnDemand names
// them, and the device gets the branch DP once DistributeContent has
// provisioned it.
func (s *Site) Locate(ctx context.Context, resourceID uint32, pkgID consign.ObjectID, version uint32, adID consign.ObjectID) (distpoint.LocateResult, error) {
	if err := ctx.Err(); err != nil {
		return distpoint.LocateResult{}, err
	}
	var out distpoint.LocateResult
	err := s.read("Locate", func(st *state) error {
		facts, ok := st.facts[resourceID]
		if !ok {
			return notFound("Locate", "device "+deviceKey(resourceID))
		}
		req := distpoint.LocateRequest{Client: facts.client, PackageID: pkgID, Version: version,
			AllowFallback: true, Fast: distpoint.FastDownload, Slow: distpoint.SlowDoNotRun, Now: s.opts.Clock()}
		if p, ok := st.packages[pkgID]; ok {
			req.DistributeOnDemand = p.Flags&pkg.FlagDistributeOnDemand != 0
		}
		for _, nal := range sortedKeys(st.availability) {
			req.Availability = append(req.Availability, st.availability[nal])
		}
		if adID != "" {
			a, ok := st.ads[adID]
			if !ok {
				return notFound("Locate", "advertisement "+string(adID))
			}
			req.AllowFallback = a.ad.AllowFallbackToUnprotected
			req.Fast, req.Slow = fastChoice(a.ad.Fast), slowChoice(a.ad.Slow)
		}
		for _, nal := range sortedKeys(st.dps) {
			req.DPs = append(req.DPs, *st.dps[nal])
		}
		for _, nal := range sortedKeys(st.pkgDPs[pkgID]) {
			req.Status = append(req.Status, *st.pkgDPs[pkgID][nal])
		}
		for _, name := range sortedKeys(st.boundaries) {
			req.Boundaries = append(req.Boundaries, *st.boundaries[name])
		}
		out = distpoint.Locate(req)
		return nil
	})
	if err == nil && len(out.OnDemand) > 0 {
		err = s.AddPackageToDistributionPoints(ctx, pkgID, out.OnDemand...)
	}
	return out, err
}

// fastChoice and slowChoice map an advertisement's choices to content
// location's; an unspecified choice (no bit in RemoteClientFlags) takes
// the console default (§7 invariant 3, "after defaulting"). A task
// sequence's download on demand (0x100, 0x200) takes content from the same
// DPs as a download; when it is fetched is the agent's business (§1.9).
func fastChoice(c advertisement.FastChoice) distpoint.FastChoice {
	switch c {
	case advertisement.FastRunFromDP:
		return distpoint.FastRunFromDP
	case advertisement.FastDownload, advertisement.FastDownloadOnDemand:
		return distpoint.FastDownload
	}
	return distpoint.FastDownload // FastUnspecified: the console default
}

func slowChoice(c advertisement.SlowChoice) distpoint.SlowChoice {
	switch c {
	case advertisement.SlowDownload, advertisement.SlowDownloadOnDemand:
		return distpoint.SlowDownload
	case advertisement.SlowRunFromDP:
		return distpoint.SlowRunFromDP
	}
	return distpoint.SlowDoNotRun
}

// networkOf reads a device's network position from its discovery data:
// IPAddresses, IPSubnets (taken when written with a mask, "10.1.2.0/24";
// ConfigMgr's bare subnet IDs carry none and are matched through the
// addresses instead) and ADSiteName.
func networkOf(d *collection.Device) distpoint.Client {
	c := distpoint.Client{ADSite: d.ADSiteName}
	for _, a := range d.IPAddresses {
		if ip, err := netip.ParseAddr(strings.TrimSpace(a)); err == nil {
			c.Addresses = append(c.Addresses, ip)
		}
	}
	for _, sn := range d.IPSubnets {
		if p, err := netip.ParsePrefix(strings.TrimSpace(sn)); err == nil {
			c.Subnets = append(c.Subnets, p.Masked())
		}
	}
	return c
}

// checkDPBoundaries reports a protected DP naming a boundary the site does
// not have.
func (t *tx) checkDPBoundaries(dp *distpoint.DistributionPoint) error {
	var probs consign.Problems
	for i, name := range dp.Boundaries {
		if _, ok := t.st.boundaries[name]; !ok {
			probs.AddValue(fmt.Sprintf("DistributionPoint.Boundaries[%d]", i), name, "must name a boundary of this site")
		}
	}
	return probs.Err()
}

// LocateUpdate is content location for a software update (§3.3 step 2: by
// the update, not by a package): the DPs holding, at their installed
// version, any deployment package whose content includes every file of the
// update — there is no hard link between a deployment and a package, so any
// package will do (§1.14). The deployment's download settings apply: on a
// fast boundary the device downloads; on a slow one it downloads only with
// DownloadOnSlowBoundary, and otherwise does not install (§1.15, §3.3 step
// 7); NoFallbackUnprotected denies the fallback to unprotected DPs. A
// deployment of 0 means the wizard's defaults. Each location names the
// package it serves the update from in its DP's share.
func (s *Site) LocateUpdate(ctx context.Context, resourceID uint32, ci updates.CIID, deploymentID uint32) (distpoint.LocateResult, error) {
	if err := ctx.Err(); err != nil {
		return distpoint.LocateResult{}, err
	}
	var out distpoint.LocateResult
	err := s.read("LocateUpdate", func(st *state) error {
		facts, ok := st.facts[resourceID]
		if !ok {
			return notFound("LocateUpdate", "device "+deviceKey(resourceID))
		}
		u, ok := st.updates[ci]
		if !ok {
			return notFound("LocateUpdate", "update "+ciKey(ci))
		}
		var settings updates.Settings
		if deploymentID != 0 {
			d, ok := st.deployments[deploymentID]
			if !ok {
				return notFound("LocateUpdate", "deployment "+assignmentKey(deploymentID))
			}
			settings = d.Settings
		}
		slow := distpoint.SlowDoNotRun
		if settings.DownloadOnSlowBoundary {
			slow = distpoint.SlowDownload
		}
		req := distpoint.LocateRequest{Client: facts.client, AllowFallback: !settings.NoFallbackUnprotected,
			Fast: distpoint.FastDownload, Slow: slow, Now: s.opts.Clock()}
		for _, nal := range sortedKeys(st.dps) {
			req.DPs = append(req.DPs, *st.dps[nal])
		}
		for _, name := range sortedKeys(st.boundaries) {
			req.Boundaries = append(req.Boundaries, *st.boundaries[name])
		}
		for _, nal := range sortedKeys(st.availability) {
			req.Availability = append(req.Availability, st.availability[nal])
		}
		// Any deployment package holding the update serves it.
		for _, id := range sortedKeys(st.packages) {
			p := st.packages[id]
			if p.Type != pkg.TypeSoftwareUpdates || !holdsUpdate(p, u) {
				continue
			}
			if req.PackageID == "" {
				req.PackageID, req.Version = p.ID, p.SourceVersion
			} else {
				req.AlsoServedBy = append(req.AlsoServedBy, distpoint.PackageVersion{PackageID: p.ID, Version: p.SourceVersion})
			}
			for _, nal := range sortedKeys(st.pkgDPs[id]) {
				req.Status = append(req.Status, *st.pkgDPs[id][nal])
			}
		}
		if req.PackageID == "" {
			out = distpoint.LocateResult{Action: distpoint.Wait, Reason: "waiting for content: no deployment package holds update " + u.UniqueID}
			return nil
		}
		out = distpoint.Locate(req)
		return nil
	})
	return out, err
}

// holdsUpdate reports whether package p holds update u's content.
func holdsUpdate(p *pkg.Package, u *updates.Update) bool {
	have := make(map[[32]byte]bool, len(p.Manifest.Files))
	for _, f := range p.Manifest.Files {
		have[f.SHA256] = true
	}
	return hasUpdateContent(have, u)
}

// hasUpdateContent reports whether the files in have (by SHA-256) are u's
// content: every language-neutral file, and every file of at least one
// language when u has language-specific ones (the Language Selection page
// downloads some languages only, §2.9). An update without files has no
// content to hold.
func hasUpdateContent(have map[[32]byte]bool, u *updates.Update) bool {
	if len(u.Files) == 0 {
		return false
	}
	langs := map[string]bool{} // language → all its files present
	for _, f := range u.Files {
		if f.Language == "" {
			if !have[f.SHA256] {
				return false
			}
			continue
		}
		if ok, seen := langs[f.Language]; !seen || ok {
			langs[f.Language] = have[f.SHA256]
		}
	}
	if len(langs) == 0 {
		return true
	}
	for _, ok := range langs {
		if ok {
			return true
		}
	}
	return false
}
