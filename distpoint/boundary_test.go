package distpoint

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/consign/consign"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func subnet(name, cidr string, speed Speed) Boundary {
	return Boundary{Name: name, Type: IPSubnet, Prefix: netip.MustParsePrefix(cidr), SiteCode: "CEN", Speed: speed}
}

func TestBoundaryContains(t *testing.T) {
	r := func(name, start, end string) Boundary {
		return Boundary{Name: name, Type: IPRange, RangeStart: netip.MustParseAddr(start), RangeEnd: netip.MustParseAddr(end), SiteCode: "CEN"}
	}
	v6 := Boundary{Name: "v6", Type: IPv6Prefix, Prefix: netip.MustParsePrefix("2001:db8:aa:bb::/64"), SiteCode: "CEN"}
	ad := Boundary{Name: "ad", Type: ADSite, Site: "London-HQ", SiteCode: "CEN"}
	tests := []struct {
		name string
		b    Boundary
		c    Client
		want bool
	}{
		{"subnet /24 inside", subnet("s", "10.1.2.0/24", Fast), Client{Addresses: addrs("10.1.2.200")}, true},
		{"subnet /24 outside", subnet("s", "10.1.2.0/24", Fast), Client{Addresses: addrs("10.1.3.1")}, false},
		{"subnet host bits masked", subnet("s", "10.1.2.77/24", Fast), Client{Addresses: addrs("10.1.2.1")}, true},
		{"subnet /22 mask math", subnet("s", "10.1.4.0/22", Fast), Client{Addresses: addrs("10.1.7.255")}, true},
		{"subnet /22 just outside", subnet("s", "10.1.4.0/22", Fast), Client{Addresses: addrs("10.1.8.0")}, false},
		{"subnet /27", subnet("s", "192.168.0.32/27", Fast), Client{Addresses: addrs("192.168.0.63")}, true},
		{"subnet /27 next block", subnet("s", "192.168.0.32/27", Fast), Client{Addresses: addrs("192.168.0.64")}, false},
		{"subnet second address", subnet("s", "10.1.2.0/24", Fast), Client{Addresses: addrs("172.16.0.1", "10.1.2.3")}, true},
		{"subnet 4in6 address", subnet("s", "10.1.2.0/24", Fast), Client{Addresses: addrs("::ffff:10.1.2.3")}, true},
		{"subnet by IPSubnets ID", subnet("s", "10.1.2.0/24", Fast), Client{Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}}, true},
		{"subnet by IPSubnets other ID", subnet("s", "10.1.2.0/24", Fast), Client{Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}, false},
		{"subnet ignores v6 address", subnet("s", "0.0.0.0/0", Fast), Client{Addresses: addrs("2001:db8::1")}, false},
		{"subnet no prefix", Boundary{Name: "s", Type: IPSubnet}, Client{Addresses: addrs("10.0.0.1")}, false},
		{"v6 inside", v6, Client{Addresses: addrs("2001:db8:aa:bb::1234")}, true},
		{"v6 outside", v6, Client{Addresses: addrs("2001:db8:aa:bc::1")}, false},
		{"v6 ignores v4", Boundary{Name: "v6", Type: IPv6Prefix, Prefix: netip.MustParsePrefix("::/0")}, Client{Addresses: addrs("10.0.0.1")}, false},
		{"range start inclusive", r("r", "10.0.0.10", "10.0.0.20"), Client{Addresses: addrs("10.0.0.10")}, true},
		{"range end inclusive", r("r", "10.0.0.10", "10.0.0.20"), Client{Addresses: addrs("10.0.0.20")}, true},
		{"range below", r("r", "10.0.0.10", "10.0.0.20"), Client{Addresses: addrs("10.0.0.9")}, false},
		{"range above", r("r", "10.0.0.10", "10.0.0.20"), Client{Addresses: addrs("10.0.0.21")}, false},
		{"range across octets", r("r", "10.0.0.250", "10.0.1.5"), Client{Addresses: addrs("10.0.1.0")}, true},
		{"range single address", r("r", "10.0.0.10", "10.0.0.10"), Client{Addresses: addrs("10.0.0.10")}, true},
		{"ad site same case", ad, Client{ADSite: "London-HQ"}, true},
		{"ad site other case", ad, Client{ADSite: "LONDON-hq"}, true},
		{"ad site other", ad, Client{ADSite: "Paris"}, false},
		{"ad site client has none", ad, Client{}, false},
		{"empty ad site never matches", Boundary{Type: ADSite}, Client{}, false},
		{"no addresses", subnet("s", "10.1.2.0/24", Fast), Client{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Contains(tt.c); got != tt.want {
				t.Errorf("%+v.Contains(%+v) = %v, want %v", tt.b, tt.c, got, tt.want)
			}
		})
	}
}

func TestBoundaryValidate(t *testing.T) {
	good := []Boundary{
		subnet("Office", "10.1.2.0/24", Fast),
		{Name: "v6", Type: IPv6Prefix, Prefix: netip.MustParsePrefix("2001:db8::/64"), SiteCode: "CEN", Speed: Slow},
		{Name: "vpn", Type: IPRange, RangeStart: netip.MustParseAddr("10.9.0.1"), RangeEnd: netip.MustParseAddr("10.9.0.254"), SiteCode: "CEN"},
		{Name: "ad", Type: ADSite, Site: strings.Repeat("s", 63), SiteCode: "CEN", Description: "HQ"},
	}
	for _, b := range good {
		if err := b.Validate(); err != nil {
			t.Errorf("%s: %v", b.Name, err)
		}
	}
	tests := []struct {
		name   string
		b      Boundary
		fields []string
	}{
		{"empty", Boundary{}, []string{"Boundary.Name", "Boundary.SiteCode", "Boundary.Prefix"}},
		{"bad type", Boundary{Name: "x", Type: 7, SiteCode: "CEN"}, []string{"Boundary.Type"}},
		{"bad speed", Boundary{Name: "x", Type: ADSite, Site: "a", SiteCode: "CEN", Speed: 5}, []string{"Boundary.Speed"}},
		{"v6 in subnet", Boundary{Name: "x", Type: IPSubnet, Prefix: netip.MustParsePrefix("2001:db8::/64"), SiteCode: "CEN"}, []string{"Boundary.Prefix"}},
		{"v4 in v6 prefix", Boundary{Name: "x", Type: IPv6Prefix, Prefix: netip.MustParsePrefix("10.0.0.0/8"), SiteCode: "CEN"}, []string{"Boundary.Prefix"}},
		{"long AD site", Boundary{Name: "x", Type: ADSite, Site: strings.Repeat("s", 64), SiteCode: "CEN"}, []string{"Boundary.Site"}},
		{"AD site missing, stray prefix", Boundary{Name: "x", Type: ADSite, Prefix: netip.MustParsePrefix("10.0.0.0/8"), SiteCode: "CEN"}, []string{"Boundary.Site", "Boundary.Prefix"}},
		{"range reversed", Boundary{Name: "x", Type: IPRange, RangeStart: netip.MustParseAddr("10.0.0.9"), RangeEnd: netip.MustParseAddr("10.0.0.1"), SiteCode: "CEN"}, []string{"Boundary.RangeEnd"}},
		{"range missing end, v6 start", Boundary{Name: "x", Type: IPRange, RangeStart: netip.MustParseAddr("::1"), SiteCode: "CEN"}, []string{"Boundary.RangeStart", "Boundary.RangeEnd"}},
		{"subnet with stray site", Boundary{Name: "x", Type: IPSubnet, Prefix: netip.MustParsePrefix("10.0.0.0/8"), Site: "a", SiteCode: "CEN"}, []string{"Boundary.Site"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemFields(tt.b.Validate())
			if !slices.Equal(got, tt.fields) {
				t.Errorf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
}

// problemFields lists the field of every ValidationError in err, in order.
func problemFields(err error) []string {
	if err == nil {
		return nil
	}
	if !errors.Is(err, consign.ErrInvalid) {
		return []string{"not ErrInvalid: " + err.Error()}
	}
	var errs []error
	if m, ok := err.(interface{ WrappedErrors() []error }); ok {
		errs = m.WrappedErrors()
	} else {
		errs = []error{err}
	}
	var out []string
	for _, e := range errs {
		var ve *consign.ValidationError
		if errors.As(e, &ve) {
			out = append(out, ve.Field)
		}
	}
	return out
}

func TestCurrentBoundary(t *testing.T) {
	wide := subnet("wide", "10.0.0.0/8", Slow)
	narrow := subnet("narrow", "10.1.2.0/24", Fast)
	rng := Boundary{Name: "range", Type: IPRange, RangeStart: netip.MustParseAddr("10.1.2.0"), RangeEnd: netip.MustParseAddr("10.1.2.9"), SiteCode: "CEN"}
	bigRange := Boundary{Name: "big", Type: IPRange, RangeStart: netip.MustParseAddr("10.1.0.0"), RangeEnd: netip.MustParseAddr("10.1.255.255"), SiteCode: "CEN"}
	ad := Boundary{Name: "ad", Type: ADSite, Site: "HQ", SiteCode: "CEN"}
	v6 := Boundary{Name: "v6", Type: IPv6Prefix, Prefix: netip.MustParsePrefix("2001:db8::/64"), SiteCode: "CEN"}
	v6112 := Boundary{Name: "v6-112", Type: IPv6Prefix, Prefix: netip.MustParsePrefix("2001:db8::/112"), SiteCode: "CEN"}
	c := Client{Addresses: addrs("10.1.2.5", "2001:db8::5"), ADSite: "hq"}
	tests := []struct {
		name string
		bs   []Boundary
		want string
	}{
		{"longest prefix", []Boundary{wide, narrow, ad}, "narrow"},
		{"order does not matter", []Boundary{ad, narrow, wide}, "narrow"},
		{"prefix before range", []Boundary{rng, wide}, "wide"},
		{"smallest range", []Boundary{bigRange, rng, ad}, "range"},
		{"range before AD site", []Boundary{ad, bigRange}, "big"},
		{"AD site alone", []Boundary{ad}, "ad"},
		{"v4 /24 (8 host bits) before v6 /64", []Boundary{v6, narrow}, "narrow"},
		{"v4 /8 (24 host bits) before v6 /64", []Boundary{v6, wide}, "wide"},
		{"v6 /112 (16 host bits) before v4 /8", []Boundary{wide, v6112}, "v6-112"},
		{"equal: smallest name", []Boundary{subnet("b", "10.1.2.0/24", Fast), subnet("a", "10.1.2.0/24", Slow)}, "a"},
		{"none", []Boundary{subnet("x", "192.168.0.0/16", Fast)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := CurrentBoundary(c, tt.bs)
			if ok != (tt.want != "") || b.Name != tt.want {
				t.Errorf("CurrentBoundary = %q, %v; want %q", b.Name, ok, tt.want)
			}
		})
	}
}

// The current boundary contains the client, no other containing boundary
// is more specific, and the answer does not depend on the input order.
func TestCurrentBoundaryProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bs := rapid.SliceOfN(genBoundary(), 0, 8).Draw(t, "boundaries")
		c := genClient().Draw(t, "client")
		b, ok := CurrentBoundary(c, bs)
		some := slices.ContainsFunc(bs, func(b Boundary) bool { return b.Contains(c) })
		if ok != some {
			t.Fatalf("found %v, but some boundary contains the client: %v", ok, some)
		}
		if !ok {
			return
		}
		if !b.Contains(c) {
			t.Fatalf("current boundary %+v does not contain the client", b)
		}
		for _, o := range bs {
			if o.Contains(c) && specificity(o, b) < 0 {
				t.Fatalf("%+v is more specific than the chosen %+v", o, b)
			}
		}
		perm := rapid.Permutation(bs).Draw(t, "perm")
		b2, _ := CurrentBoundary(c, perm)
		if specificity(b, b2) != 0 || b.Name != b2.Name {
			t.Fatalf("order-dependent: %+v vs %+v", b, b2)
		}
	})
}

func TestParseIPv6Prefix(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"00AA:0000:0000:00BB", "aa:0:0:bb::/64"},
		{"2001:0db8:0001:0002", "2001:db8:1:2::/64"},
		{" 2001:db8:aa::/48 ", "2001:db8:aa::/48"},
		{"2001:db8", ""},
		{"2001:db8:1:2:3", ""},
		{"zzzz:0:0:0", ""},
		{"10.0.0.0/8", ""},
		{"1:2::3:4", ""},
	}
	for _, tt := range tests {
		p, err := ParseIPv6Prefix(tt.in)
		if tt.want == "" {
			if err == nil || !errors.Is(err, consign.ErrInvalid) {
				t.Errorf("ParseIPv6Prefix(%q) = %v, %v; want ErrInvalid", tt.in, p, err)
			}
			continue
		}
		if err != nil || p != netip.MustParsePrefix(tt.want) {
			t.Errorf("ParseIPv6Prefix(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
}

func TestExpandGroups(t *testing.T) {
	groups := []Group{{Name: "East", Members: []string{"dp3", "dp1"}}, {Name: "All", Members: []string{"dp1", "dp2", "dp3", "dp4"}}}
	got := ExpandGroups([]string{"dp2", "dp2"}, groups)
	if want := []string{"dp2", "dp3", "dp1", "dp4"}; !slices.Equal(got, want) {
		t.Errorf("ExpandGroups = %v, want %v", got, want)
	}
	if got := ExpandGroups(nil, nil); len(got) != 0 {
		t.Errorf("ExpandGroups(nil, nil) = %v", got)
	}
}

func TestValidateReferences(t *testing.T) {
	bs := []Boundary{subnet("A", "10.0.0.0/24", Fast), subnet("B", "10.0.1.0/24", Fast)}
	dps := []DistributionPoint{
		{NALPath: "dp1", Protected: true, Boundaries: []string{"A", "B"}},
		{NALPath: "dp2"},
	}
	groups := []Group{{Name: "G", Members: []string{"dp1", "dp2"}}}
	if err := ValidateReferences(dps, groups, bs); err != nil {
		t.Fatalf("valid references: %v", err)
	}
	badBs := append(slices.Clone(bs), subnet("A", "10.0.2.0/24", Fast))
	badDPs := append(slices.Clone(dps),
		DistributionPoint{NALPath: "dp1"},
		DistributionPoint{NALPath: "dp3", Protected: true, Boundaries: []string{"A", "Nowhere"}})
	badGroups := []Group{{Name: "G", Members: []string{"dp1"}}, {Name: "G", Members: []string{"dp9"}}, {Name: " "}}
	got := problemFields(ValidateReferences(badDPs, badGroups, badBs))
	want := []string{
		"Boundary[2].Name",
		"DistributionPoint[2].NALPath",
		"DistributionPoint[3].Boundaries[1]",
		"Group[1].Name", "Group[1].Members[0]",
		"Group[2].Name",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
}

// Generators shared with locate_test.go: a small world so that random
// clients, boundaries and DPs often meet.

var (
	genSiteNames = []string{"HQ", "hq", "Branch", ""}
	genNames     = []string{"B0", "B1", "B2", "B3", "B4", "B5"}
)

func genV4() *rapid.Generator[netip.Addr] {
	return rapid.Custom(func(t *rapid.T) netip.Addr {
		return netip.AddrFrom4([4]byte{10, 0, rapid.ByteRange(0, 3).Draw(t, "c"), rapid.ByteRange(0, 15).Draw(t, "d")})
	})
}

func genBoundary() *rapid.Generator[Boundary] {
	return rapid.Custom(func(t *rapid.T) Boundary {
		b := Boundary{
			Name:     rapid.SampledFrom(genNames).Draw(t, "name"),
			Type:     BoundaryType(rapid.IntRange(0, 3).Draw(t, "type")),
			SiteCode: "CEN",
			Speed:    Speed(rapid.IntRange(0, 1).Draw(t, "speed")),
		}
		switch b.Type {
		case IPSubnet:
			b.Prefix = netip.PrefixFrom(genV4().Draw(t, "addr"), rapid.IntRange(20, 32).Draw(t, "bits"))
		case IPv6Prefix:
			b.Prefix = netip.PrefixFrom(netip.MustParseAddr("2001:db8::"), rapid.IntRange(32, 64).Draw(t, "bits"))
		case IPRange:
			s, e := genV4().Draw(t, "start"), genV4().Draw(t, "end")
			if e.Less(s) {
				s, e = e, s
			}
			b.RangeStart, b.RangeEnd = s, e
		case ADSite:
			b.Site = rapid.SampledFrom(genSiteNames[:3]).Draw(t, "site")
		}
		return b
	})
}

func genClient() *rapid.Generator[Client] {
	return rapid.Custom(func(t *rapid.T) Client {
		c := Client{
			Addresses: rapid.SliceOfN(genV4(), 0, 2).Draw(t, "addrs"),
			ADSite:    rapid.SampledFrom(genSiteNames).Draw(t, "adsite"),
		}
		if rapid.Bool().Draw(t, "v6") {
			c.Addresses = append(c.Addresses, netip.MustParseAddr("2001:db8::7"))
		}
		for _, a := range c.Addresses {
			if a.Is4() && rapid.Bool().Draw(t, "hasSubnet") {
				p, _ := a.Prefix(24)
				c.Subnets = append(c.Subnets, p)
			}
		}
		return c
	})
}
