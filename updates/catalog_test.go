package updates_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/updates"
	"pgregory.net/rapid"
)

// catIDs is a pool of UniqueIDs small enough that batches collide.
var catIDs = []string{
	"11111111-1111-4111-8111-111111111111",
	"22222222-2222-4222-8222-222222222222",
	"33333333-3333-4333-8333-333333333333",
	"44444444-4444-4444-8444-444444444444",
	"55555555-5555-4555-8555-555555555555",
	"66666666-6666-4666-8666-666666666666",
}

var (
	catProducts  = []string{"Contoso OS 5.1", "Contoso OS 6.0", "Contoso Office 2007"}
	catLanguages = []string{"en", "de", "fr"}
)

// catStore is an in-memory catalog: what a Site would keep in its Store.
type catStore struct {
	byID   map[string]*updates.Update
	byCI   map[updates.CIID]*updates.Update
	nextCI updates.CIID
}

func newCatStore() *catStore {
	return &catStore{byID: map[string]*updates.Update{}, byCI: map[updates.CIID]*updates.Update{}, nextCI: 16777216}
}

func (s *catStore) have(id string) (*updates.Update, bool) { u, ok := s.byID[id]; return u, ok }
func (s *catStore) lookup(ci updates.CIID) (*updates.Update, bool) {
	u, ok := s.byCI[ci]
	return u, ok
}
func (s *catStore) alloc() updates.CIID { s.nextCI++; return s.nextCI }

func (s *catStore) apply(p updates.SyncPlan) {
	for _, u := range p.Writes() {
		u := u
		s.byID[u.UniqueID] = &u
		s.byCI[u.CIID] = &u
	}
}

func (s *catStore) sync(t valTB, batch []updates.Update, f updates.Filter) updates.SyncPlan {
	t.Helper()
	p, err := updates.PlanSync(s.have, batch, f, s.alloc)
	if err != nil {
		t.Fatalf("PlanSync: %v", err)
	}
	s.apply(p)
	return p
}

// catUpdate is a valid update with the given UniqueID, product and
// languages (one file per language, plus a neutral file).
func catUpdate(id string, rev uint32, c updates.Classification, product string, langs ...string) updates.Update {
	u := updates.Update{
		UniqueID: id, Revision: rev, ArticleID: "9500" + id[:2], Title: "Update " + id[:8],
		Classification: c, Product: product, Languages: langs,
	}
	for i, l := range append([]string{""}, langs...) {
		u.Files = append(u.Files, updates.ContentFile{Name: fmt.Sprintf("%s-%d-%s.cab", id[:8], i, l), Size: int64(100 + i), SHA256: valSum(byte(i + 1)), Language: l})
	}
	return u
}

func catGenUpdate() *rapid.Generator[updates.Update] {
	return rapid.Custom(func(t *rapid.T) updates.Update {
		id := rapid.SampledFrom(catIDs).Draw(t, "id")
		langs := rapid.SliceOfDistinct(rapid.SampledFrom(catLanguages), rapid.ID).Draw(t, "languages")
		u := catUpdate(id, uint32(rapid.IntRange(0, 1).Draw(t, "revision")),
			rapid.SampledFrom(updates.Classifications).Draw(t, "classification"),
			rapid.SampledFrom(catProducts).Draw(t, "product"), langs...)
		u.Expired = rapid.IntRange(0, 5).Draw(t, "expired") == 0
		if rapid.IntRange(0, 2).Draw(t, "superseded") == 0 {
			by := rapid.SampledFrom(catIDs).Draw(t, "by")
			if by != id {
				u.SupersededBy = []string{by}
			}
		}
		if rapid.IntRange(0, 15).Draw(t, "invalid") == 0 {
			u.Title = ""
		}
		return u
	})
}

func catGenFilter() *rapid.Generator[updates.Filter] {
	return rapid.Custom(func(t *rapid.T) updates.Filter {
		var f updates.Filter
		if rapid.Bool().Draw(t, "by classification") {
			f.Classifications = rapid.SliceOfNDistinct(rapid.SampledFrom(updates.Classifications), 1, 9, rapid.ID).Draw(t, "classifications")
		}
		if rapid.Bool().Draw(t, "by product") {
			for _, p := range rapid.SliceOfNDistinct(rapid.SampledFrom(catProducts), 1, 3, rapid.ID).Draw(t, "products") {
				if rapid.Bool().Draw(t, "upper") {
					p = strings.ToUpper(p)
				}
				f.Products = append(f.Products, p)
			}
		}
		if rapid.Bool().Draw(t, "by language") {
			f.Languages = rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"en", "DE", "fr", "ja"}), 1, 4, rapid.ID).Draw(t, "languages")
		}
		return f
	})
}

// selected reports whether u satisfies every part of f.
func catSelected(f updates.Filter, u *updates.Update) bool {
	if len(f.Classifications) > 0 && !slices.Contains(f.Classifications, u.Classification) {
		return false
	}
	if len(f.Products) > 0 && !slices.ContainsFunc(f.Products, func(p string) bool { return strings.EqualFold(p, u.Product) }) {
		return false
	}
	if len(f.Languages) == 0 {
		return true
	}
	sel := func(l string) bool {
		return slices.ContainsFunc(f.Languages, func(s string) bool { return strings.EqualFold(s, l) })
	}
	for _, l := range u.Languages {
		if !sel(l) {
			return false
		}
	}
	for _, c := range u.Files {
		if c.Language != "" && !sel(c.Language) {
			return false
		}
	}
	return true
}

func TestFilterApply(t *testing.T) {
	office := catUpdate(catIDs[0], 1, updates.Updates, "Contoso Office 2007", "en", "de", "fr")
	neutral := catUpdate(catIDs[1], 1, updates.SecurityUpdates, "Contoso OS 5.1")
	cases := []struct {
		name   string
		f      updates.Filter
		u      updates.Update
		reason updates.SkipReason
		langs  []string
		files  []string // file languages kept, "" for neutral
	}{
		{"empty filter selects all", updates.Filter{}, office, updates.NotSkipped, []string{"en", "de", "fr"}, []string{"", "en", "de", "fr"}},
		{"classification not selected", updates.Filter{Classifications: []updates.Classification{updates.SecurityUpdates}}, office, updates.SkipClassification, nil, nil},
		{"classification selected", updates.Filter{Classifications: []updates.Classification{updates.Drivers, updates.Updates}}, office, updates.NotSkipped, []string{"en", "de", "fr"}, []string{"", "en", "de", "fr"}},
		{"product compared case-insensitively", updates.Filter{Products: []string{"CONTOSO OFFICE 2007"}}, office, updates.NotSkipped, []string{"en", "de", "fr"}, []string{"", "en", "de", "fr"}},
		{"product not selected", updates.Filter{Products: []string{"Contoso OS 5.1"}}, office, updates.SkipProduct, nil, nil},
		{"classification checked before product", updates.Filter{Classifications: []updates.Classification{updates.Tools}, Products: []string{"x"}}, office, updates.SkipClassification, nil, nil},
		{"languages trimmed", updates.Filter{Languages: []string{"DE", "ja"}}, office, updates.NotSkipped, []string{"de"}, []string{"", "de"}},
		{"no selected language", updates.Filter{Languages: []string{"ja"}}, office, updates.SkipLanguage, nil, nil},
		{"neutral update passes a language filter", updates.Filter{Languages: []string{"ja"}}, neutral, updates.NotSkipped, nil, []string{""}},
	}
	for _, c := range cases {
		got, reason := c.f.Apply(&c.u)
		if reason != c.reason {
			t.Errorf("%s: reason %v, want %v", c.name, reason, c.reason)
			continue
		}
		if reason != updates.NotSkipped {
			if got.UniqueID != "" {
				t.Errorf("%s: a skipped update returned %+v", c.name, got)
			}
			continue
		}
		var files []string
		for _, f := range got.Files {
			files = append(files, f.Language)
		}
		if !slices.Equal(got.Languages, c.langs) || !slices.Equal(files, c.files) {
			t.Errorf("%s: kept languages %q files %q, want %q %q", c.name, got.Languages, files, c.langs, c.files)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: the filtered update is invalid: %v", c.name, err)
		}
	}
	// The copy shares nothing with the original.
	got, _ := updates.Filter{}.Apply(&office)
	got.Files[0].Name, got.Languages[0] = "changed", "changed"
	if office.Files[0].Name == "changed" || office.Languages[0] == "changed" {
		t.Error("Apply's result aliases the input")
	}
}

func TestFilterValidate(t *testing.T) {
	f := updates.Filter{Classifications: []updates.Classification{updates.Tools, 0}, Products: []string{"ok", " "}, Languages: []string{"en", "en_US"}}
	got := valFields(t, f.Validate())
	want := []string{"Filter.Classifications[1]", "Filter.Products[1]", "Filter.Languages[1]"}
	if !slices.Equal(got, want) {
		t.Errorf("Validate reported %q, want %q", got, want)
	}
	if _, err := updates.PlanSync(nil, nil, f, nil); !slices.Equal(valFields(t, err), want) {
		t.Errorf("PlanSync with an invalid filter: %v", err)
	}
}

// catPlan summarises a plan as "New: id(rev,ci,flags) …" lines so table
// cases read as the reference states them.
func catPlan(p updates.SyncPlan) string {
	name := func(id string) string { return fmt.Sprint(slices.Index(catIDs, id) + 1) }
	show := func(us []updates.Update) string {
		var parts []string
		for _, u := range us {
			s := fmt.Sprintf("%s@%d#%d", name(u.UniqueID), u.Revision, u.CIID-16777216)
			if u.Expired {
				s += "x"
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	var skipped, unchanged, rejected []string
	for _, s := range p.Skipped {
		skipped = append(skipped, fmt.Sprintf("%s@%d(%v)", name(s.UniqueID), s.Revision, s.Reason))
	}
	for _, u := range p.Unchanged {
		unchanged = append(unchanged, name(u))
	}
	for _, r := range p.Rejected {
		rejected = append(rejected, fmt.Sprintf("[%d]%s", r.Index, name(r.UniqueID)))
	}
	return fmt.Sprintf("new: %s | revised: %s | expired: %s | unchanged: %s | skipped: %s | rejected: %s",
		show(p.New), show(p.Revised), show(p.Expired), strings.Join(unchanged, " "), strings.Join(skipped, " "), strings.Join(rejected, " "))
}

func TestPlanSync(t *testing.T) {
	sec := func(i int, rev uint32) updates.Update {
		return catUpdate(catIDs[i-1], rev, updates.SecurityUpdates, "Contoso OS 5.1")
	}
	superseded := func(u updates.Update, by int) updates.Update {
		u.SupersededBy = []string{catIDs[by-1]}
		return u
	}
	expired := func(u updates.Update) updates.Update { u.Expired = true; return u }
	invalid := func(u updates.Update) updates.Update { u.Title = ""; return u }
	office := func(i int, rev uint32) updates.Update {
		return catUpdate(catIDs[i-1], rev, updates.Updates, "Contoso Office 2007", "en", "de")
	}
	osOnly := updates.Filter{Products: []string{"contoso os 5.1"}}
	cases := []struct {
		name         string
		stored       []updates.Update // synced first, without a filter
		batch        []updates.Update
		f            updates.Filter
		want         string
		skippedFiles int // files a language filter drops from New (checked when > 0)
	}{
		{"first sync: CI_IDs in batch order", nil, []updates.Update{sec(2, 1), sec(1, 1)}, updates.Filter{},
			"new: 2@1#1 1@1#2 | revised:  | expired:  | unchanged:  | skipped:  | rejected: ", 0},
		{"higher revision is revised, CI_ID kept", []updates.Update{sec(1, 1), sec(2, 1)}, []updates.Update{sec(2, 2)}, updates.Filter{},
			"new:  | revised: 2@2#2 | expired:  | unchanged:  | skipped:  | rejected: ", 0},
		{"same or lower revision is unchanged", []updates.Update{sec(1, 2), sec(2, 2)}, []updates.Update{sec(1, 2), sec(2, 1)}, updates.Filter{},
			"new:  | revised:  | expired:  | unchanged: 1 2 | skipped:  | rejected: ", 0},
		{"vendor-expired new update is stored expired", nil, []updates.Update{expired(sec(1, 1))}, updates.Filter{},
			"new: 1@1#1x | revised:  | expired:  | unchanged:  | skipped:  | rejected: ", 0},
		{"superseded new update is stored expired", nil, []updates.Update{superseded(sec(1, 1), 2), sec(2, 1)}, updates.Filter{},
			"new: 1@1#1x 2@1#2 | revised:  | expired:  | unchanged:  | skipped:  | rejected: ", 0},
		{"newly superseded at a higher revision expires", []updates.Update{sec(1, 1)}, []updates.Update{superseded(sec(1, 2), 2), sec(2, 1)}, updates.Filter{},
			"new: 2@1#2 | revised:  | expired: 1@2#1x | unchanged:  | skipped:  | rejected: ", 0},
		{"newly superseded at the same revision expires the stored copy", []updates.Update{sec(1, 3)}, []updates.Update{superseded(sec(1, 3), 2)}, updates.Filter{},
			"new:  | revised:  | expired: 1@3#1x | unchanged:  | skipped:  | rejected: ", 0},
		{"vendor expiry at a lower revision still expires", []updates.Update{sec(1, 3)}, []updates.Update{expired(sec(1, 1))}, updates.Filter{},
			"new:  | revised:  | expired: 1@3#1x | unchanged:  | skipped:  | rejected: ", 0},
		{"expiry is one-way: a later revision stays expired", []updates.Update{expired(sec(1, 1))}, []updates.Update{sec(1, 2)}, updates.Filter{},
			"new:  | revised: 1@2#1x | expired:  | unchanged:  | skipped:  | rejected: ", 0},
		{"already expired, expired again: unchanged", []updates.Update{expired(sec(1, 1))}, []updates.Update{expired(sec(1, 1))}, updates.Filter{},
			"new:  | revised:  | expired:  | unchanged: 1 | skipped:  | rejected: ", 0},
		{"unselected new updates are skipped", nil, []updates.Update{office(1, 1), sec(2, 1)}, osOnly,
			"new: 2@1#1 | revised:  | expired:  | unchanged:  | skipped: 1@1(product not selected) | rejected: ", 0},
		{"known update no longer selected: not revised", []updates.Update{office(1, 1)}, []updates.Update{office(1, 2)}, osOnly,
			"new:  | revised:  | expired:  | unchanged:  | skipped: 1@2(product not selected) | rejected: ", 0},
		{"known update no longer selected: still expired", []updates.Update{office(1, 1)}, []updates.Update{superseded(office(1, 2), 2)}, osOnly,
			"new:  | revised:  | expired: 1@1#1x | unchanged:  | skipped:  | rejected: ", 0},
		{"invalid updates are rejected, the rest syncs", nil, []updates.Update{sec(1, 1), invalid(sec(2, 1)), sec(3, 1)}, updates.Filter{},
			"new: 1@1#1 3@1#2 | revised:  | expired:  | unchanged:  | skipped:  | rejected: [1]2", 0},
		{"duplicates: highest revision wins, wherever it is", nil, []updates.Update{sec(1, 1), sec(1, 3), sec(1, 2)}, updates.Filter{},
			"new: 1@3#1 | revised:  | expired:  | unchanged:  | skipped: 1@1(duplicate in batch) 1@2(duplicate in batch) | rejected: ", 0},
		{"duplicates: the first of equals wins", nil, []updates.Update{sec(1, 2), sec(1, 2)}, updates.Filter{},
			"new: 1@2#1 | revised:  | expired:  | unchanged:  | skipped: 1@2(duplicate in batch) | rejected: ", 0},
		{"an invalid duplicate does not displace a valid one", nil, []updates.Update{sec(1, 1), invalid(sec(1, 5))}, updates.Filter{},
			"new: 1@1#1 | revised:  | expired:  | unchanged:  | skipped:  | rejected: [1]1", 0},
		{"language filter drops files", nil, []updates.Update{office(1, 1)}, updates.Filter{Languages: []string{"de"}},
			"new: 1@1#1 | revised:  | expired:  | unchanged:  | skipped:  | rejected: ", 1},
		{"language filter skips an update with none of its languages", nil, []updates.Update{office(1, 1), sec(2, 1)}, updates.Filter{Languages: []string{"ja"}},
			"new: 2@1#1 | revised:  | expired:  | unchanged:  | skipped: 1@1(no selected language) | rejected: ", 0},
		// §1.11: languages changed after the first sync apply to new and
		// changed updates only.
		{"a new language filter leaves known updates unchanged", []updates.Update{office(1, 1)}, []updates.Update{office(1, 1)}, updates.Filter{Languages: []string{"en"}},
			"new:  | revised:  | expired:  | unchanged: 1 | skipped:  | rejected: ", 0},
	}
	for _, c := range cases {
		s := newCatStore()
		s.sync(t, c.stored, updates.Filter{})
		s.nextCI = 16777216 + updates.CIID(len(c.stored))
		p := s.sync(t, c.batch, c.f)
		if got := catPlan(p); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if c.skippedFiles > 0 && len(c.batch[0].Files)-len(p.New[0].Files) != c.skippedFiles {
			t.Errorf("%s: kept %d of %d files, want %d dropped", c.name, len(p.New[0].Files), len(c.batch[0].Files), c.skippedFiles)
		}
		for _, r := range p.Rejected {
			if f := valFields(t, r.Err); !slices.Equal(f, []string{"Update.Title"}) {
				t.Errorf("%s: rejection %v, want Update.Title", c.name, r.Err)
			}
		}
	}
}

func TestPlanSyncMerge(t *testing.T) {
	s := newCatStore()
	u := catUpdate(catIDs[0], 1, updates.SecurityUpdates, "Contoso OS 5.1")
	u.SupersededBy = nil
	s.sync(t, []updates.Update{u}, updates.Filter{})
	// Superseded by 2 at the same revision, then by 3 at a lower one: the
	// stored copy is expired once, keeping every superseding update.
	u2 := u
	u2.SupersededBy = []string{catIDs[1]}
	p := s.sync(t, []updates.Update{u2}, updates.Filter{})
	if len(p.Expired) != 1 || !slices.Equal(p.Expired[0].SupersededBy, []string{catIDs[1]}) {
		t.Fatalf("expired %+v", p.Expired)
	}
	if p2 := s.sync(t, []updates.Update{u2}, updates.Filter{}); len(p2.Writes()) != 0 {
		t.Errorf("second sync wrote %v", p2.Writes())
	}
}

func TestPlanSyncAllocErrors(t *testing.T) {
	batch := []updates.Update{catUpdate(catIDs[0], 1, updates.Tools, "p"), catUpdate(catIDs[1], 1, updates.Tools, "p")}
	zero := func() updates.CIID { return 0 }
	same := func() updates.CIID { return 7 }
	for name, alloc := range map[string]func() updates.CIID{"nil": nil, "zero": zero, "same twice": same} {
		_, err := updates.PlanSync(nil, batch, updates.Filter{}, alloc)
		if !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("alloc %s: err = %v, want ErrInvalid", name, err)
		}
	}
	// No new update, no alloc needed.
	s := newCatStore()
	s.sync(t, batch, updates.Filter{})
	if _, err := updates.PlanSync(s.have, batch, updates.Filter{}, nil); err != nil {
		t.Errorf("nothing new, nil alloc: %v", err)
	}
}

func TestPlanSyncSharesNoMemory(t *testing.T) {
	in := []updates.Update{catUpdate(catIDs[0], 1, updates.Updates, "p", "en")}
	s := newCatStore()
	p := s.sync(t, in, updates.Filter{})
	p.New[0].Files[0].Name, p.New[0].Languages[0] = "changed", "changed"
	if in[0].Files[0].Name == "changed" || in[0].Languages[0] == "changed" {
		t.Error("the plan aliases the incoming batch")
	}
	stored := s.byID[catIDs[0]]
	in[0].Revision, in[0].SupersededBy = 1, []string{catIDs[1]}
	p = s.sync(t, in, updates.Filter{})
	p.Expired[0].SupersededBy[0] = "changed"
	if in[0].SupersededBy[0] == "changed" || slices.Contains(stored.SupersededBy, "changed") {
		t.Error("the plan aliases its inputs")
	}
}

// Syncing the same batch twice changes nothing the second time, whatever
// the catalog, the batch and the filter.
func TestSyncIsIdempotent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newCatStore()
		s.sync(t, rapid.SliceOf(catGenUpdate()).Draw(t, "earlier batch"), catGenFilter().Draw(t, "earlier filter"))
		batch := rapid.SliceOf(catGenUpdate()).Draw(t, "batch")
		f := catGenFilter().Draw(t, "filter")
		first := s.sync(t, batch, f)
		for _, u := range first.New {
			if u.CIID <= 16777216 {
				t.Fatalf("new update without a fresh CI_ID: %+v", u)
			}
		}
		second := s.sync(t, batch, f)
		if w := second.Writes(); len(w) != 0 {
			t.Fatalf("second sync of the same batch writes %d updates: %s", len(w), catPlan(second))
		}
		if len(second.Rejected) != len(first.Rejected) {
			t.Fatalf("rejections differ: %d then %d", len(first.Rejected), len(second.Rejected))
		}
	})
}

// After any sync, every superseded update in the catalog is expired, an
// expired update stays expired, and no deployment holding one — or any
// expired update — validates.
func TestSupersededIsExpiredAfterSync(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newCatStore()
		for i := range rapid.IntRange(1, 4).Draw(t, "syncs") {
			batch := rapid.SliceOf(catGenUpdate()).Draw(t, fmt.Sprint("batch ", i))
			var wasExpired []string
			for id, u := range s.byID {
				if u.Expired {
					wasExpired = append(wasExpired, id)
				}
			}
			s.sync(t, batch, catGenFilter().Draw(t, fmt.Sprint("filter ", i)))
			for _, id := range wasExpired {
				if !s.byID[id].Expired {
					t.Fatalf("expiry is one-way, but %s is no longer expired", id)
				}
			}
			// The batch's copy of each update (the valid one at the highest
			// revision, the first among equals) says it is superseded: the
			// catalog's copy, if any, is expired.
			win := map[string]updates.Update{}
			for _, u := range batch {
				if w, ok := win[u.UniqueID]; u.Validate() == nil && (!ok || u.Revision > w.Revision) {
					win[u.UniqueID] = u
				}
			}
			for id, u := range win {
				if st, ok := s.byID[id]; ok && u.Superseded() && !st.Expired {
					t.Fatalf("the batch supersedes %s but the catalog's copy is not expired: %+v", id, st)
				}
			}
		}
		var all []updates.CIID
		for ci, u := range s.byCI {
			if u.Superseded() && !u.Expired {
				t.Fatalf("superseded but not expired after sync: %+v", u)
			}
			if err := u.Validate(); err != nil {
				t.Fatalf("sync stored an invalid update: %v", err)
			}
			all = append(all, ci)
		}
		if len(all) == 0 {
			return
		}
		slices.Sort(all)
		d := valDeployment()
		d.Updates = rapid.SliceOfNDistinct(rapid.SampledFrom(all), 1, len(all), rapid.ID).Draw(t, "deployed")
		bad := slices.ContainsFunc(d.Updates, func(ci updates.CIID) bool { return s.byCI[ci].Expired })
		if err := d.Validate(s.lookup); (err != nil) != bad {
			t.Fatalf("Validate = %v for a deployment that holds an expired update: %v", err, bad)
		}
		exp, sup := updates.ContainsExpired(d.Updates, s.lookup)
		if exp != bad || (sup && !exp) {
			t.Fatalf("ContainsExpired = %v, %v; want expired %v", exp, sup, bad)
		}
	})
}

// A filter never lets an unselected classification, product or language
// into the catalog: everything a sync adds or revises is selected.
func TestFilterNeverLetsUnselectedThrough(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newCatStore()
		s.sync(t, rapid.SliceOf(catGenUpdate()).Draw(t, "earlier batch"), updates.Filter{})
		before := make(map[string]updates.Update, len(s.byID))
		for id, u := range s.byID {
			before[id] = *u
		}
		f := catGenFilter().Draw(t, "filter")
		p := s.sync(t, rapid.SliceOf(catGenUpdate()).Draw(t, "batch"), f)
		for _, u := range slices.Concat(p.New, p.Revised) {
			if !catSelected(f, &u) {
				t.Fatalf("filter %+v let through %+v", f, u)
			}
		}
		for _, u := range p.Expired {
			old, known := before[u.UniqueID]
			if !known {
				t.Fatalf("expired an unknown update %s", u.UniqueID)
			}
			// Expired keeps the stored metadata unless it is a selected
			// revision.
			if u.Revision != old.Revision && !catSelected(f, &u) {
				t.Fatalf("filter %+v let a revision through expiry: %+v", f, u)
			}
		}
	})
}

func TestContainsExpiredAndRefreshFlags(t *testing.T) {
	cat := valCatalog() // 1, 2 fine; 3 expired; 4 superseded and expired; 5 superseded only
	lookup := valLookup(cat)
	cases := []struct {
		ids                   []updates.CIID
		expired, supersededBy bool
	}{
		{nil, false, false},
		{[]updates.CIID{1, 2}, false, false},
		{[]updates.CIID{1, 3}, true, false},
		{[]updates.CIID{4}, true, true},
		{[]updates.CIID{2, 5}, true, true},
		{[]updates.CIID{99}, false, false},
	}
	for _, c := range cases {
		exp, sup := updates.ContainsExpired(c.ids, lookup)
		if exp != c.expired || sup != c.supersededBy {
			t.Errorf("ContainsExpired(%v) = %v, %v; want %v, %v", c.ids, exp, sup, c.expired, c.supersededBy)
		}
		l := updates.UpdateList{Name: "l", Updates: c.ids, ContainsExpiredUpdates: !c.expired, ContainsSupersededUpdates: !c.supersededBy}
		l.RefreshFlags(lookup)
		d := updates.Deployment{Updates: c.ids, ContainsExpiredUpdates: !c.expired}
		d.RefreshFlags(lookup)
		if l.ContainsExpiredUpdates != c.expired || l.ContainsSupersededUpdates != c.supersededBy || d.ContainsExpiredUpdates != c.expired {
			t.Errorf("RefreshFlags(%v): list %v/%v, deployment %v", c.ids, l.ContainsExpiredUpdates, l.ContainsSupersededUpdates, d.ContainsExpiredUpdates)
		}
	}
}

// BenchmarkPlanSync: a full sync of a 10,000-update catalog against a site
// that knows half of it (a quarter at an older revision), filtered by
// classification, product and language — a monthly WSUS sync at scale.
func BenchmarkPlanSync(b *testing.B) {
	const n = 10000
	batch := make([]updates.Update, n)
	s := newCatStore()
	for i := range batch {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		u := catUpdate(id, 2, updates.Classifications[i%9], catProducts[i%3], catLanguages[:1+i%3]...)
		if i%10 == 0 {
			u.SupersededBy = []string{fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)}
		}
		batch[i] = u
		if i%2 == 0 {
			old := u
			old.SupersededBy = nil
			if i%4 == 0 {
				old.Revision = 1
			}
			s.byID[id] = &old
		}
	}
	f := updates.Filter{
		Classifications: []updates.Classification{updates.SecurityUpdates, updates.CriticalUpdates, updates.Updates, updates.ServicePacks, updates.UpdateRollups},
		Products:        []string{"contoso os 5.1", "Contoso OS 6.0"},
		Languages:       []string{"en", "de"},
	}
	b.ReportAllocs()
	for b.Loop() {
		s.nextCI = 16777216
		if _, err := updates.PlanSync(s.have, batch, f, s.alloc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/update")
}
