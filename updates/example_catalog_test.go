package updates_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/updates"
	"github.com/consign/consign/updates/jsoncatalog"
)

// Synchronise the sample catalog into an empty site: security, critical
// updates and service packs for the two operating systems, English files
// only.
func ExamplePlanSync() {
	src, err := jsoncatalog.Open("jsoncatalog/testdata/catalog.json")
	if err != nil {
		panic(err)
	}
	batch, err := src.Fetch(context.Background(), "")
	if err != nil {
		panic(err)
	}

	// The site's catalog: empty before the first sync.
	catalog := map[string]*updates.Update{}
	have := func(id string) (*updates.Update, bool) { u, ok := catalog[id]; return u, ok }
	next := updates.CIID(16777216)
	alloc := func() updates.CIID { next++; return next }

	filter := updates.Filter{
		Classifications: []updates.Classification{updates.SecurityUpdates, updates.CriticalUpdates, updates.ServicePacks},
		Products:        []string{"Contoso OS 5.1", "Contoso OS 6.0"},
		Languages:       []string{"en"},
	}
	plan, err := updates.PlanSync(have, batch.Updates, filter, alloc)
	if err != nil {
		panic(err)
	}
	for _, u := range plan.New {
		state := ""
		switch {
		case u.Superseded():
			state = " (superseded, so expired)"
		case u.Expired:
			state = " (expired)"
		}
		fmt.Printf("%d KB%s %s, %d file(s)%s\n", u.CIID, u.ArticleID, u.Classification, len(u.Files), state)
	}
	skipped := map[updates.SkipReason]int{}
	for _, s := range plan.Skipped {
		skipped[s.Reason]++
	}
	fmt.Println("skipped:", skipped[updates.SkipClassification], "by classification,", skipped[updates.SkipProduct], "by product")
	fmt.Println("rejected:", len(plan.Rejected), "| next cursor:", batch.Cursor)

	// Apply the plan; the same batch again changes nothing.
	for _, u := range plan.Writes() {
		catalog[u.UniqueID] = &u
	}
	again, _ := updates.PlanSync(have, batch.Updates, filter, alloc)
	fmt.Println("second sync writes:", len(again.Writes()))
	// Output:
	// 16777217 KB950101 Security Updates, 1 file(s)
	// 16777218 KB950101 Security Updates, 2 file(s)
	// 16777219 KB950110 Security Updates, 1 file(s) (superseded, so expired)
	// 16777220 KB950210 Security Updates, 1 file(s)
	// 16777221 KB950120 Critical Updates, 1 file(s)
	// 16777222 KB950121 Critical Updates, 1 file(s)
	// 16777223 KB950130 Service Packs, 1 file(s)
	// 16777224 KB950192 Security Updates, 1 file(s)
	// 16777225 KB950194 Security Updates, 1 file(s)
	// skipped: 11 by classification, 5 by product
	// rejected: 0 | next cursor: contoso-updates:25
	// second sync writes: 0
}

// ConfigMgr 2007 refuses to deploy a superseded update (§1.11, §7
// invariant 8): Deployment.Validate names it.
func ExampleDeployment_Validate() {
	catalog := map[updates.CIID]*updates.Update{
		16777219: {CIID: 16777219, ArticleID: "950110", Title: "Cumulative Security Update for Contoso Browser 7 (KB950110)",
			SupersededBy: []string{"5bd8e5a8-5d4a-5a4b-9a59-5a4c7b3e0e7f"}, Expired: true},
		16777220: {CIID: 16777220, ArticleID: "950210", Title: "Cumulative Security Update for Contoso Browser 7 (KB950210)"},
	}
	lookup := func(id updates.CIID) (*updates.Update, bool) { u, ok := catalog[id]; return u, ok }

	d := &updates.Deployment{
		Name:      "Browser updates, March 2009",
		Updates:   []updates.CIID{16777220, 16777219},
		Settings:  updates.Settings{CollectionID: "CEN00010"},
		Available: time.Date(2009, 3, 11, 8, 0, 0, 0, time.UTC),
		Deadline:  time.Date(2009, 3, 25, 8, 0, 0, 0, time.UTC),
		Enabled:   true,
	}
	err := d.Validate(lookup)
	fmt.Println(errors.Is(err, consign.ErrInvalid))
	fmt.Println(err)
	var ve *consign.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("refused CI_ID:", ve.Value.(updates.UpdateRef).CIID)
	}

	// Deploy the superseding update alone.
	d.Updates = []updates.CIID{16777220}
	fmt.Println(d.Validate(lookup))
	// Output:
	// true
	// invalid Deployment.Updates[1] "CI 16777219 KB950110 Cumulative Security Update for Contoso Browser 7 (KB950110)": superseded updates are expired at sync and cannot be deployed (§1.11 IsSuperseded, §5.2 item 4, §7 invariant 8)
	// refused CI_ID: 16777219
	// <nil>
}
