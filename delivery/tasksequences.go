package delivery

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
	"github.com/consign/consign/updates"
)

// kindSequence records hold the sequence of a task sequence package
// (SMS_TaskSequencePackage.Sequence, §1.10), keyed by the package's ID, as
// JSON of tasksequence.Sequence.
const kindSequence = "tasksequence"

// TaskSequenceOffer is what a device needs to run an advertised task
// sequence besides the advertisement: the sequence and what its steps use.
// It is the Site's own immutable copy, shared by every device's policy:
// treat it as read-only.
type TaskSequenceOffer struct {
	Sequence *tasksequence.Sequence
	// Packages are the packages the steps use (Install Software and Run
	// Command Line with a package), by ID, so that their content can be
	// located (SMS_TaskSequencePackage.References).
	Packages []*PackageInfo
	// Programs are the programs the Install Software steps run, by
	// reference.
	Programs []*pkg.Program
}

// Package returns the referenced package id, or nil.
func (o *TaskSequenceOffer) Package(id consign.ObjectID) *PackageInfo {
	i, ok := slices.BinarySearchFunc(o.Packages, id, func(p *PackageInfo, id consign.ObjectID) int {
		return cmp.Compare(p.ID, id)
	})
	if !ok {
		return nil
	}
	return o.Packages[i]
}

// Program returns the referenced program ref, or nil.
func (o *TaskSequenceOffer) Program(ref pkg.ProgramRef) *pkg.Program {
	for _, p := range o.Programs {
		if p.Ref() == ref {
			return p
		}
	}
	return nil
}

// TaskSequenceUpdate is a software update an Install Software Updates step
// would install on one device: deployed to it (by an enabled deployment
// targeting one of its collections) and required by its last scan.
type TaskSequenceUpdate struct {
	CIID      updates.CIID
	ArticleID string
	Title     string
	// Mandatory is set when a deployment with a deadline includes it: the
	// step's UpdatesMandatory scope installs only these.
	Mandatory bool
	// Package is a deployment package holding the update's content: the
	// one the first such deployment (by ID) put it in, or else the first
	// by ID that holds it (any deployment package serves an update,
	// §1.14); nil when none does. Files are the paths of the update's
	// files in that package's content, in the update's order.
	Package *PackageInfo
	Files   []string
	// MaxExecutionTime is the install budget (EffectiveMaxExecutionTime).
	MaxExecutionTime time.Duration
}

// tsState is a task sequence package's sequence with what the Site derives
// from it; immutable once stored, like the sequence.
type tsState struct {
	seq *tasksequence.Sequence
	// refs are the packages the steps use (seq.Packages()).
	refs []consign.ObjectID
	// installsUpdates says a step installs software updates, so offers
	// carry the device's updates.
	installsUpdates bool
	// program is what the sequence is advertised as.
	program *pkg.Program
	// offer is rebuilt when a referenced package or program changes.
	offer *TaskSequenceOffer
}

// CreateTaskSequence creates a task sequence package (type 4, no source
// files of its own) with its sequence, in one write: the New Task Sequence
// Wizard. The sequence is validated and its references checked
// (tasksequence.Sequence.CheckReferences): a step that uses a missing
// package or program, or a program that cannot run in a task sequence, is
// an error naming the step. The stored package is returned.
func (s *Site) CreateTaskSequence(ctx context.Context, p *pkg.Package, seq *tasksequence.Sequence) (*pkg.Package, error) {
	var out *pkg.Package
	err := s.commit(ctx, "CreateTaskSequence", func(t *tx) error {
		if p == nil {
			return &consign.ValidationError{Field: "Package", Rule: "required"}
		}
		var probs consign.Problems
		probs.Check(p.Type == pkg.TypeTaskSequence, "Package.Type", fmt.Sprintf("must be %d (task sequence)", pkg.TypeTaskSequence))
		probs.Check(!p.HasSource(), "Package.SourceFlag", "a task sequence package has no source files of its own: the packages its steps use hold the content")
		if err := probs.Err(); err != nil {
			return err
		}
		np, err := t.planPackage(p)
		if err != nil {
			return err
		}
		out = np
		return t.planSequence(np.ID, seq)
	})
	return out, err
}

// SetSequence replaces the sequence of task sequence package id
// (SMS_TaskSequencePackage.SetSequence), validated and with its references
// checked as by CreateTaskSequence. Devices its advertisements target are
// notified.
func (s *Site) SetSequence(ctx context.Context, id consign.ObjectID, seq *tasksequence.Sequence) error {
	return s.commit(ctx, "SetSequence", func(t *tx) error {
		p, err := t.ownPackage("SetSequence", id)
		if err != nil {
			return err
		}
		if p.Type != pkg.TypeTaskSequence {
			return &consign.ValidationError{Field: "PackageID", Value: string(id), Rule: fmt.Sprintf("must name a task sequence package (type %d), not type %d", pkg.TypeTaskSequence, p.Type)}
		}
		return t.planSequence(id, seq)
	})
}

// planSequence validates seq and its references and plans its write as
// package id's sequence. It guards what the steps refer to, so that a
// concurrent deletion of one of them conflicts with this write.
func (t *tx) planSequence(id consign.ObjectID, seq *tasksequence.Sequence) error {
	if seq == nil {
		return &consign.ValidationError{Field: "Sequence", Rule: "required"}
	}
	if err := seq.Validate(); err != nil {
		return err
	}
	err := seq.CheckReferences(tasksequence.Lookup{Package: t.plannedPackage, Program: t.lookupProgram})
	if err != nil {
		return err
	}
	ns := seq.Clone()
	if ns.SchemaVersion == "" {
		ns.SchemaVersion = tasksequence.DefaultSchemaVersion
	}
	for _, r := range ns.References() {
		t.guard(kindPackage, string(r.PackageID))
		if r.Program != "" {
			t.guard(kindProgram, programKey(pkg.ProgramRef{PackageID: r.PackageID, Program: r.Program}))
		}
	}
	t.guard(kindPackage, string(id))
	t.put(kindSequence, string(id), nil, ns)
	return nil
}

// DistributeTaskSequence adds the content of every package task sequence
// id's steps use to the distribution points nalPaths, in one write (the
// console's "Distribute Content" on a task sequence): their content must be
// on a DP the devices can reach for the sequence to run (§1.10). Packages
// without source files need none and are passed over; those already on a
// DP stay as they are. DistributeContent then copies the content.
func (s *Site) DistributeTaskSequence(ctx context.Context, id consign.ObjectID, nalPaths ...string) error {
	return s.commit(ctx, "DistributeTaskSequence", func(t *tx) error {
		ts, ok := t.st.sequences[id]
		if !ok {
			return notFound("DistributeTaskSequence", "task sequence "+string(id))
		}
		for _, ref := range ts.refs {
			if p, ok := t.st.packages[ref]; ok && p.HasSource() {
				if err := t.planAddToDPs(ref, nalPaths, "DistributionPoints"); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Sequence returns a copy of task sequence package id's sequence.
func (s *Site) Sequence(id consign.ObjectID) (*tasksequence.Sequence, error) {
	var out *tasksequence.Sequence
	err := s.read("Sequence", func(st *state) error {
		ts, ok := st.sequences[id]
		if !ok {
			return notFound("Sequence", "task sequence "+string(id))
		}
		out = ts.seq.Clone()
		return nil
	})
	return out, err
}

// sequenceUsers names the task sequence steps that use package id (or,
// with program set, that program of it), for the error refusing to delete
// or change what they need.
func (st *state) sequenceUsers(id consign.ObjectID, program string) []string {
	var users []string
	for _, tsID := range st.seqUsers[id] {
		for _, r := range st.sequences[tsID].seq.References() {
			if r.PackageID == id && (program == "" || r.Program == program) {
				users = append(users, fmt.Sprintf("task sequence %s step %q (%s)", tsID, r.StepName, r.Path))
			}
		}
	}
	return users
}

// checkSequencePrograms reports the task sequences a changed program would
// break: an Install Software step needs a program that can run unattended
// as the system (tasksequence.Sequence.CheckReferences).
func (t *tx) checkSequencePrograms(p *pkg.Program) error {
	var probs consign.Problems
	for _, tsID := range t.st.seqUsers[p.PackageID] {
		seq := t.st.sequences[tsID].seq
		err := seq.CheckReferences(tasksequence.Lookup{Package: t.plannedPackage, Program: t.lookupProgram})
		if err != nil {
			probs.AddValue("Program", p.Ref().String(), fmt.Sprintf("task sequence %s would become invalid: %v", tsID, err))
		}
	}
	return probs.Err()
}

func (st *state) applySequence(c Change) error {
	id := consign.ObjectID(c.Record.Key)
	if old := st.sequences[id]; old != nil {
		for _, r := range old.refs {
			st.seqUsers[r] = slices.DeleteFunc(st.seqUsers[r], func(x consign.ObjectID) bool { return x == id })
			if len(st.seqUsers[r]) == 0 {
				delete(st.seqUsers, r)
			}
		}
	}
	if c.Deleted {
		delete(st.sequences, id)
		st.packageChanged(id)
		return nil
	}
	var seq tasksequence.Sequence
	if err := json.Unmarshal(c.Record.Data, &seq); err != nil {
		return err
	}
	ts := &tsState{seq: &seq, refs: seq.Packages(), program: seq.Program(id)}
	seq.Walk(func(_ tasksequence.Path, s *tasksequence.Step) bool {
		ts.installsUpdates = ts.installsUpdates || s.InstallUpdates != nil
		return true
	})
	for _, r := range ts.refs {
		st.seqUsers[r] = append(st.seqUsers[r], id)
	}
	st.sequences[id] = ts
	st.resolveSequence(ts)
	st.packageChanged(id)
	return nil
}

// resolveSequence rebuilds ts's offer from the packages and programs its
// steps use as they are now.
func (st *state) resolveSequence(ts *tsState) {
	o := &TaskSequenceOffer{Sequence: ts.seq}
	for _, id := range ts.refs {
		if info := st.pkgInfo[id]; info != nil {
			o.Packages = append(o.Packages, info)
		}
	}
	for _, r := range ts.seq.References() {
		ref := pkg.ProgramRef{PackageID: r.PackageID, Program: r.Program}
		if p := st.programs[ref]; r.Program != "" && p != nil && o.Program(ref) == nil {
			o.Programs = append(o.Programs, p)
		}
	}
	slices.SortFunc(o.Programs, func(a, b *pkg.Program) int { return cmp.Compare(a.Ref().String(), b.Ref().String()) })
	ts.offer = o
}

// sequencesChanged follows a change of package id (or one of its
// programs) into the task sequences whose steps use it.
func (st *state) sequencesChanged(id consign.ObjectID) {
	for _, tsID := range st.seqUsers[id] {
		if ts := st.sequences[tsID]; ts != nil {
			st.resolveSequence(ts)
			st.packageChanged(tsID)
		}
	}
}

// tsUpdates lists the updates an Install Software Updates step would
// install on device rid, a member of cols: required by its last scans and
// in an enabled deployment targeting one of cols, by CIID.
func (st *state) tsUpdates(rid uint32, cols []consign.ObjectID) []TaskSequenceUpdate {
	required := st.compliance.RequiredUpdates(rid)
	if len(required) == 0 {
		return nil
	}
	type deployed struct {
		pkg       consign.ObjectID
		mandatory bool
	}
	in := make(map[updates.CIID]*deployed)
	for _, id := range sortedKeys(st.deployments) {
		d := st.deployments[id]
		if !d.Enabled || !slices.Contains(cols, d.Settings.CollectionID) {
			continue
		}
		for _, ci := range d.Updates {
			e := in[ci]
			if e == nil {
				e = &deployed{pkg: d.PackageID}
				in[ci] = e
			}
			e.mandatory = e.mandatory || d.Mandatory()
		}
	}
	var out []TaskSequenceUpdate
	var files packageFiles // each package's files, indexed once per call
	for _, ci := range required {
		e, u := in[ci], st.updates[ci]
		if e == nil || u == nil {
			continue
		}
		tu := TaskSequenceUpdate{CIID: ci, ArticleID: u.ArticleID, Title: u.Title, Mandatory: e.mandatory,
			MaxExecutionTime: u.EffectiveMaxExecutionTime()}
		if p := st.updatePackage(u, e.pkg, files.of); p != nil {
			tu.Package = st.pkgInfo[p.ID]
			have := files.of(p)
			for _, f := range u.Files {
				if path := updateFilePath(u, f); have.paths[path] {
					tu.Files = append(tu.Files, path)
				}
			}
		}
		out = append(out, tu)
	}
	return out
}

// updatePackage returns a deployment package holding u's content:
// preferred when it does, otherwise the first by ID that does; nil when
// none does.
func (st *state) updatePackage(u *updates.Update, preferred consign.ObjectID, filesOf func(*pkg.Package) *fileIndex) *pkg.Package {
	holds := func(p *pkg.Package) bool {
		return p != nil && p.Type == pkg.TypeSoftwareUpdates && hasUpdateContent(filesOf(p).hashes, u)
	}
	if p := st.packages[preferred]; holds(p) {
		return p
	}
	for _, id := range sortedKeys(st.packages) {
		if p := st.packages[id]; id != preferred && holds(p) {
			return p
		}
	}
	return nil
}

// fileIndex is a package manifest's files by path and by SHA-256.
type fileIndex struct {
	paths  map[string]bool
	hashes map[[32]byte]bool
}

// packageFiles indexes packages' files on first use.
type packageFiles map[consign.ObjectID]*fileIndex

func (m *packageFiles) of(p *pkg.Package) *fileIndex {
	if x := (*m)[p.ID]; x != nil {
		return x
	}
	x := &fileIndex{paths: make(map[string]bool, len(p.Manifest.Files)), hashes: make(map[[32]byte]bool, len(p.Manifest.Files))}
	for _, f := range p.Manifest.Files {
		x.paths[f.Path], x.hashes[f.SHA256] = true, true
	}
	if *m == nil {
		*m = make(packageFiles)
	}
	(*m)[p.ID] = x
	return x
}

// WindowTypes returns the maintenance window types that gate an
// advertisement's runs (§1.7, §3.6): General windows for every program,
// and OSD windows too for a task sequence, the only deployments they apply
// to. The Site and a device agent use it alike.
func WindowTypes(a *advertisement.Advertisement) []collection.WindowType {
	if a.IsTaskSequence() {
		return []collection.WindowType{collection.WindowGeneral, collection.WindowOSD}
	}
	return []collection.WindowType{collection.WindowGeneral}
}

// StepSummary counts, for one step of an advertised task sequence, the
// devices by how their latest run of it ended the step (§1.10 per-step
// progress). A device whose run has not reached the step is in none of
// the counts.
type StepSummary struct {
	// Index is the step's position in Walk order; Path, Name and Kind
	// describe it as the sequence has it now.
	Index int
	Path  tasksequence.Path
	Name  string
	Kind  tasksequence.Kind
	// Succeeded, Failed and Skipped count devices; FailedContinued counts
	// those of Failed whose ContinueOnError let the sequence go on.
	Succeeded, Failed, FailedContinued, Skipped int
}

// TaskSequenceSummary returns the per-step summary of task sequence
// advertisement id: one StepSummary per group and step of the sequence, in
// Walk order. The advertisement's overall summary (AdvertisementSummary)
// counts the final results (11170 failed, 11171 succeeded).
func (s *Site) TaskSequenceSummary(id consign.ObjectID) ([]StepSummary, error) {
	var out []StepSummary
	err := s.read("TaskSequenceSummary", func(st *state) error {
		a, ok := st.ads[id]
		if !ok {
			return notFound("TaskSequenceSummary", "advertisement "+string(id))
		}
		if a.ts == nil {
			return &consign.ValidationError{Field: "AdvertisementID", Value: string(id), Rule: "must name a task sequence advertisement"}
		}
		a.ts.seq.Walk(func(p tasksequence.Path, step *tasksequence.Step) bool {
			out = append(out, StepSummary{Index: len(out), Path: p, Name: step.Name, Kind: step.Kind()})
			return true
		})
		for _, cs := range a.statuses {
			for _, r := range cs.steps {
				if r.index >= len(out) {
					continue // a step of an earlier version of the sequence
				}
				sum := &out[r.index]
				switch r.state {
				case tasksequence.StepSucceeded:
					sum.Succeeded++
				case tasksequence.StepFailed:
					sum.Failed++
					if r.continued {
						sum.FailedContinued++
					}
				case tasksequence.StepSkippedDisabled, tasksequence.StepSkippedCondition:
					sum.Skipped++
				}
			}
		}
		return nil
	})
	return out, err
}

// DeviceStep is how one step of a device's latest run of a task sequence
// ended, as the device reported it (§1.10 per-step progress).
type DeviceStep struct {
	advertisement.StepStatus
	// ExitCode is the action's exit code (0 for groups and skipped steps);
	// Detail says more, for people.
	ExitCode int
	Detail   string
}

// DeviceSteps returns how each step of device resourceID's latest run of
// task sequence advertisement id ended, by step index (Walk order); a step
// the run has not reached is missing.
func (s *Site) DeviceSteps(id consign.ObjectID, resourceID uint32) ([]DeviceStep, error) {
	var out []DeviceStep
	err := s.read("DeviceSteps", func(st *state) error {
		a, ok := st.ads[id]
		if !ok {
			return notFound("DeviceSteps", "advertisement "+string(id))
		}
		cs := a.statuses[resourceID]
		if cs == nil {
			return nil
		}
		for _, r := range cs.steps {
			out = append(out, DeviceStep{StepStatus: advertisement.StepStatus{Index: r.index, Name: r.name, State: r.state, Continued: r.continued},
				ExitCode: r.exitCode, Detail: r.detail})
		}
		return nil
	})
	return out, err
}
