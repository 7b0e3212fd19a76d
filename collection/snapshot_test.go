package collection

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
	"pgregory.net/rapid"
)

// snapshotBytes returns e's snapshot.
func snapshotBytes(t interface {
	Helper()
	Fatalf(format string, args ...any)
}, e *Engine) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.WriteSnapshot(&buf); err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	return buf.Bytes()
}

// resealed returns body followed by its CRC-32C, as WriteSnapshot ends a
// snapshot: a snapshot changed on purpose that the checksum does not refuse.
func resealed(body []byte) []byte {
	out := slices.Clip(slices.Clone(body))
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
}

// uniqueDevices returns n devices (ResourceIDs from first) whose names,
// OUs, programs and time zones no other device has: past the interner's
// first 32 values of a property, such values are stored inline in the
// device's encoding rather than interned.
func uniqueDevices(first uint32, n int) []*Device {
	zones := []string{"America/New_York", "Asia/Tokyo", "Australia/Sydney"}
	out := make([]*Device, n)
	for i := range out {
		rid := first + uint32(i)
		out[i] = &Device{ResourceID: rid, Name: fmt.Sprintf("HOST-%06d", rid), Client: true,
			OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.1",
			SystemOUName:                  []string{fmt.Sprintf("CONTOSO.COM/UNIT%06d", rid)},
			TimeZone:                      zones[i%len(zones)],
			Properties:                    map[string]any{"AgentTime": []time.Time{evalNow.Add(time.Duration(rid) * time.Second)}},
			Inventory: map[string][]Instance{"SMS_G_System_ADD_REMOVE_PROGRAMS": {
				{"DisplayName": fmt.Sprintf("Line of Business App %06d", rid), "Publisher": "Contoso"}}},
		}
	}
	return out
}

// checkSameEngine checks that r answers as e does: the same collections,
// memberships and number of devices, and for each of rids (which may name
// devices neither has) the same Device and CollectionsOf; and that r holds
// each device in the very encoding e does, so that its interned values kept
// their ids.
func checkSameEngine(t *rapid.T, e, r *Engine, rids []uint32) {
	if got, want := r.Collections(), e.Collections(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Collections() = %+v\nwriter has  %+v", got, want)
	}
	if got, want := snapshot(r), snapshot(e); !maps.EqualFunc(got, want, slices.Equal[[]uint32]) {
		t.Fatalf("memberships %v\nwriter has  %v", got, want)
	}
	if got, want := r.NumDevices(), e.NumDevices(); got != want {
		t.Fatalf("NumDevices() = %d, writer has %d", got, want)
	}
	for _, rid := range rids {
		dr, okr := r.Device(rid)
		de, oke := e.Device(rid)
		if okr != oke || !reflect.DeepEqual(dr, de) {
			t.Fatalf("Device(%d) = %+v, %v\nwriter has  %+v, %v", rid, dr, okr, de, oke)
		}
		if got, want := r.CollectionsOf(rid), e.CollectionsOf(rid); !slices.Equal(got, want) {
			t.Fatalf("CollectionsOf(%d) = %v, writer has %v", rid, got, want)
		}
		if oke && !bytes.Equal(r.data[r.slot[rid]], e.data[e.slot[rid]]) {
			t.Fatalf("device %d is encoded %x, writer has %x", rid, r.data[r.slot[rid]], e.data[e.slot[rid]])
		}
	}
}

// sameResult checks that two engines' answers to the same call are equal:
// the Delta's changes and the error's text.
func sameResult(t *rapid.T, call string, d1, d2 Delta, err1, err2 error) {
	if !slices.Equal(d1.Changes, d2.Changes) {
		t.Fatalf("%s: Delta %v\nwriter's     %v", call, d2.Changes, d1.Changes)
	}
	if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
		t.Fatalf("%s: error %v, writer's %v", call, err2, err1)
	}
}

// TestSnapshotRestoresEngine: an Engine built by random calls — collections
// limited to others and with direct rules, devices put one by one and from
// storage records (odd and invalid ones too, on goroutines or not), devices
// and collections removed, so that the snapshot has interned Strings and
// arrays, inline values, several time zones, free device slots and free
// collection numbers — restored into a new Engine (with SetParallel or
// not) answers every question as the writer does and writes the same
// snapshot; then the same random calls (devices put, new and existing,
// and removed, collections put and removed, evaluations at later times)
// give both the same Deltas and errors, and the same state.
func TestSnapshotRestoresEngine(t *testing.T) {
	s, odd := DefaultSchema(), oddSchema()
	newRIDs := []uint32{200, 201}              // devices only phase 2 puts
	const uniqueFirst, uniqueN = 1000, 36      // devices with values stored inline
	unknown := []uint32{7777, uniqueFirst - 1} // never put
	var rids []uint32
	rids = append(rids, propRIDs...)
	rids = append(rids, newRIDs...)
	rids = append(rids, unknown...)
	for i := range uniqueN {
		rids = append(rids, uniqueFirst+uint32(i))
	}
	phase2IDs := append(slices.Clone(propIDs), "CEN00005")

	rapid.Check(t, func(t *rapid.T) {
		e := NewEngine(s)
		if rapid.Bool().Draw(t, "writerParallel") {
			// Shared transcoders store new values inline, for a batch.
			e.SetParallel(rapid.IntRange(2, 3).Draw(t, "writerWorkers"), goParallel)
			e.batch, e.chunk = rapid.IntRange(1, 4).Draw(t, "batch"), 1
		}
		ids := []consign.ObjectID{AllSystemsID}
		for _, id := range propIDs[:rapid.IntRange(0, len(propIDs)).Draw(t, "collections")] {
			c := genCollection(id, ids, propRIDs).Draw(t, "collection")
			if _, err := e.PutCollection(c, evalNow); err != nil {
				t.Fatalf("PutCollection: %v", err)
			}
			ids = append(ids, id)
		}
		uniquesPut := false
		for range rapid.IntRange(0, 16).Draw(t, "ops") {
			switch rapid.SampledFrom([]string{"put", "put", "records", "remove", "uniques", "removeCollection", "collection"}).Draw(t, "op") {
			case "put":
				if _, err := e.PutDevice(genDevice(rapid.SampledFrom(propRIDs).Draw(t, "rid")).Draw(t, "device"), evalNow); err != nil {
					t.Fatalf("PutDevice: %v", err)
				}
			case "records":
				recs := make([][]byte, rapid.IntRange(1, 6).Draw(t, "records"))
				for i := range recs {
					recs[i] = genRecord(t, s, odd)
				}
				if _, err := e.PutEncodedDevices(recs, evalNow, nil); err != nil {
					t.Fatalf("PutEncodedDevices: %v", err)
				}
			case "remove":
				e.RemoveDevice(rapid.SampledFrom(propRIDs).Draw(t, "rid"))
			case "uniques":
				if uniquesPut {
					continue
				}
				uniquesPut = true
				for _, d := range uniqueDevices(uniqueFirst, uniqueN) {
					if _, err := e.PutDevice(d, evalNow); err != nil {
						t.Fatalf("PutDevice: %v", err)
					}
				}
				// Some leave again: free slots among the inline ones.
				for _, rid := range rapid.SliceOfNDistinct(rapid.Uint32Range(uniqueFirst, uniqueFirst+uniqueN-1), 0, 4, rapid.ID[uint32]).Draw(t, "gone") {
					e.RemoveDevice(rid)
				}
			case "removeCollection":
				if _, err := e.RemoveCollection(rapid.SampledFrom(propIDs).Draw(t, "id")); err != nil &&
					!errors.Is(err, consign.ErrNotFound) && !errors.Is(err, consign.ErrFailedPrecondition) {
					t.Fatalf("RemoveCollection: %v", err)
				}
			case "collection":
				var limits []consign.ObjectID
				for _, c := range e.Collections() {
					limits = append(limits, c.ID)
				}
				c := genCollection(rapid.SampledFrom(propIDs).Draw(t, "id"), limits, propRIDs).Draw(t, "collection")
				if _, err := e.PutCollection(c, evalNow); err != nil && !errors.Is(err, consign.ErrInvalid) {
					t.Fatalf("PutCollection: %v", err)
				}
			}
		}

		b := snapshotBytes(t, e)
		r := NewEngine(s)
		if rapid.Bool().Draw(t, "parallel") {
			r.SetParallel(rapid.IntRange(2, 3).Draw(t, "workers"), goParallel)
			r.chunk = 1
		}
		if err := r.RestoreSnapshot(b); err != nil {
			t.Fatalf("RestoreSnapshot: %v", err)
		}
		checkSameEngine(t, e, r, rids)
		checkCollectionsOf(t, r)
		if again := snapshotBytes(t, r); !bytes.Equal(again, b) {
			i := 0
			for i < len(again) && i < len(b) && again[i] == b[i] {
				i++
			}
			t.Fatalf("the restored Engine writes another snapshot (%d bytes, not %d) at %d: %q vs %q", len(again), len(b), i, again[i:min(i+80, len(again))], b[i:min(i+80, len(b))])
		}
		// The free slots, which the snapshot only implies, are free again
		// (in another order, which only decides which slot a new device
		// takes).
		if got, want := slices.Sorted(slices.Values(r.free)), slices.Sorted(slices.Values(e.free)); !slices.Equal(got, want) {
			t.Fatalf("free slots %v, writer has %v", got, want)
		}

		// The same calls to both.
		for range rapid.IntRange(0, 14).Draw(t, "phase2") {
			switch op := rapid.SampledFrom([]string{"put", "put", "remove", "collection", "removeCollection", "evaluateAll", "evaluate"}).Draw(t, "op2"); op {
			case "put":
				rid := rapid.SampledFrom(rids).Draw(t, "rid")
				if slices.Contains(unknown, rid) {
					rid = newRIDs[0]
				}
				d := genDevice(rid).Draw(t, "device")
				d1, err1 := e.PutDevice(d, evalNow)
				d2, err2 := r.PutDevice(d, evalNow)
				sameResult(t, fmt.Sprintf("PutDevice(%d)", rid), d1, d2, err1, err2)
			case "remove":
				rid := rapid.SampledFrom(rids).Draw(t, "rid")
				sameResult(t, fmt.Sprintf("RemoveDevice(%d)", rid), e.RemoveDevice(rid), r.RemoveDevice(rid), nil, nil)
			case "collection":
				var limits []consign.ObjectID
				for _, c := range e.Collections() {
					limits = append(limits, c.ID)
				}
				if rapid.IntRange(0, 4).Draw(t, "anyLimit") == 0 {
					limits = phase2IDs // may name a collection neither has
				}
				c := genCollection(rapid.SampledFrom(phase2IDs).Draw(t, "id"), limits, rids).Draw(t, "collection")
				d1, err1 := e.PutCollection(c, evalNow)
				d2, err2 := r.PutCollection(c, evalNow)
				sameResult(t, "PutCollection("+string(c.ID)+")", d1, d2, err1, err2)
			case "removeCollection":
				id := rapid.SampledFrom(append(slices.Clone(phase2IDs), AllSystemsID)).Draw(t, "id")
				d1, err1 := e.RemoveCollection(id)
				d2, err2 := r.RemoveCollection(id)
				sameResult(t, "RemoveCollection("+string(id)+")", d1, d2, err1, err2)
			case "evaluateAll":
				later := evalNow.Add(time.Duration(rapid.IntRange(0, 1000).Draw(t, "hours")) * time.Hour)
				sameResult(t, "EvaluateAll", e.EvaluateAll(later), r.EvaluateAll(later), nil, nil)
			case "evaluate":
				id := rapid.SampledFrom(append(slices.Clone(phase2IDs), AllSystemsID)).Draw(t, "id")
				later := evalNow.Add(time.Duration(rapid.IntRange(0, 1000).Draw(t, "hours")) * time.Hour)
				d1, err1 := e.Evaluate(id, later)
				d2, err2 := r.Evaluate(id, later)
				sameResult(t, "Evaluate("+string(id)+")", d1, d2, err1, err2)
			}
		}
		checkSameEngine(t, e, r, rids)
		checkCollectionsOf(t, r)
		if len(r.rids) != len(e.rids) || len(r.free) != len(e.free) {
			t.Fatalf("%d slots, %d free; writer has %d, %d free", len(r.rids), len(r.free), len(e.rids), len(e.free))
		}
	})
}

// RemoveDevice re-evaluates a collection with a global query in full, at
// the time of that query's last evaluation (it has no time of its own):
// after a restore, as in the Engine that wrote the snapshot. Here the query
// uses GETDATE(), so evaluating it at another time (the zero time) would
// change the memberships of devices the removal does not concern.
func TestSnapshotRemoveDeviceKeepsQueryTime(t *testing.T) {
	e := newFleetEngine(t)
	c := NewCollection("CEN00100", "Up for more than 2 days, by name", evalNow)
	c.QueryRules = []QueryRule{{RuleName: "up", Query: `select * from SMS_R_System where SMS_R_System.Name in (select SMS_R_System.Name from SMS_R_System inner join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId where DateDiff(dd, SMS_G_System_OPERATING_SYSTEM.LastBootUpTime, GetDate()) > 2)`}}
	if _, err := e.PutCollection(c, evalNow); err != nil {
		t.Fatal(err)
	}
	if x := e.byID[c.ID]; x.global == 0 {
		t.Fatal("the test needs a global query")
	}
	if got, want := e.Members(c.ID), []uint32{16777220, 16777222, 16777225}; !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	r := NewEngine(nil)
	if err := r.RestoreSnapshot(snapshotBytes(t, e)); err != nil {
		t.Fatal(err)
	}
	const gone = 16777224 // a member of other collections, not of CEN00100
	d1, d2 := e.RemoveDevice(gone), r.RemoveDevice(gone)
	if !slices.Equal(d2.Changes, d1.Changes) {
		t.Errorf("RemoveDevice(%d): Delta %v\nwriter's            %v", gone, d2.Changes, d1.Changes)
	}
	if got, want := r.Members(c.ID), e.Members(c.ID); !slices.Equal(got, want) {
		t.Errorf("%s: members %v, writer has %v", c.ID, got, want)
	}
}

// deviceStrings returns every non-empty string in d: its fields, lists,
// properties and inventory (names and values).
func deviceStrings(d *Device) []string {
	var out []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			if v.Len() > 0 {
				out = append(out, v.String())
			}
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[time.Time]() {
				return
			}
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				walk(it.Key())
				walk(it.Value())
			}
		}
	}
	walk(reflect.ValueOf(d))
	return out
}

// inside reports whether s's bytes lie in b.
func inside(s string, b []byte) bool {
	if len(s) == 0 || len(b) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= lo && p < lo+uintptr(len(b))
}

// A restored Engine keeps the devices' encodings in the caller's bytes, but
// what Device returns shares none of them: not even a string stored inline
// in the encoding, which decoding in place would read from those bytes.
func TestSnapshotDeviceDoesNotAliasSnapshot(t *testing.T) {
	e := NewEngine(nil)
	devices := uniqueDevices(1, 40)
	for _, d := range devices {
		if _, err := e.PutDevice(d, evalNow); err != nil {
			t.Fatal(err)
		}
	}
	b := snapshotBytes(t, e)
	r := NewEngine(nil)
	if err := r.RestoreSnapshot(b); err != nil {
		t.Fatal(err)
	}
	last := devices[len(devices)-1]
	if _, interned := r.in.strs[last.Name]; interned {
		t.Fatalf("%s is interned: the test needs a name stored in the device's encoding", last.Name)
	}
	// The premise: the encoding lies in b, and decoding it in place reads
	// the name from b.
	var in resource
	in.load(r.lay, &r.in, last.ResourceID, r.data[r.slot[last.ResourceID]])
	if name := decodeDevice(&in).Name; name != last.Name || !inside(name, b) {
		t.Fatalf("decoded in place, the name %q does not lie in the snapshot's bytes", name)
	}
	for _, want := range devices {
		d, ok := r.Device(want.ResourceID)
		if !ok || d.Name != want.Name || d.TimeZone != want.TimeZone {
			t.Fatalf("Device(%d) = %+v, %v", want.ResourceID, d, ok)
		}
		for _, s := range deviceStrings(d) {
			if inside(s, b) {
				t.Errorf("Device(%d): %q lies in the snapshot's bytes", want.ResourceID, s)
			}
		}
	}
}

// extendedSchema is DefaultSchema with one more property.
func extendedSchema() *wql.Schema {
	classes := defaultClasses()
	last := &classes[len(classes)-1]
	last.Properties = append(last.Properties, wql.Property{Name: "Extra", Type: wql.String})
	s, err := wql.NewSchema(classes...)
	if err != nil {
		panic(err)
	}
	return s
}

// RestoreSnapshot refuses, with ErrSnapshot and the reason, a snapshot
// damaged anywhere (one byte changed, cut short), of another format
// version, for another schema, or with bytes after its end; and, with
// consign.ErrFailedPrecondition, to restore into an Engine that is not new.
func TestSnapshotRefusals(t *testing.T) {
	good := snapshotBytes(t, newFleetEngine(t))
	if err := NewEngine(nil).RestoreSnapshot(good); err != nil {
		t.Fatalf("the good snapshot: %v", err)
	}
	body := good[:len(good)-4]
	at := len(snapshotMagic) // the version byte

	// One byte changed anywhere, checksum included: every byte of the
	// head and the tail, and bytes spread over the rest.
	for i := range good {
		if i >= 256 && i < len(good)-256 && i%61 != 0 {
			continue
		}
		b := slices.Clone(good)
		b[i] ^= 1 << (i % 8)
		if err := NewEngine(nil).RestoreSnapshot(b); !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("byte %d of %d changed: %v", i, len(good), err)
		}
	}

	withVersion := slices.Clone(body)
	withVersion[at] = snapshotVersion + 1
	withMagic := slices.Clone(body)
	withMagic[0] = 'C'
	oddEngine := NewEngine(oddSchema())
	if _, err := oddEngine.PutDevice(&Device{ResourceID: 1, Name: "PC01"}, evalNow); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		b      []byte
		schema *wql.Schema
		reason string // in the error
	}{
		{"empty", nil, nil, "too short"},
		{"the magic alone", good[:len(snapshotMagic)], nil, "too short"},
		{"no body", good[:len(snapshotMagic)+4], nil, "too short"},
		{"cut after the version", good[:at+1], nil, ""},
		{"cut in half", good[:len(good)/2], nil, ""},
		{"without its checksum", body, nil, ""},
		{"one byte short", good[:len(good)-1], nil, ""},
		{"cut, resealed", resealed(body[:len(body)/2]), nil, ""},
		{"cut by a byte, resealed", resealed(body[:len(body)-1]), nil, ""},
		{"another version", resealed(withVersion), nil, fmt.Sprintf("version %d", snapshotVersion+1)},
		{"another magic", resealed(withMagic), nil, "not an engine snapshot"},
		{"a byte after the end", resealed(append(slices.Clone(body), 0)), nil, "after the collections"},
		{"into another schema", good, oddSchema(), "schema"},
		{"into a schema with one more property", good, extendedSchema(), "schema"},
		{"from another schema", snapshotBytes(t, oddEngine), nil, "schema"},
		{"from an empty Engine of another schema", snapshotBytes(t, NewEngine(extendedSchema())), nil, "schema"},
	} {
		err := NewEngine(tc.schema).RestoreSnapshot(tc.b)
		if !errors.Is(err, ErrSnapshot) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: %v, want ErrSnapshot (%s)", tc.name, err, tc.reason)
		}
		if errors.Is(err, consign.ErrFailedPrecondition) {
			t.Errorf("%s: %v is also ErrFailedPrecondition", tc.name, err)
		}
	}

	// Engines that are not new.
	withDevice := NewEngine(nil)
	if _, err := withDevice.PutDevice(&Device{ResourceID: 1, Name: "PC01"}, evalNow); err != nil {
		t.Fatal(err)
	}
	hadDevice := NewEngine(nil) // its values stay interned
	if _, err := hadDevice.PutDevice(&Device{ResourceID: 1, Name: "PC01"}, evalNow); err != nil {
		t.Fatal(err)
	}
	hadDevice.RemoveDevice(1)
	withCollection := NewEngine(nil)
	c := NewCollection("CEN00001", "Clients", evalNow)
	c.QueryRules = []QueryRule{{RuleName: "clients", Query: queryPool[0]}}
	if _, err := withCollection.PutCollection(c, evalNow); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]*Engine{"a device": withDevice, "a removed device": hadDevice, "a collection": withCollection} {
		before := snapshotBytes(t, e)
		err := e.RestoreSnapshot(good)
		if !errors.Is(err, consign.ErrFailedPrecondition) || errors.Is(err, ErrSnapshot) {
			t.Errorf("into an Engine with %s: %v, want ErrFailedPrecondition alone", name, err)
		}
		if after := snapshotBytes(t, e); !bytes.Equal(before, after) {
			t.Errorf("into an Engine with %s: refused, yet the Engine changed", name)
		}
	}
}

// RestoreSnapshot never panics on a snapshot whose checksum is right but
// whose content is not what WriteSnapshot writes. Random bytes after the
// magic, version and schema are refused with ErrSnapshot; a real snapshot
// with some bytes changed, or cut and followed by random bytes, may be
// taken (a device's encoding is not checked), but when refused, it is with
// ErrSnapshot.
func TestSnapshotGarbageRefused(t *testing.T) {
	base := newFleetEngine(t)
	d := fleet()[0]
	d.ResourceID = 42
	d.Properties["AgentTime"] = []time.Time{evalNow} // an interned DateTime array
	if _, err := base.PutDevice(d, evalNow); err != nil {
		t.Fatal(err)
	}
	base.RemoveDevice(16777221) // a free slot
	good := snapshotBytes(t, base)
	body := good[:len(good)-4]
	prefix := len(snapshotMagic) + 1 + len(schemaBytes(base.schema))
	rapid.Check(t, func(t *rapid.T) {
		var b []byte
		strict := false
		switch rapid.IntRange(0, 2).Draw(t, "kind") {
		case 0: // random bytes after the prefix
			b = append(slices.Clone(body[:prefix]), rapid.SliceOfN(rapid.Byte(), 0, 600).Draw(t, "garbage")...)
			strict = true
		case 1: // a few bytes changed
			b = slices.Clone(body)
			for range rapid.IntRange(1, 4).Draw(t, "changes") {
				b[rapid.IntRange(prefix, len(b)-1).Draw(t, "at")] = rapid.Byte().Draw(t, "byte")
			}
		default: // cut anywhere, random bytes after
			b = slices.Clone(body[:rapid.IntRange(prefix, len(body)).Draw(t, "cut")])
			b = append(b, rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "tail")...)
		}
		err := NewEngine(nil).RestoreSnapshot(resealed(b))
		if strict && err == nil {
			t.Fatalf("random bytes after the prefix were taken")
		}
		if err != nil && !errors.Is(err, ErrSnapshot) {
			t.Fatalf("%v is not ErrSnapshot", err)
		}
	})
}

// An Engine holding nothing but All Systems round-trips, and the restored
// one then takes devices and collections as a new Engine does.
func TestSnapshotEmptyEngine(t *testing.T) {
	e := NewEngine(nil)
	b := snapshotBytes(t, e)
	r := NewEngine(nil)
	if err := r.RestoreSnapshot(b); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Collections(), e.Collections(); !reflect.DeepEqual(got, want) || len(got) != 1 {
		t.Fatalf("Collections() = %+v, want %+v", got, want)
	}
	if r.NumDevices() != 0 || r.Members(AllSystemsID) != nil {
		t.Fatalf("%d devices, All Systems %v", r.NumDevices(), r.Members(AllSystemsID))
	}
	if again := snapshotBytes(t, r); !bytes.Equal(again, b) {
		t.Fatalf("the restored Engine writes %x, not %x", again, b)
	}
	c := NewCollection("CEN00001", "Clients", evalNow)
	c.QueryRules = []QueryRule{{RuleName: "clients", Query: queryPool[0]}}
	for _, d := range fleet() {
		d1, err1 := e.PutDevice(d, evalNow)
		d2, err2 := r.PutDevice(d, evalNow)
		if err1 != nil || err2 != nil || !slices.Equal(d1.Changes, d2.Changes) {
			t.Fatalf("PutDevice(%d): %v, %v; restored %v, %v", d.ResourceID, d1, err1, d2, err2)
		}
	}
	d1, err1 := e.PutCollection(c, evalNow)
	d2, err2 := r.PutCollection(c, evalNow)
	if err1 != nil || err2 != nil || !slices.Equal(d1.Changes, d2.Changes) || len(d1.Changes) == 0 {
		t.Fatalf("PutCollection: %v, %v; restored %v, %v", d1, err1, d2, err2)
	}
	if !bytes.Equal(snapshotBytes(t, r), snapshotBytes(t, e)) {
		t.Fatalf("after the same calls, the restored Engine writes another snapshot")
	}
}
