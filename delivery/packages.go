package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/consign/consign"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// CreatePackage creates a package (New Package Wizard, §2.1). An empty ID
// gets the next ID of this site; SourceSite becomes this site, and a
// package with source files starts at SourceVersion 1. The stored package
// is returned.
func (s *Site) CreatePackage(ctx context.Context, p *pkg.Package) (*pkg.Package, error) {
	var out *pkg.Package
	err := s.commit(ctx, "CreatePackage", func(t *tx) error {
		np, err := t.planPackage(p)
		out = np
		return err
	})
	return out, err
}

// planPackage validates a new package and adds its write.
func (t *tx) planPackage(p *pkg.Package) (*pkg.Package, error) {
	if p == nil {
		return nil, &consign.ValidationError{Field: "Package", Rule: "required"}
	}
	np := *p
	np.Manifest.Files = slices.Clone(p.Manifest.Files)
	if np.ID == "" {
		np.ID = t.newID()
	} else if t.idTaken(np.ID) {
		return nil, &consign.Error{Code: consign.ErrConflict, Op: "CreatePackage", Key: string(np.ID), Err: fmt.Errorf("%s is already used", np.ID)}
	}
	t.claim(np.ID)
	if np.SourceSite == "" {
		np.SourceSite = t.st.opts.SiteCode
	}
	if np.HasSource() && np.SourceVersion == 0 {
		np.SourceVersion = 1
		np.SourceDate = t.now
	}
	if err := np.Validate(); err != nil {
		return nil, err
	}
	t.put(kindPackage, string(np.ID), nil, &np)
	t.guard(kindPackage, string(np.ID))
	t.newPackage = &np
	return &np, nil
}

// UpdatePackage changes a package's properties. Its ID, type, source site,
// SourceVersion and manifest are not changed here: new content goes through
// UpdatePackageSource, which increments SourceVersion.
func (s *Site) UpdatePackage(ctx context.Context, p *pkg.Package) (*pkg.Package, error) {
	var out *pkg.Package
	err := s.commit(ctx, "UpdatePackage", func(t *tx) error {
		if p == nil {
			return &consign.ValidationError{Field: "Package", Rule: "required"}
		}
		old, err := t.ownPackage("UpdatePackage", p.ID)
		if err != nil {
			return err
		}
		np := *p
		np.Type, np.SourceSite, np.SourceVersion, np.SourceDate, np.Manifest = old.Type, old.SourceSite, old.SourceVersion, old.SourceDate, old.Manifest
		if old.HasSource() != np.HasSource() && len(t.st.pkgDPs[np.ID]) > 0 {
			return &consign.ValidationError{Field: "Package.SourceFlag", Rule: "cannot add or drop source files while the package is on distribution points; remove it from them first"}
		}
		if err := np.Validate(); err != nil {
			return err
		}
		t.put(kindPackage, string(np.ID), nil, &np)
		out = &np
		return nil
	})
	return out, err
}

// UpdatePackageSource records new package content: SourceVersion is
// incremented and every DP holding the package goes back to Install Pending
// for the new version (Manage Distribution Points: "Update all distribution
// points with a new package source version", §2.4, §4.1).
func (s *Site) UpdatePackageSource(ctx context.Context, id consign.ObjectID, m pkg.Manifest) (*pkg.Package, error) {
	var out *pkg.Package
	err := s.commit(ctx, "UpdatePackageSource", func(t *tx) error {
		np, err := t.planSourceUpdate("UpdatePackageSource", id, m)
		out = np
		return err
	})
	return out, err
}

// planSourceUpdate plans UpdatePackageSource: the package's new manifest,
// SourceVersion incremented, every DP holding it back to Install Pending.
func (t *tx) planSourceUpdate(op string, id consign.ObjectID, m pkg.Manifest) (*pkg.Package, error) {
	old, err := t.ownPackage(op, id)
	if err != nil {
		return nil, err
	}
	if !old.HasSource() {
		return nil, &consign.ValidationError{Field: "Package.SourceFlag", Rule: "the package has no source files to update"}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	np := *old
	np.Manifest = pkg.Manifest{Files: slices.Clone(m.Files)}
	np.SourceVersion++
	np.SourceDate = t.now
	t.put(kindPackage, string(id), nil, &np)
	for _, nal := range sortedKeys(t.st.pkgDPs[id]) {
		if t.st.pkgDPs[id][nal].Removing() {
			continue // on its way out; the new version is not sent there
		}
		if err := t.dpEvent(id, nal, distpoint.Update, np.SourceVersion); err != nil {
			return nil, err
		}
	}
	return &np, nil
}

// DeletePackage deletes a package, its programs and every advertisement of
// them (with their client status); each DP holding it goes to Removal
// Pending (§1.2 "Delete semantics", §4.1).
func (s *Site) DeletePackage(ctx context.Context, id consign.ObjectID) error {
	return s.commit(ctx, "DeletePackage", func(t *tx) error {
		if _, err := t.ownPackage("DeletePackage", id); err != nil {
			return err
		}
		var users []string
		for _, r := range sortedRefs(t.st.programs) {
			if p := t.st.programs[r]; r.PackageID != id && p.Dependency != nil && p.Dependency.PackageID == id {
				users = append(users, "program "+r.String()+" runs "+p.Dependency.String()+" first")
			}
		}
		users = append(users, t.st.sequenceUsers(id, "")...)
		if len(users) > 0 {
			return &consign.Error{Code: consign.ErrFailedPrecondition, Op: "DeletePackage", Key: string(id),
				Err: fmt.Errorf("still used: %s", strings.Join(users, ", "))}
		}
		for _, a := range t.st.adsByPkg[id] {
			t.deleteAdvertisement(a)
		}
		for ref := range t.st.programs {
			if ref.PackageID == id {
				t.del(kindProgram, programKey(ref))
				t.unguard(kindProgram, programKey(ref))
			}
		}
		if _, ok := t.st.sequences[id]; ok {
			t.del(kindSequence, string(id))
		}
		t.unguard(kindPackage, string(id))
		for _, nal := range sortedKeys(t.st.pkgDPs[id]) {
			if err := t.dpEvent(id, nal, distpoint.Remove, 0); err != nil {
				return err
			}
		}
		t.del(kindPackage, string(id))
		return nil
	})
}

// ownPackage returns a package this site may change.
func (t *tx) ownPackage(op string, id consign.ObjectID) (*pkg.Package, error) {
	p, ok := t.st.packages[id]
	if !ok {
		return nil, notFound(op, "package "+string(id))
	}
	if p.SourceSite != "" && p.SourceSite != t.st.opts.SiteCode {
		return nil, &consign.Error{Code: consign.ErrPermissionDenied, Op: op, Key: string(id),
			Err: fmt.Errorf("package %s was created at site %s and is read-only here (§1.1)", id, p.SourceSite)}
	}
	return p, nil
}

// Package returns a copy of the package.
func (s *Site) Package(id consign.ObjectID) (*pkg.Package, error) {
	var out *pkg.Package
	err := s.read("Package", func(st *state) error {
		p, ok := st.packages[id]
		if !ok {
			return notFound("Package", "package "+string(id))
		}
		c := *p
		out = &c
		return nil
	})
	return out, err
}

// Packages returns every package, ordered by ID.
func (s *Site) Packages() []*pkg.Package {
	var out []*pkg.Package
	_ = s.read("Packages", func(st *state) error {
		for _, id := range sortedKeys(st.packages) {
			c := *st.packages[id]
			out = append(out, &c)
		}
		return nil
	})
	return out
}

// CreateProgram adds a program to its package (New Program Wizard, §2.2).
// A "run another program first" dependency must exist and the chain must
// not loop.
func (s *Site) CreateProgram(ctx context.Context, p *pkg.Program) error {
	return s.commit(ctx, "CreateProgram", func(t *tx) error { return t.planProgram("CreateProgram", p, true) })
}

// UpdateProgram replaces a program's properties (its package and name are
// its identity).
func (s *Site) UpdateProgram(ctx context.Context, p *pkg.Program) error {
	return s.commit(ctx, "UpdateProgram", func(t *tx) error { return t.planProgram("UpdateProgram", p, false) })
}

func (t *tx) planProgram(op string, p *pkg.Program, create bool) error {
	if p == nil {
		return &consign.ValidationError{Field: "Program", Rule: "required"}
	}
	if pk, ok := t.plannedPackage(p.PackageID); !ok {
		return &consign.ValidationError{Field: "Program.PackageID", Value: string(p.PackageID), Rule: "must name an existing package"}
	} else if pk.Type == pkg.TypeTaskSequence {
		return &consign.ValidationError{Field: "Program.PackageID", Value: string(p.PackageID),
			Rule: "a task sequence package has no programs: its sequence is advertised as \"*\" (§1.10)"}
	} else if _, stored := t.st.packages[p.PackageID]; stored {
		if _, err := t.ownPackage(op, p.PackageID); err != nil {
			return err
		}
	}
	_, exists := t.st.programs[p.Ref()]
	switch {
	case create && exists:
		return &consign.Error{Code: consign.ErrConflict, Op: op, Key: p.Ref().String(), Err: fmt.Errorf("program %q already exists in package %s", p.Name, p.PackageID)}
	case !create && !exists:
		return notFound(op, "program "+p.Ref().String())
	}
	if err := p.Validate(); err != nil {
		return err
	}
	np := *p
	if np.Dependency != nil && np.Dependency.PackageID == "" {
		// ConfigMgr's ";;Program" form: a program of the same package.
		dep := *np.Dependency
		dep.PackageID = np.PackageID
		np.Dependency = &dep
	}
	t.plannedPrograms()[np.Ref()] = &np
	// Any loop or missing program this change creates lies on np's own
	// chain; problems elsewhere on the site are not this change's.
	if _, err := pkg.RunOrder(np.Ref(), t.lookupProgram, func(pkg.ProgramRef) bool { return false }); err != nil {
		return err
	}
	if !create {
		// The advertisements of the program are validated against it (an
		// on-logoff assignment needs "no user logged on", §1.3).
		var probs consign.Problems
		for _, id := range sortedKeys(t.st.ads) {
			a := t.st.ads[id].ad
			if a.PackageID == np.PackageID && a.ProgramName == np.Name {
				if err := a.Validate(&np); err != nil {
					probs.AddValue("Program", np.Ref().String(), fmt.Sprintf("advertisement %s would become invalid: %v", id, err))
				}
			}
		}
		if err := probs.Err(); err != nil {
			return err
		}
		if err := t.checkSequencePrograms(&np); err != nil {
			return err
		}
	}
	t.guard(kindPackage, string(np.PackageID))
	if create {
		t.guard(kindProgram, programKey(np.Ref()))
	}
	if np.Dependency != nil {
		t.guard(kindProgram, programKey(*np.Dependency))
	}
	t.put(kindProgram, programKey(np.Ref()), map[string]string{"package": string(np.PackageID)}, &np)
	return nil
}

// lookupProgram finds a program planned in this tx or stored.
func (t *tx) lookupProgram(r pkg.ProgramRef) (*pkg.Program, bool) {
	if p, ok := t.programs[r]; ok {
		return p, true
	}
	p, ok := t.st.programs[r]
	return p, ok
}

// plannedPrograms holds programs written by this plan, so that chain checks
// see them before they are stored.
func (t *tx) plannedPrograms() map[pkg.ProgramRef]*pkg.Program {
	if t.programs == nil {
		t.programs = make(map[pkg.ProgramRef]*pkg.Program)
	}
	return t.programs
}

// sortedRefs returns the program references of m in order.
func sortedRefs[V any](m map[pkg.ProgramRef]V) []pkg.ProgramRef {
	refs := make([]pkg.ProgramRef, 0, len(m))
	for r := range m {
		refs = append(refs, r)
	}
	slices.SortFunc(refs, func(a, b pkg.ProgramRef) int { return strings.Compare(a.String(), b.String()) })
	return refs
}

// DeleteProgram deletes a program. Like ConfigMgr (a program stays in
// DELETE until its advertisements are removed, §1.1), it is refused while an
// advertisement uses it or another program runs it first.
func (s *Site) DeleteProgram(ctx context.Context, ref pkg.ProgramRef) error {
	return s.commit(ctx, "DeleteProgram", func(t *tx) error {
		if _, ok := t.st.programs[ref]; !ok {
			return notFound("DeleteProgram", "program "+ref.String())
		}
		if _, err := t.ownPackage("DeleteProgram", ref.PackageID); err != nil {
			return err
		}
		var users []string
		for _, id := range sortedKeys(t.st.ads) {
			a := t.st.ads[id].ad
			if a.PackageID == ref.PackageID && a.ProgramName == ref.Program {
				users = append(users, "advertisement "+string(id))
			}
		}
		for _, r := range sortedRefs(t.st.programs) {
			if p := t.st.programs[r]; p.Dependency != nil && *p.Dependency == ref {
				users = append(users, "program "+r.String())
			}
		}
		users = append(users, t.st.sequenceUsers(ref.PackageID, ref.Program)...)
		if len(users) > 0 {
			return &consign.Error{Code: consign.ErrFailedPrecondition, Op: "DeleteProgram", Key: ref.String(),
				Err: fmt.Errorf("still used by %s", strings.Join(users, ", "))}
		}
		t.del(kindProgram, programKey(ref))
		t.unguard(kindProgram, programKey(ref))
		return nil
	})
}

// Program returns a copy of the program.
func (s *Site) Program(ref pkg.ProgramRef) (*pkg.Program, error) {
	var out *pkg.Program
	err := s.read("Program", func(st *state) error {
		p, ok := st.programs[ref]
		if !ok {
			return notFound("Program", "program "+ref.String())
		}
		c := *p
		out = &c
		return nil
	})
	return out, err
}

// Programs returns the programs of a package, ordered by name.
func (s *Site) Programs(id consign.ObjectID) []*pkg.Program {
	var out []*pkg.Program
	_ = s.read("Programs", func(st *state) error {
		for ref, p := range st.programs {
			if ref.PackageID == id {
				c := *p
				out = append(out, &c)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *pkg.Program) int { return strings.Compare(a.Name, b.Name) })
	return out
}
