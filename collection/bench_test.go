package collection

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/consign/consign"
)

// benchDevices returns CONSIGN_BENCH_DEVICES, or def when it is not set, so
// that a quick run can shrink the fleet.
func benchDevices(b *testing.B, def int) int {
	s := os.Getenv("CONSIGN_BENCH_DEVICES")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("CONSIGN_BENCH_DEVICES=%q: want a positive number", s)
	}
	return n
}

// A synthetic enterprise: sites, departments, subnets and a software catalog
// from which each device draws, like a real fleet's repeated values.
var (
	benchSites    = []string{"BER", "NYC", "LON", "PAR", "MUC", "SFO", "TOK", "SYD", "MAD", "AMS"}
	benchDepts    = []string{"SALES", "FINANCE", "IT", "HR", "ENG"}
	benchOSes     = []string{"Microsoft Windows NT Workstation 5.1", "Microsoft Windows NT Workstation 6.0", "Microsoft Windows NT Workstation 6.1", "Microsoft Windows NT Server 5.2"}
	benchCaptions = []string{"Microsoft Windows XP Professional", "Microsoft Windows Vista Enterprise", "Microsoft Windows 7 Enterprise", "Microsoft(R) Windows(R) Server 2003, Standard Edition"}
	benchModels   = []string{"Latitude D620", "Latitude E6400", "OptiPlex 755", "OptiPlex 960", "HP Compaq dc7800", "ThinkPad T61", "ProLiant DL380 G5", "Virtual Machine"}
	benchVendors  = []string{"Microsoft Corporation", "Adobe Systems Incorporated", "Mozilla", "Oracle", "Citrix Systems, Inc.", "Symantec Corporation", "SAP", "Igor Pavlov"}
	benchEpoch    = time.Date(2011, 3, 15, 12, 0, 0, 0, time.UTC)
)

func benchApp(i int) (name, version, vendor string) {
	vendor = benchVendors[i%len(benchVendors)]
	return fmt.Sprintf("%s Product %03d", vendor[:min(len(vendor), 9)], i), fmt.Sprintf("%d.%d.%d", i%9+1, i%4, i*7%1000), vendor
}

// benchDevice returns device i: 13 SMS_R_System values and 20 inventory
// rows (operating system, computer system, two disks, 14 programs and 2
// 64-bit programs).
func benchDevice(rng *rand.Rand, i int) *Device {
	site, dept := benchSites[rng.IntN(len(benchSites))], benchDepts[rng.IntN(len(benchDepts))]
	subnet := fmt.Sprintf("10.%d.%d.0", rng.IntN(len(benchSites)), rng.IntN(20))
	osi := rng.IntN(len(benchOSes))
	d := &Device{
		ResourceID:                    16777216 + uint32(i),
		Name:                          fmt.Sprintf("%s-PC%06d", site, i),
		NetbiosName:                   fmt.Sprintf("%s-PC%06d", site, i),
		SMSUniqueIdentifier:           fmt.Sprintf("GUID:%08X-%04X-%04X-%04X-%012X", rng.Uint32(), rng.Uint32()&0xFFFF, rng.Uint32()&0xFFFF, rng.Uint32()&0xFFFF, rng.Uint64()&0xFFFFFFFFFFFF),
		OperatingSystemNameandVersion: benchOSes[osi],
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
	arp := func(n int) []Instance {
		rows := make([]Instance, n)
		for j := range rows {
			name, version, vendor := benchApp(int(rng.ExpFloat64() * 40)) // a few apps everywhere, a long tail
			rows[j] = Instance{"DisplayName": name, "Version": version, "Publisher": vendor,
				"InstallDate": benchEpoch.AddDate(0, 0, -rng.IntN(1500)).Format("20060102"), "ProdID": fmt.Sprintf("{%s}", name)}
		}
		return rows
	}
	disk := func(id string, size int64) Instance {
		return Instance{"DeviceID": id, "DriveType": 3, "FileSystem": "NTFS", "Size": size, "FreeSpace": rng.Int64N(size), "VolumeName": ""}
	}
	d.Inventory = map[string][]Instance{
		"SMS_G_System_OPERATING_SYSTEM": {{"Caption": benchCaptions[osi], "Version": "5.1.2600", "BuildNumber": "2600",
			"CSDVersion": fmt.Sprintf("Service Pack %d", rng.IntN(3)+1), "OSLanguage": 1033,
			"InstallDate": benchEpoch.AddDate(0, 0, -rng.IntN(1500)), "LastBootUpTime": benchEpoch.Add(-time.Duration(rng.IntN(60*24)) * time.Hour)}},
		"SMS_G_System_COMPUTER_SYSTEM": {{"Manufacturer": "Dell Inc.", "Model": benchModels[rng.IntN(len(benchModels))], "SystemType": "X86-based PC",
			"Domain": "CONTOSO.COM", "NumberOfProcessors": 2, "UserName": "CONTOSO\\" + d.LastLogonUserName}},
		"SMS_G_System_LOGICAL_DISK":           {disk("C:", 76293), disk("D:", 152587)},
		"SMS_G_System_ADD_REMOVE_PROGRAMS":    arp(14),
		"SMS_G_System_ADD_REMOVE_PROGRAMS_64": arp(2),
	}
	return d
}

// benchQueries returns n realistic queries, cycling through ten kinds.
func benchQueries(n int) []string {
	out := make([]string, n)
	for i := range out {
		k, v := i%10, i/10
		app, _, vendor := benchApp(v * 3)
		switch k {
		case 0:
			out[i] = fmt.Sprintf(`select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%%Workstation %s%%"`, []string{"5.1", "6.0", "6.1"}[v%3])
		case 1:
			out[i] = fmt.Sprintf(`select * from SMS_R_System where SMS_R_System.SystemOUName = "CONTOSO.COM/WORKSTATIONS/%s/%s"`, benchSites[v%len(benchSites)], benchDepts[v%len(benchDepts)])
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
			out[i] = fmt.Sprintf(`select * from SMS_R_System inner join SMS_G_System_COMPUTER_SYSTEM on SMS_G_System_COMPUTER_SYSTEM.ResourceID = SMS_R_System.ResourceId where SMS_G_System_COMPUTER_SYSTEM.Model = "%s"`, benchModels[v%len(benchModels)])
		case 8:
			out[i] = fmt.Sprintf(`select * from SMS_R_System inner join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId where SMS_G_System_OPERATING_SYSTEM.Caption like "%%XP%%" and SMS_G_System_OPERATING_SYSTEM.CSDVersion <> "Service Pack %d"`, v%3+1)
		default:
			out[i] = fmt.Sprintf(`select * from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS_64 on SMS_G_System_ADD_REMOVE_PROGRAMS_64.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS_64.Publisher = "%s" and SMS_R_System.ADSiteName = "%s"`, vendor, benchSites[v%len(benchSites)])
		}
	}
	return out
}

// benchEngine builds an Engine with n devices and one collection per query,
// and returns it with its heap per device.
func benchEngine(b *testing.B, n int, queries []string) (*Engine, float64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	e := NewEngine(nil)
	// Collections first: each device is then evaluated against all of them
	// as it arrives, decoded once, instead of every device once per
	// collection.
	for i, q := range queries {
		c := NewCollection(consign.NewObjectID("CEN", uint32(i+1)), fmt.Sprintf("Collection %d", i), benchEpoch)
		c.QueryRules = []QueryRule{{RuleName: "rule", Query: q}}
		if _, err := e.PutCollection(c, benchEpoch); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		if _, err := e.PutDevice(benchDevice(rng, i), benchEpoch); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return e, float64(ms.HeapAlloc-base) / float64(n)
}

// BenchmarkFullEvaluation runs EvaluateAll: 100 query collections over
// CONSIGN_BENCH_DEVICES devices (default 1,000,000). Target: ≤ 50 ns per
// device per rule on one core.
func BenchmarkFullEvaluation(b *testing.B) {
	n := benchDevices(b, 1_000_000)
	queries := benchQueries(100)
	e, perDevice := benchEngine(b, n, queries)
	rules := len(queries) + 1 // and All Systems
	b.ResetTimer()
	b.ReportMetric(perDevice, "B/device")
	for range b.N {
		e.EvaluateAll(benchEpoch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/float64(rules), "ns/device/rule")
}

// BenchmarkIncremental measures PutDevice after one device's inventory or
// discovery data changed, with 1,000 query collections over
// CONSIGN_BENCH_DEVICES devices (default 100,000). Target: ≤ 200 µs per
// change.
func BenchmarkIncremental(b *testing.B) {
	n := benchDevices(b, 100_000)
	e, perDevice := benchEngine(b, n, benchQueries(1000))
	rng := rand.New(rand.NewPCG(3, 4))
	b.ResetTimer()
	b.ReportMetric(perDevice, "B/device")
	for i := range b.N {
		b.StopTimer()
		id := uint32(16777216 + rng.IntN(n))
		d, _ := e.Device(id)
		switch i % 3 {
		case 0: // software inventory: one program more or less
			arp := d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"]
			if len(arp) > 10 {
				arp = arp[1:]
			} else {
				arp = append(arp, Instance{"DisplayName": "7-Zip 9.20", "Publisher": "Igor Pavlov"})
			}
			d.Inventory["SMS_G_System_ADD_REMOVE_PROGRAMS"] = arp
		case 1: // hardware inventory: disk space
			d.Inventory["SMS_G_System_LOGICAL_DISK"][0]["FreeSpace"] = rng.Int64N(76293)
		default: // discovery: the device moved subnet and OU
			d.IPSubnets = []string{fmt.Sprintf("10.%d.%d.0", rng.IntN(10), rng.IntN(20))}
			d.SystemOUName = d.SystemOUName[:2]
		}
		b.StartTimer()
		if _, err := e.PutDevice(d, benchEpoch); err != nil {
			b.Fatal(err)
		}
	}
}
