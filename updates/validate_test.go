package updates_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/updates"
	"pgregory.net/rapid"
)

// valTB is the part of *testing.T and *rapid.T the helpers use.
type valTB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// valFields returns the Field of every *consign.ValidationError in err, in
// order, failing the test on any other kind of error.
func valFields(t valTB, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	if !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("error %v does not match consign.ErrInvalid", err)
	}
	var fields []string
	var walk func(error)
	walk = func(e error) {
		if ve, ok := e.(*consign.ValidationError); ok {
			fields = append(fields, ve.Field)
			return
		}
		if m, ok := e.(interface{ WrappedErrors() []error }); ok {
			for _, w := range m.WrappedErrors() {
				walk(w)
			}
			return
		}
		t.Fatalf("unexpected error %T %v", e, e)
	}
	walk(err)
	return fields
}

// valProblem returns the *consign.ValidationError for field in err.
func valProblem(t valTB, err error, field string) *consign.ValidationError {
	t.Helper()
	var found *consign.ValidationError
	var walk func(error)
	walk = func(e error) {
		if ve, ok := e.(*consign.ValidationError); ok && ve.Field == field && found == nil {
			found = ve
		}
		if m, ok := e.(interface{ WrappedErrors() []error }); ok {
			for _, w := range m.WrappedErrors() {
				walk(w)
			}
		}
	}
	walk(err)
	if found == nil {
		t.Fatalf("no problem for %s in %v", field, err)
	}
	return found
}

const (
	valID1 = "0fb1a3e2-6c0d-4b55-9d0e-1a2b3c4d5e6f"
	valID2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
)

func valSum(b byte) [32]byte {
	var s [32]byte
	s[0], s[31] = b, b
	return s
}

// valUpdate is a valid update: a security update with two language files
// and a neutral one.
func valUpdate() *updates.Update {
	return &updates.Update{
		CIID:           16777302,
		UniqueID:       valID1,
		Revision:       100,
		ArticleID:      "958644",
		BulletinID:     "MS08-067",
		Title:          "Security Update for Windows XP (KB958644)",
		Classification: updates.SecurityUpdates,
		Product:        "Windows XP",
		Severity:       updates.SeverityCritical,
		Released:       time.Date(2008, 10, 23, 17, 0, 0, 0, time.UTC),
		Revised:        time.Date(2008, 10, 23, 17, 0, 0, 0, time.UTC),
		Languages:      []string{"en", "de-DE"},
		Restart:        updates.CanRequestRestart,
		Files: []updates.ContentFile{
			{Name: "kb958644-enu.exe", URL: "https://download.example/kb958644-enu.exe", Size: 1024, SHA256: valSum(1), Language: "en"},
			{Name: "kb958644-deu.exe", URL: "http://download.example/kb958644-deu.exe", Size: 1024, SHA256: valSum(2), Language: "de-DE"},
			{Name: "kb958644-common.cab", URL: `file://server/share/kb958644-common.cab`, Size: 0, SHA256: valSum(3)},
		},
	}
}

func TestUpdateValidate(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(u *updates.Update)
		fields []string // reported, in order; nil = valid
	}{
		{"reference update is valid", func(*updates.Update) {}, nil},
		{"unique ID required", func(u *updates.Update) { u.UniqueID = "" }, []string{"Update.UniqueID"}},
		{"unique ID upper case", func(u *updates.Update) { u.UniqueID = strings.ToUpper(valID1) }, []string{"Update.UniqueID"}},
		{"unique ID braces", func(u *updates.Update) { u.UniqueID = "{" + valID1 + "}" }, []string{"Update.UniqueID"}},
		{"unique ID not a GUID", func(u *updates.Update) { u.UniqueID = "0fb1a3e26c0d4b559d0e1a2b3c4d5e6f" }, []string{"Update.UniqueID"}},
		{"unique ID bad hex", func(u *updates.Update) { u.UniqueID = "0fb1a3e2-6c0d-4b55-9d0e-1a2b3c4d5e6g" }, []string{"Update.UniqueID"}},
		{"title required", func(u *updates.Update) { u.Title = "" }, []string{"Update.Title"}},
		{"title 255 runes", func(u *updates.Update) { u.Title = strings.Repeat("ü", 255) }, nil},
		{"title 256 runes", func(u *updates.Update) { u.Title = strings.Repeat("t", 256) }, []string{"Update.Title"}},
		{"title invalid UTF-8", func(u *updates.Update) { u.Title = "bad \xff" }, []string{"Update.Title"}},
		{"product required", func(u *updates.Update) { u.Product = "" }, []string{"Update.Product"}},
		{"classification zero", func(u *updates.Update) { u.Classification = 0 }, []string{"Update.Classification"}},
		{"classification ten", func(u *updates.Update) { u.Classification = 10 }, []string{"Update.Classification"}},
		{"every classification", func(u *updates.Update) { u.Classification = updates.Updates }, nil},
		{"severity 5", func(u *updates.Update) { u.Severity = 5 }, []string{"Update.Severity"}},
		{"severity none", func(u *updates.Update) { u.Severity = updates.SeverityNone }, nil},
		{"restart 3", func(u *updates.Update) { u.Restart = 3 }, []string{"Update.Restart"}},
		{"article with KB", func(u *updates.Update) { u.ArticleID = "KB958644" }, []string{"Update.ArticleID"}},
		{"no article", func(u *updates.Update) { u.ArticleID = "" }, nil},
		{"revised before released", func(u *updates.Update) { u.Revised = u.Released.Add(-time.Hour) }, []string{"Update.Revised"}},
		{"revised without released", func(u *updates.Update) { u.Released = time.Time{} }, nil},
		{"max execution negative", func(u *updates.Update) { u.MaxExecutionTime = -time.Minute }, []string{"Update.MaxExecutionTime"}},
		{"max execution 24h", func(u *updates.Update) { u.MaxExecutionTime = 24 * time.Hour }, nil},
		{"max execution over 24h", func(u *updates.Update) { u.MaxExecutionTime = 24*time.Hour + time.Minute }, []string{"Update.MaxExecutionTime"}},
		{"language tag with underscore", func(u *updates.Update) { u.Languages[1], u.Files[1].Language = "de_DE", "de_DE" },
			[]string{"Update.Languages[1]", "Update.Files[1].Language"}},
		{"language tags of every shape", func(u *updates.Update) {
			u.Languages = []string{"zh-Hans", "sr-Latn-CS", "es-419"}
			u.Files[0].Language, u.Files[1].Language, u.Files[2].Language = "zh-hans", "sr-Latn-CS", "es-419"
		}, nil},
		{"language tag too long primary", func(u *updates.Update) { u.Languages[0], u.Files[0].Language = "engl", "engl" },
			[]string{"Update.Languages[0]", "Update.Files[0].Language"}},
		{"language listed twice", func(u *updates.Update) { u.Languages = append(u.Languages, "EN") }, []string{"Update.Languages[2]"}},
		{"file language not listed", func(u *updates.Update) { u.Files[2].Language = "fr" }, []string{"Update.Files[2].Language"}},
		{"listed language without a file", func(u *updates.Update) { u.Languages = append(u.Languages, "fr") }, []string{"Update.Languages[2]"}},
		{"languages without files (metadata only)", func(u *updates.Update) { u.Files = nil }, nil},
		{"file name required", func(u *updates.Update) { u.Files[1].Name = "" }, []string{"Update.Files[1].Name"}},
		{"file name with slash", func(u *updates.Update) { u.Files[1].Name = "x86/kb.exe" }, []string{"Update.Files[1].Name"}},
		{"file name with backslash", func(u *updates.Update) { u.Files[2].Name = `x86\kb.exe` }, []string{"Update.Files[2].Name"}},
		{"file name dot dot", func(u *updates.Update) { u.Files[0].Name = ".." }, []string{"Update.Files[0].Name"}},
		{"file name 256 runes", func(u *updates.Update) { u.Files[0].Name = strings.Repeat("n", 256) }, []string{"Update.Files[0].Name"}},
		{"file name twice", func(u *updates.Update) { u.Files[2].Name = "KB958644-ENU.exe" }, []string{"Update.Files[2].Name"}},
		{"file size negative", func(u *updates.Update) { u.Files[0].Size = -1 }, []string{"Update.Files[0].Size"}},
		{"file hash missing", func(u *updates.Update) { u.Files[1].SHA256 = [32]byte{} }, []string{"Update.Files[1].SHA256"}},
		{"file URL ftp", func(u *updates.Update) { u.Files[0].URL = "ftp://download.example/kb.exe" }, []string{"Update.Files[0].URL"}},
		{"file URL relative", func(u *updates.Update) { u.Files[0].URL = "kb.exe" }, []string{"Update.Files[0].URL"}},
		{"file URL no host", func(u *updates.Update) { u.Files[0].URL = "https:///kb.exe" }, []string{"Update.Files[0].URL"}},
		{"file URL no slashes", func(u *updates.Update) { u.Files[0].URL = "http:kb.exe" }, []string{"Update.Files[0].URL"}},
		{"file URL with space", func(u *updates.Update) { u.Files[0].URL = "https://download.example/kb 1.exe" }, []string{"Update.Files[0].URL"}},
		{"file URL upper-case scheme", func(u *updates.Update) { u.Files[0].URL = "HTTPS://download.example/kb.exe" }, nil},
		{"file URL local file", func(u *updates.Update) { u.Files[0].URL = "file:///C:/updates/kb.exe" }, nil},
		{"file URL unset", func(u *updates.Update) { u.Files[0].URL = "" }, nil},
		{"superseded by another", func(u *updates.Update) { u.SupersededBy = []string{valID2} }, nil},
		{"superseded by itself", func(u *updates.Update) { u.SupersededBy = []string{valID1} }, []string{"Update.SupersededBy[0]"}},
		{"superseded by a non-GUID", func(u *updates.Update) { u.SupersededBy = []string{valID2, "KB958645"} }, []string{"Update.SupersededBy[1]"}},
		{"superseded by upper case", func(u *updates.Update) { u.SupersededBy = []string{strings.ToUpper(valID2)} }, []string{"Update.SupersededBy[0]"}},
		{"superseded twice by one", func(u *updates.Update) { u.SupersededBy = []string{valID2, valID2} }, []string{"Update.SupersededBy[1]"}},
		{"every problem at once", func(u *updates.Update) {
			u.Title, u.Classification, u.Files[0].Name, u.Files[2].Size = "", 0, "", -5
		}, []string{"Update.Title", "Update.Classification", "Update.Files[0].Name", "Update.Files[2].Size"}},
	}
	for _, c := range cases {
		u := valUpdate()
		c.edit(u)
		got := valFields(t, u.Validate())
		if !slices.Equal(got, c.fields) {
			t.Errorf("%s: Validate reported %q, want %q", c.name, got, c.fields)
		}
	}
}

// Independent faults are all reported at once, whatever the combination.
func TestUpdateValidateReportsEveryProblem(t *testing.T) {
	faults := []struct {
		field string
		apply func(u *updates.Update)
	}{
		{"Update.UniqueID", func(u *updates.Update) { u.UniqueID = "nope" }},
		{"Update.Title", func(u *updates.Update) { u.Title = "" }},
		{"Update.Product", func(u *updates.Update) { u.Product = strings.Repeat("p", 300) }},
		{"Update.Classification", func(u *updates.Update) { u.Classification = 99 }},
		{"Update.Severity", func(u *updates.Update) { u.Severity = 7 }},
		{"Update.ArticleID", func(u *updates.Update) { u.ArticleID = "95x" }},
		{"Update.MaxExecutionTime", func(u *updates.Update) { u.MaxExecutionTime = -1 }},
		{"Update.Files[0].Size", func(u *updates.Update) { u.Files[0].Size = -1 }},
		{"Update.Files[1].URL", func(u *updates.Update) { u.Files[1].URL = "gopher://x" }},
		{"Update.Files[2].SHA256", func(u *updates.Update) { u.Files[2].SHA256 = [32]byte{} }},
		{"Update.SupersededBy[0]", func(u *updates.Update) { u.SupersededBy = []string{"{" + valID2 + "}"} }},
	}
	rapid.Check(t, func(t *rapid.T) {
		pick := rapid.SliceOfDistinct(rapid.IntRange(0, len(faults)-1), rapid.ID).Draw(t, "faults")
		slices.Sort(pick)
		u := valUpdate()
		var want []string
		for _, i := range pick {
			faults[i].apply(u)
			want = append(want, faults[i].field)
		}
		if got := valFields(t, u.Validate()); !slices.Equal(got, want) {
			t.Fatalf("Validate reported %q, want %q", got, want)
		}
	})
}

func TestParseUniqueID(t *testing.T) {
	cases := []struct{ in, want string }{
		{valID1, valID1},
		{strings.ToUpper(valID1), valID1},
		{"{" + strings.ToUpper(valID1) + "}", valID1},
		{"{" + valID1, ""},
		{valID1 + "}", ""},
		{"(" + valID1 + ")", ""},
		{"0fb1a3e26c0d4b559d0e1a2b3c4d5e6f", ""},
		{"0fb1a3e2-6c0d-4b55-9d0e-1a2b3c4d5e6", ""},
		{"", ""},
	}
	for _, c := range cases {
		got, err := updates.ParseUniqueID(c.in)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("ParseUniqueID(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if err != nil && !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("ParseUniqueID(%q): error %v is not ErrInvalid", c.in, err)
		}
	}
}

func TestParseEnumerations(t *testing.T) {
	for _, c := range updates.Classifications {
		for _, s := range []string{c.String(), strings.ToUpper(c.String()), strings.ReplaceAll(c.String(), " ", "")} {
			if got, err := updates.ParseClassification(s); got != c || err != nil {
				t.Errorf("ParseClassification(%q) = %v, %v; want %v", s, got, err, c)
			}
		}
	}
	for _, s := range []string{"", "Hotfixes", "Security", "Classification(2)"} {
		if _, err := updates.ParseClassification(s); !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("ParseClassification(%q) = %v, want ErrInvalid", s, err)
		}
	}
	sev := map[string]updates.Severity{"None": 0, "low": 2, "MODERATE": 6, "Important": 8, "Critical": 10, "0": 0, "8": 8, " 10 ": 10}
	for s, want := range sev {
		if got, err := updates.ParseSeverity(s); got != want || err != nil {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "1", "5", "Severe", "-2"} {
		if _, err := updates.ParseSeverity(s); !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("ParseSeverity(%q) = %v, want ErrInvalid", s, err)
		}
	}
	for r := updates.NeverRestarts; r <= updates.CanRequestRestart; r++ {
		if got, err := updates.ParseRestartBehavior(strings.ToLower(r.String())); got != r || err != nil {
			t.Errorf("ParseRestartBehavior(%q) = %v, %v", r.String(), got, err)
		}
	}
	if _, err := updates.ParseRestartBehavior("Sometimes"); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("ParseRestartBehavior(Sometimes) = %v, want ErrInvalid", err)
	}
}

func TestUpdateListValidate(t *testing.T) {
	cases := []struct {
		name   string
		list   updates.UpdateList
		fields []string
	}{
		{"valid", updates.UpdateList{Name: "2009-03 Patch Tuesday", Updates: []updates.CIID{1, 2, 3}}, nil},
		{"empty list while editing", updates.UpdateList{Name: "Approved"}, nil},
		{"expired content allowed", updates.UpdateList{Name: "Old", Updates: []updates.CIID{1}, ContainsExpiredUpdates: true}, nil},
		{"name required", updates.UpdateList{Updates: []updates.CIID{1}}, []string{"UpdateList.Name"}},
		{"name 256", updates.UpdateList{Name: strings.Repeat("n", 256)}, []string{"UpdateList.Name"}},
		{"description 513", updates.UpdateList{Name: "n", Description: strings.Repeat("d", 513)}, []string{"UpdateList.Description"}},
		{"description 512", updates.UpdateList{Name: "n", Description: strings.Repeat("d", 512)}, nil},
		{"zero and duplicate CI_IDs", updates.UpdateList{Name: "n", Updates: []updates.CIID{4, 0, 4}},
			[]string{"UpdateList.Updates[1]", "UpdateList.Updates[2]"}},
	}
	for _, c := range cases {
		if got := valFields(t, c.list.Validate()); !slices.Equal(got, c.fields) {
			t.Errorf("%s: Validate reported %q, want %q", c.name, got, c.fields)
		}
	}
}

func TestTemplateAndSettingsValidate(t *testing.T) {
	cases := []struct {
		name   string
		tmpl   updates.Template
		fields []string
	}{
		{"zero settings are the wizard defaults", updates.Template{Name: "Workstations"}, nil},
		{"collection optional, valid when set", updates.Template{Name: "t", Settings: updates.Settings{CollectionID: "CEN00010"}}, nil},
		{"built-in collection", updates.Template{Name: "t", Settings: updates.Settings{CollectionID: "SMS00001"}}, nil},
		{"name required", updates.Template{}, []string{"Template.Name"}},
		{"description 513", updates.Template{Name: "t", Description: strings.Repeat("d", 513)}, []string{"Template.Description"}},
		{"bad collection", updates.Template{Name: "t", Settings: updates.Settings{CollectionID: "CEN0001"}}, []string{"Template.Settings.CollectionID"}},
		{"negative duration", updates.Template{Name: "t", Settings: updates.Settings{Duration: -time.Hour}}, []string{"Template.Settings.Duration"}},
		{"both suppress bits", updates.Template{Name: "t", Settings: updates.Settings{SuppressReboot: updates.SuppressServers | updates.SuppressWorkstations}}, nil},
		{"unknown suppress bit", updates.Template{Name: "t", Settings: updates.Settings{SuppressReboot: 4}}, []string{"Template.Settings.SuppressReboot"}},
	}
	for _, c := range cases {
		if got := valFields(t, c.tmpl.Validate()); !slices.Equal(got, c.fields) {
			t.Errorf("%s: Validate reported %q, want %q", c.name, got, c.fields)
		}
	}
	got := valFields(t, updates.Settings{CollectionID: "x", Duration: -1, SuppressReboot: 8}.Validate())
	want := []string{"Settings.CollectionID", "Settings.Duration", "Settings.SuppressReboot"}
	if !slices.Equal(got, want) {
		t.Errorf("Settings.Validate reported %q, want %q", got, want)
	}
}

// valCatalog is a small catalog for deployment tests: 1 and 2 deployable,
// 3 expired by the vendor, 4 superseded (and so expired at sync), 5
// superseded but not (yet) marked expired.
func valCatalog() map[updates.CIID]*updates.Update {
	mk := func(id updates.CIID, kb string, expired bool, supersededBy ...string) *updates.Update {
		u := valUpdate()
		u.CIID, u.ArticleID, u.Title, u.Expired, u.SupersededBy = id, kb, "Update KB"+kb, expired, supersededBy
		return u
	}
	return map[updates.CIID]*updates.Update{
		1: mk(1, "900001", false),
		2: mk(2, "900002", false),
		3: mk(3, "900003", true),
		4: mk(4, "900004", true, valID2),
		5: mk(5, "900005", false, valID2),
	}
}

func valLookup(c map[updates.CIID]*updates.Update) func(updates.CIID) (*updates.Update, bool) {
	return func(id updates.CIID) (*updates.Update, bool) {
		u, ok := c[id]
		return u, ok
	}
}

func valDeployment() *updates.Deployment {
	return &updates.Deployment{
		Name:      "Patch Tuesday March 2009",
		Updates:   []updates.CIID{1, 2},
		Settings:  updates.Settings{CollectionID: "CEN00010"},
		Available: time.Date(2009, 3, 11, 8, 0, 0, 0, time.UTC),
		Enabled:   true,
	}
}

func TestDeploymentValidate(t *testing.T) {
	avail := valDeployment().Available
	cases := []struct {
		name   string
		edit   func(d *updates.Deployment)
		fields []string
	}{
		{"optional deployment", func(*updates.Deployment) {}, nil},
		{"mandatory deployment", func(d *updates.Deployment) { d.Deadline = avail.AddDate(0, 0, 14) }, nil},
		{"deadline at available", func(d *updates.Deployment) { d.Deadline = avail }, nil},
		{"name required", func(d *updates.Deployment) { d.Name = "" }, []string{"Deployment.Name"}},
		{"description 513", func(d *updates.Deployment) { d.Description = strings.Repeat("d", 513) }, []string{"Deployment.Description"}},
		{"no updates", func(d *updates.Deployment) { d.Updates = nil }, []string{"Deployment.Updates"}},
		{"duplicate update", func(d *updates.Deployment) { d.Updates = []updates.CIID{1, 2, 1} }, []string{"Deployment.Updates[2]"}},
		{"unknown update", func(d *updates.Deployment) { d.Updates = []updates.CIID{1, 99} }, []string{"Deployment.Updates[1]"}},
		{"expired update", func(d *updates.Deployment) { d.Updates = []updates.CIID{3, 1} }, []string{"Deployment.Updates[0]"}},
		{"superseded update", func(d *updates.Deployment) { d.Updates = []updates.CIID{1, 4} }, []string{"Deployment.Updates[1]"}},
		{"superseded, not marked expired", func(d *updates.Deployment) { d.Updates = []updates.CIID{5} }, []string{"Deployment.Updates[0]"}},
		{"collection required", func(d *updates.Deployment) { d.Settings.CollectionID = "" }, []string{"Deployment.Settings.CollectionID"}},
		{"collection malformed", func(d *updates.Deployment) { d.Settings.CollectionID = "CEN0001Z" }, []string{"Deployment.Settings.CollectionID"}},
		{"settings rules apply", func(d *updates.Deployment) { d.Settings.Duration, d.Settings.SuppressReboot = -1, 0x10 },
			[]string{"Deployment.Settings.Duration", "Deployment.Settings.SuppressReboot"}},
		{"available required", func(d *updates.Deployment) { d.Available = time.Time{} }, []string{"Deployment.Available"}},
		{"deadline before available", func(d *updates.Deployment) { d.Deadline = avail.Add(-time.Minute) }, []string{"Deployment.Deadline"}},
		{"expiration at available", func(d *updates.Deployment) { d.Expiration = avail }, []string{"Deployment.Expiration"}},
		{"expiration after available", func(d *updates.Deployment) { d.Expiration = avail.AddDate(0, 1, 0) }, nil},
		{"expiration at deadline", func(d *updates.Deployment) {
			d.Deadline, d.Expiration = avail.AddDate(0, 0, 14), avail.AddDate(0, 0, 14)
		}, []string{"Deployment.Expiration"}},
		{"expiration after deadline", func(d *updates.Deployment) {
			d.Deadline, d.Expiration = avail.AddDate(0, 0, 14), avail.AddDate(0, 0, 15)
		}, nil},
		// Local-time deployments compare wall clocks: 09:00 in Berlin is
		// after 08:00 in UTC on the wall, though it is an earlier instant.
		{"local time compares wall clocks", func(d *updates.Deployment) {
			d.Deadline = time.Date(2009, 3, 11, 9, 0, 0, 0, time.FixedZone("CET", 3600))
		}, nil},
		{"UTC compares instants", func(d *updates.Deployment) {
			d.Settings.UseGMTTimes = true
			d.Deadline = time.Date(2009, 3, 11, 8, 30, 0, 0, time.FixedZone("CET", 3600))
		}, []string{"Deployment.Deadline"}},
		{"override windows on optional", func(d *updates.Deployment) { d.OverrideServiceWindows = true }, []string{"Deployment.OverrideServiceWindows"}},
		{"override windows on mandatory", func(d *updates.Deployment) {
			d.OverrideServiceWindows, d.Deadline = true, avail.Add(time.Hour)
		}, nil},
		{"package ID malformed", func(d *updates.Deployment) { d.PackageID = "PKG" }, []string{"Deployment.PackageID"}},
		{"package ID valid", func(d *updates.Deployment) { d.PackageID = "CEN00042" }, nil},
		{"every problem at once", func(d *updates.Deployment) {
			d.Name, d.Updates, d.Settings.CollectionID, d.Available = "", []updates.CIID{3, 4, 77}, "", time.Time{}
			d.OverrideServiceWindows = true
		}, []string{"Deployment.Name", "Deployment.Updates[0]", "Deployment.Updates[1]", "Deployment.Updates[2]",
			"Deployment.Settings.CollectionID", "Deployment.Available", "Deployment.OverrideServiceWindows"}},
	}
	cat := valCatalog()
	for _, c := range cases {
		d := valDeployment()
		c.edit(d)
		if got := valFields(t, d.Validate(valLookup(cat))); !slices.Equal(got, c.fields) {
			t.Errorf("%s: Validate reported %q, want %q", c.name, got, c.fields)
		}
	}
}

func TestDeploymentValidateNamesTheRefusedUpdate(t *testing.T) {
	d := valDeployment()
	d.Updates = []updates.CIID{1, 4, 3}
	err := d.Validate(valLookup(valCatalog()))
	sup := valProblem(t, err, "Deployment.Updates[1]")
	ref, ok := sup.Value.(updates.UpdateRef)
	if !ok || ref.CIID != 4 || ref.ArticleID != "900004" {
		t.Fatalf("superseded problem's Value = %#v, want the UpdateRef of CI 4", sup.Value)
	}
	for _, want := range []string{"Deployment.Updates[1]", "CI 4 KB900004 Update KB900004", "superseded"} {
		if !strings.Contains(sup.Error(), want) {
			t.Errorf("%q does not mention %q", sup.Error(), want)
		}
	}
	exp := valProblem(t, err, "Deployment.Updates[2]")
	if !strings.Contains(exp.Error(), "CI 3 KB900003") || !strings.Contains(exp.Rule, "expired") {
		t.Errorf("expired problem %q does not name CI 3 and the rule", exp.Error())
	}
	// A nil lookup checks the shape only.
	if err := d.Validate(nil); err != nil {
		t.Errorf("Validate(nil) = %v, want nil", err)
	}
}

func TestUpdateRefString(t *testing.T) {
	cases := []struct {
		ref  updates.UpdateRef
		want string
	}{
		{updates.UpdateRef{CIID: 7, ArticleID: "950101", Title: "Security Update"}, "CI 7 KB950101 Security Update"},
		{updates.UpdateRef{CIID: 7, UniqueID: valID1}, "CI 7 " + valID1},
		{updates.UpdateRef{CIID: 7}, "CI 7"},
	}
	for _, c := range cases {
		if got := c.ref.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.ref, got, c.want)
		}
	}
}

// Whatever the catalog and the deployment, Validate refuses a deployment
// holding an expired or superseded update, and a deployment of deployable
// updates with valid settings passes (§7 invariant 8).
func TestNeverDeployExpiredOrSuperseded(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(t, "catalog size")
		cat := make(map[updates.CIID]*updates.Update, n)
		for i := 1; i <= n; i++ {
			u := valUpdate()
			u.CIID = updates.CIID(i)
			u.Expired = rapid.Bool().Draw(t, "expired")
			if rapid.Bool().Draw(t, "superseded") {
				u.SupersededBy = []string{valID2}
			}
			cat[u.CIID] = u
		}
		d := valDeployment()
		d.Updates = rapid.SliceOfNDistinct(rapid.Custom(func(t *rapid.T) updates.CIID {
			return updates.CIID(rapid.IntRange(1, n).Draw(t, "ci"))
		}), 1, n, rapid.ID).Draw(t, "deployed")
		if rapid.Bool().Draw(t, "mandatory") {
			d.Deadline = d.Available.Add(time.Duration(rapid.IntRange(0, 1000).Draw(t, "hours")) * time.Hour)
		}
		var refused []string
		for i, id := range d.Updates {
			if u := cat[id]; u.Expired || u.Superseded() {
				refused = append(refused, fmt.Sprintf("Deployment.Updates[%d]", i))
			}
		}
		if got := valFields(t, d.Validate(valLookup(cat))); !slices.Equal(got, refused) {
			t.Fatalf("Validate reported %q, want exactly the undeployable updates %q", got, refused)
		}
	})
}

func BenchmarkUpdateValidate(b *testing.B) {
	u := valUpdate()
	u.SupersededBy = []string{valID2}
	b.ReportAllocs()
	for b.Loop() {
		if err := u.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeploymentValidate(b *testing.B) {
	cat := make(map[updates.CIID]*updates.Update, 100)
	d := valDeployment()
	d.Updates = nil
	for i := 1; i <= 100; i++ {
		u := valUpdate()
		u.CIID = updates.CIID(i)
		cat[u.CIID] = u
		d.Updates = append(d.Updates, u.CIID)
	}
	d.Deadline = d.Available.AddDate(0, 0, 14)
	lookup := valLookup(cat)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Validate(lookup); err != nil {
			b.Fatal(err)
		}
	}
}
