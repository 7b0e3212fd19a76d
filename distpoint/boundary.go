package distpoint

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/consign/consign"
)

// BoundaryType is the kind of network location a boundary names (§1.5). The
// values are ConfigMgr's SMS_Boundary.BoundaryType ([CB] numbering, which
// the 2007 console's four types map onto).
type BoundaryType int

// The boundary types of §1.5.
const (
	// IPSubnet is an IPv4 subnet: network address + subnet mask → subnet ID.
	IPSubnet BoundaryType = 0
	// ADSite is an Active Directory site, named by its site name.
	ADSite BoundaryType = 1
	// IPv6Prefix is an IPv6 network prefix.
	IPv6Prefix BoundaryType = 2
	// IPRange is an inclusive range of IPv4 addresses (originally meant for
	// VPN clients; expensive in ConfigMgr's SQL, §1.5, §5.2 item 1).
	IPRange BoundaryType = 3
)

// String returns the console name of the type.
func (t BoundaryType) String() string {
	switch t {
	case IPSubnet:
		return "IP subnet"
	case ADSite:
		return "Active Directory site"
	case IPv6Prefix:
		return "IPv6 prefix"
	case IPRange:
		return "IP address range"
	}
	return fmt.Sprintf("BoundaryType(%d)", int(t))
}

// Speed is a boundary's network connection setting (§1.5). The values are
// the 2007-era BoundaryFlags: 0 FAST, 1 SLOW. The zero value, Fast, is the
// console's default.
type Speed int

// The two network connection settings of §1.5.
const (
	// Fast is "Fast (LAN)": DPs are local to clients in the boundary.
	Fast Speed = 0
	// Slow is "Slow or unreliable": DPs are remote to clients in the boundary.
	Slow Speed = 1
)

// String returns the console text for the speed.
func (s Speed) String() string {
	switch s {
	case Fast:
		return "Fast (LAN)"
	case Slow:
		return "Slow or unreliable"
	}
	return fmt.Sprintf("Speed(%d)", int(s))
}

// maxADSiteName is the longest Active Directory site name (§1.5).
const maxADSiteName = 63

// Boundary is a network location assigned to one site (§1.5). It drives
// content location: a client's current boundary decides whether DPs are
// local or remote, and which protected DPs it may use (§3.3).
//
// Which field holds the location depends on Type: Prefix for IPSubnet and
// IPv6Prefix, Site for ADSite, RangeStart and RangeEnd for IPRange. The
// fields of other types must be left zero (Validate says so).
type Boundary struct {
	// Name identifies the boundary within the site; protected DPs list
	// their boundaries by Name (DistributionPoint.Boundaries).
	Name string
	// Type is the kind of location.
	Type BoundaryType
	// Prefix is the network of an IPSubnet (IPv4, e.g. 10.1.2.0/24: the
	// subnet ID with its mask) or an IPv6Prefix boundary. Host bits may be
	// set, as when an administrator types a host address and a mask; the
	// boundary is the masked network (SubnetID).
	Prefix netip.Prefix
	// Site is the Active Directory site name of an ADSite boundary (at most
	// 63 characters, compared case-insensitively as AD does).
	Site string
	// RangeStart and RangeEnd bound an IPRange boundary, both inclusive
	// (IPv4; IPv6 networks use IPv6Prefix).
	RangeStart, RangeEnd netip.Addr
	// SiteCode is the site that owns the boundary.
	SiteCode consign.SiteCode
	// Speed is the network connection setting.
	Speed Speed
	// Description is free text.
	Description string
}

// SubnetID returns the masked network of an IPSubnet or IPv6Prefix boundary
// (ConfigMgr's subnet ID: network address AND subnet mask, §1.5), or the
// zero Prefix for other types or an invalid Prefix.
func (b Boundary) SubnetID() netip.Prefix {
	if (b.Type != IPSubnet && b.Type != IPv6Prefix) || !b.Prefix.IsValid() {
		return netip.Prefix{}
	}
	return b.Prefix.Masked()
}

// Validate checks the boundary and reports every problem at once, each as a
// *consign.ValidationError with a field path such as "Boundary.Prefix".
func (b Boundary) Validate() error {
	var p consign.Problems
	p.Check(strings.TrimSpace(b.Name) != "", "Boundary.Name", "required")
	if err := b.SiteCode.Validate(); err != nil {
		p.AddValue("Boundary.SiteCode", string(b.SiteCode), "three letters or digits")
	}
	p.Check(b.Speed == Fast || b.Speed == Slow, "Boundary.Speed", "Fast or Slow")
	prefixOK := func(want4 bool) {
		switch {
		case !b.Prefix.IsValid():
			p.Add("Boundary.Prefix", "required for an "+b.Type.String()+" boundary")
		case want4 && !b.Prefix.Addr().Is4():
			p.AddValue("Boundary.Prefix", b.Prefix, "an IPv4 network and mask (IPv6 networks are IPv6 prefix boundaries)")
		case !want4 && (!b.Prefix.Addr().Is6() || b.Prefix.Addr().Is4In6()):
			p.AddValue("Boundary.Prefix", b.Prefix, "an IPv6 prefix")
		}
	}
	zero := func(ok bool, field string) {
		p.Check(ok, "Boundary."+field, "must be empty for an "+b.Type.String()+" boundary")
	}
	switch b.Type {
	case IPSubnet, IPv6Prefix:
		prefixOK(b.Type == IPSubnet)
		zero(b.Site == "", "Site")
		zero(!b.RangeStart.IsValid(), "RangeStart")
		zero(!b.RangeEnd.IsValid(), "RangeEnd")
	case ADSite:
		switch {
		case strings.TrimSpace(b.Site) == "":
			p.Add("Boundary.Site", "required for an Active Directory site boundary")
		case len(b.Site) > maxADSiteName:
			p.AddValue("Boundary.Site", b.Site, "at most 63 characters")
		}
		zero(!b.Prefix.IsValid(), "Prefix")
		zero(!b.RangeStart.IsValid(), "RangeStart")
		zero(!b.RangeEnd.IsValid(), "RangeEnd")
	case IPRange:
		for _, f := range []struct {
			name string
			a    netip.Addr
		}{{"RangeStart", b.RangeStart}, {"RangeEnd", b.RangeEnd}} {
			switch {
			case !f.a.IsValid():
				p.Add("Boundary."+f.name, "required for an IP address range boundary")
			case !f.a.Unmap().Is4():
				p.AddValue("Boundary."+f.name, f.a, "an IPv4 address")
			}
		}
		if s, e := b.RangeStart.Unmap(), b.RangeEnd.Unmap(); s.Is4() && e.Is4() && e.Less(s) {
			p.AddValue("Boundary.RangeEnd", b.RangeEnd, "not before RangeStart "+s.String())
		}
		zero(!b.Prefix.IsValid(), "Prefix")
		zero(b.Site == "", "Site")
	default:
		p.AddValue("Boundary.Type", int(b.Type), "IPSubnet, ADSite, IPv6Prefix or IPRange")
	}
	return p.Err()
}

// Client is a device's network position, as content location sees it
// (§3.3). It is what ConfigMgr's discovery and the content location request
// carry: System Resource IPAddresses, IPSubnets and ADSiteName.
type Client struct {
	// Addresses are the device's IP addresses (IPv4 and IPv6; IPv4-mapped
	// IPv6 addresses are treated as IPv4). An IP subnet, IPv6 prefix or IP
	// range boundary contains the client when one of them is inside it.
	Addresses []netip.Addr
	// Subnets are the device's subnets, each its subnet ID with its mask
	// (ConfigMgr's IPSubnets discovery data, computed on the device from
	// address AND mask). ConfigMgr matches an IP subnet boundary by equal
	// subnet ID; Contains also accepts that, so a client known only by its
	// IPSubnets still matches. Locate uses Subnets for the "same subnet"
	// tier: a DP whose Address is in one of them (§3.3 step 6).
	Subnets []netip.Prefix
	// ADSite is the device's Active Directory site name (ADSiteName).
	ADSite string
}

// Contains reports whether the client is inside the boundary (§1.5):
//   - IPSubnet: one of the client's IPv4 addresses is in the masked Prefix,
//     or one of its Subnets has the boundary's subnet ID and mask.
//     Real ConfigMgr 2007 compares subnet IDs only, so a 10.0.0.0/16
//     boundary does not hold a client on 10.0.1.0/24 there; Consign uses
//     containment, which agrees whenever the masks agree.
//   - IPv6Prefix: one of the client's IPv6 addresses is in the Prefix.
//   - IPRange: one of the client's IPv4 addresses is in
//     [RangeStart, RangeEnd], both ends included.
//   - ADSite: the client's AD site equals Site, case-insensitively.
//
// A boundary whose location fields are missing or of the wrong family
// contains no client.
func (b Boundary) Contains(c Client) bool {
	switch b.Type {
	case IPSubnet, IPv6Prefix:
		want4 := b.Type == IPSubnet
		if !b.Prefix.IsValid() || b.Prefix.Addr().Is4() != want4 || b.Prefix.Addr().Is4In6() {
			return false
		}
		network := b.Prefix.Masked()
		for _, a := range c.Addresses {
			if a = a.Unmap(); a.Is4() == want4 && network.Contains(a) {
				return true
			}
		}
		for _, s := range c.Subnets {
			if s.IsValid() && unmapPrefix(s).Masked() == network {
				return true
			}
		}
	case IPRange:
		start, end := b.RangeStart.Unmap(), b.RangeEnd.Unmap()
		if !start.Is4() || !end.Is4() {
			return false
		}
		for _, a := range c.Addresses {
			if a = a.Unmap(); a.Is4() && start.Compare(a) <= 0 && a.Compare(end) <= 0 {
				return true
			}
		}
	case ADSite:
		return b.Site != "" && strings.EqualFold(b.Site, c.ADSite)
	}
	return false
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix into the IPv4 prefix.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() {
		return p
	}
	bits := p.Bits() - 96
	if bits < 0 {
		bits = 0
	}
	return netip.PrefixFrom(p.Addr().Unmap(), bits)
}

// CurrentBoundary returns the client's current boundary among bs, the one
// that decides locality and protected-DP use in content location (§1.5,
// §3.3), and false when the client is inside none of them.
//
// ConfigMgr says overlapping boundaries make assignment and content location
// "unpredictable" (§1.5) and does not document which boundary wins
// [UNVERIFIED]. Consign chooses deterministically, the most specific first:
//  1. IP subnet or IPv6 prefix boundaries, fewest host bits first (for one
//     family: the longest prefix);
//  2. then IP address ranges, smallest span first;
//  3. then Active Directory site boundaries;
//
// and among equals the smallest Name, then the earliest in bs.
func CurrentBoundary(c Client, bs []Boundary) (Boundary, bool) {
	best := -1
	for i, b := range bs {
		if !b.Contains(c) {
			continue
		}
		if best < 0 || specificity(b, bs[best]) < 0 {
			best = i
		}
	}
	if best < 0 {
		return Boundary{}, false
	}
	return bs[best], true
}

// specificity orders boundaries that contain a client, most specific
// (negative) first; see CurrentBoundary. Both must contain some client, so
// their location fields are valid.
func specificity(a, b Boundary) int {
	rank := func(b Boundary) int {
		switch b.Type {
		case IPSubnet, IPv6Prefix:
			return 0
		case IPRange:
			return 1
		}
		return 2
	}
	// span is the number of addresses (as a log for prefixes, an exact count
	// for IPv4 ranges); only compared within one rank.
	span := func(b Boundary) uint64 {
		switch b.Type {
		case IPSubnet, IPv6Prefix:
			return uint64(b.Prefix.Addr().BitLen() - b.Prefix.Bits())
		case IPRange:
			s, e := b.RangeStart.Unmap().As4(), b.RangeEnd.Unmap().As4()
			return uint64(be32(e)) - uint64(be32(s))
		}
		return 0
	}
	return cmp.Or(
		cmp.Compare(rank(a), rank(b)),
		cmp.Compare(span(a), span(b)),
		strings.Compare(a.Name, b.Name),
	)
}

func be32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

// ParseIPv6Prefix parses an IPv6 prefix as the ConfigMgr console shows it,
// four hexadecimal groups in full form such as "00AA:0000:0000:00BB" (the
// top 64 bits, §1.5), or in CIDR form such as "2001:db8:aa::/48".
func ParseIPv6Prefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
			return netip.Prefix{}, &consign.ValidationError{Field: "Boundary.Prefix", Value: s, Rule: "an IPv6 prefix"}
		}
		return p, nil
	}
	groups := strings.Split(s, ":")
	var a [16]byte
	ok := len(groups) == 4
	for i, g := range groups {
		if !ok {
			break
		}
		v, err := strconv.ParseUint(g, 16, 16)
		if err != nil || g == "" {
			ok = false
			break
		}
		a[2*i], a[2*i+1] = byte(v>>8), byte(v)
	}
	if !ok {
		return netip.Prefix{}, &consign.ValidationError{Field: "Boundary.Prefix", Value: s,
			Rule: "four hexadecimal groups such as 00AA:0000:0000:00BB, or CIDR form"}
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), 64), nil
}

// ValidateReferences checks what ties DPs, DP groups and boundaries together
// (§1.4, §1.5) and reports every problem at once: boundary names and DP NAL
// paths are unique, every boundary a DP lists exists (a protected DP's
// protected boundaries), and group names are unique and every group member
// is one of dps. It does not repeat each object's own Validate.
func ValidateReferences(dps []DistributionPoint, groups []Group, bs []Boundary) error {
	var p consign.Problems
	names := make(map[string]bool, len(bs))
	for i, b := range bs {
		if names[b.Name] {
			p.AddValue(fmt.Sprintf("Boundary[%d].Name", i), b.Name, "unique among the site's boundaries")
		}
		names[b.Name] = true
	}
	nals := make(map[string]bool, len(dps))
	for i, dp := range dps {
		if nals[dp.NALPath] {
			p.AddValue(fmt.Sprintf("DistributionPoint[%d].NALPath", i), dp.NALPath, "unique among the site's DPs")
		}
		nals[dp.NALPath] = true
		for j, bn := range dp.Boundaries {
			if !names[bn] {
				p.AddValue(fmt.Sprintf("DistributionPoint[%d].Boundaries[%d]", i, j), bn, "must name an existing boundary")
			}
		}
	}
	gnames := make(map[string]bool, len(groups))
	for i, g := range groups {
		switch {
		case strings.TrimSpace(g.Name) == "":
			p.Add(fmt.Sprintf("Group[%d].Name", i), "required")
		case gnames[g.Name]:
			p.AddValue(fmt.Sprintf("Group[%d].Name", i), g.Name, "unique among the site's DP groups")
		}
		gnames[g.Name] = true
		for j, m := range g.Members {
			if !nals[m] {
				p.AddValue(fmt.Sprintf("Group[%d].Members[%d]", i, j), m, "must be the NAL path of an existing DP")
			}
		}
	}
	return p.Err()
}

// ExpandGroups resolves a wizard selection (§1.4 "Select Group" ticks every
// member): the NAL paths in dps, then the members of each group in groups,
// each path once, in first-seen order.
func ExpandGroups(dps []string, groups []Group) []string {
	out := make([]string, 0, len(dps))
	seen := make(map[string]bool, len(dps))
	add := func(nal string) {
		if !seen[nal] {
			seen[nal] = true
			out = append(out, nal)
		}
	}
	for _, nal := range dps {
		add(nal)
	}
	for _, g := range groups {
		for _, nal := range g.Members {
			add(nal)
		}
	}
	return slices.Clip(out)
}
