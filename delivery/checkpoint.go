package delivery

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// A checkpoint is a file holding what a Site derived from its device
// records — the collection engine (devices in their compact form, values
// they share, collections with their memberships) and what the Site keeps
// of each device beside it — as of one store revision. Opening a Site with
// Options.Checkpoint reads it back instead of transcoding every device and
// evaluating every collection over them, then reads the other records from
// the store and follows the change feed from that revision, so the Site
// ends as a full load would leave it (collections whose queries read the
// time are evaluated again, at the time of the Open, as a full load
// evaluates every collection). A checkpoint is only a cache: the store
// stays the truth.
//
// The file names a record of kind "checkpoint" that the Site writes to the
// store when it writes the file, keyed by the file's random ID and holding
// its revision: a file whose record the store does not have (another
// store, a store restored from an older backup, a write that did not
// finish) is not used. The file's format (version checkpointVersion):
//
//	magic     "consign checkpoint\x00" and a version byte
//	revision  uvarint: the store revision the checkpoint reflects
//	id        16 bytes: the key of its checkpoint record (in hex)
//	devices   uvarint length of what follows up to the crc, then:
//	strings   uvarint count and strings: the table the devices' names,
//	          platforms, time zones and AD sites are indexes into
//	devices   uvarint count, each: uvarint ResourceID, uvarint record
//	          revision, uvarint OS name, uvarint platform (string table),
//	          4 uvarints OS version, uvarint time zone, uvarint AD site
//	          (string table), byte flags (1: server), uvarint addresses
//	          each a string of netip.Addr's binary form, uvarint subnets
//	          each a string of netip.Prefix's binary form, string
//	          SMSUniqueIdentifier
//	          (a record revision of 0: none in deviceKey's form)
//	others    uvarint count, each: string key, uvarint revision: the
//	          device records the Site tracks but holds no device for (it
//	          could not apply them) or whose keys are not deviceKey's
//	collections uvarint count, each: string ID, uvarint record revision
//	crc       CRC-32C (Castagnoli) of everything before, 4 bytes
//	          little-endian
//	engine    collection.Engine.WriteSnapshot's bytes, to the end (they
//	          carry a checksum of their own)
//
// A string is a uvarint length and its bytes.
const (
	checkpointMagic   = "consign checkpoint\x00"
	checkpointVersion = 2
	kindCheckpoint    = "checkpoint"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkpointRecord is the Data of a kindCheckpoint record.
type checkpointRecord struct {
	Revision int64 `json:"revision"`
}

// Checkpoint writes a checkpoint of the Site to Options.Checkpoint (see
// Options.Checkpoint), replacing the one there. Close writes one too. The
// file is written beside its final name, synced, then recorded in the
// store (replacing the old file's record) and renamed into place, so a
// crash leaves either a checkpoint the store vouches for or one it does
// not (the old file, its record replaced), which the next Open ignores.
// Writes wait while the file is written, and so do reads that come after
// a waiting write (reads before it go on). The Site reads the
// file in place while it runs: replace it only by renaming, never by
// rewriting it.
func (s *Site) Checkpoint(ctx context.Context) error {
	const op = "Checkpoint"
	path := s.opts.Checkpoint
	if path == "" {
		return &consign.ValidationError{Field: "Options.Checkpoint", Rule: "required to write a checkpoint"}
	}
	s.checkpointMu.Lock()
	defer s.checkpointMu.Unlock()
	if err := s.current(ctx, op); err != nil {
		return err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	key := hex.EncodeToString(id[:])
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path, Err: err}
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	s.mu.RLock()
	rev := s.st.rev
	err = s.st.writeCheckpoint(tmp, rev, id)
	s.mu.RUnlock()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path, Err: err}
	}
	data, _ := json.Marshal(checkpointRecord{Revision: rev})
	if err := s.commit(ctx, op, func(t *tx) error {
		if s.lastCheckpoint != "" {
			t.del(kindCheckpoint, s.lastCheckpoint)
		}
		t.putData(kindCheckpoint, key, nil, data)
		return nil
	}); err != nil {
		return err
	}
	s.lastCheckpoint = key
	if err := os.Rename(tmp.Name(), path); err != nil {
		return &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path, Err: err}
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		err = d.Sync()
		d.Close()
		// Some systems (Windows) cannot sync a directory: the rename is
		// then as durable as they make it.
		if err != nil && !errors.Is(err, os.ErrInvalid) {
			return &consign.Error{Code: consign.ErrUnavailable, Op: op, Key: path, Err: err}
		}
	}
	return nil
}

// current brings a stale Site up to date with its store.
func (s *Site) current(ctx context.Context, op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readyLocked(ctx, op)
}

// writeCheckpoint writes st, which reflects revision rev, as a checkpoint
// file with the given id.
func (st *state) writeCheckpoint(f io.Writer, rev int64, id [16]byte) error {
	dev := st.appendDevices(make([]byte, 0, 64*len(st.facts)+4096))
	var head []byte
	head = append(head, checkpointMagic...)
	head = append(head, checkpointVersion)
	head = binary.AppendUvarint(head, uint64(rev))
	head = append(head, id[:]...)
	head = binary.AppendUvarint(head, uint64(len(dev)))
	sum := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, dev)
	bw := bufio.NewWriterSize(f, 1<<20)
	for _, b := range [][]byte{head, dev, binary.LittleEndian.AppendUint32(nil, sum)} {
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	if err := st.engine.WriteSnapshot(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// appendDevices appends the checkpoint's devices section: the string
// table, each device's revision and facts, the collections' revisions.
func (st *state) appendDevices(out []byte) []byte {
	type device struct {
		rev int64
		rid uint32
	}
	devs := make([]device, 0, len(st.facts))
	names := map[string]uint64{}
	var table []string
	for rid, f := range st.facts {
		devs = append(devs, device{st.devRevs[rid], rid})
		for _, s := range [...]string{f.os.Name, f.os.Platform, f.loc.String(), f.client.ADSite} {
			if _, ok := names[s]; !ok {
				names[s] = uint64(len(table))
				table = append(table, s)
			}
		}
	}
	// In the order a load applies them (that of the feed), so that of two
	// devices claiming one SMSUniqueIdentifier the same one has it.
	slices.SortFunc(devs, func(a, b device) int { return cmp.Or(cmp.Compare(a.rev, b.rev), cmp.Compare(a.rid, b.rid)) })
	out = binary.AppendUvarint(out, uint64(len(table)))
	for _, s := range table {
		out = appendString(out, s)
	}
	out = binary.AppendUvarint(out, uint64(len(devs)))
	for _, d := range devs {
		f := st.facts[d.rid]
		out = binary.AppendUvarint(out, uint64(d.rid))
		out = binary.AppendUvarint(out, uint64(d.rev))
		out = binary.AppendUvarint(out, names[f.os.Name])
		out = binary.AppendUvarint(out, names[f.os.Platform])
		for _, v := range [...]uint32{f.os.Version.Major, f.os.Version.Minor, f.os.Version.Build, f.os.Version.Revision} {
			out = binary.AppendUvarint(out, uint64(v))
		}
		out = binary.AppendUvarint(out, names[f.loc.String()])
		out = binary.AppendUvarint(out, names[f.client.ADSite])
		var flags byte
		if f.server {
			flags |= 1
		}
		out = append(out, flags)
		out = binary.AppendUvarint(out, uint64(len(f.client.Addresses)))
		for _, a := range f.client.Addresses {
			out = appendBinary(out, a)
		}
		out = binary.AppendUvarint(out, uint64(len(f.client.Subnets)))
		for _, p := range f.client.Subnets {
			out = appendBinary(out, p)
		}
		out = appendString(out, f.uid)
	}
	type other struct {
		key string
		rev int64
	}
	var others []other
	for rid, rev := range st.devRevs {
		if _, ok := st.facts[rid]; !ok {
			others = append(others, other{deviceKey(rid), rev})
		}
	}
	for k, rev := range st.revs {
		if k.kind == kindDevice {
			others = append(others, other{k.key, rev})
		}
	}
	slices.SortFunc(others, func(a, b other) int { return strings.Compare(a.key, b.key) })
	out = binary.AppendUvarint(out, uint64(len(others)))
	for _, o := range others {
		out = appendString(out, o.key)
		out = binary.AppendUvarint(out, uint64(o.rev))
	}
	cols := st.engine.Collections()
	out = binary.AppendUvarint(out, uint64(len(cols)))
	for _, c := range cols {
		out = appendString(out, string(c.ID))
		rev, _ := st.revision(kindCollection, string(c.ID))
		out = binary.AppendUvarint(out, uint64(rev))
	}
	return out
}

// appendBinary appends v's binary form (netip's) as a string: an address
// with a zone can be of any length.
func appendBinary[T interface{ AppendBinary([]byte) ([]byte, error) }](b []byte, v T) []byte {
	var buf [32]byte
	form, _ := v.AppendBinary(buf[:0])
	return appendString(b, string(form))
}

// restoreCheckpoint loads st from the checkpoint file at path, when it
// exists and the store vouches for it, and reads the store's other records;
// the caller then follows the change feed from st.rev. It returns why the
// checkpoint was not used (st is then unusable), or nil.
func (s *Site) restoreCheckpoint(ctx context.Context, path string) (used bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, release, err := mapFile(f, int(info.Size()))
	if err != nil {
		return false, err
	}
	// The engine keeps its devices' encodings in the mapping: it is
	// released once the engine is gone, or now if the engine never took
	// them.
	taken := false
	defer func() {
		if !taken {
			release()
		}
	}()
	if len(b) < len(checkpointMagic)+1 || string(b[:len(checkpointMagic)]) != checkpointMagic {
		return false, errors.New("not a checkpoint file")
	}
	if v := b[len(checkpointMagic)]; v != checkpointVersion {
		return false, fmt.Errorf("format version %d, want %d", v, checkpointVersion)
	}
	r := recordReader{b: b[len(checkpointMagic)+1:]}
	rev := int64(r.uvarint())
	key := hex.EncodeToString(r.take(16))
	devices := recordReader{b: r.bytes(r.count(1))}
	sum := r.take(4)
	if r.err != nil {
		return false, fmt.Errorf("damaged: %w", r.err)
	}
	head := b[:len(b)-len(r.b)-4]
	if got, want := crc32.Checksum(head, castagnoli), binary.LittleEndian.Uint32(sum); got != want {
		return false, fmt.Errorf("damaged: checksum %08x, want %08x", got, want)
	}
	rec, err := s.store.Get(ctx, kindCheckpoint, key)
	if errors.Is(err, consign.ErrNotFound) {
		return false, errors.New("the store has no record of it (another store, or an older state of this one)")
	}
	if err != nil {
		return false, err
	}
	// The store has the file's record: the next Checkpoint replaces it,
	// whether or not the file is used.
	s.lastCheckpoint = key
	var cr checkpointRecord
	if err := json.Unmarshal(rec.Data, &cr); err != nil || cr.Revision != rev {
		return false, fmt.Errorf("the store's record of it says revision %d, the file %d", cr.Revision, rev)
	}
	// The engine and the devices' facts are read on two goroutines: they
	// share nothing until the devices are checked against the engine.
	st := s.st
	engineErr := make(chan error, 1)
	go func() { engineErr <- st.engine.RestoreSnapshot(r.b) }()
	colRevs, err := st.restoreDevices(&devices)
	if eerr := <-engineErr; eerr != nil {
		return false, eerr
	}
	taken = true
	runtime.AddCleanup(st.engine, func(release func()) { release() }, release)
	if err != nil {
		return false, err
	}
	if n := st.engine.NumDevices(); n != len(st.facts) {
		return false, fmt.Errorf("damaged: %d devices, the engine %d", len(st.facts), n)
	}
	for rid := range st.facts {
		if !st.engine.HasDevice(rid) {
			return false, fmt.Errorf("damaged: device %d is not in the engine", rid)
		}
	}
	// Devices first, as a full load applies them: the changes after the
	// checkpoint's revision, up to the last one the feed has now.
	now := s.opts.Clock()
	rest, last, err := s.follow(ctx, rev, now, false)
	if err != nil {
		return false, err
	}
	var dropped []Change // collections deleted since
	for _, c := range rest {
		switch {
		case c.Record.Kind == kindDevice:
			s.applyChange(c, now)
		case c.Record.Kind == kindCollection && c.Deleted:
			dropped = append(dropped, c)
		}
	}
	newest, err := s.loadListed(ctx, colRevs, dropped, now)
	if err != nil {
		return false, err
	}
	if newest > last {
		// Written while it was being read: the records listed may need
		// devices this Site has not read.
		return false, errStoreMoved
	}
	st.rev = last
	return true, nil
}

// errStoreMoved says the store took writes while a checkpoint was being
// completed from it; Open tries again.
var errStoreMoved = errors.New("the store changed while it was read")

// restoreDevices reads the checkpoint's devices and collection revisions.
// It touches nothing of the engine, which is being restored meanwhile.
func (st *state) restoreDevices(r *recordReader) (map[consign.ObjectID]int64, error) {
	table := make([]string, r.count(1))
	for i := range table {
		table[i] = r.str()
	}
	str := func() string {
		i := r.uvarint()
		if i >= uint64(len(table)) {
			r.fail(fmt.Errorf("string %d of a table of %d", i, len(table)))
			return ""
		}
		return table[i]
	}
	n := r.count(12)
	st.facts = make(map[uint32]deviceFacts, n)
	st.byUID = make(map[string]uint32, n)
	st.devRevs = make(map[uint32]int64, n)
	st.compliance.Grow(n, 0)
	locs := map[string]*time.Location{}
	for range n {
		if r.err != nil {
			break
		}
		rid := uint32(r.uvarint())
		rev := int64(r.uvarint())
		var f deviceFacts
		f.os.Name, f.os.Platform = str(), str()
		f.os.Version = pkg.FileVersion{Major: uint32(r.uvarint()), Minor: uint32(r.uvarint()), Build: uint32(r.uvarint()), Revision: uint32(r.uvarint())}
		zone := str()
		loc, ok := locs[zone]
		if !ok {
			loc = st.location(zone)
			locs[zone] = loc
		}
		f.loc = loc
		f.client = distpoint.Client{ADSite: str()}
		f.server = r.byte()&1 != 0
		if k := r.count(1); k > 0 {
			f.client.Addresses = make([]netip.Addr, k)
			for i := range k {
				unmarshal(r, &f.client.Addresses[i])
			}
		}
		if k := r.count(1); k > 0 {
			f.client.Subnets = make([]netip.Prefix, k)
			for i := range k {
				unmarshal(r, &f.client.Subnets[i])
			}
		}
		f.uid = r.str()
		if r.err != nil {
			break
		}
		if err := st.keepFacts(rid, f); err != nil {
			return nil, err
		}
		if rev > 0 {
			st.devRevs[rid] = rev
		}
	}
	for range r.count(2) {
		key := r.str()
		st.track(Change{Record: Record{Kind: kindDevice, Key: key, Revision: int64(r.uvarint())}})
	}
	colRevs := map[consign.ObjectID]int64{}
	for range r.count(2) {
		id := consign.ObjectID(r.str())
		colRevs[id] = int64(r.uvarint())
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("damaged: %w", err)
	}
	return colRevs, nil
}

// unmarshal reads a value appendBinary wrote.
func unmarshal(r *recordReader, v interface{ UnmarshalBinary([]byte) error }) {
	b := r.bytes(r.count(1))
	if r.err == nil {
		if err := v.UnmarshalBinary(b); err != nil {
			r.fail(err)
		}
	}
}

// loadListed applies every stored record but the devices, read kind by
// kind, in the order a load applies them, and returns the highest revision
// it read. Memory holds nothing but the devices and the engine's
// collections yet, so the listed records make the rest of it. Collections
// the engine holds at the same revision are taken as they are (with their
// memberships); the others are put and evaluated; then those deleted since
// the checkpoint (dropped, in feed order) are removed.
func (s *Site) loadListed(ctx context.Context, colRevs map[consign.ObjectID]int64, dropped []Change, now time.Time) (newest int64, err error) {
	for _, kinds := range kindOrder {
		for _, kind := range kinds {
			if kind == kindDevice {
				continue
			}
			var listed []Change
			for after := ""; ; {
				recs, next, err := s.store.List(ctx, kind, Query{After: after, Limit: 10000})
				if err != nil {
					return 0, storeErr("load", err)
				}
				for _, rec := range recs {
					newest = max(newest, rec.Revision)
					listed = append(listed, Change{Record: rec})
				}
				if next == "" {
					break
				}
				after = next
			}
			if kind != kindCollection {
				for _, c := range listed {
					s.applyChange(c, now)
				}
				continue
			}
			var changed []Change
			for _, c := range listed {
				s.st.track(c)
				id := consign.ObjectID(c.Record.Key)
				if rev, ok := colRevs[id]; ok && rev == c.Record.Revision {
					// The engine holds it as stored, members and all.
					if col, ok := s.st.engine.Collection(id); ok {
						s.st.keepWindows(col)
						continue
					}
				}
				changed = append(changed, c)
			}
			if len(changed) > 0 {
				s.applyCollections(changed, now, false)
			}
			for _, c := range dropped {
				s.applyChange(c, now)
			}
			// A load evaluates every collection now; only those reading
			// the time can come out otherwise than the checkpoint has them.
			s.st.membership(s.st.engine.EvaluateTimeDependent(now))
		}
	}
	return newest, nil
}
