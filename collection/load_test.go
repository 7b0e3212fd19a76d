package collection

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
	"pgregory.net/rapid"
)

// goParallel runs the parts on goroutines, as a caller of SetParallel would.
func goParallel(n int, work func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { work(i) })
	}
	wg.Wait()
}

// craft encodes d in storage form under schema s without any check, so
// that a test can store what EncodeDevice refuses: a value of another type
// (encoded under a schema that has the property with that type), a
// property given both ways, an inventory row of another resource.
func craft(d *Device, s *wql.Schema) []byte {
	e := storageEncoder{l: newLayout(s)}
	_ = e.device(d) // unknown names are left out; the rest is written
	return e.b
}

// oddSchema is DefaultSchema with SMS_G_System_ADD_REMOVE_PROGRAMS's
// DisplayName an Integer and SMS_R_System's SystemRoles a String, to craft
// records whose values do not fit the default schema.
func oddSchema() *wql.Schema {
	classes := defaultClasses()
	for ci := range classes {
		for pi := range classes[ci].Properties {
			p := &classes[ci].Properties[pi]
			switch {
			case classes[ci].Name == "SMS_G_System_ADD_REMOVE_PROGRAMS" && p.Name == "DisplayName":
				p.Type = wql.Integer
			case ci == 0 && p.Name == "SystemRoles":
				p.Array = false
			}
		}
	}
	s, err := wql.NewSchema(classes...)
	if err != nil {
		panic(err)
	}
	return s
}

// lowerNames returns d with every Properties, class and row name in lower
// case, which PutDevice accepts (names are case-insensitive) and the
// transcoder leaves to the slow path.
func lowerNames(d *Device) *Device {
	c := d.Clone()
	lower := func(m map[string]any) map[string]any {
		if m == nil {
			return nil
		}
		out := map[string]any{}
		for k, v := range m {
			out[strings.ToLower(k)] = v
		}
		return out
	}
	c.Properties = lower(c.Properties)
	if c.Inventory != nil {
		inv := map[string][]Instance{}
		for class, rows := range c.Inventory {
			var out []Instance
			for _, r := range rows {
				out = append(out, lower(r))
			}
			inv[strings.ToLower(class)] = out
		}
		c.Inventory = inv
	}
	return c
}

// genRecord draws one storage record: mostly a valid device, sometimes one
// PutDevice or DecodeDevice rejects, or one only the slow path takes.
func genRecord(t *rapid.T, s, odd *wql.Schema) []byte {
	rid := rapid.SampledFrom(propRIDs).Draw(t, "rid")
	d := genDevice(rid).Draw(t, "device")
	if rapid.Bool().Draw(t, "extra") {
		if d.Properties == nil {
			d.Properties = map[string]any{}
		}
		d.Properties["AgentTime"] = []any{evalNow, nil}
		d.Properties["SystemRoles"] = []string{"SMS Client", ""}
		d.Properties["CreationDate"] = evalNow.Add(1500) // a fraction of a second
		d.Properties["Unknown"] = int64(0)
		d.ADSiteName, d.IPAddresses = "BER", []string{"10.1.0.7"}
		// Rows with gaps: each has some properties, not the same ones.
		var services []Instance
		for i := range rapid.IntRange(0, 4).Draw(t, "services") {
			row := Instance{}
			for _, p := range someOf(t, []string{"Name", "DisplayName", "Started", "StartMode"}, "props") {
				if p == "Started" {
					row[p] = int64(i % 2)
				} else {
					row[p] = rapid.SampledFrom([]string{"", "wuauserv", "Automatic"}).Draw(t, "value")
				}
			}
			services = append(services, row)
		}
		if d.Inventory == nil {
			d.Inventory = map[string][]Instance{}
		}
		d.Inventory["SMS_G_System_SERVICE"] = services
	}
	switch rapid.IntRange(0, 14).Draw(t, "kind") {
	case 0: // case-insensitive names
		b, err := EncodeDevice(lowerNames(d), s)
		if err != nil {
			t.Fatalf("EncodeDevice(lower case names): %v", err)
		}
		return b
	case 1: // a value of another type
		if d.Inventory == nil {
			d.Inventory = map[string][]Instance{}
		}
		d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"] = append(d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"], Instance{"DisplayName": int64(7)})
		return craft(d, odd)
	case 2: // a scalar for an array property
		if d.Properties == nil {
			d.Properties = map[string]any{}
		}
		d.Properties["SystemRoles"] = "SMS Client"
		return craft(d, odd)
	case 3: // a Device field in Properties, or a row of another resource
		if rapid.Bool().Draw(t, "field") {
			d.Properties = map[string]any{"Name": "X"}
		} else {
			d.Inventory = map[string][]Instance{"SMS_G_System_LOGICAL_DISK": {{"DeviceID": "C:", "ResourceID": int64(rid) + 1}}}
		}
		return craft(d, s)
	case 4: // a row that says its ResourceID
		d.Inventory = map[string][]Instance{"SMS_G_System_LOGICAL_DISK": {{"DeviceID": "C:", "ResourceID": int64(rid)}}}
		return craft(d, s)
	case 5: // no Name
		d.Name = ""
		return craft(d, s)
	case 8, 9: // a byte changed: whatever it makes, both ways agree
		b := craft(d, s)
		for range rapid.IntRange(1, 3).Draw(t, "changes") {
			b[rapid.IntRange(0, len(b)-1).Draw(t, "at")] = rapid.Byte().Draw(t, "byte")
		}
		return b
	case 7: // a class or a property twice, which no EncodeDevice writes
		return twice(d, s, rapid.Bool().Draw(t, "class"))
	case 6: // cut short, or another format
		b := craft(d, s)
		if rapid.Bool().Draw(t, "format") {
			b[0] = 2
			return b
		}
		return b[:rapid.IntRange(0, len(b)-1).Draw(t, "cut")]
	}
	b, err := EncodeDevice(d, s)
	if err != nil {
		t.Fatalf("EncodeDevice: %v", err)
	}
	return b
}

// twice encodes d without inventory, then two SMS_G_System_SERVICE
// sections (class) or one whose row names Name twice: a record DecodeDevice
// reads keeping the last, and no EncodeDevice writes.
func twice(d *Device, s *wql.Schema, class bool) []byte {
	d = d.Clone()
	d.Inventory = nil
	e := storageEncoder{l: newLayout(s)}
	_ = e.device(d)
	e.b = e.b[:len(e.b)-1] // the count of classes, 0
	k := 0
	section := func(names ...string) {
		e.str("SMS_G_System_SERVICE")
		e.b = append(e.b, 1, byte(len(names))) // a row of len(names) properties
		for _, n := range names {
			k++
			e.str(n)
			e.value(wql.Str(fmt.Sprint(n, k)))
		}
	}
	if class {
		e.b = append(e.b, 2)
		section("Name")
		section("DisplayName", "StartMode")
	} else {
		e.b = append(e.b, 1)
		section("Name", "Name")
	}
	return e.b
}

// putOneByOne is the reference: what a site did before PutEncodedDevices,
// DecodeDevice then PutDevice for each record. It returns each record's
// error and the Deltas in order.
func putOneByOne(e *Engine, recs [][]byte) ([]error, []Change) {
	errs := make([]error, len(recs))
	var changes []Change
	for i, b := range recs {
		d, err := DecodeDevice(b, e.schema)
		if err == nil {
			var delta Delta
			delta, err = e.PutDevice(d, evalNow)
			changes = append(changes, delta.Changes...)
		}
		errs[i] = err
	}
	return errs, changes
}

// TestPutEncodedDevicesEqualsPutDevice: for random devices, collections and
// records (valid, odd, invalid, repeated, replacing devices already there),
// PutEncodedDevices — serial or on several goroutines, in batches and
// chunks small enough for the parallel paths — leaves the Engine with
// exactly the memberships, CollectionsOf and Device results that DecodeDevice
// and PutDevice one record after another give, reports the same error for
// each record, a Delta that is the net change, and Fields and Values as
// DecodeDeviceFields and the device's rows say.
func TestPutEncodedDevicesEqualsPutDevice(t *testing.T) {
	s, odd := DefaultSchema(), oddSchema()
	valueNames := []string{"SMS_R_System.Name", "SMS_R_System.ResourceId", "SMS_R_System.IPSubnets", "SMS_R_System.AgentTime",
		"SMS_R_System.CreationDate", "SMS_R_System.Obsolete", "SMS_G_System_OPERATING_SYSTEM.LastBootUpTime",
		"SMS_G_System_COMPUTER_SYSTEM.Model", "SMS_G_System_LOGICAL_DISK.ResourceID", "SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName"}
	rapid.Check(t, func(t *rapid.T) {
		ref, got := NewEngine(nil), NewEngine(nil)
		workers := rapid.IntRange(1, 3).Draw(t, "workers")
		if rapid.Bool().Draw(t, "goroutines") {
			got.SetParallel(workers, goParallel)
		} else { // a runner may as well run the parts one after another
			got.SetParallel(workers, func(n int, work func(int)) {
				for i := n - 1; i >= 0; i-- {
					work(i)
				}
			})
		}
		got.batch = rapid.IntRange(1, 6).Draw(t, "batch")
		got.chunk = rapid.IntRange(1, 2).Draw(t, "chunk")

		// Collections and devices already there.
		var ids []consign.ObjectID
		for _, id := range propIDs[:rapid.IntRange(0, len(propIDs)).Draw(t, "collections")] {
			c := genCollection(id, ids, propRIDs).Draw(t, "collection")
			_, err1 := ref.PutCollection(c, evalNow)
			_, err2 := got.PutCollection(c, evalNow)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("PutCollection: %v, %v", err1, err2)
			}
			if err1 == nil {
				ids = append(ids, id)
			}
		}
		for range rapid.IntRange(0, 3).Draw(t, "before") {
			d := genDevice(rapid.SampledFrom(propRIDs).Draw(t, "rid")).Draw(t, "device")
			if _, err := ref.PutDevice(d, evalNow); err != nil {
				t.Fatal(err)
			}
			if _, err := got.PutDevice(d, evalNow); err != nil {
				t.Fatal(err)
			}
		}

		recs := make([][]byte, rapid.IntRange(0, 24).Draw(t, "records"))
		for i := range recs {
			recs[i] = genRecord(t, s, odd)
		}
		before := snapshot(got)
		noDelta := rapid.Bool().Draw(t, "noDelta")
		wantErrs, _ := putOneByOne(ref, recs)
		fields := make([]*Device, len(recs))
		values := make([][]wql.Value, len(recs))
		last := -1
		res, err := got.PutEncodedDevices(recs, evalNow, &LoadOptions{NoDelta: noDelta, Values: valueNames,
			Fields: func(i int, d *Device, v []wql.Value) {
				if i <= last {
					t.Fatalf("Fields for record %d after %d", i, last)
				}
				last = i
				fields[i], values[i] = d.Clone(), slices.Clone(v)
			}})
		if err != nil {
			t.Fatal(err)
		}

		for i := range recs {
			if (wantErrs[i] == nil) != (res.Errs[i] == nil) || wantErrs[i] != nil && wantErrs[i].Error() != res.Errs[i].Error() {
				t.Fatalf("record %d: error %v, one by one %v", i, res.Errs[i], wantErrs[i])
			}
			if res.Errs[i] != nil && !errors.Is(res.Errs[i], consign.ErrInvalid) {
				t.Fatalf("record %d: %v is not ErrInvalid", i, res.Errs[i])
			}
			checkFields(t, got, recs[i], res.Errs[i], fields[i], values[i], valueNames)
		}
		after := snapshot(got)
		if want := snapshot(ref); !maps.EqualFunc(after, want, slices.Equal[[]uint32]) {
			t.Fatalf("memberships %v\none by one  %v", after, want)
		}
		for _, rid := range propRIDs {
			dg, okg := got.Device(rid)
			dr, okr := ref.Device(rid)
			if okg != okr || !reflect.DeepEqual(dg, dr) {
				t.Fatalf("Device(%d) = %+v\none by one  %+v", rid, dg, dr)
			}
			if g, r := got.CollectionsOf(rid), ref.CollectionsOf(rid); !slices.Equal(g, r) {
				t.Fatalf("CollectionsOf(%d) = %v, one by one %v", rid, g, r)
			}
		}
		checkCollectionsOf(t, got)
		if !noDelta {
			checkNetDelta(t, before, after, res.Delta)
		} else if len(res.Delta.Changes) != 0 {
			t.Fatalf("NoDelta, yet a Delta: %v", res.Delta.Changes)
		}
		if d := got.EvaluateAll(evalNow); len(d.Changes) != 0 {
			t.Fatalf("a full evaluation after the load changed %v", d.Changes)
		}
		checkBruteForce(t, got)
	})
}

// checkFields checks what Fields got for a record: nothing when it was
// left out, else DecodeDeviceFields's Device and the values of the
// device's rows.
func checkFields(t *rapid.T, e *Engine, rec []byte, loadErr error, fields *Device, vals []wql.Value, names []string) {
	if loadErr != nil {
		if fields != nil || vals != nil {
			t.Fatalf("record left out (%v), yet Fields got %+v, %v", loadErr, fields, vals)
		}
		return
	}
	want, err := DecodeDeviceFields(rec)
	if err != nil || !reflect.DeepEqual(fields, want) {
		t.Fatalf("Fields got %+v, DecodeDeviceFields %+v (%v)", fields, want, err)
	}
	d, err := DecodeDevice(rec, e.schema)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.lay.rows(d)
	if err != nil {
		t.Fatal(err)
	}
	for k, name := range names {
		class, prop, _ := strings.Cut(name, ".")
		c, _ := e.schema.ClassIndex(class)
		j, _ := e.schema.PropertyIndex(c, prop)
		var v wql.Value
		switch {
		case len(rows[c]) == 0:
		case j == e.lay.rid[c]:
			v = wql.Int(int64(d.ResourceID))
		case j < len(rows[c][0]):
			v = rows[c][0][j]
		}
		if !sameValue(vals[k], v) {
			t.Fatalf("record %d: %s = %v, want %v", d.ResourceID, name, vals[k], v)
		}
	}
}

// sameValue compares values by content: ids and array identity aside.
func sameValue(a, b wql.Value) bool {
	if a.IsArray() || b.IsArray() {
		return a.IsArray() && b.IsArray() && slices.EqualFunc(a.Elems(), b.Elems(), sameValue)
	}
	return wql.Interned(a, -1) == wql.Interned(b, -1)
}

// checkNetDelta checks that d is sorted and takes before to after, each
// change flipping a membership once.
func checkNetDelta(t *rapid.T, before, after map[consign.ObjectID][]uint32, d Delta) {
	if !slices.IsSortedFunc(d.Changes, func(a, b Change) int {
		if a.Collection != b.Collection {
			return strings.Compare(string(a.Collection), string(b.Collection))
		}
		return int(a.ResourceID) - int(b.ResourceID)
	}) {
		t.Fatalf("Delta not sorted: %v", d.Changes)
	}
	state := map[consign.ObjectID]map[uint32]bool{}
	for id, rids := range before {
		state[id] = map[uint32]bool{}
		for _, r := range rids {
			state[id][r] = true
		}
	}
	for _, ch := range d.Changes {
		if state[ch.Collection] == nil {
			state[ch.Collection] = map[uint32]bool{}
		}
		if state[ch.Collection][ch.ResourceID] == ch.Member {
			t.Fatalf("Delta change %v repeats the state before", ch)
		}
		state[ch.Collection][ch.ResourceID] = ch.Member
	}
	for id, rids := range after {
		var got []uint32
		for r, in := range state[id] {
			if in {
				got = append(got, r)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, rids) {
			t.Fatalf("%s: the Delta leads to %v, the Engine has %v", id, got, rids)
		}
	}
}

// TestParallelEvaluationEqualsSerial: a full evaluation spread over
// goroutines in small chunks gives the serial result, and its Delta.
func TestParallelEvaluationEqualsSerial(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		serial, par := NewEngine(nil), NewEngine(nil)
		par.SetParallel(rapid.IntRange(2, 4).Draw(t, "workers"), goParallel)
		par.chunk = 1
		var ids []consign.ObjectID
		for _, id := range propIDs {
			c := genCollection(id, ids, propRIDs).Draw(t, "collection")
			if _, err := serial.PutCollection(c, evalNow); err == nil {
				ids = append(ids, id)
				if _, err := par.PutCollection(c, evalNow); err != nil {
					t.Fatal(err)
				}
			}
		}
		for range rapid.IntRange(0, 30).Draw(t, "devices") {
			rid := rapid.SampledFrom(propRIDs).Draw(t, "rid")
			d := genDevice(rid).Draw(t, "device")
			d1, err1 := serial.PutDevice(d, evalNow)
			d2, err2 := par.PutDevice(d, evalNow)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(d1, d2) {
				t.Fatalf("PutDevice: %v %v\n%v\n%v", err1, err2, d1, d2)
			}
		}
		later := evalNow.Add(500 * 3600e9) // GETDATE() moves: memberships change
		d1, d2 := serial.EvaluateAll(later), par.EvaluateAll(later)
		if !reflect.DeepEqual(d1, d2) {
			t.Fatalf("EvaluateAll: serial %v\nparallel %v", d1, d2)
		}
		if s, p := snapshot(serial), snapshot(par); !maps.EqualFunc(s, p, slices.Equal[[]uint32]) {
			t.Fatalf("serial %v\nparallel %v", s, p)
		}
		checkCollectionsOf(t, par)
	})
}

// PutEncodedDevices refuses options naming what the schema lacks, and then
// puts nothing; nil options and no records are fine; LoadCollections
// refuses what PutCollections refuses.
func TestPutEncodedDevicesOptions(t *testing.T) {
	s := DefaultSchema()
	rec, err := EncodeDevice(&Device{ResourceID: 1, Name: "PC01"}, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		values []string
		field  string // of the ValidationError; "" when accepted
	}{
		{nil, ""},
		{[]string{"SMS_R_System.Name", "sms_g_system_operating_system.version"}, ""},
		{[]string{"SMS_R_System.Name", "SMS_R_System.NoSuchProperty"}, "LoadOptions.Values[1]"},
		{[]string{"NoSuchClass.Name"}, "LoadOptions.Values[0]"},
		{[]string{"SMS_R_System"}, "LoadOptions.Values[0]"},
	} {
		e := NewEngine(s)
		called := 0
		res, err := e.PutEncodedDevices([][]byte{rec}, evalNow, &LoadOptions{Values: tc.values,
			Fields: func(int, *Device, []wql.Value) { called++ }})
		if tc.field == "" {
			if err != nil || res.Errs[0] != nil || called != 1 || e.NumDevices() != 1 {
				t.Errorf("%v: %v, %v, %d calls, %d devices", tc.values, err, res.Errs, called, e.NumDevices())
			}
			continue
		}
		var ve *consign.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("%v: error %v, want a ValidationError on %s", tc.values, err, tc.field)
		}
		if e.NumDevices() != 0 || called != 0 {
			t.Errorf("%v: refused, yet %d devices put, %d calls", tc.values, e.NumDevices(), called)
		}
	}

	e := NewEngine(s)
	if res, err := e.PutEncodedDevices(nil, evalNow, nil); err != nil || len(res.Errs) != 0 || len(res.Delta.Changes) != 0 {
		t.Errorf("no records: %+v, %v", res, err)
	}
	res, err := e.PutEncodedDevices([][]byte{rec}, evalNow, nil)
	if err != nil || res.Errs[0] != nil || !reflect.DeepEqual(res.Delta.Changes, []Change{{AllSystemsID, 1, true}}) {
		t.Errorf("nil options: %+v, %v", res, err)
	}
	e.SetParallel(1, goParallel) // one worker: the calling goroutine
	if res, err := e.PutEncodedDevices([][]byte{rec}, evalNow, nil); err != nil || len(res.Delta.Changes) != 0 {
		t.Errorf("the same record again: %+v, %v", res, err)
	}

	bad := NewCollection("CEN00001", "", evalNow) // no Name
	good := NewCollection("CEN00002", "Good", evalNow)
	good.QueryRules = []QueryRule{{RuleName: "all", Query: "select * from SMS_R_System"}}
	errs := e.LoadCollections([]*Collection{bad, good}, evalNow)
	if !errors.Is(errs[0], consign.ErrInvalid) || errs[1] != nil || !slices.Equal(e.Members("CEN00002"), []uint32{1}) {
		t.Errorf("LoadCollections: %v, members %v", errs, e.Members("CEN00002"))
	}
}

// Arrays of different types whose encodings coincide — an Integer 2 and a
// DateTime one second after 1970 — are interned apart: each device gets
// back the values it was put with, whether put one by one or loaded.
func TestInternedArraysKeepTheirType(t *testing.T) {
	classes := defaultClasses()
	classes[0].Properties = append(classes[0].Properties, wql.Property{Name: "Codes", Type: wql.Integer, Array: true})
	s, err := wql.NewSchema(classes...)
	if err != nil {
		t.Fatal(err)
	}
	ints := &Device{ResourceID: 1, Name: "PC01", Properties: map[string]any{"Codes": []int64{2}}}
	times := &Device{ResourceID: 2, Name: "PC02", Properties: map[string]any{"AgentTime": []time.Time{time.Unix(1, 0).UTC()}}}
	check := func(how string, e *Engine) {
		t.Helper()
		for _, want := range []*Device{ints, times} {
			got, _ := e.Device(want.ResourceID)
			for name, v := range want.Properties {
				if fmt.Sprint(got.Properties[name]) != fmt.Sprint(v) {
					t.Errorf("%s: device %d %s = %v, want %v", how, want.ResourceID, name, got.Properties[name], v)
				}
			}
		}
	}
	one := NewEngine(s)
	for _, d := range []*Device{ints, times} {
		if _, err := one.PutDevice(d, evalNow); err != nil {
			t.Fatal(err)
		}
	}
	check("PutDevice", one)
	loaded := NewEngine(s)
	res, err := loaded.PutEncodedDevices([][]byte{craft(ints, s), craft(times, s)}, evalNow, nil)
	if err != nil || res.Errs[0] != nil || res.Errs[1] != nil {
		t.Fatal(err, res.Errs)
	}
	check("PutEncodedDevices", loaded)
}
