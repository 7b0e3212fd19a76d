package collection_test

import (
	"fmt"
	"time"

	"github.com/consign/consign/collection"
)

// An Engine with three devices and two query-based collections, the second
// limited to the first; then one device's software inventory changes.
func ExampleEngine() {
	now := time.Date(2011, 3, 15, 12, 0, 0, 0, time.UTC)
	e := collection.NewEngine(collection.DefaultSchema())

	office := func(names ...string) map[string][]collection.Instance {
		var rows []collection.Instance
		for _, n := range names {
			rows = append(rows, collection.Instance{"DisplayName": n, "Publisher": "Microsoft"})
		}
		return map[string][]collection.Instance{"SMS_G_System_ADD_REMOVE_PROGRAMS": rows}
	}
	for _, d := range []*collection.Device{
		{ResourceID: 16777220, Name: "BER-PC01", Client: true, OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 5.1",
			Inventory: office("Microsoft Office Professional Edition 2003")},
		{ResourceID: 16777221, Name: "BER-PC02", Client: true, OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.1",
			Inventory: office("Microsoft Office Professional Plus 2007")},
		{ResourceID: 16777222, Name: "NYC-PC07", Client: true, OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 5.1"},
	} {
		if _, err := e.PutDevice(d, now); err != nil {
			fmt.Println(err)
		}
	}

	xp := collection.NewCollection("CEN00010", "All Windows XP Systems", now)
	xp.QueryRules = []collection.QueryRule{{
		RuleName: "XP",
		Query:    `select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 5.1%" and SMS_R_System.Client = 1`,
	}}
	upgrade := collection.NewCollection("CEN00011", "XP with Office 2003", now)
	upgrade.QueryRules = []collection.QueryRule{{
		RuleName:            "Office 2003",
		Query:               `select * from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "%Office%2003%"`,
		LimitToCollectionID: "CEN00010",
	}}
	for _, c := range []*collection.Collection{xp, upgrade} {
		if _, err := e.PutCollection(c, now); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("XP:", e.Members("CEN00010"))
	fmt.Println("XP with Office 2003:", e.Members("CEN00011"))

	// NYC-PC07's next software inventory reports Office 2003.
	d, _ := e.Device(16777222)
	d.Inventory = office("Microsoft Office Standard Edition 2003")
	delta, _ := e.PutDevice(d, now)
	fmt.Println("changes:", delta.Changes)
	fmt.Println("NYC-PC07 is in:", e.CollectionsOf(16777222))
	// Output:
	// XP: [16777220 16777222]
	// XP with Office 2003: [16777220]
	// changes: [{CEN00011 16777222 true}]
	// NYC-PC07 is in: [CEN00010 CEN00011 SMS00001]
}
