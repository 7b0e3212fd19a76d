package distpoint

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign"
)

const pkgID consign.ObjectID = "CEN00012"

// A site for the §3.3 table: a protected lab, a fast office, a slow branch.
func locateFixture() ([]Boundary, []DistributionPoint) {
	bs := []Boundary{
		subnet("Office", "10.1.0.0/24", Fast),
		subnet("Lab", "10.2.0.0/24", Fast),
		subnet("Branch", "10.3.0.0/24", Slow),
	}
	dps := []DistributionPoint{
		{NALPath: "dpLab", Name: "LAB01", Protected: true, Boundaries: []string{"Lab"}, BITSEnabled: true, Address: netip.MustParseAddr("10.2.0.9")},
		{NALPath: "dpE", Name: "E", ADSite: "Paris"},
		{NALPath: "dpD", Name: "D", BITSEnabled: true},
		{NALPath: "dpC", Name: "C"},
		{NALPath: "dpB", Name: "B", ADSite: "HQ"},
		{NALPath: "dpA", Name: "A", BITSEnabled: true, Address: netip.MustParseAddr("10.1.0.5"), ADSite: "HQ"},
	}
	return bs, dps
}

func installed(v uint32, nals ...string) []PackageStatus {
	var out []PackageStatus
	for _, n := range nals {
		out = append(out, PackageStatus{PackageID: pkgID, NALPath: n, State: Installed, SourceVersion: v, TargetVersion: v})
	}
	return out
}

func inOffice() Client {
	return Client{Addresses: addrs("10.1.0.77"), Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}, ADSite: "hq"}
}

func TestLocateTable(t *testing.T) {
	bs, dps := locateFixture()
	all := []string{"dpLab", "dpA", "dpB", "dpC", "dpD", "dpE"}
	lab := Client{Addresses: addrs("10.2.0.50")}
	branch := Client{Addresses: addrs("10.3.0.50"), ADSite: "hq"}
	outside := Client{Addresses: addrs("192.168.1.1"), ADSite: "HQ"}
	tests := []struct {
		name     string
		edit     func(*LocateRequest)
		want     []string // NAL paths in order
		local    bool
		action   Action
		inReason string
	}{
		{"office: tiers then BITS then NAL path", func(r *LocateRequest) {}, []string{"dpA", "dpB", "dpD", "dpC", "dpE"}, true, Download, "Fast (LAN)"},
		{"office, run from local DP", func(r *LocateRequest) { r.Fast = FastRunFromDP }, []string{"dpA", "dpB", "dpD", "dpC", "dpE"}, true, RunFromDP, ""},
		{"protected boundary with content: only protected", func(r *LocateRequest) { r.Client = lab; r.AllowFallback = true }, []string{"dpLab"}, true, Download, "protected"},
		{"protected DP lacks content, no fallback: wait", func(r *LocateRequest) {
			r.Client = lab
			r.Status = installed(2, "dpA", "dpB", "dpC", "dpD", "dpE")
		}, nil, false, Wait, "does not allow fallback"},
		{"protected DP has an old version, fallback: unprotected", func(r *LocateRequest) {
			r.Client = lab
			r.AllowFallback = true
			r.Status = append(installed(2, "dpA", "dpB", "dpC", "dpD", "dpE"), installed(1, "dpLab")...)
		}, []string{"dpA", "dpD", "dpB", "dpC", "dpE"}, true, Download, "falling back"},
		{"protected DP and unprotected all lack content, fallback: wait", func(r *LocateRequest) {
			r.Client = lab
			r.AllowFallback = true
			r.Status = installed(1, all...)
		}, nil, false, Wait, "no usable DP"},
		{"protected DP not usable from the office", func(r *LocateRequest) { r.Status = installed(2, "dpLab") }, nil, false, Wait, "no usable DP"},
		{"slow boundary: remote, do not run (default)", func(r *LocateRequest) { r.Client = branch }, []string{"dpA", "dpB", "dpD", "dpC", "dpE"}, false, DoNotRun, "Slow"},
		{"slow boundary: remote, download", func(r *LocateRequest) { r.Client = branch; r.Slow = SlowDownload }, []string{"dpA", "dpB", "dpD", "dpC", "dpE"}, false, Download, "remote"},
		{"slow boundary: remote, run from DP", func(r *LocateRequest) { r.Client = branch; r.Slow = SlowRunFromDP; r.Fast = FastDownload }, []string{"dpA", "dpB", "dpD", "dpC", "dpE"}, false, RunFromDP, ""},
		{"outside every boundary: remote", func(r *LocateRequest) { r.Client = outside; r.Slow = SlowDownload }, []string{"dpA", "dpB", "dpD", "dpC", "dpE"}, false, Download, "outside every boundary"},
		{"old version on a DP: excluded", func(r *LocateRequest) {
			r.Status = append(installed(2, "dpB", "dpC", "dpD", "dpE"), installed(1, "dpA")...)
		}, []string{"dpB", "dpD", "dpC", "dpE"}, true, Download, ""},
		{"refresh in progress: excluded", func(r *LocateRequest) {
			r.Status = append(installed(2, "dpB"), PackageStatus{PackageID: pkgID, NALPath: "dpA", State: InstallPending, SourceVersion: 2, TargetVersion: 2})
		}, []string{"dpB"}, true, Download, ""},
		{"conflicting rows for a DP: excluded", func(r *LocateRequest) {
			r.Status = append(installed(2, "dpA", "dpB"), PackageStatus{PackageID: pkgID, NALPath: "dpA", State: RemovalPending, SourceVersion: 2})
		}, []string{"dpB"}, true, Download, ""},
		{"another package's rows do not count", func(r *LocateRequest) {
			r.Status = []PackageStatus{{PackageID: "CEN00013", NALPath: "dpA", State: Installed, SourceVersion: 2}}
		}, nil, false, Wait, ""},
		{"no rows at all: wait", func(r *LocateRequest) { r.Status = nil }, nil, false, Wait, "waiting for content"},
		{"a DP listed twice counts once", func(r *LocateRequest) { r.DPs = append(r.DPs, r.DPs[5]) }, []string{"dpA", "dpB", "dpD", "dpC", "dpE"}, true, Download, ""},
		{"undefined fast choice: do not run", func(r *LocateRequest) { r.Fast = 2 }, []string{"dpA", "dpB", "dpD", "dpC", "dpE"}, true, DoNotRun, ""},
		{"protected DP offline 7 hours: still the only answer", func(r *LocateRequest) {
			r.Client = lab
			r.AllowFallback = true
			r.Availability = []Availability{{NALPath: "dpLab", Since: at.Add(-7 * time.Hour)}}
		}, []string{"dpLab"}, true, Download, "protected"},
		{"protected DP offline 9 hours, fallback: unprotected", func(r *LocateRequest) {
			r.Client = lab
			r.AllowFallback = true
			r.Availability = []Availability{{NALPath: "dpLab", Since: at.Add(-9 * time.Hour)}}
		}, []string{"dpA", "dpD", "dpB", "dpC", "dpE"}, true, Download, "8 hours"},
		{"protected DP offline 9 hours, no fallback: wait", func(r *LocateRequest) {
			r.Client = lab
			r.Availability = []Availability{{NALPath: "dpLab", Since: at.Add(-9 * time.Hour)}}
		}, nil, false, Wait, "does not allow fallback"},
		{"protected DP back online after 9 hours: protected again", func(r *LocateRequest) {
			r.Client = lab
			r.Availability = []Availability{{NALPath: "dpLab", Online: true, Since: at.Add(-9 * time.Hour)}}
		}, []string{"dpLab"}, true, Download, "protected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := LocateRequest{Client: inOffice(), PackageID: pkgID, Version: 2, DPs: slices.Clone(dps), Status: installed(2, all...), Boundaries: bs, Now: at}
			tt.edit(&req)
			res := Locate(req)
			var got []string
			for _, l := range res.Locations {
				got = append(got, l.DP.NALPath)
				if l.Local != tt.local {
					t.Errorf("%s: Local = %v, want %v", l.DP.NALPath, l.Local, tt.local)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("locations = %v, want %v", got, tt.want)
			}
			if res.Action != tt.action {
				t.Errorf("action = %v, want %v", res.Action, tt.action)
			}
			if !strings.Contains(res.Reason, tt.inReason) {
				t.Errorf("reason %q does not mention %q", res.Reason, tt.inReason)
			}
		})
	}
}

func TestLocateTiers(t *testing.T) {
	bs, dps := locateFixture()
	res := Locate(LocateRequest{Client: inOffice(), PackageID: pkgID, Version: 2, DPs: dps, Status: installed(2, "dpA", "dpB", "dpE"), Boundaries: bs})
	want := map[string]Tier{"dpA": SameSubnet, "dpB": SameADSite, "dpE": Elsewhere}
	for _, l := range res.Locations {
		if l.Tier != want[l.DP.NALPath] {
			t.Errorf("%s: tier %v, want %v", l.DP.NALPath, l.Tier, want[l.DP.NALPath])
		}
	}
}

// genLocateRequest draws a small site where clients, boundaries, DPs and
// rows often meet.
func genLocateRequest() *rapid.Generator[LocateRequest] {
	return rapid.Custom(func(t *rapid.T) LocateRequest {
		req := LocateRequest{
			Client:        genClient().Draw(t, "client"),
			PackageID:     pkgID,
			Version:       uint32(rapid.IntRange(1, 2).Draw(t, "version")),
			Boundaries:    rapid.SliceOfN(genBoundary(), 0, 6).Draw(t, "boundaries"),
			AllowFallback: rapid.Bool().Draw(t, "fallback"),
			Fast:          FastChoice(rapid.IntRange(0, 1).Draw(t, "fast")),
			Slow:          SlowChoice(rapid.IntRange(0, 2).Draw(t, "slow")),
			Now:           at,
			// DistributeOnDemand: whether the package distributes on demand.
			DistributeOnDemand: rapid.Bool().Draw(t, "ondemand"),
		}
		if rapid.Bool().Draw(t, "alsoServed") {
			// The other package's rows then count too (software updates).
			req.AlsoServedBy = []PackageVersion{{PackageID: "CEN00099", Version: uint32(rapid.IntRange(0, 3).Draw(t, "otherVersion"))}}
		}
		n := rapid.IntRange(0, 7).Draw(t, "dps")
		for i := range n {
			dp := DistributionPoint{
				NALPath:     fmt.Sprintf("dp%d", i),
				Protected:   rapid.Bool().Draw(t, "protected"),
				BITSEnabled: rapid.Bool().Draw(t, "bits"),
				ADSite:      rapid.SampledFrom(genSiteNames).Draw(t, "dpsite"),
				Kind:        rapid.SampledFrom([]Kind{Standard, ServerShare, Branch}).Draw(t, "kind"),
			}
			if rapid.IntRange(0, 2).Draw(t, "availability") == 0 {
				// Offline for 0 to 16 hours, or back online.
				req.Availability = append(req.Availability, Availability{NALPath: dp.NALPath, Online: rapid.Bool().Draw(t, "online"),
					Since: at.Add(-time.Duration(rapid.IntRange(0, 16*60).Draw(t, "offlineMinutes")) * time.Minute)})
			}
			if rapid.Bool().Draw(t, "hasAddr") {
				dp.Address = genV4().Draw(t, "dpaddr")
			}
			if dp.Protected {
				dp.Boundaries = rapid.SliceOfNDistinct(rapid.SampledFrom(genNames), 1, 3, rapid.ID[string]).Draw(t, "dpbounds")
			}
			req.DPs = append(req.DPs, dp)
			for range rapid.IntRange(0, 2).Draw(t, "rows") {
				pid := pkgID
				if rapid.IntRange(0, 5).Draw(t, "otherpkg") == 0 {
					pid = "CEN00099"
				}
				row := PackageStatus{PackageID: pid, NALPath: dp.NALPath, State: Installed, SourceVersion: req.Version}
				if rapid.IntRange(0, 3).Draw(t, "odd") == 0 { // mostly usable rows
					row.State = State(rapid.IntRange(0, 6).Draw(t, "state"))
					row.SourceVersion = uint32(rapid.IntRange(0, 3).Draw(t, "sv"))
				}
				req.Status = append(req.Status, row)
			}
		}
		return req
	})
}

// hasVersion is the brute-force model of "the DP has the content": it has
// rows for the package and each is Installed at exactly the version.
func hasVersion(req LocateRequest, nal string) bool {
	holds := func(id consign.ObjectID, v uint32) bool {
		rows := 0
		for _, s := range req.Status {
			if s.PackageID == id && s.NALPath == nal {
				rows++
				if s.State != Installed || s.SourceVersion != v {
					return false
				}
			}
		}
		return rows > 0
	}
	if holds(req.PackageID, req.Version) {
		return true
	}
	for _, pv := range req.AlsoServedBy {
		if holds(pv.PackageID, pv.Version) {
			return true
		}
	}
	return false
}

func TestLocateProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		req := genLocateRequest().Draw(t, "req")
		res := Locate(req)
		cur, in := CurrentBoundary(req.Client, req.Boundaries)
		// A protected DP serves a client inside any of its boundaries (not
		// only the client's current one).
		contains := func(dp DistributionPoint) bool {
			for _, b := range req.Boundaries {
				if slices.Contains(dp.Boundaries, b.Name) && b.Contains(req.Client) {
					return true
				}
			}
			return false
		}
		// offline8h: the site has seen the DP offline for more than 8 hours.
		offline8h := func(nal string) bool {
			for _, a := range req.Availability {
				if a.NALPath == nal && !a.Online && req.Now.Sub(a.Since) > 8*time.Hour {
					return true
				}
			}
			return false
		}
		insideProtected := false
		var model, modelOnDemand []string
		for _, dp := range req.DPs {
			if dp.Protected && contains(dp) {
				insideProtected = true
				if hasVersion(req, dp.NALPath) && !offline8h(dp.NALPath) {
					model = append(model, dp.NALPath)
				}
				if req.DistributeOnDemand && dp.Kind == Branch && !slices.ContainsFunc(req.Status, func(s PackageStatus) bool {
					return s.PackageID == req.PackageID && s.NALPath == dp.NALPath
				}) {
					modelOnDemand = append(modelOnDemand, dp.NALPath)
				}
			}
		}
		slices.Sort(modelOnDemand)
		if !slices.Equal(res.OnDemand, modelOnDemand) {
			t.Fatalf("OnDemand = %v, the model %v", res.OnDemand, modelOnDemand)
		}
		if len(model) == 0 && (!insideProtected || req.AllowFallback) {
			for _, dp := range req.DPs {
				if !dp.Protected && hasVersion(req, dp.NALPath) {
					model = append(model, dp.NALPath)
				}
			}
		}

		var got []string
		for i, l := range res.Locations {
			got = append(got, l.DP.NALPath)
			if !hasVersion(req, l.DP.NALPath) {
				t.Fatalf("%s returned but it lacks version %d", l.DP.NALPath, req.Version)
			}
			if !l.DP.Protected && insideProtected && !req.AllowFallback {
				t.Fatalf("unprotected %s returned to a client inside a protected boundary without fallback", l.DP.NALPath)
			}
			if l.DP.Protected && offline8h(l.DP.NALPath) {
				t.Fatalf("protected %s returned though offline for more than 8 hours", l.DP.NALPath)
			}
			if l.DP.Protected && !contains(l.DP) {
				t.Fatalf("protected %s returned to a client outside its boundaries %v", l.DP.NALPath, l.DP.Boundaries)
			}
			if l.Local != (in && cur.Speed == Fast) {
				t.Fatalf("%s: Local = %v with current boundary %+v (found %v)", l.DP.NALPath, l.Local, cur, in)
			}
			if want := modelTier(req.Client, l.DP); l.Tier != want {
				t.Fatalf("%s: tier %v, want %v", l.DP.NALPath, l.Tier, want)
			}
			if i == 0 {
				continue
			}
			p := res.Locations[i-1]
			switch {
			case p.Local != l.Local:
				if !p.Local {
					t.Fatalf("remote %s before local %s", p.DP.NALPath, l.DP.NALPath)
				}
			case p.Tier != l.Tier:
				if p.Tier > l.Tier {
					t.Fatalf("%s (%v) before %s (%v)", p.DP.NALPath, p.Tier, l.DP.NALPath, l.Tier)
				}
			case p.DP.BITSEnabled != l.DP.BITSEnabled:
				if !p.DP.BITSEnabled {
					t.Fatalf("non-BITS %s before BITS %s in one tier", p.DP.NALPath, l.DP.NALPath)
				}
			case p.DP.NALPath >= l.DP.NALPath:
				t.Fatalf("ties not ordered by NAL path: %s before %s", p.DP.NALPath, l.DP.NALPath)
			}
		}
		slices.Sort(got)
		slices.Sort(model)
		if !slices.Equal(got, model) {
			t.Fatalf("Locate returned %v, the model %v", got, model)
		}

		if (res.Action == Wait) != (len(res.Locations) == 0) {
			t.Fatalf("action %v with %d locations", res.Action, len(res.Locations))
		}
		if len(res.Locations) > 0 {
			var want Action
			if res.Locations[0].Local {
				want = [...]Action{Download, RunFromDP}[req.Fast]
			} else {
				want = [...]Action{DoNotRun, Download, RunFromDP}[req.Slow]
			}
			if res.Action != want {
				t.Fatalf("action %v, want %v (local %v, fast %d, slow %d)", res.Action, want, res.Locations[0].Local, req.Fast, req.Slow)
			}
		}
		if res.Reason == "" {
			t.Fatal("no reason")
		}
	})
}

// modelTier restates §3.3 step 6 independently of tierOf.
func modelTier(c Client, dp DistributionPoint) Tier {
	for _, s := range c.Subnets {
		if dp.Address.IsValid() && s.Masked().Contains(dp.Address) {
			return SameSubnet
		}
	}
	if dp.ADSite != "" && strings.ToLower(dp.ADSite) == strings.ToLower(c.ADSite) {
		return SameADSite
	}
	return Elsewhere
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{Download: "Download", RunFromDP: "RunFromDP", DoNotRun: "DoNotRun", Wait: "Wait", 0: "Action(0)"} {
		if a.String() != want {
			t.Errorf("%d: %q, want %q", int(a), a.String(), want)
		}
	}
	for tr, want := range map[Tier]string{SameSubnet: "same subnet", SameADSite: "same AD site", Elsewhere: "elsewhere", 9: "Tier(9)"} {
		if tr.String() != want {
			t.Errorf("%d: %q, want %q", int(tr), tr.String(), want)
		}
	}
}

// A client inside a protected DP's boundary gets only protected DPs even
// when a more specific boundary (here a subnet) is its current one.
func TestLocateProtectionUsesEveryBoundary(t *testing.T) {
	req := LocateRequest{
		Client:    Client{Addresses: []netip.Addr{netip.MustParseAddr("10.1.2.3")}, ADSite: "Branch"},
		PackageID: "CEN00001", Version: 1,
		DPs: []DistributionPoint{
			{NALPath: "P", Protected: true, Boundaries: []string{"Branch site"}},
			{NALPath: "U"},
		},
		Status: []PackageStatus{{PackageID: "CEN00001", NALPath: "U", State: Installed, SourceVersion: 1}},
		Boundaries: []Boundary{
			{Name: "Branch site", Type: ADSite, Site: "Branch"},
			{Name: "Branch LAN", Type: IPSubnet, Prefix: netip.MustParsePrefix("10.1.0.0/16")},
		},
	}
	if r := Locate(req); r.Action != Wait || len(r.Locations) != 0 {
		t.Errorf("protected DP lacks the content, no fallback: %v %v, want Wait", r.Action, r.Locations)
	}
	req.AllowFallback = true
	if r := Locate(req); len(r.Locations) != 1 || r.Locations[0].DP.NALPath != "U" {
		t.Errorf("with fallback: %v, want U", r.Locations)
	}
}

// A protected branch DP with on-demand distribution (§1.4, §3.3 step 4): the
// first request from inside its boundaries asks for the package; once the
// branch DP has a row it is not asked for again, and once installed it is
// the answer.
func TestLocateOnDemandBranchDP(t *testing.T) {
	bs, dps := locateFixture()
	branch := DistributionPoint{NALPath: "bdp", Name: "BRANCH01", Kind: Branch, Protected: true, Boundaries: []string{"Lab"}}
	dps = append(dps, branch)
	lab := Client{Addresses: addrs("10.2.0.50")}
	req := LocateRequest{Client: lab, PackageID: pkgID, Version: 2, DPs: dps, Status: installed(2, "dpA"), Boundaries: bs,
		Now: at, DistributeOnDemand: true}

	res := Locate(req)
	if !slices.Equal(res.OnDemand, []string{"bdp"}) || res.Action != Wait {
		t.Fatalf("first request: OnDemand %v, action %v (%s); want [bdp], Wait", res.OnDemand, res.Action, res.Reason)
	}
	if !strings.Contains(res.Reason, "on-demand") {
		t.Errorf("reason %q does not mention on-demand", res.Reason)
	}

	off := req
	off.DistributeOnDemand = false
	if res := Locate(off); len(res.OnDemand) != 0 {
		t.Errorf("without DISTRIBUTE_ON_DEMAND: OnDemand %v", res.OnDemand)
	}

	pending := req
	pending.Status = append(slices.Clone(req.Status), PackageStatus{PackageID: pkgID, NALPath: "bdp", State: InstallPending, TargetVersion: 2})
	if res := Locate(pending); len(res.OnDemand) != 0 || res.Action != Wait {
		t.Errorf("while provisioning: OnDemand %v, action %v; want none, Wait", res.OnDemand, res.Action)
	}

	done := req
	done.Status = append(slices.Clone(req.Status), installed(2, "bdp")...)
	res = Locate(done)
	if len(res.OnDemand) != 0 || len(res.Locations) != 1 || res.Locations[0].DP.NALPath != "bdp" {
		t.Errorf("after provisioning: %+v", res)
	}

	outside := req
	outside.Client = inOffice()
	if res := Locate(outside); len(res.OnDemand) != 0 {
		t.Errorf("a client outside the branch DP's boundaries asked for it: %v", res.OnDemand)
	}
}
