package wql

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The key property: for random data and random queries, Prepare(...).Match
// agrees with the reference evaluator on every resource.

var (
	propBase = time.Date(2009, 6, 15, 12, 0, 0, 0, time.UTC)
	propNow  = propBase.Add(30 * 24 * time.Hour)
)

// Value pools: few distinct values, with case variants, so that comparisons
// often hit.
var (
	poolNames = []any{"PC1", "pc1", "PC2", "Srv-01", "ſrv-01", "O'Brien\\PC", nil}
	poolOS    = []any{"Microsoft Windows NT Workstation 6.1", "Microsoft Windows NT Server 5.2",
		"microsoft windows nt workstation 5.1", "Windows_NT [x]%", nil}
	poolOU    = []any{"CONTOSO.COM/WORKSTATIONS", "contoso.com/Servers", "CONTOSO.COM", "Éts", nil}
	poolNums  = []any{0, 1, 2, 7601, nil}
	poolBuild = []any{"2600", "7601", " 6000", "abc", "-1", nil}
	poolApps  = []any{"Microsoft Office Professional 2007", "Adobe Reader 9", "Microsoft Office Standard 2010",
		"7-Zip 9.20", "Office_[x]%", "KELVIN k", "\u212Aelvin", nil}
	poolDays = []float64{-400, -35, -1, 0, 0.5, 20, 31}
)

func drawFrom(t *rapid.T, pool []any, label string) any {
	return pool[rapid.IntRange(0, len(pool)-1).Draw(t, label)]
}

func drawTime(t *rapid.T, label string) any {
	i := rapid.IntRange(-1, len(poolDays)-1).Draw(t, label)
	if i < 0 {
		return nil
	}
	return propBase.Add(time.Duration(poolDays[i] * float64(24*time.Hour)))
}

func drawStrings(t *rapid.T, pool []any, label string) any {
	n := rapid.IntRange(-1, 3).Draw(t, label)
	if n < 0 {
		return nil
	}
	xs := make([]any, n)
	for i := range xs {
		xs[i] = drawFrom(t, pool, label)
	}
	return xs
}

// drawDevices draws 1 to 4 resources with random rows.
func drawDevices(t *rapid.T, s *Schema) []*device {
	n := rapid.IntRange(1, 4).Draw(t, "devices")
	var ds []*device
	for id := int64(1); id <= int64(n); id++ {
		sys := map[string]any{
			"Name": drawFrom(t, poolNames, "Name"), "NetbiosName": drawFrom(t, poolNames, "NetbiosName"),
			"OperatingSystemNameandVersion": drawFrom(t, poolOS, "OS"),
			"Client":                        drawFrom(t, poolNums, "Client"), "Obsolete": drawFrom(t, poolNums, "Obsolete"),
			"SystemOUName": drawStrings(t, poolOU, "OU"), "IPSubnets": drawStrings(t, []any{"10.1.2.0", "10.1.3.0", nil}, "Subnets"),
			"LastLogonTimestamp": drawTime(t, "LastLogon"),
			"Decommissioned":     []any{true, false, nil}[rapid.IntRange(0, 2).Draw(t, "Decommissioned")],
		}
		inv := map[string][]map[string]any{}
		for range rapid.IntRange(0, 2).Draw(t, "os rows") {
			inv["SMS_G_System_OPERATING_SYSTEM"] = append(inv["SMS_G_System_OPERATING_SYSTEM"], map[string]any{
				"Caption": drawFrom(t, poolOS, "Caption"), "BuildNumber": drawFrom(t, poolBuild, "Build"),
				"InstallDate": drawTime(t, "InstallDate"),
			})
		}
		for range rapid.IntRange(0, 3).Draw(t, "arp rows") {
			inv["SMS_G_System_ADD_REMOVE_PROGRAMS"] = append(inv["SMS_G_System_ADD_REMOVE_PROGRAMS"], map[string]any{
				"DisplayName": drawFrom(t, poolApps, "DisplayName"), "Version": drawFrom(t, poolBuild, "Version"),
			})
		}
		for range rapid.IntRange(0, 2).Draw(t, "disk rows") {
			inv["SMS_G_System_LOGICAL_DISK"] = append(inv["SMS_G_System_LOGICAL_DISK"], map[string]any{
				"FreeSpace": drawFrom(t, poolNums, "FreeSpace"), "DriveType": drawFrom(t, []any{2, 3, nil}, "DriveType"),
			})
		}
		ds = append(ds, newDevice(t, s, id, sys, inv))
	}
	return ds
}

// qgen generates query text from the grammar, knowing the schema's types.
type qgen struct {
	t *rapid.T
	s *Schema
}

// gslot is a class in scope and the qualifier the query uses for it.
type gslot struct {
	qual  string
	class int
}

func (g *qgen) pick(label string, n int) int { return rapid.IntRange(0, n-1).Draw(g.t, label) }
func (g *qgen) chance(label string, pct int) bool {
	return rapid.IntRange(0, 99).Draw(g.t, label) < pct
}

// name writes a class or property name in a random case.
func (g *qgen) name(s string) string {
	switch g.pick("case", 4) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return strings.ToLower(s)
	}
	return s
}

func (g *qgen) quote(s string) string {
	q := []string{`"`, `'`}[g.pick("quote", 2)]
	s = strings.ReplaceAll(s, `\`, `\\`)
	return q + strings.ReplaceAll(s, q, `\`+q) + q
}

// inventory classes the generator joins.
var genClasses = []string{"SMS_G_System_OPERATING_SYSTEM", "SMS_G_System_ADD_REMOVE_PROGRAMS", "SMS_G_System_LOGICAL_DISK"}

func (g *qgen) query() string {
	from, slots := g.from(false)
	where := ""
	if g.chance("where", 90) {
		where = " where " + g.cond(slots, 0)
	}
	return "select " + g.selectList(slots) + " from " + from + where
}

func (g *qgen) selectList(slots []gslot) string {
	switch g.pick("select", 3) {
	case 0:
		return "*"
	case 1:
		sl := slots[g.pick("slot", len(slots))]
		return "distinct " + sl.qual + ".ResourceID, " + sl.qual + ".*"
	}
	return slots[0].qual + "." + g.name(ResourceID)
}

// from generates a FROM clause with up to two joins; sub marks a sub-select.
func (g *qgen) from(sub bool) (string, []gslot) {
	var b strings.Builder
	slot := func(class string) gslot {
		ci, _ := g.s.ClassIndex(class)
		sl := gslot{qual: g.name(class), class: ci}
		b.WriteString(sl.qual)
		if g.chance("alias", 30) {
			sl.qual = fmt.Sprintf("a%d", ci)
			b.WriteString([]string{" ", " as "}[g.pick("as", 2)] + sl.qual)
		}
		return sl
	}
	root := "SMS_R_System"
	if g.chance("inventory root", map[bool]int{false: 5, true: 40}[sub]) {
		root = genClasses[g.pick("root", len(genClasses))]
	}
	slots := []gslot{slot(root)}
	for range g.pick("joins", 3) {
		var cands []string
		for _, c := range append([]string{"SMS_R_System"}, genClasses...) {
			ci, _ := g.s.ClassIndex(c)
			used := false
			for _, sl := range slots {
				used = used || sl.class == ci
			}
			if !used {
				cands = append(cands, c)
			}
		}
		b.WriteString([]string{" inner join ", " left join ", " join ", " left outer join "}[g.pick("join", 4)])
		j := slot(cands[g.pick("class", len(cands))])
		parent := slots[g.pick("parent", len(slots))]
		on := []string{j.qual + ".ResourceID = " + parent.qual + ".ResourceId", parent.qual + ".ResourceID = " + j.qual + ".ResourceID"}
		b.WriteString(" on " + on[g.pick("on", 2)])
		slots = append(slots, j)
	}
	return b.String(), slots
}

func (g *qgen) cond(slots []gslot, depth int) string {
	if depth < 3 {
		switch g.pick("cond", 8) {
		case 0:
			return g.cond(slots, depth+1) + " and " + g.cond(slots, depth+1)
		case 1:
			return g.cond(slots, depth+1) + " OR " + g.cond(slots, depth+1)
		case 2:
			return "not " + g.cond(slots, depth+1)
		case 3:
			return "(" + g.cond(slots, depth+1) + ")"
		}
	}
	return g.predicate(slots, depth)
}

// column picks a property of a class in scope, of one of the wanted types
// (any when none), and writes a reference to it.
func (g *qgen) column(slots []gslot, arrays bool, types ...Type) (string, Property, bool) {
	type cand struct {
		sl gslot
		p  Property
	}
	var cs, unpopulated []cand
	for _, sl := range slots {
		for _, p := range g.s.Class(sl.class).Properties {
			if (len(types) == 0 || contains(types, p.Type)) && (arrays || !p.Array) {
				if genPopulated[strings.ToLower(p.Name)] {
					cs = append(cs, cand{sl, p})
				} else {
					unpopulated = append(unpopulated, cand{sl, p})
				}
			}
		}
	}
	if len(cs) == 0 || len(unpopulated) > 0 && g.chance("unpopulated", 3) {
		cs = unpopulated
	}
	if len(cs) == 0 {
		return "", Property{}, false
	}
	c := cs[g.pick("column", len(cs))]
	if len(slots) == 1 && g.chance("unqualified", 30) {
		return g.name(c.p.Name), c.p, true
	}
	return c.sl.qual + "." + g.name(c.p.Name), c.p, true
}

// genPopulated are the properties drawDevices fills in; the generator
// rarely picks others, which are always NULL.
var genPopulated = map[string]bool{
	"resourceid": true, "name": true, "netbiosname": true, "operatingsystemnameandversion": true,
	"client": true, "obsolete": true, "systemouname": true, "ipsubnets": true, "lastlogontimestamp": true,
	"decommissioned": true, "caption": true, "buildnumber": true, "installdate": true, "displayname": true,
	"version": true, "freespace": true, "drivetype": true,
}

func contains(ts []Type, t Type) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

var genOps = []string{"=", "!=", "<>", "<", "<=", ">", ">="}

func (g *qgen) predicate(slots []gslot, depth int) string {
	for {
		switch g.pick("predicate", 10) {
		case 0, 1: // comparison with a literal or another column
			col, p, _ := g.column(slots, true)
			return col + " " + genOps[g.pick("op", len(genOps))] + " " + g.operandFor(slots, p)
		case 2: // LIKE
			col, _, _ := g.column(slots, true, String)
			not := []string{"", "not "}[g.pick("not", 2)]
			if g.chance("upper", 15) && !strings.Contains(col, "System.S") {
				if c, _, ok := g.column(slots, false, String); ok {
					col = []string{"UPPER(", "lower("}[g.pick("fn", 2)] + c + ")"
				}
			}
			return col + " " + not + "like " + g.pattern()
		case 3: // IN list
			col, p, _ := g.column(slots, true)
			items := make([]string, 1+g.pick("items", 4))
			numeric := p.Type == String && g.chance("numeric list", 15)
			for i := range items {
				if items[i] = g.literal(p); numeric {
					items[i] = []string{"6000", "7601", "NULL"}[g.pick("n", 3)]
				} else if p.Type == String && !strings.ContainsAny(items[i][:1], `'"N`) {
					items[i] = `"2600"`
				}
			}
			return col + []string{" in (", " not in ("}[g.pick("not", 2)] + strings.Join(items, ", ") + ")"
		case 4: // IS [NOT] NULL
			col, _, _ := g.column(slots, true)
			return col + []string{" is null", " is not null", " IS NOT NULL"}[g.pick("null", 3)]
		case 5: // dates
			col, _, ok := g.column(slots, false, DateTime)
			if !ok {
				continue
			}
			if g.chance("datediff", 50) {
				part := []string{"dd", "day", "hh", "mm", "yy", "wk", "mi"}[g.pick("part", 7)]
				return fmt.Sprintf("DATEDIFF(%s, %s, GETDATE()) %s %d", part, col, genOps[g.pick("op", len(genOps))], g.pick("n", 40)-5)
			}
			return fmt.Sprintf("%s %s DATEADD(%s, %d, GETDATE())", col, genOps[g.pick("op", len(genOps))],
				[]string{"dd", "mm", "hh"}[g.pick("part", 3)], -g.pick("n", 40))
		case 6, 7: // sub-select
			if depth > 1 {
				continue
			}
			return g.subselect(slots)
		case 8: // UPPER/LOWER comparison
			col, p, ok := g.column(slots, false, String)
			if !ok {
				continue
			}
			return []string{"UPPER(", "LOWER("}[g.pick("fn", 2)] + col + ") = " + g.literal(p)
		default: // constant-ish
			return []string{"1 = 1", "1 = 0", "NULL = NULL", "'a' = 'A'"}[g.pick("const", 4)]
		}
	}
}

// subselect generates [NOT] IN (SELECT …) in the per-resource or the
// global form.
func (g *qgen) subselect(slots []gslot) string {
	not := []string{" in ", " not in "}[g.pick("not", 2)]
	from, sub := g.from(true)
	where := ""
	if g.chance("sub where", 90) {
		where = " where " + g.cond(sub, 2)
	}
	if g.chance("per-resource", 70) {
		outer := slots[g.pick("outer", len(slots))]
		inner := sub[g.pick("inner", len(sub))]
		sel := inner.qual + ".ResourceID"
		if len(sub) == 1 && g.chance("unqualified", 40) {
			sel = "ResourceID"
		}
		return outer.qual + "." + g.name("ResourceId") + not + "(select " + sel + " from " + from + where + ")"
	}
	col, p, _ := g.column(slots, true, String, Integer)
	sc, _, _ := g.column(sub, false, p.Type)
	if sc == "" {
		sc = sub[0].qual + ".ResourceID"
		col, _, _ = g.column(slots, true, Integer)
	}
	return col + not + "(select " + sc + " from " + from + where + ")"
}

// operandFor returns a literal or a column that compares with type t.
func (g *qgen) operandFor(slots []gslot, p Property) string {
	t := p.Type
	if g.chance("column operand", 25) {
		want := map[Type][]Type{String: {String, Integer}, Integer: {Integer, String, Boolean},
			Boolean: {Integer, Boolean}, DateTime: {DateTime}}[t]
		if col, _, ok := g.column(slots, true, want...); ok {
			return col
		}
	}
	return g.literal(p)
}

// genPools are the value pools of the populated String properties.
var genPools = map[string][]any{
	"name": poolNames, "netbiosname": poolNames, "operatingsystemnameandversion": poolOS, "caption": poolOS,
	"systemouname": poolOU, "displayname": poolApps, "buildnumber": poolBuild, "version": poolBuild,
}

// literal returns a literal that compares with p, usually one of the values
// p's pool holds.
func (g *qgen) literal(p Property) string {
	t := p.Type
	if g.chance("null literal", 8) {
		return "NULL"
	}
	switch t {
	case String:
		if g.chance("number for string", 15) {
			return []string{"6000", "7601", "-1"}[g.pick("n", 3)]
		}
		pool, ok := genPools[strings.ToLower(p.Name)]
		if !ok || g.chance("other pool", 20) {
			pools := [][]any{poolNames, poolOS, poolOU, poolApps, poolBuild}
			pool = pools[g.pick("pool", len(pools))]
		}
		v, _ := drawFrom(g.t, pool, "literal").(string)
		if g.chance("case", 50) {
			v = strings.ToUpper(v)
		}
		return g.quote(v)
	case Integer:
		n := []int{0, 1, 2, 7601, -1}[g.pick("n", 5)]
		if g.chance("quoted number", 30) {
			return g.quote(fmt.Sprint(n))
		}
		if g.chance("bool literal", 10) {
			return []string{"TRUE", "false"}[g.pick("b", 2)]
		}
		return fmt.Sprint(n)
	case Boolean:
		return []string{"TRUE", "FALSE", "1", "0", `"1"`}[g.pick("b", 5)]
	}
	tm, _ := drawTime(g.t, "time literal").(time.Time)
	if tm.IsZero() {
		tm = propBase
	}
	switch g.pick("date format", 4) {
	case 0:
		return g.quote(tm.Format("2006-01-02"))
	case 1:
		return g.quote(tm.Format("2006-01-02 15:04:05"))
	case 2:
		return g.quote(tm.Format("01/02/2006 15:04:05"))
	}
	return g.quote(tm.Format("20060102150405.000000") + "+000")
}

// pattern generates a LIKE pattern from a pool value: a substring, some
// characters replaced by _ or a set, % added, the case changed.
func (g *qgen) pattern() string {
	if g.chance("null pattern", 3) {
		return "NULL"
	}
	v, _ := drawFrom(g.t, append(append(append([]any{}, poolOS...), poolApps...), poolNames...), "pattern base").(string)
	rs := []rune(v)
	i := g.pick("from", len(rs)+1)
	j := i + g.pick("len", len(rs)-i+1)
	var b strings.Builder
	if i > 0 || g.chance("lead %", 30) {
		b.WriteString("%")
	}
	for _, r := range rs[i:j] {
		switch g.pick("pattern char", 12) {
		case 0:
			b.WriteString("_")
		case 1:
			b.WriteString([]string{"[a-m]", "[^0-9]", "[A-Z0-9 ]", "[^a-z]", "[-_]"}[g.pick("set", 5)])
		case 2:
			b.WriteString("%")
		default:
			switch r {
			case '%', '_', '[':
				b.WriteString("[" + string(r) + "]")
			default:
				if g.chance("upper", 30) {
					b.WriteString(strings.ToUpper(string(r)))
				} else {
					b.WriteRune(r)
				}
			}
		}
	}
	if j < len(rs) || g.chance("trail %", 30) {
		b.WriteString("%")
	}
	if g.chance("unclosed", 3) {
		b.WriteString("[")
	}
	return g.quote(b.String())
}

func TestMatchAgreesWithReference(t *testing.T) {
	s := testSchema(t)
	rapid.Check(t, func(t *rapid.T) {
		devs := drawDevices(t, s)
		g := &qgen{t: t, s: s}
		src := g.query()
		q, err := Compile(src, s)
		if err != nil {
			t.Fatalf("generated query does not compile: %v\n%s", err, src)
		}
		all := resources(devs)
		p := q.Prepare(propNow, all)
		want := (&refEval{s: s, all: devs, now: Time(propNow)}).matches(q)
		for _, d := range devs {
			if got := p.Match(d); got != want[d.id] {
				t.Fatalf("%v: Match = %v, reference = %v\nquery: %s\nrows: %v", d, got, want[d.id], src, d.rows)
			}
		}
	})
}
