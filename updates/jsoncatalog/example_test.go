package jsoncatalog_test

import (
	"context"
	"fmt"
	"os"
	"testing/fstest"

	"github.com/consign/consign/updates"
	"github.com/consign/consign/updates/jsoncatalog"
)

// An incremental sync: the first Fetch takes everything and a cursor; after
// the publisher replaces the file with its next revision, Fetch with that
// cursor returns only what changed.
func ExampleSource_Fetch() {
	v1, _ := os.ReadFile("testdata/catalog.json")
	v2, _ := os.ReadFile("testdata/catalog-v2.json")
	dir := fstest.MapFS{"contoso.json": {Data: v1}} // or jsoncatalog.Open(path)
	src, err := jsoncatalog.New(dir, "contoso.json")
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	catalog := map[string]*updates.Update{}
	have := func(id string) (*updates.Update, bool) { u, ok := catalog[id]; return u, ok }
	next := updates.CIID(16777216)
	alloc := func() updates.CIID { next++; return next }
	sync := func(cursor string) string {
		batch, err := src.Fetch(ctx, cursor)
		if err != nil {
			panic(err)
		}
		plan, err := updates.PlanSync(have, batch.Updates, updates.Filter{}, alloc)
		if err != nil {
			panic(err)
		}
		fmt.Printf("fetched %d since %q: %d new, %d revised, %d expired\n",
			len(batch.Updates), cursor, len(plan.New), len(plan.Revised), len(plan.Expired))
		for _, u := range plan.Revised {
			fmt.Printf("  revised  KB%s to revision %d\n", u.ArticleID, u.Revision)
		}
		for _, u := range plan.Expired {
			why := "withdrawn by the vendor"
			if u.Superseded() {
				why = "superseded"
			}
			fmt.Printf("  expired  KB%s: %s\n", u.ArticleID, why)
		}
		for _, u := range plan.Writes() {
			catalog[u.UniqueID] = &u
		}
		return batch.Cursor
	}

	cursor := sync("")
	dir["contoso.json"] = &fstest.MapFile{Data: v2} // the publisher's next revision
	cursor = sync(cursor)
	sync(cursor)
	// Output:
	// fetched 25 since "": 25 new, 0 revised, 0 expired
	// fetched 4 since "contoso-updates:25": 1 new, 1 revised, 2 expired
	//   revised  KB950190 to revision 101
	//   expired  KB950160: withdrawn by the vendor
	//   expired  KB950192: superseded
	// fetched 0 since "contoso-updates:28": 0 new, 0 revised, 0 expired
}
