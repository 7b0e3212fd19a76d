package wql

import (
	"fmt"
	"testing"
	"time"
)

// benchDevice is a realistic resource: a dozen discovery properties and
// about twenty inventory rows.
func benchDevice(tb testing.TB, s *Schema) *device {
	apps := []string{"Microsoft Visual C++ 2005 Redistributable", "Adobe Reader 9.3", "Microsoft .NET Framework 3.5 SP1",
		"Java(TM) 6 Update 20", "Microsoft Silverlight", "Configuration Manager Client", "7-Zip 9.20",
		"Mozilla Firefox (3.6.3)", "Windows Internet Explorer 8", "Microsoft Office Professional Plus 2007",
		"Microsoft Office Proofing Tools 2007", "Symantec Endpoint Protection", "VLC media player 1.0.5",
		"Microsoft XML Parser", "WinZip 12.1"}
	var arp []map[string]any
	for i, a := range apps {
		arp = append(arp, map[string]any{"DisplayName": a, "Version": fmt.Sprintf("%d.0.%d", i, 1000+i), "Publisher": "Vendor"})
	}
	return newDevice(tb, s, 16777220, map[string]any{
		"Name": "WKS-0042", "NetbiosName": "WKS-0042", "OperatingSystemNameandVersion": "Microsoft Windows NT Workstation 6.1",
		"Client": 1, "Obsolete": 0, "Active": 1, "ResourceDomainORWorkgroup": "CONTOSO",
		"SystemOUName":    []string{"CONTOSO.COM/WORKSTATIONS", "CONTOSO.COM/WORKSTATIONS/LONDON"},
		"SystemGroupName": []string{"CONTOSO\\Domain Computers", "CONTOSO\\Office Users"},
		"IPAddresses":     []string{"10.1.2.42"}, "IPSubnets": []string{"10.1.2.0"}, "ADSiteName": "London",
		"LastLogonUserName": "jdoe", "LastLogonTimestamp": time.Date(2010, 5, 1, 9, 0, 0, 0, time.UTC),
	}, map[string][]map[string]any{
		"SMS_G_System_OPERATING_SYSTEM":    {{"Caption": "Microsoft Windows 7 Enterprise", "Version": "6.1.7600", "BuildNumber": "7600"}},
		"SMS_G_System_COMPUTER_SYSTEM":     {{"Manufacturer": "Dell Inc.", "Model": "OptiPlex 760", "NumberOfProcessors": 2}},
		"SMS_G_System_ADD_REMOVE_PROGRAMS": arp,
		"SMS_G_System_LOGICAL_DISK":        {{"DeviceID": "C:", "FreeSpace": 20480, "Size": 76293, "DriveType": 3}, {"DeviceID": "D:", "DriveType": 5}},
	})
}

var benchRules = []struct{ name, src string }{
	{"LikeOS", `select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 6.1%"`},
	{"ClientNotObsolete", `select * from SMS_R_System where SMS_R_System.Client = 1 and SMS_R_System.Obsolete = 0`},
	{"JoinARP", `select SMS_R_SYSTEM.ResourceID, SMS_R_SYSTEM.Name from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "%Office%"`},
	{"SubSelectOS", `select * from SMS_R_System where SMS_R_System.ResourceId in (select ResourceID from SMS_G_System_OPERATING_SYSTEM where Version like "6.1%")`},
	{"NotInARP", `select * from SMS_R_System where ResourceId not in (select ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where DisplayName = "Microsoft Office Visio Professional 2007")`},
	{"OU", `select * from SMS_R_System where SMS_R_System.SystemOUName = "CONTOSO.COM/WORKSTATIONS/LONDON"`},
	{"LastLogon", `select * from SMS_R_System where DATEDIFF(dd, SMS_R_System.LastLogonTimestamp, GETDATE()) < 30`},
	{"MixedJoin", `select * from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId inner join SMS_G_System_LOGICAL_DISK on SMS_G_System_LOGICAL_DISK.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "WinZip%" or SMS_G_System_LOGICAL_DISK.FreeSpace < 1024`},
}

func BenchmarkMatch(b *testing.B) {
	s := testSchema(b)
	d := benchDevice(b, s)
	now := time.Date(2010, 5, 20, 0, 0, 0, 0, time.UTC)
	for _, r := range benchRules {
		b.Run(r.name, func(b *testing.B) {
			q, err := Compile(r.src, s)
			if err != nil {
				b.Fatal(err)
			}
			p := q.Prepare(now, nil)
			b.ReportAllocs()
			for b.Loop() {
				p.Match(d)
			}
		})
	}
}
