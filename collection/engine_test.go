package collection

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"pgregory.net/rapid"
)

var evalNow = time.Date(2011, 3, 15, 12, 0, 0, 0, time.UTC)

// fleet returns a small site's devices, as discovery and hardware and
// software inventory would report them.
func fleet() []*Device {
	arp := func(names ...string) []Instance {
		var out []Instance
		for _, n := range names {
			out = append(out, Instance{"DisplayName": n, "Publisher": strings.Fields(n)[0], "Version": "1.0"})
		}
		return out
	}
	disk := func(free int) []Instance {
		return []Instance{{"DeviceID": "C:", "DriveType": 3, "FileSystem": "NTFS", "FreeSpace": free, "Size": 76293}}
	}
	os := func(caption, csd string, boot time.Time) []Instance {
		return []Instance{{"Caption": caption, "CSDVersion": csd, "LastBootUpTime": boot}}
	}
	return []*Device{
		{ResourceID: 16777220, Name: "BER-PC01", NetbiosName: "BER-PC01", Client: true, Active: true,
			OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 5.1", ResourceDomainORWorkgroup: "CONTOSO",
			SystemOUName: []string{"CONTOSO.COM/WORKSTATIONS", "CONTOSO.COM/WORKSTATIONS/BERLIN"},
			IPAddresses:  []string{"10.1.0.21"}, IPSubnets: []string{"10.1.0.0"}, ADSiteName: "Berlin", TimeZone: "Europe/Berlin",
			Properties: map[string]any{"ClientVersion": "4.00.6487.2000"},
			Inventory: map[string][]Instance{
				"SMS_G_System_ADD_REMOVE_PROGRAMS": arp("Microsoft Office Professional Edition 2003", "Adobe Reader 9.3", "7-Zip 4.65"),
				"SMS_G_System_LOGICAL_DISK":        disk(2100),
				"SMS_G_System_OPERATING_SYSTEM":    os("Microsoft Windows XP Professional", "Service Pack 2", evalNow.AddDate(0, 0, -40)),
				"SMS_G_System_COMPUTER_SYSTEM":     {{"Manufacturer": "Dell Inc.", "Model": "Latitude D620", "Name": "BER-PC01"}},
			}},
		{ResourceID: 16777221, Name: "BER-PC02", NetbiosName: "BER-PC02", Client: true, Active: true,
			OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.1", ResourceDomainORWorkgroup: "CONTOSO",
			SystemOUName: []string{"CONTOSO.COM/WORKSTATIONS", "CONTOSO.COM/WORKSTATIONS/BERLIN"},
			IPAddresses:  []string{"10.1.0.22"}, IPSubnets: []string{"10.1.0.0"}, ADSiteName: "Berlin",
			Properties: map[string]any{"ClientVersion": "4.00.6487.2000"},
			Inventory: map[string][]Instance{
				"SMS_G_System_ADD_REMOVE_PROGRAMS":    arp("Microsoft Office Professional Plus 2007", "Adobe Reader 9.3"),
				"SMS_G_System_ADD_REMOVE_PROGRAMS_64": arp("7-Zip 9.20 (x64 edition)"),
				"SMS_G_System_LOGICAL_DISK":           disk(40210),
				"SMS_G_System_OPERATING_SYSTEM":       os("Microsoft Windows 7 Enterprise", "", evalNow.AddDate(0, 0, -1)),
			}},
		{ResourceID: 16777222, Name: "NYC-PC07", NetbiosName: "NYC-PC07", Client: true, Active: true,
			OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 5.1", ResourceDomainORWorkgroup: "CONTOSO",
			SystemOUName: []string{"CONTOSO.COM/WORKSTATIONS", "CONTOSO.COM/WORKSTATIONS/NEWYORK"},
			IPAddresses:  []string{"10.2.0.7"}, IPSubnets: []string{"10.2.0.0"}, ADSiteName: "NewYork", TimeZone: "America/New_York",
			Properties: map[string]any{"ClientVersion": "4.00.6221.1000"},
			Inventory: map[string][]Instance{
				"SMS_G_System_ADD_REMOVE_PROGRAMS": arp("Microsoft Office Professional Edition 2003"),
				"SMS_G_System_LOGICAL_DISK":        disk(800),
				"SMS_G_System_OPERATING_SYSTEM":    os("Microsoft Windows XP Professional", "Service Pack 3", evalNow.AddDate(0, 0, -3)),
			}},
		{ResourceID: 16777223, Name: "NYC-SQL01", NetbiosName: "NYC-SQL01", Client: true, Active: true,
			OperatingSystemNameandVersion: "Microsoft Windows NT Server 5.2", ResourceDomainORWorkgroup: "CONTOSO",
			SystemOUName: []string{"CONTOSO.COM/SERVERS"}, Properties: map[string]any{"SystemRoles": []string{"SMS SQL Server"}},
			IPAddresses: []string{"10.2.10.5"}, IPSubnets: []string{"10.2.10.0"}, ADSiteName: "NewYork",
			Inventory: map[string][]Instance{
				"SMS_G_System_ADD_REMOVE_PROGRAMS": arp("Microsoft SQL Server 2005"),
				"SMS_G_System_LOGICAL_DISK":        disk(120000),
			}},
		// Discovered by AD System Discovery, no client yet; an obsolete
		// record of a re-imaged machine.
		{ResourceID: 16777224, Name: "BER-PC03", NetbiosName: "BER-PC03", OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 5.1",
			SystemOUName: []string{"CONTOSO.COM/WORKSTATIONS", "CONTOSO.COM/WORKSTATIONS/BERLIN"}, IPSubnets: []string{"10.1.0.0"}},
		{ResourceID: 16777225, Name: "BER-PC01", Client: true, Obsolete: true, OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 5.1",
			IPSubnets: []string{"10.1.0.0"}},
	}
}

// consoleQueries are queries as the console's query builder writes them,
// with the members they select from fleet().
var consoleQueries = []struct {
	name  string
	query string
	want  []uint32
}{
	{"XP workstations", `select SMS_R_SYSTEM.ResourceID,SMS_R_SYSTEM.ResourceType,SMS_R_SYSTEM.Name,SMS_R_SYSTEM.SMSUniqueIdentifier,SMS_R_SYSTEM.ResourceDomainORWorkgroup,SMS_R_SYSTEM.Client from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 5.1%"`,
		[]uint32{16777220, 16777222, 16777224, 16777225}},
	{"healthy clients", `select * from SMS_R_System where SMS_R_System.Client = 1 and SMS_R_System.Obsolete = 0`,
		[]uint32{16777220, 16777221, 16777222, 16777223}},
	{"Berlin OU", `select * from SMS_R_System where SMS_R_System.SystemOUName = "CONTOSO.COM/WORKSTATIONS/BERLIN"`,
		[]uint32{16777220, 16777221, 16777224}},
	{"New York subnets", `select * from SMS_R_System where SMS_R_System.IPSubnets in ("10.2.0.0","10.2.10.0")`,
		[]uint32{16777222, 16777223}},
	{"Office 2003", `select SMS_R_SYSTEM.ResourceID,SMS_R_SYSTEM.ResourceType,SMS_R_SYSTEM.Name from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "Microsoft Office Professional Edition 2003%"`,
		[]uint32{16777220, 16777222}},
	{"clients without Adobe Reader", `select * from SMS_R_System where SMS_R_System.Client = 1 and SMS_R_System.ResourceId not in (select SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "Adobe Reader%")`,
		[]uint32{16777222, 16777223, 16777225}},
	{"low disk space", `select * from SMS_R_System inner join SMS_G_System_LOGICAL_DISK on SMS_G_System_LOGICAL_DISK.ResourceId = SMS_R_System.ResourceId where SMS_G_System_LOGICAL_DISK.DeviceID = "C:" and SMS_G_System_LOGICAL_DISK.FreeSpace < 2048`,
		[]uint32{16777222}},
	{"64-bit 7-Zip", `select * from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS_64 on SMS_G_System_ADD_REMOVE_PROGRAMS_64.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS_64.DisplayName like "7-Zip%"`,
		[]uint32{16777221}},
	{"not restarted for 30 days", `select * from SMS_R_System inner join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId where DATEDIFF(dd, SMS_G_System_OPERATING_SYSTEM.LastBootUpTime, GETDATE()) > 30`,
		[]uint32{16777220}},
	{"no client", `select * from SMS_R_System where SMS_R_System.Client is null or SMS_R_System.Client = 0`,
		[]uint32{16777224}},
	{"duplicate records", `select * from SMS_R_System where SMS_R_System.Name in (select SMS_R_System.Name from SMS_R_System where SMS_R_System.Obsolete = 1)`,
		[]uint32{16777220, 16777225}},
	{"D620 on SP1 client", `select * from SMS_R_System inner join SMS_G_System_COMPUTER_SYSTEM on SMS_G_System_COMPUTER_SYSTEM.ResourceID = SMS_R_System.ResourceId where SMS_G_System_COMPUTER_SYSTEM.Model = "Latitude D620" and SMS_R_System.ClientVersion = "4.00.6487.2000"`,
		[]uint32{16777220}},
	{"no disk inventory", `select * from SMS_R_System left join SMS_G_System_LOGICAL_DISK on SMS_G_System_LOGICAL_DISK.ResourceID = SMS_R_System.ResourceId where SMS_G_System_LOGICAL_DISK.ResourceID is null`,
		[]uint32{16777224, 16777225}},
	{"SQL servers", `select * from SMS_R_System where SMS_R_System.SystemRoles = "SMS SQL Server"`,
		[]uint32{16777223}},
	{"no client, the console's query", `select * from SMS_R_System where SMS_R_System.Client is null`,
		[]uint32{16777224}},
}

// newFleetEngine returns an Engine holding fleet() and one collection per
// console query, CEN00001 onwards.
func newFleetEngine(t testing.TB) *Engine {
	e := NewEngine(nil)
	for _, d := range fleet() {
		if _, err := e.PutDevice(d, evalNow); err != nil {
			t.Fatalf("PutDevice(%s): %v", d.Name, err)
		}
	}
	for i, q := range consoleQueries {
		c := NewCollection(consign.NewObjectID("CEN", uint32(i+1)), q.name, evalNow)
		c.QueryRules = []QueryRule{{RuleName: q.name, Query: q.query}}
		if _, err := e.PutCollection(c, evalNow); err != nil {
			t.Fatalf("PutCollection(%s): %v", q.name, err)
		}
	}
	return e
}

func TestConsoleQueries(t *testing.T) {
	e := newFleetEngine(t)
	for i, q := range consoleQueries {
		if got := e.Members(consign.NewObjectID("CEN", uint32(i+1))); !slices.Equal(got, q.want) {
			t.Errorf("%s: members %v, want %v", q.name, got, q.want)
		}
	}
	if got, want := e.Members(AllSystemsID), []uint32{16777220, 16777221, 16777222, 16777223, 16777224, 16777225}; !slices.Equal(got, want) {
		t.Errorf("All Systems: %v, want %v", got, want)
	}
}

func TestDirectAndLimitedRules(t *testing.T) {
	e := newFleetEngine(t)
	// XP workstations (CEN00001) limited to the Berlin OU (CEN00003), plus
	// the SQL server pinned, plus a resource that does not exist.
	c := NewCollection("CEN00100", "Berlin XP and the SQL server", evalNow)
	c.QueryRules = []QueryRule{{RuleName: "XP", Query: consoleQueries[0].query, LimitToCollectionID: "CEN00003"}}
	c.DirectRules = []DirectRule{{RuleName: "NYC-SQL01", ResourceID: 16777223}, {RuleName: "gone", ResourceID: 999}}
	d, err := e.PutCollection(c, evalNow)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{16777220, 16777223, 16777224}
	if got := e.Members("CEN00100"); !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	wantDelta := []Change{{"CEN00100", 16777220, true}, {"CEN00100", 16777223, true}, {"CEN00100", 16777224, true}}
	if !slices.Equal(d.Changes, wantDelta) {
		t.Errorf("delta %v, want %v", d.Changes, wantDelta)
	}
	// The pinned resource appears: the direct rule takes effect.
	d, err = e.PutDevice(&Device{ResourceID: 999, Name: "LATE-PC"}, evalNow)
	if err != nil {
		t.Fatal(err)
	}
	if !e.IsMember("CEN00100", 999) || !slices.Contains(d.Changes, Change{"CEN00100", 999, true}) {
		t.Errorf("direct rule for a new device: delta %v", d.Changes)
	}
	// BER-PC03 moves out of the Berlin OU: it leaves the limiting collection
	// and so the limited one.
	pc03 := fleet()[4]
	pc03.SystemOUName = []string{"CONTOSO.COM/WORKSTATIONS"}
	d, err = e.PutDevice(pc03, evalNow)
	if err != nil {
		t.Fatal(err)
	}
	wantDelta = []Change{{"CEN00003", 16777224, false}, {"CEN00100", 16777224, false}}
	if !slices.Equal(d.Changes, wantDelta) {
		t.Errorf("OU move: delta %v, want %v", d.Changes, wantDelta)
	}
	// Healthy clients limited to Office 2003 (CEN00005): uninstalling Office
	// changes only software inventory, which the limited rule does not read;
	// the change reaches it through the limiting collection.
	c = NewCollection("CEN00101", "Healthy Office 2003 clients", evalNow)
	c.QueryRules = []QueryRule{{RuleName: "healthy", Query: consoleQueries[1].query, LimitToCollectionID: "CEN00005"}}
	if _, err := e.PutCollection(c, evalNow); err != nil {
		t.Fatal(err)
	}
	nyc := fleet()[2]
	nyc.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"] = nyc.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"][1:]
	if d, err = e.PutDevice(nyc, evalNow); err != nil {
		t.Fatal(err)
	}
	wantDelta = []Change{{"CEN00005", 16777222, false}, {"CEN00101", 16777222, false}}
	if !slices.Equal(d.Changes, wantDelta) {
		t.Errorf("uninstall: delta %v, want %v", d.Changes, wantDelta)
	}
	// Removing a device reports every collection it leaves; the global
	// "duplicate records" query re-evaluates the others.
	d = e.RemoveDevice(16777225)
	for _, ch := range d.Changes {
		if ch.Member || (ch.ResourceID != 16777225 && ch.ResourceID != 16777220) {
			t.Errorf("RemoveDevice: unexpected change %v", ch)
		}
	}
	if e.IsMember("CEN0000B", 16777220) || e.NumDevices() != 6 {
		t.Errorf("after removing the obsolete duplicate: duplicates %v, %d devices", e.Members("CEN0000B"), e.NumDevices())
	}
	if got := e.CollectionsOf(16777225); got != nil {
		t.Errorf("CollectionsOf(removed) = %v", got)
	}
	if got, want := e.CollectionsOf(16777223), []consign.ObjectID{"CEN00002", "CEN00004", "CEN00006", "CEN0000E", "CEN00100", AllSystemsID}; !slices.Equal(got, want) {
		t.Errorf("CollectionsOf(NYC-SQL01) = %v, want %v", got, want)
	}
}

func TestEngineErrors(t *testing.T) {
	e := newFleetEngine(t)
	put := func(id consign.ObjectID, limit consign.ObjectID) error {
		c := NewCollection(id, "c", evalNow)
		c.QueryRules = []QueryRule{{RuleName: "r", Query: queryPool[0], LimitToCollectionID: limit}}
		_, err := e.PutCollection(c, evalNow)
		return err
	}
	if err := put("CEN00200", "CEN00999"); !errors.Is(err, consign.ErrInvalid) ||
		!slices.Equal(fields(err), []string{`Collection.QueryRules["r"].LimitToCollectionID`}) {
		t.Errorf("unknown limit: %v", err)
	}
	if err := put("CEN00200", AllSystemsID); err != nil {
		t.Fatal(err)
	}
	if err := put("CEN00201", "CEN00200"); err != nil {
		t.Fatal(err)
	}
	err := put("CEN00200", "CEN00201")
	if !errors.Is(err, consign.ErrInvalid) || !strings.Contains(err.Error(), "CEN00200 → CEN00201 → CEN00200") {
		t.Errorf("limiting loop: %v", err)
	}
	if got, _ := e.Collection("CEN00200"); got.QueryRules[0].LimitToCollectionID != AllSystemsID {
		t.Errorf("a rejected PutCollection changed the collection: %+v", got)
	}
	if _, err := e.RemoveCollection("CEN00200"); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("removing a limiting collection: %v", err)
	}
	if _, err := e.RemoveCollection(AllSystemsID); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("removing All Systems: %v", err)
	}
	if _, err := e.PutCollection(allSystems(), evalNow); !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("changing All Systems: %v", err)
	}
	if _, err := e.RemoveCollection("CEN00999"); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("removing an unknown collection: %v", err)
	}
	if _, err := e.Evaluate("CEN00999", evalNow); !errors.Is(err, consign.ErrNotFound) {
		t.Errorf("evaluating an unknown collection: %v", err)
	}
	if _, err := e.PutDevice(&Device{Name: "X"}, evalNow); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("invalid device: %v", err)
	}
	members := e.Members("CEN00201")
	d, err := e.RemoveCollection("CEN00201")
	if err != nil || len(d.Changes) != len(members) || e.IsMember("CEN00201", members[0]) {
		t.Errorf("RemoveCollection: %v, delta %v, members were %v", err, d, members)
	}
	if slices.Contains(e.CollectionsOf(members[0]), "CEN00201") {
		t.Error("CollectionsOf still lists a removed collection")
	}
}

// TestGetDate checks that a collection is evaluated with the time it is
// given, and that a scheduled Evaluate moves it on.
func TestGetDate(t *testing.T) {
	e := newFleetEngine(t)
	id := consign.ObjectID("CEN00009") // not restarted for 30 days
	if d, _ := e.Evaluate(id, evalNow.AddDate(0, 0, 28)); !slices.Equal(e.Members(id), []uint32{16777220, 16777222}) {
		t.Errorf("four weeks later: %v (delta %v)", e.Members(id), d)
	}
	if d := e.EvaluateAll(evalNow.AddDate(0, 0, 28)); len(d.Changes) != 0 {
		t.Errorf("EvaluateAll at the same time changed %v", d.Changes)
	}
}

// EvaluateTimeDependent at a later time moves exactly what EvaluateAll at
// that time moves: the collections reading GETDATE() (and those limited to
// them), and no other.
func TestEvaluateTimeDependent(t *testing.T) {
	later := evalNow.AddDate(0, 0, 28)
	all, timed := newFleetEngine(t), newFleetEngine(t)
	for _, e := range []*Engine{all, timed} {
		c := NewCollection("CEN00020", "limited to the time", evalNow)
		c.QueryRules = []QueryRule{{RuleName: "r", Query: "select * from SMS_R_System", LimitToCollectionID: "CEN00009"}}
		if _, err := e.PutCollection(c, evalNow); err != nil {
			t.Fatal(err)
		}
	}
	want := all.EvaluateAll(later)
	got := timed.EvaluateTimeDependent(later)
	if len(want.Changes) == 0 || !slices.Equal(got.Changes, want.Changes) {
		t.Errorf("EvaluateTimeDependent: %v\nEvaluateAll:           %v", got.Changes, want.Changes)
	}
	if d := timed.EvaluateAll(later); len(d.Changes) != 0 {
		t.Errorf("EvaluateAll after EvaluateTimeDependent at the same time changed %v", d.Changes)
	}
}

// TestDeviceRoundTrip checks that the compact form keeps everything a
// canonical device holds.
func TestDeviceRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := NewEngine(nil)
		d := genDevice(uint32(rapid.IntRange(1, 1<<31).Draw(t, "rid"))).Draw(t, "device")
		if _, err := e.PutDevice(d, evalNow); err != nil {
			t.Fatal(err)
		}
		got, ok := e.Device(d.ResourceID)
		if !ok || !reflect.DeepEqual(got, d) {
			t.Fatalf("Device() = %#v\nwant %#v", got, d)
		}
	})
	e := NewEngine(nil)
	for _, d := range fleet() {
		if _, err := e.PutDevice(d, evalNow); err != nil {
			t.Fatal(err)
		}
		got, _ := e.Device(d.ResourceID)
		if got.Name != d.Name || got.TimeZone != d.TimeZone || len(got.Inventory) != len(d.Inventory) ||
			!slices.Equal(got.SystemOUName, d.SystemOUName) || !slices.Equal(got.IPAddresses, d.IPAddresses) {
			t.Errorf("Device(%d) = %+v, want %+v", d.ResourceID, got, d)
		}
	}
}

// PutCollections equals one PutCollection per collection, whatever the
// order of limiting collections, and leaves out (naming) what it refuses.
func TestPutCollections(t *testing.T) {
	build := func() *Engine {
		e := NewEngine(nil)
		for i := uint32(1); i <= 30; i++ {
			os := "Microsoft Windows NT Workstation 6.1"
			if i%3 == 0 {
				os = "Microsoft Windows NT Workstation 5.1"
			}
			if _, err := e.PutDevice(&Device{ResourceID: i, Name: fmt.Sprintf("PC%02d", i), OperatingSystemNameandVersion: os, Client: true}, evalNow); err != nil {
				t.Fatal(err)
			}
		}
		return e
	}
	w7 := &Collection{ID: "CEN00001", Name: "W7", RefreshType: RefreshManual, QueryRules: []QueryRule{{RuleName: "w7", Query: `select * from SMS_R_System where OperatingSystemNameandVersion like "%6.1"`}}}
	pc1x := &Collection{ID: "CEN00002", Name: "PC1x", RefreshType: RefreshManual, QueryRules: []QueryRule{{RuleName: "pc1", Query: `select * from SMS_R_System where Name like "PC1%"`, LimitToCollectionID: "CEN00001"}}}
	direct := &Collection{ID: "CEN00003", Name: "Direct", RefreshType: RefreshManual, DirectRules: []DirectRule{{RuleName: "d", ResourceID: 3}}}
	bad := &Collection{ID: "CEN00004", Name: "Bad", RefreshType: RefreshManual, QueryRules: []QueryRule{{RuleName: "x", Query: `select * from SMS_R_System`, LimitToCollectionID: "CEN00099"}}}

	one := build()
	for _, c := range []*Collection{w7, pc1x, direct} {
		if _, err := one.PutCollection(c, evalNow); err != nil {
			t.Fatal(err)
		}
	}
	batch := build()
	_, errs := batch.PutCollections([]*Collection{pc1x, bad, direct, w7}, evalNow)
	if errs[0] != nil || errs[2] != nil || errs[3] != nil || errs[1] == nil || !strings.Contains(errs[1].Error(), "LimitToCollectionID") {
		t.Errorf("PutCollections errors = %v; want only the second (CEN00004) refused", errs)
	}
	for _, id := range []consign.ObjectID{"CEN00001", "CEN00002", "CEN00003", AllSystemsID} {
		if a, b := one.Members(id), batch.Members(id); !slices.Equal(a, b) {
			t.Errorf("%s: one by one %v, in a batch %v", id, a, b)
		}
	}
	if _, ok := batch.Collection("CEN00004"); ok {
		t.Error("the refused collection was installed")
	}
	if len(batch.Members("CEN00002")) == 0 {
		t.Error("the limited collection is empty")
	}
}
