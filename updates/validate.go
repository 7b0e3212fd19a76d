package updates

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consign/consign"
)

// Limits Validate enforces. The reference gives lengths only for deployment
// packages (name 50, description 127, §1.14), which are packages and are
// checked by package pkg. For the objects of this package it is silent, so
// Consign picks generous bounds that still catch garbage: 255 characters
// for names and titles (the common NVARCHAR(255) of the site database and
// the longest NTFS file name) and 512 for descriptions.
const (
	// MaxTitleLen bounds Update.Title and Update.Product (runes).
	MaxTitleLen = 255
	// MaxNameLen bounds the names of update lists, templates and
	// deployments (runes).
	MaxNameLen = 255
	// MaxDescriptionLen bounds their descriptions (runes).
	MaxDescriptionLen = 512
	// MaxFileNameLen bounds ContentFile.Name (runes): the NTFS limit for
	// one path component, since the file lands in a deployment package's
	// source folder.
	MaxFileNameLen = 255
	// MaxLanguageTagLen bounds a language tag (bytes). 35 is the longest
	// tag RFC 5646 §4.4.1 asks implementations to support.
	MaxLanguageTagLen = 35
)

// MaxMaxExecutionTime is the longest install budget Update.Validate
// accepts. The reference gives defaults (§1.11) but no bound. The budget
// exists to fit an install into a maintenance window, and every window is
// shorter than 24 hours (§1.7, §5.1), so a larger budget could never fit one
// and is almost always a unit mistake (seconds stored as minutes).
const MaxMaxExecutionTime = 24 * time.Hour

// Rules shared by several checks, phrased as what is required.
const (
	ruleExpired    = "expired updates cannot be deployed (§1.11 IsExpired, §7 invariant 8)"
	ruleSuperseded = "superseded updates are expired at sync and cannot be deployed (§1.11 IsSuperseded, §5.2 item 4, §7 invariant 8)"
	ruleMandatory  = "needs a deadline: only a mandatory deployment may ignore maintenance windows (§1.15)"
)

// UpdateRef identifies an update in an error: the value of the
// *consign.ValidationError that Deployment.Validate reports for an update
// it refuses. Its String form is what the error message shows.
type UpdateRef struct {
	CIID      CIID
	UniqueID  string
	ArticleID string
	Title     string
}

// Ref returns u's UpdateRef.
func (u *Update) Ref() UpdateRef {
	return UpdateRef{CIID: u.CIID, UniqueID: u.UniqueID, ArticleID: u.ArticleID, Title: u.Title}
}

// String reads "CI 16777302 KB958644 Title", leaving out what is unset.
func (r UpdateRef) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CI %d", r.CIID)
	if r.ArticleID != "" {
		b.WriteString(" KB")
		b.WriteString(r.ArticleID)
	}
	if r.Title != "" {
		b.WriteByte(' ')
		b.WriteString(r.Title)
	} else if r.UniqueID != "" {
		b.WriteByte(' ')
		b.WriteString(r.UniqueID)
	}
	return b.String()
}

// Validate reports every rule u breaks, each as a *consign.ValidationError
// whose Field is a path such as "Update.Files[2].Name":
//
//   - UniqueID is a GUID in canonical form (see ParseUniqueID);
//   - Title and Product are required, at most MaxTitleLen characters;
//   - Classification, Severity and Restart are defined values (§1.11);
//   - ArticleID, when set, is digits only (a KB number without "KB");
//   - Revised is not before Released when both are set;
//   - MaxExecutionTime is between 0 (site default) and MaxMaxExecutionTime;
//   - Languages are language tags (BCP 47 shaped: "en", "de-DE",
//     "zh-Hans"), each listed once, and when the update has files they are
//     exactly the languages of its files, so a language filter can decide
//     on Languages alone;
//   - each file has a Name (no path separators, at most MaxFileNameLen
//     characters, unique in the update, case-insensitively), Size ≥ 0, a
//     SHA256 (an all-zero hash is a missing one: clients verify content by
//     hash, §1.11 SMS_CIContentFiles), a URL with scheme http, https or
//     file when set, and a Language that is a tag listed in Languages when
//     set;
//   - SupersededBy holds canonical GUIDs, each once, none of them u's own.
//
// CIID and Revision are not checked: the site assigns the first, and any
// revision number is valid.
func (u *Update) Validate() error {
	var ps consign.Problems
	u.check(&ps, "Update")
	return ps.Err()
}

func (u *Update) check(ps *consign.Problems, at string) {
	checkUniqueID(ps, at, ".UniqueID", u.UniqueID)
	checkText(ps, at, ".Title", u.Title, true, MaxTitleLen)
	checkText(ps, at, ".Product", u.Product, true, MaxTitleLen)
	if !u.Classification.Valid() {
		ps.AddValue(at+".Classification", int(u.Classification), "one of the nine WSUS classifications (§1.11)")
	}
	if !u.Severity.Valid() {
		ps.AddValue(at+".Severity", int(u.Severity), "0 None, 2 Low, 6 Moderate, 8 Important or 10 Critical (§1.11)")
	}
	if !u.Restart.Valid() {
		ps.AddValue(at+".Restart", int(u.Restart), "one of the RestartBehavior constants")
	}
	if u.ArticleID != "" && !allDigits(u.ArticleID) {
		ps.AddValue(at+".ArticleID", u.ArticleID, "digits only: the KB number without \"KB\" (§1.11)")
	}
	if !u.Released.IsZero() && !u.Revised.IsZero() && u.Revised.Before(u.Released) {
		ps.Add(at+".Revised", "not before Released (DateRevised ≥ DatePosted)")
	}
	if u.MaxExecutionTime < 0 || u.MaxExecutionTime > MaxMaxExecutionTime {
		ps.AddValue(at+".MaxExecutionTime", u.MaxExecutionTime, "between 0 (the site default) and 24h: a longer budget fits no maintenance window (§1.7)")
	}

	// Field paths are built only for problems: a valid update allocates
	// nothing here. Updates have few languages and files, so duplicates are
	// found by linear scans.
	lang := func(i int) string { return fmt.Sprintf("%s.Languages[%d]", at, i) }
	file := func(i int, f string) string { return fmt.Sprintf("%s.Files[%d].%s", at, i, f) }
	firstLang := func(l string) int { // index of l's first listing, or -1
		for j, m := range u.Languages {
			if strings.EqualFold(l, m) {
				return j
			}
		}
		return -1
	}
	for i, l := range u.Languages {
		switch j := firstLang(l); {
		case !validLanguageTag(l):
			ps.AddValue(lang(i), l, "a language tag such as \"en\" or \"de-DE\"")
		case j < i:
			ps.AddValue(lang(i), l, fmt.Sprintf("listed once (already Languages[%d])", j))
		}
	}

	for i := range u.Files {
		c := &u.Files[i]
		switch {
		case c.Name == "":
			ps.Add(file(i, "Name"), "required")
		case strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == "..":
			ps.AddValue(file(i, "Name"), c.Name, "a file name without path separators")
		case utf8.RuneCountInString(c.Name) > MaxFileNameLen:
			ps.Add(file(i, "Name"), fmt.Sprintf("at most %d characters", MaxFileNameLen))
		default:
			for j := range i {
				if strings.EqualFold(c.Name, u.Files[j].Name) {
					ps.AddValue(file(i, "Name"), c.Name, fmt.Sprintf("unique in the update (already Files[%d])", j))
					break
				}
			}
		}
		if c.Size < 0 {
			ps.AddValue(file(i, "Size"), c.Size, "zero or more bytes")
		}
		if c.SHA256 == ([32]byte{}) {
			ps.Add(file(i, "SHA256"), "required: clients verify content by its hash")
		}
		if c.URL != "" {
			if rule := checkURL(c.URL); rule != "" {
				ps.AddValue(file(i, "URL"), c.URL, rule)
			}
		}
		if c.Language != "" {
			switch {
			case !validLanguageTag(c.Language):
				ps.AddValue(file(i, "Language"), c.Language, "a language tag such as \"en\" or \"de-DE\"")
			case firstLang(c.Language) < 0:
				ps.AddValue(file(i, "Language"), c.Language, "listed in Update.Languages")
			}
		}
	}
	if len(u.Files) > 0 {
		for i, l := range u.Languages {
			if !validLanguageTag(l) || firstLang(l) < i {
				continue // reported above
			}
			if !slices.ContainsFunc(u.Files, func(c ContentFile) bool { return strings.EqualFold(c.Language, l) }) {
				ps.AddValue(lang(i), l, "a language some file is in: Languages lists exactly the files' languages")
			}
		}
	}

	for i, s := range u.SupersededBy {
		f := func() string { return fmt.Sprintf("%s.SupersededBy[%d]", at, i) }
		switch j := slices.Index(u.SupersededBy, s); {
		case !isCanonicalGUID(s):
			ps.AddValue(f(), s, guidRule+", in lower case without braces")
		case s == u.UniqueID:
			ps.AddValue(f(), s, "another update: an update cannot supersede itself")
		case j < i:
			ps.AddValue(f(), s, fmt.Sprintf("listed once (already SupersededBy[%d])", j))
		}
	}
}

// Validate reports every rule l breaks: Name required and at most
// MaxNameLen characters, Description at most MaxDescriptionLen, and every
// CI_ID in Updates non-zero and listed once. An update list may hold expired
// and superseded updates — they become expired after the list was made, and
// ContainsExpiredUpdates says so (§1.12, see RefreshFlags) — and it may be
// empty while an administrator edits it.
func (l *UpdateList) Validate() error {
	var ps consign.Problems
	checkText(&ps, "UpdateList", ".Name", l.Name, true, MaxNameLen)
	checkText(&ps, "UpdateList", ".Description", l.Description, false, MaxDescriptionLen)
	checkCIIDs(&ps, "UpdateList.Updates", l.Updates)
	return ps.Err()
}

// Validate reports every rule t breaks: Name required and at most
// MaxNameLen characters, Description at most MaxDescriptionLen, and the
// Settings' rules (see Settings.Validate; a template's collection is
// optional, §1.13).
func (t *Template) Validate() error {
	var ps consign.Problems
	checkText(&ps, "Template", ".Name", t.Name, true, MaxNameLen)
	checkText(&ps, "Template", ".Description", t.Description, false, MaxDescriptionLen)
	t.Settings.check(&ps, "Template.Settings", false)
	return ps.Err()
}

// Validate reports every rule s breaks: CollectionID, when set, is a
// collection ID (§1.1); Duration is not negative (zero means
// DefaultDuration); SuppressReboot holds only the workstation and server
// bits (§1.15).
func (s Settings) Validate() error {
	var ps consign.Problems
	s.check(&ps, "Settings", false)
	return ps.Err()
}

func (s Settings) check(ps *consign.Problems, at string, needCollection bool) {
	switch {
	case s.CollectionID == "" && needCollection:
		ps.Add(at+".CollectionID", "required: the collection the deployment targets")
	case s.CollectionID != "" && s.CollectionID.Validate() != nil:
		ps.AddValue(at+".CollectionID", string(s.CollectionID), "site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	if s.Duration < 0 {
		ps.AddValue(at+".Duration", s.Duration, "zero (the default, two weeks) or positive")
	}
	if extra := s.SuppressReboot &^ (SuppressWorkstations | SuppressServers); extra != 0 {
		ps.AddValue(at+".SuppressReboot", fmt.Sprintf("0x%X", uint32(s.SuppressReboot)), "only bits 0x1 (workstations) and 0x2 (servers) (§1.15)")
	}
}

// Validate reports every rule d breaks (§1.15, §2.8, §7 invariant 8):
//
//   - Name required, at most MaxNameLen characters; Description at most
//     MaxDescriptionLen;
//   - at least one update, each CI_ID listed once;
//   - each update exists in the catalog (lookup), and is neither expired
//     nor superseded: ConfigMgr 2007 refuses to deploy them. The
//     *consign.ValidationError for Deployment.Updates[i] then carries the
//     update's UpdateRef as its Value;
//   - Settings.CollectionID is required and a collection ID; the other
//     Settings rules as in Settings.Validate;
//   - Available is set; Deadline, when set, is not before Available;
//     Expiration, when set, is after Available and after Deadline. With
//     UseGMTTimes false the times are civil times and compared by their
//     wall-clock readings, as devices read them;
//   - OverrideServiceWindows only on a mandatory deployment (one with a
//     deadline), as advertisements allow OVERRIDE_SERVICE_WINDOWS only on
//     mandatory ones;
//   - PackageID, when set, is a package ID.
//
// lookup finds an update by CI_ID. A nil lookup skips the catalog checks
// (existence, expiry, supersedence), for checking a deployment's shape
// before the catalog is at hand; a Site always passes one.
func (d *Deployment) Validate(lookup func(CIID) (*Update, bool)) error {
	var ps consign.Problems
	checkText(&ps, "Deployment", ".Name", d.Name, true, MaxNameLen)
	checkText(&ps, "Deployment", ".Description", d.Description, false, MaxDescriptionLen)
	if len(d.Updates) == 0 {
		ps.Add("Deployment.Updates", "at least one update")
	}
	seen := make(map[CIID]int, len(d.Updates))
	for i, id := range d.Updates {
		f := func() string { return fmt.Sprintf("Deployment.Updates[%d]", i) }
		if j := seen[id]; j > 0 {
			ps.AddValue(f(), id, fmt.Sprintf("listed once (already Updates[%d])", j-1))
			continue
		}
		seen[id] = i + 1
		if lookup == nil {
			continue
		}
		u, ok := lookup(id)
		switch {
		case !ok || u == nil:
			ps.AddValue(f(), id, "must name an update in the site's catalog")
		case u.Superseded():
			ps.AddValue(f(), u.Ref(), ruleSuperseded)
		case u.Expired:
			ps.AddValue(f(), u.Ref(), ruleExpired)
		}
	}
	d.Settings.check(&ps, "Deployment.Settings", true)

	civil := func(t time.Time) time.Time { return d.At(t, time.UTC) }
	if d.Available.IsZero() {
		ps.Add("Deployment.Available", "required: when the updates become available (StartTime)")
	} else {
		avail := civil(d.Available)
		if !d.Deadline.IsZero() && civil(d.Deadline).Before(avail) {
			ps.Add("Deployment.Deadline", "not before Available (StartTime)")
		}
		if !d.Expiration.IsZero() {
			exp := civil(d.Expiration)
			switch {
			case !exp.After(avail):
				ps.Add("Deployment.Expiration", "after Available (StartTime)")
			case !d.Deadline.IsZero() && !exp.After(civil(d.Deadline)):
				ps.Add("Deployment.Expiration", "after the deadline")
			}
		}
	}
	if d.OverrideServiceWindows && !d.Mandatory() {
		ps.Add("Deployment.OverrideServiceWindows", ruleMandatory)
	}
	if d.PackageID != "" && d.PackageID.Validate() != nil {
		ps.AddValue("Deployment.PackageID", string(d.PackageID), "site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	return ps.Err()
}

// checkUniqueID and checkText take the field's path as at+name, joined only
// when there is a problem.
func checkUniqueID(ps *consign.Problems, at, name, id string) {
	switch {
	case id == "":
		ps.Add(at+name, "required")
	case isCanonicalGUID(id):
	case isGUID(id):
		ps.AddValue(at+name, id, "lower case: Consign's canonical GUID form (see ParseUniqueID)")
	default:
		ps.AddValue(at+name, id, guidRule+", in lower case without braces")
	}
}

func checkText(ps *consign.Problems, at, name, s string, required bool, max int) {
	switch {
	case s == "" && required:
		ps.Add(at+name, "required")
	case !utf8.ValidString(s):
		ps.Add(at+name, "valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		ps.Add(at+name, fmt.Sprintf("at most %d characters", max))
	}
}

func checkCIIDs(ps *consign.Problems, at string, ids []CIID) {
	seen := make(map[CIID]int, len(ids))
	for i, id := range ids {
		f := func() string { return fmt.Sprintf("%s[%d]", at, i) }
		switch {
		case id == 0:
			ps.Add(f(), "a CI_ID (non-zero)")
		case seen[id] > 0:
			ps.AddValue(f(), id, fmt.Sprintf("listed once (already %s[%d])", at[strings.LastIndexByte(at, '.')+1:], seen[id]-1))
		default:
			seen[id] = i + 1
		}
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// validLanguageTag reports whether s has the shape of a BCP 47 tag: a
// primary subtag of 2 or 3 letters, then subtags of 1 to 8 letters or
// digits, separated by hyphens, at most MaxLanguageTagLen bytes. It checks
// shape, not registration: "en", "de-DE", "zh-Hans", "sr-Latn-CS" pass;
// "en_US", "english", "e" do not.
func validLanguageTag(s string) bool {
	if len(s) < 2 || len(s) > MaxLanguageTagLen {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '-' {
			c := s[i]
			letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !letter && (start == 0 || c < '0' || c > '9') {
				return false
			}
			continue
		}
		n := i - start
		if start == 0 && (n < 2 || n > 3) || n < 1 || n > 8 {
			return false
		}
		start = i + 1
	}
	return true
}

// checkURL returns the rule a content URL breaks, or "" when it has scheme
// http, https or file followed by "//", a host for http and https, and no
// spaces or control characters. (Package net/url is I/O-adjacent and off
// limits to a pure package, and these are the only checks needed.)
func checkURL(s string) string {
	const rule = "an http, https or file URL"
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return rule + " without spaces or control characters"
		}
	}
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return rule
	}
	scheme := strings.ToLower(s[:colon])
	rest := s[colon+1:]
	if scheme != "http" && scheme != "https" && scheme != "file" {
		return rule
	}
	if !strings.HasPrefix(rest, "//") {
		return rule + " (scheme://…)"
	}
	if scheme != "file" {
		host := rest[2:]
		if i := strings.IndexAny(host, "/?#"); i >= 0 {
			host = host[:i]
		}
		if host == "" {
			return rule + " with a host"
		}
	}
	return ""
}
