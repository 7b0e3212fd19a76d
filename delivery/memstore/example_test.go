package memstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/memstore"
)

// A read-modify-write guarded by the revision read, and a follower catching
// up through the change feed.
func Example() {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()

	rev, _ := s.Apply(ctx, []delivery.Write{{Op: delivery.Put, Expect: 0, // must not exist yet
		Record: delivery.Record{Kind: "package", Key: "CEN00001", Index: map[string]string{"name": "Office"}, Data: []byte("v1")}}})
	r, _ := s.Get(ctx, "package", "CEN00001")
	fmt.Println(string(r.Data), r.Revision == rev)

	update := func(data string) error {
		r.Data = []byte(data)
		_, err := s.Apply(ctx, []delivery.Write{{Op: delivery.Put, Expect: r.Revision, Record: r}})
		return err
	}
	fmt.Println(update("v2"))
	fmt.Println(errors.Is(update("v3 from a stale read"), consign.ErrConflict))

	_, _ = s.Apply(ctx, []delivery.Write{{Op: delivery.Delete, Expect: delivery.AnyRevision,
		Record: delivery.Record{Kind: "package", Key: "CEN00001"}}})
	changes, _ := s.Changes(ctx, rev, 0)
	for _, c := range changes {
		fmt.Println(c.Record.Kind, c.Record.Key, "deleted:", c.Deleted)
	}
	// Output:
	// v1 true
	// <nil>
	// true
	// package CEN00001 deleted: true
}
