package wql_test

import (
	"fmt"
	"time"

	"github.com/consign/consign/collection/wql"
)

// machine is one resource: its rows per class, indexed like the schema.
type machine [][]wql.Row

func (m machine) Rows(c int) []wql.Row { return m[c] }

func ExampleCompile() {
	schema, err := wql.NewSchema(
		wql.Class{Name: "SMS_R_System", Properties: []wql.Property{
			{Name: "ResourceId", Type: wql.Integer},
			{Name: "Name", Type: wql.String},
			{Name: "SystemOUName", Type: wql.String, Array: true},
		}},
		wql.Class{Name: "SMS_G_System_ADD_REMOVE_PROGRAMS", Properties: []wql.Property{
			{Name: "ResourceID", Type: wql.Integer},
			{Name: "DisplayName", Type: wql.String},
		}},
	)
	if err != nil {
		panic(err)
	}
	// Workstations in the OU that lack Visio: the classic sub-select.
	q, err := wql.Compile(`select SMS_R_System.Name from SMS_R_System
		where SMS_R_System.SystemOUName = "CONTOSO.COM/WORKSTATIONS"
		and SMS_R_System.ResourceId not in (select ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS
			where DisplayName like "Microsoft Office Visio%")`, schema)
	if err != nil {
		panic(err)
	}
	ou := wql.Array(wql.Str("CONTOSO.COM/WORKSTATIONS"))
	machines := map[string]machine{
		"WKS-01": {{{wql.Int(1), wql.Str("WKS-01"), ou}}, {{wql.Int(1), wql.Str("Adobe Reader 9")}}},
		"WKS-02": {{{wql.Int(2), wql.Str("WKS-02"), ou}}, {{wql.Int(2), wql.Str("Microsoft Office Visio Professional 2007")}}},
		"SRV-01": {{{wql.Int(3), wql.Str("SRV-01"), wql.Array(wql.Str("CONTOSO.COM/SERVERS"))}}, nil},
	}
	p := q.Prepare(time.Now(), nil) // not Global: no need to iterate every resource
	for _, name := range []string{"WKS-01", "WKS-02", "SRV-01"} {
		fmt.Println(name, p.Match(machines[name]))
	}

	_, err = wql.Compile(`select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%6.1%"`, schema)
	fmt.Println(err)
	// Output:
	// WKS-01 true
	// WKS-02 false
	// SRV-01 false
	// wql: line 1, column 47: unknown property "OperatingSystemNameandVersion" of class SMS_R_System
}
