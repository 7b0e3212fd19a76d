package delivery_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection"
)

// A device's free-form properties and inventory come back from the store
// with the Go types the schema declares, not as JSON's numbers and strings.
func TestDeviceRoundTripsThroughTheStore(t *testing.T) {
	e := newEnv(t)
	logon := time.Date(2026, 11, 30, 17, 4, 5, 0, time.UTC)
	d := device(7, "PC07", win7, "CONTOSO.COM/WORKSTATIONS")
	d.TimeZone = "Europe/Berlin"
	d.Properties = map[string]any{"LastLogonTimestamp": logon, "AgentName": []string{"Heartbeat Discovery", "SMS_AD_SYSTEM_DISCOVERY_AGENT"}}
	d.Inventory["SMS_G_System_LOGICAL_DISK"] = []collection.Instance{
		{"DeviceID": "C:", "FreeSpace": int64(120_000), "Size": int64(250_000)},
		{"DeviceID": "D:", "FreeSpace": int64(5), "Size": int64(10)},
	}
	d.Inventory["SMS_G_System_OPERATING_SYSTEM"] = []collection.Instance{{"Caption": "Windows 7", "InstallDate": logon.Add(-time.Hour)}}
	if err := e.site.PutDevices(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	got := must(e.open().Device(7))
	if !reflect.DeepEqual(got, d) {
		t.Errorf("device after reopen differs:\n got %#v\nwant %#v", got, d)
	}
}

func TestPutDevicesValidatesTheWholeBatch(t *testing.T) {
	e := newEnv(t)
	bad := device(2, "PC02", win7, "X")
	bad.Inventory["SMS_G_System_LOGICAL_DISK"] = []collection.Instance{{"FreeSpace": "lots"}}
	err := e.site.PutDevices(e.ctx, device(1, "PC01", win7, "X"), bad, device(1, "PC01", xp, "X"))
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if !containsField(err, "devices[2].ResourceID") {
		t.Errorf("duplicate ResourceID not named: %v", err)
	}
	found := false
	for _, ve := range validationErrors(err) {
		if len(ve.Field) > len("devices[1].") && ve.Field[:len("devices[1].")] == "devices[1]." {
			found = true
		}
	}
	if !found {
		t.Errorf("the wrongly typed FreeSpace of devices[1] is not named: %v", err)
	}
	if _, err := e.site.Device(1); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("a rejected batch wrote device 1: %v", err)
	}
}

// Registration hands a new device the next ResourceID and a returning one
// (same SMSUniqueIdentifier) its own, across a reopen; it validates like
// PutDevices and writes nothing when refused.
func TestRegisterDevice(t *testing.T) {
	e := newEnv(t)
	e.seed() // devices 1–6, no SMSUniqueIdentifier
	reg := func(uid, name string) (uint32, error) {
		d := device(0, name, win7, "CONTOSO.COM/WORKSTATIONS")
		d.SMSUniqueIdentifier = uid
		return e.site.RegisterDevice(e.ctx, d)
	}
	a := must(reg("GUID:A", "PCA"))
	b := must(reg("GUID:B", "PCB"))
	if a != 0x01000000 || b != a+1 {
		t.Fatalf("new devices got %d and %d, want %d and %d", a, b, 0x01000000, 0x01000001)
	}
	e.site.Close()
	e.site = e.open()
	if again := must(reg("GUID:A", "PCA-renamed")); again != a {
		t.Errorf("a returning device got %d, want its own %d", again, a)
	}
	if d := must(e.site.Device(a)); d.Name != "PCA-renamed" {
		t.Errorf("discovery data not replaced: %q", d.Name)
	}
	if c := must(reg("GUID:C", "PCC")); c != b+1 {
		t.Errorf("after reopen a new device got %d, want %d", c, b+1)
	}
	if _, err := reg("", "PCX"); !containsField(err, "device.SMSUniqueIdentifier") {
		t.Errorf("a device without SMSUniqueIdentifier: %v", err)
	}
	bad := device(0, "PCY", win7, "X")
	bad.SMSUniqueIdentifier = "GUID:Y"
	bad.Inventory["NO_SUCH_CLASS"] = []collection.Instance{{"X": "y"}}
	if _, err := e.site.RegisterDevice(e.ctx, bad); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("an invalid device: %v", err)
	}
	if c := must(reg("GUID:D", "PCD")); c != b+2 {
		t.Errorf("a refused registration used up ResourceID %d", b+2)
	}
}
