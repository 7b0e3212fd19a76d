package httpmp

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
)

// A device's inventory survives the wire: typed Go values, encoded as JSON
// by the Client and decoded and coerced by the Server, come back with the
// same types and values, and the result validates against the schema.
func TestCoerceDeviceProperty(t *testing.T) {
	schema := collection.DefaultSchema()
	class, _ := schema.ClassIndex("SMS_G_System_OPERATING_SYSTEM")
	props := schema.Class(class).Properties
	rapid.Check(t, func(t *rapid.T) {
		row := collection.Instance{}
		for _, p := range props {
			if p.Name == wql.ResourceID || !rapid.Bool().Draw(t, "has "+p.Name) {
				continue
			}
			switch p.Type {
			case wql.String:
				row[p.Name] = rapid.String().Draw(t, p.Name)
			case wql.Integer:
				row[p.Name] = rapid.Int64().Draw(t, p.Name)
			case wql.DateTime:
				row[p.Name] = time.Unix(rapid.Int64Range(-1e10, 1e11).Draw(t, p.Name), rapid.Int64Range(0, 999999999).Draw(t, "ns")).UTC()
			case wql.Boolean:
				row[p.Name] = rapid.Bool().Draw(t, p.Name)
			}
		}
		d := &collection.Device{ResourceID: 7, Name: "PC", Inventory: map[string][]collection.Instance{"SMS_G_System_OPERATING_SYSTEM": {row}},
			Properties: map[string]any{"MACAddresses": []string{"a", "b"}, "Decommissioned": int64(rapid.IntRange(0, 1).Draw(t, "dec"))}}
		b, err := json.Marshal(InventoryUpload{Device: d})
		if err != nil {
			t.Fatal(err)
		}
		var got InventoryUpload
		if err := decodeJSON(bytes.NewReader(b), &got); err != nil {
			t.Fatal(err)
		}
		coerceDevice(got.Device, schema)
		if err := got.Device.Validate(schema); err != nil {
			t.Fatalf("coerced device does not validate: %v", err)
		}
		back := got.Device.Inventory["SMS_G_System_OPERATING_SYSTEM"][0]
		for name, want := range row {
			switch w := want.(type) {
			case time.Time:
				if g, ok := back[name].(time.Time); !ok || !g.Equal(w) {
					t.Fatalf("%s: %#v, want %v", name, back[name], w)
				}
			default:
				if back[name] != want {
					t.Fatalf("%s: %#v, want %#v", name, back[name], want)
				}
			}
		}
		if macs, ok := got.Device.Properties["MACAddresses"].([]string); !ok || len(macs) != 2 {
			t.Fatalf("MACAddresses: %#v", got.Device.Properties["MACAddresses"])
		}
	})
}

// Values of the wrong type are left for the Site's validation to name.
func TestCoerceWrongTypes(t *testing.T) {
	schema := collection.DefaultSchema()
	var up InventoryUpload
	body := `{"device":{"ResourceID":7,"Name":"PC","Properties":{"Decommissioned":"yes","CreationDate":"not a time","AgentTime":["2009-02-12T10:00:00Z",3],"NoSuch":1.5},
		"Inventory":{"SMS_G_System_COMPUTER_SYSTEM":[{"NumberOfProcessors":2.5}],"NoClass":[{"x":1}]}}}`
	if err := decodeJSON(bytes.NewReader([]byte(body)), &up); err != nil {
		t.Fatal(err)
	}
	coerceDevice(up.Device, schema)
	err := up.Device.Validate(schema)
	for _, f := range []string{`Properties["Decommissioned"]`, `Properties["CreationDate"]`, `Properties["AgentTime"]`, `Properties["NoSuch"]`,
		`Inventory["SMS_G_System_COMPUTER_SYSTEM"][0].NumberOfProcessors`, `Inventory["NoClass"]`} {
		found := false
		for _, ve := range validationErrors(err) {
			if ve.Field == "Device."+f {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem named Device.%s in %v", f, err)
		}
	}
	if _, ok := up.Device.Properties["NoSuch"].(float64); !ok {
		t.Errorf("an untyped number is left a float64: %#v", up.Device.Properties["NoSuch"])
	}
}

// Epochs: a policy envelope is served only within the epoch it was signed
// in, which always ends less than half the TTL after the signing, so the
// envelope a device is told to keep has at least half its TTL left; and
// epochs never go back in time.
func TestEpochProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ttl := time.Duration(rapid.Int64Range(int64(time.Second), int64(30*24*time.Hour)).Draw(t, "ttl"))
		s := &Server{opts: Options{PolicyTTL: ttl}}
		rid := rapid.Uint32().Draw(t, "rid")
		signed := time.Unix(0, rapid.Int64Range(0, 4e18).Draw(t, "signed"))
		later := signed.Add(time.Duration(rapid.Int64Range(0, int64(2*ttl)).Draw(t, "later")))
		e1, e2 := s.epoch(rid, signed), s.epoch(rid, later)
		if e2 < e1 {
			t.Fatalf("epoch went back: %d then %d", e1, e2)
		}
		if e1 == e2 && later.Sub(signed) >= ttl/2 {
			t.Fatalf("same epoch %v after signing (TTL %v): the envelope would have less than half its TTL left", later.Sub(signed), ttl)
		}
	})
}
