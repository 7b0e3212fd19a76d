package delivery

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/updates"
)

// Record kinds. The Site owns their encoding (JSON of the domain types).
const (
	kindCounter       = "counter"
	kindPackage       = "package"
	kindProgram       = "program"
	kindCollection    = "collection"
	kindLink          = "collink"
	kindDevice        = "device"
	kindAdvertisement = "advertisement"
	kindDP            = "dp"
	kindPackageDP     = "pkgdp"
	kindStatus        = "adstatus"
	kindHistory       = "history"
	// kindGuard records exist only to make a workflow that relies on an
	// object conflict with one deleting it (see tx.guard).
	kindGuard    = "guard"
	kindBoundary = "boundary"
	// kindAvailability records, per DP, whether the site last reached it.
	kindAvailability = "dpavail"
	// kindMarker records hold site-wide facts keyed by name, such as when
	// the scheduled content validation last ran (markerValidation).
	kindMarker = "marker"
)

// markerValidation is the kindMarker key of the last scheduled content
// validation's time.
const markerValidation = "contentvalidation"

// counterKey is the one record holding the next object serial number.
const counterKey = "objectid"

func deviceKey(id uint32) string { return fmt.Sprintf("%010d", id) }

func parseDeviceKey(key string) (uint32, error) {
	n, err := strconv.ParseUint(key, 10, 32)
	return uint32(n), err
}

// splitKey cuts a two-part key at the first sep; what comes first never
// contains sep (an object or device ID).
func splitKey(key, sep string) (string, string, error) {
	a, b, ok := strings.Cut(key, sep)
	if !ok {
		return "", "", fmt.Errorf("malformed key %q", key)
	}
	return a, b, nil
}

func programKey(r pkg.ProgramRef) string { return r.String() }

func linkKey(parent, child consign.ObjectID) string { return string(parent) + "/" + string(child) }

func statusKey(ad consign.ObjectID, rid uint32) string { return string(ad) + "/" + deviceKey(rid) }

func historyKey(rid uint32, r pkg.ProgramRef) string { return deviceKey(rid) + "/" + r.String() }

func packageDPKey(id consign.ObjectID, nal string) string { return string(id) + "|" + nal }

type rkey struct{ kind, key string }

// adState is one advertisement with what the Site derives from it.
type adState struct {
	ad *advertisement.Advertisement
	// order sorts advertisements by ID: the 8 ID bytes as a big-endian
	// number.
	order uint64
	// prog and pkg are the advertised program and its package as policy
	// shows them (nil when missing), kept current by applyPackage and
	// applyProgram so that Policy needs no lookups.
	prog *pkg.Program
	pkg  *PackageInfo
	// ts is the advertised task sequence (nil for a program), its prog
	// the program the sequence is advertised as.
	ts       *tsState
	targets  []consign.ObjectID // the collection and, when included, its subcollections
	targeted map[uint32]struct{}
	statuses map[uint32]*clientState // immutable; replaced on change
	summary  advertisement.Summary
	reported int // targeted devices with a status
}

// state is the Site's in-memory model: a function of the stored records.
type state struct {
	opts Options
	rev  int64
	// revs holds the revision of each record the Site knows, but for
	// devices' (a million, say), which devRevs holds by ResourceID.
	revs    map[rkey]int64
	devRevs map[uint32]int64

	counter  uint32
	packages map[consign.ObjectID]*pkg.Package
	// pkgInfo is what policy says of each package, computed once per write.
	pkgInfo  map[consign.ObjectID]*PackageInfo
	programs map[pkg.ProgramRef]*pkg.Program
	// sequences are the task sequence packages' sequences; seqUsers
	// lists, per package, the task sequence packages whose steps use it.
	sequences map[consign.ObjectID]*tsState
	seqUsers  map[consign.ObjectID][]consign.ObjectID
	engine    *collection.Engine
	tree      collection.Tree
	ads       map[consign.ObjectID]*adState
	adsByCol  map[consign.ObjectID][]*adState
	adsByPkg  map[consign.ObjectID][]*adState
	// applicable holds, per collection, the advertisements that reach its
	// members: its own and those of ancestors that include subcollections.
	// Kept current by every write that can change it, so reads never fill it.
	applicable map[consign.ObjectID][]*adState
	dps        map[string]*distpoint.DistributionPoint
	boundaries map[string]*distpoint.Boundary
	pkgDPs     map[consign.ObjectID]map[string]*distpoint.PackageStatus
	// availability holds the DPs the site has seen go offline or come back,
	// by NAL path (a DP not listed is online).
	availability map[string]distpoint.Availability
	// lastValidation is when RunScheduledValidation last ran.
	lastValidation time.Time
	// Software updates: catalog, lists, templates, deployments, compliance.
	updates     map[updates.CIID]*updates.Update
	updateByUID map[string]updates.CIID
	updateLists map[updates.CIID]*updates.UpdateList
	templates   map[string]*updates.Template
	deployments map[uint32]*updates.Deployment
	// compliance indexes the devices' scan states with their summaries;
	// complianceCols are the collections it follows (those deployments
	// target, and those whose summary was asked for); scanTime is each
	// device's last scan taken in.
	compliance     *updates.ComplianceIndex
	complianceCols map[consign.ObjectID]bool
	scanTime       map[uint32]time.Time
	// syncCursor is the catalog source's cursor after the last sync.
	syncCursor string
	// ciCounter and assignmentCounter are the next CI_ID and AssignmentID.
	ciCounter, assignmentCounter uint32
	history                      map[uint32]map[pkg.ProgramRef]advertisement.History
	facts                        map[uint32]deviceFacts
	// byUID finds a device by its SMSUniqueIdentifier (RegisterDevice).
	byUID map[string]uint32
	// resourceCounter is the next ResourceID RegisterDevice hands out.
	resourceCounter uint32
	// windows holds the enabled maintenance windows of each collection that
	// has any (§1.7), for the offer decision.
	colWindows map[consign.ObjectID][]collection.ServiceWindow

	locMu     sync.Mutex // guards locations, filled on read paths too
	locations map[string]*time.Location

	notify map[uint32]struct{}
	// lastEval is when EvaluateCollections last ran (refresh schedules fire
	// after it).
	lastEval time.Time
}

func newState(o Options) *state {
	st := &state{
		opts:           o,
		revs:           make(map[rkey]int64),
		devRevs:        make(map[uint32]int64),
		packages:       make(map[consign.ObjectID]*pkg.Package),
		pkgInfo:        make(map[consign.ObjectID]*PackageInfo),
		programs:       make(map[pkg.ProgramRef]*pkg.Program),
		sequences:      make(map[consign.ObjectID]*tsState),
		seqUsers:       make(map[consign.ObjectID][]consign.ObjectID),
		engine:         collection.NewEngine(o.Schema),
		ads:            make(map[consign.ObjectID]*adState),
		adsByCol:       make(map[consign.ObjectID][]*adState),
		adsByPkg:       make(map[consign.ObjectID][]*adState),
		dps:            make(map[string]*distpoint.DistributionPoint),
		boundaries:     make(map[string]*distpoint.Boundary),
		pkgDPs:         make(map[consign.ObjectID]map[string]*distpoint.PackageStatus),
		availability:   make(map[string]distpoint.Availability),
		updates:        make(map[updates.CIID]*updates.Update),
		compliance:     updates.NewComplianceIndex(),
		complianceCols: make(map[consign.ObjectID]bool),
		scanTime:       make(map[uint32]time.Time),
		updateByUID:    make(map[string]updates.CIID),
		updateLists:    make(map[updates.CIID]*updates.UpdateList),
		templates:      make(map[string]*updates.Template),
		deployments:    make(map[uint32]*updates.Deployment),
		history:        make(map[uint32]map[pkg.ProgramRef]advertisement.History),
		facts:          make(map[uint32]deviceFacts),
		byUID:          make(map[string]uint32),
		colWindows:     make(map[consign.ObjectID][]collection.ServiceWindow),
		applicable:     make(map[consign.ObjectID][]*adState),
		locations:      make(map[string]*time.Location),
		notify:         make(map[uint32]struct{}),
	}
	// Loading and full evaluations run on every processor.
	st.engine.SetParallel(runtime.GOMAXPROCS(0), func(n int, work func(int)) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { work(i) })
		}
		wg.Wait()
	})
	return st
}

func (st *state) drainNotify() []uint32 {
	if len(st.notify) == 0 {
		return nil
	}
	ids := make([]uint32, 0, len(st.notify))
	for id := range st.notify {
		ids = append(ids, id)
	}
	clear(st.notify)
	slices.Sort(ids)
	return ids
}

// track notes the revision of a stored change's record: what a later write
// of it expects.
func (st *state) track(c Change) {
	if id, ok := deviceID(c.Record.Kind, c.Record.Key); ok {
		if c.Deleted {
			delete(st.devRevs, id)
		} else {
			st.devRevs[id] = c.Record.Revision
		}
		return
	}
	k := rkey{c.Record.Kind, c.Record.Key}
	if c.Deleted {
		delete(st.revs, k)
	} else {
		st.revs[k] = c.Record.Revision
	}
}

// revision returns the revision of the record kind/key the Site last saw,
// and whether it knows the record.
func (st *state) revision(kind, key string) (int64, bool) {
	if id, ok := deviceID(kind, key); ok {
		rev, ok := st.devRevs[id]
		return rev, ok
	}
	rev, ok := st.revs[rkey{kind, key}]
	return rev, ok
}

// deviceID returns the ResourceID of a device record's key, when kind/key
// is one in the form deviceKey writes.
func deviceID(kind, key string) (uint32, bool) {
	if kind != kindDevice || len(key) != 10 {
		return 0, false
	}
	id, err := parseDeviceKey(key)
	return id, err == nil
}

// applied reports whether memory already reflects change c: the record at
// that very revision was applied (loaded from a checkpoint and then met in
// the change feed, say).
func (st *state) applied(c Change) bool {
	rev, ok := st.revision(c.Record.Kind, c.Record.Key)
	return ok && !c.Deleted && rev == c.Record.Revision
}

// apply brings memory up to date with one stored change.
func (st *state) apply(c Change, now time.Time) error {
	st.track(c)
	r := c.Record
	switch r.Kind {
	case kindCounter:
		n := map[string]*uint32{counterKey: &st.counter, ciCounterKey: &st.ciCounter, assignmentCounterKey: &st.assignmentCounter, resourceCounterKey: &st.resourceCounter}[r.Key]
		switch {
		case n == nil:
			return nil
		case c.Deleted:
			*n = 0
			return nil
		}
		return json.Unmarshal(r.Data, n)
	case kindUpdate, kindUpdateList, kindTemplate, kindDeployment:
		return st.applyUpdates(c)
	case kindScan:
		return st.applyScan(c)
	case kindPackage:
		return st.applyPackage(c)
	case kindProgram:
		return st.applyProgram(c)
	case kindSequence:
		return st.applySequence(c)
	case kindCollection:
		return st.applyCollection(c, now)
	case kindLink:
		return st.applyLink(c)
	case kindDevice:
		return st.applyDevice(c, now)
	case kindAdvertisement:
		return st.applyAdvertisement(c)
	case kindDP:
		if c.Deleted {
			delete(st.dps, r.Key)
			return nil
		}
		var dp distpoint.DistributionPoint
		if err := json.Unmarshal(r.Data, &dp); err != nil {
			return err
		}
		st.dps[r.Key] = &dp
	case kindBoundary:
		if c.Deleted {
			delete(st.boundaries, r.Key)
			return nil
		}
		var b distpoint.Boundary
		if err := json.Unmarshal(r.Data, &b); err != nil {
			return err
		}
		st.boundaries[r.Key] = &b
	case kindAvailability:
		if c.Deleted {
			delete(st.availability, r.Key)
			return nil
		}
		var a distpoint.Availability
		if err := json.Unmarshal(r.Data, &a); err != nil {
			return err
		}
		st.availability[r.Key] = a
	case kindGuard, kindCheckpoint:
		// Kept only for their revisions (tracked above).
	case kindMarker:
		switch r.Key {
		case markerValidation:
			st.lastValidation = time.Time{}
			if c.Deleted {
				return nil
			}
			return json.Unmarshal(r.Data, &st.lastValidation)
		case markerSyncCursor:
			st.syncCursor = ""
			if c.Deleted {
				return nil
			}
			return json.Unmarshal(r.Data, &st.syncCursor)
		}
	case kindPackageDP:
		return st.applyPackageDP(c)
	case kindStatus:
		return st.applyStatus(c)
	case kindHistory:
		return st.applyHistory(c)
	default:
		// Kinds written by a newer Site version are kept in the store and
		// ignored here, so an older process keeps running.
	}
	return nil
}

func (st *state) applyPackage(c Change) error {
	id := consign.ObjectID(c.Record.Key)
	if c.Deleted {
		delete(st.packages, id)
		delete(st.pkgInfo, id)
		st.packageChanged(id)
		return nil
	}
	var p pkg.Package
	if err := json.Unmarshal(c.Record.Data, &p); err != nil {
		return err
	}
	st.packages[id] = &p
	defer st.packageChanged(id)
	st.pkgInfo[id] = &PackageInfo{
		ID: p.ID, Name: p.Name, Version: p.Version, Manufacturer: p.Manufacturer, Language: p.Language,
		SourceVersion: p.SourceVersion, SourceHash: p.Manifest.Hash(), ContentSize: p.Manifest.Size(),
		HasSource: p.HasSource(), PersistInCache: p.PersistInCache(),
	}
	return nil
}

func (st *state) applyProgram(c Change) error {
	ref, err := pkg.ParseProgramRef(c.Record.Key, "")
	if err != nil {
		return err
	}
	if c.Deleted {
		delete(st.programs, ref)
		st.packageChanged(ref.PackageID)
		return nil
	}
	var p pkg.Program
	if err := json.Unmarshal(c.Record.Data, &p); err != nil {
		return err
	}
	st.programs[ref] = &p
	st.packageChanged(ref.PackageID)
	return nil
}

// packageChanged follows a change of a package or one of its programs into
// its advertisements and the task sequences that use it, and marks every
// device they target for notification.
func (st *state) packageChanged(id consign.ObjectID) {
	st.sequencesChanged(id)
	for _, a := range st.adsByPkg[id] {
		st.resolve(a)
		for rid := range a.targeted {
			st.notify[rid] = struct{}{}
		}
	}
}

// resolve points a at its program (or task sequence) and package.
func (st *state) resolve(a *adState) {
	a.pkg = st.pkgInfo[a.ad.PackageID]
	a.ts = nil
	if ts := st.sequences[a.ad.PackageID]; ts != nil && a.ad.IsTaskSequence() {
		a.ts, a.prog = ts, ts.program
		return
	}
	a.prog = st.programs[pkg.ProgramRef{PackageID: a.ad.PackageID, Program: a.ad.ProgramName}]
}

func (st *state) applyCollection(c Change, now time.Time) error {
	id := consign.ObjectID(c.Record.Key)
	if c.Deleted {
		if _, known := st.engine.Collection(id); !known {
			return nil // deleted before this Site loaded it
		}
		d, err := st.engine.RemoveCollection(id)
		if err != nil {
			return err
		}
		delete(st.colWindows, id)
		ancestors := st.ancestorsOrSelf(id)
		children := st.tree.Children(id)
		st.tree.Remove(id)
		delete(st.applicable, id)
		for _, ch := range children {
			st.refreshApplicable(ch)
		}
		for _, p := range ancestors[1:] {
			st.treeChanged(p)
		}
		st.membership(d)
		if st.complianceCols[id] {
			delete(st.complianceCols, id)
			if err := st.compliance.RemoveCollection(id); err != nil {
				return err
			}
		}
		return nil
	}
	errs := st.putCollections([]Change{c}, now, false)
	return errs[0]
}

// putCollections applies stored collections (puts, not deletions) with one
// engine evaluation for all of them, as loading a site needs; errs[i] says
// why cs[i] could not be applied.
func (st *state) putCollections(cs []Change, now time.Time, first bool) (errs []error) {
	errs = make([]error, len(cs))
	cols := make([]*collection.Collection, 0, len(cs))
	at := make([]int, 0, len(cs)) // cols[k] is cs[at[k]]
	for i, c := range cs {
		var col collection.Collection
		if err := json.Unmarshal(c.Record.Data, &col); err != nil {
			errs[i] = err
			continue
		}
		cols = append(cols, &col)
		at = append(at, i)
	}
	var d collection.Delta
	var perr []error
	if first {
		perr = st.engine.LoadCollections(cols, now)
	} else {
		d, perr = st.engine.PutCollections(cols, now)
	}
	for k, col := range cols {
		if perr[k] != nil {
			errs[at[k]] = perr[k]
			continue
		}
		if st.keepWindows(col) {
			// Members may have gained or lost a window.
			for _, rid := range st.engine.Members(col.ID) {
				st.notify[rid] = struct{}{}
			}
		}
	}
	st.membership(d)
	return errs
}

// keepWindows keeps the enabled maintenance windows of collection c, for
// the offer decision, and reports whether c has or had any.
func (st *state) keepWindows(c *collection.Collection) bool {
	had := len(st.colWindows[c.ID]) > 0
	delete(st.colWindows, c.ID)
	for _, w := range c.ServiceWindows {
		if w.Enabled {
			st.colWindows[c.ID] = append(st.colWindows[c.ID], w)
		}
	}
	return had || len(st.colWindows[c.ID]) > 0
}

func (st *state) applyLink(c Change) error {
	parent, child, err := splitKey(c.Record.Key, "/")
	if err != nil {
		return err
	}
	if c.Deleted {
		st.tree.Unlink(consign.ObjectID(parent), consign.ObjectID(child))
	} else if err := st.tree.Link(consign.ObjectID(parent), consign.ObjectID(child)); err != nil {
		return err
	}
	st.refreshApplicable(consign.ObjectID(child))
	st.treeChanged(consign.ObjectID(parent))
	return nil
}

func (st *state) applyDevice(c Change, now time.Time) error {
	id, err := parseDeviceKey(c.Record.Key)
	if err != nil {
		return err
	}
	if c.Deleted {
		st.forgetUID(id)
		delete(st.facts, id)
		delete(st.scanTime, id)
		st.membership(st.engine.RemoveDevice(id))
		if _, ok := st.compliance.Device(id); ok {
			return st.compliance.RemoveDevice(id)
		}
		return nil
	}
	d, err := collection.DecodeDevice(c.Record.Data, st.engine.Schema())
	if err != nil {
		return err
	}
	delta, err := st.engine.PutDevice(d, now)
	if err != nil {
		return err
	}
	if err := st.deviceFacts(d, DeviceOS(d)); err != nil {
		return err
	}
	st.membership(delta)
	return nil
}

// deviceValues are the inventory values a Site keeps of each device beside
// the engine, for DeviceOS: read by the engine while it loads the device
// (putDevices), so the device is not decoded twice.
var deviceValues = []string{"SMS_G_System_OPERATING_SYSTEM.Version", "SMS_G_System_COMPUTER_SYSTEM.SystemType"}

// putDevices applies the puts of many device records at once, as
// applyDevice would one by one (collection.Engine.PutEncodedDevices).
// first says the Site is loading itself: nothing follows memberships yet,
// so no Delta is built. The returned errors are per change.
func (st *state) putDevices(cs []Change, now time.Time, first bool) []error {
	errs := make([]error, len(cs))
	recs := make([][]byte, len(cs))
	for i, c := range cs {
		recs[i] = c.Record.Data
	}
	str := func(v wql.Value) string {
		if v.Type() == wql.String {
			return v.String()
		}
		return ""
	}
	res, err := st.engine.PutEncodedDevices(recs, now, &collection.LoadOptions{
		NoDelta: first,
		Values:  deviceValues,
		Fields: func(i int, d *collection.Device, v []wql.Value) {
			errs[i] = st.deviceFacts(d, osInfo(d.OperatingSystemNameandVersion, str(v[0]), str(v[1])))
		},
	})
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i, e := range res.Errs {
		if e != nil {
			errs[i] = e
		}
	}
	st.membership(res.Delta)
	return errs
}

// deviceFacts keeps what policy needs of device d beside the engine: its
// facts, its SMSUniqueIdentifier, its place in the compliance index.
func (st *state) deviceFacts(d *collection.Device, os pkg.OSInfo) error {
	return st.keepFacts(d.ResourceID, deviceFacts{os: os, loc: st.location(d.TimeZone), client: networkOf(d),
		server: strings.Contains(strings.ToLower(d.OperatingSystemNameandVersion), "server"), uid: d.SMSUniqueIdentifier})
}

// keepFacts keeps f as device id's facts, indexes its SMSUniqueIdentifier
// and gives it a place in the compliance index.
func (st *state) keepFacts(id uint32, f deviceFacts) error {
	if _, ok := st.compliance.Device(id); !ok {
		if err := st.compliance.AddDevice(id); err != nil {
			return err
		}
	}
	st.forgetUID(id)
	st.facts[id] = f
	if f.uid != "" {
		st.byUID[f.uid] = id
	}
	return nil
}

// forgetUID drops the SMSUniqueIdentifier index entry of device id.
func (st *state) forgetUID(id uint32) {
	if uid := st.facts[id].uid; uid != "" && st.byUID[uid] == id {
		delete(st.byUID, uid)
	}
}

// membership follows collection membership changes into the advertisements'
// targeted sets and the devices to notify.
func (st *state) membership(d collection.Delta) {
	for _, ch := range d.Changes {
		st.notify[ch.ResourceID] = struct{}{}
		if st.complianceCols[ch.Collection] {
			if _, ok := st.compliance.Device(ch.ResourceID); ok {
				st.followMember(ch)
			}
		}
		for _, a := range st.applicable[ch.Collection] {
			st.setTargeted(a, ch.ResourceID, st.isTargeted(a, ch.ResourceID))
		}
	}
}

func (st *state) isTargeted(a *adState, rid uint32) bool {
	for _, c := range a.targets {
		if st.engine.IsMember(c, rid) {
			return true
		}
	}
	return false
}

func (st *state) setTargeted(a *adState, rid uint32, on bool) {
	_, was := a.targeted[rid]
	if was == on {
		return
	}
	hasStatus := a.statuses[rid].hasStatus()
	if on {
		a.targeted[rid] = struct{}{}
		if hasStatus {
			a.reported++
		}
	} else {
		delete(a.targeted, rid)
		if hasStatus {
			a.reported--
		}
	}
}

// refreshApplicable recomputes which advertisements reach the members of
// id and of each of its subcollections.
func (st *state) refreshApplicable(id consign.ObjectID) {
	for _, c := range append([]consign.ObjectID{id}, st.tree.Descendants(id)...) {
		list := slices.Clone(st.adsByCol[c])
		for _, p := range st.ancestorsOrSelf(c)[1:] {
			for _, a := range st.adsByCol[p] {
				if a.ad.IncludeSubcollections {
					list = append(list, a)
				}
			}
		}
		if len(list) == 0 {
			delete(st.applicable, c)
		} else {
			st.applicable[c] = list
		}
	}
}

// treeChanged recomputes what depends on the subcollection tree after a
// link under parent changed: the targets of advertisements that include
// subcollections, on parent or any of its ancestors.
func (st *state) treeChanged(parent consign.ObjectID) {
	for _, id := range st.ancestorsOrSelf(parent) {
		for _, a := range st.adsByCol[id] {
			if a.ad.IncludeSubcollections {
				st.retarget(a)
			}
		}
	}
}

// ancestorsOrSelf returns id and every collection it is linked under,
// transitively.
func (st *state) ancestorsOrSelf(id consign.ObjectID) []consign.ObjectID {
	out := []consign.ObjectID{id}
	seen := map[consign.ObjectID]bool{id: true}
	for i := 0; i < len(out); i++ {
		for _, p := range st.tree.Parents(out[i]) {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// retarget recomputes an advertisement's target collections and targeted
// devices from scratch.
func (st *state) retarget(a *adState) {
	a.targets = []consign.ObjectID{a.ad.CollectionID}
	if a.ad.IncludeSubcollections {
		a.targets = append(a.targets, st.tree.Descendants(a.ad.CollectionID)...)
	}
	want := make(map[uint32]struct{})
	for _, c := range a.targets {
		for _, rid := range st.engine.Members(c) {
			want[rid] = struct{}{}
		}
	}
	for rid := range a.targeted {
		if _, ok := want[rid]; !ok {
			st.setTargeted(a, rid, false)
			st.notify[rid] = struct{}{}
		}
	}
	for rid := range want {
		if _, ok := a.targeted[rid]; !ok {
			st.setTargeted(a, rid, true)
			st.notify[rid] = struct{}{}
		}
	}
}

func (st *state) applyAdvertisement(c Change) error {
	id := consign.ObjectID(c.Record.Key)
	old := st.ads[id]
	if old != nil {
		st.adsByCol[old.ad.CollectionID] = slices.DeleteFunc(st.adsByCol[old.ad.CollectionID], func(a *adState) bool { return a == old })
		st.adsByPkg[old.ad.PackageID] = slices.DeleteFunc(st.adsByPkg[old.ad.PackageID], func(a *adState) bool { return a == old })
		for rid := range old.targeted {
			st.notify[rid] = struct{}{}
		}
	}
	if c.Deleted {
		delete(st.ads, id)
		if old != nil {
			st.refreshApplicable(old.ad.CollectionID)
		}
		return nil
	}
	var ad advertisement.Advertisement
	if err := json.Unmarshal(c.Record.Data, &ad); err != nil {
		return err
	}
	a := old
	if a == nil {
		a = &adState{targeted: make(map[uint32]struct{}), statuses: make(map[uint32]*clientState)}
		st.ads[id] = a
	}
	a.ad = &ad
	a.order = idOrder(ad.ID)
	st.resolve(a)
	st.adsByCol[ad.CollectionID] = append(st.adsByCol[ad.CollectionID], a)
	st.adsByPkg[ad.PackageID] = append(st.adsByPkg[ad.PackageID], a)
	st.refreshApplicable(ad.CollectionID)
	st.retarget(a)
	for rid := range a.targeted {
		st.notify[rid] = struct{}{}
	}
	return nil
}

func (st *state) applyPackageDP(c Change) error {
	id, nal, err := splitKey(c.Record.Key, "|")
	if err != nil {
		return err
	}
	pid := consign.ObjectID(id)
	if c.Deleted {
		delete(st.pkgDPs[pid], nal)
		if len(st.pkgDPs[pid]) == 0 {
			delete(st.pkgDPs, pid)
		}
		return nil
	}
	var ps distpoint.PackageStatus
	if err := json.Unmarshal(c.Record.Data, &ps); err != nil {
		return err
	}
	if st.pkgDPs[pid] == nil {
		st.pkgDPs[pid] = make(map[string]*distpoint.PackageStatus)
	}
	st.pkgDPs[pid][nal] = &ps
	return nil
}

func (st *state) applyStatus(c Change) error {
	ad, dev, err := splitKey(c.Record.Key, "/")
	if err != nil {
		return err
	}
	rid, err := parseDeviceKey(dev)
	if err != nil {
		return err
	}
	a := st.ads[consign.ObjectID(ad)]
	if _, known := st.facts[rid]; a == nil || !known && !c.Deleted {
		// The advertisement or the device was deleted (possibly by another
		// Site while this status was reported): the status is an orphan.
		return nil
	}
	old := a.statuses[rid]
	_, targeted := a.targeted[rid]
	if old.hasStatus() {
		a.summary.Remove(old.ClientStatus)
		if targeted {
			a.reported--
		}
	}
	if c.Deleted {
		delete(a.statuses, rid)
		return nil
	}
	cs, err := decodeStatus(c.Record.Data)
	if err != nil {
		return err
	}
	a.statuses[rid] = cs
	for _, r := range cs.runs {
		st.noteRun(rid, r.ref, r.h)
	}
	if cs.hasStatus() {
		a.summary.Add(cs.ClientStatus)
		if targeted {
			a.reported++
		}
	}
	return nil
}

func (st *state) applyHistory(c Change) error {
	dev, prog, err := splitKey(c.Record.Key, "/")
	if err != nil {
		return err
	}
	rid, err := parseDeviceKey(dev)
	if err != nil {
		return err
	}
	ref, err := pkg.ParseProgramRef(prog, "")
	if err != nil {
		return err
	}
	if c.Deleted {
		delete(st.history[rid], ref)
		return nil
	}
	h, err := decodeHistory(c.Record.Data)
	if err != nil {
		return err
	}
	st.noteRun(rid, ref, h)
	return nil
}

// noteRun takes h into the device's history of ref, unless a later run is
// known: the history is the latest run that any record holds.
func (st *state) noteRun(rid uint32, ref pkg.ProgramRef, h advertisement.History) {
	if !later(h, st.history[rid][ref]) {
		return
	}
	if st.history[rid] == nil {
		st.history[rid] = make(map[pkg.ProgramRef]advertisement.History)
	}
	st.history[rid][ref] = h
}

// location resolves a device's IANA time zone name, caching the result.
// An unknown name falls back to UTC (and is logged once).
func (st *state) location(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	st.locMu.Lock()
	defer st.locMu.Unlock()
	if l, ok := st.locations[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		st.opts.Logger.Warn("unknown device time zone; using UTC", "zone", name, "err", err)
		l = time.UTC
	}
	st.locations[name] = l
	return l
}

// idOrder maps an object ID to a number that sorts like the ID.
func idOrder(id consign.ObjectID) uint64 {
	var b [8]byte
	copy(b[:], id)
	return binary.BigEndian.Uint64(b[:])
}
