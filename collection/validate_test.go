package collection

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
	"github.com/consign/consign/schedule"
)

func TestDefaultSchema(t *testing.T) {
	s := DefaultSchema()
	if c, _ := s.ClassIndex(SystemClass); c != 0 {
		t.Fatalf("SMS_R_System is class %d", c)
	}
	for c := range s.NumClasses() {
		cl := s.Class(c)
		i, ok := s.PropertyIndex(c, "ResourceID")
		if !ok || cl.Properties[i].Type != wql.Integer {
			t.Errorf("%s has no Integer ResourceID", cl.Name)
		}
	}
	for _, f := range deviceFields {
		i, ok := s.PropertyIndex(0, f.Name)
		if !ok || s.Class(0).Properties[i] != f.Property {
			t.Errorf("Device field %s does not match SMS_R_System", f.Name)
		}
	}
	for _, q := range queryPool {
		if _, err := wql.Compile(q, s); err != nil {
			t.Errorf("Compile(%s): %v", q, err)
		}
	}
}

func TestNewSchema(t *testing.T) {
	s, err := NewSchema(
		wql.Class{Name: "SMS_R_System", Properties: []wql.Property{{Name: "extensionAttribute1", Type: wql.String}}},
		wql.Class{Name: "sms_g_system_logical_disk", Properties: []wql.Property{{Name: "QuotasDisabled", Type: wql.Integer}, {Name: "FreeSpace", Type: wql.Integer}}},
		wql.Class{Name: "SMS_G_System_CONTOSO_ASSET", Properties: []wql.Property{{Name: "ResourceID", Type: wql.Integer}, {Name: "AssetTag", Type: wql.String}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`select * from SMS_R_System where extensionAttribute1 = "Kiosk"`,
		`select * from SMS_R_System inner join SMS_G_System_LOGICAL_DISK on SMS_G_System_LOGICAL_DISK.ResourceID = SMS_R_System.ResourceId where SMS_G_System_LOGICAL_DISK.QuotasDisabled = 1`,
		`select * from SMS_R_System inner join SMS_G_System_CONTOSO_ASSET on SMS_G_System_CONTOSO_ASSET.ResourceID = SMS_R_System.ResourceId where SMS_G_System_CONTOSO_ASSET.AssetTag like "A1%"`,
	} {
		if _, err := wql.Compile(q, s); err != nil {
			t.Errorf("Compile(%s): %v", q, err)
		}
	}
	_, err = NewSchema(
		wql.Class{Name: "SMS_G_System_LOGICAL_DISK", Properties: []wql.Property{{Name: "FreeSpace", Type: wql.String}}},
		wql.Class{Name: "SMS_G_System_SYSTEM", Properties: []wql.Property{{Name: "DomainRole", Type: wql.Integer, Array: true}}},
	)
	want := []string{`Schema.Classes["SMS_G_System_LOGICAL_DISK"].Properties["FreeSpace"]`, `Schema.Classes["SMS_G_System_SYSTEM"].Properties["DomainRole"]`}
	if got := fields(err); !slices.Equal(got, want) {
		t.Errorf("NewSchema conflicts: fields %v, want %v", got, want)
	}
}

func TestDeviceValidate(t *testing.T) {
	s := DefaultSchema()
	ok := func() *Device {
		return &Device{ResourceID: 16777220, Name: "PC01", Client: true, Inventory: map[string][]Instance{
			"SMS_G_System_LOGICAL_DISK": {{"DeviceID": "C:"}, {"DeviceID": "D:"}, {"DeviceID": "E:", "FreeSpace": 1200}},
		}}
	}
	if err := ok().Validate(s); err != nil {
		t.Fatalf("valid device: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(d *Device)
		want   []string
	}{
		{"no id and name", func(d *Device) { d.ResourceID, d.Name = 0, "" }, []string{"Device.Name", "Device.ResourceID"}},
		{"field in Properties", func(d *Device) { d.Properties = map[string]any{"name": "X"} }, []string{`Device.Properties["name"]`}},
		{"unknown property", func(d *Device) { d.Properties = map[string]any{"Colour": "red"} }, []string{`Device.Properties["Colour"]`}},
		{"wrong type", func(d *Device) { d.Properties = map[string]any{"ClientVersion": 4} }, []string{`Device.Properties["ClientVersion"]`}},
		{"twice", func(d *Device) { d.Properties = map[string]any{"CPUType": "x86", "cputype": "x86"} }, []string{`Device.Properties["cputype"]`}},
		{"unknown class", func(d *Device) { d.Inventory["SMS_G_System_NOPE"] = nil }, []string{`Device.Inventory["SMS_G_System_NOPE"]`}},
		{"discovery class", func(d *Device) { d.Inventory["SMS_R_System"] = []Instance{{}} }, []string{`Device.Inventory["SMS_R_System"]`}},
		{"inventory type", func(d *Device) { d.Inventory["SMS_G_System_LOGICAL_DISK"][2]["FreeSpace"] = "lots" },
			[]string{`Device.Inventory["SMS_G_System_LOGICAL_DISK"][2].FreeSpace`}},
		{"inventory property", func(d *Device) { d.Inventory["SMS_G_System_LOGICAL_DISK"][0]["Colour"] = "red" },
			[]string{`Device.Inventory["SMS_G_System_LOGICAL_DISK"][0].Colour`}},
		{"other resource", func(d *Device) { d.Inventory["SMS_G_System_LOGICAL_DISK"][1]["ResourceID"] = 7 },
			[]string{`Device.Inventory["SMS_G_System_LOGICAL_DISK"][1].ResourceID`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := ok()
			tc.change(d)
			err := d.Validate(s)
			if !errors.Is(err, consign.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if got := fields(err); !slices.Equal(got, tc.want) {
				t.Errorf("fields %v, want %v (%v)", got, tc.want, err)
			}
		})
	}
}

func TestDeviceClone(t *testing.T) {
	d := &Device{ResourceID: 1, Name: "PC01", SystemOUName: []string{"A"},
		Properties: map[string]any{"AgentName": []string{"Heartbeat Discovery"}},
		Inventory:  map[string][]Instance{"SMS_G_System_ADD_REMOVE_PROGRAMS": {{"DisplayName": "7-Zip"}}}}
	c := d.Clone()
	c.SystemOUName[0] = "B"
	c.Properties["AgentName"].([]string)[0] = "X"
	c.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"][0]["DisplayName"] = "Y"
	if d.SystemOUName[0] != "A" || d.Properties["AgentName"].([]string)[0] != "Heartbeat Discovery" ||
		d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"][0]["DisplayName"] != "7-Zip" {
		t.Errorf("changing the clone changed the original: %+v", d)
	}
}

// window returns an enabled general window of the given token.
func window(id string, tok schedule.Token) ServiceWindow {
	return ServiceWindow{ID: id, Name: "Window " + id, Enabled: true, Schedule: tok, Type: WindowGeneral}
}

// daily returns a token that opens every day at start's time of day, for d.
func daily(start time.Time, d time.Duration, gmt bool) schedule.Token {
	day := 24 * time.Hour
	return schedule.Token{Type: schedule.Interval, Start: start, IsGMT: gmt, DaySpan: 1,
		DayDuration: int(d / day), HourDuration: int(d % day / time.Hour), MinuteDuration: int(d % time.Hour / time.Minute)}
}

func TestCollectionValidate(t *testing.T) {
	s := DefaultSchema()
	start := time.Date(2011, 3, 1, 0, 0, 0, 0, time.UTC)
	ok := func() *Collection {
		c := NewCollection("CEN00012", "XP workstations", start)
		c.DirectRules = []DirectRule{{RuleName: "PC01", ResourceID: 16777220}}
		c.QueryRules = []QueryRule{{RuleName: "XP", Query: queryPool[2], LimitToCollectionID: AllSystemsID}}
		c.ServiceWindows = []ServiceWindow{window("{A}", daily(start.Add(time.Hour), 2*time.Hour, false))}
		return c
	}
	if err := ok().Validate(s); err != nil {
		t.Fatalf("valid collection: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(c *Collection)
		want   []string
	}{
		{"id", func(c *Collection) { c.ID = "CEN0012" }, []string{"Collection.ID"}},
		{"name", func(c *Collection) { c.Name = "" }, []string{"Collection.Name"}},
		{"long name and comment", func(c *Collection) {
			c.Name, c.Comment = strings.Repeat("n", MaxNameLength+1), strings.Repeat("c", MaxCommentLength+1)
		}, []string{"Collection.Comment", "Collection.Name"}},
		{"site", func(c *Collection) { c.SourceSite = "CENTRAL" }, []string{"Collection.SourceSite"}},
		{"duplicate rule names", func(c *Collection) { c.QueryRules[0].RuleName = "pc01" }, []string{`Collection.QueryRules["pc01"].RuleName`}},
		{"direct rule", func(c *Collection) {
			c.DirectRules = append(c.DirectRules, DirectRule{RuleName: "again", ResourceID: 16777220}, DirectRule{ResourceID: 0})
		}, []string{`Collection.DirectRules["again"].ResourceID`, `Collection.DirectRules[2].ResourceID`, `Collection.DirectRules[2].RuleName`}},
		{"limit to itself", func(c *Collection) { c.QueryRules[0].LimitToCollectionID = "CEN00012" }, []string{`Collection.QueryRules["XP"].LimitToCollectionID`}},
		{"limit form", func(c *Collection) { c.QueryRules[0].LimitToCollectionID = "All Systems" }, []string{`Collection.QueryRules["XP"].LimitToCollectionID`}},
		{"refresh type", func(c *Collection) { c.RefreshType = 4 }, []string{"Collection.RefreshType"}},
		{"periodic without schedule", func(c *Collection) { c.RefreshSchedule = nil }, []string{"Collection.RefreshSchedule"}},
		{"bad token", func(c *Collection) { c.RefreshSchedule[0].HourDuration = 24 }, []string{"Collection.RefreshSchedule[0].HourDuration"}},
		{"window too long", func(c *Collection) { c.ServiceWindows[0].Schedule.DayDuration = 1 }, []string{"Collection.ServiceWindows[0].Schedule"}},
		{"window without duration", func(c *Collection) { c.ServiceWindows[0].Schedule.HourDuration = 0 }, []string{"Collection.ServiceWindows[0].Schedule"}},
		{"window type and id", func(c *Collection) {
			c.ServiceWindows = append(c.ServiceWindows, c.ServiceWindows[0])
			c.ServiceWindows[1].Type = 2
		}, []string{"Collection.ServiceWindows[1].ID", "Collection.ServiceWindows[1].Type"}},
		{"too many windows", func(c *Collection) {
			for i := range MaxServiceWindows {
				w := c.ServiceWindows[0]
				w.ID = string(rune('a'+i%26)) + strings.Repeat("x", i/26)
				c.ServiceWindows = append(c.ServiceWindows, w)
			}
		}, []string{"Collection.ServiceWindows"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.change(c)
			err := c.Validate(s)
			if !errors.Is(err, consign.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if got := fields(err); !slices.Equal(got, tc.want) {
				t.Errorf("fields %v, want %v (%v)", got, tc.want, err)
			}
		})
	}
}

func TestCollectionValidateWrapsSyntaxError(t *testing.T) {
	c := NewCollection("CEN00012", "Broken", time.Date(2011, 3, 1, 0, 0, 0, 0, time.UTC))
	c.QueryRules = []QueryRule{
		{RuleName: "Typo", Query: `select * from SMS_R_System where SMS_R_System.Nmae = "PC01"`},
		{RuleName: "Fine", Query: queryPool[0]},
		{RuleName: "", Query: `select * form SMS_R_System`},
	}
	err := c.Validate(DefaultSchema())
	var se *wql.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("errors.As(%v) finds no *wql.SyntaxError", err)
	}
	want := []string{`Collection.QueryRules["Typo"].Query`, "Collection.QueryRules[2].Query", "Collection.QueryRules[2].RuleName"}
	if got := fields(err); !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	if !strings.Contains(err.Error(), "Nmae") {
		t.Errorf("error %q does not show the syntax error", err)
	}
}

func TestServiceWindowValidate(t *testing.T) {
	start := time.Date(2011, 3, 1, 1, 0, 0, 0, time.UTC)
	if err := window("{A}", daily(start, 23*time.Hour+59*time.Minute, true)).Validate(); err != nil {
		t.Errorf("23:59 window: %v", err)
	}
	w := window("", daily(start, 24*time.Hour, true))
	w.Name = ""
	want := []string{"ServiceWindow.ID", "ServiceWindow.Name", "ServiceWindow.Schedule"}
	if got := fields(w.Validate()); !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
}
