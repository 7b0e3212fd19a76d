package updates_test

import (
	"fmt"
	"time"

	"github.com/consign/consign/schedule"
	"github.com/consign/consign/updates"
)

// A workstation in Paris at 02:00 local time, when its nightly 2-hour
// maintenance window opens. Yesterday's deadline of the June deployment has
// passed; four 20-minute security updates are cached. Each budgets 20
// minutes plus the 5-minute restart countdown and the 10-minute restart
// turnaround, so three fit in the window and the fourth waits for the next
// one (§3.6). The July deployment's deadline is eight days out, beyond the
// "Enforce all mandatory deployments" horizon of 7 days: it only downloads.
func ExampleEnforce() {
	paris := time.FixedZone("CEST", 2*3600)
	now := time.Date(2009, 6, 10, 2, 0, 0, 0, paris)
	var required []*updates.Update
	for id := updates.CIID(101); id <= 104; id++ {
		required = append(required, &updates.Update{CIID: id, Classification: updates.SecurityUpdates, Restart: updates.AlwaysRequiresRestart})
	}
	required = append(required, &updates.Update{CIID: 200, Classification: updates.ServicePacks})
	june := &updates.Deployment{ID: 16777220, Name: "June security updates", Enabled: true,
		Updates:   []updates.CIID{101, 102, 103, 104},
		Available: time.Date(2009, 6, 2, 10, 0, 0, 0, time.UTC), // civil times, read in the device's zone
		Deadline:  time.Date(2009, 6, 9, 10, 0, 0, 0, time.UTC)}
	july := &updates.Deployment{ID: 16777221, Name: "July service pack", Enabled: true,
		Updates:   []updates.CIID{200},
		Available: time.Date(2009, 6, 9, 10, 0, 0, 0, time.UTC),
		Deadline:  time.Date(2009, 6, 18, 10, 0, 0, 0, time.UTC)}
	var windows []schedule.Span
	for day := range 7 {
		start := now.AddDate(0, 0, day)
		windows = append(windows, schedule.Span{Start: start, End: start.Add(2 * time.Hour)})
	}
	cached := map[updates.CIID]bool{101: true, 102: true, 103: true, 104: true}

	plan, err := updates.Enforce(updates.EnforceInput{
		Now:         now,
		Location:    paris,
		Required:    required,
		Deployments: []*updates.Deployment{june, july},
		Windows:     windows,
		HasWindows:  true,
		Downloaded:  func(id updates.CIID) bool { return cached[id] },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("download:", plan.Download)
	fmt.Println("install:", plan.Install)
	for _, w := range plan.Wait {
		fmt.Printf("wait: %d for %v until %s\n", w.CIID, w.Reason, w.Until.In(paris).Format("Jan 2 15:04"))
	}
	fmt.Printf("restart: %v at %s\n", plan.Restart.Action, plan.Restart.At.In(paris).Format("Jan 2 15:04"))
	for _, d := range plan.Deployments {
		fmt.Printf("deployment %d: %v, %v\n", d.ID, d.Enforcement, d.Compliance)
	}
	fmt.Println("decide again at", plan.NextCheck.In(paris).Format("Jan 2 15:04"))
	// Output:
	// download: [200]
	// install: [101 102 103]
	// wait: 104 for Window until Jun 11 02:00
	// wait: 200 for Deadline until Jun 18 10:00
	// restart: Now at Jun 10 03:00
	// deployment 16777220: Installing update(s), Non-compliant
	// deployment 16777221: Downloading update(s), Non-compliant
	// decide again at Jun 11 02:00
}

// A server's deployment suppresses restarts on servers (§3.7 step 6): the
// update installs, its restart is suppressed, and it stays Required until
// someone restarts the server (§4.3).
func ExampleStateAfterInstall() {
	kb := &updates.Update{CIID: 101, Restart: updates.AlwaysRequiresRestart}
	d := &updates.Deployment{ID: 1, Enabled: true, Updates: []updates.CIID{101},
		Settings: updates.Settings{UseGMTTimes: true, SuppressReboot: updates.SuppressServers},
		Deadline: time.Date(2009, 6, 9, 0, 0, 0, 0, time.UTC)}
	in := updates.EnforceInput{Now: time.Date(2009, 6, 10, 0, 0, 0, 0, time.UTC), Server: true,
		Required: []*updates.Update{kb}, Deployments: []*updates.Deployment{d},
		Downloaded: func(updates.CIID) bool { return true }}

	plan, _ := updates.Enforce(in)
	restarted := plan.Restart.Action == updates.RestartNow
	fmt.Println("install:", plan.Install, "restart:", plan.Restart.Action)
	fmt.Println("after the install:", updates.StateAfterInstall(kb, false, restarted))

	in.PendingRestart = []updates.CIID{101}
	plan, _ = updates.Enforce(in)
	fmt.Println("next evaluation: install", plan.Install, "restart", plan.Restart.Action, "deployment", plan.Deployments[0].Enforcement)
	fmt.Println("after an admin restarts it:", updates.StateAfterInstall(kb, false, true))
	// Output:
	// install: [101] restart: Suppressed
	// after the install: Required
	// next evaluation: install [] restart Suppressed deployment Pending system restart
	// after an admin restarts it: Installed
}
