package delivery_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
	"github.com/consign/consign/tasksequence"
)

// tsEnv is the seeded site with a software package "App" (program
// Install) and a task sequence package "Build" that installs it and runs
// a command from it, advertised to the Windows 7 collection.
type tsEnv struct {
	*env
	coll *collection.Collection
	app  *pkg.Package
	ts   *pkg.Package
	ad   *advertisement.Advertisement
}

func newTSEnv(t *testing.T) *tsEnv {
	t.Helper()
	e := &tsEnv{env: newEnv(t)}
	e.coll = e.seed()
	e.app = must(e.site.CreatePackage(e.ctx, newPackage()))
	if err := e.site.CreateProgram(e.ctx, withPkg(newProgram("Install"), e.app.ID)); err != nil {
		t.Fatal(err)
	}
	e.ts = must(e.site.CreateTaskSequence(e.ctx, tsPackage(), buildSequence(e.app.ID)))
	ad := advertisement.NewTaskSequence("", "Build", e.ts.ID, e.coll.ID, t0.Add(-time.Hour))
	ad.PresentTimeIsGMT, ad.ASAP = true, true
	e.ad = must(e.site.CreateAdvertisement(e.ctx, ad))
	return e
}

func tsPackage() *pkg.Package {
	p := pkg.NewPackage("", "Build")
	p.Type = pkg.TypeTaskSequence
	return p
}

func buildSequence(app consign.ObjectID) *tasksequence.Sequence {
	return &tasksequence.Sequence{Steps: []tasksequence.Step{
		{Name: "Apps", Group: &tasksequence.Group{Steps: []tasksequence.Step{
			{Name: "Install App", InstallSoftware: &tasksequence.InstallSoftware{PackageID: app, Program: "Install"}},
			{Name: "Configure", RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "setup.exe /config", PackageID: app}, ContinueOnError: true},
		}}},
		{Name: "Restart", Restart: &tasksequence.RestartComputer{}},
	}}
}

func TestCreateTaskSequenceChecksReferencesNamingTheStep(t *testing.T) {
	e := newTSEnv(t)
	before := len(e.site.Packages())
	seq := buildSequence(e.app.ID)
	seq.Steps[0].Group.Steps[0].InstallSoftware.PackageID = "CEN000FF"
	seq.Steps[0].Group.Steps[1].RunCommandLine.PackageID = "CEN000FE"
	_, err := e.site.CreateTaskSequence(e.ctx, tsPackage(), seq)
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, tc := range []struct{ field, step string }{
		{"Steps[0].Group.Steps[0].InstallSoftware.PackageID", `step "Install App"`},
		{"Steps[0].Group.Steps[1].RunCommandLine.PackageID", `step "Configure"`},
	} {
		found := false
		for _, ve := range validationErrors(err) {
			if ve.Field == tc.field && strings.Contains(ve.Rule, tc.step) && strings.Contains(ve.Rule, "existing package") {
				found = true
			}
		}
		if !found {
			t.Errorf("no error on %s naming %s in %v", tc.field, tc.step, err)
		}
	}
	if n := len(e.site.Packages()); n != before {
		t.Errorf("a failed CreateTaskSequence left %d packages, want %d", n, before)
	}
}

func TestTaskSequenceRules(t *testing.T) {
	e := newTSEnv(t)
	userProg := newProgram("User")
	userProg.RunMode, userProg.Logon = pkg.RunWithUserRights, pkg.UserLoggedOn
	if err := e.site.CreateProgram(e.ctx, withPkg(userProg, e.app.ID)); err != nil {
		t.Fatal(err)
	}
	withSource := tsPackage()
	withSource.SourceFlag, withSource.SourcePath = pkg.StorageDirect, `\\FS01\TS`
	withSource.Manifest = newPackage().Manifest
	for _, tc := range []struct {
		name  string
		do    func() error
		code  error
		field string
		rule  string
	}{
		{"program needing a user", func() error {
			seq := &tasksequence.Sequence{Steps: []tasksequence.Step{{Name: "As user",
				InstallSoftware: &tasksequence.InstallSoftware{PackageID: e.app.ID, Program: "User"}}}}
			return e.site.SetSequence(e.ctx, e.ts.ID, seq)
		}, consign.ErrInvalid, "Steps[0].InstallSoftware.Program", "administrative rights"},
		{"missing program", func() error {
			seq := &tasksequence.Sequence{Steps: []tasksequence.Step{{Name: "Gone",
				InstallSoftware: &tasksequence.InstallSoftware{PackageID: e.app.ID, Program: "Nope"}}}}
			return e.site.SetSequence(e.ctx, e.ts.ID, seq)
		}, consign.ErrInvalid, "Steps[0].InstallSoftware.Program", `step "Gone"`},
		{"a task sequence package referred to", func() error {
			seq := &tasksequence.Sequence{Steps: []tasksequence.Step{{Name: "Nested",
				RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "x", PackageID: e.ts.ID}}}}
			return e.site.SetSequence(e.ctx, e.ts.ID, seq)
		}, consign.ErrInvalid, "Steps[0].RunCommandLine.PackageID", "type 0"},
		{"sequence on a software package", func() error { return e.site.SetSequence(e.ctx, e.app.ID, buildSequence(e.app.ID)) },
			consign.ErrInvalid, "PackageID", "task sequence package"},
		{"task sequence package with source", func() error {
			_, err := e.site.CreateTaskSequence(e.ctx, withSource, buildSequence(e.app.ID))
			return err
		}, consign.ErrInvalid, "Package.SourceFlag", "no source files"},
		{"program in a task sequence package", func() error { return e.site.CreateProgram(e.ctx, withPkg(newProgram("X"), e.ts.ID)) },
			consign.ErrInvalid, "Program.PackageID", "no programs"},
		{"delete a referenced package", func() error { return e.site.DeletePackage(e.ctx, e.app.ID) },
			consign.ErrFailedPrecondition, "", `step "Install App"`},
		{"delete a referenced program", func() error {
			return e.site.DeleteProgram(e.ctx, pkg.ProgramRef{PackageID: e.app.ID, Program: "Install"})
		}, consign.ErrFailedPrecondition, "", `step "Install App"`},
		{"a referenced program made to need a user", func() error {
			p := withPkg(newProgram("Install"), e.app.ID)
			p.RunMode, p.Logon = pkg.RunWithUserRights, pkg.UserLoggedOn
			return e.site.UpdateProgram(e.ctx, p)
		}, consign.ErrInvalid, "Program", "task sequence " + string(e.ts.ID)},
		{"advertise a program name", func() error {
			ad := advertisement.New("", "Bad", e.ts.ID, "Install", e.coll.ID, t0)
			_, err := e.site.CreateAdvertisement(e.ctx, ad)
			return err
		}, consign.ErrInvalid, "Advertisement.ProgramName", `must be "*"`},
		{"advertise * for a software package", func() error {
			ad := advertisement.NewTaskSequence("", "Bad", e.app.ID, e.coll.ID, t0)
			_, err := e.site.CreateAdvertisement(e.ctx, ad)
			return err
		}, consign.ErrInvalid, "Advertisement.ProgramName", "must name a program"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, tc.code) {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
			if tc.field == "" {
				if !strings.Contains(err.Error(), tc.rule) {
					t.Errorf("err %q does not say %q", err, tc.rule)
				}
				return
			}
			for _, ve := range validationErrors(err) {
				if ve.Field == tc.field && strings.Contains(ve.Rule, tc.rule) {
					return
				}
			}
			t.Errorf("no error on %s saying %q in %v", tc.field, tc.rule, err)
		})
	}
	// The sequence is untouched by the refused changes.
	got := must(e.site.Sequence(e.ts.ID))
	if got.Len() != buildSequence(e.app.ID).Len() || got.SchemaVersion != tasksequence.DefaultSchemaVersion {
		t.Errorf("sequence after refused changes = %+v", got)
	}
}

func TestTaskSequenceOfferAndContent(t *testing.T) {
	e := newTSEnv(t)
	pol := must(e.site.Policy(e.ctx, 1, nil))
	o, ok := offerFor(pol, e.ad.ID)
	if !ok {
		t.Fatal("device 1 has no offer of the task sequence")
	}
	if o.TaskSequence == nil || o.TaskSequence.Sequence.Len() != 4 {
		t.Fatalf("offer task sequence = %+v", o.TaskSequence)
	}
	if o.TaskSequence.Package(e.app.ID) == nil || o.TaskSequence.Program(pkg.ProgramRef{PackageID: e.app.ID, Program: "Install"}) == nil {
		t.Errorf("offer lacks the referenced package or program: %+v", o.TaskSequence)
	}
	if o.Program == nil || o.Program.Name != tasksequence.ProgramName || o.Decision.State != advertisement.MandatoryDue {
		t.Errorf("offer program %+v, decision %v; want the task sequence's program, due", o.Program, o.Decision.State)
	}
	// The referenced packages go to the DPs with the task sequence, and
	// their content is located for its advertisement, with its content
	// choices.
	if err := e.site.DistributeTaskSequence(e.ctx, e.ts.ID, dpPath); err != nil {
		t.Fatal(err)
	}
	if st := must(e.site.PackageStatus(e.app.ID)); len(st) != 1 {
		t.Errorf("App on %d DPs after DistributeTaskSequence, want 1", len(st))
	}
	if err := e.site.DistributeTaskSequence(e.ctx, e.ts.ID, "nowhere"); !containsField(err, "DistributionPoints[0]") {
		t.Errorf("DistributeTaskSequence to an unknown DP: %v", err)
	}
	if _, err := e.site.Locate(e.ctx, 1, e.app.ID, e.app.SourceVersion, e.ad.ID); err != nil {
		t.Errorf("Locate a referenced package for the task sequence: %v", err)
	}
	// A change to the referenced program reaches the offer.
	p := withPkg(newProgram("Install"), e.app.ID)
	p.CommandLine = "setup.exe /quiet"
	if err := e.site.UpdateProgram(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	o, _ = offerFor(must(e.site.Policy(e.ctx, 1, nil)), e.ad.ID)
	if got := o.TaskSequence.Program(p.Ref()).CommandLine; got != "setup.exe /quiet" {
		t.Errorf("offer's program command line %q after UpdateProgram", got)
	}
}

// stepMsg is an EventTSStep message of device rid about step index.
func stepMsg(ad consign.ObjectID, at time.Time, index int, name string, state tasksequence.StepState, continued bool, exit int) advertisement.Message {
	return advertisement.Message{ID: fmt.Sprintf("%s/%d/%s", ad, index, at), AdvertisementID: ad, Event: advertisement.EventTSStep,
		Time: at, ExitCode: exit, Step: &advertisement.StepStatus{Index: index, Name: name, State: state, Continued: continued}}
}

func TestTaskSequenceStepStatusSurvivesReopen(t *testing.T) {
	e := newTSEnv(t)
	at := t0
	msgs := []advertisement.Message{
		{ID: "s1", AdvertisementID: e.ad.ID, Event: advertisement.EventStarted, Time: at},
		stepMsg(e.ad.ID, at.Add(1*time.Second), 1, "Install App", tasksequence.StepSucceeded, false, 0),
		stepMsg(e.ad.ID, at.Add(2*time.Second), 2, "Configure", tasksequence.StepFailed, true, 5),
		stepMsg(e.ad.ID, at.Add(3*time.Second), 0, "Apps", tasksequence.StepSucceeded, false, 0),
		stepMsg(e.ad.ID, at.Add(4*time.Second), 3, "Restart", tasksequence.StepSucceeded, false, 0),
		{ID: "s9", AdvertisementID: e.ad.ID, Event: advertisement.EventTSSucceeded, Time: at.Add(5 * time.Second), Detail: `failed: "Configure"`},
	}
	if r := must(e.site.Report(e.ctx, 1, msgs)); r.Accepted != len(msgs) {
		t.Fatalf("accepted %d of %d", r.Accepted, len(msgs))
	}
	// A second device is only part way.
	if _, err := e.site.Report(e.ctx, 2, msgs[:2]); err != nil {
		t.Fatal(err)
	}
	check := func(s *delivery.Site) {
		t.Helper()
		sum := must(s.TaskSequenceSummary(e.ad.ID))
		want := []delivery.StepSummary{
			{Index: 0, Name: "Apps", Succeeded: 1},
			{Index: 1, Name: "Install App", Succeeded: 2},
			{Index: 2, Name: "Configure", Failed: 1, FailedContinued: 1},
			{Index: 3, Name: "Restart", Succeeded: 1},
		}
		if len(sum) != len(want) {
			t.Fatalf("summary %+v", sum)
		}
		for i, w := range want {
			g := sum[i]
			if g.Index != w.Index || g.Name != w.Name || g.Succeeded != w.Succeeded || g.Failed != w.Failed ||
				g.FailedContinued != w.FailedContinued || g.Skipped != w.Skipped {
				t.Errorf("step %d: %+v, want %+v", i, g, w)
			}
		}
		steps := must(s.DeviceSteps(e.ad.ID, 1))
		wantStep := delivery.DeviceStep{StepStatus: advertisement.StepStatus{Index: 2, Name: "Configure", State: tasksequence.StepFailed, Continued: true}, ExitCode: 5}
		if len(steps) != 4 || steps[2] != wantStep {
			t.Errorf("device 1 steps %+v", steps)
		}
		if c := must(s.AdvertisementSummary(e.ad.ID)).Counts; c.Succeeded != 1 {
			t.Errorf("summary counts %+v, want 1 succeeded", c)
		}
	}
	check(e.site)
	e.site.Close()
	check(e.open())

	// A new run (Started later) starts the device's steps afresh.
	again := []advertisement.Message{{ID: "s10", AdvertisementID: e.ad.ID, Event: advertisement.EventStarted, Time: at.Add(time.Hour)}}
	s := e.open()
	must(s.Report(e.ctx, 1, again))
	if steps := must(s.DeviceSteps(e.ad.ID, 1)); len(steps) != 0 {
		t.Errorf("after a new run started, device 1 steps %+v", steps)
	}
}

func TestStepMessageOnAProgramAdvertisementIsRefused(t *testing.T) {
	e := newTSEnv(t)
	res := e.distribute(e.coll.ID, advertisement.RerunIfFailed)
	m := stepMsg(res.Advertisement.ID, t0, 0, "x", tasksequence.StepSucceeded, false, 0)
	_, err := e.site.Report(e.ctx, 1, []advertisement.Message{m})
	if !containsField(err, "msgs[0].Step") {
		t.Fatalf("err = %v, want one on msgs[0].Step", err)
	}
}

// TestOSDWindowsGateOnlyTaskSequences: a maintenance window of type OSD
// applies to task sequences only (§1.7): outside it the task sequence
// waits while a program advertised to the same collection is due.
func TestOSDWindowsGateOnlyTaskSequences(t *testing.T) {
	e := newTSEnv(t)
	prog := e.distribute(e.coll.ID, advertisement.RerunIfFailed).Advertisement
	c := must(e.site.Collection(e.coll.ID))
	c.ServiceWindows = []collection.ServiceWindow{{ID: "osd", Name: "Rebuilds", Enabled: true, Type: collection.WindowOSD,
		Schedule: schedule.Token{Type: schedule.Interval, Start: time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC), IsGMT: true, HourDuration: 2, DaySpan: 1}}}
	if err := e.site.UpdateCollection(e.ctx, c); err != nil {
		t.Fatal(err)
	}
	pol := must(e.site.Policy(e.ctx, 1, nil))
	ts, _ := offerFor(pol, e.ad.ID)
	p, _ := offerFor(pol, prog.ID)
	if ts.Decision.State != advertisement.WaitingForWindow {
		t.Errorf("task sequence at 09:00 with a 01:00–03:00 OSD window: %v, want WaitingForWindow", ts.Decision.State)
	}
	if p.Decision.State != advertisement.MandatoryDue {
		t.Errorf("program with only an OSD window: %v, want MandatoryDue", p.Decision.State)
	}
}

// TestTaskSequenceContentChoices: a task sequence's content comes from a
// DP on a slow boundary only when its advertisement ticks "use a remote
// distribution point" (SlowDownloadOnDemand with download on demand),
// and the choices are checked against the package's referenced content.
func TestTaskSequenceContentChoices(t *testing.T) {
	ce := newContentEnv(t)
	wan := distpoint.Boundary{Name: "Branch WAN", Type: distpoint.IPSubnet, Prefix: netip.MustParsePrefix("10.9.0.0/16"), Speed: distpoint.Slow}
	if err := ce.site.AddBoundary(ce.ctx, &wan); err != nil {
		t.Fatal(err)
	}
	d := device(9, "BR09", win7, "X")
	d.IPAddresses = []string{"10.9.0.9"}
	if err := ce.site.PutDevices(ce.ctx, d); err != nil {
		t.Fatal(err)
	}
	coll := must(ce.site.CreateCollection(ce.ctx, &collection.Collection{Name: "Branch", DirectRules: []collection.DirectRule{{RuleName: "BR09", ResourceID: 9}}}, ""))
	app := ce.createOn(0, "DP01")
	if err := ce.site.CreateProgram(ce.ctx, withPkg(newProgram("Install"), app.ID)); err != nil {
		t.Fatal(err)
	}
	ts := must(ce.site.CreateTaskSequence(ce.ctx, tsPackage(), &tasksequence.Sequence{Steps: []tasksequence.Step{
		{Name: "Install", InstallSoftware: &tasksequence.InstallSoftware{PackageID: app.ID, Program: "Install"}}}}))
	for _, tc := range []struct {
		name string
		slow advertisement.SlowChoice
		want distpoint.Action
	}{
		{"local DPs only", advertisement.SlowDoNotRun, distpoint.DoNotRun},
		{"remote DP allowed", advertisement.SlowDownloadOnDemand, distpoint.Download},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ad := advertisement.NewTaskSequence("", "Build "+tc.name, ts.ID, coll.ID, t0)
			ad.Slow = tc.slow
			ad = must(ce.site.CreateAdvertisement(ce.ctx, ad))
			if r := must(ce.site.Locate(ce.ctx, 9, app.ID, app.SourceVersion, ad.ID)); r.Action != tc.want {
				t.Errorf("on a slow boundary: %v (%s), want %v", r.Action, r.Reason, tc.want)
			}
		})
	}
	bad := advertisement.NewTaskSequence("", "Mixed", ts.ID, coll.ID, t0)
	bad.Slow = advertisement.SlowRunFromDP // on-demand locally, run from a remote DP: not a choice the page offers
	if _, err := ce.site.CreateAdvertisement(ce.ctx, bad); !containsField(err, "Advertisement.Slow") {
		t.Errorf("mixed content choices: err = %v, want one on Advertisement.Slow", err)
	}
}
