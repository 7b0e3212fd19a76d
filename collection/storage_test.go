package collection_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
	"github.com/consign/consign/internal/fleet"
)

// The storage form is what stores hold: a device encoded today must be the
// bytes the format has always had (these were made by the delivery codec
// the format comes from), and decode to the same device.
func TestStorageFormatIsStable(t *testing.T) {
	s := collection.DefaultSchema()
	d := &collection.Device{
		ResourceID: 16777220, Name: "BER-PC01", OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 5.1",
		Client: true, Active: true, IPSubnets: []string{"10.1.0.0"}, TimeZone: "Europe/Berlin",
		Properties: map[string]any{"ClientVersion": "4.00.6487.2000", "AgentTime": []time.Time{time.Date(2011, 3, 1, 8, 0, 0, 500, time.UTC)}},
		Inventory: map[string][]collection.Instance{
			"SMS_G_System_LOGICAL_DISK":        {{"DeviceID": "C:", "FreeSpace": -3}, {}},
			"SMS_G_System_ADD_REMOVE_PROGRAMS": {{"DisplayName": "7-Zip 9.20"}},
		},
	}
	const want = "0184808008084245522d504330310000244d6963726f736f66742057696e646f7773204e5420576f726b73746174696f6e20352e3100" +
		"00000d4575726f70652f4265726c696e05000000010831302e312e302e3002094167656e7454696d650601058080c7ede5d9ce040d436c69656e74" +
		"56657273696f6e010e342e30302e363438372e323030300220534d535f475f53797374656d5f4144445f52454d4f56455f50524f4752414d530101" +
		"0b446973706c61794e616d65010a372d5a697020392e323019534d535f475f53797374656d5f4c4f474943414c5f4449534b0202084465766963" +
		"6549440102433a09467265655370616365020500"
	b, err := collection.EncodeDevice(d, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("storage form changed:\n got %s\nwant %s", got, want)
	}
	back, err := collection.DecodeDevice(b, s)
	if err != nil {
		t.Fatal(err)
	}
	wantBack := &collection.Device{
		ResourceID: 16777220, Name: "BER-PC01", OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 5.1",
		Client: true, Active: true, IPSubnets: []string{"10.1.0.0"}, TimeZone: "Europe/Berlin",
		Properties: map[string]any{"ClientVersion": "4.00.6487.2000", "AgentTime": []any{time.Date(2011, 3, 1, 8, 0, 0, 0, time.UTC)}},
		Inventory: map[string][]collection.Instance{
			"SMS_G_System_LOGICAL_DISK":        {{"DeviceID": "C:", "FreeSpace": int64(-3)}, nil},
			"SMS_G_System_ADD_REMOVE_PROGRAMS": {{"DisplayName": "7-Zip 9.20"}},
		},
	}
	if !reflect.DeepEqual(back, wantBack) {
		t.Fatalf("decoded\n%#v\nwant\n%#v", back, wantBack)
	}
}

// Fleet devices round-trip through the storage form, and their encoding
// is stable; every truncation of a record is an ErrInvalid error, never a
// panic or a wrong device; DecodeDeviceFields gives DecodeDevice's fields.
func TestStorageRoundTrip(t *testing.T) {
	s := collection.DefaultSchema()
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 200 {
		d := fleet.Device(rng, i)
		data, err := collection.EncodeDevice(d, s)
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		back, err := collection.DecodeDevice(data, s)
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		again, err := collection.EncodeDevice(back, s)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("device %d: encoding is not stable (%v)", i, err)
		}
		fixed := func(d *collection.Device) *collection.Device {
			c := *d
			c.Properties, c.Inventory = nil, nil
			return &c
		}
		if !reflect.DeepEqual(fixed(back), fixed(d)) {
			t.Fatalf("device %d: discovery fields differ:\n%+v\n%+v", i, fixed(back), fixed(d))
		}
		if len(back.Inventory) != len(d.Inventory) || len(back.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"]) != len(d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"]) {
			t.Fatalf("device %d: inventory differs", i)
		}
		if err := back.Validate(s); err != nil {
			t.Fatalf("device %d: decoded device invalid: %v", i, err)
		}
		fields, err := collection.DecodeDeviceFields(data)
		if err != nil || !reflect.DeepEqual(fields, fixed(back)) {
			t.Fatalf("device %d: DecodeDeviceFields = %+v, %v", i, fields, err)
		}
		if i < 2 {
			for n := range len(data) {
				_, err := collection.DecodeDevice(data[:n], s)
				if err == nil || !errors.Is(err, consign.ErrInvalid) {
					t.Fatalf("device %d: a record cut to %d of %d bytes: %v", i, n, len(data), err)
				}
			}
		}
	}
	for _, bad := range [][]byte{[]byte("{\"ResourceID\":1}"), nil, {1}} {
		if _, err := collection.DecodeDevice(bad, s); !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("DecodeDevice(%q) = %v, want ErrInvalid", bad, err)
		}
		if _, err := collection.DecodeDeviceFields(bad); !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("DecodeDeviceFields(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// EncodeDevice names every field it cannot store, with ErrInvalid.
func TestEncodeDeviceErrors(t *testing.T) {
	s := collection.DefaultSchema()
	d := &collection.Device{ResourceID: 1, Name: "PC01",
		Properties: map[string]any{"NoSuchProperty": "x", "ClientVersion": 4},
		Inventory: map[string][]collection.Instance{
			"NoSuchClass":                   {{}},
			"SMS_G_System_COMPUTER_SYSTEM":  {{"Model": []string{"a"}}},
			"SMS_G_System_OPERATING_SYSTEM": {{"Caption": "XP"}}, // fine
		}}
	_, err := collection.EncodeDevice(d, s)
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("EncodeDevice = %v, want ErrInvalid", err)
	}
	var got []string
	for _, f := range []string{`Device.Properties["NoSuchProperty"]`, `Device.Properties["ClientVersion"]`,
		`Device.Inventory["NoSuchClass"]`, `Device.Inventory["SMS_G_System_COMPUTER_SYSTEM"][0]["Model"]`} {
		if !bytes.Contains([]byte(err.Error()), []byte(f)) {
			got = append(got, f)
		}
	}
	if len(got) > 0 {
		t.Fatalf("EncodeDevice error %q does not name %v", err, got)
	}
	if _, err := collection.EncodeDevice(&collection.Device{ResourceID: 1}, s); !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("a device without a Name encoded: %v", err)
	}
}

// A site's load: fleet devices and the fleet's queries, put one by one and
// by PutEncodedDevices on two goroutines in small batches and chunks, give
// the same memberships and devices.
func TestPutEncodedDevicesFleet(t *testing.T) {
	n := 800
	if testing.Short() {
		n = 400
	}
	s := collection.DefaultSchema()
	recs := storedFleet(t, n)
	cols := fleetCollections(fleet.Queries(100))
	ref, got := collection.NewEngine(s), collection.NewEngine(s)
	got.SetParallel(2, goParallel)
	collection.SetLoadSizes(got, 128, 2)
	for _, c := range cols[:50] { // half the collections before the devices
		if _, err := ref.PutCollection(c, fleet.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	if errs := got.LoadCollections(cols[:50], fleet.Epoch); slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		t.Fatal(errs)
	}
	for _, b := range recs {
		d, err := collection.DecodeDevice(b, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ref.PutDevice(d, fleet.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	fields := make([]*collection.Device, n)
	versions := make([]string, n)
	res, err := got.PutEncodedDevices(recs, fleet.Epoch, &collection.LoadOptions{NoDelta: true,
		Values: []string{"SMS_G_System_OPERATING_SYSTEM.Version", "SMS_G_System_COMPUTER_SYSTEM.SystemType"},
		Fields: func(i int, d *collection.Device, v []wql.Value) {
			fields[i], versions[i] = d.Clone(), v[0].String()
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range res.Errs {
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	for _, c := range cols[50:] {
		if _, err := ref.PutCollection(c, fleet.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	if errs := got.LoadCollections(cols[50:], fleet.Epoch); slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		t.Fatal(errs)
	}
	for _, c := range ref.Collections() {
		if g, r := got.Members(c.ID), ref.Members(c.ID); !slices.Equal(g, r) {
			t.Fatalf("%s (%s): %d members, one by one %d", c.ID, c.QueryRules[0].Query, len(g), len(r))
		}
	}
	for i := 0; i < n; i += 7 {
		rid := 16777216 + uint32(i)
		dg, _ := got.Device(rid)
		dr, _ := ref.Device(rid)
		if !reflect.DeepEqual(dg, dr) {
			t.Fatalf("Device(%d) differs:\n%+v\n%+v", rid, dg, dr)
		}
		if g, r := got.CollectionsOf(rid), ref.CollectionsOf(rid); !slices.Equal(g, r) {
			t.Fatalf("CollectionsOf(%d) = %v, one by one %v", rid, g, r)
		}
		if f := fields[i]; f.ResourceID != rid || f.Name != dr.Name || !slices.Equal(f.IPSubnets, dr.IPSubnets) {
			t.Fatalf("fields of %d: %+v", rid, f)
		}
		if v := versions[i]; v != dr.Inventory["SMS_G_System_OPERATING_SYSTEM"][0]["Version"] {
			t.Fatalf("Version of %d: %v", rid, v)
		}
	}
}
