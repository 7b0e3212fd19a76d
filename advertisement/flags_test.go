package advertisement_test

import (
	"testing"
	"time"

	"github.com/consign/consign/advertisement"
	"pgregory.net/rapid"
)

// Property 1: every pair of flag words survives FromFlags, whatever the
// advertisement held before.
func TestFlagsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		af := advertisement.AdvertFlags(rapid.Uint32().Draw(t, "af"))
		rcf := advertisement.RemoteClientFlags(rapid.Uint32().Draw(t, "rcf"))
		a := newAd(at(2009, 1, 1, 0, 0))
		a.FromFlags(advertisement.AdvertFlags(rapid.Uint32().Draw(t, "priorAF")), advertisement.RemoteClientFlags(rapid.Uint32().Draw(t, "priorRCF")))
		a.Rerun = advertisement.Rerun(rapid.IntRange(0, 4).Draw(t, "priorRerun"))
		a.Fast = advertisement.FastChoice(rapid.IntRange(0, 3).Draw(t, "priorFast"))
		a.Slow = advertisement.SlowChoice(rapid.IntRange(0, 4).Draw(t, "priorSlow"))
		a.ShowProgress = rapid.Bool().Draw(t, "priorShowProgress")
		a.AvailableToBootMediaAndPXE = rapid.Bool().Draw(t, "priorPXE")
		a.FromFlags(af, rcf)
		if got := a.AdvertFlags(); got != af {
			t.Fatalf("AdvertFlags() = %#x, want %#x", got, af)
		}
		if got := a.RemoteClientFlags(); got != rcf {
			t.Fatalf("RemoteClientFlags() = %#x, want %#x", got, rcf)
		}
	})
}

func TestFlagFields(t *testing.T) {
	if advertisement.DefaultRemoteClientFlags != 0x30 {
		t.Errorf("DefaultRemoteClientFlags = %#x, want 0x30", advertisement.DefaultRemoteClientFlags)
	}
	var zero advertisement.Advertisement
	if got := zero.RemoteClientFlags(); got != advertisement.DefaultRemoteClientFlags {
		t.Errorf("zero RemoteClientFlags = %#x, want the SDK default 0x30", got)
	}
	a := newAd(at(2009, 1, 1, 0, 0))
	if got, want := a.RemoteClientFlags(), advertisement.RemoteClientFlags(0x2030); got != want {
		t.Errorf("New RemoteClientFlags = %#x, want %#x (0x30 + RERUN_IF_FAILED)", got, want)
	}
	if got := a.AdvertFlags(); got != advertisement.AdvNoDisplay {
		t.Errorf("New AdvertFlags = %#x, want NO_DISPLAY only (the console's unticked box; fallback allowed)", got)
	}

	// A typical 2007 mandatory advertisement: ASAP, hidden, no fallback.
	a.FromFlags(0x02020020, 0x2030)
	if !a.ASAP || a.AllowUsersToRunIndependently || a.AllowFallbackToUnprotected ||
		a.Rerun != advertisement.RerunIfFailed || a.Fast != advertisement.FastDownload ||
		a.Slow != advertisement.SlowDoNotRun || a.OtherAdvertFlags != 0 || a.OtherRemoteClientFlags != 0 {
		t.Errorf("FromFlags(0x02020020, 0x2030) = %+v", a)
	}

	// Contradictions stay in Other and leave the field Unspecified.
	a.FromFlags(0, advertisement.RCFRerunNever|advertisement.RCFRerunAlways|advertisement.RCFRunFromLocalDP|advertisement.RCFDownloadFromLocalDP)
	if a.Rerun != advertisement.RerunUnspecified || a.Fast != advertisement.FastUnspecified || a.Slow != advertisement.SlowUnspecified {
		t.Errorf("contradictory word: Rerun %v Fast %v Slow %v, want Unspecified", a.Rerun, a.Fast, a.Slow)
	}
}

func TestTimeFlags(t *testing.T) {
	a := newAd(at(2009, 1, 1, 0, 0))
	if got := a.TimeFlags(); got != advertisement.TimeEnablePresent {
		t.Errorf("optional ad TimeFlags = %#x, want ENABLE_PRESENT", got)
	}
	a.ExpirationTimeEnabled, a.ExpirationTimeIsGMT, a.PresentTimeIsGMT = true, true, true
	a.Schedules = append(a.Schedules, once(t, at(2009, 2, 1, 0, 0), true))
	want := advertisement.TimeEnablePresent | advertisement.TimeEnableExpiration | advertisement.TimeEnableMandatory |
		advertisement.TimeGMTPresent | advertisement.TimeGMTExpiration | advertisement.TimeGMTMandatory
	if got := a.TimeFlags(); got != want {
		t.Errorf("TimeFlags = %#x, want %#x", got, want)
	}
	a.Schedules = append(a.Schedules, once(t, at(2009, 3, 1, 0, 0), false))
	if got := a.TimeFlags(); got&advertisement.TimeGMTMandatory != 0 {
		t.Errorf("GMT_MANDATORY set with a local schedule: %#x", got)
	}
}

func TestEffectiveRerun(t *testing.T) {
	day := at(2009, 1, 1, 0, 0)
	cases := []struct {
		name      string
		rerun     advertisement.Rerun
		schedules int
		asap      bool
		want      advertisement.Rerun
	}{
		{"explicit never", advertisement.RerunNever, 3, false, advertisement.RerunNever},
		{"explicit always", advertisement.RerunAlways, 0, false, advertisement.RerunAlways},
		{"unspecified, optional", advertisement.RerunUnspecified, 0, false, advertisement.RerunIfFailed},
		{"unspecified, one event", advertisement.RerunUnspecified, 0, true, advertisement.RerunIfFailed},
		{"unspecified, one schedule", advertisement.RerunUnspecified, 1, false, advertisement.RerunIfFailed},
		{"unspecified, schedule and event", advertisement.RerunUnspecified, 1, true, advertisement.RerunAlways},
		{"unspecified, two schedules (Re-run)", advertisement.RerunUnspecified, 2, false, advertisement.RerunAlways},
	}
	for _, c := range cases {
		a := newAd(day)
		a.Rerun, a.ASAP = c.rerun, c.asap
		for i := range c.schedules {
			a.Schedules = append(a.Schedules, once(t, day.Add(time.Duration(i)*time.Hour), false))
		}
		if got := a.EffectiveRerun(); got != c.want {
			t.Errorf("%s: EffectiveRerun = %v, want %v", c.name, got, c.want)
		}
	}
}
