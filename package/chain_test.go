package pkg

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/consign/consign"
	"pgregory.net/rapid"
)

func TestParseProgramRef(t *testing.T) {
	tests := []struct {
		in   string
		want ProgramRef
		ok   bool
	}{
		{"ABC00001;;Setup", ProgramRef{"ABC00001", "Setup"}, true},
		{"abc0001f;;Setup", ProgramRef{"ABC0001F", "Setup"}, true},
		{";;Prepare", ProgramRef{"CEN00012", "Prepare"}, true}, // same package
		{"ABC00001;;a;;b", ProgramRef{"ABC00001", "a;;b"}, true},
		{"", ProgramRef{}, false},
		{"Setup", ProgramRef{}, false},
		{"ABC00001;;", ProgramRef{}, false},
		{"ABC0001;;Setup", ProgramRef{}, false},
		{"ABC00001;Setup", ProgramRef{}, false},
	}
	for _, tt := range tests {
		got, err := ParseProgramRef(tt.in, "CEN00012")
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseProgramRef(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("ParseProgramRef(%q): %v is not ErrInvalid", tt.in, err)
		}
		if err == nil && tt.in[0] != ';' {
			if again, err := ParseProgramRef(got.String(), ""); err != nil || again != got {
				t.Errorf("ParseProgramRef(%q.String()) = %v, %v", got, again, err)
			}
		}
	}
}

// programSet indexes programs by reference for Lookup.
type programSet map[ProgramRef]*Program

func (s programSet) lookup(r ProgramRef) (*Program, bool) { p, ok := s[r]; return p, ok }

func newSet(programs ...*Program) programSet {
	s := programSet{}
	for _, p := range programs {
		s[p.Ref()] = p
	}
	return s
}

func dependsOn(p *Program, dep ProgramRef, always bool) *Program {
	p.Dependency, p.RunDependencyAlways = &dep, always
	return p
}

func TestRunOrder(t *testing.T) {
	a := ProgramRef{"CEN00001", "A"}
	b := ProgramRef{"CEN00001", "B"}
	c := ProgramRef{"CEN00002", "C"}
	prog := func(r ProgramRef) *Program { return NewProgram(r.PackageID, r.Program, "x.exe") }
	// A needs B needs C; B always reruns C.
	chainSet := newSet(dependsOn(prog(a), ProgramRef{Program: "B"}, false), dependsOn(prog(b), c, true), prog(c))
	tests := []struct {
		name string
		ran  []ProgramRef
		want []ProgramRef
	}{
		{"fresh device", nil, []ProgramRef{c, b, a}},
		{"B succeeded before: nothing before A", []ProgramRef{b}, []ProgramRef{a}},
		{"C succeeded before, B always runs it", []ProgramRef{c}, []ProgramRef{c, b, a}},
		{"A itself ran: it still runs", []ProgramRef{a}, []ProgramRef{c, b, a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RunOrder(a, chainSet.lookup, func(r ProgramRef) bool { return slices.Contains(tt.ran, r) })
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("RunOrder = %v, %v; want %v", got, err, tt.want)
			}
		})
	}

	if _, err := RunOrder(ProgramRef{"CEN00009", "Z"}, chainSet.lookup, nil); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("missing target: %v, want ErrNotFound", err)
	}

	broken := newSet(dependsOn(prog(a), b, false), dependsOn(prog(b), c, false))
	_, err := RunOrder(a, broken.lookup, func(ProgramRef) bool { return true })
	var ve *consign.ValidationError
	if !errors.As(err, &ve) || ve.Field != "Program[CEN00001;;B].Dependency" || ve.Value != c.String() {
		t.Errorf("missing dependency: %v, want a ValidationError on B's dependency", err)
	}

	loop := newSet(dependsOn(prog(a), b, false), dependsOn(prog(b), c, false), dependsOn(prog(c), b, false))
	_, err = RunOrder(a, loop.lookup, func(ProgramRef) bool { return true })
	var le *LoopError
	if !errors.As(err, &le) || !errors.Is(err, consign.ErrInvalid) || err.Error() != "CEN00001;;B -> CEN00002;;C -> CEN00001;;B" {
		t.Errorf("loop: %v, want LoopError B -> C -> B", err)
	}
}

// graph is a random set of programs with dependencies, some missing.
type graph struct {
	programs []*Program
	target   ProgramRef
	ran      map[ProgramRef]bool
}

func genGraph() *rapid.Generator[graph] {
	return rapid.Custom(func(t *rapid.T) graph {
		n := rapid.IntRange(1, 8).Draw(t, "n")
		refs := make([]ProgramRef, n)
		for i := range refs {
			refs[i] = ProgramRef{consign.NewObjectID("CEN", uint32(rapid.IntRange(1, 3).Draw(t, "pkg"))), fmt.Sprintf("P%d", i)}
		}
		g := graph{target: refs[rapid.IntRange(0, n-1).Draw(t, "target")], ran: map[ProgramRef]bool{}}
		for i, r := range refs {
			p := NewProgram(r.PackageID, r.Program, "x.exe")
			switch k := rapid.IntRange(-2, n-1).Draw(t, "dep"); {
			case k == -2: // none
			case k == -1:
				dependsOn(p, ProgramRef{"CEN000FF", "Missing"}, false)
			default:
				dep := refs[k]
				if dep.PackageID == r.PackageID && rapid.Bool().Draw(t, "short") {
					dep.PackageID = "" // ";;name" form
				}
				dependsOn(p, dep, false)
			}
			p.RunDependencyAlways = p.Dependency != nil && rapid.Bool().Draw(t, "always")
			g.ran[r] = rapid.Bool().Draw(t, fmt.Sprintf("ran%d", i))
			g.programs = append(g.programs, p)
		}
		return g
	})
}

// dfs is the reference: a plain recursive depth-first search from target
// over the dependency edges, reporting whether it meets a missing program or
// a back edge (a cycle).
func dfs(set programSet, target ProgramRef) (missing, cycle bool) {
	colour := map[ProgramRef]int{}
	var visit func(r ProgramRef)
	visit = func(r ProgramRef) {
		p, ok := set[r]
		if !ok {
			missing = true
			return
		}
		colour[r] = 1
		var next []ProgramRef
		if dep, ok := p.DependsOn(); ok {
			next = append(next, dep)
		}
		for _, d := range next {
			switch colour[d] {
			case 0:
				visit(d)
			case 1:
				cycle = true
			}
		}
		colour[r] = 2
	}
	visit(target)
	return missing, cycle
}

func TestRunOrderProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := genGraph().Draw(t, "graph")
		set := newSet(g.programs...)
		ranOK := func(r ProgramRef) bool { return g.ran[r] }
		order, err := RunOrder(g.target, set.lookup, ranOK)
		missing, cycle := dfs(set, g.target)

		var le *LoopError
		var ve *consign.ValidationError
		switch {
		case cycle:
			if !errors.As(err, &le) {
				t.Fatalf("reachable cycle, got %v, %v", order, err)
			}
			for i, r := range le.Cycle {
				if dep, _ := set[r].DependsOn(); dep != le.Cycle[(i+1)%len(le.Cycle)] {
					t.Fatalf("LoopError %v: %v does not depend on the next", le, r)
				}
			}
		case missing:
			if !errors.As(err, &ve) || errors.As(err, &le) {
				t.Fatalf("reachable missing program, got %v, %v", order, err)
			}
		default:
			if err != nil {
				t.Fatalf("valid chain, got %v", err)
			}
			if len(order) == 0 || order[len(order)-1] != g.target {
				t.Fatalf("order %v does not end with target %v", order, g.target)
			}
			seen := map[ProgramRef]bool{}
			for i, r := range order {
				if seen[r] {
					t.Fatalf("order %v repeats %v", order, r)
				}
				seen[r] = true
				p := set[r]
				dep, hasDep := p.DependsOn()
				needed := hasDep && (p.RunDependencyAlways || !ranOK(dep))
				if i == 0 && needed {
					t.Fatalf("order %v leaves out %v, needed by %v", order, dep, r)
				}
				if i > 0 && (!needed || dep != order[i-1]) {
					t.Fatalf("order %v: %v before %v, which does not need it", order, order[i-1], r)
				}
			}
		}
	})
}

func TestCheckChains(t *testing.T) {
	prog := func(id consign.ObjectID, name string) *Program { return NewProgram(id, name, "x.exe") }
	a := prog("CEN00001", "A")
	b := dependsOn(prog("CEN00001", "B"), ProgramRef{Program: "A"}, false)
	c := dependsOn(prog("CEN00002", "C"), ProgramRef{"CEN00001", "B"}, true)
	if err := CheckChains([]*Program{a, b, c}); err != nil {
		t.Fatalf("valid set: %v", err)
	}

	x := dependsOn(prog("CEN00003", "X"), ProgramRef{Program: "Y"}, false)
	y := dependsOn(prog("CEN00003", "Y"), ProgramRef{Program: "X"}, false)
	self := dependsOn(prog("CEN00003", "Self"), ProgramRef{Program: "Self"}, false)
	into := dependsOn(prog("CEN00003", "Into"), ProgramRef{Program: "X"}, false) // leads into the loop, is not in it
	lost := dependsOn(prog("CEN00004", "Lost"), ProgramRef{"CEN00004", "Gone"}, false)
	dup := prog("CEN00001", "A")
	err := CheckChains([]*Program{into, a, b, x, y, self, lost, dup})

	var multi interface{ WrappedErrors() []error }
	if !errors.As(err, &multi) || !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("CheckChains = %v, want several problems", err)
	}
	var got []string
	for _, e := range multi.WrappedErrors() {
		got = append(got, e.Error())
	}
	want := []string{
		`invalid Program[CEN00001;;A]: unique: its name is used twice in the package`,
		`invalid Program[CEN00004;;Lost].Dependency "CEN00004;;Gone": must name an existing program`,
		`CEN00003;;X -> CEN00003;;Y -> CEN00003;;X`,
		`CEN00003;;Self -> CEN00003;;Self`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("CheckChains problems:\n%q\nwant\n%q", got, want)
	}
}

func BenchmarkRunOrder(b *testing.B) {
	// A chain of 20 programs, none run before.
	var programs []*Program
	for i := range 20 {
		p := NewProgram("CEN00001", fmt.Sprintf("P%02d", i), "x.exe")
		if i > 0 {
			dependsOn(p, ProgramRef{Program: fmt.Sprintf("P%02d", i-1)}, false)
		}
		programs = append(programs, p)
	}
	set := newSet(programs...)
	target := programs[19].Ref()
	for b.Loop() {
		if _, err := RunOrder(target, set.lookup, func(ProgramRef) bool { return false }); err != nil {
			b.Fatal(err)
		}
	}
}
