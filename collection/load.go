package collection

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
)

// LoadOptions tunes Engine.PutEncodedDevices. The zero value (or nil) asks
// for the Delta and nothing else.
type LoadOptions struct {
	// NoDelta leaves LoadResult.Delta empty: a site loading itself reads
	// memberships afterwards (Members, IsMember, CollectionsOf) instead of
	// having a Change built and sorted for each.
	NoDelta bool

	// Fields, when set, is called for each record put, in record order, on
	// the goroutine that called PutEncodedDevices, with recs[i]'s Device
	// fields (ResourceID, Name, OperatingSystemNameandVersion, IPAddresses,
	// IPSubnets, ADSiteName, TimeZone, …, as DecodeDeviceFields gives them)
	// and the values of the properties Values names, from the same read of
	// the record: what a site keeps beside the Engine, without decoding the
	// device again. d, its lists and values are reused once Fields returns;
	// the strings in them are the caller's to keep. Fields must not call
	// the Engine.
	Fields func(i int, d *Device, values []wql.Value)

	// Values names properties of the schema, as "Class.Property" (for
	// example "SMS_G_System_OPERATING_SYSTEM.Version"), whose values Fields
	// gets, in this order: the value in the device's first row of the
	// class (its one row of SMS_R_System), NULL when it has none.
	Values []string
}

// LoadResult is what PutEncodedDevices did with each record.
type LoadResult struct {
	// Delta lists the membership changes of the whole call, net: a device
	// that joined a collection and left it again within the call is not
	// listed. Empty with LoadOptions.NoDelta.
	Delta Delta

	// Errs[i] says why recs[i] was left out (nil when it was put): the
	// error DecodeDevice or PutDevice would give for it.
	Errs []error
}

// loadBatch is how many records one parallel step transcodes, the
// transcoders claiming loadClaim of them at a time: a transcoder that gets
// less of the processor than the others (another process wants it) does
// fewer, rather than holding the step up.
const (
	loadBatch = 16384
	loadClaim = 64
)

// PutEncodedDevices puts devices given in their storage form (EncodeDevice)
// as DecodeDevice and PutDevice would one record after another, and with
// the same result for memberships, CollectionsOf and Device, but at a
// fraction of the cost: it goes from the stored bytes straight to the
// Engine's compact form, without a Device or its maps in between, and
// evaluates the new devices together, in one pass over the collections. A
// site loading itself from its store calls it with every device record.
//
// A record that DecodeDevice or PutDevice would reject is left out, with
// the error in LoadResult.Errs; the others are put. When a ResourceID comes
// twice, the later record wins, as it would one by one. The Delta is the
// net change of the whole call (see LoadResult). It refuses
// (consign.ErrInvalid) options naming a property the schema lacks, and
// then puts nothing.
//
// With SetParallel, the records are transcoded and the new devices
// evaluated on several goroutines. Transcoding then only reads the table of
// the values that repeat across devices (which are stored once, see
// Engine): a value new to it is stored in the device itself, and the table
// learns it after each batch of records, for the devices after.
func (e *Engine) PutEncodedDevices(recs [][]byte, now time.Time, o *LoadOptions) (LoadResult, error) {
	if o == nil {
		o = &LoadOptions{}
	}
	cols, err := e.columns(o.Values)
	if err != nil {
		return LoadResult{}, err
	}
	if o.Fields == nil {
		cols = nil
	}
	k := len(cols)
	res := LoadResult{Errs: make([]error, len(recs))}
	if len(e.slot) == 0 && len(recs) > 1024 {
		e.slot = make(map[uint32]int32, len(recs)) // no growing a million entries step by step
	}
	e.rids = slices.Grow(e.rids, len(recs))
	e.data = slices.Grow(e.data, len(recs))
	e.zone = slices.Grow(e.zone, len(recs))
	e.of = slices.Grow(e.of, len(recs))

	n := 1
	if e.par != nil {
		n = e.nwork
	}
	for len(e.loaders) < n {
		e.loaders = append(e.loaders, newTranscoder(e.lay, &e.in))
	}
	items := make([]loadItem, min(e.batch, len(recs)))
	vals := make([]wql.Value, len(items)*k)
	var fields fieldMaker
	var fresh []int32           // slots of the devices new to the Engine
	var replace []pendingDevice // records that replace a device: put one by one after
	warm := min(e.batch, loadBatch/4)
	for b0 := 0; b0 < len(recs); {
		parts, size := n, e.batch
		if len(e.slot) < warm {
			// The first devices teach the interner what repeats: in
			// parallel, each transcoder would note every value as new.
			parts, size = 1, warm
		}
		batch := recs[b0:min(b0+size, len(recs))]
		items := items[:len(batch)]
		if len(batch) < 2*n {
			parts = 1
		}
		claim := max(1, min(loadClaim, len(batch)/(4*parts)))
		var next atomic.Int64
		e.parallel(parts, func(p int) {
			t := e.loaders[p]
			t.shared, t.fields = parts > 1, o.Fields != nil
			t.selectValues(cols)
			for {
				from := int(next.Add(int64(claim))) - claim
				if from >= len(batch) {
					return
				}
				for i := from; i < min(from+claim, len(batch)); i++ {
					t.out = vals[i*k : (i+1)*k]
					items[i] = t.load(batch[i])
				}
			}
		})
		for _, t := range e.loaders[:parts] {
			t.learn()
		}
		for i := range items {
			it := &items[i]
			if it.slow {
				*it = e.slowLoad(batch[i], cols, vals[i*k:(i+1)*k])
			}
			if it.err != nil {
				res.Errs[b0+i] = it.err
				continue
			}
			zone := e.zoneIDBytes(it.tz)
			if _, ok := e.slot[it.rid]; ok {
				replace = append(replace, pendingDevice{rid: it.rid, data: it.data, zone: zone})
			} else {
				s := e.newSlot(it.rid, it.data, zone)
				for _, x := range e.direct[it.rid] {
					x.setDirect(s, true)
				}
				fresh = append(fresh, s)
			}
			if o.Fields != nil {
				o.Fields(b0+i, fields.device(it), vals[i*k:(i+1)*k])
			}
		}
		clear(items)
		clear(vals)
		b0 += len(batch)
	}
	var changes []Change
	if len(fresh) > 0 {
		// A new device changes every class: each collection evaluates the
		// new devices, and one with a global query all devices.
		var full, touched []*entry
		for _, x := range e.order {
			if x.global != 0 {
				full = append(full, x)
			} else {
				touched = append(touched, x)
			}
		}
		changes = append(changes, e.run(now, full, touched, dirtyWords(fresh), !o.NoDelta).Changes...)
	}
	for _, p := range replace {
		d := e.putData(p.rid, p.data, p.zone, now, !o.NoDelta)
		changes = append(changes, d.Changes...)
	}
	if !o.NoDelta {
		res.Delta.Changes = netChanges(changes)
	}
	return res, nil
}

// columns resolves LoadOptions.Values.
func (e *Engine) columns(names []string) ([]wql.Column, error) {
	var p consign.Problems
	cols := make([]wql.Column, len(names))
	for k, name := range names {
		class, prop, _ := strings.Cut(name, ".")
		c, ok := e.schema.ClassIndex(class)
		j := -1
		if ok {
			j, ok = e.schema.PropertyIndex(c, prop)
		}
		if !ok {
			p.AddValue(fmt.Sprintf("LoadOptions.Values[%d]", k), name, "must name a property of the schema as Class.Property")
		}
		cols[k] = wql.Column{Class: c, Property: j}
	}
	return cols, p.Err()
}

// pendingDevice is a record of PutEncodedDevices that replaces a device.
type pendingDevice struct {
	rid  uint32
	data []byte
	zone uint32
}

// dirtyWords returns the bitmap words of slots, sorted.
func dirtyWords(slots []int32) []dirtyWord {
	slices.Sort(slots)
	var out []dirtyWord
	for _, s := range slots {
		w := int(s >> 6)
		if len(out) == 0 || out[len(out)-1].w != w {
			out = append(out, dirtyWord{w: w})
		}
		out[len(out)-1].bits |= 1 << (s & 63)
	}
	return out
}

// netChanges sorts changes made one after another by collection and
// resource, keeping for each pair its final state, and only when that
// differs from the state before the first.
func netChanges(cs []Change) []Change {
	slices.SortStableFunc(cs, func(a, b Change) int {
		return cmp.Or(strings.Compare(string(a.Collection), string(b.Collection)), cmp.Compare(a.ResourceID, b.ResourceID))
	})
	out := cs[:0]
	for i := 0; i < len(cs); {
		j := i + 1
		for j < len(cs) && cs[j].Collection == cs[i].Collection && cs[j].ResourceID == cs[i].ResourceID {
			j++
		}
		if first, last := cs[i], cs[j-1]; last.Member == first.Member { // the state before was !first.Member
			out = append(out, last)
		}
		i = j
	}
	return out
}

// loadItem is one record of PutEncodedDevices after transcoding.
type loadItem struct {
	rid  uint32
	data []byte // the Engine's encoding
	tz   []byte // the time zone's name, in the record
	hdr  header
	// hdrCopy is a copy of the record's bytes from its first Device field
	// string to the end of its lists, for LoadOptions.Fields.
	hdrCopy []byte
	dev     *Device // from slowLoad
	slow    bool    // the record needs DecodeDevice and Validate (slowLoad)
	err     error
}

// header is where a record's Device fields are.
type header struct {
	strs  [8][2]int32 // the strings' bounds, in storage order
	lists [4][3]int32 // the lists' bounds (count included) and lengths
	end   int32       // where the last list ends
	flags byte
}

// slowLoad loads a record the way PutDevice would from DecodeDevice: for
// what the transcoder does not take (names in another spelling, values of
// another type), and to report what is wrong with the record in the very
// words PutDevice uses. It sets out to the values of cols.
func (e *Engine) slowLoad(rec []byte, cols []wql.Column, out []wql.Value) loadItem {
	d, err := DecodeDevice(rec, e.schema)
	if err != nil {
		return loadItem{err: err}
	}
	rows, err := e.lay.rows(d)
	if err != nil {
		return loadItem{err: err}
	}
	for k, col := range cols {
		switch rs := rows[col.Class]; {
		case len(rs) == 0:
		case col.Property == e.lay.rid[col.Class]:
			out[k] = wql.Int(int64(d.ResourceID))
		case col.Property < len(rs[0]):
			out[k] = rs[0][col.Property]
		}
	}
	d.Properties, d.Inventory = nil, nil
	return loadItem{rid: d.ResourceID, data: e.enc.encode(rows), tz: []byte(d.TimeZone), dev: d}
}

// fieldMaker makes the Devices LoadOptions.Fields gets.
type fieldMaker struct {
	d     Device
	lists []string // the lists' strings, reused
}

// device returns the Device fields of a record loaded as it says, in d,
// whose lists are reused; the strings are in it.hdrCopy, a block no one
// changes.
func (f *fieldMaker) device(it *loadItem) *Device {
	if it.dev != nil {
		return it.dev
	}
	h := &it.hdr
	d := &f.d
	*d = Device{ResourceID: it.rid, Client: h.flags&1 != 0, Obsolete: h.flags&2 != 0, Active: h.flags&4 != 0}
	start := h.strs[0][0]
	all := unsafe.String(unsafe.SliceData(it.hdrCopy), len(it.hdrCopy))
	sub := func(pos, end int32) string { return all[pos-start : end-start] }
	for k, p := range [...]*string{&d.Name, &d.NetbiosName, &d.SMSUniqueIdentifier, &d.OperatingSystemNameandVersion,
		&d.ResourceDomainORWorkgroup, &d.ADSiteName, &d.LastLogonUserName, &d.TimeZone} {
		*p = sub(h.strs[k][0], h.strs[k][1])
	}
	f.lists = f.lists[:0]
	for k, p := range [...]*[]string{&d.SystemOUName, &d.SystemGroupName, &d.IPAddresses, &d.IPSubnets} {
		// Read from the copy: rec left the processor's caches long ago.
		r := storageReader{b: it.hdrCopy, pos: int(h.lists[k][0] - start)}
		n := r.count()
		if n == 0 {
			continue
		}
		from := len(f.lists)
		for range n {
			b := r.raw()
			f.lists = append(f.lists, sub(int32(r.pos-len(b))+start, int32(r.pos)+start))
		}
		*p = f.lists[from:len(f.lists):len(f.lists)]
	}
	return d
}
