package advertisement_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

func ExampleDecide() {
	// Install Office on All Systems from 1 March 2009, mandatory every night
	// at 01:00 (device time) from 2 March, hidden from users.
	ad := advertisement.New("CEN00010", "Office 2007", "CEN00001", "Install", "SMS00001",
		time.Date(2009, 3, 1, 8, 0, 0, 0, time.UTC))
	nightly, err := schedule.Parse("002239C000100008")
	if err != nil {
		panic(err)
	}
	ad.Schedules = []schedule.Token{nightly}
	ad.AllowUsersToRunIndependently = false
	prog := &pkg.Program{PackageID: "CEN00001", Name: "Install", MaxRunTime: 60, Logon: pkg.EitherLogon, AnyPlatform: true}
	if err := ad.Validate(prog); err != nil {
		panic(err)
	}

	// The device is in Berlin and has a maintenance window 02:00–04:00.
	berlin := time.FixedZone("CET", 3600)
	dev := advertisement.DeviceFacts{Location: berlin, HasWindows: true, Countdown: 5 * time.Minute}
	for d := 3; d <= 10; d++ {
		start := time.Date(2009, 3, d, 2, 0, 0, 0, berlin)
		dev.Windows = append(dev.Windows, schedule.Span{Start: start, End: start.Add(2 * time.Hour)})
	}
	show := func(o advertisement.Offer) {
		fmt.Println(o.State, "|", o.Reason)
		for _, t := range []struct {
			name string
			at   time.Time
		}{{"due", o.DueAt}, {"run at", o.RunAt}, {"next", o.NextMandatory}} {
			if !t.at.IsZero() {
				fmt.Println("  ", t.name, t.at.Format("Jan 2 15:04 MST"))
			}
		}
	}

	// 01:00: the assignment fires but no window is open.
	never := advertisement.History{}
	show(advertisement.Decide(ad, prog, dev, never, time.Date(2009, 3, 3, 1, 0, 0, 0, berlin)))
	// 02:00: the window opens with two hours left: run.
	show(advertisement.Decide(ad, prog, dev, never, time.Date(2009, 3, 3, 2, 0, 0, 0, berlin)))
	// It ran and failed at 02:10; the next night's assignment reruns it
	// (the console default: rerun if failed).
	failed := advertisement.History{Ran: true, LastRun: time.Date(2009, 3, 3, 2, 10, 0, 0, berlin)}
	show(advertisement.Decide(ad, prog, dev, failed, time.Date(2009, 3, 3, 12, 0, 0, 0, berlin)))
	show(advertisement.Decide(ad, prog, dev, failed, time.Date(2009, 3, 4, 2, 30, 0, 0, berlin)))
	// Output:
	// WaitingForWindow | no maintenance window with 1h5m0s left
	//    due Mar 3 01:00 CET
	//    run at Mar 3 02:00 CET
	//    next Mar 4 01:00 CET
	// MandatoryDue | assignment due
	//    due Mar 3 01:00 CET
	//    next Mar 4 01:00 CET
	// Available | no assignment due
	//    next Mar 4 01:00 CET
	// MandatoryDue | assignment due
	//    due Mar 4 01:00 CET
	//    next Mar 5 01:00 CET
}

func ExampleNewTaskSequence() {
	// Advertise the "Deploy Windows 7" task sequence (package CEN00005) to
	// the Windows 7 upgrade collection, also to boot media and PXE, with
	// its progress shown and content downloaded when the running task
	// sequence needs it, from a remote DP too.
	ad := advertisement.NewTaskSequence("CEN00020", "Deploy Windows 7", "CEN00005", "CEN00007",
		time.Date(2009, 3, 1, 8, 0, 0, 0, time.UTC))
	ad.AvailableToBootMediaAndPXE = true
	ad.ShowProgress = true
	ad.Slow = advertisement.SlowDownloadOnDemand
	fmt.Println(ad.ProgramName, ad.IsTaskSequence())
	fmt.Printf("AdvertFlags %#08x RemoteClientFlags %#04x\n", uint32(ad.AdvertFlags()), uint32(ad.RemoteClientFlags()))
	fmt.Println("valid:", ad.Validate(nil) == nil) // a task sequence has no program

	// "Download all contents locally before starting task sequence" (from a
	// remote DP too) is not allowed with boot media and PXE.
	ad.Fast, ad.Slow = advertisement.FastDownload, advertisement.SlowDownload
	var ve *consign.ValidationError
	if errors.As(ad.Validate(nil), &ve) {
		fmt.Println(ve.Field, "rejected")
	}
	// Accessing content directly from the DP is allowed.
	ad.Fast, ad.Slow = advertisement.FastRunFromDP, advertisement.SlowRunFromDP
	fmt.Println("valid:", ad.Validate(nil) == nil)
	// Output:
	// * true
	// AdvertFlags 0x02840000 RemoteClientFlags 0x2300
	// valid: true
	// Advertisement.Fast rejected
	// valid: true
}
