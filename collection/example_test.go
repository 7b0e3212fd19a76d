package collection_test

import (
	"fmt"
	"sync"
	"time"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/collection/wql"
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

// A site reopening: its store holds each device in storage form
// (EncodeDevice); it puts them all at once, keeping a few fields of each
// beside the Engine, then loads its collections, evaluated over every
// device in one pass. SetParallel lets both use two goroutines.
func ExampleEngine_PutEncodedDevices() {
	now := time.Date(2011, 3, 15, 12, 0, 0, 0, time.UTC)
	s := collection.DefaultSchema()
	var stored [][]byte // what the store returns
	for i, os := range []string{"5.1", "6.1", "5.1"} {
		d := &collection.Device{ResourceID: 16777220 + uint32(i), Name: fmt.Sprintf("BER-PC%02d", i+1), Client: true,
			OperatingSystemNameandVersion: "Microsoft Windows NT Workstation " + os, ADSiteName: "BER",
			Inventory: map[string][]collection.Instance{"SMS_G_System_OPERATING_SYSTEM": {{"Version": os + ".2600"}}}}
		b, err := collection.EncodeDevice(d, s)
		if err != nil {
			fmt.Println(err)
			return
		}
		stored = append(stored, b)
	}

	e := collection.NewEngine(s)
	e.SetParallel(2, func(n int, work func(i int)) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { work(i) })
		}
		wg.Wait()
	})
	res, err := e.PutEncodedDevices(stored, now, &collection.LoadOptions{
		NoDelta: true,
		Values:  []string{"SMS_G_System_OPERATING_SYSTEM.Version"},
		Fields: func(i int, d *collection.Device, values []wql.Value) {
			fmt.Println(d.ResourceID, d.Name, d.ADSiteName, values[0].String())
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, err := range res.Errs {
		if err != nil {
			fmt.Println("record", i, err)
		}
	}

	xp := collection.NewCollection("CEN00010", "All Windows XP Systems", now)
	xp.QueryRules = []collection.QueryRule{{RuleName: "XP",
		Query: `select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 5.1%"`}}
	for _, err := range e.LoadCollections([]*collection.Collection{xp}, now) {
		if err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("XP:", e.Members("CEN00010"))
	// Output:
	// 16777220 BER-PC01 BER 5.1.2600
	// 16777221 BER-PC02 BER 6.1.2600
	// 16777222 BER-PC03 BER 5.1.2600
	// XP: [16777220 16777222]
}
