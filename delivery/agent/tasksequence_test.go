package agent_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/agent"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

// tsScene is PC01 in "All PCs", two packages on DP01 (App1 with program
// Install, Tools with a script), and a task sequence that installs App1,
// restarts, runs a tool and sets a variable a later step's condition reads.
type tsScene struct {
	*env
	rid   uint32
	coll  consign.ObjectID
	app   *pkg.Package
	tools *pkg.Package
	ts    *pkg.Package
	ad    *advertisement.Advertisement
}

func newTSScene(t *testing.T, seq func(app, tools consign.ObjectID) *tasksequence.Sequence, mod func(*advertisement.Advertisement)) *tsScene {
	t.Helper()
	s := &tsScene{env: newEnv(t)}
	s.rid = s.register(device("PC01"))
	s.coll = s.collection()
	s.app = s.newPackage("App1", map[string]string{"setup.exe": "MZ app1"}, program("Install", "setup.exe /s"))
	s.tools = s.newPackage("Tools", map[string]string{"fix.cmd": "@echo fixed"})
	p := pkg.NewPackage("", "Build")
	p.Type = pkg.TypeTaskSequence
	s.ts = must(s.site.CreateTaskSequence(s.ctx, p, seq(s.app.ID, s.tools.ID)))
	ad := advertisement.NewTaskSequence("", "Build", s.ts.ID, s.coll, t0)
	ad.PresentTimeIsGMT, ad.ASAP = true, true
	if mod != nil {
		mod(ad)
	}
	s.ad = must(s.site.CreateAdvertisement(s.ctx, ad))
	return s
}

func standardSequence(app, tools consign.ObjectID) *tasksequence.Sequence {
	return &tasksequence.Sequence{Steps: []tasksequence.Step{
		{Name: "Install App1", InstallSoftware: &tasksequence.InstallSoftware{PackageID: app, Program: "Install"}},
		{Name: "Restart", Restart: &tasksequence.RestartComputer{}},
		{Name: "Tools", Group: &tasksequence.Group{Steps: []tasksequence.Step{
			{Name: "Mark", SetVariable: &tasksequence.SetVariable{Name: "Role", Value: "Kiosk"}},
			{Name: "Fix", RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "fix.cmd", PackageID: tools},
				Condition: ptr(tasksequence.VariableIs("Role", tasksequence.Equals, "kiosk"))},
			{Name: "Never", RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "never.cmd"},
				Condition: ptr(tasksequence.VariableIs("Role", tasksequence.NotEquals, "kiosk"))},
		}}},
	}}
}

func ptr[T any](v T) *T { return &v }

// programsRun lists the Program of every command the rig's executor ran.
func (r *rig) programsRun() []string {
	var names []string
	for _, c := range r.exec.Runs() {
		names = append(names, c.Program)
	}
	return names
}

// restarter is a Config.Restart for a rig: it counts restarts and, like a
// real restart, ends the agent's process (the test starts a new agent).
type restarter struct {
	mu sync.Mutex
	n  int
	ch chan struct{}
}

func newRestarter() *restarter { return &restarter{ch: make(chan struct{}, 8)} }

func (r *restarter) restart(context.Context) error {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
	r.ch <- struct{}{}
	return nil
}

// TestTaskSequenceRestartsAndResumes runs a sequence across a restart: the
// first agent installs App1 and asks for the restart; a new agent over the
// same State resumes after it, never runs App1 again, skips the step whose
// condition is false, and reports 11171 with every step's outcome reaching
// the site's summaries.
func TestTaskSequenceRestartsAndResumes(t *testing.T) {
	s := newTSScene(t, standardSequence, func(ad *advertisement.Advertisement) { ad.ShowProgress = true })
	dir := t.TempDir()
	rs := newRestarter()
	mod := func(c *agent.Config) { c.Restart = rs.restart }
	r1 := s.newRig(device("PC01"), dir, mod)
	r1.start()
	select {
	case <-rs.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no restart asked for")
	}
	r1.stop()
	if runs := r1.exec.Runs(); len(runs) != 1 || runs[0].Program != "Install" {
		t.Fatalf("before the restart ran %+v, want App1's Install only", runs)
	}
	r1.cache.Close()
	r1.st.Close()

	r2 := s.newRig(device("PC01"), dir, mod)
	r2.start()
	waitFor(t, "the final status", func() bool {
		return s.status(s.ad, s.rid).LastEvent == advertisement.EventTSSucceeded
	})
	r2.stop()
	if names := r2.programsRun(); !slices.Equal(names, []string{"Fix"}) {
		t.Errorf("after the restart ran %v, want [Fix]", names)
	}
	var progress []string
	for _, ev := range append(r1.find(agent.EventProgress), r2.find(agent.EventProgress)...) {
		progress = append(progress, fmt.Sprintf("%d/%d %s", ev.Step, ev.Steps, ev.Detail))
	}
	if want := []string{"1/6 Install App1", "2/6 Restart", "5/6 Fix"}; !slices.Equal(progress, want) {
		t.Errorf("progress events %q, want %q (the actions the agent ran)", progress, want)
	}
	if got := s.mp.events(s.ad.ID); !slices.Contains(got, advertisement.EventTSResumed) {
		t.Errorf("events %v lack TSResumed (11142)", got)
	}
	sum := must(s.site.TaskSequenceSummary(s.ad.ID))
	want := map[string][3]int{ // succeeded, failed, skipped
		"Install App1": {1, 0, 0}, "Restart": {1, 0, 0}, "Tools": {1, 0, 0},
		"Mark": {1, 0, 0}, "Fix": {1, 0, 0}, "Never": {0, 0, 1},
	}
	for _, st := range sum {
		if w := want[st.Name]; [3]int{st.Succeeded, st.Failed, st.Skipped} != w {
			t.Errorf("step %q: succeeded/failed/skipped %d/%d/%d, want %v", st.Name, st.Succeeded, st.Failed, st.Skipped, w)
		}
	}
	if got := must(s.site.AdvertisementSummary(s.ad.ID)).Counts.Succeeded; got != 1 {
		t.Errorf("summary counts %d succeeded, want 1", got)
	}
}

// TestTaskSequenceContinueOnErrorIsReported: a failing step with continue
// on error lets the sequence succeed, but the final status names the
// failure; one without it fails the sequence (11170).
func TestTaskSequenceContinueOnErrorIsReported(t *testing.T) {
	for _, tc := range []struct {
		name string
		cont bool
		want advertisement.Event
	}{
		{"continue on error", true, advertisement.EventTSSucceeded},
		{"stop on error", false, advertisement.EventTSFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTSScene(t, func(app, tools consign.ObjectID) *tasksequence.Sequence {
				return &tasksequence.Sequence{Steps: []tasksequence.Step{
					{Name: "Fix", ContinueOnError: tc.cont, RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "fix.cmd", PackageID: tools}},
					{Name: "After", RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "after.cmd"}},
				}}
			}, nil)
			r := s.newRig(device("PC01"), "", nil)
			r.exec.Script(s.tools.ID, "Fix", agent.SimOutcome{ExitCode: 5})
			r.start()
			waitFor(t, "the final status", func() bool {
				ev := s.status(s.ad, s.rid).LastEvent
				return ev == advertisement.EventTSSucceeded || ev == advertisement.EventTSFailed
			})
			r.stop()
			cs := s.status(s.ad, s.rid)
			if cs.LastEvent != tc.want {
				t.Fatalf("final %v (%s), want %v", cs.LastEvent, cs.Detail, tc.want)
			}
			if !strings.Contains(cs.Detail, `"Fix" (exit code 5`) {
				t.Errorf("final detail %q does not name the failed step", cs.Detail)
			}
			ran := slices.ContainsFunc(r.exec.Runs(), func(c agent.Command) bool { return c.Program == "After" })
			if ran != tc.cont {
				t.Errorf("step After ran: %v, want %v", ran, tc.cont)
			}
		})
	}
}

// TestTaskSequenceRestartWithoutHook: an agent that cannot restart the
// device fails the Restart Computer step, naming why.
func TestTaskSequenceRestartWithoutHook(t *testing.T) {
	s := newTSScene(t, standardSequence, nil)
	r := s.newRig(device("PC01"), "", nil)
	r.start()
	waitFor(t, "the final status", func() bool { return s.status(s.ad, s.rid).LastEvent == advertisement.EventTSFailed })
	r.stop()
	steps := must(s.site.DeviceSteps(s.ad.ID, s.rid))
	i := slices.IndexFunc(steps, func(st delivery.DeviceStep) bool { return st.Name == "Restart" })
	if i < 0 || steps[i].State != tasksequence.StepFailed || !strings.Contains(steps[i].Detail, "cannot restart") {
		t.Fatalf("Restart step status %+v, want failed", steps)
	}
}

// blockingExec runs every command as its SimExecutor does, except the
// step named block, which runs until its context ends.
type blockingExec struct {
	*agent.SimExecutor
	block   string
	started chan struct{}
}

func (b *blockingExec) Run(ctx context.Context, c agent.Command) (agent.Outcome, error) {
	if c.Program != b.block {
		return b.SimExecutor.Run(ctx, c)
	}
	b.started <- struct{}{}
	<-ctx.Done()
	return agent.Outcome{ExitCode: -1, Cancelled: true}, ctx.Err()
}

// TestTaskSequenceCrashMidStep: an agent that stops while a step runs
// (a crash, or the device losing power) leaves the step unfinished; the
// next agent records it as failed ("interrupted") and never runs it
// again, nor anything that completed before it.
func TestTaskSequenceCrashMidStep(t *testing.T) {
	s := newTSScene(t, func(app, tools consign.ObjectID) *tasksequence.Sequence {
		return &tasksequence.Sequence{Steps: []tasksequence.Step{
			{Name: "Install App1", InstallSoftware: &tasksequence.InstallSoftware{PackageID: app, Program: "Install"}},
			{Name: "Long", ContinueOnError: true, RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "long.cmd"}},
			{Name: "After", RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "after.cmd"}},
		}}
	}, nil)
	dir := t.TempDir()
	var ex *blockingExec
	r1 := s.newRig(device("PC01"), dir, func(c *agent.Config) {
		ex = &blockingExec{SimExecutor: c.Executor.(*agent.SimExecutor), block: "Long", started: make(chan struct{}, 1)}
		c.Executor = ex
	})
	r1.start()
	select {
	case <-ex.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the long step never started")
	}
	r1.stop() // the crash
	r1.cache.Close()
	r1.st.Close()

	r2 := s.newRig(device("PC01"), dir, nil)
	r2.start()
	waitFor(t, "the final status", func() bool { return s.status(s.ad, s.rid).LastEvent == advertisement.EventTSSucceeded })
	r2.stop()
	if names := r2.programsRun(); !slices.Equal(names, []string{"After"}) {
		t.Errorf("the resumed agent ran %v, want only [After]", names)
	}
	steps := must(s.site.DeviceSteps(s.ad.ID, s.rid))
	if len(steps) != 3 || steps[1].State != tasksequence.StepFailed || !steps[1].Continued {
		t.Fatalf("steps %+v, want Long failed and continued", steps)
	}
	if cs := s.status(s.ad, s.rid); !strings.Contains(cs.Detail, `"Long" (exit code -1, continued on error)`) {
		t.Errorf("final detail %q does not name the interrupted step", cs.Detail)
	}
}

// TestTaskSequenceStepTimeout: a step still running at its time-out is
// stopped and fails.
func TestTaskSequenceStepTimeout(t *testing.T) {
	s := newTSScene(t, func(app, tools consign.ObjectID) *tasksequence.Sequence {
		return &tasksequence.Sequence{Steps: []tasksequence.Step{
			{Name: "Fix", Timeout: time.Minute, RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "fix.cmd", PackageID: tools}},
		}}
	}, nil)
	r := s.newRig(device("PC01"), "", nil)
	r.exec.Script(s.tools.ID, "Fix", agent.SimOutcome{Duration: time.Hour})
	r.start()
	waitFor(t, "the final status", func() bool { return s.status(s.ad, s.rid).LastEvent == advertisement.EventTSFailed })
	r.stop()
	if runs := r.exec.Runs(); len(runs) != 1 || runs[0].MaxRunTime != time.Minute {
		t.Fatalf("runs %+v, want Fix with a one-minute limit", runs)
	}
	if cs := s.status(s.ad, s.rid); !strings.Contains(cs.Detail, `"Fix"`) {
		t.Errorf("final detail %q does not name the step", cs.Detail)
	}
}

// TestTaskSequenceDownloadAllFirst: with "Download all contents locally
// before starting task sequence" every package the steps use is in the
// cache before the sequence starts; a package whose content cannot be had
// keeps the sequence from starting at all.
func TestTaskSequenceDownloadAllFirst(t *testing.T) {
	s := newTSScene(t, standardSequence, func(ad *advertisement.Advertisement) { ad.Fast = advertisement.FastDownload })
	r := s.newRig(device("PC01"), "", func(c *agent.Config) { c.Restart = newRestarter().restart })
	r.start()
	waitFor(t, "the restart step", func() bool { return r.count(agent.EventRestart) > 0 })
	r.stop()
	got := s.mp.events(s.ad.ID)
	started := slices.Index(got, advertisement.EventStarted)
	if started < 0 || countEvents(got[:started], advertisement.EventDownloadComplete) != 2 {
		t.Errorf("events %v: want both packages downloaded before Started", got)
	}
	for _, p := range []*pkg.Package{s.app, s.tools} {
		if _, ok := r.cache.Lookup(p.ID, p.SourceVersion); !ok {
			t.Errorf("package %s not in the cache", p.Name)
		}
	}

	// Content that is on no DP: the sequence waits and does not start.
	s2 := newTSScene(t, standardSequence, func(ad *advertisement.Advertisement) { ad.Fast = advertisement.FastDownload })
	must0(t, s2.site.RemovePackageFromDistributionPoints(s2.ctx, s2.tools.ID, "DP01"))
	r2 := s2.newRig(device("PC01"), "", nil)
	r2.start()
	waitFor(t, "a waiting status", func() bool { return slices.Contains(s2.mp.events(s2.ad.ID), advertisement.EventWaiting) })
	r2.stop()
	if ev := s2.mp.events(s2.ad.ID); slices.Contains(ev, advertisement.EventStarted) || len(r2.exec.Runs()) != 0 {
		t.Errorf("with content missing the sequence started: events %v, runs %d", ev, len(r2.exec.Runs()))
	}
}

func countEvents(evs []advertisement.Event, ev advertisement.Event) int {
	n := 0
	for _, e := range evs {
		if e == ev {
			n++
		}
	}
	return n
}
