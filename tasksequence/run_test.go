package tasksequence_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/consign/consign/tasksequence"
	"pgregory.net/rapid"
)

// result is a StepResult without its Detail, which is for people.
type result struct {
	Path      string
	Name      string
	Kind      tasksequence.Kind
	State     tasksequence.StepState
	ExitCode  int
	Continued bool
}

func results(rs []tasksequence.StepResult) []result {
	if len(rs) == 0 {
		return nil
	}
	out := make([]result, len(rs))
	for i, r := range rs {
		out[i] = result{r.Path.String(), r.Name, r.Kind, r.State, r.ExitCode, r.Continued}
	}
	return out
}

// model is the brute-force model of a run: the engine's rules written as
// a recursion over the sequence. A failing step without ContinueOnError
// skips the rest of its group and fails the group; a group that fails
// without ContinueOnError fails its own group, up to the top, where the
// run fails.
type model struct {
	env      tasksequence.Env
	outcomes script
	vars     map[string]string // by upper-case name
	executed []string          // the actions run, in order
	results  []result
	failed   bool
}

func runModel(s *tasksequence.Sequence, vars map[string]string, env tasksequence.Env, outcomes script) *model {
	m := &model{env: env, outcomes: outcomes, vars: map[string]string{}}
	for k, v := range vars {
		m.vars[strings.ToUpper(k)] = v
	}
	m.failed = m.steps(s.Steps, nil)
	return m
}

func (m *model) set(name, value string) { m.vars[strings.ToUpper(name)] = value }

func (m *model) record(p tasksequence.Path, st *tasksequence.Step, state tasksequence.StepState, exit int, continued bool) {
	m.results = append(m.results, result{p.String(), st.Name, st.Kind(), state, exit, continued})
}

// steps runs a container's steps and reports whether a failure escaped
// it.
func (m *model) steps(steps []tasksequence.Step, prefix tasksequence.Path) (failed bool) {
	for i := range steps {
		st, p := &steps[i], append(slices.Clip(prefix), i)
		if st.Disabled {
			m.record(p, st, tasksequence.StepSkippedDisabled, 0, false)
			continue
		}
		if !st.Condition.Evaluate(m.vars, m.env) {
			m.record(p, st, tasksequence.StepSkippedCondition, 0, false)
			continue
		}
		ok, exit := true, 0
		switch {
		case st.Group != nil:
			ok = !m.steps(st.Group.Steps, p)
		case st.SetVariable != nil:
			m.set(st.SetVariable.Name, st.SetVariable.Value)
			m.set(tasksequence.VarLastActionRetCode, "0")
			m.set(tasksequence.VarLastActionSucceeded, "true")
		default:
			o, found := m.outcomes[p.String()]
			if !found {
				panic("no outcome for " + p.String())
			}
			m.executed = append(m.executed, p.String())
			m.set(tasksequence.VarCurrentActionName, st.Name)
			m.set(tasksequence.VarLastActionRetCode, strconv.Itoa(o.ExitCode))
			m.set(tasksequence.VarLastActionSucceeded, strconv.FormatBool(o.Succeeded))
			ok, exit = o.Succeeded, o.ExitCode
		}
		if ok {
			m.record(p, st, tasksequence.StepSucceeded, exit, false)
			continue
		}
		m.record(p, st, tasksequence.StepFailed, exit, st.ContinueOnError)
		if !st.ContinueOnError {
			return true
		}
	}
	return false
}

// persist saves r as an agent does, as JSON, and loads it into a fresh
// Run; the saved form must survive the trip unchanged.
func persist(t tb, r *tasksequence.Run) *tasksequence.Run {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("encoding the run: %v", err)
	}
	var loaded tasksequence.Run
	if err := json.Unmarshal(b, &loaded); err != nil {
		t.Fatalf("decoding the run: %v", err)
	}
	again, err := json.Marshal(&loaded)
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("the run changed in JSON (%v):\n%s\n%s", err, b, again)
	}
	return &loaded
}

// interruption is where a drive stops the agent.
type interruption int

const (
	noInterruption interruption = iota
	// whileRunning: the run is saved between Next and Complete and the
	// agent (or the device) stops: the outcome never arrives.
	whileRunning
	// afterCompleting: the run is saved after Complete and the agent
	// stops before it asks for the next action.
	afterCompleting
)

// drive is one execution of a sequence by a scripted agent.
type drive struct {
	seq  *tasksequence.Sequence
	vars map[string]string
	env  fakeEnv
	sc   script
	run  *tasksequence.Run
	// executed lists the actions the agent started, in order.
	executed []string
	// effective is how each started action really ended: its scripted
	// outcome, or what Resume made of it when it was cut short.
	effective script
	// events counts the interruptions by kind, when not nil.
	events map[string]int
}

func (d *drive) event(name string) {
	if d.events != nil {
		d.events[name]++
	}
}

// do drives the run to its end. interrupt, when not nil, chooses where
// the agent stops after each action is handed out (and when a restart is
// pending, whether it is saved first).
func (d *drive) do(t *rapid.T, interrupt func(label string) interruption) {
	d.run = tasksequence.NewRun(d.seq, d.vars)
	d.effective = script{}
	started := map[string]bool{}
	for range 10000 {
		p, st := d.run.Next(d.env)
		if p == nil {
			if d.run.RestartPending {
				// The agent restarts the computer, then resumes.
				if interrupt != nil && interrupt("restart pending") != noInterruption {
					d.run = persist(t, d.run)
					d.event("saved with a restart pending")
				}
				if !d.run.Resume() {
					t.Fatal("Resume with a restart pending reported no restart")
				}
				continue
			}
			if !d.run.Done {
				t.Fatal("Next returned no action, but the run is neither done nor waiting for a restart")
			}
			return
		}
		key := p.String()
		if st != d.seq.Step(p) && !reflect.DeepEqual(*st, *d.seq.Step(p)) {
			t.Fatalf("Next returned %+v for %s, the sequence has %+v", *st, key, *d.seq.Step(p))
		}
		if st.Group != nil || st.SetVariable != nil {
			t.Fatalf("Next handed the agent a %s at %s", st.Kind(), key)
		}
		for i := 1; i <= len(p); i++ {
			if d.seq.Step(p[:i]).Disabled {
				t.Fatalf("Next handed out %s, inside disabled step %s", key, p[:i])
			}
		}
		if started[key] {
			t.Fatalf("action %s handed out a second time", key)
		}
		started[key] = true
		d.executed = append(d.executed, key)
		if v, _ := d.run.Variable(tasksequence.VarCurrentActionName); v != st.Name {
			t.Fatalf("%s = %q while %q runs", tasksequence.VarCurrentActionName, v, st.Name)
		}
		if again, _ := d.run.Next(d.env); again.String() != key {
			t.Fatalf("Next before Complete returned %s, then %s", key, again)
		}
		how := noInterruption
		if interrupt != nil {
			how = interrupt(key)
		}
		if how == whileRunning {
			d.event("cut short: " + st.Kind().String())
			d.run = persist(t, d.run)
			restarted := d.run.Resume()
			if restarted != (st.Restart != nil) {
				t.Fatalf("Resume with %s (%s) current = %v", key, st.Kind(), restarted)
			}
			if restarted {
				d.effective[key] = tasksequence.Outcome{Succeeded: true}
			} else {
				d.effective[key] = tasksequence.Outcome{ExitCode: -1}
			}
			continue
		}
		o := d.sc[key]
		if err := d.run.Complete(o); err != nil {
			t.Fatalf("Complete(%s): %v", key, err)
		}
		d.effective[key] = o
		if d.run.RestartPending != (o.Succeeded && o.Restart) {
			t.Fatalf("after %s ended %+v: RestartPending %v", key, o, d.run.RestartPending)
		}
		if how == afterCompleting {
			d.event("saved after completing")
			pending := d.run.RestartPending
			d.run = persist(t, d.run)
			if d.run.Resume() != pending {
				t.Fatalf("Resume after completing %s: restarted != restart pending (%v)", key, pending)
			}
		}
	}
	t.Fatal("the run did not end in 10000 actions")
}

// check asserts what holds of every drive, interrupted or not, against
// the model run with the outcomes the actions really had.
func (d *drive) check(t *rapid.T) {
	r := d.run
	if !r.Done || r.Current != nil || r.RestartPending {
		t.Fatalf("after the drive: Done %v, Current %v, RestartPending %v", r.Done, r.Current, r.RestartPending)
	}
	if p, _ := r.Next(d.env); p != nil {
		t.Fatalf("Next after the end returned %s", p)
	}
	if err := r.Complete(tasksequence.Outcome{Succeeded: true}); err == nil {
		t.Fatal("Complete after the end accepted an outcome")
	}
	if r.Resume() {
		t.Fatal("Resume after the end reported a restart")
	}

	// Every step ends at most once; every action started ended exactly
	// once, run or failed, and nothing else was run.
	got := results(r.Results)
	ended := map[string]result{}
	for _, res := range got {
		if _, dup := ended[res.Path]; dup {
			t.Fatalf("step %s has two results: %+v", res.Path, got)
		}
		ended[res.Path] = res
	}
	for _, key := range d.executed {
		res, ok := ended[key]
		if !ok || res.State != tasksequence.StepSucceeded && res.State != tasksequence.StepFailed {
			t.Fatalf("action %s was started and ended %+v", key, res)
		}
	}

	// (a) A skipped step, and every step in it, never ran.
	for _, res := range got {
		if res.State != tasksequence.StepSkippedDisabled && res.State != tasksequence.StepSkippedCondition {
			continue
		}
		for _, key := range d.executed {
			if key == res.Path || strings.HasPrefix(key, res.Path+".") {
				t.Fatalf("%s ran inside %s, which was skipped (%s)", key, res.Path, res.State)
			}
		}
	}

	// (b) Every action that failed is among the Failures, continued when
	// it continues on error, and the run failed exactly when a failure
	// reached the top.
	failures := map[string]tasksequence.StepResult{}
	for _, f := range r.Failures() {
		failures[f.Path.String()] = f
	}
	for _, key := range d.executed {
		if d.effective[key].Succeeded {
			continue
		}
		f, ok := failures[key]
		st := d.seq.Step(parsePath(key))
		if !ok || f.Continued != st.ContinueOnError {
			t.Fatalf("failed action %s: Failures has %+v (found %v), ContinueOnError %v", key, f, ok, st.ContinueOnError)
		}
	}
	escaped := slices.ContainsFunc(got, func(res result) bool {
		return !strings.Contains(res.Path, ".") && res.State == tasksequence.StepFailed && !res.Continued
	})
	if r.Succeeded() == escaped || r.Failed != escaped {
		t.Fatalf("Succeeded %v, Failed %v, but a failure reached the top: %v", r.Succeeded(), r.Failed, escaped)
	}

	// The model, given the outcomes the actions had, ran the same actions
	// in the same order with the same results and variables.
	m := runModel(d.seq, d.vars, d.env, d.merged())
	if !slices.Equal(d.executed, m.executed) {
		t.Fatalf("ran %q, the model %q", d.executed, m.executed)
	}
	if !reflect.DeepEqual(got, m.results) {
		t.Fatalf("results\n %+v\nmodel\n %+v", got, m.results)
	}
	if r.Succeeded() == m.failed {
		t.Fatalf("Succeeded %v, the model failed %v", r.Succeeded(), m.failed)
	}
	if !reflect.DeepEqual(r.Variables, m.vars) {
		t.Fatalf("variables %v, the model %v", r.Variables, m.vars)
	}
}

// merged is the script with the effective outcomes of the actions run.
func (d *drive) merged() script {
	out := script{}
	for k, o := range d.sc {
		out[k] = o
	}
	for k, o := range d.effective {
		out[k] = o
	}
	return out
}

// parsePath parses a path as Path.String writes it.
func parsePath(s string) tasksequence.Path {
	var p tasksequence.Path
	for _, part := range strings.Split(s, ".Group.") {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(part, "Steps["), "]"))
		if err != nil {
			panic(s)
		}
		p = append(p, n)
	}
	return p
}

func drawDrive(t *rapid.T) *drive {
	s := genSequence.Draw(t, "sequence")
	return &drive{seq: s, vars: genVars.Draw(t, "vars"), env: genEnv.Draw(t, "env"), sc: drawScript(t, s)}
}

// Without interruptions the run does exactly what the model does: (a)
// skipped steps never run, (b) no failure is hidden, and the actions run
// in the model's order.
func TestRunMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := drawDrive(t)
		d.do(t, nil)
		d.check(t)
	})
}

// (c) Interrupted anywhere (saved as JSON while an action runs, after it
// completed, while a restart is pending) and resumed, the run starts no
// action twice, ends every started action once, and otherwise behaves as
// the model with the outcomes the interruptions gave: an action cut short
// failed with -1, a Restart Computer step cut short succeeded.
func TestRunResumes(t *testing.T) {
	events := map[string]int{}
	checkCovering(t, func(t *rapid.T) {
		d := drawDrive(t)
		d.events = events
		d.do(t, func(label string) interruption {
			return rapid.SampledFrom([]interruption{noInterruption, noInterruption, whileRunning, afterCompleting}).Draw(t, "interrupt "+label)
		})
		d.check(t)
	}, events, "saved with a restart pending", "saved after completing",
		"cut short: "+tasksequence.KindRestart.String(), "cut short: "+tasksequence.KindInstallSoftware.String(),
		"cut short: "+tasksequence.KindRunCommandLine.String())
}

// checkCovering runs prop with rapid until seen counts every one of want
// (a property is only as good as the cases its generator reaches), at
// most 20 rounds.
func checkCovering(t *testing.T, prop func(*rapid.T), seen map[string]int, want ...string) {
	t.Helper()
	var missing []string
	for range 20 {
		rapid.Check(t, prop)
		missing = slices.DeleteFunc(slices.Clone(want), func(w string) bool { return seen[w] > 0 })
		if len(missing) == 0 || t.Failed() {
			return
		}
	}
	t.Errorf("no generated run had %q", missing)
}

// The generators reach the cases the properties are about.
func TestRunGeneratorsCover(t *testing.T) {
	seen := map[string]int{}
	checkCovering(t, func(t *rapid.T) {
		d := drawDrive(t)
		d.do(t, nil)
		for _, res := range d.run.Results {
			seen[res.State.String()]++
			if res.State == tasksequence.StepFailed && res.Continued {
				seen["continued"]++
			}
			if res.State == tasksequence.StepFailed && res.Kind == tasksequence.KindGroup {
				seen["group failed"]++
			}
		}
		if d.run.Failed {
			seen["run failed"]++
		} else {
			seen["run succeeded"]++
		}
	}, seen, "Succeeded", "Failed", "SkippedDisabled", "SkippedCondition", "continued", "group failed", "run failed", "run succeeded")
}

// agent drives r with the outcomes by step name (success when not
// listed) until it ends or waits for a restart, and returns the names of
// the actions it ran.
func agent(t *testing.T, r *tasksequence.Run, env tasksequence.Env, outcomes map[string]tasksequence.Outcome) []string {
	t.Helper()
	var ran []string
	for range 100 {
		_, st := r.Next(env)
		if st == nil {
			return ran
		}
		ran = append(ran, st.Name)
		o, ok := outcomes[st.Name]
		if !ok {
			o = tasksequence.Outcome{Succeeded: true}
		}
		if err := r.Complete(o); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the run did not end")
	return nil
}

func failed(code int) tasksequence.Outcome { return tasksequence.Outcome{ExitCode: code} }

func continueOnError(st tasksequence.Step) tasksequence.Step {
	st.ContinueOnError = true
	return st
}

func disabled(st tasksequence.Step) tasksequence.Step {
	st.Disabled = true
	return st
}

func when(c tasksequence.Condition, st tasksequence.Step) tasksequence.Step {
	st.Condition = &c
	return st
}

// res is a result for the tables.
func res(path string, name string, kind tasksequence.Kind, state tasksequence.StepState, exit int, continued bool) result {
	return result{path, name, kind, state, exit, continued}
}

// Short names for the tables.
const (
	stOK     = tasksequence.StepSucceeded
	stFailed = tasksequence.StepFailed
	stOff    = tasksequence.StepSkippedDisabled
	stFalse  = tasksequence.StepSkippedCondition
	cmdK     = tasksequence.KindRunCommandLine
	groupK   = tasksequence.KindGroup
)

// TestGroupSemantics: "When a task sequence step fails, and Continue on
// error is not enabled, all the remaining steps in the containing group
// are skipped, and the containing group is considered to have failed; if
// there is no containing group the task sequence terminates with an
// error."
func TestGroupSemantics(t *testing.T) {
	env := newEnv("x64", "6.0")
	r := func(name string) tasksequence.Step { return runStep(name, "cmd") }
	cases := []struct {
		name      string
		steps     []tasksequence.Step
		outcomes  map[string]tasksequence.Outcome
		ran       []string
		results   []result
		succeeded bool
	}{
		{"a failure skips the rest of the group and fails it, then the sequence",
			[]tasksequence.Step{group("G", r("A"), r("B"), r("C")), r("D")},
			map[string]tasksequence.Outcome{"B": failed(5)},
			[]string{"A", "B"},
			[]result{res("Steps[0].Group.Steps[0]", "A", cmdK, stOK, 0, false), res("Steps[0].Group.Steps[1]", "B", cmdK, stFailed, 5, false),
				res("Steps[0]", "G", groupK, stFailed, 0, false)},
			false},
		{"a group that continues on error lets the sequence go on, and still fails",
			[]tasksequence.Step{continueOnError(group("G", r("A"), r("B"))), r("D")},
			map[string]tasksequence.Outcome{"A": failed(1)},
			[]string{"A", "D"},
			[]result{res("Steps[0].Group.Steps[0]", "A", cmdK, stFailed, 1, false), res("Steps[0]", "G", groupK, stFailed, 0, true),
				res("Steps[1]", "D", cmdK, stOK, 0, false)},
			true},
		{"a step that continues on error lets its group go on, which succeeds",
			[]tasksequence.Step{group("G", continueOnError(r("A")), r("B"))},
			map[string]tasksequence.Outcome{"A": failed(2)},
			[]string{"A", "B"},
			[]result{res("Steps[0].Group.Steps[0]", "A", cmdK, stFailed, 2, true), res("Steps[0].Group.Steps[1]", "B", cmdK, stOK, 0, false),
				res("Steps[0]", "G", groupK, stOK, 0, false)},
			true},
		{"without a containing group the sequence ends with an error",
			[]tasksequence.Step{r("A"), r("B")},
			map[string]tasksequence.Outcome{"A": failed(1603)},
			[]string{"A"},
			[]result{res("Steps[0]", "A", cmdK, stFailed, 1603, false)},
			false},
		{"a failure climbs to the group that continues on error",
			[]tasksequence.Step{continueOnError(group("Outer", group("Inner", r("A"), r("B")), r("C"))), r("D")},
			map[string]tasksequence.Outcome{"A": failed(1)},
			[]string{"A", "D"},
			[]result{res("Steps[0].Group.Steps[0].Group.Steps[0]", "A", cmdK, stFailed, 1, false),
				res("Steps[0].Group.Steps[0]", "Inner", groupK, stFailed, 0, false), res("Steps[0]", "Outer", groupK, stFailed, 0, true),
				res("Steps[1]", "D", cmdK, stOK, 0, false)},
			true},
		{"a disabled group skips every step in it",
			[]tasksequence.Step{disabled(group("G", r("A"), r("B"))), r("C")},
			nil,
			[]string{"C"},
			[]result{res("Steps[0]", "G", groupK, stOff, 0, false), res("Steps[1]", "C", cmdK, stOK, 0, false)},
			true},
		{"a group whose condition is false skips every step in it",
			[]tasksequence.Step{when(tasksequence.FileExists(`C:\nothing`, true), group("G", r("A"))), when(tasksequence.OSIs("x64", tasksequence.Exists, ""), r("B"))},
			nil,
			[]string{"B"},
			[]result{res("Steps[0]", "G", groupK, stFalse, 0, false), res("Steps[1]", "B", cmdK, stOK, 0, false)},
			true},
		{"an empty group succeeds",
			[]tasksequence.Step{group("G")},
			nil,
			nil,
			[]result{res("Steps[0]", "G", groupK, stOK, 0, false)},
			true},
		{"an empty sequence succeeds", nil, nil, nil, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := tasksequence.NewRun(sequence(c.steps...), nil)
			ran := agent(t, run, env, c.outcomes)
			if !slices.Equal(ran, c.ran) {
				t.Errorf("ran %q, want %q", ran, c.ran)
			}
			if got := results(run.Results); !reflect.DeepEqual(got, c.results) {
				t.Errorf("results\n %+v\nwant\n %+v", got, c.results)
			}
			if !run.Done || run.Succeeded() != c.succeeded {
				t.Errorf("Done %v, Succeeded %v, want %v", run.Done, run.Succeeded(), c.succeeded)
			}
			var wantFailures []result
			for _, x := range c.results {
				if x.State == stFailed {
					wantFailures = append(wantFailures, x)
				}
			}
			if got := results(run.Failures()); !reflect.DeepEqual(got, wantFailures) {
				t.Errorf("Failures %+v, want %+v", got, wantFailures)
			}
		})
	}
}

// The engine's variables are set after every action and left alone by
// skipped steps; Set Task Sequence Variable runs inside Next, and the
// conditions after it see the value.
func TestRunVariables(t *testing.T) {
	env := newEnv("x64", "6.0")
	lastFailed := tasksequence.VariableIs(tasksequence.VarLastActionSucceeded, tasksequence.Equals, "false")
	s := sequence(
		continueOnError(runStep("A", "cmd")),
		disabled(runStep("Off", "cmd")),
		when(tasksequence.FileExists(`C:\nothing`, true), runStep("Never", "cmd")),
		when(lastFailed, runStep("B", "cmd")),
		setStep("Set", "role", "Kiosk"),
		when(tasksequence.VariableIs("ROLE", tasksequence.Equals, "kiosk"), runStep("C", "cmd")),
		when(tasksequence.VariableIs("Role", tasksequence.NotEquals, "Kiosk"), runStep("Not C", "cmd")),
	)
	run := tasksequence.NewRun(s, map[string]string{"Site": "CEN"})
	want := func(name, value string) {
		t.Helper()
		if got, ok := run.Variable(name); !ok || got != value {
			t.Errorf("%s = %q (set %v), want %q", name, got, ok, value)
		}
	}
	want("site", "CEN")

	_, st := run.Next(env)
	if st == nil || st.Name != "A" {
		t.Fatalf("first action %+v, want A", st)
	}
	want(tasksequence.VarCurrentActionName, "A")
	if err := run.Complete(tasksequence.Outcome{ExitCode: 5}); err != nil {
		t.Fatal(err)
	}
	want(tasksequence.VarLastActionRetCode, "5")
	want(tasksequence.VarLastActionSucceeded, "false")

	// Off and Never are skipped without touching the variables: B sees
	// A's failure.
	_, st = run.Next(env)
	if st == nil || st.Name != "B" {
		t.Fatalf("second action %+v, want B", st)
	}
	want(tasksequence.VarLastActionRetCode, "5")
	if err := run.Complete(tasksequence.Outcome{Succeeded: true, ExitCode: 3010}); err != nil {
		t.Fatal(err)
	}
	want(tasksequence.VarLastActionRetCode, "3010")
	want(tasksequence.VarLastActionSucceeded, "true")
	run.SetVariable(tasksequence.VarLastActionRetCode, "7") // to see Set reset it

	// Set runs inside Next; C's condition sees Role.
	_, st = run.Next(env)
	if st == nil || st.Name != "C" {
		t.Fatalf("third action %+v, want C", st)
	}
	want("ROLE", "Kiosk")
	want(tasksequence.VarLastActionRetCode, "0")
	want(tasksequence.VarLastActionSucceeded, "true")
	if err := run.Complete(tasksequence.Outcome{Succeeded: true}); err != nil {
		t.Fatal(err)
	}
	if _, st = run.Next(env); st != nil {
		t.Fatalf("Next = %s, want the end (Not C's condition is false)", st.Name)
	}
	wantResults := []result{
		res("Steps[0]", "A", cmdK, stFailed, 5, true),
		res("Steps[1]", "Off", cmdK, stOff, 0, false),
		res("Steps[2]", "Never", cmdK, stFalse, 0, false),
		res("Steps[3]", "B", cmdK, stOK, 3010, false),
		res("Steps[4]", "Set", tasksequence.KindSetVariable, stOK, 0, false),
		res("Steps[5]", "C", cmdK, stOK, 0, false),
		res("Steps[6]", "Not C", cmdK, stFalse, 0, false),
	}
	if got := results(run.Results); !reflect.DeepEqual(got, wantResults) {
		t.Errorf("results\n %+v\nwant\n %+v", got, wantResults)
	}
	if !run.Succeeded() {
		t.Error("the run did not succeed")
	}
}

// Next hands out the same action until Complete; Complete without one
// changes nothing.
func TestRunNextAndComplete(t *testing.T) {
	env := newEnv("x64", "6.0")
	run := tasksequence.NewRun(sequence(runStep("A", "cmd"), runStep("B", "cmd")), nil)
	if err := run.Complete(tasksequence.Outcome{Succeeded: true}); err == nil {
		t.Fatal("Complete before Next accepted an outcome")
	}
	if len(run.Results) != 0 {
		t.Fatalf("Complete without an action recorded %+v", run.Results)
	}
	p1, a1 := run.Next(env)
	p2, a2 := run.Next(env)
	if p1.String() != "Steps[0]" || p2.String() != "Steps[0]" || a1.Name != "A" || a2.Name != "A" {
		t.Fatalf("Next twice: %s %s, %s %s", p1, a1.Name, p2, a2.Name)
	}
	p1[0] = 1 // the path is the caller's
	if p, _ := run.Next(env); p.String() != "Steps[0]" {
		t.Fatalf("changing the returned path moved the run to %s", p)
	}
}

// NewRun copies the sequence: changing the caller's afterwards changes
// nothing in the run.
func TestNewRunCopies(t *testing.T) {
	s := sequence(group("G", runStep("A", "cmd")), when(tasksequence.FileExists("x", false), runStep("B", "cmd")))
	run := tasksequence.NewRun(s, nil)
	s.Steps[0].Group.Steps[0].Name = "changed"
	s.Steps[0].Group.Steps[0].RunCommandLine.CommandLine = "changed"
	s.Steps[1].Condition.Path = "changed"
	_, st := run.Next(newEnv("x64", "6.0"))
	if st.Name != "A" || st.RunCommandLine.CommandLine != "cmd" || run.Sequence.Steps[1].Condition.Path != "x" {
		t.Fatalf("the run shares the caller's sequence: %+v", run.Sequence)
	}
}

// TestResume covers each way an agent can find a saved run.
func TestResume(t *testing.T) {
	env := newEnv("x64", "6.0")
	t.Run("restart computer step", func(t *testing.T) {
		run := tasksequence.NewRun(sequence(restartStep("Restart"), runStep("After", "cmd")), nil)
		if _, st := run.Next(env); st.Restart == nil {
			t.Fatalf("Next = %+v", st)
		}
		run = persist(t, run) // saved, then the computer restarts
		if !run.Resume() {
			t.Fatal("Resume after the Restart Computer step: restarted = false")
		}
		if ran := agent(t, run, env, nil); !slices.Equal(ran, []string{"After"}) {
			t.Errorf("after the restart ran %q, want [After]", ran)
		}
		want := []result{res("Steps[0]", "Restart", tasksequence.KindRestart, stOK, 0, false), res("Steps[1]", "After", cmdK, stOK, 0, false)}
		if got := results(run.Results); !reflect.DeepEqual(got, want) || run.Results[0].Detail != "restarted" {
			t.Errorf("results %+v, want %+v", run.Results, want)
		}
	})
	t.Run("restart an install asked for", func(t *testing.T) {
		run := tasksequence.NewRun(sequence(installStep("Office", "CEN00001", "Install"), runStep("After", "cmd")), nil)
		run.Next(env)
		if err := run.Complete(tasksequence.Outcome{Succeeded: true, ExitCode: 3010, Restart: true}); err != nil {
			t.Fatal(err)
		}
		if !run.RestartPending {
			t.Fatal("no restart pending after an outcome asking for one")
		}
		if p, st := run.Next(env); p != nil || st != nil || run.Done {
			t.Fatalf("Next with a restart pending = %s, Done %v", p, run.Done)
		}
		run = persist(t, run)
		if !run.Resume() || run.RestartPending {
			t.Fatalf("Resume with a restart pending: RestartPending %v", run.RestartPending)
		}
		if ran := agent(t, run, env, nil); !slices.Equal(ran, []string{"After"}) {
			t.Errorf("after the restart ran %q, want [After]", ran)
		}
		if !run.Succeeded() || run.Results[0].ExitCode != 3010 {
			t.Errorf("results %+v", run.Results)
		}
	})
	t.Run("interrupted action", func(t *testing.T) {
		run := tasksequence.NewRun(sequence(group("G", continueOnError(runStep("A", "cmd")), runStep("B", "cmd"))), nil)
		run.Next(env)
		run = persist(t, run) // the agent stops while A runs
		if run.Resume() {
			t.Fatal("Resume with an action cut short reported a restart")
		}
		if run.Current != nil {
			t.Fatal("the action cut short is still current")
		}
		if v, _ := run.Variable(tasksequence.VarLastActionRetCode); v != "-1" {
			t.Errorf("%s = %q, want -1", tasksequence.VarLastActionRetCode, v)
		}
		if ran := agent(t, run, env, nil); !slices.Equal(ran, []string{"B"}) {
			t.Errorf("after resuming ran %q, want [B]: A is never run again", ran)
		}
		f := run.Failures()
		if len(f) != 1 || f[0].Name != "A" || f[0].ExitCode != -1 || !f[0].Continued || !strings.Contains(f[0].Detail, "interrupted") {
			t.Errorf("Failures = %+v", f)
		}
		if !run.Succeeded() {
			t.Error("the run failed although A continues on error")
		}
	})
	t.Run("interrupted action without continue on error", func(t *testing.T) {
		run := tasksequence.NewRun(sequence(runStep("A", "cmd"), runStep("B", "cmd")), nil)
		run.Next(env)
		run = persist(t, run)
		run.Resume()
		if ran := agent(t, run, env, nil); len(ran) != 0 || !run.Done || run.Succeeded() {
			t.Errorf("ran %q, Done %v, Succeeded %v: want the run failed", ran, run.Done, run.Succeeded())
		}
	})
	t.Run("between actions", func(t *testing.T) {
		run := tasksequence.NewRun(sequence(runStep("A", "cmd"), runStep("B", "cmd")), nil)
		run.Next(env)
		if err := run.Complete(tasksequence.Outcome{Succeeded: true}); err != nil {
			t.Fatal(err)
		}
		before := persist(t, run)
		run = persist(t, run)
		if run.Resume() || !reflect.DeepEqual(run, before) {
			t.Fatalf("Resume between actions changed the run: %+v", run)
		}
		if ran := agent(t, run, env, nil); !slices.Equal(ran, []string{"B"}) {
			t.Errorf("ran %q, want [B]", ran)
		}
	})
}

func TestStepStateNames(t *testing.T) {
	for _, s := range []tasksequence.StepState{tasksequence.StepSucceeded, tasksequence.StepFailed, tasksequence.StepSkippedDisabled, tasksequence.StepSkippedCondition} {
		got, err := tasksequence.ParseStepState(s.String())
		if err != nil || got != s {
			t.Errorf("ParseStepState(%q) = %v, %v", s.String(), got, err)
		}
	}
	for _, bad := range []string{"", "invalid", "succeeded", "StepState(9)"} {
		if _, err := tasksequence.ParseStepState(bad); err == nil {
			t.Errorf("ParseStepState(%q) accepted it", bad)
		}
	}
	if got := tasksequence.StepState(9).String(); got != "StepState(9)" {
		t.Errorf("StepState(9) = %q", got)
	}
	if fmt.Sprint(tasksequence.UpdatesAll, tasksequence.UpdateScope(5)) != "All UpdateScope(5)" {
		t.Errorf("UpdateScope names: %v %v", tasksequence.UpdatesAll, tasksequence.UpdateScope(5))
	}
}
