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
