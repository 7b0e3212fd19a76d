package tasksequence_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
	"pgregory.net/rapid"
)

func group(name string, steps ...tasksequence.Step) tasksequence.Step {
	return tasksequence.Step{Name: name, Group: &tasksequence.Group{Steps: steps}}
}

func installStep(name string, id consign.ObjectID, program string) tasksequence.Step {
	return tasksequence.Step{Name: name, InstallSoftware: &tasksequence.InstallSoftware{PackageID: id, Program: program}}
}

func setStep(name, variable, value string) tasksequence.Step {
	return tasksequence.Step{Name: name, SetVariable: &tasksequence.SetVariable{Name: variable, Value: value}}
}

func restartStep(name string) tasksequence.Step {
	return tasksequence.Step{Name: name, Restart: &tasksequence.RestartComputer{}}
}

func sequence(steps ...tasksequence.Step) *tasksequence.Sequence {
	return &tasksequence.Sequence{Steps: steps}
}

// nest wraps st in depth groups.
func nest(depth int, st tasksequence.Step) tasksequence.Step {
	for range depth {
		st = group("G", st)
	}
	return st
}

// TestValidate breaks each rule once and checks the field and the rule
// reported.
func TestValidate(t *testing.T) {
	with := func(st tasksequence.Step, f func(*tasksequence.Step)) tasksequence.Step {
		f(&st)
		return st
	}
	run := func() tasksequence.Step { return runStep("Run", "cmd") }
	cases := []struct {
		name  string
		seq   *tasksequence.Sequence
		field string
		rules []string
	}{
		{"schema version", &tasksequence.Sequence{SchemaVersion: "2.00"}, "Sequence.SchemaVersion", []string{"must be 3.00"}},
		{"no name", sequence(runStep("", "cmd")), "Steps[0].Name", []string{`step ""`, "1 to 100 characters"}},
		{"name too long", sequence(runStep(strings.Repeat("é", 101), "cmd")), "Steps[0].Name", []string{"1 to 100 characters"}},
		{"description too long", sequence(with(run(), func(s *tasksequence.Step) { s.Description = strings.Repeat("d", 256) })),
			"Steps[0].Description", []string{`step "Run"`, "at most 255 characters"}},
		{"no kind", sequence(tasksequence.Step{Name: "Nothing"}), "Steps[0]", []string{`step "Nothing"`, "exactly one of Group, InstallSoftware"}},
		{"two kinds", sequence(with(run(), func(s *tasksequence.Step) { s.Restart = &tasksequence.RestartComputer{} })),
			"Steps[0]", []string{`step "Run"`, "exactly one of"}},
		{"group time-out", sequence(with(group("G"), func(s *tasksequence.Step) { s.Timeout = time.Second })),
			"Steps[0].Timeout", []string{`step "G"`, "only actions have a timeout"}},
		{"negative time-out", sequence(with(run(), func(s *tasksequence.Step) { s.Timeout = -time.Second })),
			"Steps[0].Timeout", []string{`step "Run"`, "zero (no limit) or positive"}},
		{"install: package ID", sequence(installStep("Install", "CEN0001", "Install")),
			"Steps[0].InstallSoftware.PackageID", []string{`step "Install"`, "a package ID"}},
		{"install: no program", sequence(installStep("Install", "CEN00001", "")),
			"Steps[0].InstallSoftware.Program", []string{`step "Install"`, "required"}},
		{"install: any program", sequence(installStep("Install", "CEN00001", "*")),
			"Steps[0].InstallSoftware.Program", []string{`step "Install"`, `not "*"`}},
		{"updates: scope", sequence(tasksequence.Step{Name: "U", InstallUpdates: &tasksequence.InstallUpdates{Scope: 2}}),
			"Steps[0].InstallUpdates.Scope", []string{`step "U"`, "UpdatesMandatory or UpdatesAll"}},
		{"command: blank", sequence(runStep("Run", " \t")), "Steps[0].RunCommandLine.CommandLine", []string{`step "Run"`, "required"}},
		{"command: package ID", sequence(with(run(), func(s *tasksequence.Step) { s.RunCommandLine.PackageID = "CEN0000G" })),
			"Steps[0].RunCommandLine.PackageID", []string{`step "Run"`, "empty or a package ID"}},
		{"restart: target", sequence(tasksequence.Step{Name: "R", Restart: &tasksequence.RestartComputer{Target: 2}}),
			"Steps[0].Restart.Target", []string{`step "R"`, "RestartToInstalledOS or RestartToBootImage"}},
		{"restart: notify time-out", sequence(tasksequence.Step{Name: "R", Restart: &tasksequence.RestartComputer{NotifyTimeout: -time.Second}}),
			"Steps[0].Restart.NotifyTimeout", []string{`step "R"`, "zero (the default) or positive"}},
		{"set: empty name", sequence(setStep("Set", "", "v")), "Steps[0].SetVariable.Name", []string{`step "Set"`, "a variable name"}},
		{"set: leading digit", sequence(setStep("Set", "1st", "v")), "Steps[0].SetVariable.Name", []string{"not starting with a digit"}},
		{"set: punctuation", sequence(setStep("Set", "a-b", "v")), "Steps[0].SetVariable.Name", []string{"letters, digits and underscores"}},
		{"set: too long", sequence(setStep("Set", strings.Repeat("v", 256), "v")), "Steps[0].SetVariable.Name", []string{"a variable name"}},
		{"set: read-only", sequence(setStep("Set", tasksequence.VarLastActionSucceeded, "true")), "Steps[0].SetVariable.Name",
			[]string{`step "Set"`, "_SMSTS", "read-only"}},
		{"set: read-only in lower case", sequence(setStep("Set", "_smstsMine", "x")), "Steps[0].SetVariable.Name", []string{"read-only"}},
		{"nested step", sequence(run(), group("G", runStep("", "cmd"))), "Steps[1].Group.Steps[0].Name", []string{`step ""`}},
		{"condition", sequence(with(run(), func(s *tasksequence.Step) { s.Condition = tasksequence.All() })),
			"Steps[0].Condition.Operands", []string{`step "Run"`, "All needs at least one operand"}},
		{"groups too deep", sequence(nest(tasksequence.MaxDepth, run())), tasksequence.Path(make([]int, tasksequence.MaxDepth+1)).String(),
			[]string{fmt.Sprintf("groups nest at most %d deep", tasksequence.MaxDepth)}},
		{"too many steps", sequence(slices.Repeat([]tasksequence.Step{run()}, tasksequence.MaxSteps+1)...), "Sequence.Steps",
			[]string{fmt.Sprintf("at most %d groups and steps", tasksequence.MaxSteps)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, c.seq.Validate(), c.field, c.rules...)
		})
	}
}

// The limits themselves are allowed.
func TestValidateAccepts(t *testing.T) {
	run := runStep("Run", "cmd")
	long := runStep(strings.Repeat("日", tasksequence.MaxNameLen), "cmd")
	long.Description = strings.Repeat("é", tasksequence.MaxDescriptionLen)
	for name, s := range map[string]*tasksequence.Sequence{
		"empty":             {},
		"schema version":    {SchemaVersion: tasksequence.DefaultSchemaVersion},
		"longest name":      sequence(long),
		"empty group":       sequence(group("G")),
		"deepest group":     sequence(nest(tasksequence.MaxDepth-1, run)),
		"most steps":        sequence(slices.Repeat([]tasksequence.Step{run}, tasksequence.MaxSteps)...),
		"own underscore":    sequence(setStep("Set", "_Mine2", "")),
		"every action":      sequence(installStep("I", "CEN00001", "Install"), restartStep("R"), setStep("S", "Role", "Kiosk")),
		"command's package": sequence(tasksequence.Step{Name: "Run", RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "x", PackageID: "CEN000AF"}}),
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Validate reports every problem at once.
func TestValidateReportsEveryProblem(t *testing.T) {
	s := &tasksequence.Sequence{SchemaVersion: "1", Steps: []tasksequence.Step{
		runStep("", "cmd"),
		group("G", installStep("I", "bad", ""), setStep("S", "9", "")),
	}}
	want := []string{"Sequence.SchemaVersion", "Steps[0].Name", "Steps[1].Group.Steps[0].InstallSoftware.PackageID",
		"Steps[1].Group.Steps[0].InstallSoftware.Program", "Steps[1].Group.Steps[1].SetVariable.Name"}
	if got := fields(t, s.Validate()); !reflect.DeepEqual(got, want) {
		t.Errorf("problems at %q, want %q", got, want)
	}
}

// A group nested too deeply does not stop Validate from checking the
// steps after it: it reports every rule the sequence breaks.
func TestValidateGoesOnAfterTooDeep(t *testing.T) {
	s := sequence(nest(tasksequence.MaxDepth, runStep("Run", "cmd")), runStep("", "cmd"))
	tooDeep := tasksequence.Path(make([]int, tasksequence.MaxDepth+1)).String()
	got := fields(t, s.Validate())
	if !slices.Contains(got, tooDeep) {
		t.Errorf("Validate did not report the step %d groups deep", tasksequence.MaxDepth)
	}
	if !slices.Contains(got, "Steps[1].Name") {
		t.Errorf("Validate stopped at the too-deep group: Steps[1].Name, after it, is not reported (%d problems)", len(got))
	}
	if len(got) != 2 {
		t.Errorf("%d problems, want 2", len(got))
	}
}

// Every generated sequence is valid, and Validate never changes it.
func TestValidateGenerated(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSequence.Draw(t, "sequence")
		before := normalize(s)
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(s), before) {
			t.Fatal("Validate changed the sequence")
		}
	})
}

func TestKind(t *testing.T) {
	for _, c := range []struct {
		st   tasksequence.Step
		want string
	}{
		{group("G"), "SMS_TaskSequence_Group"},
		{installStep("I", "CEN00001", "P"), "SMS_TaskSequence_InstallSoftwareAction"},
		{tasksequence.Step{InstallUpdates: &tasksequence.InstallUpdates{}}, "SMS_TaskSequence_InstallUpdateAction"},
		{runStep("R", "c"), "SMS_TaskSequence_RunCommandLineAction"},
		{restartStep("R"), "SMS_TaskSequence_RebootAction"},
		{setStep("S", "A", ""), "SMS_TaskSequence_SetVariableAction"},
		{tasksequence.Step{}, "invalid"},
		{tasksequence.Step{Group: &tasksequence.Group{}, Restart: &tasksequence.RestartComputer{}}, "invalid"},
	} {
		if got := c.st.Kind().String(); got != c.want {
			t.Errorf("Kind of %+v = %s, want %s", c.st, got, c.want)
		}
	}
	if got := tasksequence.Kind(99).String(); got != "Kind(99)" {
		t.Errorf("Kind(99) = %s", got)
	}
}

func TestPathAndStep(t *testing.T) {
	s := sequence(runStep("A", "c"), group("G", runStep("B", "c"), group("H", runStep("C", "c"))))
	for _, c := range []struct {
		path tasksequence.Path
		str  string
		name string
	}{
		{tasksequence.Path{0}, "Steps[0]", "A"},
		{tasksequence.Path{1}, "Steps[1]", "G"},
		{tasksequence.Path{1, 1, 0}, "Steps[1].Group.Steps[1].Group.Steps[0]", "C"},
		{tasksequence.Path{2}, "Steps[2]", ""},
		{tasksequence.Path{0, 0}, "Steps[0].Group.Steps[0]", ""},
		{tasksequence.Path{-1}, "Steps[-1]", ""},
		{nil, "", ""},
	} {
		if got := c.path.String(); got != c.str {
			t.Errorf("Path%v.String() = %q, want %q", []int(c.path), got, c.str)
		}
		st := s.Step(c.path)
		if (st == nil) != (c.name == "") || st != nil && st.Name != c.name {
			t.Errorf("Step(%v) = %+v, want %q", []int(c.path), st, c.name)
		}
	}
	var order []string
	s.Walk(func(p tasksequence.Path, st *tasksequence.Step) bool {
		order = append(order, st.Name+"@"+p.String())
		return st.Name != "B"
	})
	want := []string{"A@Steps[0]", "G@Steps[1]", "B@Steps[1].Group.Steps[0]"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("Walk visited %q, want %q", order, want)
	}
}

// Index numbers the steps in Walk order; Len counts them; Clone copies
// deeply.
func TestIndexLenClone(t *testing.T) {
	s := sequence(runStep("A", "c"), group("G", runStep("B", "c"), group("H", when(tasksequence.FileExists("x", true), runStep("C", "c")))), runStep("D", "c"))
	for i, p := range []tasksequence.Path{{0}, {1}, {1, 0}, {1, 1}, {1, 1, 0}, {2}} {
		if got := s.Index(p); got != i {
			t.Errorf("Index(%s) = %d, want %d", p, got, i)
		}
	}
	for _, p := range []tasksequence.Path{nil, {3}, {0, 0}, {1, 2}, {-1}} {
		if got := s.Index(p); got != -1 {
			t.Errorf("Index(%v) = %d, want -1", []int(p), got)
		}
	}
	if s.Len() != 6 || sequence().Len() != 0 {
		t.Errorf("Len = %d, %d; want 6, 0", s.Len(), sequence().Len())
	}
	c := s.Clone()
	if !reflect.DeepEqual(c, s) {
		t.Fatalf("Clone = %s, want %s", dump(c), dump(s))
	}
	c.Steps[1].Group.Steps[1].Group.Steps[0].Condition.Path = "y"
	c.Steps[1].Group.Steps[0].RunCommandLine.CommandLine = "changed"
	c.Steps[1].Group.Steps[0].Name = "changed"
	if s.Steps[1].Group.Steps[1].Group.Steps[0].Condition.Path != "x" || s.Steps[1].Group.Steps[0].RunCommandLine.CommandLine != "c" ||
		s.Steps[1].Group.Steps[0].Name != "B" {
		t.Errorf("changing the clone changed the original: %s", dump(s))
	}
}

// Every step's Index is its place in Walk order.
func TestIndexProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSequence.Draw(t, "sequence")
		i := 0
		s.Walk(func(p tasksequence.Path, _ *tasksequence.Step) bool {
			if got := s.Index(p); got != i {
				t.Fatalf("Index(%s) = %d, want %d", p, got, i)
			}
			i++
			return true
		})
		if s.Len() != i {
			t.Fatalf("Len = %d, Walk visited %d", s.Len(), i)
		}
		if c := s.Clone(); !reflect.DeepEqual(c, s) {
			t.Fatalf("Clone = %s, want %s", dump(c), dump(s))
		}
	})
}

// TestReferences lists every package use in step order, disabled steps
// included, with the step that makes it; Packages sorts and dedupes.
func TestReferences(t *testing.T) {
	disabled := installStep("Disabled", "CEN00003", "Setup")
	disabled.Disabled = true
	s := sequence(
		installStep("Office", "CEN00002", "Install"),
		runStep("No package", "cmd"),
		group("Apps",
			tasksequence.Step{Name: "Script", RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "run.cmd", PackageID: "CEN00001"}},
			disabled,
			installStep("Office again", "CEN00002", "Configure"),
		),
		setStep("Set", "A", "B"),
	)
	want := []tasksequence.Reference{
		{PackageID: "CEN00002", Program: "Install", Path: tasksequence.Path{0}, StepName: "Office"},
		{PackageID: "CEN00001", Path: tasksequence.Path{2, 0}, StepName: "Script"},
		{PackageID: "CEN00003", Program: "Setup", Path: tasksequence.Path{2, 1}, StepName: "Disabled"},
		{PackageID: "CEN00002", Program: "Configure", Path: tasksequence.Path{2, 2}, StepName: "Office again"},
	}
	if got := s.References(); !reflect.DeepEqual(got, want) {
		t.Errorf("References = %+v\nwant %+v", got, want)
	}
	if got, want := s.Packages(), []consign.ObjectID{"CEN00001", "CEN00002", "CEN00003"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Packages = %v, want %v", got, want)
	}
	if got := sequence(runStep("R", "c")).Packages(); len(got) != 0 {
		t.Errorf("Packages without references = %v", got)
	}
}

// Packages is the sorted set of the References' packages.
func TestPackagesProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSequence.Draw(t, "sequence")
		set := map[consign.ObjectID]bool{}
		s.Walk(func(p tasksequence.Path, st *tasksequence.Step) bool {
			if st.InstallSoftware != nil {
				set[st.InstallSoftware.PackageID] = true
			}
			if st.RunCommandLine != nil && st.RunCommandLine.PackageID != "" {
				set[st.RunCommandLine.PackageID] = true
			}
			return true
		})
		var want []consign.ObjectID
		for id := range set {
			want = append(want, id)
		}
		slices.Sort(want)
		if got := s.Packages(); !slices.Equal(got, want) {
			t.Fatalf("Packages = %v, want %v", got, want)
		}
		for _, r := range s.References() {
			st := s.Step(r.Path)
			if st == nil || st.Name != r.StepName {
				t.Fatalf("reference %+v names step %+v", r, st)
			}
		}
	})
}

// site is a Lookup over a few packages and programs.
type site struct {
	packages map[consign.ObjectID]*pkg.Package
	programs map[pkg.ProgramRef]*pkg.Program
}

func (s site) lookup() tasksequence.Lookup {
	return tasksequence.Lookup{
		Package: func(id consign.ObjectID) (*pkg.Package, bool) { p, ok := s.packages[id]; return p, ok },
		Program: func(r pkg.ProgramRef) (*pkg.Program, bool) { p, ok := s.programs[r]; return p, ok },
	}
}

// newSite has CEN00001 (content, program "Install" a task sequence can
// run), CEN00002 (no content) and CEN00004 (a task sequence package).
func newSite() site {
	withSource := pkg.NewPackage("CEN00001", "Office")
	withSource.SourceFlag = pkg.StorageDirect
	noSource := pkg.NewPackage("CEN00002", "Nothing")
	ts := pkg.NewPackage("CEN00004", "Deploy")
	ts.Type = pkg.TypeTaskSequence
	prog := pkg.NewProgram("CEN00001", "Install", "setup.exe /q")
	prog.RunMode, prog.Logon = pkg.RunWithAdminRights, pkg.EitherLogon
	return site{
		packages: map[consign.ObjectID]*pkg.Package{"CEN00001": withSource, "CEN00002": noSource, "CEN00004": ts},
		programs: map[pkg.ProgramRef]*pkg.Program{prog.Ref(): prog},
	}
}

// TestCheckReferences: every reference that cannot be honoured is
// reported at the step that makes it.
func TestCheckReferences(t *testing.T) {
	program := func(f func(*pkg.Program)) site {
		s := newSite()
		p := *s.programs[pkg.ProgramRef{PackageID: "CEN00001", Program: "Install"}]
		f(&p)
		s.programs[p.Ref()] = &p
		return s
	}
	command := func(id consign.ObjectID) tasksequence.Step {
		return tasksequence.Step{Name: "Script", RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "x.cmd", PackageID: id}}
	}
	cases := []struct {
		name  string
		site  site
		step  tasksequence.Step
		field string
		rules []string
	}{
		{"missing package", newSite(), installStep("Office", "CEN00009", "Install"), "Steps[1].Group.Steps[0].InstallSoftware.PackageID",
			[]string{`step "Office"`, "must name an existing package"}},
		{"missing command package", newSite(), command("CEN00009"), "Steps[1].Group.Steps[0].RunCommandLine.PackageID",
			[]string{`step "Script"`, "must name an existing package"}},
		{"wrong package type", newSite(), installStep("Office", "CEN00004", "Install"), "Steps[1].Group.Steps[0].InstallSoftware.PackageID",
			[]string{`step "Office"`, "software distribution package (type 0), not type 4"}},
		{"command without content", newSite(), command("CEN00002"), "Steps[1].Group.Steps[0].RunCommandLine.PackageID",
			[]string{`step "Script"`, "CEN00002 has no source files"}},
		{"missing program", newSite(), installStep("Office", "CEN00001", "Uninstall"), "Steps[1].Group.Steps[0].InstallSoftware.Program",
			[]string{`step "Office"`, "must name a program of package CEN00001"}},
		{"disabled program", program(func(p *pkg.Program) { p.Disabled = true }), installStep("Office", "CEN00001", "Install"),
			"Steps[1].Group.Steps[0].InstallSoftware.Program", []string{`step "Office"`, "is disabled"}},
		{"user rights", program(func(p *pkg.Program) { p.RunMode = pkg.RunWithUserRights }), installStep("Office", "CEN00001", "Install"),
			"Steps[1].Group.Steps[0].InstallSoftware.Program", []string{`step "Office"`, "administrative rights"}},
		{"needs a user", program(func(p *pkg.Program) { p.Logon = pkg.UserLoggedOn }), installStep("Office", "CEN00001", "Install"),
			"Steps[1].Group.Steps[0].InstallSoftware.Program", []string{"whether or not a user is logged on"}},
		{"only without a user", program(func(p *pkg.Program) { p.Logon = pkg.NoUserLoggedOn }), installStep("Office", "CEN00001", "Install"),
			"Steps[1].Group.Steps[0].InstallSoftware.Program", []string{"whether or not a user is logged on"}},
		{"user interaction", program(func(p *pkg.Program) { p.UserInteraction = true }), installStep("Office", "CEN00001", "Install"),
			"Steps[1].Group.Steps[0].InstallSoftware.Program", []string{"must not need user interaction"}},
		{"restarts itself", program(func(p *pkg.Program) { p.AfterRunning = pkg.ProgramRestarts }), installStep("Office", "CEN00001", "Install"),
			"Steps[1].Group.Steps[0].InstallSoftware.Program", []string{"must not restart the computer itself"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := sequence(runStep("No package", "cmd"), group("Apps", c.step))
			wantProblem(t, s.CheckReferences(c.site.lookup()), c.field, c.rules...)
		})
	}
	ok := sequence(installStep("Office", "CEN00001", "Install"), command("CEN00001"), runStep("No package", "cmd"))
	if err := ok.CheckReferences(newSite().lookup()); err != nil {
		t.Errorf("CheckReferences of good references: %v", err)
	}
	// Every reference is checked, and a program's requirements together.
	bad := program(func(p *pkg.Program) { p.Disabled, p.UserInteraction = true, true })
	err := sequence(installStep("A", "CEN00009", "X"), installStep("B", "CEN00001", "Install")).CheckReferences(bad.lookup())
	if got, want := fields(t, err), []string{"Steps[0].InstallSoftware.PackageID", "Steps[1].InstallSoftware.Program", "Steps[1].InstallSoftware.Program"}; !reflect.DeepEqual(got, want) {
		t.Errorf("problems at %q, want %q", got, want)
	}
	if !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("%v is not ErrInvalid", err)
	}
}
