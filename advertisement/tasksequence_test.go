package advertisement_test

import (
	"fmt"
	"github.com/consign/consign/tasksequence"
	"slices"
	"strings"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"pgregory.net/rapid"
)

func newTS() *advertisement.Advertisement {
	return advertisement.NewTaskSequence("CEN00020", "Deploy Windows 7", "CEN00005", "CEN00002", at(2009, 3, 2, 0, 0))
}

func TestNewTaskSequence(t *testing.T) {
	a := newTS()
	if a.ProgramName != tasksequence.ProgramName || tasksequence.ProgramName != "*" {
		t.Errorf("ProgramName = %q, want %q", a.ProgramName, "*")
	}
	if !a.IsTaskSequence() || newAd(at(2009, 3, 2, 0, 0)).IsTaskSequence() {
		t.Errorf("IsTaskSequence: TS %v, program %v; want true, false", a.IsTaskSequence(), newAd(at(2009, 3, 2, 0, 0)).IsTaskSequence())
	}
	if a.Fast != advertisement.FastDownloadOnDemand || a.Slow != advertisement.SlowDoNotRun ||
		!a.AllowFallbackToUnprotected || a.ShowProgress || a.AvailableToBootMediaAndPXE ||
		a.Rerun != advertisement.RerunIfFailed || a.Mandatory() || !a.IncludeSubcollections ||
		a.PackageID != "CEN00005" || a.CollectionID != "CEN00002" || a.SourceSite != "CEN" {
		t.Errorf("NewTaskSequence = %+v", a)
	}
	// Download on demand (0x100), remote DP unticked (0x20), rerun if
	// failed (0x2000).
	if got, want := a.RemoteClientFlags(), advertisement.RemoteClientFlags(0x2120); got != want {
		t.Errorf("RemoteClientFlags = %#x, want %#x", got, want)
	}
	// Hidden from Run Advertised Programs as New sets it; fallback allowed
	// (DONOT_FALLBACK clear); no progress, no boot media.
	if got, want := a.AdvertFlags(), advertisement.AdvNoDisplay; got != want {
		t.Errorf("AdvertFlags = %#x, want %#x", got, want)
	}
	if err := a.Validate(nil); err != nil {
		t.Errorf("Validate: %v", err)
	}
	a.ShowProgress, a.AvailableToBootMediaAndPXE, a.Slow = true, true, advertisement.SlowDownloadOnDemand
	if got, want := a.AdvertFlags(), advertisement.AdvNoDisplay|0x00800000|0x00040000; got != want {
		t.Errorf("with progress and PXE: AdvertFlags = %#x, want %#x", got, want)
	}
	if got, want := a.RemoteClientFlags(), advertisement.RemoteClientFlags(0x2300); got != want {
		t.Errorf("with a remote DP: RemoteClientFlags = %#x, want %#x", got, want)
	}
}

// FromFlags reads the task sequence bits into their fields and gives the
// words back exactly.
func TestTaskSequenceFromFlags(t *testing.T) {
	cases := []struct {
		name         string
		af           advertisement.AdvertFlags
		rcf          advertisement.RemoteClientFlags
		fast         advertisement.FastChoice
		slow         advertisement.SlowChoice
		progress     bool
		pxe          bool
		otherRCF     advertisement.RemoteClientFlags
		otherAdvFlag advertisement.AdvertFlags
	}{
		{"on demand, local only", 0x02000000, 0x2120, advertisement.FastDownloadOnDemand, advertisement.SlowDoNotRun, false, false, 0, 0},
		{"on demand, remote too", 0x02800000, 0x2300, advertisement.FastDownloadOnDemand, advertisement.SlowDownloadOnDemand, true, false, 0, 0},
		{"boot media, access directly", 0x00040000, 0x2088, advertisement.FastRunFromDP, advertisement.SlowRunFromDP, false, true, 0, 0},
		{"download all, both TS bits, WinPE", 0x30840000, 0x2050, advertisement.FastDownload, advertisement.SlowDownload, true, true, 0, 0x30000000},
		{"remote on demand alone", 0, 0x0200, advertisement.FastUnspecified, advertisement.SlowDownloadOnDemand, false, false, 0, 0},
		{"on demand and download all", 0, 0x2130, advertisement.FastUnspecified, advertisement.SlowDoNotRun, false, false, 0x110, 0},
		{"both remote on demand and do not run", 0, 0x2320, advertisement.FastDownloadOnDemand, advertisement.SlowUnspecified, false, false, 0x220, 0},
	}
	for _, c := range cases {
		a := newAd(at(2009, 1, 1, 0, 0))
		a.FromFlags(c.af, c.rcf)
		if a.Fast != c.fast || a.Slow != c.slow || a.ShowProgress != c.progress || a.AvailableToBootMediaAndPXE != c.pxe ||
			a.OtherRemoteClientFlags != c.otherRCF || a.OtherAdvertFlags != c.otherAdvFlag {
			t.Errorf("%s: FromFlags(%#x, %#x): Fast %d Slow %d ShowProgress %v PXE %v OtherRCF %#x OtherAF %#x; want %d %d %v %v %#x %#x",
				c.name, c.af, c.rcf, a.Fast, a.Slow, a.ShowProgress, a.AvailableToBootMediaAndPXE, a.OtherRemoteClientFlags, a.OtherAdvertFlags,
				c.fast, c.slow, c.progress, c.pxe, c.otherRCF, c.otherAdvFlag)
		}
		if a.AdvertFlags() != c.af || a.RemoteClientFlags() != c.rcf {
			t.Errorf("%s: round trip gave %#x, %#x; want %#x, %#x", c.name, a.AdvertFlags(), a.RemoteClientFlags(), c.af, c.rcf)
		}
	}
}

// Words built mostly from the content-choice and task sequence bits (which
// rapid.Uint32 rarely combines) round-trip exactly.
func TestTaskSequenceFlagsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		afBits := []advertisement.AdvertFlags{advertisement.AdvShowProgress, advertisement.AdvEnableTSFromCDAndPXE,
			advertisement.AdvNoDisplay, advertisement.AdvImmediate, advertisement.AdvDoNotFallback, advertisement.AdvTargetToWinPE}
		rcfBits := []advertisement.RemoteClientFlags{advertisement.RCFRunFromLocalDP, advertisement.RCFDownloadFromLocalDP,
			advertisement.RCFDownloadOnDemandFromLocalDP, advertisement.RCFDontRunNoLocalDP, advertisement.RCFDownloadFromRemoteDP,
			advertisement.RCFRunFromRemoteDP, advertisement.RCFDownloadOnDemandFromRemoteDP, advertisement.RCFRerunIfFailed}
		var af advertisement.AdvertFlags
		for _, b := range rapid.SliceOfDistinct(rapid.SampledFrom(afBits), rapid.ID).Draw(t, "af") {
			af |= b
		}
		var rcf advertisement.RemoteClientFlags
		for _, b := range rapid.SliceOfDistinct(rapid.SampledFrom(rcfBits), rapid.ID).Draw(t, "rcf") {
			rcf |= b
		}
		a := newTS()
		a.FromFlags(advertisement.AdvertFlags(rapid.Uint32().Draw(t, "priorAF")), advertisement.RemoteClientFlags(rapid.Uint32().Draw(t, "priorRCF")))
		a.FromFlags(af, rcf)
		if got := a.AdvertFlags(); got != af {
			t.Fatalf("AdvertFlags() = %#x, want %#x", got, af)
		}
		if got := a.RemoteClientFlags(); got != rcf {
			t.Fatalf("RemoteClientFlags() = %#x, want %#x", got, rcf)
		}
	})
}

func TestValidateTaskSequence(t *testing.T) {
	ts := func(edit func(a *advertisement.Advertisement)) func() *advertisement.Advertisement {
		return func() *advertisement.Advertisement { a := newTS(); edit(a); return a }
	}
	ad := func(edit func(a *advertisement.Advertisement)) func() *advertisement.Advertisement {
		return func() *advertisement.Advertisement { a := newAd(at(2009, 3, 2, 0, 0)); edit(a); return a }
	}
	words := func(af advertisement.AdvertFlags, rcf advertisement.RemoteClientFlags) func(a *advertisement.Advertisement) {
		return func(a *advertisement.Advertisement) { a.FromFlags(af, rcf) }
	}
	cases := []struct {
		name   string
		ad     func() *advertisement.Advertisement
		prog   *pkg.Program
		fields []string // the fields reported, in order; nil = valid
	}{
		{"wizard defaults", ts(func(*advertisement.Advertisement) {}), nil, nil},
		{"mandatory, ASAP, countdown", ts(func(a *advertisement.Advertisement) { a.ASAP, a.Countdown = true, 15 }), nil, nil},
		{"a program given", ts(func(*advertisement.Advertisement) {}), program(pkg.UserLoggedOn, 120), []string{"Advertisement.ProgramName"}},
		// A task sequence has no program, so the program's logon
		// requirement is not checked.
		{"logoff event, no program", ts(func(a *advertisement.Advertisement) { a.OnLogoff = true }), nil, nil},
		{"logoff event, a program given", ts(func(a *advertisement.Advertisement) { a.OnLogoff = true }), program(pkg.UserLoggedOn, 120),
			[]string{"Advertisement.ProgramName"}},

		// Distribution Points page: one content choice, plus "use a
		// remote distribution point" taking the same choice remotely.
		{"download on demand, remote DP", ts(words(0, 0x2300)), nil, nil},
		{"download all, local only", ts(words(0, 0x2030)), nil, nil},
		{"download all, remote DP", ts(words(0, 0x2050)), nil, nil},
		{"access directly, local only", ts(words(0, 0x2028)), nil, nil},
		{"access directly, remote DP", ts(words(0, 0x2088)), nil, nil},
		{"on demand locally, download all remotely", ts(words(0, 0x2140)), nil, []string{"Advertisement.Slow"}},
		{"on demand locally, access directly remotely", ts(words(0, 0x2180)), nil, []string{"Advertisement.Slow"}},
		{"download all locally, on demand remotely", ts(words(0, 0x2210)), nil, []string{"Advertisement.Slow"}},
		{"access directly locally, download all remotely", ts(words(0, 0x2048)), nil, []string{"Advertisement.Slow"}},
		// No choice bit: the console defaults apply (download all, do not
		// run remotely), as content location reads them.
		{"no choice bits", ts(words(0, 0x2000)), nil, nil},
		{"no fast bit, remote download all", ts(words(0, 0x2040)), nil, nil},
		{"no fast bit, remote on demand", ts(words(0, 0x2200)), nil, []string{"Advertisement.Slow"}},
		{"on demand, no slow bit", ts(words(0, 0x2100)), nil, nil},
		// Contradictions are reported once, as contradictions.
		{"two fast choices", ts(words(0, 0x2130)), nil, []string{"Advertisement.OtherRemoteClientFlags"}},
		{"two slow choices", ts(words(0, 0x2360)), nil, []string{"Advertisement.OtherRemoteClientFlags"}},
		{"fast out of range", ts(func(a *advertisement.Advertisement) { a.Fast = 9 }), nil, []string{"Advertisement.Fast"}},
		{"slow out of range", ts(func(a *advertisement.Advertisement) { a.Slow = -1 }), nil, []string{"Advertisement.Slow"}},

		// Boot media and PXE: not with "download all contents before
		// starting".
		{"boot media, on demand", ts(func(a *advertisement.Advertisement) { a.AvailableToBootMediaAndPXE = true }), nil, nil},
		{"boot media, access directly", ts(words(0x02040000, 0x2088)), nil, nil},
		{"boot media, download all", ts(words(0x02040000, 0x2030)), nil, []string{"Advertisement.Fast"}},
		{"boot media, download all from both", ts(words(0x02040000, 0x2050)), nil, []string{"Advertisement.Fast"}},
		{"boot media, no fast bit", ts(words(0x02040000, 0x2020)), nil, []string{"Advertisement.Fast"}},
		{"boot media, download all, mismatched remote", ts(words(0x00040000, 0x2090)), nil, []string{"Advertisement.Slow", "Advertisement.Fast"}},
		{"show progress", ts(func(a *advertisement.Advertisement) { a.ShowProgress = true }), nil, nil},

		// The task sequence options on a program's advertisement.
		{"program: on demand", ad(func(a *advertisement.Advertisement) { a.Fast = advertisement.FastDownloadOnDemand }), nil,
			[]string{"Advertisement.Fast"}},
		{"program: remote on demand", ad(func(a *advertisement.Advertisement) { a.Slow = advertisement.SlowDownloadOnDemand }), nil,
			[]string{"Advertisement.Slow"}},
		{"program: show progress", ad(func(a *advertisement.Advertisement) { a.ShowProgress = true }), nil,
			[]string{"Advertisement.ShowProgress"}},
		{"program: boot media", ad(func(a *advertisement.Advertisement) { a.AvailableToBootMediaAndPXE = true }), nil,
			[]string{"Advertisement.AvailableToBootMediaAndPXE"}},
		{"program: a task sequence's words", ad(words(0x02840000, 0x2300)), program(pkg.UserLoggedOn, 120),
			[]string{"Advertisement.Fast", "Advertisement.Slow", "Advertisement.ShowProgress", "Advertisement.AvailableToBootMediaAndPXE"}},
		// A program's page has two independent choices.
		{"program: run from DP locally, download remotely", ad(words(0x02000000, 0x2048)), program(pkg.UserLoggedOn, 120), nil},
	}
	for _, c := range cases {
		got := problems(t, c.ad().Validate(c.prog))
		if strings.Join(got, ",") != strings.Join(c.fields, ",") {
			t.Errorf("%s: Validate reported %q, want %q", c.name, got, c.fields)
		}
	}
}

// The task sequence content rules against a brute-force model over the
// words: each group with exactly one bit, on a task sequence or a program's
// advertisement.
func TestValidateTaskSequenceModel(t *testing.T) {
	remote := map[advertisement.RemoteClientFlags]advertisement.RemoteClientFlags{0x08: 0x80, 0x10: 0x40, 0x100: 0x200}
	rapid.Check(t, func(t *rapid.T) {
		fast := rapid.SampledFrom([]advertisement.RemoteClientFlags{0x08, 0x10, 0x100}).Draw(t, "fast")
		slow := rapid.SampledFrom([]advertisement.RemoteClientFlags{0x20, 0x40, 0x80, 0x200}).Draw(t, "slow")
		pxe := rapid.Bool().Draw(t, "pxe")
		progress := rapid.Bool().Draw(t, "progress")
		isTS := rapid.Bool().Draw(t, "ts")
		var af advertisement.AdvertFlags = advertisement.AdvNoDisplay
		if pxe {
			af |= advertisement.AdvEnableTSFromCDAndPXE
		}
		if progress {
			af |= advertisement.AdvShowProgress
		}
		a := newAd(at(2009, 3, 2, 0, 0))
		if isTS {
			a = newTS()
		}
		a.FromFlags(af, advertisement.RCFRerunIfFailed|fast|slow)

		var want []string
		if isTS {
			if slow != 0x20 && slow != remote[fast] {
				want = append(want, "Advertisement.Slow")
			}
			if pxe && fast == 0x10 {
				want = append(want, "Advertisement.Fast")
			}
		} else {
			if fast == 0x100 {
				want = append(want, "Advertisement.Fast")
			}
			if slow == 0x200 {
				want = append(want, "Advertisement.Slow")
			}
			if progress {
				want = append(want, "Advertisement.ShowProgress")
			}
			if pxe {
				want = append(want, "Advertisement.AvailableToBootMediaAndPXE")
			}
		}
		var got []string
		if err := a.Validate(nil); err != nil {
			got = problemFields(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Validate(%#x, %#x) on TS=%v reported %q, want %q", a.AdvertFlags(), a.RemoteClientFlags(), isTS, got, want)
		}
	})
}

// problemFields is problems for a rapid test: the fields of every
// *consign.ValidationError in err; any other error is reported as a field
// named for it, so the comparison fails.
func problemFields(err error) []string {
	if ve, ok := err.(*consign.ValidationError); ok {
		return []string{ve.Field}
	}
	if m, ok := err.(interface{ WrappedErrors() []error }); ok {
		var fields []string
		for _, w := range m.WrappedErrors() {
			fields = append(fields, problemFields(w)...)
		}
		return fields
	}
	return []string{fmt.Sprintf("unexpected %T %v", err, err)}
}
