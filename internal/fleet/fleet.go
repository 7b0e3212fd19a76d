// Package fleet generates a synthetic enterprise fleet for benchmarks and
// examples: devices with realistic discovery data and inventory (sites,
// departments, subnets, a software catalog with a long tail, so values
// repeat as in a real fleet) and realistic WQL collection queries over
// them. It is deterministic for a given random source.
package fleet

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/consign/consign/collection"
)

// Epoch is the fleet's "now": inventory dates lie before it.
var Epoch = time.Date(2011, 3, 15, 12, 0, 0, 0, time.UTC)

// The enterprise: sites, departments, subnets and a software catalog from
// which each device draws, like a real fleet's repeated values.
var (
	sites    = []string{"BER", "NYC", "LON", "PAR", "MUC", "SFO", "TOK", "SYD", "MAD", "AMS"}
	depts    = []string{"SALES", "FINANCE", "IT", "HR", "ENG"}
	oses     = []string{"Microsoft Windows NT Workstation 5.1", "Microsoft Windows NT Workstation 6.0", "Microsoft Windows NT Workstation 6.1", "Microsoft Windows NT Server 5.2"}
	captions = []string{"Microsoft Windows XP Professional", "Microsoft Windows Vista Enterprise", "Microsoft Windows 7 Enterprise", "Microsoft(R) Windows(R) Server 2003, Standard Edition"}
	models   = []string{"Latitude D620", "Latitude E6400", "OptiPlex 755", "OptiPlex 960", "HP Compaq dc7800", "ThinkPad T61", "ProLiant DL380 G5", "Virtual Machine"}
	vendors  = []string{"Microsoft Corporation", "Adobe Systems Incorporated", "Mozilla", "Oracle", "Citrix Systems, Inc.", "Symantec Corporation", "SAP", "Igor Pavlov"}
)

func app(i int) (name, version, vendor string) {
	vendor = vendors[i%len(vendors)]
	return fmt.Sprintf("%s Product %03d", vendor[:min(len(vendor), 9)], i), fmt.Sprintf("%d.%d.%d", i%9+1, i%4, i*7%1000), vendor
}

// Device returns device i (ResourceID 16777216+i): 13 SMS_R_System values
// and 20 inventory rows (operating system, computer system, two disks, 14
// programs and 2 64-bit programs), drawn from rng.
func Device(rng *rand.Rand, i int) *collection.Device {
	site, dept := sites[rng.IntN(len(sites))], depts[rng.IntN(len(depts))]
	subnet := fmt.Sprintf("10.%d.%d.0", rng.IntN(len(sites)), rng.IntN(20))
	osi := rng.IntN(len(oses))
	d := &collection.Device{
		ResourceID:                    16777216 + uint32(i),
		Name:                          fmt.Sprintf("%s-PC%06d", site, i),
		NetbiosName:                   fmt.Sprintf("%s-PC%06d", site, i),
		SMSUniqueIdentifier:           fmt.Sprintf("GUID:%08X-%04X-%04X-%04X-%012X", rng.Uint32(), rng.Uint32()&0xFFFF, rng.Uint32()&0xFFFF, rng.Uint32()&0xFFFF, rng.Uint64()&0xFFFFFFFFFFFF),
		OperatingSystemNameandVersion: oses[osi],
		Client:                        rng.IntN(100) < 95,
		Obsolete:                      rng.IntN(100) < 2,
		Active:                        rng.IntN(100) < 97,
		ResourceDomainORWorkgroup:     "CONTOSO",
		SystemOUName:                  []string{"CONTOSO.COM/WORKSTATIONS", "CONTOSO.COM/WORKSTATIONS/" + site, "CONTOSO.COM/WORKSTATIONS/" + site + "/" + dept},
		IPAddresses:                   []string{fmt.Sprintf("%s.%d", subnet[:len(subnet)-2], rng.IntN(250)+2)},
		IPSubnets:                     []string{subnet},
		ADSiteName:                    site,
		LastLogonUserName:             fmt.Sprintf("user%05d", rng.IntN(50000)),
		Properties:                    map[string]any{"ClientVersion": "4.00.6487.2000"},
	}
	arp := func(n int) []collection.Instance {
		rows := make([]collection.Instance, n)
		for j := range rows {
			name, version, vendor := app(int(rng.ExpFloat64() * 40)) // a few apps everywhere, a long tail
			rows[j] = collection.Instance{"DisplayName": name, "Version": version, "Publisher": vendor,
				"InstallDate": Epoch.AddDate(0, 0, -rng.IntN(1500)).Format("20060102"), "ProdID": fmt.Sprintf("{%s}", name)}
		}
		return rows
	}
	disk := func(id string, size int64) collection.Instance {
		return collection.Instance{"DeviceID": id, "DriveType": 3, "FileSystem": "NTFS", "Size": size, "FreeSpace": rng.Int64N(size), "VolumeName": ""}
	}
	d.Inventory = map[string][]collection.Instance{
		"SMS_G_System_OPERATING_SYSTEM": {{"Caption": captions[osi], "Version": "5.1.2600", "BuildNumber": "2600",
			"CSDVersion": fmt.Sprintf("Service Pack %d", rng.IntN(3)+1), "OSLanguage": 1033,
			"InstallDate": Epoch.AddDate(0, 0, -rng.IntN(1500)), "LastBootUpTime": Epoch.Add(-time.Duration(rng.IntN(60*24)) * time.Hour)}},
		"SMS_G_System_COMPUTER_SYSTEM": {{"Manufacturer": "Dell Inc.", "Model": models[rng.IntN(len(models))], "SystemType": "X86-based PC",
			"Domain": "CONTOSO.COM", "NumberOfProcessors": 2, "UserName": "CONTOSO\\" + d.LastLogonUserName}},
		"SMS_G_System_LOGICAL_DISK":           {disk("C:", 76293), disk("D:", 152587)},
		"SMS_G_System_ADD_REMOVE_PROGRAMS":    arp(14),
		"SMS_G_System_ADD_REMOVE_PROGRAMS_64": arp(2),
	}
	return d
}

// Queries returns n realistic collection queries, cycling through ten
// kinds: OS like, OU equality, subnet lists, installed-software joins and
// sub-selects, disk space, client health, hardware model, OS service pack,
// 64-bit software by AD site.
func Queries(n int) []string {
	out := make([]string, n)
	for i := range out {
		k, v := i%10, i/10
		app, _, vendor := app(v * 3)
		switch k {
		case 0:
			out[i] = fmt.Sprintf(`select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%%Workstation %s%%"`, []string{"5.1", "6.0", "6.1"}[v%3])
		case 1:
			out[i] = fmt.Sprintf(`select * from SMS_R_System where SMS_R_System.SystemOUName = "CONTOSO.COM/WORKSTATIONS/%s/%s"`, sites[v%len(sites)], depts[v%len(depts)])
		case 2:
			out[i] = fmt.Sprintf(`select * from SMS_R_System where SMS_R_System.IPSubnets in ("10.%d.0.0","10.%d.1.0","10.%d.2.0","10.%d.3.0")`, v%10, v%10, v%10, (v+1)%10)
		case 3:
			out[i] = fmt.Sprintf(`select SMS_R_System.ResourceId, SMS_R_System.Name from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "%s%%"`, app[:len(app)-1])
		case 4:
			out[i] = fmt.Sprintf(`select * from SMS_R_System where SMS_R_System.Client = 1 and SMS_R_System.ResourceId not in (select SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName = "%s")`, app)
		case 5:
			out[i] = fmt.Sprintf(`select * from SMS_R_System inner join SMS_G_System_LOGICAL_DISK on SMS_G_System_LOGICAL_DISK.ResourceID = SMS_R_System.ResourceId where SMS_G_System_LOGICAL_DISK.DeviceID = "C:" and SMS_G_System_LOGICAL_DISK.FreeSpace < %d`, 2000+v*1000)
		case 6:
			out[i] = `select * from SMS_R_System where SMS_R_System.Client = 1 and SMS_R_System.Obsolete = 0 and SMS_R_System.Active = 1`
		case 7:
			out[i] = fmt.Sprintf(`select * from SMS_R_System inner join SMS_G_System_COMPUTER_SYSTEM on SMS_G_System_COMPUTER_SYSTEM.ResourceID = SMS_R_System.ResourceId where SMS_G_System_COMPUTER_SYSTEM.Model = "%s"`, models[v%len(models)])
		case 8:
			out[i] = fmt.Sprintf(`select * from SMS_R_System inner join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId where SMS_G_System_OPERATING_SYSTEM.Caption like "%%XP%%" and SMS_G_System_OPERATING_SYSTEM.CSDVersion <> "Service Pack %d"`, v%3+1)
		default:
			out[i] = fmt.Sprintf(`select * from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS_64 on SMS_G_System_ADD_REMOVE_PROGRAMS_64.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS_64.Publisher = "%s" and SMS_R_System.ADSiteName = "%s"`, vendor, sites[v%len(sites)])
		}
	}
	return out
}
