package tasksequence

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
)

// Op is what a Condition tests (SMS_TaskSequence_Condition: an operator
// node or an expression, §1.10).
type Op int

// Condition operators and expressions. All, Any and None are the Options
// tab's "If statement" (all conditions / any condition / none of them: AND,
// OR and NOT over the operands).
const (
	OpInvalid  Op = iota
	OpAll         // true when every operand is true (AND)
	OpAny         // true when some operand is true (OR)
	OpNone        // true when no operand is true (NOT)
	OpVariable    // task sequence variable: Variable Compare Value
	OpOS          // operating system: Platform and Version Compare Value
	OpFile        // file properties: Path exists or not
)

var opNames = [...]string{"invalid", "All", "Any", "None", "Variable", "OS", "File"}

// String returns the operator's name.
func (o Op) String() string {
	if o < 0 || int(o) >= len(opNames) {
		return fmt.Sprintf("Op(%d)", int(o))
	}
	return opNames[o]
}

// Compare is the comparison of a Variable, OS or File expression.
type Compare int

// Comparisons (the condition dialogs' "Condition" list).
const (
	Exists       Compare = iota // the variable is set / the file exists
	NotExists                   // the variable is unset / the file does not exist
	Equals                      // case-insensitive
	NotEquals                   // case-insensitive
	Greater                     //
	GreaterEqual                //
	Less                        //
	LessEqual                   //
)

var compareNames = [...]string{"exists", "notExists", "equals", "notEquals", "greater", "greaterEqual", "less", "lessEqual"}

// String returns the comparison's name as the XML form writes it.
func (c Compare) String() string {
	if c < 0 || int(c) >= len(compareNames) {
		return fmt.Sprintf("Compare(%d)", int(c))
	}
	return compareNames[c]
}

// ParseCompare parses a comparison's name as String writes it.
func ParseCompare(s string) (Compare, error) {
	for i, n := range compareNames {
		if n == s {
			return Compare(i), nil
		}
	}
	return 0, fmt.Errorf("unknown comparison %q", s)
}

// Condition is a boolean tree over task sequence variables, the operating
// system and files. Op says which fields are read:
//   - OpAll, OpAny, OpNone: Operands (at least one).
//   - OpVariable: Variable, Compare, Value. Exists and NotExists ignore
//     Value. The ordering comparisons compare numbers when both sides are
//     integers, otherwise the strings case-insensitively; Equals and
//     NotEquals compare case-insensitively. Every comparison but NotExists
//     is false for an unset variable (NotEquals included: an unset
//     variable is not compared; ConfigMgr's own rule is [UNVERIFIED]).
//   - OpOS: Platform ("I386", "x64", "IA64"; empty matches any) and, unless
//     Compare is Exists, the device's Windows version compared with Value
//     ("6.0", "5.1.2600"; missing parts are 0). Exists with a Platform tests
//     only the platform; NotExists is not allowed.
//   - OpFile: Path, with Compare Exists or NotExists.
type Condition struct {
	Op       Op
	Operands []Condition

	Variable string
	Platform string
	Path     string
	Compare  Compare
	Value    string
}

// Env is what a condition reads from the device besides the variables.
type Env interface {
	// OS describes the running operating system.
	OS() pkg.OSInfo
	// FileExists reports whether path names an existing file or folder.
	FileExists(path string) bool
}

// All, Any, None, VariableIs, OSIs and FileExists build conditions.

// All is true when every one of cs is.
func All(cs ...Condition) *Condition { return &Condition{Op: OpAll, Operands: cs} }

// Any is true when at least one of cs is.
func Any(cs ...Condition) *Condition { return &Condition{Op: OpAny, Operands: cs} }

// None is true when none of cs is (with one operand: NOT).
func None(cs ...Condition) *Condition { return &Condition{Op: OpNone, Operands: cs} }

// VariableIs compares task sequence variable name with value.
func VariableIs(name string, cmp Compare, value string) Condition {
	return Condition{Op: OpVariable, Variable: name, Compare: cmp, Value: value}
}

// FileExists tests that path exists (exists true) or does not.
func FileExists(path string, exists bool) Condition {
	c := Condition{Op: OpFile, Path: path, Compare: Exists}
	if !exists {
		c.Compare = NotExists
	}
	return c
}

// OSIs tests the platform ("" for any) and compares the Windows version
// with version ("" with Exists to test the platform only).
func OSIs(platform string, cmp Compare, version string) Condition {
	return Condition{Op: OpOS, Platform: platform, Compare: cmp, Value: version}
}

// Evaluate reports whether c holds for the variables vars (names compared
// case-insensitively, as the engine stores them: see Run.Variables) and the
// device env. A nil condition holds.
func (c *Condition) Evaluate(vars map[string]string, env Env) bool {
	if c == nil {
		return true
	}
	switch c.Op {
	case OpAll:
		for i := range c.Operands {
			if !c.Operands[i].Evaluate(vars, env) {
				return false
			}
		}
		return true
	case OpAny:
		for i := range c.Operands {
			if c.Operands[i].Evaluate(vars, env) {
				return true
			}
		}
		return false
	case OpNone:
		for i := range c.Operands {
			if c.Operands[i].Evaluate(vars, env) {
				return false
			}
		}
		return true
	case OpVariable:
		v, ok := vars[strings.ToUpper(c.Variable)]
		switch c.Compare {
		case Exists:
			return ok
		case NotExists:
			return !ok
		}
		return ok && compare(c.Compare, compareValues(v, c.Value))
	case OpOS:
		os := env.OS()
		if c.Platform != "" && !strings.EqualFold(c.Platform, os.Platform) {
			return false
		}
		if c.Compare == Exists {
			return true
		}
		want, err := pkg.ParseFileVersion(c.Value)
		if err != nil {
			return false // Validate rejects it
		}
		return compare(c.Compare, os.Version.Compare(want))
	case OpFile:
		return env.FileExists(c.Path) == (c.Compare == Exists)
	}
	return false
}

// compareValues orders a and b: as integers when both are, otherwise as
// case-insensitive strings.
func compareValues(a, b string) int {
	x, errA := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	y, errB := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(strings.ToUpper(a), strings.ToUpper(b))
}

// compare applies an ordering comparison to the result of a Compare-style
// function.
func compare(c Compare, r int) bool {
	switch c {
	case Equals:
		return r == 0
	case NotEquals:
		return r != 0
	case Greater:
		return r > 0
	case GreaterEqual:
		return r >= 0
	case Less:
		return r < 0
	case LessEqual:
		return r <= 0
	}
	return false
}

// validate reports the problems of c and its operands; rule prefixes each
// rule with the step's name.
func (c *Condition) validate(field string, rule func(string) string) error {
	var ps consign.Problems
	c.check(&ps, field, rule, 0)
	return ps.Err()
}

func (c *Condition) check(ps *consign.Problems, field string, rule func(string) string, depth int) {
	if depth > MaxDepth {
		ps.Add(field, rule(fmt.Sprintf("conditions nest at most %d deep", MaxDepth)))
		return
	}
	validCompare := c.Compare >= Exists && c.Compare <= LessEqual
	// unused reports a field the Op does not read that is set anyway.
	unused := func(set bool, name string) {
		ps.Check(!set, field+"."+name, rule(c.Op.String()+" conditions do not use "+name))
	}
	switch c.Op {
	case OpAll, OpAny, OpNone:
		unused(c.Variable != "", "Variable")
		unused(c.Platform != "", "Platform")
		unused(c.Path != "", "Path")
		unused(c.Compare != Exists, "Compare")
		unused(c.Value != "", "Value")
		ps.Check(len(c.Operands) > 0, field+".Operands", rule(c.Op.String()+" needs at least one operand"))
		for i := range c.Operands {
			c.Operands[i].check(ps, fmt.Sprintf("%s.Operands[%d]", field, i), rule, depth+1)
		}
		return
	case OpVariable:
		unused(c.Platform != "", "Platform")
		unused(c.Path != "", "Path")
		unused(c.Value != "" && (c.Compare == Exists || c.Compare == NotExists), "Value")
		ps.Check(validVariableName(c.Variable), field+".Variable", rule("a variable name: letters, digits and underscores, not starting with a digit"))
		ps.Check(validCompare, field+".Compare", rule("one of the Compare constants"))
	case OpOS:
		unused(c.Variable != "", "Variable")
		unused(c.Path != "", "Path")
		switch c.Platform {
		case "", "I386", "x64", "IA64":
		default:
			ps.AddValue(field+".Platform", c.Platform, rule(`"", "I386", "x64" or "IA64"`))
		}
		switch {
		case c.Compare == Exists:
			ps.Check(c.Platform != "", field+".Platform", rule("Exists tests the platform: name one"))
			ps.Check(c.Value == "", field+".Value", rule("Exists tests the platform only; compare a version with Equals, Greater, …"))
		case c.Compare == NotExists || !validCompare:
			ps.AddValue(field+".Compare", c.Compare.String(), rule("Exists (platform only) or a version comparison"))
		default:
			if _, err := pkg.ParseFileVersion(c.Value); err != nil {
				ps.AddValue(field+".Value", c.Value, rule("a Windows version such as 6.0 or 5.1.2600"))
			}
		}
	case OpFile:
		unused(c.Variable != "", "Variable")
		unused(c.Platform != "", "Platform")
		unused(c.Value != "", "Value")
		ps.Check(strings.TrimSpace(c.Path) != "", field+".Path", rule("required"))
		ps.Check(c.Compare == Exists || c.Compare == NotExists, field+".Compare", rule("Exists or NotExists"))
	default:
		ps.AddValue(field+".Op", int(c.Op), rule("one of the Op constants"))
		return
	}
	ps.Check(len(c.Operands) == 0, field+".Operands", rule(c.Op.String()+" expressions have no operands"))
}
