package wql

import (
	"fmt"
	"testing"
)

// testSchema is a small ConfigMgr-like schema.
func testSchema(tb testing.TB) *Schema {
	tb.Helper()
	s, err := NewSchema(testClasses()...)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func testClasses() []Class {
	str := func(n string) Property { return Property{Name: n, Type: String} }
	num := func(n string) Property { return Property{Name: n, Type: Integer} }
	tm := func(n string) Property { return Property{Name: n, Type: DateTime} }
	arr := func(n string) Property { return Property{Name: n, Type: String, Array: true} }
	rid := Property{Name: "ResourceID", Type: Integer}
	arp := []Property{rid, str("DisplayName"), str("Version"), str("Publisher"), str("InstallDate")}
	return []Class{
		{Name: "SMS_R_System", Properties: []Property{
			{Name: "ResourceId", Type: Integer}, str("Name"), str("NetbiosName"), str("OperatingSystemNameandVersion"),
			num("Client"), num("Obsolete"), num("Active"), str("ResourceDomainORWorkgroup"),
			arr("SystemOUName"), arr("SystemGroupName"), arr("IPAddresses"), arr("IPSubnets"),
			str("ADSiteName"), str("LastLogonUserName"), tm("LastLogonTimestamp"), {Name: "Decommissioned", Type: Boolean},
			num("ResourceType"), str("SMSUniqueIdentifier"),
		}},
		{Name: "SMS_G_System_OPERATING_SYSTEM", Properties: []Property{rid, str("Caption"), str("Version"),
			str("BuildNumber"), str("CSDVersion"), tm("InstallDate"), tm("LastBootUpTime")}},
		{Name: "SMS_G_System_COMPUTER_SYSTEM", Properties: []Property{rid, str("Manufacturer"), str("Model"),
			str("Name"), num("NumberOfProcessors")}},
		{Name: "SMS_G_System_ADD_REMOVE_PROGRAMS", Properties: arp},
		{Name: "SMS_G_System_ADD_REMOVE_PROGRAMS_64", Properties: arp},
		{Name: "SMS_G_System_LOGICAL_DISK", Properties: []Property{rid, str("DeviceID"), num("FreeSpace"),
			num("Size"), num("DriveType")}},
		{Name: "SMS_G_System_WORKSTATION_STATUS", Properties: []Property{rid, tm("LastHardwareScan")}},
	}
}

// device is a Resource built from property maps.
type device struct {
	id   int64
	rows [][]Row
}

func (d *device) Rows(c int) []Row {
	if c < len(d.rows) {
		return d.rows[c]
	}
	return nil
}

// fataler is what newDevice needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// newDevice builds a device: sys holds SMS_R_System's properties, inv maps an
// inventory class name to its rows. ResourceID is filled in everywhere.
func newDevice(tb fataler, s *Schema, id int64, sys map[string]any, inv map[string][]map[string]any) *device {
	tb.Helper()
	d := &device{id: id, rows: make([][]Row, s.NumClasses())}
	row := func(c int, props map[string]any) Row {
		cl := s.Class(c)
		r := make(Row, len(cl.Properties))
		for name, x := range props {
			i, ok := s.PropertyIndex(c, name)
			if !ok {
				tb.Fatalf("no property %s.%s", cl.Name, name)
			}
			v, err := ValueOf(x, cl.Properties[i].Type, cl.Properties[i].Array)
			if err != nil {
				tb.Fatalf("%s.%s: %v", cl.Name, name, err)
			}
			r[i] = v
		}
		i, _ := s.PropertyIndex(c, ResourceID)
		r[i] = Int(id)
		return r
	}
	d.rows[0] = []Row{row(0, sys)}
	for name, rows := range inv {
		c, ok := s.ClassIndex(name)
		if !ok {
			tb.Fatalf("no class %s", name)
		}
		for _, props := range rows {
			d.rows[c] = append(d.rows[c], row(c, props))
		}
	}
	return d
}

func (d *device) String() string { return fmt.Sprint("device ", d.id) }

// resources iterates devs as Prepare's population.
func resources[R Resource](devs []R) func(yield func(Resource) bool) {
	return func(yield func(Resource) bool) {
		for _, d := range devs {
			if !yield(d) {
				return
			}
		}
	}
}
