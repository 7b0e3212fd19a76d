package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/pgstore"
)

// Two handles on one schema, as two Site processes would hold: a
// read-modify-write guarded by the revision read, a writer that lost the
// race, and the other handle catching up through the change feed. (This
// example needs a database, so it is compiled but not run by go test.)
func Example() {
	ctx := context.Background()
	dsn := os.Getenv("CONSIGN_TEST_POSTGRES") // e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	a, err := pgstore.Open(ctx, dsn, &pgstore.Options{Schema: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := pgstore.Open(ctx, dsn, &pgstore.Options{Schema: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	seen, err := b.Changes(ctx, 0, 0) // b loads the store
	if err != nil {
		log.Fatal(err)
	}
	var last int64
	if len(seen) > 0 {
		last = seen[len(seen)-1].Record.Revision
	}

	rev, err := a.Apply(ctx, []delivery.Write{{Op: delivery.Put, Expect: delivery.AnyRevision,
		Record: delivery.Record{Kind: "package", Key: "CEN00001", Index: map[string]string{"name": "Office"}, Data: []byte("v1")}}})
	if err != nil {
		log.Fatal(err)
	}
	// b updates what it read at rev; a, with a stale read, loses.
	r, _ := b.Get(ctx, "package", "CEN00001")
	r.Data = []byte("v2")
	if _, err := b.Apply(ctx, []delivery.Write{{Op: delivery.Put, Expect: r.Revision, Record: r}}); err != nil {
		log.Fatal(err)
	}
	_, err = a.Apply(ctx, []delivery.Write{{Op: delivery.Delete, Expect: rev, Record: delivery.Record{Kind: "package", Key: "CEN00001"}}})
	fmt.Println(errors.Is(err, consign.ErrConflict))

	// Another process follows the feed from where it was.
	changes, err := a.Changes(ctx, last, 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range changes {
		fmt.Println(c.Record.Kind, c.Record.Key, string(c.Record.Data))
	}
}

// An embedder that owns its pool: the Store uses it, and Close leaves it
// open. Large device-state batches go through PutBatch.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("CONSIGN_TEST_POSTGRES"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	s, err := pgstore.New(ctx, pool, &pgstore.Options{Schema: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // before pool.Close

	recs := make([]delivery.Record, 5000)
	for i := range recs {
		recs[i] = delivery.Record{Kind: "adstatus", Key: fmt.Sprintf("CEN20001/%010d", i),
			Index: map[string]string{"state": "Succeeded"}, Data: []byte{0x01, byte(i)}}
	}
	rev, err := s.PutBatch(ctx, recs) // staged with COPY: 5,000 ≥ DefaultCopyThreshold
	if err != nil {
		log.Fatal(err)
	}
	page, next, err := s.List(ctx, "adstatus", delivery.Query{IndexName: "state", IndexValue: "Succeeded", Limit: 100})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rev > 0, len(page), next)
}
