package tasksequence_test

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/consign/consign/tasksequence"
	"pgregory.net/rapid"
)

// vars keys variables by upper-case name, as Run stores them.
func vars(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[strings.ToUpper(kv[i])] = kv[i+1]
	}
	return m
}

func TestEvaluate(t *testing.T) {
	vista := newEnv("x64", "6.0.6001", `C:\Windows\notepad.exe`)
	v := func(name string, cmp tasksequence.Compare, value string) *tasksequence.Condition {
		c := tasksequence.VariableIs(name, cmp, value)
		return &c
	}
	os := func(platform string, cmp tasksequence.Compare, version string) *tasksequence.Condition {
		c := tasksequence.OSIs(platform, cmp, version)
		return &c
	}
	yes, no := tasksequence.FileExists(`C:\Windows\notepad.exe`, true), tasksequence.FileExists(`C:\Windows\notepad.exe`, false)
	cases := []struct {
		name string
		c    *tasksequence.Condition
		vars map[string]string
		want bool
	}{
		{"nil holds", nil, nil, true},
		{"exists", v("Role", tasksequence.Exists, ""), vars("Role", "Kiosk"), true},
		{"exists, empty value", v("Role", tasksequence.Exists, ""), vars("Role", ""), true},
		{"exists, unset", v("Role", tasksequence.Exists, ""), vars("Other", "x"), false},
		{"exists ignores the value", v("Role", tasksequence.Exists, "Desk"), vars("Role", "Kiosk"), true},
		{"not exists", v("Role", tasksequence.NotExists, ""), vars(), true},
		{"not exists, set", v("Role", tasksequence.NotExists, ""), vars("Role", ""), false},
		{"names are case-insensitive", v("rOLE", tasksequence.Equals, "Kiosk"), vars("Role", "Kiosk"), true},
		{"equals ignores case", v("Role", tasksequence.Equals, "KIOSK"), vars("Role", "kiosk"), true},
		{"equals", v("Role", tasksequence.Equals, "Desk"), vars("Role", "Kiosk"), false},
		{"not equals ignores case", v("Role", tasksequence.NotEquals, "KIOSK"), vars("Role", "kiosk"), false},
		{"not equals", v("Role", tasksequence.NotEquals, "Desk"), vars("Role", "Kiosk"), true},
		// An unset variable is neither equal nor unequal to anything.
		{"equals, unset", v("Role", tasksequence.Equals, ""), vars(), false},
		{"not equals, unset", v("Role", tasksequence.NotEquals, "Kiosk"), vars(), false},
		{"greater, unset", v("Count", tasksequence.Greater, "0"), vars(), false},
		{"numbers: 10 > 9", v("Count", tasksequence.Greater, "9"), vars("Count", "10"), true},
		{"numbers: 10 < 9 is false", v("Count", tasksequence.Less, "9"), vars("Count", "10"), false},
		{"numbers: 010 = 10", v("Count", tasksequence.Equals, "10"), vars("Count", "010"), true},
		{"numbers: negative", v("Count", tasksequence.Less, "2"), vars("Count", "-3"), true},
		{"numbers: spaces", v("Count", tasksequence.GreaterEqual, "9"), vars("Count", " 10 "), true},
		{"numbers: equal >=", v("Count", tasksequence.GreaterEqual, "5"), vars("Count", "5"), true},
		{"numbers: equal <=", v("Count", tasksequence.LessEqual, "5"), vars("Count", "5"), true},
		{"numbers: <= fails", v("Count", tasksequence.LessEqual, "4"), vars("Count", "5"), false},
		{"strings when one side is not a number: 10 < 9x", v("Count", tasksequence.Less, "9x"), vars("Count", "10"), true},
		{"strings when one side is not a number: 10 > 9x is false", v("Count", tasksequence.Greater, "9x"), vars("Count", "10"), false},
		{"strings ignore case: apple < Banana", v("Fruit", tasksequence.Less, "Banana"), vars("Fruit", "apple"), true},
		{"strings ignore case: abc <= ABC", v("Fruit", tasksequence.LessEqual, "ABC"), vars("Fruit", "abc"), true},
		{"strings ignore case: abc >= ABC", v("Fruit", tasksequence.GreaterEqual, "ABC"), vars("Fruit", "abc"), true},
		{"unknown comparison", v("Role", tasksequence.Compare(42), "Kiosk"), vars("Role", "Kiosk"), false},
		{"platform", os("x64", tasksequence.Exists, ""), nil, true},
		{"platform ignores case", os("X64", tasksequence.Exists, ""), nil, true},
		{"other platform", os("I386", tasksequence.Exists, ""), nil, false},
		{"any platform", os("", tasksequence.Exists, ""), nil, true},
		{"version >= 6.0", os("", tasksequence.GreaterEqual, "6.0"), nil, true},
		{"version = 6.0 (6.0.6001 is not)", os("", tasksequence.Equals, "6.0"), nil, false},
		{"version = 6.0.6001: missing parts are 0", os("", tasksequence.Equals, "6.0.6001"), nil, true},
		{"version != 6.0.6001.0", os("", tasksequence.NotEquals, "6.0.6001.0"), nil, false},
		{"version < 6.1", os("x64", tasksequence.Less, "6.1"), nil, true},
		{"version > 5.1.2600", os("", tasksequence.Greater, "5.1.2600"), nil, true},
		{"version <= 6.0.6000", os("", tasksequence.LessEqual, "6.0.6000"), nil, false},
		{"version on another platform", os("I386", tasksequence.GreaterEqual, "5.1"), nil, false},
		{"bad version", os("", tasksequence.GreaterEqual, "six"), nil, false},
		{"file exists", &yes, nil, true},
		{"file does not exist", &no, nil, false},
		{"missing file", func() *tasksequence.Condition { c := tasksequence.FileExists(`D:\nothing`, false); return &c }(), nil, true},
		{"all", tasksequence.All(yes, *os("x64", tasksequence.Exists, "")), nil, true},
		{"all, one false", tasksequence.All(yes, no), nil, false},
		{"any", tasksequence.Any(no, yes), nil, true},
		{"any, none true", tasksequence.Any(no, no), nil, false},
		{"not", tasksequence.None(no), nil, true},
		{"not true", tasksequence.None(yes), nil, false},
		{"none of several", tasksequence.None(no, *os("I386", tasksequence.Exists, "")), nil, true},
		{"none of several, one true", tasksequence.None(no, yes), nil, false},
		{"all of nothing", tasksequence.All(), nil, true},
		{"any of nothing", tasksequence.Any(), nil, false},
		{"none of nothing", tasksequence.None(), nil, true},
		{"nested", tasksequence.All(*tasksequence.Any(no, *v("Role", tasksequence.Equals, "kiosk")), *tasksequence.None(*v("Count", tasksequence.Greater, "3"))),
			vars("Role", "Kiosk", "Count", "3"), true},
		{"invalid op", &tasksequence.Condition{}, nil, false},
	}
	for _, c := range cases {
		if got := c.c.Evaluate(c.vars, vista); got != c.want {
			t.Errorf("%s: Evaluate = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestConditionValidate breaks each rule of conditions once; Validate
// reports it under the step's Condition field.
func TestConditionValidate(t *testing.T) {
	check := func(c *tasksequence.Condition) error {
		return sequence(tasksequence.Step{Name: "Set", Condition: c, SetVariable: &tasksequence.SetVariable{Name: "A"}}).Validate()
	}
	ptr := func(c tasksequence.Condition) *tasksequence.Condition { return &c }
	deep := tasksequence.FileExists("x", true)
	for range tasksequence.MaxDepth + 1 {
		deep = *tasksequence.None(deep)
	}
	cases := []struct {
		name   string
		c      *tasksequence.Condition
		fields []string
		rule   string
	}{
		{"all of nothing", tasksequence.All(), []string{"Steps[0].Condition.Operands"}, "All needs at least one operand"},
		{"any of nothing", tasksequence.Any(), []string{"Steps[0].Condition.Operands"}, "Any needs at least one operand"},
		{"none of nothing", tasksequence.None(), []string{"Steps[0].Condition.Operands"}, "None needs at least one operand"},
		{"variable name", ptr(tasksequence.VariableIs("1x", tasksequence.Exists, "")), []string{"Steps[0].Condition.Variable"}, "a variable name"},
		{"variable comparison", ptr(tasksequence.VariableIs("A", tasksequence.Compare(8), "")), []string{"Steps[0].Condition.Compare"}, "one of the Compare constants"},
		{"platform", ptr(tasksequence.OSIs("ARM", tasksequence.Exists, "")), []string{"Steps[0].Condition.Platform"}, `"I386", "x64" or "IA64"`},
		{"platform with a version", ptr(tasksequence.OSIs("x64", tasksequence.Exists, "6.0")), []string{"Steps[0].Condition.Value"}, "Exists tests the platform only"},
		{"version without a comparison", ptr(tasksequence.OSIs("", tasksequence.Exists, "6.0")),
			[]string{"Steps[0].Condition.Platform", "Steps[0].Condition.Value"}, `step "Set"`},
		{"OS not exists", ptr(tasksequence.OSIs("x64", tasksequence.NotExists, "")), []string{"Steps[0].Condition.Compare"}, "Exists (platform only) or a version comparison"},
		{"OS comparison", ptr(tasksequence.OSIs("x64", tasksequence.Compare(-1), "6.0")), []string{"Steps[0].Condition.Compare"}, "a version comparison"},
		{"OS version", ptr(tasksequence.OSIs("", tasksequence.Greater, "six")), []string{"Steps[0].Condition.Value"}, "a Windows version"},
		{"OS empty version", ptr(tasksequence.OSIs("", tasksequence.Greater, "")), []string{"Steps[0].Condition.Value"}, "a Windows version"},
		{"file path", ptr(tasksequence.FileExists(" ", true)), []string{"Steps[0].Condition.Path"}, "required"},
		{"file comparison", &tasksequence.Condition{Op: tasksequence.OpFile, Path: "x", Compare: tasksequence.Equals}, []string{"Steps[0].Condition.Compare"}, "Exists or NotExists"},
		{"op", &tasksequence.Condition{Op: tasksequence.Op(9)}, []string{"Steps[0].Condition.Op"}, "one of the Op constants"},
		{"no op", &tasksequence.Condition{}, []string{"Steps[0].Condition.Op"}, "one of the Op constants"},
		{"expression with operands", &tasksequence.Condition{Op: tasksequence.OpFile, Path: "x", Operands: []tasksequence.Condition{deep}},
			[]string{"Steps[0].Condition.Operands"}, "File expressions have no operands"},
		{"nested", tasksequence.All(tasksequence.FileExists("x", true), *tasksequence.Any(tasksequence.VariableIs("a-b", tasksequence.Exists, ""))),
			[]string{"Steps[0].Condition.Operands[1].Operands[0].Variable"}, `step "Set"`},
		{"too deep", &deep, []string{"Steps[0].Condition" + strings.Repeat(".Operands[0]", tasksequence.MaxDepth+1)},
			fmt.Sprintf("conditions nest at most %d deep", tasksequence.MaxDepth)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := check(c.c)
			if got := fields(t, err); !reflect.DeepEqual(got, c.fields) {
				t.Fatalf("problems at %q, want %q: %v", got, c.fields, err)
			}
			for _, p := range problems(t, err) {
				if !strings.Contains(p.Rule, c.rule) || !strings.HasPrefix(p.Rule, `step "Set": `) {
					t.Errorf("rule %q: want the step and %q", p.Rule, c.rule)
				}
			}
		})
	}
	// The deepest allowed nesting is valid.
	ok := tasksequence.FileExists("x", true)
	for range tasksequence.MaxDepth {
		ok = *tasksequence.None(ok)
	}
	if err := check(&ok); err != nil {
		t.Errorf("%d operators deep: %v", tasksequence.MaxDepth, err)
	}
}

func TestCompareNames(t *testing.T) {
	want := []string{"exists", "notExists", "equals", "notEquals", "greater", "greaterEqual", "less", "lessEqual"}
	for i, name := range want {
		c := tasksequence.Compare(i)
		if c.String() != name {
			t.Errorf("Compare(%d).String() = %q, want %q", i, c.String(), name)
		}
		if got, err := tasksequence.ParseCompare(name); err != nil || got != c {
			t.Errorf("ParseCompare(%q) = %v, %v", name, got, err)
		}
	}
	for _, bad := range []string{"", "Equals", "like", "Compare(9)"} {
		if _, err := tasksequence.ParseCompare(bad); err == nil {
			t.Errorf("ParseCompare(%q) accepted it", bad)
		}
	}
	if got := tasksequence.Compare(9).String(); got != "Compare(9)" {
		t.Errorf("Compare(9) = %q", got)
	}
	for op, name := range map[tasksequence.Op]string{tasksequence.OpAll: "All", tasksequence.OpAny: "Any", tasksequence.OpNone: "None",
		tasksequence.OpVariable: "Variable", tasksequence.OpOS: "OS", tasksequence.OpFile: "File", tasksequence.Op(7): "Op(7)"} {
		if op.String() != name {
			t.Errorf("Op %d = %q, want %q", int(op), op.String(), name)
		}
	}
}

// genCase draws a condition's inputs: variables and a device.
type condCase struct {
	vars map[string]string
	env  fakeEnv
}

var genCondCase = rapid.Custom(func(t *rapid.T) condCase {
	m := map[string]string{}
	for _, n := range condVarNames {
		if rapid.Bool().Draw(t, "set "+n) {
			m[strings.ToUpper(n)] = rapid.SampledFrom(varValues).Draw(t, "value "+n)
		}
	}
	return condCase{vars: m, env: genEnv.Draw(t, "env")}
})

// evalModel evaluates a condition the long way, as the Condition type's
// documentation states its meaning.
func evalModel(c tasksequence.Condition, in condCase) bool {
	switch c.Op {
	case tasksequence.OpAll, tasksequence.OpAny, tasksequence.OpNone:
		trues := 0
		for _, o := range c.Operands {
			if evalModel(o, in) {
				trues++
			}
		}
		return c.Op == tasksequence.OpAll && trues == len(c.Operands) ||
			c.Op == tasksequence.OpAny && trues > 0 ||
			c.Op == tasksequence.OpNone && trues == 0
	case tasksequence.OpVariable:
		var value string
		set := false
		for k, v := range in.vars {
			if strings.EqualFold(k, c.Variable) {
				value, set = v, true
			}
		}
		if c.Compare == tasksequence.Exists || c.Compare == tasksequence.NotExists {
			return set == (c.Compare == tasksequence.Exists)
		}
		if !set {
			return false
		}
		var order int
		a, errA := strconv.Atoi(strings.TrimSpace(value))
		b, errB := strconv.Atoi(strings.TrimSpace(c.Value))
		if errA == nil && errB == nil {
			order = a - b
		} else {
			order = strings.Compare(strings.ToLower(value), strings.ToLower(c.Value))
		}
		return ordered(c.Compare, order)
	case tasksequence.OpOS:
		if c.Platform != "" && !strings.EqualFold(c.Platform, in.env.os.Platform) {
			return false
		}
		if c.Compare == tasksequence.Exists {
			return true
		}
		have := in.env.os.Version
		want := [4]int{}
		for i, part := range strings.Split(c.Value, ".") {
			want[i], _ = strconv.Atoi(part)
		}
		order := 0
		for i, h := range []uint32{have.Major, have.Minor, have.Build, have.Revision} {
			if order == 0 {
				order = int(h) - want[i]
			}
		}
		return ordered(c.Compare, order)
	case tasksequence.OpFile:
		return in.env.files[c.Path] == (c.Compare == tasksequence.Exists)
	}
	return false
}

func ordered(c tasksequence.Compare, order int) bool {
	switch c {
	case tasksequence.Equals:
		return order == 0
	case tasksequence.NotEquals:
		return order != 0
	case tasksequence.Greater:
		return order > 0
	case tasksequence.GreaterEqual:
		return order >= 0
	case tasksequence.Less:
		return order < 0
	case tasksequence.LessEqual:
		return order <= 0
	}
	return false
}

// Evaluate agrees with the model on every generated condition (which is
// valid) and input.
func TestEvaluateModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genCondition(3).Draw(t, "condition")
		if err := sequence(tasksequence.Step{Name: "S", Condition: &c, SetVariable: &tasksequence.SetVariable{Name: "A"}}).Validate(); err != nil {
			t.Fatalf("generated an invalid condition: %v", err)
		}
		in := genCondCase.Draw(t, "input")
		if got, want := c.Evaluate(in.vars, in.env), evalModel(c, in); got != want {
			t.Fatalf("Evaluate = %v, model %v", got, want)
		}
	})
}

// The operators' laws: None is not Any, De Morgan, a single operand,
// order does not matter.
func TestOperatorLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		xs := rapid.SliceOfN(genCondition(2), 1, 4).Draw(t, "operands")
		in := genCondCase.Draw(t, "input")
		eval := func(c *tasksequence.Condition) bool { return c.Evaluate(in.vars, in.env) }
		if eval(tasksequence.None(xs...)) != !eval(tasksequence.Any(xs...)) {
			t.Fatal("None(xs) != !Any(xs)")
		}
		negated := make([]tasksequence.Condition, len(xs))
		for i, x := range xs {
			negated[i] = *tasksequence.None(x)
		}
		if eval(tasksequence.All(xs...)) != !eval(tasksequence.Any(negated...)) {
			t.Fatal("All(xs) != !Any(not xs)")
		}
		if eval(tasksequence.All(xs...)) != eval(tasksequence.None(negated...)) {
			t.Fatal("All(xs) != None(not xs)")
		}
		x := xs[0]
		if eval(tasksequence.All(x)) != eval(&x) || eval(tasksequence.Any(x)) != eval(&x) || eval(tasksequence.None(x)) == eval(&x) {
			t.Fatal("a single operand")
		}
		perm := rapid.Permutation(xs).Draw(t, "permutation")
		if eval(tasksequence.All(xs...)) != eval(tasksequence.All(perm...)) || eval(tasksequence.Any(xs...)) != eval(tasksequence.Any(perm...)) {
			t.Fatal("order of the operands matters")
		}
	})
}

// An operator without operands is rejected wherever it is in a condition.
func TestEmptyOperatorRejected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genCondition(3).Draw(t, "condition")
		// Walk down to a random operator, or the leaf, and empty it there.
		node, field := &c, "Steps[0].Condition"
		for len(node.Operands) > 0 && rapid.Bool().Draw(t, "down") {
			i := rapid.IntRange(0, len(node.Operands)-1).Draw(t, "operand")
			node, field = &node.Operands[i], fmt.Sprintf("%s.Operands[%d]", field, i)
		}
		*node = tasksequence.Condition{Op: rapid.SampledFrom([]tasksequence.Op{tasksequence.OpAll, tasksequence.OpAny, tasksequence.OpNone}).Draw(t, "op")}
		err := sequence(tasksequence.Step{Name: "S", Condition: &c, SetVariable: &tasksequence.SetVariable{Name: "A"}}).Validate()
		wantProblem(t, err, field+".Operands", "needs at least one operand")
	})
}
