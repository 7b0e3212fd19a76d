package updates_test

import (
	"fmt"

	"github.com/consign/consign/updates"
)

// The site registers its clients and the synchronised updates, keeps the
// membership of the collections it deploys to, and feeds scan results
// (topic 500 state messages) into the index as they arrive. Every summary
// is current after each batch; none is recounted.
func ExampleComplianceIndex() {
	const (
		ms08067 updates.CIID = 1001 // KB958644
		ms08078 updates.CIID = 1002 // KB960714
		office  updates.CIID = 1003 // an Office update, not deployed
	)
	x := updates.NewComplianceIndex()
	for _, dev := range []uint32{16777220, 16777221, 16777222, 16777223} {
		if err := x.AddDevice(dev); err != nil {
			panic(err)
		}
	}
	for _, u := range []updates.CIID{ms08067, ms08078, office} {
		if err := x.AddUpdate(u); err != nil {
			panic(err)
		}
	}
	// Workstations: the first three devices; December's deployment targets
	// them with the two security updates.
	if err := x.SetMembers("CEN00010", []uint32{16777220, 16777221, 16777222}); err != nil {
		panic(err)
	}
	if err := x.SetDeployment(16777300, "CEN00010", []updates.CIID{ms08067, ms08078}); err != nil {
		panic(err)
	}

	// Scan results arrive; device 16777222 has not scanned yet.
	err := x.Apply([]updates.ScanState{
		{Device: 16777220, Update: ms08067, State: updates.Installed},
		{Device: 16777220, Update: ms08078, State: updates.NotRequired},
		{Device: 16777220, Update: office, State: updates.Required},
		{Device: 16777221, Update: ms08067, State: updates.Required},
		{Device: 16777221, Update: ms08078, State: updates.Installed},
		{Device: 16777223, Update: ms08067, State: updates.Required}, // a server, not targeted
	})
	if err != nil {
		panic(err)
	}
	show := func() {
		u, _ := x.Update(ms08067)
		fmt.Printf("MS08-067: %d required, %d installed, %d unknown of %d: %d%% compliant\n",
			u.Required, u.Installed, u.Unknown, u.Total, u.PercentCompliant())
		d, _ := x.Deployment(16777300)
		fmt.Printf("deployment: %d compliant, %d non-compliant, %d unknown of %d\n",
			d.Compliant, d.NonCompliant, d.Unknown, d.Total)
	}
	show()
	fmt.Println("16777221 must install", x.RequiredUpdates(16777221))

	// A batch naming a device the site does not know changes nothing.
	err = x.Apply([]updates.ScanState{
		{Device: 16777221, Update: ms08067, State: updates.Installed},
		{Device: 42, Update: ms08067, State: updates.Installed},
	})
	fmt.Println(err)

	// 16777221 installs MS08-067 and 16777222 reports its first scan.
	err = x.Apply([]updates.ScanState{
		{Device: 16777221, Update: ms08067, State: updates.Installed},
		{Device: 16777222, Update: ms08067, State: updates.Installed},
		{Device: 16777222, Update: ms08078, State: updates.Installed},
	})
	if err != nil {
		panic(err)
	}
	show()
	c, _ := x.Collection("CEN00010")
	fmt.Printf("workstations over every update: %d compliant, %d non-compliant, %d unknown\n",
		c.Compliant, c.NonCompliant, c.Unknown)
	// Output:
	// MS08-067: 2 required, 1 installed, 1 unknown of 4: 25% compliant
	// deployment: 1 compliant, 1 non-compliant, 1 unknown of 3
	// 16777221 must install [1001]
	// invalid batch[1].Device "42": must be a registered device
	// MS08-067: 1 required, 3 installed, 0 unknown of 4: 75% compliant
	// deployment: 3 compliant, 0 non-compliant, 0 unknown of 3
	// workstations over every update: 0 compliant, 1 non-compliant, 2 unknown
}
