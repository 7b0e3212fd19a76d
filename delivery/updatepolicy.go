package delivery

import (
	"context"
	"slices"
	"time"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/updates"
)

// updateWindowHorizon is how far ahead maintenance windows are computed for
// the software update decision: long enough to hold a monthly window, so
// that an update waiting for next month's window is not judged never to
// fit (11717).
const updateWindowHorizon = 35 * 24 * time.Hour

// UpdateClientState is what only the device knows when it asks for its
// software update policy: its boundary and its cache, what is installing,
// what waits for a restart and what the user asked to install. The zero
// value means a fast boundary, an empty cache, nothing in progress.
type UpdateClientState struct {
	OnSlowBoundary bool
	// Downloaded are the updates whose content is in the client cache.
	Downloaded []updates.CIID
	// Installing is the update being installed now (0: none).
	Installing updates.CIID
	// PendingRestart are updates installed and waiting for a restart.
	PendingRestart []updates.CIID
	// UserRequested are updates the user chose to install now.
	UserRequested []updates.CIID
}

// UpdatePolicy is a device's software update policy: the deployments
// targeting it, the updates it must act on, and the enforcement decision
// for now (§3.7).
type UpdatePolicy struct {
	ResourceID uint32
	// Generated is the site time the decision was made at; Revision the
	// store revision it reflects.
	Generated time.Time
	Revision  int64
	// Deployments are the deployments targeting the device (its
	// collections'), by ID, disabled ones included (the decision skips
	// them). Required are the updates the device's last scans say it
	// needs, by CI_ID: the only ones acted on (§3.7 step 3).
	Deployments []*updates.Deployment
	Required    []*updates.Update
	// Plan is the enforcement decision: what to download, what to
	// install now and in which order, what waits and until when, what can
	// never fit a maintenance window (11717), and the restart (§3.6, §3.7,
	// §4.4).
	Plan updates.EnforcePlan
}

// UpdatePolicy decides, for one device now, what its software update
// client does (updates.Enforce over the device's Required updates from its
// scans, the deployments targeting its collections, its maintenance
// windows of types General and Software Updates over the next 35 days, its
// time zone and device class, and Options.UpdateAgent). dev may be nil.
// Unknown devices get an error matching consign.ErrNotFound. Deployments
// and updates in the result are the caller's copies.
func (s *Site) UpdatePolicy(ctx context.Context, resourceID uint32, dev *UpdateClientState) (*UpdatePolicy, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cs UpdateClientState
	if dev != nil {
		cs = *dev
	}
	var out *UpdatePolicy
	err := s.read("UpdatePolicy", func(st *state) error {
		facts, ok := st.facts[resourceID]
		if !ok {
			return notFound("UpdatePolicy", "device "+deviceKey(resourceID))
		}
		now := s.now()
		out = &UpdatePolicy{ResourceID: resourceID, Generated: now, Revision: st.rev}
		cols := st.engine.CollectionsOf(resourceID)
		for _, id := range sortedKeys(st.deployments) {
			d := st.deployments[id]
			if slices.Contains(cols, d.Settings.CollectionID) {
				c := *d
				c.Updates = slices.Clone(d.Updates)
				out.Deployments = append(out.Deployments, &c)
			}
		}
		for _, ci := range st.compliance.RequiredUpdates(resourceID) {
			out.Required = append(out.Required, st.updates[ci].Clone())
		}
		// What the device says is installing or pending counts only for
		// updates its scans still have Required (a scan may have moved on).
		required := func(ci updates.CIID) bool {
			return slices.ContainsFunc(out.Required, func(u *updates.Update) bool { return u.CIID == ci })
		}
		// An update both installing and pending a restart is installing; a
		// device listing one twice is not worth failing its policy for.
		pending := slices.DeleteFunc(slices.Clone(cs.PendingRestart), func(ci updates.CIID) bool {
			return !required(ci) || ci == cs.Installing
		})
		slices.Sort(pending)
		in := updates.EnforceInput{
			Now: now, Location: facts.loc, Server: facts.server,
			Required: out.Required, Deployments: out.Deployments,
			OnSlowBoundary: cs.OnSlowBoundary,
			PendingRestart: slices.Compact(pending),
			UserRequested:  cs.UserRequested,
			Settings:       s.opts.UpdateAgent,
		}
		if required(cs.Installing) {
			in.Installing = cs.Installing
		}
		if len(cs.Downloaded) > 0 {
			in.Downloaded = func(ci updates.CIID) bool { return slices.Contains(cs.Downloaded, ci) }
		}
		in.Windows, in.HasWindows = st.windows(cols, []collection.WindowType{collection.WindowGeneral, collection.WindowUpdates},
			now, now.Add(max(s.opts.WindowHorizon, updateWindowHorizon)), facts.loc)
		plan, err := updates.Enforce(in)
		if err != nil {
			return err
		}
		out.Plan = plan
		return nil
	})
	return out, err
}
