package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/httpmp"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

// keyTaskSequence holds the task sequence run in progress (tsActive).
const keyTaskSequence = "agent/tasksequence"

// DefaultRestartWait is how long the agent waits, after Config.Restart
// returned, for the restart to end it; a device that is still running then
// did not restart, and the task sequence goes on as if it had.
const DefaultRestartWait = 10 * time.Minute

// tsActive is a task sequence run in progress as the State keeps it: the
// offer it runs, so that it resumes without waiting for a policy (and
// finishes even if the advertisement has since gone, as ConfigMgr's
// task sequence engine does), and the engine's whole state.
type tsActive struct {
	Offer httpmp.PolicyOffer `json:"offer"`
	// Due is the assignment occurrence the run is for.
	Due time.Time         `json:"due,omitzero"`
	Run *tasksequence.Run `json:"run"`
	// Reported counts the Run.Results already queued as status messages.
	Reported int `json:"reported"`
}

// tsEnv is what a task sequence condition reads from the device.
type tsEnv struct {
	os     pkg.OSInfo
	exists func(string) bool
}

func (e tsEnv) OS() pkg.OSInfo              { return e.os }
func (e tsEnv) FileExists(path string) bool { return e.exists(path) }

// fileExists is the default Config.FileExists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// loadTaskSequence reads a run left in progress by an earlier process: it
// resumes (tasksequence.Run.Resume) before anything else runs.
func (a *Agent) loadTaskSequence() error {
	var ts tsActive
	ok, err := a.getJSON(keyTaskSequence, &ts)
	if err != nil || !ok {
		return err
	}
	if ts.Run == nil || ts.Offer.Advertisement == nil || ts.Offer.TaskSequence == nil {
		return consign.Errorf(consign.ErrFailedPrecondition, "agent.New", keyTaskSequence, "damaged task sequence state")
	}
	a.ts, a.tsResume = &ts, true
	return nil
}

// saveTaskSequence persists the run in progress.
func (a *Agent) saveTaskSequence() {
	if err := a.putJSON(keyTaskSequence, a.ts); err != nil {
		a.log.Error("saving the task sequence state", "err", err)
	}
}

// startTaskSequence begins a run of the due task sequence offer d (§1.10).
// With "Download all contents locally before starting task sequence"
// (FastDownload) every package the steps use is fetched first, and a
// content problem ends the attempt as it would a program's; otherwise the
// steps fetch content when they need it (on demand) or run it from the
// DP. It returns nil once the run is stored: continueTaskSequence then
// drives it.
func (a *Agent) startTaskSequence(ctx context.Context, d *decision) *step {
	o := d.offer
	if o.Advertisement.Fast == advertisement.FastDownload {
		for _, info := range tsPackages(o) {
			_, release, s := a.content(ctx, d.id, info)
			if release != nil {
				release()
			}
			if s != nil {
				return s
			}
		}
	}
	vars := map[string]string{"_SMSTSAdvertID": string(d.id), "_SMSTSPackageID": string(o.Advertisement.PackageID)}
	a.ts = &tsActive{Offer: *o, Due: d.decided.DueAt, Run: tasksequence.NewRun(o.TaskSequence.Sequence, vars)}
	a.saveTaskSequence()
	a.report(d.id, nil, advertisement.EventStarted, 0, "")
	a.emit(Event{Kind: EventRunStarted, AdvertisementID: d.id, Program: pkg.ProgramRef{PackageID: o.Advertisement.PackageID, Program: tasksequence.ProgramName}})
	kick(a.kickSend)
	return nil
}

// tsPackages lists the packages offer o's task sequence may need content
// from: those its steps use and the deployment packages of its updates.
func tsPackages(o *httpmp.PolicyOffer) []*delivery.PackageInfo {
	out := slices.Clone(o.TaskSequence.Packages)
	for _, u := range o.Updates {
		if u.Package != nil && !slices.ContainsFunc(out, func(p *delivery.PackageInfo) bool { return p.ID == u.Package.ID }) {
			out = append(out, u.Package)
		}
	}
	return out
}

// tsPackage finds package id among those offer o's task sequence uses.
func tsPackage(o *httpmp.PolicyOffer, id consign.ObjectID) *delivery.PackageInfo {
	if info := o.TaskSequence.Package(id); info != nil {
		return info
	}
	for _, u := range o.Updates {
		if u.Package != nil && u.Package.ID == id {
			return u.Package
		}
	}
	return nil
}

// continueTaskSequence drives the run in progress until it ends, the
// device must restart, or ctx ends. It reports whether the run ended; when
// it did not, wake is when to look at it again (zero: at the next
// evaluation).
func (a *Agent) continueTaskSequence(ctx context.Context) (wake time.Time, ended bool) {
	ts := a.ts
	id := ts.Offer.Advertisement.ID
	if !a.restartAsked.IsZero() {
		if wait := a.restartAsked.Add(a.cfg.RestartWait); a.now().Before(wait) {
			return wait, false
		}
		a.log.Warn("the device did not restart within the wait; the task sequence goes on", "advertisement", id)
		a.restartAsked = time.Time{}
		a.tsResume = true
	}
	if a.tsResume {
		a.tsResume = false
		if !ts.Run.Done {
			restarted := ts.Run.Resume()
			detail := "the agent restarted"
			if restarted {
				detail = "the device restarted as the task sequence asked"
			}
			a.report(id, nil, advertisement.EventTSResumed, 0, detail)
			a.reportSteps()
			a.saveTaskSequence()
		}
	}
	env := tsEnv{os: a.facts.os, exists: a.cfg.FileExists}
	for ctx.Err() == nil {
		p, st := ts.Run.Next(env)
		a.reportSteps()
		a.saveTaskSequence()
		if st != nil && ts.Offer.Advertisement.ShowProgress {
			seq := &ts.Run.Sequence
			a.emit(Event{Kind: EventProgress, AdvertisementID: id, Detail: st.Name, Step: seq.Index(p) + 1, Steps: seq.Len()})
		}
		switch {
		case st == nil && ts.Run.RestartPending:
			if w, asked := a.restartForTaskSequence(ctx, "a step asked for a restart"); asked {
				return w, false
			}
			continue
		case st == nil:
			a.endTaskSequence()
			return time.Time{}, true
		case st.Restart != nil:
			if st.Restart.Target == tasksequence.RestartToBootImage {
				a.completeStep(tasksequence.Outcome{ExitCode: -1,
					Detail: "cannot restart into a boot image (WinPE): this agent runs in the installed operating system"})
				continue
			}
			if w, asked := a.restartForTaskSequence(ctx, st.Restart.Message); asked {
				return w, false
			}
			continue
		}
		out, ok := a.runStep(ctx, p, st)
		if !ok {
			// ctx ended while the step ran: the step stays Current, and
			// the next process records it as interrupted (never rerun).
			return time.Time{}, false
		}
		a.completeStep(out)
	}
	return time.Time{}, false
}

// completeStep hands the Current action's outcome to the engine, reports
// what ended and persists the run.
func (a *Agent) completeStep(out tasksequence.Outcome) {
	if err := a.ts.Run.Complete(out); err != nil {
		a.log.Error("task sequence engine", "err", err)
	}
	a.reportSteps()
	a.saveTaskSequence()
}

// restartForTaskSequence restarts the device through Config.Restart for
// the run in progress, whose state is already saved: a Restart Computer
// step is Current, or a restart is pending. It reports whether the restart
// was asked for (the run then waits for it: wake is when to stop
// waiting). Without a Restart hook, or when it fails, a Restart Computer
// step fails and a pending restart is dropped, with a warning.
func (a *Agent) restartForTaskSequence(ctx context.Context, message string) (wake time.Time, asked bool) {
	run := a.ts.Run
	id := a.ts.Offer.Advertisement.ID
	var err error
	if a.cfg.Restart == nil {
		err = errors.New("this agent cannot restart the device (Config.Restart is nil)")
	} else {
		a.emit(Event{Kind: EventRestart, AdvertisementID: id, Detail: message})
		err = a.cfg.Restart(ctx)
	}
	if err == nil {
		a.restartAsked = a.now()
		return a.restartAsked.Add(a.cfg.RestartWait), true
	}
	if run.RestartPending {
		a.log.Warn("task sequence restart not done; going on without it", "advertisement", id, "err", err)
		run.RestartPending = false
		a.saveTaskSequence()
		return time.Time{}, false
	}
	a.completeStep(tasksequence.Outcome{ExitCode: -1, Detail: "restart failed: " + err.Error()})
	return time.Time{}, false
}

// reportSteps queues a status message (EventTSStep) for every step result
// not reported yet.
func (a *Agent) reportSteps() {
	ts := a.ts
	id := ts.Offer.Advertisement.ID
	for ; ts.Reported < len(ts.Run.Results); ts.Reported++ {
		r := ts.Run.Results[ts.Reported]
		a.reportStep(id, advertisement.StepStatus{
			Index: ts.Run.Sequence.Index(r.Path), Name: r.Name, State: r.State, Continued: r.Continued,
		}, r.ExitCode, r.Detail)
	}
}

// endTaskSequence reports the run's final result — 11171 succeeded or
// 11170 failed, with every failure ContinueOnError stepped over named in
// the detail, so that none is hidden — records the run in the execution
// history and forgets the run.
func (a *Agent) endTaskSequence() {
	ts := a.ts
	ad := ts.Offer.Advertisement
	run := ts.Run
	ev := advertisement.EventTSSucceeded
	if !run.Succeeded() {
		ev = advertisement.EventTSFailed
	}
	detail := runSummary(run)
	if a.report(ad.ID, nil, ev, 0, detail) == nil {
		if st := a.offers[ad.ID]; st != nil {
			st.Note, st.NoteDue = ev.String(), ts.Due
			a.saveOffers()
		}
	}
	a.setHistory(pkg.ProgramRef{PackageID: ad.PackageID, Program: tasksequence.ProgramName},
		advertisement.History{Ran: true, LastRun: a.now(), Succeeded: run.Succeeded()})
	a.emit(Event{Kind: EventRunFinished, AdvertisementID: ad.ID, Program: pkg.ProgramRef{PackageID: ad.PackageID, Program: tasksequence.ProgramName},
		Status: ev, Detail: detail})
	a.ts = nil
	if err := a.cfg.State.Delete(keyTaskSequence); err != nil {
		a.log.Error("forgetting the finished task sequence", "err", err)
	}
	kick(a.kickSend)
}

// runSummary describes how a run ended: step counts and every failure.
func runSummary(run *tasksequence.Run) string {
	var ok, skipped int
	var failed []string
	for _, r := range run.Results {
		switch r.State {
		case tasksequence.StepSucceeded:
			ok++
		case tasksequence.StepSkippedDisabled, tasksequence.StepSkippedCondition:
			skipped++
		case tasksequence.StepFailed:
			f := fmt.Sprintf("%q (exit code %d", r.Name, r.ExitCode)
			if r.Kind == tasksequence.KindGroup {
				f = fmt.Sprintf("%q (group", r.Name)
			}
			if r.Continued {
				f += ", continued on error"
			}
			failed = append(failed, f+")")
		}
	}
	s := fmt.Sprintf("%d succeeded, %d failed, %d skipped", ok, len(failed), skipped)
	if len(failed) > 0 {
		s += "; failed: " + strings.Join(failed, ", ")
	}
	return s
}

// runStep runs one action of the sequence and returns its outcome; ok is
// false when ctx ended while it ran.
func (a *Agent) runStep(ctx context.Context, p tasksequence.Path, st *tasksequence.Step) (out tasksequence.Outcome, ok bool) {
	ts := a.ts
	id := ts.Offer.Advertisement.ID
	ref := pkg.ProgramRef{PackageID: ts.Offer.Advertisement.PackageID, Program: st.Name}
	a.emit(Event{Kind: EventRunStarted, AdvertisementID: id, Program: ref, Detail: p.String()})
	defer func() {
		if ok {
			a.emit(Event{Kind: EventRunFinished, AdvertisementID: id, Program: ref, ExitCode: out.ExitCode, Detail: out.Detail})
		}
	}()
	switch {
	case st.InstallSoftware != nil:
		return a.installSoftware(ctx, st)
	case st.RunCommandLine != nil:
		return a.runCommandLine(ctx, st)
	case st.InstallUpdates != nil:
		return a.installUpdates(ctx, st)
	}
	return tasksequence.Outcome{ExitCode: -1, Detail: "this agent cannot run a " + st.Kind().String() + " step"}, true
}

// stepContent gets a package's content for a step, as the advertisement's
// content choice says (download now, or run from the DP). A package that
// cannot be had fails the step (ConfigMgr: "failed to resolve the
// source"), with the reason.
func (a *Agent) stepContent(ctx context.Context, id consign.ObjectID) (dir string, release func(), fail *tasksequence.Outcome, ok bool) {
	o := &a.ts.Offer
	info := tsPackage(o, id)
	if info == nil {
		return "", nil, &tasksequence.Outcome{ExitCode: -1, Detail: fmt.Sprintf("package %s is not in the task sequence's policy", id)}, true
	}
	dir, release, s := a.content(ctx, o.Advertisement.ID, info)
	switch {
	case s == nil:
		return dir, release, nil, true
	case s.cancelled:
		return "", release, nil, false
	}
	return "", release, &tasksequence.Outcome{ExitCode: -1, Detail: fmt.Sprintf("content of package %s: %s: %s", id, s.event, s.detail)}, true
}

// executeStep runs c for step st (its Timeout, when set, bounds the run)
// with the task sequence variables in its environment, and classifies how
// it ended with success, which says whether an exit code counts as
// success; ok is false when ctx ended.
func (a *Agent) executeStep(ctx context.Context, st *tasksequence.Step, c Command, success func(int) bool) (tasksequence.Outcome, bool) {
	if st.Timeout > 0 {
		c.MaxRunTime = st.Timeout
	}
	c.Env = append(c.Env, a.tsVariables()...)
	out, err := a.cfg.Executor.Run(ctx, c)
	switch {
	case err != nil && ctx.Err() != nil:
		return tasksequence.Outcome{}, false
	case err != nil:
		return tasksequence.Outcome{ExitCode: -1, Detail: "could not start: " + err.Error()}, true
	case out.TimedOut:
		return tasksequence.Outcome{ExitCode: -1, Detail: fmt.Sprintf("stopped after the step's time-out of %s", c.MaxRunTime)}, true
	}
	return tasksequence.Outcome{ExitCode: out.ExitCode, Succeeded: success(out.ExitCode), Detail: fmt.Sprintf("exit code %d", out.ExitCode)}, true
}

// installed classifies an installer's exit code by §3.5's default lists:
// success, and whether a restart is required (3010 and the like).
func installed(code int) (succeeded, restart bool) {
	switch advertisement.DefaultExitCodes().Classify(code) {
	case advertisement.ExitSuccess:
		return true, false
	case advertisement.ExitSuccessRestart:
		return true, true
	}
	return false, false
}

// installSucceeded is installed's first answer, for executeStep.
func installSucceeded(code int) bool {
	ok, _ := installed(code)
	return ok
}

// tsVariables passes the task sequence variables to a step's command as
// environment variables, as the task sequence engine does.
func (a *Agent) tsVariables() []string {
	vars := a.ts.Run.Variables
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// installSoftware runs an Install Software step: the program from its
// package's content. A restart exit code (3010 and the others of §3.5) is
// success that restarts the device before the next step (§1.10); a retry
// code fails the step, which the task sequence does not retry.
func (a *Agent) installSoftware(ctx context.Context, st *tasksequence.Step) (tasksequence.Outcome, bool) {
	ref := pkg.ProgramRef{PackageID: st.InstallSoftware.PackageID, Program: st.InstallSoftware.Program}
	prog := a.ts.Offer.TaskSequence.Program(ref)
	if prog == nil {
		return tasksequence.Outcome{ExitCode: -1, Detail: fmt.Sprintf("program %s is not in the task sequence's policy", ref)}, true
	}
	dir, release, fail, ok := a.stepContent(ctx, ref.PackageID)
	if release != nil {
		defer release()
	}
	if fail != nil || !ok {
		return derefOutcome(fail), ok
	}
	res, ok := a.executeStep(ctx, st, CommandFor(prog, dir), installSucceeded)
	if _, restart := installed(res.ExitCode); ok && res.Succeeded && restart {
		res.Restart = true
		res.Detail += ": restart required"
	}
	return res, ok
}

func derefOutcome(o *tasksequence.Outcome) tasksequence.Outcome {
	if o == nil {
		return tasksequence.Outcome{}
	}
	return *o
}

// runCommandLine runs a Run Command Line step, from its package's content
// when it names one; its success codes decide (default 0 and 3010, and no
// restart for 3010).
func (a *Agent) runCommandLine(ctx context.Context, st *tasksequence.Step) (tasksequence.Outcome, bool) {
	rc := st.RunCommandLine
	dir := ""
	if rc.PackageID != "" {
		d, release, fail, ok := a.stepContent(ctx, rc.PackageID)
		if release != nil {
			defer release()
		}
		if fail != nil || !ok {
			return derefOutcome(fail), ok
		}
		dir = d
	}
	wd := dir
	if rc.WorkingDirectory != "" {
		if filepath.IsAbs(rc.WorkingDirectory) || dir == "" {
			wd = rc.WorkingDirectory
		} else {
			wd = filepath.Join(dir, filepath.FromSlash(rc.WorkingDirectory))
		}
	}
	c := Command{PackageID: rc.PackageID, Program: st.Name, CommandLine: rc.CommandLine, WorkingDir: wd}
	res, ok := a.executeStep(ctx, st, c, rc.Succeeded)
	return res, ok
}

// installUpdates runs an Install Software Updates step: each update the
// policy lists for the device (only the mandatory ones with
// UpdatesMandatory), one after another, from its deployment package's
// content. Every failure is named; any failure fails the step; an update
// asking for a restart restarts the device after the step.
//
// The agent downloads a deployment package whole, as it does any package;
// ConfigMgr's client fetches only the files of the updates it installs.
func (a *Agent) installUpdates(ctx context.Context, st *tasksequence.Step) (tasksequence.Outcome, bool) {
	var todo []delivery.TaskSequenceUpdate
	for _, u := range a.ts.Offer.Updates {
		if u.Mandatory || st.InstallUpdates.Scope == tasksequence.UpdatesAll {
			todo = append(todo, u)
		}
	}
	if len(todo) == 0 {
		return tasksequence.Outcome{Succeeded: true, Detail: "no " + strings.ToLower(st.InstallUpdates.Scope.String()) + " updates required"}, true
	}
	var failed []string
	restart, last := false, 0
	for _, u := range todo {
		kb := "KB" + u.ArticleID
		if u.Package == nil {
			failed = append(failed, kb+": no deployment package holds it")
			continue
		}
		dir, release, fail, ok := a.stepContent(ctx, u.Package.ID)
		if (fail != nil || !ok) && release != nil {
			release()
		}
		if !ok {
			return tasksequence.Outcome{}, false
		}
		if fail != nil {
			failed = append(failed, kb+": "+fail.Detail)
			continue
		}
		for _, f := range u.Files {
			line, err := updateCommand(filepath.Join(dir, filepath.FromSlash(f)))
			if err != nil {
				failed = append(failed, kb+": "+err.Error())
				continue
			}
			c := Command{PackageID: u.Package.ID, Program: kb, CommandLine: line, WorkingDir: dir, MaxRunTime: u.MaxExecutionTime}
			res, ok := a.executeStep(ctx, st, c, installSucceeded)
			if !ok {
				if release != nil {
					release()
				}
				return tasksequence.Outcome{}, false
			}
			last = res.ExitCode
			switch {
			case !res.Succeeded:
				failed = append(failed, kb+": "+res.Detail)
			default:
				_, r := installed(res.ExitCode)
				restart = restart || r
			}
		}
		if release != nil {
			release()
		}
	}
	if len(failed) > 0 {
		return tasksequence.Outcome{ExitCode: last, Detail: fmt.Sprintf("%d of %d updates failed: %s", len(failed), len(todo), strings.Join(failed, "; "))}, true
	}
	return tasksequence.Outcome{Succeeded: true, ExitCode: last, Restart: restart, Detail: fmt.Sprintf("%d updates installed", len(todo))}, true
}

// updateCommand is the command line that installs an update file quietly
// without restarting, by its kind: a Windows Update standalone package
// (.msu, wusa), a Windows Installer package or patch (.msi, .msp,
// msiexec), or an executable (.exe, the /quiet /norestart switches of
// update installers).
func updateCommand(file string) (string, error) {
	switch strings.ToLower(path.Ext(filepath.ToSlash(file))) {
	case ".msu":
		return fmt.Sprintf(`wusa.exe "%s" /quiet /norestart`, file), nil
	case ".msi":
		return fmt.Sprintf(`msiexec.exe /i "%s" /qn /norestart`, file), nil
	case ".msp":
		return fmt.Sprintf(`msiexec.exe /p "%s" /qn /norestart`, file), nil
	case ".exe":
		return fmt.Sprintf(`"%s" /quiet /norestart`, file), nil
	}
	return "", fmt.Errorf("no installer for %s files (%s)", path.Ext(filepath.ToSlash(file)), filepath.Base(file))
}
