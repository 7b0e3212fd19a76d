package jsoncatalog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/updates"
	"github.com/consign/consign/updates/jsoncatalog"
	"pgregory.net/rapid"
)

type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// fields returns the Field of every *consign.ValidationError in err.
func fields(t tb, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("error %v does not match consign.ErrInvalid", err)
	}
	var out []string
	var walk func(error)
	walk = func(e error) {
		switch e := e.(type) {
		case *consign.ValidationError:
			out = append(out, e.Field)
		case interface{ WrappedErrors() []error }:
			for _, w := range e.WrappedErrors() {
				walk(w)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		default:
			t.Fatalf("unexpected error %T %v", e, e)
		}
	}
	walk(err)
	return out
}

func load(t *testing.T, name string) *jsoncatalog.Catalog {
	t.Helper()
	src, err := jsoncatalog.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	c, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func byKB(c *jsoncatalog.Catalog) map[string][]*updates.Update {
	m := map[string][]*updates.Update{}
	for i := range c.Entries {
		u := &c.Entries[i].Update
		m[u.ArticleID] = append(m[u.ArticleID], u)
	}
	return m
}

// The sample catalogs are what the package documentation promises: valid
// updates across all nine classifications, supersedence pairs inside the
// catalog, one expired update, and content files whose size and SHA-256
// match testdata/content.
func TestSampleCatalogs(t *testing.T) {
	for _, name := range []string{"catalog.json", "catalog-v2.json"} {
		c := load(t, name)
		if c.Name != "contoso-updates" {
			t.Errorf("%s: name %q", name, c.Name)
		}
		ids := map[string]*updates.Update{}
		classes := map[updates.Classification]bool{}
		langs := map[string]bool{}
		for i := range c.Entries {
			u := &c.Entries[i].Update
			if err := u.Validate(); err != nil {
				t.Errorf("%s: updates[%d] is invalid: %v", name, i, err)
			}
			ids[u.UniqueID] = u
			classes[u.Classification] = true
			for _, l := range u.Languages {
				langs[l] = true
			}
			for _, f := range u.Files {
				data, err := os.ReadFile(filepath.Join("testdata", "content", f.Name))
				if err != nil {
					t.Errorf("%s: updates[%d]: content file: %v", name, i, err)
					continue
				}
				if int64(len(data)) != f.Size || sha256.Sum256(data) != f.SHA256 {
					t.Errorf("%s: updates[%d]: %s has %d bytes / sha256 %x, the catalog says %d / %x", name, i, f.Name, len(data), sha256.Sum256(data), f.Size, f.SHA256)
				}
				if !strings.HasSuffix(f.URL, "/"+f.Name) {
					t.Errorf("%s: updates[%d]: URL %s does not end in the file name", name, i, f.URL)
				}
			}
		}
		if len(classes) != 9 || len(langs) < 3 {
			t.Errorf("%s: %d classifications and languages %v; want all nine and several languages", name, len(classes), langs)
		}
		pairs, expired := 0, 0
		for _, u := range ids {
			for _, s := range u.SupersededBy {
				if ids[s] == nil {
					t.Errorf("%s: %s is superseded by %s, which is not in the catalog", name, u.Title, s)
				}
				pairs++
			}
			if u.Expired && !u.Superseded() {
				expired++
			}
		}
		if pairs < 2 || expired < 1 {
			t.Errorf("%s: %d supersedence pairs and %d expired updates; want at least 2 and 1", name, pairs, expired)
		}
	}
	if n := len(load(t, "catalog.json").Entries); n != 25 {
		t.Errorf("catalog.json has %d updates, want 25", n)
	}
}

// Incremental sync from catalog.json to catalog-v2.json, republished in
// place: the cursor returns exactly the changed entries, the plan has the
// revision, the new update, the newly superseded and the newly expired one,
// and a full sync of v2 would have planned the same writes.
func TestIncrementalSync(t *testing.T) {
	v1, err := os.ReadFile("testdata/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := os.ReadFile("testdata/catalog-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"catalog.json": {Data: v1}}
	src, err := jsoncatalog.New(fsys, "catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	site := newSite()

	b1, err := src.Fetch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(b1.Updates) != 25 || b1.Cursor != "contoso-updates:25" {
		t.Fatalf("full fetch: %d updates, cursor %q", len(b1.Updates), b1.Cursor)
	}
	p1 := site.sync(t, b1.Updates)
	// Supersedence inside the first catalog: the Browser update and the
	// 1.51.100 definitions are expired at sync; the withdrawn 1.50.900 was
	// expired by the vendor.
	var expired []string
	for _, u := range p1.New {
		if u.Expired {
			expired = append(expired, u.Title)
		}
	}
	slices.Sort(expired)
	wantExpired := []string{
		"Cumulative Security Update for Contoso Browser 7 for Contoso OS 5.1 (KB950110)",
		"Definition Update for Contoso Defender - KB950150 (Definition 1.50.900.0)",
		"Definition Update for Contoso Defender - KB950150 (Definition 1.51.100.0)",
	}
	if len(p1.New) != 25 || !slices.Equal(expired, wantExpired) {
		t.Fatalf("first sync: %d new, expired %q", len(p1.New), expired)
	}

	// Nothing changed: an empty batch, the same cursor.
	same, err := src.Fetch(ctx, b1.Cursor)
	if err != nil || len(same.Updates) != 0 || same.Cursor != b1.Cursor {
		t.Fatalf("fetch at the head: %d updates, cursor %q, %v", len(same.Updates), same.Cursor, err)
	}

	// The publisher republishes the file in place.
	fsys["catalog.json"] = &fstest.MapFile{Data: v2}
	b2, err := src.Fetch(ctx, b1.Cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(b2.Updates) != 4 || b2.Cursor != "contoso-updates:28" {
		t.Fatalf("incremental fetch: %d updates, cursor %q", len(b2.Updates), b2.Cursor)
	}
	before := site.snapshot()
	p2 := site.sync(t, b2.Updates)
	kbs := func(us []updates.Update) string {
		var s []string
		for _, u := range us {
			s = append(s, "KB"+u.ArticleID)
		}
		return strings.Join(s, " ")
	}
	if got := fmt.Sprintf("new %s | revised %s | expired %s", kbs(p2.New), kbs(p2.Revised), kbs(p2.Expired)); got != "new KB950292 | revised KB950190 | expired KB950160 KB950192" {
		t.Errorf("incremental plan: %s", got)
	}
	if rev := p2.Revised[0]; rev.CIID != before[rev.UniqueID].CIID || rev.Files[0].Name != "contoso-office2007-kb950190-v2-fullfile-x86-glb.exe" {
		t.Errorf("revised update: CI %d (was %d), files %v", rev.CIID, before[rev.UniqueID].CIID, rev.Files)
	}

	// A full sync of v2 from the v1 state plans the same writes.
	site2 := newSite()
	site2.sync(t, b1.Updates)
	full, err := src.Fetch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	p3 := site2.sync(t, full.Updates)
	if !equalWrites(p2.Writes(), p3.Writes()) {
		t.Errorf("full sync of v2 writes %s / %s / %s, incremental wrote %s / %s / %s",
			kbs(p3.New), kbs(p3.Revised), kbs(p3.Expired), kbs(p2.New), kbs(p2.Revised), kbs(p2.Expired))
	}
	if len(p3.Unchanged) != 22 {
		t.Errorf("full sync of v2: %d unchanged, want 22", len(p3.Unchanged))
	}

	// Deployments are refused for the superseded KB950192 from now on.
	d := updates.Deployment{Name: "March", Updates: []updates.CIID{site.byID(t, "950192").CIID}, Settings: updates.Settings{CollectionID: "CEN00010"},
		Available: time.Date(2009, 3, 14, 0, 0, 0, 0, time.UTC)}
	if f := fields(t, d.Validate(site.lookup)); !slices.Equal(f, []string{"Deployment.Updates[0]"}) {
		t.Errorf("deploying the superseded KB950192: %v", f)
	}
}

func equalWrites(a, b []updates.Update) bool {
	key := func(u updates.Update) string {
		return fmt.Sprintf("%s@%d ci%d x%v %v %d", u.UniqueID, u.Revision, u.CIID, u.Expired, u.SupersededBy, len(u.Files))
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i] = key(a[i])
	}
	for i := range b {
		kb[i] = key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// site is a minimal in-memory catalog, as a Site would keep it.
type site struct {
	ids  map[string]*updates.Update
	cis  map[updates.CIID]*updates.Update
	next updates.CIID
}

func newSite() *site {
	return &site{ids: map[string]*updates.Update{}, cis: map[updates.CIID]*updates.Update{}, next: 16777216}
}

func (s *site) have(id string) (*updates.Update, bool) { u, ok := s.ids[id]; return u, ok }

func (s *site) lookup(ci updates.CIID) (*updates.Update, bool) { u, ok := s.cis[ci]; return u, ok }

func (s *site) alloc() updates.CIID { s.next++; return s.next }

func (s *site) sync(t *testing.T, batch []updates.Update) updates.SyncPlan {
	t.Helper()
	p, err := updates.PlanSync(s.have, batch, updates.Filter{}, s.alloc)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rejected) > 0 {
		t.Fatalf("rejected: %+v", p.Rejected)
	}
	for _, u := range p.Writes() {
		u := u
		s.ids[u.UniqueID], s.cis[u.CIID] = &u, &u
	}
	return p
}

func (s *site) snapshot() map[string]updates.Update {
	m := map[string]updates.Update{}
	for id, u := range s.ids {
		m[id] = *u
	}
	return m
}

func (s *site) byID(t *testing.T, kb string) *updates.Update {
	for _, u := range s.ids {
		if u.ArticleID == kb {
			return u
		}
	}
	t.Fatalf("no KB%s", kb)
	return nil
}

// A minimal valid document with one entry; bad cases edit its text.
const good = `{"format": 1, "catalog": "c", "sequence": 3, "updates": [
 {"sequence": 2, "id": "11111111-1111-4111-8111-111111111111", "revision": 1, "title": "T", "product": "P",
  "classification": "Tools", "files": [{"name": "a.cab", "size": 1, "sha256": "` + hex64 + `"}]}]}`

const hex64 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestDecodeErrors(t *testing.T) {
	entry := func(fields string) string {
		return `{"format": 1, "catalog": "c", "sequence": 3, "updates": [{"sequence": 1, "id": "11111111-1111-4111-8111-111111111111"` + fields + `}]}`
	}
	file := func(fields string) string {
		return entry(`, "files": [{"name": "a", "sha256": "` + hex64 + `"}, {` + fields + `}]`)
	}
	cases := []struct {
		name, doc string
		fields    []string
	}{
		{"good", good, nil},
		{"empty", ``, []string{"document"}},
		{"syntax", `{"format": 1,}`, []string{"document"}},
		{"trailing data", good + ` {}`, []string{"document"}},
		{"not an object", `[]`, []string{"document"}},
		{"unknown top-level field", `{"format": 1, "catalog": "c", "sequence": 0, "updates": [], "vendor": "x"}`, []string{"document"}},
		{"everything missing", `{}`, []string{"format", "catalog", "sequence", "updates"}},
		{"format 2", `{"format": 2, "catalog": "c", "sequence": 0, "updates": []}`, []string{"format"}},
		{"format a string", `{"format": "1", "catalog": "c", "sequence": 0, "updates": []}`, []string{"format"}},
		{"catalog name with a colon", `{"format": 1, "catalog": "a:b", "sequence": 0, "updates": []}`, []string{"catalog"}},
		{"catalog name empty", `{"format": 1, "catalog": "", "sequence": 0, "updates": []}`, []string{"catalog"}},
		{"negative sequence", `{"format": 1, "catalog": "c", "sequence": -1, "updates": []}`, []string{"sequence"}},
		{"bad generated", `{"format": 1, "catalog": "c", "sequence": 0, "generated": "10/03/2009", "updates": []}`, []string{"generated"}},
		{"empty catalog", `{"format": 1, "catalog": "c", "sequence": 0, "updates": []}`, nil},
		{"unknown entry field", entry(`, "kb": "1"`), []string{"updates[0]"}},
		{"revision a string", entry(`, "revision": "1"`), []string{"updates[0].revision"}},
		{"revision negative", entry(`, "revision": -1`), []string{"updates[0].revision"}},
		{"entry sequence missing", `{"format": 1, "catalog": "c", "sequence": 3, "updates": [{"id": "11111111-1111-4111-8111-111111111111"}]}`, []string{"updates[0].sequence"}},
		{"entry sequence ahead of the catalog", `{"format": 1, "catalog": "c", "sequence": 3, "updates": [{"sequence": 4, "id": "11111111-1111-4111-8111-111111111111"}]}`, []string{"updates[0].sequence"}},
		{"id missing", `{"format": 1, "catalog": "c", "sequence": 3, "updates": [{"sequence": 1}]}`, []string{"updates[0].id"}},
		{"id not a GUID", `{"format": 1, "catalog": "c", "sequence": 3, "updates": [{"sequence": 1, "id": "KB950101"}]}`, []string{"updates[0].id"}},
		{"same update twice, in two spellings", `{"format": 1, "catalog": "c", "sequence": 3, "updates": [
			{"sequence": 1, "id": "aaaaaaaa-1111-4111-8111-111111111111"}, {"sequence": 2, "id": "{AAAAAAAA-1111-4111-8111-111111111111}"}]}`, []string{"updates[1].id"}},
		{"classification unknown", entry(`, "classification": "Hotfixes"`), []string{"updates[0].classification"}},
		{"severity unknown", entry(`, "severity": "Severe"`), []string{"updates[0].severity"}},
		{"restart unknown", entry(`, "restart": "Maybe"`), []string{"updates[0].restart"}},
		{"released not RFC 3339", entry(`, "released": "2009-01-13"`), []string{"updates[0].released"}},
		{"revised not RFC 3339", entry(`, "revised": "yesterday"`), []string{"updates[0].revised"}},
		{"max execution minutes huge", entry(`, "maxExecutionMinutes": 18446744073709551615`), []string{"updates[0].maxExecutionMinutes"}},
		{"superseded by a non-GUID", entry(`, "supersededBy": ["22222222-2222-4222-8222-222222222222", "KB2"]`), []string{"updates[0].supersededBy[1]"}},
		{"languages not an array", entry(`, "languages": "en"`), []string{"updates[0].languages"}},
		{"unknown file field", file(`"name": "b", "sha256": "` + hex64 + `", "md5": "x"`), []string{"updates[0].files[1]"}},
		{"file size a string", file(`"name": "b", "sha256": "` + hex64 + `", "size": "1"`), []string{"updates[0].files[1].size"}},
		{"file sha256 missing", file(`"name": "b"`), []string{"updates[0].files[1].sha256"}},
		{"file sha256 short", file(`"name": "b", "sha256": "0011"`), []string{"updates[0].files[1].sha256"}},
		{"file sha256 not hex", file(`"name": "b", "sha256": "` + strings.Repeat("zz", 32) + `"`), []string{"updates[0].files[1].sha256"}},
		{"file sha256 upper case is fine", file(`"name": "b", "sha256": "` + strings.ToUpper(hex64) + `"`), nil},
		{"every problem at once", `{"format": 2, "catalog": "c", "sequence": 1, "updates": [
			{"sequence": 1, "id": "11111111-1111-4111-8111-111111111111", "severity": "Severe"},
			{"sequence": 1, "id": "x", "bogus": true},
			{"sequence": 5, "id": "11111111-1111-4111-8111-111111111111"}]}`,
			[]string{"format", "updates[0].severity", "updates[1]", "updates[2].sequence", "updates[2].id"}},
		// Rules about the update itself are Update.Validate's, applied by
		// PlanSync: decoding passes them through.
		{"semantically invalid entry decodes", entry(`, "title": "", "article": "KB1", "maxExecutionMinutes": 5000, "files": [{"name": "a/b", "url": "ftp://x", "size": -1, "sha256": "` + hex64 + `"}]`), nil},
	}
	for _, c := range cases {
		cat, err := jsoncatalog.Decode(strings.NewReader(c.doc))
		got := fields(t, err)
		if !slices.Equal(got, c.fields) {
			t.Errorf("%s: Decode reported %q, want %q (%v)", c.name, got, c.fields, err)
		}
		if err == nil && cat == nil {
			t.Errorf("%s: nil catalog without an error", c.name)
		}
	}
}

func TestDecodeErrorMessages(t *testing.T) {
	_, err := jsoncatalog.Decode(strings.NewReader("{\n  \"format\": 1,\n  \"catalog\" \"c\"\n}"))
	if err == nil || !strings.Contains(err.Error(), "line 3, column 13") {
		t.Errorf("syntax error %v does not give the line and column", err)
	}
	_, err = jsoncatalog.Decode(strings.NewReader(`{"format": 1, "catalog": "c", "sequence": 1, "updates": [{"sequence": 1, "id": "11111111-1111-4111-8111-111111111111", "files": [{"sha256": "` + hex64 + `", "hash": "x"}]}]}`))
	if err == nil || !strings.Contains(err.Error(), `invalid updates[0].files[0]: no unknown field "hash"`) {
		t.Errorf("unknown field error %v does not name the path and field", err)
	}
}

func TestSemanticallyInvalidEntryIsRejectedByName(t *testing.T) {
	doc := strings.Replace(good, `"updates": [`, `"updates": [{"sequence": 1, "id": "22222222-2222-4222-8222-222222222222", "title": "", "product": "P", "classification": "Tools"},`, 1)
	c, err := jsoncatalog.Decode(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Since("")
	if err != nil {
		t.Fatal(err)
	}
	p, err := updates.PlanSync(nil, b.Updates, updates.Filter{}, func() updates.CIID { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	if len(p.New) != 1 || len(p.Rejected) != 1 || p.Rejected[0].UniqueID != "22222222-2222-4222-8222-222222222222" {
		t.Fatalf("plan: %d new, rejected %+v", len(p.New), p.Rejected)
	}
}

func TestCursors(t *testing.T) {
	c := load(t, "catalog-v2.json")
	cases := []struct {
		cursor string
		n      int
		code   error
	}{
		{"", 26, nil},
		{"contoso-updates:0", 26, nil},
		{"contoso-updates:25", 4, nil},
		{"contoso-updates:26", 3, nil},
		{"contoso-updates:27", 1, nil},
		{"contoso-updates:28", 0, nil},
		{"contoso-updates:29", 0, consign.ErrFailedPrecondition},
		{"fabrikam-updates:25", 0, consign.ErrInvalid},
		{"contoso-updates", 0, consign.ErrInvalid},
		{"contoso-updates:-1", 0, consign.ErrInvalid},
		{"contoso-updates:x", 0, consign.ErrInvalid},
		{"25", 0, consign.ErrInvalid},
	}
	for _, cc := range cases {
		b, err := c.Since(cc.cursor)
		switch {
		case cc.code == nil && err != nil:
			t.Errorf("Since(%q): %v", cc.cursor, err)
		case cc.code != nil && !errors.Is(err, cc.code):
			t.Errorf("Since(%q) = %v, want %v", cc.cursor, err, cc.code)
		case cc.code == nil && (len(b.Updates) != cc.n || b.Cursor != "contoso-updates:28"):
			t.Errorf("Since(%q): %d updates, cursor %q; want %d", cc.cursor, len(b.Updates), b.Cursor, cc.n)
		}
	}
	// The batch is the caller's: changing it changes nothing in the catalog.
	b, _ := c.Since("")
	b.Updates[0].Files[0].Name = "changed"
	if again, _ := c.Since(""); again.Updates[0].Files[0].Name == "changed" {
		t.Error("Since's batch aliases the catalog")
	}
}

func TestSourceErrors(t *testing.T) {
	ctx := context.Background()
	_, err := jsoncatalog.Open(filepath.Join("testdata", "missing.json"))
	if !errors.Is(err, consign.ErrUnavailable) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrUnavailable wrapping fs.ErrNotExist", err)
	}
	_, err = jsoncatalog.New(fstest.MapFS{"c.json": {Data: []byte(`{"format": 2}`)}}, "c.json")
	if !errors.Is(err, consign.ErrInvalid) || !strings.Contains(err.Error(), "c.json") {
		t.Errorf("New(malformed) = %v, want ErrInvalid naming the file", err)
	}
	if f := fields(t, err); !slices.Equal(f, []string{"format", "catalog", "sequence", "updates"}) {
		t.Errorf("New(malformed) reported %q", f)
	}
	fsys := fstest.MapFS{"c.json": {Data: []byte(good)}}
	src, err := jsoncatalog.New(fsys, "c.json")
	if err != nil {
		t.Fatal(err)
	}
	fsys["c.json"] = &fstest.MapFile{Data: []byte(good[:40])}
	if _, err := src.Fetch(ctx, ""); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("Fetch of a file broken after New = %v, want ErrInvalid", err)
	}
	delete(fsys, "c.json")
	if _, err := src.Fetch(ctx, ""); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Fetch of a removed file = %v, want ErrUnavailable", err)
	}
	fsys["c.json"] = &fstest.MapFile{Data: []byte(good)}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := src.Fetch(cancelled, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a cancelled context = %v", err)
	}
}

func TestEncodeSample(t *testing.T) {
	for _, name := range []string{"catalog.json", "catalog-v2.json"} {
		c := load(t, name)
		var buf bytes.Buffer
		if err := c.Encode(&buf); err != nil {
			t.Fatalf("%s: Encode: %v", name, err)
		}
		orig, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		// The sample is written in the encoder's own layout.
		if !bytes.Equal(buf.Bytes(), orig) {
			t.Errorf("%s: Encode does not reproduce the file byte for byte", name)
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	u := updates.Update{UniqueID: "11111111-1111-4111-8111-111111111111", Title: "t", Product: "p", Classification: updates.Tools}
	bad := u
	bad.UniqueID, bad.MaxExecutionTime, bad.Severity, bad.SupersededBy = strings.ToUpper(u.UniqueID), 90*time.Second, 3, []string{"x"}
	c := jsoncatalog.Catalog{Name: "bad name", Sequence: 1, Entries: []jsoncatalog.Entry{{Sequence: 1, Update: u}, {Sequence: 2, Update: bad}, {Sequence: 0, Update: u}}}
	got := fields(t, c.Encode(&bytes.Buffer{}))
	want := []string{"catalog", "updates[1].sequence", "updates[1].id", "updates[2].id", "updates[1].supersededBy[0]", "updates[1].maxExecutionMinutes", "updates[1].severity", "updates[2].sequence"}
	if !slices.Equal(got, want) {
		t.Errorf("Encode reported %q, want %q", got, want)
	}
}

func genCatalog() *rapid.Generator[jsoncatalog.Catalog] {
	return rapid.Custom(func(t *rapid.T) jsoncatalog.Catalog {
		text := rapid.StringMatching(`[ -~äöü€]{0,20}`)
		opt := func(g *rapid.Generator[string], label string) string {
			if rapid.Bool().Draw(t, label+"?") {
				return g.Draw(t, label)
			}
			return ""
		}
		when := func(label string) time.Time {
			if !rapid.Bool().Draw(t, label+"?") {
				return time.Time{}
			}
			return time.Unix(rapid.Int64Range(0, 4e9).Draw(t, label), rapid.Int64Range(0, 1e9-1).Draw(t, label+"ns")).UTC()
		}
		guid := rapid.Custom(func(t *rapid.T) string {
			return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rapid.Uint32().Draw(t, "a"), rapid.Uint16().Draw(t, "b"),
				rapid.IntRange(0, 0xfff).Draw(t, "c"), rapid.IntRange(0, 0xfff).Draw(t, "d"), rapid.Int64Range(0, 1<<48-1).Draw(t, "e"))
		})
		c := jsoncatalog.Catalog{Name: rapid.StringMatching(`[A-Za-z0-9._-]{1,64}`).Draw(t, "name"), Generated: when("generated")}
		ids := rapid.SliceOfDistinct(guid, rapid.ID).Draw(t, "ids")
		for _, id := range ids {
			u := updates.Update{
				UniqueID: id, Revision: rapid.Uint32().Draw(t, "revision"),
				ArticleID: opt(rapid.StringMatching(`[0-9]{1,7}`), "article"), BulletinID: opt(text, "bulletin"),
				Title: opt(text, "title"), Description: opt(text, "description"), Product: opt(text, "product"),
				Classification:   updates.Classification(rapid.IntRange(0, 9).Draw(t, "classification")),
				Severity:         rapid.SampledFrom([]updates.Severity{0, 2, 6, 8, 10}).Draw(t, "severity"),
				Restart:          updates.RestartBehavior(rapid.IntRange(0, 2).Draw(t, "restart")),
				Released:         when("released"),
				Revised:          when("revised"),
				MaxExecutionTime: time.Duration(rapid.IntRange(0, 2000).Draw(t, "minutes")) * time.Minute,
				Expired:          rapid.Bool().Draw(t, "expired"),
				SupersededBy:     rapid.SliceOfN(guid, 0, 2).Draw(t, "supersededBy"),
				Languages:        rapid.SliceOfN(rapid.SampledFrom([]string{"en", "de", "fr"}), 0, 3).Draw(t, "languages"),
			}
			for range rapid.IntRange(0, 3).Draw(t, "files") {
				var sum [32]byte
				copy(sum[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "sha256"))
				u.Files = append(u.Files, updates.ContentFile{Name: opt(text, "file"), URL: opt(text, "url"),
					Size: rapid.Int64().Draw(t, "size"), SHA256: sum, Language: opt(rapid.SampledFrom([]string{"en", "de"}), "language")})
			}
			if len(u.SupersededBy) == 0 {
				u.SupersededBy = nil
			}
			if len(u.Languages) == 0 {
				u.Languages = nil
			}
			seq := rapid.Uint64Range(1, 1000).Draw(t, "sequence")
			c.Entries = append(c.Entries, jsoncatalog.Entry{Sequence: seq, Update: u})
			c.Sequence = max(c.Sequence, seq)
		}
		c.Sequence += rapid.Uint64Range(0, 3).Draw(t, "extra")
		return c
	})
}

// Decode(Encode(c)) is c, for every catalog Encode accepts.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genCatalog().Draw(t, "catalog")
		var buf bytes.Buffer
		if err := c.Encode(&buf); err != nil {
			t.Fatalf("Encode: %v", err)
		}
		d, err := jsoncatalog.Decode(&buf)
		if err != nil {
			t.Fatalf("Decode: %v\n%s", err, buf.String())
		}
		if d.Name != c.Name || d.Sequence != c.Sequence || !d.Generated.Equal(c.Generated) || len(d.Entries) != len(c.Entries) {
			t.Fatalf("catalog header or length differs: %+v vs %+v", d, c)
		}
		for i := range c.Entries {
			a, b := c.Entries[i], d.Entries[i]
			if !a.Update.Released.Equal(b.Update.Released) || !a.Update.Revised.Equal(b.Update.Revised) {
				t.Fatalf("entry %d: times differ", i)
			}
			a.Update.Released, a.Update.Revised, b.Update.Released, b.Update.Revised = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
				t.Fatalf("entry %d differs:\n%+v\n%+v", i, a, b)
			}
		}
	})
}

func BenchmarkDecodeSample(b *testing.B) {
	data, err := os.ReadFile("testdata/catalog-v2.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsoncatalog.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
