package distpoint

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
)

// FastChoice is what an advertisement tells a client with a local (fast
// boundary) DP to do with the content (§1.9 RemoteClientFlags, §3.3 step 7).
// distpoint does not import advertisement: callers map an advertisement's
// choices (including a task sequence's download on demand, which locates
// like a download) explicitly, as delivery does.
type FastChoice int

// Fast-boundary choices; the zero value is ConfigMgr's default.
const (
	// FastDownload is RemoteClientFlags 0x10 DOWNLOAD_FROM_LOCAL_DISPPOINT:
	// download content from the DP and run locally (the default).
	FastDownload FastChoice = iota
	// FastRunFromDP is RemoteClientFlags 0x08 RUN_FROM_LOCAL_DISPPOINT: run
	// the program from the DP share.
	FastRunFromDP
)

// SlowChoice is what an advertisement tells a client with only remote (slow
// boundary, or no boundary) DPs to do (§1.9 RemoteClientFlags, §3.3 step 7).
// Callers map an advertisement's choice explicitly, as for FastChoice.
type SlowChoice int

// Slow-boundary choices; the zero value is ConfigMgr's default.
const (
	// SlowDoNotRun is RemoteClientFlags 0x20 DONT_RUN_NO_LOCAL_DISPPOINT:
	// do not run the program (the default).
	SlowDoNotRun SlowChoice = iota
	// SlowDownload is RemoteClientFlags 0x40 DOWNLOAD_FROM_REMOTE_DISPPOINT:
	// download content and run locally.
	SlowDownload
	// SlowRunFromDP is RemoteClientFlags 0x80 RUN_FROM_REMOTE_DISPPOINT: run
	// the program from the DP share.
	SlowRunFromDP
)

// Action is what the client does after content location (§3.3 steps 7–8,
// §3.4).
type Action int

// The outcomes of content location.
const (
	// Download: copy the content into the client cache, verify its hash,
	// and run locally (§3.4).
	Download Action = iota + 1
	// RunFromDP: run the program from the DP share; no cache, no hash check
	// (§3.4).
	RunFromDP
	// DoNotRun: a DP was found but the advertisement does not allow using
	// it from here (remote DP with "Do not run program").
	DoNotRun
	// Wait: no usable DP; the client reports that it is waiting for content
	// and retries content location later (§3.3 step 8; the retry interval is
	// [UNVERIFIED] and is the caller's concern).
	Wait
)

// String returns the action's name.
func (a Action) String() string {
	switch a {
	case Download:
		return "Download"
	case RunFromDP:
		return "RunFromDP"
	case DoNotRun:
		return "DoNotRun"
	case Wait:
		return "Wait"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Tier is how close a DP is to the client on the network, the order in
// which the client tries DPs (§3.3 step 6).
type Tier int

// The client's DP ordering tiers, nearest first.
const (
	// SameSubnet: the DP's Address is in one of the client's Subnets.
	SameSubnet Tier = iota
	// SameADSite: the DP's ADSite is the client's AD site.
	SameADSite
	// Elsewhere: neither, or the DP's position is unknown.
	Elsewhere
)

// String returns the tier's name.
func (t Tier) String() string {
	switch t {
	case SameSubnet:
		return "same subnet"
	case SameADSite:
		return "same AD site"
	case Elsewhere:
		return "elsewhere"
	}
	return fmt.Sprintf("Tier(%d)", int(t))
}

// LocateRequest is a content location request (§3.3) with everything the
// answer depends on.
type LocateRequest struct {
	// Client is the device's network position.
	Client Client
	// PackageID and Version identify the content: the package and the
	// SourceVersion the policy asks for (§3.3 step 2).
	PackageID consign.ObjectID
	Version   uint32
	// DPs are the DPs to search: the client's current site's, then its
	// assigned site's (§3.3 step 3 — choosing them is the caller's job).
	// A DP's Protected flag and Boundaries (boundary names) apply.
	DPs []DistributionPoint
	// Status holds package-on-DP rows (§4.1). A DP qualifies only when it
	// has a row for PackageID and every such row is Installed with
	// SourceVersion == Version; "installed but old" does not qualify.
	Status []PackageStatus
	// Boundaries are the site's boundaries; the client's current boundary is
	// chosen among them by CurrentBoundary.
	Boundaries []Boundary
	// AllowFallback lets a client inside a protected boundary use
	// unprotected DPs when no protected DP there has the content: the
	// inverse of AdvertFlags 0x00020000 DONOT_FALLBACK (for software
	// updates, of DP_NO_FALLBACK_UNPROTECTED), §1.9, §3.3 step 4.
	AllowFallback bool
	// Fast and Slow are the advertisement's RemoteClientFlags choices for a
	// local and a remote DP (§1.9, §3.3 step 7).
	Fast FastChoice
	Slow SlowChoice
	// Now is when the request is answered; Availability is the site's
	// knowledge of which DPs are offline and since when (a DP not listed is
	// online). A protected DP offline for more than ProtectedFallbackAfter
	// counts as lacking the content (§3.3 step 4).
	Now          time.Time
	Availability []Availability
	// AlsoServedBy lists further package versions any of which holds the
	// same content, so a DP holding any of them qualifies too. Software
	// updates are located this way: a client installs an update from any
	// deployment package holding it (§1.14, §3.3 step 2).
	AlsoServedBy []PackageVersion
	// DistributeOnDemand is the package's PkgFlags DISTRIBUTE_ON_DEMAND:
	// a request from inside a protected branch DP's boundaries asks for the
	// package to be added to that branch DP (§1.4, §3.3 step 4).
	DistributeOnDemand bool
}

// PackageVersion names one version of a package's content.
type PackageVersion struct {
	PackageID consign.ObjectID
	Version   uint32
}

// Location is one DP the client may use, as returned by content location.
type Location struct {
	// DP is the distribution point to try.
	DP DistributionPoint
	// Local is true when the client's current boundary is Fast (LAN):
	// local DPs get the Fast choice, remote DPs the Slow one (§3.3 step 5).
	Local bool
	// Tier is the DP's closeness to the client (§3.3 step 6).
	Tier Tier
	// Share is the DP's package share for the version, from its status
	// row: where a client told to run from the DP runs the program (§3.4).
	// "" when the DP's library lays out no tree.
	Share string
}

// LocateResult is the answer to a content location request.
type LocateResult struct {
	// Locations are the DPs to try, in order. Empty when Action is Wait.
	Locations []Location
	// Action is what the client does with the first location.
	Action Action
	// Reason explains the answer in a sentence, for logs and status.
	Reason string
	// OnDemand lists the protected branch DPs (NAL paths) the package
	// should now be added to because this client asked for it from inside
	// their boundaries and the package distributes on demand. The client
	// gets them in a later request, once they are provisioned (§3.3 step 4).
	OnDemand []string
}

// Locate answers a content location request (§3.3), purely from its
// inputs:
//
//  1. A DP is usable only when its package rows say Installed at exactly
//     req.Version, or at the version of one of req.AlsoServedBy (§3.3
//     step 2).
//  2. The client's current boundary is CurrentBoundary(req.Client,
//     req.Boundaries). A protected DP is usable only by clients whose
//     current boundary is one of its Boundaries (§1.4).
//  3. If usable protected DPs have the content, only they are returned
//     (§3.3 step 4). A protected DP offline for more than
//     ProtectedFallbackAfter at req.Now does not count as having it.
//  4. Otherwise, if the current boundary is a protected boundary (listed by
//     any protected DP in req.DPs), unprotected DPs are returned only when
//     req.AllowFallback; else the list is empty and the client waits.
//  5. Otherwise the unprotected DPs with the content are returned.
//
// Every location is local when the current boundary is Fast and remote when
// it is Slow or the client is outside every boundary (§3.3 step 5). Consign
// applies the same rule to protected DPs and to fallback DPs; ConfigMgr's
// tagging of those is [UNVERIFIED].
//
// Locations are ordered local before remote, then by Tier, then
// BITS-enabled DPs first (§3.3 step 6), then by NALPath. The real client
// picks at random inside a tier; Locate stays deterministic so a caller that
// wants to spread load shuffles DPs of equal Local, Tier and BITSEnabled.
//
// The action follows the first location (§3.3 step 7): local → req.Fast
// (Download or RunFromDP), remote → req.Slow (DoNotRun, Download or
// RunFromDP); a choice outside the defined constants gives DoNotRun. No
// location gives Wait (§3.3 step 8).
//
// With req.DistributeOnDemand, every protected branch DP whose boundaries
// hold the client and that has no row at all for the package is listed in
// OnDemand; the answer itself follows the rules above (a branch DP still
// being provisioned has no content yet).
//
// Only protected DPs are checked for availability: a client told of an
// offline unprotected DP tries the next location, as ConfigMgr's MP does not
// filter them either [UNVERIFIED]. Not modelled: proxy MPs and roaming, and
// Internet-based clients (§3.3 steps 1, 5). DPs with the same NALPath count
// once (the first).
func Locate(req LocateRequest) LocateResult {
	served := qualified(req)
	cur, inBoundary := CurrentBoundary(req.Client, req.Boundaries)
	local := inBoundary && cur.Speed == Fast

	// Protection is decided by every boundary the client is in, not only
	// the current one: a client inside a protected DP's boundary gets only
	// protected DPs however its other boundaries overlap (§1.4).
	containing := map[string]bool{}
	for _, b := range req.Boundaries {
		if b.Contains(req.Client) {
			containing[b.Name] = true
		}
	}
	offline := map[string]bool{}
	for _, a := range req.Availability {
		if a.OfflineLongerThan(ProtectedFallbackAfter, req.Now) {
			offline[a.NALPath] = true
		}
	}
	hasRow := map[string]bool{}
	for _, s := range req.Status {
		if s.PackageID == req.PackageID {
			hasRow[s.NALPath] = true
		}
	}
	var onDemand []string
	var protected, unprotected []DistributionPoint
	inProtected := false // the client is inside some protected DP's boundary
	seen := make(map[string]bool, len(req.DPs))
	for _, dp := range req.DPs {
		if seen[dp.NALPath] {
			continue
		}
		seen[dp.NALPath] = true
		_, ok := served[dp.NALPath]
		if !dp.Protected {
			if ok {
				unprotected = append(unprotected, dp)
			}
			continue
		}
		if !slices.ContainsFunc(dp.Boundaries, func(name string) bool { return containing[name] }) {
			continue
		}
		inProtected = true
		if ok && !offline[dp.NALPath] {
			protected = append(protected, dp)
		}
		if req.DistributeOnDemand && dp.Kind == Branch && !hasRow[dp.NALPath] {
			onDemand = append(onDemand, dp.NALPath)
		}
	}
	slices.Sort(onDemand)

	var chosen []DistributionPoint
	var why string
	switch {
	case len(protected) > 0:
		chosen, why = protected, "protected DPs for the client's boundaries"
	case inProtected && !req.AllowFallback:
		why = "no protected DP for the client's boundaries has the content (or is online within the last 8 hours) and the advertisement does not allow fallback"
	case inProtected:
		chosen, why = unprotected, "no protected DP for the client's boundaries has the content (or is online within the last 8 hours); falling back to unprotected DPs"
	case inBoundary:
		chosen, why = unprotected, "unprotected DPs; current boundary "+cur.Name+" is "+cur.Speed.String()
	default:
		chosen, why = unprotected, "unprotected DPs; the client is outside every boundary"
	}

	res := LocateResult{Locations: make([]Location, 0, len(chosen)), OnDemand: onDemand}
	if len(onDemand) > 0 {
		why += "; on-demand distribution requested to " + strings.Join(onDemand, ", ")
	}
	for _, dp := range chosen {
		res.Locations = append(res.Locations, Location{DP: dp, Local: local, Tier: tierOf(req.Client, dp), Share: served[dp.NALPath]})
	}
	slices.SortFunc(res.Locations, compareLocations)

	what := fmt.Sprintf("%s version %d", req.PackageID, req.Version)
	if len(res.Locations) == 0 {
		res.Action = Wait
		if inProtected && !req.AllowFallback {
			res.Reason = "waiting for content: " + why
		} else {
			res.Reason = "waiting for content: no usable DP has " + what
		}
		return res
	}
	if res.Locations[0].Local {
		res.Action = fastAction(req.Fast)
		res.Reason = fmt.Sprintf("%s; DPs are local: %s for %s", why, res.Action, what)
	} else {
		res.Action = slowAction(req.Slow)
		res.Reason = fmt.Sprintf("%s; DPs are remote: %s for %s", why, res.Action, what)
	}
	return res
}

// qualified returns the NAL paths of DPs that hold the content, with the
// share of the version they hold it in: a DP qualifies for a package
// version when its rows for the package all say Installed at exactly that
// version, and for the request when it qualifies for req.PackageID at
// req.Version or for any of req.AlsoServedBy (the first that does gives the
// share).
func qualified(req LocateRequest) map[string]string {
	served := make(map[string]string)
	for _, pv := range append([]PackageVersion{{req.PackageID, req.Version}}, req.AlsoServedBy...) {
		ok := make(map[string]string)
		bad := make(map[string]bool)
		for _, s := range req.Status {
			if s.PackageID != pv.PackageID {
				continue
			}
			if s.State == Installed && s.SourceVersion == pv.Version {
				ok[s.NALPath] = s.Share
			} else {
				bad[s.NALPath] = true
			}
		}
		for nal, share := range ok {
			if _, done := served[nal]; !done && !bad[nal] {
				served[nal] = share
			}
		}
	}
	return served
}

// tierOf places dp relative to the client (§3.3 step 6).
func tierOf(c Client, dp DistributionPoint) Tier {
	if a := dp.Address.Unmap(); a.IsValid() {
		for _, s := range c.Subnets {
			if s.IsValid() && unmapPrefix(s).Masked().Contains(a) {
				return SameSubnet
			}
		}
	}
	if dp.ADSite != "" && strings.EqualFold(dp.ADSite, c.ADSite) {
		return SameADSite
	}
	return Elsewhere
}

// compareLocations is Locate's order: local first, nearer tier first,
// BITS-enabled first, then by NAL path.
func compareLocations(a, b Location) int {
	return cmp.Or(
		-cmp.Compare(b2i(a.Local), b2i(b.Local)),
		cmp.Compare(a.Tier, b.Tier),
		-cmp.Compare(b2i(a.DP.BITSEnabled), b2i(b.DP.BITSEnabled)),
		strings.Compare(a.DP.NALPath, b.DP.NALPath),
	)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fastAction maps the advertisement's fast-boundary choice to an action.
func fastAction(c FastChoice) Action {
	switch c {
	case FastDownload:
		return Download
	case FastRunFromDP:
		return RunFromDP
	}
	return DoNotRun
}

// slowAction maps the advertisement's slow-boundary choice to an action.
func slowAction(c SlowChoice) Action {
	switch c {
	case SlowDownload:
		return Download
	case SlowRunFromDP:
		return RunFromDP
	}
	return DoNotRun
}
