package tasksequence_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
	"pgregory.net/rapid"
)

// This file holds what the package's tests share: rapid generators of
// valid sequences, conditions, devices (Env) and outcome scripts, and
// helpers to read validation errors and compare sequences.

// fakeEnv is an Env: an operating system and the files that exist.
type fakeEnv struct {
	os    pkg.OSInfo
	files map[string]bool
}

func (e fakeEnv) OS() pkg.OSInfo { return e.os }

func (e fakeEnv) FileExists(path string) bool { return e.files[path] }

// newEnv returns a device running platform at version with files.
func newEnv(platform, version string, files ...string) fakeEnv {
	v, err := pkg.ParseFileVersion(version)
	if err != nil {
		panic(err)
	}
	e := fakeEnv{os: pkg.OSInfo{Name: "Microsoft Windows NT Workstation", Platform: platform, Version: v}, files: map[string]bool{}}
	for _, f := range files {
		e.files[f] = true
	}
	return e
}

// The small worlds the generators draw from, so that conditions and
// variables meet often.
var (
	// varNames are the variables conditions read and steps set; "role"
	// is "Role" in another case (variables are case-insensitive).
	varNames = []string{"Role", "Count", "Flag", "role"}
	// condVarNames adds the variables the engine sets.
	condVarNames = append(slices.Clone(varNames), tasksequence.VarLastActionSucceeded, tasksequence.VarLastActionRetCode)
	varValues    = []string{"", "Kiosk", "kiosk", "10", "9", "010", "-3", "x", "true", "false", "0", "1"}
	filePaths    = []string{`C:\Windows\notepad.exe`, `C:\Temp`, `D:\missing.txt`}
	platforms    = []string{"I386", "x64", "IA64"}
	versions     = []string{"5.1", "5.1.2600", "6.0", "6.0.6001", "6.1.7600.16385"}
	packageIDs   = []consign.ObjectID{"CEN00010", "CEN00011", "LAB0000A"}
	programs     = []string{"Install", "Setup"}
	stepNames    = []string{"Install Office", "Run", "Restart", "Set role", "Apps & <tools>", `Say "hi"`, "Früh 日本"}
)

// textRunes are the characters drawn strings are made of: XML's special
// characters, whitespace the XML form must keep, and non-ASCII.
var textRunes = []rune("abcXYZ019 _-.&<>\"'\t\n\r\\/é日€")

// genText draws strings of textRunes, min to max runes long.
func genText(min, max int) *rapid.Generator[string] {
	return rapid.StringOfN(rapid.RuneFrom(textRunes), min, max, -1)
}

func drawName(t *rapid.T) string {
	return rapid.OneOf(rapid.SampledFrom(stepNames), genText(1, 30)).Draw(t, "name")
}

// drawCondition draws a valid condition; operators nest at most depth
// levels below it.
func drawCondition(t *rapid.T, depth int) tasksequence.Condition {
	kinds := 5
	if depth <= 0 {
		kinds = 2 // expressions only
	}
	switch rapid.IntRange(0, kinds).Draw(t, "condition") {
	case 0:
		cmp := tasksequence.Compare(rapid.IntRange(int(tasksequence.Exists), int(tasksequence.LessEqual)).Draw(t, "compare"))
		value := ""
		if cmp != tasksequence.Exists && cmp != tasksequence.NotExists {
			value = rapid.SampledFrom(varValues).Draw(t, "value")
		}
		return tasksequence.VariableIs(rapid.SampledFrom(condVarNames).Draw(t, "variable"), cmp, value)
	case 1:
		if rapid.Bool().Draw(t, "platform only") {
			return tasksequence.OSIs(rapid.SampledFrom(platforms).Draw(t, "platform"), tasksequence.Exists, "")
		}
		return tasksequence.OSIs(rapid.SampledFrom(append([]string{""}, platforms...)).Draw(t, "platform"),
			tasksequence.Compare(rapid.IntRange(int(tasksequence.Equals), int(tasksequence.LessEqual)).Draw(t, "compare")),
			rapid.SampledFrom(versions).Draw(t, "version"))
	case 2:
		return tasksequence.FileExists(rapid.SampledFrom(filePaths).Draw(t, "path"), rapid.Bool().Draw(t, "exists"))
	}
	operands := make([]tasksequence.Condition, rapid.IntRange(1, 3).Draw(t, "operands"))
	for i := range operands {
		operands[i] = drawCondition(t, depth-1)
	}
	return tasksequence.Condition{Op: []tasksequence.Op{tasksequence.OpAll, tasksequence.OpAny, tasksequence.OpNone}[rapid.IntRange(0, 2).Draw(t, "operator")],
		Operands: operands}
}

// genCondition generates valid conditions up to depth operators deep.
func genCondition(depth int) *rapid.Generator[tasksequence.Condition] {
	return rapid.Custom(func(t *rapid.T) tasksequence.Condition { return drawCondition(t, depth) })
}

// maxGroupDepth is how deeply generated groups nest.
const maxGroupDepth = 3

// drawSteps draws up to 4 steps of a container depth groups deep (the
// sequence is depth 0).
func drawSteps(t *rapid.T, depth int) []tasksequence.Step {
	var steps []tasksequence.Step
	for range rapid.IntRange(0, 4).Draw(t, "steps") {
		steps = append(steps, drawStep(t, depth))
	}
	return steps
}

// drawStep draws one valid step: a group (while depth allows) or any
// action, disabled, continuing on error, conditional and with a time-out
// in whole seconds now and then.
func drawStep(t *rapid.T, depth int) tasksequence.Step {
	st := tasksequence.Step{
		Name:            drawName(t),
		Description:     rapid.OneOf(rapid.Just(""), genText(0, 40)).Draw(t, "description"),
		Disabled:        rapid.IntRange(0, 7).Draw(t, "disabled") == 0,
		ContinueOnError: rapid.IntRange(0, 2).Draw(t, "continueOnError") == 0,
	}
	if rapid.IntRange(0, 2).Draw(t, "conditional") == 0 {
		c := drawCondition(t, 2)
		st.Condition = &c
	}
	kinds := []tasksequence.Kind{tasksequence.KindInstallSoftware, tasksequence.KindInstallUpdates, tasksequence.KindRunCommandLine,
		tasksequence.KindRestart, tasksequence.KindSetVariable}
	if depth < maxGroupDepth {
		kinds = append(kinds, tasksequence.KindGroup, tasksequence.KindGroup)
	}
	k := rapid.SampledFrom(kinds).Draw(t, "kind")
	if k == tasksequence.KindGroup {
		st.Group = &tasksequence.Group{Steps: drawSteps(t, depth+1)}
		return st
	}
	st.Timeout = time.Duration(rapid.SampledFrom([]int{0, 0, 1, 30, 3600, 86400}).Draw(t, "timeout")) * time.Second
	switch k {
	case tasksequence.KindInstallSoftware:
		st.InstallSoftware = &tasksequence.InstallSoftware{PackageID: rapid.SampledFrom(packageIDs).Draw(t, "package"),
			Program: rapid.OneOf(rapid.SampledFrom(programs), genText(1, 20)).Draw(t, "program")}
	case tasksequence.KindInstallUpdates:
		st.InstallUpdates = &tasksequence.InstallUpdates{Scope: rapid.SampledFrom([]tasksequence.UpdateScope{tasksequence.UpdatesMandatory, tasksequence.UpdatesAll}).Draw(t, "scope")}
	case tasksequence.KindRunCommandLine:
		rc := &tasksequence.RunCommandLine{
			CommandLine:      "cmd /c " + genText(0, 30).Draw(t, "command"),
			WorkingDirectory: rapid.OneOf(rapid.Just(""), genText(1, 20)).Draw(t, "workingDirectory"),
		}
		if rapid.Bool().Draw(t, "with package") {
			rc.PackageID = rapid.SampledFrom(packageIDs).Draw(t, "package")
		}
		rc.SuccessCodes = rapid.SliceOfN(rapid.IntRange(-5, 5000), 0, 3).Draw(t, "successCodes")
		st.RunCommandLine = rc
	case tasksequence.KindRestart:
		st.Restart = &tasksequence.RestartComputer{
			Target:        rapid.SampledFrom([]tasksequence.RestartTarget{tasksequence.RestartToInstalledOS, tasksequence.RestartToBootImage}).Draw(t, "target"),
			Message:       rapid.OneOf(rapid.Just(""), genText(1, 40)).Draw(t, "message"),
			NotifyTimeout: time.Duration(rapid.SampledFrom([]int{0, 0, 1, 60, 300}).Draw(t, "notifyTimeout")) * time.Second,
		}
	case tasksequence.KindSetVariable:
		st.SetVariable = &tasksequence.SetVariable{Name: rapid.SampledFrom(varNames).Draw(t, "setName"),
			Value: rapid.SampledFrom(varValues).Draw(t, "setValue")}
	}
	return st
}

// genSequence generates valid sequences: groups nest up to maxGroupDepth,
// with every step kind, conditions over variables, the OS and files.
var genSequence = rapid.Custom(func(t *rapid.T) *tasksequence.Sequence {
	s := &tasksequence.Sequence{
		SchemaVersion: rapid.SampledFrom([]string{"", tasksequence.DefaultSchemaVersion}).Draw(t, "schema"),
		Steps:         drawSteps(t, 0),
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("generated an invalid sequence: %v", err)
	}
	return s
})

// genEnv generates devices: an OS of platforms and versions, and some of
// filePaths.
var genEnv = rapid.Custom(func(t *rapid.T) fakeEnv {
	var files []string
	for _, f := range filePaths {
		if rapid.Bool().Draw(t, "file "+f) {
			files = append(files, f)
		}
	}
	return newEnv(rapid.SampledFrom(platforms).Draw(t, "platform"), rapid.SampledFrom(versions).Draw(t, "version"), files...)
})

// genVars generates a run's initial variables.
var genVars = rapid.Custom(func(t *rapid.T) map[string]string {
	vars := map[string]string{}
	for _, n := range varNames[:3] {
		if rapid.Bool().Draw(t, "set "+n) {
			vars[n] = rapid.SampledFrom(varValues).Draw(t, n)
		}
	}
	return vars
})

// script is the outcome of each action of a sequence, by its path.
type script map[string]tasksequence.Outcome

// drawScript draws how every action of s would end if it ran: mostly
// successes (0 or 3010; an Install Software step asks for the restart 3010
// means now and then), failures otherwise.
func drawScript(t *rapid.T, s *tasksequence.Sequence) script {
	sc := script{}
	s.Walk(func(p tasksequence.Path, st *tasksequence.Step) bool {
		if st.Group != nil || st.SetVariable != nil {
			return true
		}
		var o tasksequence.Outcome
		if rapid.IntRange(0, 3).Draw(t, "succeeds "+p.String()) > 0 {
			o = tasksequence.Outcome{Succeeded: true, ExitCode: rapid.SampledFrom([]int{0, 3010}).Draw(t, "exit "+p.String())}
			o.Restart = st.InstallSoftware != nil && o.ExitCode == 3010
		} else {
			o = tasksequence.Outcome{ExitCode: rapid.SampledFrom([]int{1, 5, 1603, -2147024891}).Draw(t, "exit "+p.String())}
		}
		o.Detail = fmt.Sprintf("exit %d", o.ExitCode)
		sc[p.String()] = o
		return true
	})
	return sc
}

// normalize returns a copy of s in the canonical form ImportXML produces:
// SchemaVersion DefaultSchemaVersion for empty, nil for every empty
// slice.
func normalize(s *tasksequence.Sequence) *tasksequence.Sequence {
	out := &tasksequence.Sequence{SchemaVersion: s.SchemaVersion, Steps: normalizeSteps(s.Steps)}
	if out.SchemaVersion == "" {
		out.SchemaVersion = tasksequence.DefaultSchemaVersion
	}
	return out
}

func normalizeSteps(steps []tasksequence.Step) []tasksequence.Step {
	if len(steps) == 0 {
		return nil
	}
	out := make([]tasksequence.Step, len(steps))
	for i, st := range steps {
		if st.Condition != nil {
			c := normalizeCondition(*st.Condition)
			st.Condition = &c
		}
		if st.Group != nil {
			st.Group = &tasksequence.Group{Steps: normalizeSteps(st.Group.Steps)}
		}
		if st.RunCommandLine != nil {
			rc := *st.RunCommandLine
			if len(rc.SuccessCodes) == 0 {
				rc.SuccessCodes = nil
			}
			st.RunCommandLine = &rc
		}
		out[i] = st
	}
	return out
}

func normalizeCondition(c tasksequence.Condition) tasksequence.Condition {
	if len(c.Operands) == 0 {
		c.Operands = nil
		return c
	}
	ops := make([]tasksequence.Condition, len(c.Operands))
	for i := range c.Operands {
		ops[i] = normalizeCondition(c.Operands[i])
	}
	c.Operands = ops
	return c
}

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// problems returns every *consign.ValidationError in err, in order; any
// other error in err fails the test.
func problems(t tb, err error) []*consign.ValidationError {
	t.Helper()
	if err == nil {
		return nil
	}
	errs := []error{err}
	var multi interface{ WrappedErrors() []error }
	if errors.As(err, &multi) {
		errs = multi.WrappedErrors()
	}
	var out []*consign.ValidationError
	for _, e := range errs {
		var ve *consign.ValidationError
		if !errors.As(e, &ve) {
			t.Fatalf("not a ValidationError: %v", e)
		}
		out = append(out, ve)
	}
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
	}
	return out
}

// wantProblem checks that err reports exactly one problem, with field
// and a rule containing every one of rules.
func wantProblem(t tb, err error, field string, rules ...string) {
	t.Helper()
	ps := problems(t, err)
	if len(ps) != 1 {
		t.Fatalf("got %d problems, want 1 at %s: %v", len(ps), field, ps[:min(len(ps), 3)])
	}
	if ps[0].Field != field {
		t.Errorf("Field = %q, want %q (%v)", ps[0].Field, field, err)
	}
	for _, r := range rules {
		if !strings.Contains(ps[0].Rule, r) {
			t.Errorf("Rule %q does not contain %q", ps[0].Rule, r)
		}
	}
}

// fields returns the Field of each problem in err, sorted.
func fields(t tb, err error) []string {
	t.Helper()
	var out []string
	for _, p := range problems(t, err) {
		out = append(out, p.Field)
	}
	slices.Sort(out)
	return out
}
