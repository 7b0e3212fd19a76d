package wql

import (
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// internDevices returns copies of ds whose String and array values carry ids
// (Sym, Interned), one id per distinct value, as an interning caller gives
// them; ids is shared, so that several calls agree.
func internDevices(ds []*device, ids map[string]int32) []*device {
	key := func(v Value) string {
		if !v.IsArray() {
			return "s" + v.String()
		}
		var b strings.Builder
		b.WriteString("a")
		for _, e := range v.Elems() {
			if e.IsNull() {
				b.WriteString("\x00n")
			} else {
				b.WriteString("\x00v" + e.String())
			}
		}
		return b.String()
	}
	out := make([]*device, len(ds))
	for i, d := range ds {
		cp := &device{id: d.id, rows: make([][]Row, len(d.rows))}
		for c, rows := range d.rows {
			for _, row := range rows {
				r := make(Row, len(row))
				for j, v := range row {
					if v.Type() == String || v.IsArray() {
						k := key(v)
						id, ok := ids[k]
						if !ok {
							id = int32(len(ids))
							ids[k] = id
						}
						v = Interned(v, id)
					}
					r[j] = v
				}
				cp.rows[c] = append(cp.rows[c], r)
			}
		}
		out[i] = cp
	}
	return out
}

// onlyColumns returns copies of ds with every property q does not name
// (Query.Columns) set to NULL, ResourceID aside.
func onlyColumns(s *Schema, q *Query, ds []*device) []*device {
	keep := map[Column]bool{}
	for _, c := range q.Columns() {
		keep[c] = true
	}
	out := make([]*device, len(ds))
	for i, d := range ds {
		cp := &device{id: d.id, rows: make([][]Row, len(d.rows))}
		for c, rows := range d.rows {
			rid, _ := s.PropertyIndex(c, ResourceID)
			for _, row := range rows {
				r := make(Row, len(row))
				for j, v := range row {
					if keep[Column{c, j}] || j == rid {
						r[j] = v
					}
				}
				cp.rows[c] = append(cp.rows[c], r)
			}
		}
		out[i] = cp
	}
	return out
}

// TestMatchAgreesWithReferenceInterned is TestMatchAgreesWithReference with
// interned values, matched twice (the second time from the memo), and with
// the properties the query does not name left NULL.
func TestMatchAgreesWithReferenceInterned(t *testing.T) {
	s := testSchema(t)
	rapid.Check(t, func(t *rapid.T) {
		plain := drawDevices(t, s)
		ids := map[string]int32{}
		devs := internDevices(plain, ids)
		g := &qgen{t: t, s: s}
		src := g.query()
		q, err := Compile(src, s)
		if err != nil {
			t.Fatalf("generated query does not compile: %v\n%s", err, src)
		}
		all := resources(devs)
		p := q.Prepare(propNow, all)
		want := (&refEval{s: s, all: plain, now: Time(propNow)}).matches(q)
		masked := onlyColumns(s, q, devs)
		for round := range 2 {
			for i, d := range devs {
				if got := p.Match(d); got != want[d.id] {
					t.Fatalf("round %d, %v: Match = %v, reference = %v\nquery: %s\nrows: %v", round, d, got, want[d.id], src, d.rows)
				}
				if got := p.Match(masked[i]); got != want[d.id] {
					t.Fatalf("%v with only the query's columns: Match = %v, reference = %v\nquery: %s\ncolumns: %v", d, got, want[d.id], src, q.Columns())
				}
			}
		}
	})
}

func TestSymAndInterned(t *testing.T) {
	v := Sym("Adobe Reader 9", 7)
	if id, ok := v.ID(); !ok || id != 7 || v.String() != "Adobe Reader 9" || v.Type() != String {
		t.Fatalf("Sym: %v %v %q %v", id, ok, v.String(), v.Type())
	}
	if _, ok := Str("x").ID(); ok {
		t.Fatal("Str has an id")
	}
	if Sym("x", -1) != Str("x") || Interned(v, -1) != Str("Adobe Reader 9") {
		t.Fatal("a negative id must remove the tag")
	}
	a := Interned(Array(Str("10.1.2.0")), 3)
	if id, ok := a.ID(); !ok || id != 3 || !a.IsArray() || len(a.Elems()) != 1 {
		t.Fatalf("Interned array: %v %v %v", id, ok, a)
	}
	if n := Interned(Int(5), 3); n != Int(5) {
		t.Fatalf("Interned(Int(5)) = %v", n)
	}
}

// TestMemoConcurrent matches interned resources from several goroutines
// against one Prepared (run it with -race): the memo must stay coherent.
func TestMemoConcurrent(t *testing.T) {
	s := testSchema(t)
	q, err := Compile(`select * from SMS_R_System inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId where SMS_G_System_ADD_REMOVE_PROGRAMS.DisplayName like "Microsoft%"`, s)
	if err != nil {
		t.Fatal(err)
	}
	p := q.Prepare(propNow, nil)
	var devs []*device
	for i := range 64 {
		var rows []map[string]any
		for j := range 3 {
			rows = append(rows, map[string]any{"DisplayName": poolApps[(i+j)%(len(poolApps)-1)]})
		}
		devs = append(devs, newDevice(t, s, int64(i+1), map[string]any{"Name": "PC"}, map[string][]map[string]any{"SMS_G_System_ADD_REMOVE_PROGRAMS": rows}))
	}
	ids := map[string]int32{}
	for i := range 5000 { // ids beyond the first memo chunks
		ids[string(rune(i))+"\x01"] = int32(i)
	}
	interned := internDevices(devs, ids)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, d := range interned {
				if got, want := p.Match(d), p.Match(devs[i]); got != want {
					t.Errorf("device %d: interned %v, plain %v", i+1, got, want)
				}
			}
		})
	}
	wg.Wait()
}
