package distpoint_test

import (
	"fmt"
	"net/netip"

	"github.com/consign/consign/distpoint"
)

// A laptop in the London office asks where to get version 3 of a package.
// The lab's protected DP is not for it; of the two unprotected DPs with
// version 3, the one in its own subnet comes first, and the office boundary
// is fast, so the advertisement's fast choice (download) applies. DP3 still
// has version 2 and is not offered.
func ExampleLocate() {
	boundaries := []distpoint.Boundary{
		{Name: "London", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16"), SiteCode: "CEN", Speed: distpoint.Fast},
		{Name: "Lab", Type: distpoint.ADSite, Site: "London-Lab", SiteCode: "CEN"},
	}
	dps := []distpoint.DistributionPoint{
		{NALPath: `\\DP1\`, Name: "DP1", Kind: distpoint.Standard, ADSite: "London"},
		{NALPath: `\\DP2\`, Name: "DP2", Kind: distpoint.Standard, BITSEnabled: true, Address: netip.MustParseAddr("10.1.4.10")},
		{NALPath: `\\DP3\`, Name: "DP3", Kind: distpoint.Standard, BITSEnabled: true},
		{NALPath: `\\LAB\`, Name: "LAB", Kind: distpoint.Standard, Protected: true, Boundaries: []string{"Lab"}},
	}
	status := []distpoint.PackageStatus{
		{PackageID: "CEN00012", NALPath: `\\DP1\`, State: distpoint.Installed, SourceVersion: 3},
		{PackageID: "CEN00012", NALPath: `\\DP2\`, State: distpoint.Installed, SourceVersion: 3},
		{PackageID: "CEN00012", NALPath: `\\DP3\`, State: distpoint.Installed, SourceVersion: 2},
		{PackageID: "CEN00012", NALPath: `\\LAB\`, State: distpoint.Installed, SourceVersion: 3},
	}
	res := distpoint.Locate(distpoint.LocateRequest{
		Client: distpoint.Client{
			Addresses: []netip.Addr{netip.MustParseAddr("10.1.4.77")},
			Subnets:   []netip.Prefix{netip.MustParsePrefix("10.1.4.0/24")},
			ADSite:    "London",
		},
		PackageID:     "CEN00012",
		Version:       3,
		DPs:           dps,
		Status:        status,
		Boundaries:    boundaries,
		AllowFallback: true,
		Fast:          distpoint.FastDownload,
		Slow:          distpoint.SlowDoNotRun,
	})
	for _, l := range res.Locations {
		fmt.Printf("%s local=%v tier=%s\n", l.DP.Name, l.Local, l.Tier)
	}
	fmt.Println(res.Action)
	fmt.Println(res.Reason)
	// Output:
	// DP2 local=true tier=same subnet
	// DP1 local=true tier=same AD site
	// Download
	// unprotected DPs; current boundary London is Fast (LAN); DPs are local: Download for CEN00012 version 3
}
