package pkg

import (
	"slices"
	"strings"

	"github.com/consign/consign"
)

// ProgramRef names a program: its package and its name. It is comparable and
// can key a map.
type ProgramRef struct {
	PackageID consign.ObjectID
	Program   string
}

// ParseProgramRef reads SMS_Program.DependentProgram,
// "<PackageID>;;<ProgramName>"; ";;<ProgramName>" names a program of the
// package owner (§1.3). The package ID is normalised to upper case.
func ParseProgramRef(dependentProgram string, owner consign.ObjectID) (ProgramRef, error) {
	id, name, ok := strings.Cut(dependentProgram, ";;")
	if !ok || name == "" {
		return ProgramRef{}, &consign.ValidationError{Field: "DependentProgram", Value: dependentProgram, Rule: `"<PackageID>;;<ProgramName>" or ";;<ProgramName>"`}
	}
	if id == "" {
		return ProgramRef{PackageID: owner, Program: name}, nil
	}
	pid, err := consign.ParseObjectID(id)
	if err != nil {
		return ProgramRef{}, &consign.ValidationError{Field: "DependentProgram", Value: dependentProgram, Rule: "a package ID (site code and 5 hexadecimal digits) before \";;\""}
	}
	return ProgramRef{PackageID: pid, Program: name}, nil
}

// String returns r in DependentProgram form, "<PackageID>;;<ProgramName>".
func (r ProgramRef) String() string { return string(r.PackageID) + ";;" + r.Program }

// Lookup finds a program by reference.
type Lookup func(ProgramRef) (*Program, bool)

// RunOrder returns the programs to run for target, dependencies first and
// target last (§1.3 DependentProgram, §3.2 step 4e).
//
// A dependency is included when ranOK reports that it never succeeded on
// this device, or when the program depending on it has RunDependencyAlways;
// the dependencies of a program that is not included are not needed. The
// whole chain reachable from target is checked whatever ranOK says, so a
// broken chain fails the same way on every device: a missing dependency is a
// *consign.ValidationError naming the program whose dependency is missing,
// a loop is a *LoopError, and a missing target is consign.ErrNotFound.
func RunOrder(target ProgramRef, lookup Lookup, ranOK func(ProgramRef) bool) ([]ProgramRef, error) {
	refs, progs, err := chain(target, lookup)
	if err != nil {
		return nil, err
	}
	n := 1
	for n < len(refs) && (progs[n-1].RunDependencyAlways || !ranOK(refs[n])) {
		n++
	}
	order := slices.Clone(refs[:n])
	slices.Reverse(order)
	return order, nil
}

// chain follows the dependencies from start: refs[i+1] is the dependency of
// progs[i], and the last program has none.
func chain(start ProgramRef, lookup Lookup) ([]ProgramRef, []*Program, error) {
	p, ok := lookup(start)
	if !ok {
		return nil, nil, consign.Errorf(consign.ErrNotFound, "RunOrder", start.String(), "no such program")
	}
	refs, progs := []ProgramRef{start}, []*Program{p}
	for {
		dep, ok := p.DependsOn()
		if !ok {
			return refs, progs, nil
		}
		if i := slices.Index(refs, dep); i >= 0 {
			return nil, nil, &LoopError{Cycle: slices.Clone(refs[i:])}
		}
		if p, ok = lookup(dep); !ok {
			return nil, nil, missingDependency(refs[len(refs)-1], dep)
		}
		refs, progs = append(refs, dep), append(progs, p)
	}
}

func missingDependency(of, dep ProgramRef) *consign.ValidationError {
	return &consign.ValidationError{Field: "Program[" + of.String() + "].Dependency", Value: dep.String(), Rule: "must name an existing program"}
}

// CheckChains validates the dependency of every program in programs against
// the set itself: every program is unique, every dependency exists, and no
// chain loops. It reports all problems; each loop once, as a *LoopError.
func CheckChains(programs []*Program) error {
	var probs consign.Problems
	byRef := make(map[ProgramRef]*Program, len(programs))
	for _, p := range programs {
		if _, dup := byRef[p.Ref()]; dup {
			probs.Add("Program["+p.Ref().String()+"]", "unique: its name is used twice in the package")
			continue
		}
		byRef[p.Ref()] = p
	}
	for _, p := range programs {
		if dep, ok := p.DependsOn(); ok && byRef[dep] == nil {
			probs.Merge(missingDependency(p.Ref(), dep))
		}
	}
	// Each program has at most one dependency, so walking from every
	// program and colouring what each walk saw finds each loop exactly once.
	const (
		onPath = 1
		done   = 2
	)
	state := make(map[ProgramRef]int, len(programs))
	for _, start := range programs {
		var path []ProgramRef
		for r := start.Ref(); state[r] == 0; {
			state[r] = onPath
			path = append(path, r)
			dep, ok := byRef[r].DependsOn()
			if !ok || byRef[dep] == nil {
				break
			}
			if state[dep] == onPath {
				probs.Merge(&LoopError{Cycle: slices.Clone(path[slices.Index(path, dep):])})
				break
			}
			r = dep
		}
		for _, r := range path {
			state[r] = done
		}
	}
	return probs.Err()
}

// LoopError reports a dependency chain that loops back on itself, so no
// program in it could ever run. errors.Is(err, consign.ErrInvalid) is true.
type LoopError struct {
	// Cycle lists the programs of the loop once each, in dependency order,
	// starting where the walk entered the loop: Cycle[i] depends on
	// Cycle[i+1], and the last depends on Cycle[0].
	Cycle []ProgramRef
}

// Error prints the loop closed on its first program, e.g.
// "CEN00001;;A -> CEN00002;;B -> CEN00001;;A".
func (e *LoopError) Error() string {
	var b strings.Builder
	for _, r := range e.Cycle {
		b.WriteString(r.String())
		b.WriteString(" -> ")
	}
	if len(e.Cycle) > 0 {
		b.WriteString(e.Cycle[0].String())
	}
	return b.String()
}

// Is makes errors.Is(err, consign.ErrInvalid) true.
func (e *LoopError) Is(target error) bool { return target == consign.ErrInvalid }
