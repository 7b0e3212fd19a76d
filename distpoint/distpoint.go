package distpoint

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/consign/consign"
)

// Kind is a DP variant (§1.4).
type Kind int

// The DP variants of ConfigMgr 2007.
const (
	// Standard is a DP role on a Windows server; content over SMB.
	Standard Kind = iota + 1
	// ServerShare is a DP on a share rather than a whole server.
	ServerShare
	// Branch is a DP on a ConfigMgr client computer that pulls content
	// from a BITS-enabled standard DP.
	Branch
)

// String returns the variant's name.
func (k Kind) String() string {
	switch k {
	case Standard:
		return "Standard"
	case ServerShare:
		return "ServerShare"
	case Branch:
		return "Branch"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// DistributionPoint is one DP role (SMS_DistributionPointInfo).
type DistributionPoint struct {
	// NALPath identifies the DP; an opaque key such as
	// `["Display=\\DP1\"]MSWNET:["SMS_SITE=CEN"]\\DP1\` (§1.1).
	NALPath string
	// Name is the server name shown to administrators.
	Name     string
	SiteCode consign.SiteCode
	Kind     Kind
	// BITSEnabled: clients may download over BITS/HTTP(S).
	BITSEnabled bool
	// Protected: only clients inside Boundaries may use it (§1.4, §3.3).
	Protected  bool
	Boundaries []string
	// Address is the DP server's IP address, if known. Content location
	// (Locate, §3.3 step 6) puts a DP whose address is in one of the
	// client's subnets in the first tier. The zero Addr means unknown.
	Address netip.Addr
	// ADSite is the Active Directory site the DP server is in, if known.
	// Locate puts a DP in the client's AD site (compared case-insensitively)
	// in the second tier (§3.3 step 6).
	ADSite string
}

// Validate checks the DP's fields.
func (dp *DistributionPoint) Validate() error {
	var p consign.Problems
	p.Check(strings.TrimSpace(dp.NALPath) != "", "DistributionPoint.NALPath", "required")
	p.Check(dp.Name != "", "DistributionPoint.Name", "required")
	if err := dp.SiteCode.Validate(); err != nil {
		p.AddValue("DistributionPoint.SiteCode", string(dp.SiteCode), "three letters or digits")
	}
	p.Check(dp.Kind >= Standard && dp.Kind <= Branch, "DistributionPoint.Kind", "Standard, ServerShare or Branch")
	p.Check(!(dp.Kind == Branch && dp.SiteCode == ""), "DistributionPoint.SiteCode", "a branch DP belongs to a site")
	p.Check(!dp.Protected || len(dp.Boundaries) > 0, "DistributionPoint.Boundaries", "a protected DP needs at least one boundary")
	return p.Err()
}

// Group is a named set of DPs: a selection shortcut in the wizards with no
// content or status of its own (§1.4).
type Group struct {
	Name    string
	Members []string // NAL paths
}

// ProtectedFallbackAfter is how long a protected DP may be offline before
// content location treats it as lacking the content, so that clients inside
// its boundaries fall back to unprotected DPs when the advertisement allows
// it (§3.3 step 4, §5.1 "Protected-DP fallback trigger").
const ProtectedFallbackAfter = 8 * time.Hour

// Availability is whether a DP is reachable, as the site last saw it: the
// site-status side of a DP role, which content location consults for
// protected DPs (§3.3 step 4).
type Availability struct {
	NALPath string
	// Online is false when the site could not reach the DP.
	Online bool
	// Since is when the DP went offline or came back.
	Since time.Time
}

// OfflineLongerThan reports whether the DP has been offline for more than d
// at now.
func (a Availability) OfflineLongerThan(d time.Duration, now time.Time) bool {
	return !a.Online && now.Sub(a.Since) > d
}
