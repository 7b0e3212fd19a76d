package advertisement_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
)

// problems returns the fields of every *consign.ValidationError in err.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("error %v does not match consign.ErrInvalid", err)
	}
	var fields []string
	var walk func(error)
	walk = func(e error) {
		var ve *consign.ValidationError
		if errors.As(e, &ve) && ve == e {
			fields = append(fields, ve.Field)
			return
		}
		if m, ok := e.(interface{ WrappedErrors() []error }); ok {
			for _, w := range m.WrappedErrors() {
				walk(w)
			}
			return
		}
		t.Fatalf("unexpected error %T %v", e, e)
	}
	walk(err)
	return fields
}

func TestValidate(t *testing.T) {
	day := at(2009, 3, 2, 0, 0)
	cases := []struct {
		name   string
		edit   func(a *advertisement.Advertisement)
		prog   *pkg.Program
		fields []string // the fields reported, in order; nil = valid
	}{
		{"New is valid", func(*advertisement.Advertisement) {}, program(pkg.UserLoggedOn, 120), nil},
		{"name required", func(a *advertisement.Advertisement) { a.Name = "" }, nil, []string{"Advertisement.Name"}},
		{"name 100 chars", func(a *advertisement.Advertisement) { a.Name = strings.Repeat("é", 100) }, nil, nil},
		{"name 101 chars", func(a *advertisement.Advertisement) { a.Name = strings.Repeat("n", 101) }, nil, []string{"Advertisement.Name"}},
		{"comment 128 chars", func(a *advertisement.Advertisement) { a.Comment = strings.Repeat("c", 128) }, nil, []string{"Advertisement.Comment"}},
		{"bad IDs", func(a *advertisement.Advertisement) { a.ID, a.PackageID, a.CollectionID = "X", "CEN0000G", "" }, nil,
			[]string{"Advertisement.ID", "Advertisement.PackageID", "Advertisement.CollectionID"}},
		{"program required", func(a *advertisement.Advertisement) { a.ProgramName = "" }, nil, []string{"Advertisement.ProgramName"}},
		{"priority zero", func(a *advertisement.Advertisement) { a.Priority = 0 }, nil, []string{"Advertisement.Priority"}},
		{"15 assignments", func(a *advertisement.Advertisement) { addSchedules(t, a, 15) }, nil, nil},
		{"16 schedules", func(a *advertisement.Advertisement) { addSchedules(t, a, 16) }, nil, []string{"Advertisement.Schedules"}},
		{"14 schedules and 2 events", func(a *advertisement.Advertisement) {
			addSchedules(t, a, 14)
			a.ASAP, a.OnStartup = true, true
		}, nil, []string{"Advertisement.Schedules"}},
		// The console leaves NO_DISPLAY set on optional advertisements too
		// (its "allow users to run independently" box starts unticked);
		// imports from real sites must load, and the bit means nothing there.
		{"NO_DISPLAY on optional", func(a *advertisement.Advertisement) { a.AllowUsersToRunIndependently = false }, nil, nil},
		{"mandatory-only flags on optional", func(a *advertisement.Advertisement) {
			a.MandatoryOverSlowLinks, a.IgnoreMaintenanceWindows, a.WakeOnLAN = true, true, true
		}, nil, []string{"Advertisement.MandatoryOverSlowLinks", "Advertisement.IgnoreMaintenanceWindows", "Advertisement.WakeOnLAN"}},
		{"mandatory-only flags on mandatory", func(a *advertisement.Advertisement) {
			a.ASAP = true
			a.AllowUsersToRunIndependently, a.MandatoryOverSlowLinks, a.IgnoreMaintenanceWindows, a.WakeOnLAN = false, true, true, true
		}, nil, nil},
		{"logoff needs NOUSERLOGGEDIN", func(a *advertisement.Advertisement) { a.OnLogoff = true }, program(pkg.UserLoggedOn, 120),
			[]string{"Advertisement.OnLogoff"}},
		{"logoff with either", func(a *advertisement.Advertisement) { a.OnLogoff = true }, program(pkg.EitherLogon, 120),
			[]string{"Advertisement.OnLogoff"}},
		{"logoff with NOUSERLOGGEDIN", func(a *advertisement.Advertisement) { a.OnLogoff = true }, program(pkg.NoUserLoggedOn, 120), nil},
		{"logoff without program", func(a *advertisement.Advertisement) { a.OnLogoff = true }, nil, nil},
		{"another program", func(a *advertisement.Advertisement) { a.ProgramName = "Uninstall" }, program(pkg.UserLoggedOn, 120),
			[]string{"Advertisement.ProgramName"}},
		{"expiry before start", func(a *advertisement.Advertisement) {
			a.ExpirationTimeEnabled, a.ExpirationTime = true, day.Add(-time.Minute)
		}, nil, []string{"Advertisement.ExpirationTime"}},
		{"expiry at start", func(a *advertisement.Advertisement) { a.ExpirationTimeEnabled, a.ExpirationTime = true, day }, nil,
			[]string{"Advertisement.ExpirationTime"}},
		{"expiry after start", func(a *advertisement.Advertisement) {
			a.ExpirationTimeEnabled, a.ExpirationTime = true, day.AddDate(0, 6, 0)
		}, nil, nil},
		{"two rerun bits", func(a *advertisement.Advertisement) { a.FromFlags(a.AdvertFlags(), 0x30|0x0800|0x1000) }, nil,
			[]string{"Advertisement.OtherRemoteClientFlags"}},
		{"rerun field and another rerun bit", func(a *advertisement.Advertisement) {
			a.OtherRemoteClientFlags = advertisement.RCFRerunNever
		}, nil, []string{"Advertisement.OtherRemoteClientFlags"}},
		{"both fast choices", func(a *advertisement.Advertisement) { a.FromFlags(a.AdvertFlags(), 0x2000|0x08|0x10|0x20) }, nil,
			[]string{"Advertisement.OtherRemoteClientFlags"}},
		{"no rerun, fast or slow bit (defaulted)", func(a *advertisement.Advertisement) { a.FromFlags(a.AdvertFlags(), 0) }, nil, nil},
		{"modelled bit in Other", func(a *advertisement.Advertisement) { a.OtherAdvertFlags = advertisement.AdvImmediate }, nil,
			[]string{"Advertisement.OtherAdvertFlags"}},
		{"CB bits", func(a *advertisement.Advertisement) {
			a.OtherAdvertFlags, a.OtherRemoteClientFlags = advertisement.AdvEnablePeerCaching, advertisement.RCFDPAllowMeteredNetwork
		}, nil, []string{"Advertisement.OtherAdvertFlags", "Advertisement.OtherRemoteClientFlags"}},
		{"undefined bits", func(a *advertisement.Advertisement) { a.OtherAdvertFlags, a.OtherRemoteClientFlags = 0x1, 0x10000 }, nil,
			[]string{"Advertisement.OtherAdvertFlags", "Advertisement.OtherRemoteClientFlags"}},
		// The task sequence bits are modelled by fields now; the fields'
		// rules are in tasksequence_test.go.
		{"task sequence bits in Other", func(a *advertisement.Advertisement) {
			a.OtherAdvertFlags = advertisement.AdvEnableTSFromCDAndPXE | advertisement.AdvShowProgress
			a.OtherRemoteClientFlags = advertisement.RCFDownloadOnDemandFromLocalDP
		}, nil, []string{"Advertisement.OtherAdvertFlags", "Advertisement.OtherRemoteClientFlags"}},
		{"WinPE bits stay in Other", func(a *advertisement.Advertisement) {
			a.OtherAdvertFlags = advertisement.AdvTargetToWinPE | advertisement.AdvHiddenInWinPE
		}, nil, nil},
	}
	for _, c := range cases {
		a := newAd(day)
		c.edit(a)
		got := problems(t, a.Validate(c.prog))
		if strings.Join(got, ",") != strings.Join(c.fields, ",") {
			t.Errorf("%s: Validate reported %q, want %q", c.name, got, c.fields)
		}
	}
}

func addSchedules(t *testing.T, a *advertisement.Advertisement, n int) {
	for i := range n {
		a.Schedules = append(a.Schedules, once(t, at(2009, 4, 1+i, 2, 0), false))
	}
}

func TestCheckUpdate(t *testing.T) {
	old := newAd(at(2009, 3, 2, 0, 0))
	upd := *old
	upd.Comment, upd.Rerun, upd.ASAP = "changed", advertisement.RerunAlways, true
	if err := advertisement.CheckUpdate(old, &upd); err != nil {
		t.Errorf("mutable fields: %v", err)
	}
	upd.Name, upd.PackageID, upd.ProgramName, upd.CollectionID = "Other", "CEN00003", "Other", "CEN00004"
	got := problems(t, advertisement.CheckUpdate(old, &upd))
	want := []string{"Advertisement.Name", "Advertisement.PackageID", "Advertisement.ProgramName", "Advertisement.CollectionID"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("CheckUpdate reported %q, want %q", got, want)
	}
}
