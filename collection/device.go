package collection

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
)

// Device is one resource: its SMS_R_System discovery properties and its
// inventory rows (§1.6, §7). The common discovery properties are fields; the
// rest of the schema's SMS_R_System properties go in Properties.
//
// Client, Obsolete and Active are ConfigMgr Integers, so queries write
// "SMS_R_System.Client = 1": Obsolete and Active are 1 or 0; Client is 1 or
// NULL (a discovered system without the client), so "Client is null" finds
// systems without it. ResourceType is always 5 (System).
type Device struct {
	ResourceID                    uint32 // SMS_R_System.ResourceId, never 0
	Name                          string // required
	NetbiosName                   string
	SMSUniqueIdentifier           string // the client's GUID, e.g. "GUID:…"
	OperatingSystemNameandVersion string // e.g. "Microsoft Windows NT Workstation 5.1"
	Client, Obsolete, Active      bool
	ResourceDomainORWorkgroup     string
	SystemOUName                  []string
	SystemGroupName               []string
	IPAddresses                   []string
	IPSubnets                     []string
	ADSiteName                    string
	LastLogonUserName             string

	// TimeZone is the device's IANA time zone name, e.g. "Europe/Berlin"
	// ("" = UTC), for schedules in client local time (§1.1, §7 item 10).
	// The package never loads it; the caller resolves it to a
	// *time.Location.
	TimeZone string

	// Properties holds any other SMS_R_System property of the schema, by
	// name, as a Go value wql.ValueOf accepts for its type.
	Properties map[string]any

	// Inventory maps an inventory class name to its rows. A row's
	// ResourceID may be omitted; it is the device's.
	Inventory map[string][]Instance
}

// Instance is one inventory row: property name → Go value.
type Instance map[string]any

// ResourceTypeSystem is SMS_R_System.ResourceType for a system resource.
const ResourceTypeSystem = 5

// deviceField is an SMS_R_System property Device has a field for: the type
// the field needs, and how to read and write it. Such a property may not also
// appear in Properties.
type deviceField struct {
	wql.Property
	get func(*Device) wql.Value
	set func(*Device, wql.Value) // nil: derived, not set back
}

// deviceFields lists the Device fields. An empty string or list is NULL, as
// ConfigMgr stores a property discovery did not find; Client, Obsolete and
// Active are Integers 1 and 0.
var deviceFields = [...]deviceField{
	{wql.Property{Name: "ResourceId", Type: wql.Integer}, func(d *Device) wql.Value { return wql.Int(int64(d.ResourceID)) }, nil},
	{wql.Property{Name: "ResourceType", Type: wql.Integer}, func(*Device) wql.Value { return wql.Int(ResourceTypeSystem) }, nil},
	strField("Name", func(d *Device) *string { return &d.Name }),
	strField("NetbiosName", func(d *Device) *string { return &d.NetbiosName }),
	strField("SMSUniqueIdentifier", func(d *Device) *string { return &d.SMSUniqueIdentifier }),
	strField("OperatingSystemNameandVersion", func(d *Device) *string { return &d.OperatingSystemNameandVersion }),
	clientField(),
	flagField("Obsolete", func(d *Device) *bool { return &d.Obsolete }),
	flagField("Active", func(d *Device) *bool { return &d.Active }),
	strField("ResourceDomainORWorkgroup", func(d *Device) *string { return &d.ResourceDomainORWorkgroup }),
	listField("SystemOUName", func(d *Device) *[]string { return &d.SystemOUName }),
	listField("SystemGroupName", func(d *Device) *[]string { return &d.SystemGroupName }),
	listField("IPAddresses", func(d *Device) *[]string { return &d.IPAddresses }),
	listField("IPSubnets", func(d *Device) *[]string { return &d.IPSubnets }),
	strField("ADSiteName", func(d *Device) *string { return &d.ADSiteName }),
	strField("LastLogonUserName", func(d *Device) *string { return &d.LastLogonUserName }),
}

func strField(name string, f func(*Device) *string) deviceField {
	return deviceField{
		wql.Property{Name: name, Type: wql.String},
		func(d *Device) wql.Value {
			if *f(d) == "" {
				return wql.Null()
			}
			return wql.Str(*f(d))
		},
		func(d *Device, v wql.Value) { *f(d) = v.String() },
	}
}

func flagField(name string, f func(*Device) *bool) deviceField {
	return deviceField{
		wql.Property{Name: name, Type: wql.Integer},
		func(d *Device) wql.Value {
			if *f(d) {
				return wql.Int(1)
			}
			return wql.Int(0)
		},
		func(d *Device, v wql.Value) { *f(d) = v.Int() != 0 },
	}
}

// clientField is SMS_R_System.Client: 1 for a system with the ConfigMgr
// client, NULL for one discovery found without it — as ConfigMgr stores it,
// so the console's classic "Client is null" query finds the systems to push
// the client to.
func clientField() deviceField {
	return deviceField{
		wql.Property{Name: "Client", Type: wql.Integer},
		func(d *Device) wql.Value {
			if d.Client {
				return wql.Int(1)
			}
			return wql.Null()
		},
		func(d *Device, v wql.Value) { d.Client = !v.IsNull() && v.Int() != 0 },
	}
}

func listField(name string, f func(*Device) *[]string) deviceField {
	return deviceField{
		wql.Property{Name: name, Type: wql.String, Array: true},
		func(d *Device) wql.Value {
			l := *f(d)
			if len(l) == 0 {
				return wql.Null()
			}
			vs := make([]wql.Value, len(l))
			for i, s := range l {
				vs[i] = wql.Str(s)
			}
			return wql.Array(vs...)
		},
		func(d *Device, v wql.Value) {
			var l []string
			for _, x := range v.Elems() {
				l = append(l, x.String())
			}
			*f(d) = l
		},
	}
}

// Validate reports every problem with d against schema s at once: a zero
// ResourceID, a missing Name, a property or class s does not have (or gives
// twice, names being case-insensitive), a value of the wrong type, and an
// inventory row whose ResourceID is not the device's. Field paths look like
// Device.Inventory["SMS_G_System_LOGICAL_DISK"][2].FreeSpace.
func (d *Device) Validate(s *wql.Schema) error {
	_, err := newLayout(s).rows(d)
	return err
}

// rows checks d and converts it to rows, one list per class; SMS_R_System's
// has the one row. Checking and converting are one walk, since both look up
// every name and convert every value.
func (l *layout) rows(d *Device) ([][]wql.Row, error) {
	var probs []*consign.ValidationError
	add := func(field string, value any, rule string) {
		probs = append(probs, &consign.ValidationError{Field: field, Value: value, Rule: rule})
	}
	if d.ResourceID == 0 {
		add("Device.ResourceID", nil, "must not be 0")
	}
	if d.Name == "" {
		add("Device.Name", nil, "required")
	}
	rows := make([][]wql.Row, len(l.classes))
	sys := make(wql.Row, len(l.classes[0].Properties))
	for i, f := range deviceFields {
		if j := l.field[i]; j >= 0 {
			sys[j] = f.get(d)
		}
	}
	by := make([]string, len(sys)) // the name that set each property
	for name, x := range d.Properties {
		j, ok := l.property(0, name)
		if ok && slices.Contains(l.field[:], j) {
			add(fmt.Sprintf("Device.Properties[%q]", name), nil, "set through the Device field of that name")
			continue
		}
		if name, rule := l.set(sys, by, 0, j, ok, name, x); rule != "" {
			add(fmt.Sprintf("Device.Properties[%q]", name), d.Properties[name], rule)
		}
	}
	rows[0] = []wql.Row{sys}
	classBy := make([]string, len(l.classes))
	for class, insts := range d.Inventory {
		c, ok := l.class(class)
		switch {
		case !ok || c == 0:
			add(fmt.Sprintf("Device.Inventory[%q]", class), nil, "must name an inventory class of the schema")
			continue
		case classBy[c] != "":
			add(fmt.Sprintf("Device.Inventory[%q]", max(class, classBy[c])), nil, "class given twice (names are case-insensitive)")
			classBy[c] = min(class, classBy[c])
			continue
		}
		classBy[c] = class
		props := l.classes[c].Properties
		by := make([]string, len(props))
		for i, inst := range insts {
			row := make(wql.Row, len(props))
			clear(by)
			for name, x := range inst {
				j, ok := l.property(c, name)
				name, rule := l.set(row, by, c, j, ok, name, x)
				if rule == "" && j == l.rid[c] && !row[j].IsNull() && row[j].Int() != int64(d.ResourceID) {
					rule = "must equal Device.ResourceID"
				}
				if rule != "" {
					add(fmt.Sprintf("Device.Inventory[%q][%d].%s", class, i, name), inst[name], rule)
				}
			}
			rows[c] = append(rows[c], row)
		}
	}
	if len(probs) == 0 {
		return rows, nil
	}
	slices.SortFunc(probs, func(a, b *consign.ValidationError) int { return strings.Compare(a.Field, b.Field) })
	var p consign.Problems
	for _, pr := range probs {
		p.Merge(pr)
	}
	return nil, p.Err()
}

// set converts x, given as property name, to property j of class c (found:
// ok) into row. It returns the rule broken, or "", and the name to report it
// under: of two spellings of one property, the later in sort order, so the
// report does not depend on map order. by[j] is the name that set j.
func (l *layout) set(row wql.Row, by []string, c, j int, ok bool, name string, x any) (string, string) {
	if !ok {
		return name, "must be a property of " + l.classes[c].Name + " in the schema"
	}
	if by[j] != "" {
		late := max(by[j], name)
		by[j] = min(by[j], name)
		return late, "property given twice (names are case-insensitive)"
	}
	prop := l.classes[c].Properties[j]
	v, err := wql.ValueOf(x, prop.Type, prop.Array)
	if err != nil {
		return name, "must be a " + typeName(prop)
	}
	by[j] = name
	row[j] = v
	return name, ""
}

func typeName(p wql.Property) string {
	if p.Array {
		return "array of " + p.Type.String()
	}
	return p.Type.String()
}

// Clone returns a deep copy of d: slices, maps, and slice values inside
// Properties and Inventory are copied, so changing the copy never changes d.
func (d *Device) Clone() *Device {
	c := *d
	c.SystemOUName = slices.Clone(d.SystemOUName)
	c.SystemGroupName = slices.Clone(d.SystemGroupName)
	c.IPAddresses = slices.Clone(d.IPAddresses)
	c.IPSubnets = slices.Clone(d.IPSubnets)
	c.Properties = cloneInstance(d.Properties)
	if d.Inventory != nil {
		c.Inventory = make(map[string][]Instance, len(d.Inventory))
		for k, rows := range d.Inventory {
			cp := make([]Instance, len(rows))
			for i, r := range rows {
				cp[i] = cloneInstance(r)
			}
			c.Inventory[k] = cp
		}
	}
	return &c
}

func cloneInstance[M ~map[string]any](m M) M {
	if m == nil {
		return nil
	}
	out := make(M, len(m))
	for k, v := range m {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && !rv.IsNil() {
			cp := reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
			reflect.Copy(cp, rv)
			v = cp.Interface()
		}
		out[k] = v
	}
	return out
}
