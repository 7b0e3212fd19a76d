package collection_test

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/consign/consign/collection"
	"github.com/consign/consign/internal/fleet"
	"pgregory.net/rapid"
)

// For random fleet devices (some put before, some records repeated) and
// random fleet queries (some collections before the records, some after),
// PutEncodedDevices then LoadCollections — on goroutines, in small batches
// and chunks — gives exactly the memberships, CollectionsOf and Device
// results of DecodeDevice and PutDevice one record after another, then
// PutCollections.
func TestPutEncodedDevicesFleetProperty(t *testing.T) {
	s := collection.DefaultSchema()
	queries := fleet.Queries(100)
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 32).Draw(t, "devices")
		seed := rapid.Uint64().Draw(t, "seed")
		recs := make([][]byte, 0, n)
		for i := range n {
			rid := i
			if i > 0 && rapid.IntRange(0, 9).Draw(t, "repeat") == 0 {
				rid = rapid.IntRange(0, i-1).Draw(t, "rid") // the same device again, other inventory
			}
			b, err := collection.EncodeDevice(fleet.Device(rand.New(rand.NewPCG(seed, uint64(i))), rid), s)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, b)
		}
		cols := fleetCollections(rapid.SliceOfNDistinct(rapid.SampledFrom(queries), 1, 6, rapid.ID[string]).Draw(t, "queries"))
		split := rapid.IntRange(0, len(cols)).Draw(t, "before")
		early := rapid.IntRange(0, len(recs)).Draw(t, "early") // put one by one into both

		ref, got := collection.NewEngine(s), collection.NewEngine(s)
		got.SetParallel(rapid.IntRange(1, 3).Draw(t, "workers"), goParallel)
		collection.SetLoadSizes(got, rapid.IntRange(1, 40).Draw(t, "batch"), rapid.IntRange(1, 2).Draw(t, "chunk"))
		for _, c := range cols[:split] {
			if _, err := ref.PutCollection(c, fleet.Epoch); err != nil {
				t.Fatal(err)
			}
		}
		if errs := got.LoadCollections(cols[:split], fleet.Epoch); slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
			t.Fatal(errs)
		}
		for i, b := range recs {
			d, err := collection.DecodeDevice(b, s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ref.PutDevice(d, fleet.Epoch); err != nil {
				t.Fatal(err)
			}
			if i < early {
				if _, err := got.PutDevice(d, fleet.Epoch); err != nil {
					t.Fatal(err)
				}
			}
		}
		res, err := got.PutEncodedDevices(recs[early:], fleet.Epoch, &collection.LoadOptions{NoDelta: rapid.Bool().Draw(t, "noDelta")})
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range res.Errs {
			if err != nil {
				t.Fatalf("record %d: %v", early+i, err)
			}
		}
		for _, c := range cols[split:] {
			if _, err := ref.PutCollection(c, fleet.Epoch); err != nil {
				t.Fatal(err)
			}
		}
		if errs := got.LoadCollections(cols[split:], fleet.Epoch); slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
			t.Fatal(errs)
		}
		for _, c := range ref.Collections() {
			if g, r := got.Members(c.ID), ref.Members(c.ID); !slices.Equal(g, r) {
				t.Fatalf("%s: members %v\none by one %v", c.ID, g, r)
			}
		}
		if got.NumDevices() != ref.NumDevices() {
			t.Fatalf("%d devices, one by one %d", got.NumDevices(), ref.NumDevices())
		}
		for i := range n {
			rid := 16777216 + uint32(i)
			dg, okg := got.Device(rid)
			dr, okr := ref.Device(rid)
			if okg != okr || !reflect.DeepEqual(dg, dr) {
				t.Fatalf("Device(%d) = %+v\none by one  %+v", rid, dg, dr)
			}
			if g, r := got.CollectionsOf(rid), ref.CollectionsOf(rid); !slices.Equal(g, r) {
				t.Fatalf("CollectionsOf(%d) = %v, one by one %v", rid, g, r)
			}
		}
	})
}
