package delivery

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

// DeviceState is what only the device knows when it asks for policy: who is
// logged on, the boundary it is in, its recent events. The zero value means
// no user logged on, a fast boundary, no events seen.
type DeviceState struct {
	UserLoggedOn   bool
	OnSlowBoundary bool
	// LastLogon, LastLogoff and LastStartup fire event assignments (§1.9).
	LastLogon, LastLogoff, LastStartup time.Time
}

// Policy is a device's machine policy: every advertisement that applies to
// it now, with everything the device needs to act on it (§1.18, §3.1).
type Policy struct {
	ResourceID uint32
	// Generated is the site time the decisions were made at.
	Generated time.Time
	// Revision is the store revision the policy reflects; a device can use it
	// as a version tag.
	Revision int64
	// Offers are ordered by advertisement ID.
	Offers []Offer
	// Windows are the enabled maintenance windows of every collection the
	// device is in (§1.7), so that a device can decide for itself, at any
	// time until its next policy, when a program may run (§3.6). They are
	// the Site's own immutable copies: treat them as read-only.
	Windows []collection.ServiceWindow
}

// Offer is one advertisement as a device sees it: the flattened
// CCM_SoftwareDistribution view of advertisement, package and program
// (§1.18), the site's decision for the device, and the device's status.
//
// Advertisement, Package, Program and RunFirst point to the Site's own
// immutable copies (a change to the site replaces them, never modifies
// them), so a policy costs no copying: treat them as read-only.
type Offer struct {
	Advertisement *advertisement.Advertisement
	Package       *PackageInfo
	// Program is the advertised program; nil when it no longer exists (see
	// Problem).
	Program *pkg.Program
	// RunFirst lists the programs to run before Program, in order ("run
	// another program first", honoured on the first run or always when
	// RunDependencyAlways is set; §1.3).
	RunFirst []*pkg.Program
	// Decision is the offer decision (§3.2) at Generated.
	Decision advertisement.Offer
	// Status is the device's last reported status for the advertisement;
	// nil until the device reports one.
	Status *advertisement.ClientStatus
	// Problem, when set, says why the offer cannot be acted on even though
	// it applies (for example a dependency that no longer exists).
	Problem string
	// TaskSequence is set on a task sequence advertisement: the sequence
	// and the packages and programs its steps use. Program is then what
	// the sequence is advertised as (tasksequence.Program).
	TaskSequence *TaskSequenceOffer
	// Updates are, on a task sequence advertisement with an Install
	// Software Updates step, the updates that step would install on the
	// device, by CIID.
	Updates []TaskSequenceUpdate
}

// PackageInfo is the part of a package a device needs (PKG_* in §1.18).
type PackageInfo struct {
	ID                                    consign.ObjectID
	Name, Version, Manufacturer, Language string
	SourceVersion                         uint32
	// SourceHash is the manifest hash the downloaded content must match
	// (PKG_SourceHash, §3.4).
	SourceHash     [32]byte
	ContentSize    int64
	HasSource      bool
	PersistInCache bool
}

// deviceFacts caches what the offer decision needs from a device's
// inventory; rebuilt whenever the device record changes.
type deviceFacts struct {
	os     pkg.OSInfo
	loc    *time.Location
	client distpoint.Client
	// server is true for a server OS ("Microsoft Windows NT Server 6.0",
	// "…Advanced Server 5.2"): the device class deployments'
	// SuppressReboot distinguishes (§1.15).
	server bool
	// uid is the device's SMSUniqueIdentifier ("" when it has none).
	uid string
}

// Policy returns the policy for a device: the advertisements targeting any
// collection it is in (or, when they include subcollections, any of their
// subcollections), each with the offer decision for now. dev may be nil.
// Unknown devices get an error matching consign.ErrNotFound.
func (s *Site) Policy(ctx context.Context, resourceID uint32, dev *DeviceState) (*Policy, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ds DeviceState
	if dev != nil {
		ds = *dev
	}
	var out *Policy
	err := s.read("Policy", func(st *state) error {
		facts, ok := st.facts[resourceID]
		if !ok {
			return notFound("Policy", "device "+deviceKey(resourceID))
		}
		now := s.now()
		out = &Policy{ResourceID: resourceID, Generated: now, Revision: st.rev}
		cols := st.engine.CollectionsOf(resourceID)
		for _, c := range cols {
			out.Windows = append(out.Windows, st.colWindows[c]...)
		}
		ads := st.adsFor(cols)
		if len(ads) == 0 {
			return nil
		}
		df := advertisement.DeviceFacts{
			OS: facts.os, Location: facts.loc,
			OnSlowBoundary: ds.OnSlowBoundary, UserLoggedOn: ds.UserLoggedOn,
			LastLogon: ds.LastLogon, LastLogoff: ds.LastLogoff, LastStartup: ds.LastStartup,
			Countdown: s.opts.Countdown,
		}
		df.Windows, df.HasWindows = st.windows(cols, []collection.WindowType{collection.WindowGeneral}, now, now.Add(s.opts.WindowHorizon), facts.loc)
		var tsFacts *advertisement.DeviceFacts // with OSD windows too, made for the first task sequence
		hist := st.history[resourceID]
		out.Offers = make([]Offer, 0, len(ads))
		for _, a := range ads {
			if a.ts == nil {
				out.Offers = append(out.Offers, st.offer(a, resourceID, df, hist, now))
				continue
			}
			if tsFacts == nil {
				f := df
				f.Windows, f.HasWindows = st.windows(cols, WindowTypes(a.ad), now, now.Add(s.opts.WindowHorizon), facts.loc)
				tsFacts = &f
			}
			o := st.offer(a, resourceID, *tsFacts, hist, now)
			o.TaskSequence = a.ts.offer
			if a.ts.installsUpdates {
				o.Updates = st.tsUpdates(resourceID, cols)
			}
			out.Offers = append(out.Offers, o)
		}
		return nil
	})
	return out, err
}

// adsFor returns the advertisements reaching members of cols, by ID.
func (st *state) adsFor(cols []consign.ObjectID) []*adState {
	lists := make([][]*adState, len(cols))
	n := 0
	for i, c := range cols {
		lists[i] = st.applicable[c]
		n += len(lists[i])
	}
	ads := make([]*adState, 0, n)
	for _, l := range lists {
		ads = append(ads, l...)
	}
	slices.SortFunc(ads, func(a, b *adState) int { return cmp.Compare(a.order, b.order) })
	return slices.Compact(ads)
}

// windows is the union of the maintenance windows of the given types over
// every collection in cols (§1.7, §3.6); has reports whether any of them has
// an enabled window at all.
func (st *state) windows(cols []consign.ObjectID, types []collection.WindowType, from, to time.Time, loc *time.Location) ([]schedule.Span, bool) {
	var all []collection.ServiceWindow
	for _, id := range cols {
		for _, w := range st.colWindows[id] {
			if slices.Contains(types, w.Type) {
				all = append(all, w)
			}
		}
	}
	if len(all) == 0 {
		return nil, false
	}
	return collection.EffectiveWindows(all, types, from, to, loc), true
}

func (st *state) offer(a *adState, rid uint32, df advertisement.DeviceFacts, hist map[pkg.ProgramRef]advertisement.History, now time.Time) Offer {
	ad := a.ad
	o := Offer{Advertisement: ad, Package: a.pkg}
	if cs := a.statuses[rid]; cs.hasStatus() {
		o.Status = &cs.ClientStatus
	}
	prog := a.prog
	ref := pkg.ProgramRef{PackageID: ad.PackageID, Program: ad.ProgramName}
	if prog == nil {
		o.Problem = "program " + ref.String() + " does not exist"
		o.Decision = advertisement.Offer{State: advertisement.Rejected, Reason: o.Problem}
		return o
	}
	o.Program = prog
	o.Decision = advertisement.Decide(ad, prog, df, hist[ref], now)
	if prog.Dependency == nil {
		return o
	}
	order, err := pkg.RunOrder(ref, func(r pkg.ProgramRef) (*pkg.Program, bool) {
		p, ok := st.programs[r]
		return p, ok
	}, func(r pkg.ProgramRef) bool { return hist[r].Ran && hist[r].Succeeded })
	if err != nil {
		// A program whose "run another program first" chain is broken
		// cannot run (§1.3).
		o.Problem = err.Error()
		o.Decision = advertisement.Offer{State: advertisement.Rejected, Reason: "dependency: " + o.Problem}
		return o
	}
	for _, r := range order[:len(order)-1] {
		o.RunFirst = append(o.RunFirst, st.programs[r])
	}
	return o
}

// DeviceOS derives the platform facts program requirements are checked
// against (SMS_OS_Details, §1.3) from a device's discovery and inventory
// data, as a Site does for its policy and a device agent does for its own
// decisions: the Windows NT version from SMS_G_System_OPERATING_SYSTEM.Version
// (or the "…NT Workstation 6.1" suffix of OperatingSystemNameandVersion),
// and I386/x64/IA64 from SMS_G_System_COMPUTER_SYSTEM.SystemType.
func DeviceOS(d *collection.Device) pkg.OSInfo {
	var version, systemType string
	if rows := d.Inventory["SMS_G_System_OPERATING_SYSTEM"]; len(rows) > 0 {
		version, _ = rows[0]["Version"].(string)
	}
	if rows := d.Inventory["SMS_G_System_COMPUTER_SYSTEM"]; len(rows) > 0 {
		systemType, _ = rows[0]["SystemType"].(string)
	}
	return osInfo(d.OperatingSystemNameandVersion, version, systemType)
}

// osInfo is DeviceOS from the three values it reads: the device's
// OperatingSystemNameandVersion, SMS_G_System_OPERATING_SYSTEM.Version and
// SMS_G_System_COMPUTER_SYSTEM.SystemType ("" when absent).
func osInfo(name, version, systemType string) pkg.OSInfo {
	info := pkg.OSInfo{Platform: "I386"}
	if strings.Contains(strings.ToLower(name), "windows nt") || strings.Contains(strings.ToLower(name), "microsoft windows") {
		info.Name = "Win NT"
	}
	if i := strings.LastIndexByte(name, ' '); i >= 0 {
		if v, err := pkg.ParseFileVersion(name[i+1:]); err == nil {
			info.Version = v
		}
	}
	if v, err := pkg.ParseFileVersion(version); version != "" && err == nil {
		info.Version = v
	}
	switch ls := strings.ToLower(systemType); {
	case strings.HasPrefix(ls, "x64"):
		info.Platform = "x64"
	case strings.HasPrefix(ls, "itanium"), strings.HasPrefix(ls, "ia64"):
		info.Platform = "IA64"
	}
	return info
}
