package collection

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/consign/consign"
	"github.com/hashicorp/go-multierror"
	"pgregory.net/rapid"
)

// fields returns the field paths of every *consign.ValidationError in err,
// sorted.
func fields(err error) []string {
	errs := []error{err}
	var me *multierror.Error
	if errors.As(err, &me) {
		errs = me.Errors
	}
	var out []string
	for _, e := range errs {
		var ve *consign.ValidationError
		if errors.As(e, &ve) {
			out = append(out, ve.Field)
		} else {
			out = append(out, "?"+e.Error())
		}
	}
	slices.Sort(out)
	return out
}

// Pools the generators draw from: small, so that queries match some devices
// and not others.
var (
	poolOS = []string{
		"Microsoft Windows NT Workstation 5.1",
		"Microsoft Windows NT Workstation 6.1",
		"Microsoft Windows NT Server 5.2",
	}
	poolOU = []string{
		"CONTOSO.COM/WORKSTATIONS",
		"CONTOSO.COM/WORKSTATIONS/BERLIN",
		"CONTOSO.COM/SERVERS",
	}
	poolSubnet = []string{"10.1.0.0", "10.2.0.0", "192.168.5.0"}
	poolApp    = []string{"Microsoft Office Professional 2007", "Adobe Reader 9", "Mozilla Firefox (3.6.13)", "7-Zip 9.20"}
	poolModel  = []string{"Latitude D620", "OptiPlex 755", "ProLiant DL380 G5"}
	poolName   = []string{"PC01", "PC02", "PC03", "SRV01"}
)

// someOf draws a subset of pool, nil when empty.
func someOf(t *rapid.T, pool []string, label string) []string {
	var out []string
	for _, s := range pool {
		if rapid.Bool().Draw(t, label) {
			out = append(out, s)
		}
	}
	return out
}

// genDevice draws a device in the canonical form Engine.Device returns, so
// that a round trip compares equal.
func genDevice(rid uint32) *rapid.Generator[*Device] {
	return rapid.Custom(func(t *rapid.T) *Device {
		d := &Device{
			ResourceID:                    rid,
			Name:                          rapid.SampledFrom(poolName).Draw(t, "name"),
			OperatingSystemNameandVersion: rapid.SampledFrom(poolOS).Draw(t, "os"),
			Client:                        rapid.Bool().Draw(t, "client"),
			Obsolete:                      rapid.Bool().Draw(t, "obsolete"),
			Active:                        rapid.Bool().Draw(t, "active"),
			SystemOUName:                  someOf(t, poolOU, "ou"),
			IPSubnets:                     someOf(t, poolSubnet, "subnet"),
			TimeZone:                      rapid.SampledFrom([]string{"", "Europe/Berlin"}).Draw(t, "tz"),
		}
		if rapid.Bool().Draw(t, "version") {
			d.Properties = map[string]any{"ClientVersion": rapid.SampledFrom([]string{"4.00.6487.2000", "4.00.6221.1000"}).Draw(t, "cv")}
		}
		inv := map[string][]Instance{}
		for _, app := range someOf(t, poolApp, "app") {
			inv["SMS_G_System_ADD_REMOVE_PROGRAMS"] = append(inv["SMS_G_System_ADD_REMOVE_PROGRAMS"], Instance{"DisplayName": app, "Publisher": "Vendor"})
		}
		for _, drive := range someOf(t, []string{"C:", "D:"}, "disk") {
			inv["SMS_G_System_LOGICAL_DISK"] = append(inv["SMS_G_System_LOGICAL_DISK"], Instance{
				"DeviceID": drive, "FreeSpace": rapid.Int64Range(0, 20000).Draw(t, "free"), "DriveType": int64(3)})
		}
		if rapid.Bool().Draw(t, "cs") {
			inv["SMS_G_System_COMPUTER_SYSTEM"] = []Instance{{
				"Name":  rapid.SampledFrom(poolName).Draw(t, "csname"),
				"Model": rapid.SampledFrom(poolModel).Draw(t, "model"),
			}}
		}
		if rapid.Bool().Draw(t, "os") {
			inv["SMS_G_System_OPERATING_SYSTEM"] = []Instance{{
				"Caption":        "Microsoft Windows XP Professional",
				"LastBootUpTime": time.Date(2011, 3, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(rapid.IntRange(0, 1000).Draw(t, "boot")) * time.Hour),
			}}
		}
		if len(inv) > 0 {
			d.Inventory = inv
		}
		return d
	})
}

// queryPool holds console-style WQL queries over the pools above, including
// an uncorrelated sub-select (global) and GETDATE().
var queryPool = []string{
	`select * from SMS_R_System where SMS_R_System.Client = 1`,
	`select * from SMS_R_System where SMS_R_System.Client = 1 and SMS_R_System.Obsolete = 0`,
	`select * from SMS_R_System where SMS_R_System.OperatingSystemNameandVersion like "%Workstation 5.1%"`,
	`select * from SMS_R_System where SMS_R_System.SystemOUName = "CONTOSO.COM/WORKSTATIONS/BERLIN"`,
	`select * from SMS_R_System where SMS_R_System.IPSubnets in ("10.1.0.0", "192.168.5.0")`,
	`select SMS_R_System.ResourceId, SMS_R_System.Name from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "Microsoft Office%"`,
	`select * from SMS_R_System where SMS_R_System.ResourceId not in (select SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName = "Adobe Reader 9")`,
	`select * from SMS_R_System inner join SMS_G_System_LOGICAL_DISK on SMS_G_System_LOGICAL_DISK.ResourceID = SMS_R_System.ResourceId where SMS_G_System_LOGICAL_DISK.DeviceID = "C:" and SMS_G_System_LOGICAL_DISK.FreeSpace < 5000`,
	`select * from SMS_R_System where SMS_R_System.Name in (select SMS_G_System_COMPUTER_SYSTEM.Name from SMS_G_System_COMPUTER_SYSTEM where SMS_G_System_COMPUTER_SYSTEM.Model = "Latitude D620")`,
	`select * from SMS_R_System inner join SMS_G_System_OPERATING_SYSTEM on SMS_G_System_OPERATING_SYSTEM.ResourceID = SMS_R_System.ResourceId where DateDiff(dd, SMS_G_System_OPERATING_SYSTEM.LastBootUpTime, GetDate()) > 20`,
	`select * from SMS_R_System where SMS_R_System.ClientVersion = "4.00.6487.2000"`,
}

// genCollection draws a collection with the given ID whose rules may limit
// to any of limits.
func genCollection(id consign.ObjectID, limits []consign.ObjectID, rids []uint32) *rapid.Generator[*Collection] {
	return rapid.Custom(func(t *rapid.T) *Collection {
		c := NewCollection(id, "Collection "+string(id), time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC))
		for i, rid := range rapid.SliceOfNDistinct(rapid.SampledFrom(rids), 0, 2, rapid.ID[uint32]).Draw(t, "direct") {
			c.DirectRules = append(c.DirectRules, DirectRule{RuleName: fmt.Sprintf("direct %d", i), ResourceID: rid})
		}
		for i := range rapid.IntRange(0, 3).Draw(t, "queries") {
			r := QueryRule{RuleName: fmt.Sprintf("query %d", i), Query: rapid.SampledFrom(queryPool).Draw(t, "query")}
			if len(limits) > 0 && rapid.Bool().Draw(t, "limited") {
				r.LimitToCollectionID = rapid.SampledFrom(limits).Draw(t, "limit")
			}
			c.QueryRules = append(c.QueryRules, r)
		}
		return c
	})
}
