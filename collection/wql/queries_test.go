package wql

import (
	"slices"
	"testing"
	"time"
)

var fleetNow = time.Date(2010, 6, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return fleetNow.AddDate(0, 0, -n) }

// fleet is a small site: Windows 7, XP and Server 2003 machines, one
// without a client, one obsolete record, and a non-Windows device.
func fleet(t *testing.T, s *Schema) []*device {
	type inv = map[string][]map[string]any
	arp := func(names ...string) []map[string]any {
		var rows []map[string]any
		for _, n := range names {
			rows = append(rows, map[string]any{"DisplayName": n, "Publisher": "Microsoft"})
		}
		return rows
	}
	return []*device{
		newDevice(t, s, 16777220, map[string]any{
			"Name": "WKS-01", "OperatingSystemNameandVersion": "Microsoft Windows NT Workstation 6.1", "Client": 1, "Obsolete": 0,
			"ResourceType": 5, "SystemOUName": []string{"CONTOSO.COM/WORKSTATIONS", "CONTOSO.COM/WORKSTATIONS/LONDON"},
			"SystemGroupName": []string{`CONTOSO\Domain Computers`}, "IPSubnets": []string{"10.1.2.0"}, "ADSiteName": "London",
			"LastLogonTimestamp": daysAgo(2),
		}, inv{
			"SMS_G_System_ADD_REMOVE_PROGRAMS": arp("Microsoft Office Professional Plus 2007", "Adobe Reader 9.3"),
			"SMS_G_System_OPERATING_SYSTEM":    {{"Caption": "Microsoft Windows 7 Enterprise", "Version": "6.1.7600", "BuildNumber": "7600"}},
			"SMS_G_System_COMPUTER_SYSTEM":     {{"Manufacturer": "Dell Inc.", "Model": "OptiPlex 760", "Name": "WKS-01"}},
			"SMS_G_System_LOGICAL_DISK":        {{"DeviceID": "C:", "FreeSpace": 20480, "DriveType": 3}},
			"SMS_G_System_WORKSTATION_STATUS":  {{"LastHardwareScan": daysAgo(1)}},
		}),
		newDevice(t, s, 16777221, map[string]any{
			"Name": "WKS-02", "OperatingSystemNameandVersion": "Microsoft Windows NT Workstation 5.1", "Client": 1, "Obsolete": 0,
			"ResourceType": 5, "SystemOUName": []string{"CONTOSO.COM/WORKSTATIONS"}, "IPSubnets": []string{"10.1.3.0"},
			"ADSiteName": "Paris", "LastLogonTimestamp": daysAgo(120),
		}, inv{
			"SMS_G_System_ADD_REMOVE_PROGRAMS": arp("Microsoft Office Standard 2003", "Microsoft Office Visio Professional 2003"),
			"SMS_G_System_OPERATING_SYSTEM": {{"Caption": "Microsoft Windows XP Professional", "Version": "5.1.2600",
				"BuildNumber": "2600", "CSDVersion": "Service Pack 3"}},
			"SMS_G_System_COMPUTER_SYSTEM":    {{"Manufacturer": "Hewlett-Packard", "Model": "HP Compaq dc7700", "Name": "WKS-02"}},
			"SMS_G_System_LOGICAL_DISK":       {{"DeviceID": "C:", "FreeSpace": 900, "DriveType": 3}, {"DeviceID": "D:", "DriveType": 5}},
			"SMS_G_System_WORKSTATION_STATUS": {{"LastHardwareScan": daysAgo(40)}},
		}),
		newDevice(t, s, 16777222, map[string]any{
			"Name": "SRV-01", "OperatingSystemNameandVersion": "Microsoft Windows NT Server 5.2", "Client": 1, "Obsolete": 0,
			"ResourceType": 5, "SystemOUName": []string{"CONTOSO.COM/SERVERS"}, "IPSubnets": []string{"10.2.0.0"},
			"LastLogonTimestamp": daysAgo(10),
		}, inv{
			"SMS_G_System_ADD_REMOVE_PROGRAMS": arp("Microsoft SQL Server 2005"),
			"SMS_G_System_OPERATING_SYSTEM": {{"Caption": "Microsoft(R) Windows(R) Server 2003, Standard Edition", "Version": "5.2.3790",
				"BuildNumber": "3790", "CSDVersion": "Service Pack 2"}},
			"SMS_G_System_LOGICAL_DISK": {{"DeviceID": "C:", "FreeSpace": 8000, "DriveType": 3}, {"DeviceID": "E:", "FreeSpace": 500, "DriveType": 3}},
		}),
		newDevice(t, s, 16777223, map[string]any{
			"Name": "WKS-03", "OperatingSystemNameandVersion": "Microsoft Windows NT Workstation 6.1", "Client": 0, "Obsolete": 0,
			"ResourceType": 5, "SystemOUName": []string{},
		}, nil),
		newDevice(t, s, 16777224, map[string]any{
			"Name": "WKS-04", "OperatingSystemNameandVersion": "Microsoft Windows NT Workstation 6.1", "Client": 1, "Obsolete": 1,
			"ResourceType": 5,
		}, inv{
			"SMS_G_System_ADD_REMOVE_PROGRAMS_64": arp("Microsoft Office Professional Plus 2007"),
		}),
		newDevice(t, s, 16777225, map[string]any{"Name": "MAC-01", "ResourceType": 5}, nil),
	}
}

var fleetNames = map[int64]string{16777220: "WKS-01", 16777221: "WKS-02", 16777222: "SRV-01", 16777223: "WKS-03", 16777224: "WKS-04", 16777225: "MAC-01"}

// Queries as administrators paste them into the Query Rule Properties
// dialog (§2.7), with the machines each selects from fleet.
var realQueries = []struct {
	name, src string
	want      []string
}{
	{"Windows 7 workstations",
		`select SMS_R_SYSTEM.ResourceID,SMS_R_SYSTEM.ResourceType,SMS_R_SYSTEM.Name,SMS_R_SYSTEM.SMSUniqueIdentifier,SMS_R_SYSTEM.ResourceDomainORWorkgroup,SMS_R_SYSTEM.Client from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 6.1%"`,
		[]string{"WKS-01", "WKS-03", "WKS-04"}},
	{"Office Professional installed",
		`select SMS_R_SYSTEM.ResourceID,SMS_R_SYSTEM.ResourceType,SMS_R_SYSTEM.Name,SMS_R_SYSTEM.SMSUniqueIdentifier,SMS_R_SYSTEM.ResourceDomainORWorkgroup,SMS_R_SYSTEM.Client from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "Microsoft Office Professional%"`,
		[]string{"WKS-01"}},
	{"trailing statement terminator", `select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 6.1%";`,
		[]string{"WKS-01", "WKS-03", "WKS-04"}},
	{"Visio not installed",
		`select SMS_R_SYSTEM.ResourceID from SMS_R_System where SMS_R_System.ResourceId not in (select ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where DisplayName = "Microsoft Office Visio Professional 2003")`,
		[]string{"WKS-01", "SRV-01", "WKS-03", "WKS-04", "MAC-01"}},
	{"OU membership",
		`select * from SMS_R_System where SMS_R_System.SystemOUName = "CONTOSO.COM/WORKSTATIONS"`,
		[]string{"WKS-01", "WKS-02"}},
	{"IP subnet",
		`select * from  SMS_R_System where SMS_R_System.IPSubnets = '10.1.2.0'`,
		[]string{"WKS-01"}},
	{"active clients",
		`select * from SMS_R_System where SMS_R_System.Client = 1 and SMS_R_System.Obsolete = 0`,
		[]string{"WKS-01", "WKS-02", "SRV-01"}},
	{"no client",
		`select * from SMS_R_System where SMS_R_System.Client is null or SMS_R_System.Client = 0`,
		[]string{"WKS-03", "MAC-01"}},
	{"no logon for 90 days",
		`select * from SMS_R_System where DATEDIFF(dd, SMS_R_System.LastLogonTimestamp, GETDATE()) > 90`,
		[]string{"WKS-02"}},
	{"stale hardware inventory",
		`select SMS_R_System.Name from SMS_R_System inner join SMS_G_System_WORKSTATION_STATUS on SMS_G_System_WORKSTATION_STATUS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_WORKSTATION_STATUS.LastHardwareScan < DATEADD(dd, -30, GETDATE())`,
		[]string{"WKS-02"}},
	{"low disk space on C:",
		`select * from SMS_R_System inner join SMS_G_System_LOGICAL_DISK on SMS_G_System_LOGICAL_DISK.ResourceID = SMS_R_System.ResourceId where SMS_G_System_LOGICAL_DISK.DeviceID = "C:" and SMS_G_System_LOGICAL_DISK.FreeSpace < 1024`,
		[]string{"WKS-02"}},
	{"XP SP3, unqualified CSDVersion",
		`select * from SMS_R_System inner join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId where SMS_G_System_OPERATING_SYSTEM.Caption like "%Windows XP%" and CSDVersion = "service pack 3"`,
		[]string{"WKS-02"}},
	{"build number compared as a number",
		`select * from SMS_R_System inner join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId where SMS_G_System_OPERATING_SYSTEM.BuildNumber >= 3000`,
		[]string{"WKS-01", "SRV-01"}},
	{"aliases",
		`select s.Name, os.Caption from SMS_R_System as s inner join SMS_G_System_OPERATING_SYSTEM os on os.ResourceID = s.ResourceId where os.Version like "5.%" order by s.Name`,
		[]string{"WKS-02", "SRV-01"}},
	{"no Office, sub-select with its own join",
		`select SMS_R_System.Name from SMS_R_System where SMS_R_System.ResourceId not in (select SMS_R_System.ResourceId from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "%Office%")`,
		[]string{"SRV-01", "WKS-03", "WKS-04", "MAC-01"}},
	{"32- or 64-bit Office",
		`select * from SMS_R_System where SMS_R_System.ResourceId in (select ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where DisplayName like "Microsoft Office Professional%") or SMS_R_System.ResourceId in (select ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS_64 where DisplayName like "Microsoft Office Professional%")`,
		[]string{"WKS-01", "WKS-04"}},
	{"AD group with an escaped backslash",
		`select * from SMS_R_System where SMS_R_System.SystemGroupName = "CONTOSO\\Domain Computers"`,
		[]string{"WKS-01"}},
	{"resource ID as a quoted numeral",
		`select * from SMS_R_System where ResourceId = "16777221"`,
		[]string{"WKS-02"}},
	{"left join finds machines without 32-bit programs",
		`select * from SMS_R_System left join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName is null`,
		[]string{"WKS-03", "WKS-04", "MAC-01"}},
	{"names in a list, any case",
		`SELECT * FROM sms_r_system WHERE name IN ("wks-01", 'Srv-01')`,
		[]string{"WKS-01", "SRV-01"}},
	{"Dell machines by name, a global sub-select",
		`select * from SMS_R_System where SMS_R_System.Name in (select Name from SMS_G_System_COMPUTER_SYSTEM where Manufacturer like "Dell%")`,
		[]string{"WKS-01"}},
	{"logged on before a date",
		`select * from SMS_R_System where SMS_R_System.LastLogonTimestamp < "2010-05-01 00:00:00"`,
		[]string{"WKS-02"}},
	{"site name in upper case",
		`select * from SMS_R_System where UPPER(SMS_R_System.ADSiteName) = "LONDON"`,
		[]string{"WKS-01"}},
	{"OU that is not the servers OU: any element",
		`select * from SMS_R_System where SMS_R_System.SystemOUName != "CONTOSO.COM/WORKSTATIONS"`,
		[]string{"WKS-01", "SRV-01"}},
	{"no OU at all",
		`select * from SMS_R_System where SMS_R_System.SystemOUName is null`,
		[]string{"WKS-03", "WKS-04", "MAC-01"}},
	{"workstations with Office but not Visio, on a multi-line query",
		"select SMS_R_System.Name\nfrom SMS_R_System\n  inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId\nwhere SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like 'Microsoft Office%'\n  and SMS_R_System.ResourceId not in (select ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where DisplayName like '%Visio%')",
		[]string{"WKS-01"}},
}

func TestRealQueries(t *testing.T) {
	s := testSchema(t)
	devs := fleet(t, s)
	all := resources(devs)
	for _, tc := range realQueries {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Compile(tc.src, s)
			if err != nil {
				t.Fatal(err)
			}
			p := q.Prepare(fleetNow, all)
			var got []string
			for _, d := range devs {
				if p.Match(d) {
					got = append(got, fleetNames[d.id])
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("selected %v, want %v", got, tc.want)
			}
			want := (&refEval{s: s, all: devs, now: Time(fleetNow)}).matches(q)
			for _, d := range devs {
				if p.Match(d) != want[d.id] {
					t.Errorf("%s: Match disagrees with the reference evaluator", fleetNames[d.id])
				}
			}
		})
	}
}

func TestQueryFacts(t *testing.T) {
	s := testSchema(t)
	idx := func(name string) int { i, _ := s.ClassIndex(name); return i }
	for _, tc := range []struct {
		src             string
		classes         []int
		global, usesNow bool
	}{
		{`select * from SMS_R_System where Name = "x"`, []int{0}, false, false},
		{`select * from SMS_R_System where DATEDIFF(dd, LastLogonTimestamp, GETDATE()) > 3`, []int{0}, false, true},
		{`select * from SMS_R_System where ResourceId not in (select ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where DisplayName = "x")`,
			[]int{0, idx("SMS_G_System_ADD_REMOVE_PROGRAMS")}, false, false},
		{`select * from SMS_R_System where Name in (select Name from SMS_G_System_COMPUTER_SYSTEM)`,
			[]int{0, idx("SMS_G_System_COMPUTER_SYSTEM")}, true, false},
		{`select * from SMS_R_System left join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceID where SMS_G_System_OPERATING_SYSTEM.ResourceID in (select ResourceID from SMS_G_System_LOGICAL_DISK)`,
			[]int{0, idx("SMS_G_System_OPERATING_SYSTEM"), idx("SMS_G_System_LOGICAL_DISK")}, true, false},
		{`select * from SMS_G_System_WORKSTATION_STATUS inner join SMS_R_System on SMS_R_System.ResourceId = SMS_G_System_WORKSTATION_STATUS.ResourceID`,
			[]int{0, idx("SMS_G_System_WORKSTATION_STATUS")}, false, false},
	} {
		q, err := Compile(tc.src, s)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(q.Classes(), tc.classes) || q.Global() != tc.global || q.UsesNow() != tc.usesNow || q.Source() != tc.src {
			t.Errorf("%s: Classes %v Global %v UsesNow %v, want %v %v %v", tc.src, q.Classes(), q.Global(), q.UsesNow(), tc.classes, tc.global, tc.usesNow)
		}
	}
}

// A global sub-select sees every resource Prepare iterates, and nothing
// else: without the resources, Name IN (…) is empty.
func TestGlobalNeedsAll(t *testing.T) {
	s := testSchema(t)
	devs := fleet(t, s)
	q, err := Compile(`select * from SMS_R_System where Name not in (select Name from SMS_G_System_COMPUTER_SYSTEM)`, s)
	if err != nil {
		t.Fatal(err)
	}
	if !q.Prepare(fleetNow, nil).Match(devs[0]) {
		t.Error("with no resources, NOT IN an empty set must be true")
	}
	p := q.Prepare(fleetNow, func(yield func(Resource) bool) { yield(devs[0]) })
	if p.Match(devs[0]) || !p.Match(devs[1]) {
		t.Error("WKS-01's COMPUTER_SYSTEM name must exclude WKS-01 only")
	}
}

func TestConcurrentMatch(t *testing.T) {
	s := testSchema(t)
	devs := fleet(t, s)
	q, err := Compile(realQueries[len(realQueries)-1].src, s)
	if err != nil {
		t.Fatal(err)
	}
	p := q.Prepare(fleetNow, nil)
	done := make(chan int)
	for range 4 {
		go func() {
			n := 0
			for range 200 {
				for _, d := range devs {
					if p.Match(d) {
						n++
					}
				}
			}
			done <- n
		}()
	}
	for range 4 {
		if n := <-done; n != 200 {
			t.Errorf("%d matches, want 200", n)
		}
	}
}
