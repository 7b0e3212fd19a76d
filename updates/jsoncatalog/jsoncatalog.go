package jsoncatalog

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/updates"
)

// FormatVersion is the version of the format this package reads and writes.
const FormatVersion = 1

// MaxNameLen bounds the catalog name.
const MaxNameLen = 64

// Catalog is a decoded catalog file.
type Catalog struct {
	// Name identifies the catalog; cursors carry it.
	Name string
	// Sequence is the catalog's revision: at least every entry's.
	Sequence uint64
	// Generated is when the publisher wrote the file (zero: not given).
	Generated time.Time
	// Entries are the updates, in file order.
	Entries []Entry
}

// Entry is one update of a catalog and the catalog sequence at which it
// last changed.
type Entry struct {
	Sequence uint64
	Update   updates.Update
}

// Source is an updates.Source over one catalog file. It is safe for
// concurrent use: it holds no state but the file's location.
type Source struct {
	fsys fs.FS
	name string
}

var _ updates.Source = (*Source)(nil)

// New returns a Source reading the catalog file name in fsys. It reads and
// decodes the file once, so that a missing or malformed catalog is reported
// when the site is configured rather than at its first sync.
func New(fsys fs.FS, name string) (*Source, error) {
	s := &Source{fsys: fsys, name: name}
	if _, err := s.Load(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Open returns a Source reading the catalog file at path (see New).
func Open(path string) (*Source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, consign.Errorf(consign.ErrInvalid, "jsoncatalog.Open", path, "%w", err)
	}
	return New(os.DirFS(filepath.Dir(abs)), filepath.Base(abs))
}

// Load reads and decodes the catalog file as it is now. Failing to read it
// is an error wrapping consign.ErrUnavailable (and the fs error); a file
// that breaks the format, one wrapping consign.ErrInvalid whose
// *consign.ValidationErrors name the JSON paths.
func (s *Source) Load(ctx context.Context) (*Catalog, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(s.fsys, s.name)
	if err != nil {
		return nil, consign.Errorf(consign.ErrUnavailable, "jsoncatalog", s.name, "reading the catalog: %w", err)
	}
	c, err := Decode(bytes.NewReader(data))
	if err != nil {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: "jsoncatalog", Key: s.name, Err: err}
	}
	return c, nil
}

// Fetch returns the updates changed since the cursor ("" for all) and the
// catalog's cursor, reading the file afresh (see the package documentation
// for the cursor). It keeps the updates.Source contract: the batch is new
// memory on every call.
func (s *Source) Fetch(ctx context.Context, since string) (updates.Batch, error) {
	c, err := s.Load(ctx)
	if err != nil {
		return updates.Batch{}, err
	}
	b, err := c.Since(since)
	if err != nil {
		return updates.Batch{}, err
	}
	return b, ctx.Err()
}

// Cursor returns the cursor for the catalog as it is: "<name>:<sequence>".
func (c *Catalog) Cursor() string { return c.Name + ":" + strconv.FormatUint(c.Sequence, 10) }

// Since returns the entries whose sequence is after cursor's ("" for all),
// in file order, as a Batch whose Cursor is c.Cursor(). The updates share
// no memory with c.
func (c *Catalog) Since(cursor string) (updates.Batch, error) {
	var after uint64
	if cursor != "" {
		name, seq, ok := strings.Cut(cursor, ":")
		n, err := strconv.ParseUint(seq, 10, 64)
		if !ok || err != nil || name != c.Name {
			return updates.Batch{}, &consign.ValidationError{Field: "cursor", Value: cursor,
				Rule: fmt.Sprintf("a cursor of catalog %q (\"%s:<sequence>\"), or \"\" for a full sync", c.Name, c.Name)}
		}
		if n > c.Sequence {
			return updates.Batch{}, consign.Errorf(consign.ErrFailedPrecondition, "jsoncatalog", c.Name,
				"cursor %q is ahead of the catalog (sequence %d): the file was replaced by an older copy; synchronise from \"\"", cursor, c.Sequence)
		}
		after = n
	}
	b := updates.Batch{Cursor: c.Cursor()}
	for i := range c.Entries {
		if e := &c.Entries[i]; e.Sequence > after {
			b.Updates = append(b.Updates, cloneUpdate(&e.Update))
		}
	}
	return b, nil
}

func cloneUpdate(u *updates.Update) updates.Update {
	c := *u
	c.Languages = append([]string(nil), u.Languages...)
	c.SupersededBy = append([]string(nil), u.SupersededBy...)
	c.Files = append([]updates.ContentFile(nil), u.Files...)
	return c
}

// The JSON shapes. Entries and files are decoded one by one from raw
// messages so that every error names its index.
type fileJSON struct {
	Format    *int              `json:"format"`
	Catalog   *string           `json:"catalog"`
	Sequence  *uint64           `json:"sequence"`
	Generated string            `json:"generated,omitempty"`
	Updates   []json.RawMessage `json:"updates"`
}

type entryJSON struct {
	Sequence            uint64            `json:"sequence"`
	ID                  string            `json:"id"`
	Revision            uint32            `json:"revision"`
	Article             string            `json:"article,omitempty"`
	Bulletin            string            `json:"bulletin,omitempty"`
	Title               string            `json:"title,omitempty"`
	Description         string            `json:"description,omitempty"`
	Classification      string            `json:"classification,omitempty"`
	Product             string            `json:"product,omitempty"`
	Severity            string            `json:"severity,omitempty"`
	Released            string            `json:"released,omitempty"`
	Revised             string            `json:"revised,omitempty"`
	Languages           []string          `json:"languages,omitempty"`
	MaxExecutionMinutes uint64            `json:"maxExecutionMinutes,omitempty"`
	Restart             string            `json:"restart,omitempty"`
	SupersededBy        []string          `json:"supersededBy,omitempty"`
	Expired             bool              `json:"expired,omitempty"`
	Files               []json.RawMessage `json:"files,omitempty"`
}

type fileEntryJSON struct {
	Name     string `json:"name,omitempty"`
	URL      string `json:"url,omitempty"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Language string `json:"language,omitempty"`
}

// maxMinutes is the largest "maxExecutionMinutes" a time.Duration holds.
const maxMinutes = uint64(math.MaxInt64 / int64(time.Minute))

// Decode reads a catalog in the format of the package documentation. Every
// problem with the format is reported at once, each as a
// *consign.ValidationError naming its JSON path; errors.Is(err,
// consign.ErrInvalid) holds.
func Decode(r io.Reader) (*Catalog, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, consign.Errorf(consign.ErrUnavailable, "jsoncatalog.Decode", "", "reading: %w", err)
	}
	var ps consign.Problems
	var f fileJSON
	if !decodeStrict(&ps, "document", data, &f) {
		return nil, ps.Err()
	}
	c := &Catalog{}
	switch {
	case f.Format == nil:
		ps.Add("format", "required: the format version, 1")
	case *f.Format != FormatVersion:
		ps.AddValue("format", *f.Format, "1: this reader knows format version 1 only")
	}
	if f.Catalog == nil {
		ps.Add("catalog", "required: the catalog's name")
	} else {
		c.Name = *f.Catalog
	}
	if f.Sequence == nil {
		ps.Add("sequence", "required: the catalog's sequence number")
	} else {
		c.Sequence = *f.Sequence
	}
	if f.Generated != "" {
		c.Generated = parseTime(&ps, "generated", f.Generated)
	}
	if f.Updates == nil {
		ps.Add("updates", "required: an array of updates (may be empty)")
	}
	c.Entries = make([]Entry, 0, len(f.Updates))
	for i, raw := range f.Updates {
		// An entry with problems is kept, as far as it decoded, so that
		// checkCatalog still compares it with the others.
		c.Entries = append(c.Entries, decodeEntry(&ps, fmt.Sprintf("updates[%d]", i), raw))
	}
	checkCatalog(&ps, c, f.Catalog != nil, f.Sequence != nil)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeStrict decodes data into v, rejecting unknown fields and trailing
// data, and records a problem at path when it fails.
func decodeStrict(ps *consign.Problems, path string, data []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			ps.Add(path, "a single JSON value: data follows it")
			return false
		}
		return true
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		ps.Add(path, fmt.Sprintf("valid JSON: %v (line %d, column %d)", syn, line, col))
	case errors.As(err, &typ):
		ps.Add(join(path, typ.Field), fmt.Sprintf("a JSON value of type %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		ps.Add(path, "valid JSON: the data ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		ps.Add(path, "no "+strings.TrimPrefix(err.Error(), "json: ")+": the format has no such field")
	default:
		ps.Add(path, "valid JSON: "+err.Error())
	}
	return false
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "uint"):
		return "non-negative integer"
	case strings.HasPrefix(kind, "int"):
		return "integer"
	case kind == "bool":
		return "boolean"
	case kind == "slice":
		return "array"
	case kind == "struct", kind == "map":
		return "object"
	}
	return kind
}

// join appends a field to a JSON path; the root is "document".
func join(path, field string) string {
	switch {
	case field == "":
		return path
	case path == "document":
		return field
	}
	return path + "." + field
}

func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line = 1 + bytes.Count(data[:offset], []byte{'\n'})
	col = int(offset) - 1 - bytes.LastIndexByte(data[:offset], '\n') // Offset is just past the bad byte
	return line, col
}

func parseTime(ps *consign.Problems, path, s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		ps.AddValue(path, s, "an RFC 3339 time such as \"2009-03-10T17:00:00Z\"")
	}
	return t
}

// decodeEntry decodes one entry, recording its problems; the entry is
// zero when it is not valid JSON of the entry's shape.
func decodeEntry(ps *consign.Problems, at string, raw json.RawMessage) Entry {
	var e entryJSON
	if !decodeStrict(ps, at, raw, &e) {
		return Entry{}
	}
	u := updates.Update{
		Revision:    e.Revision,
		ArticleID:   e.Article,
		BulletinID:  e.Bulletin,
		Title:       e.Title,
		Description: e.Description,
		Product:     e.Product,
		Languages:   e.Languages,
		Expired:     e.Expired,
	}
	if e.Sequence == 0 {
		ps.Add(at+".sequence", "required: the catalog sequence at which the entry last changed, at least 1")
	}
	switch id, err := updates.ParseUniqueID(e.ID); {
	case e.ID == "":
		ps.Add(at+".id", "required: the update's UniqueID")
	case err != nil:
		ps.AddValue(at+".id", e.ID, "a GUID: 8-4-4-4-12 hexadecimal digits")
	default:
		u.UniqueID = id
	}
	if e.Classification != "" {
		c, err := updates.ParseClassification(e.Classification)
		if err != nil {
			ps.AddValue(at+".classification", e.Classification, "one of the nine WSUS classification names, e.g. \"Security Updates\"")
		}
		u.Classification = c
	}
	if e.Severity != "" {
		s, err := updates.ParseSeverity(e.Severity)
		if err != nil {
			ps.AddValue(at+".severity", e.Severity, "None, Low, Moderate, Important or Critical")
		}
		u.Severity = s
	}
	if e.Restart != "" {
		r, err := updates.ParseRestartBehavior(e.Restart)
		if err != nil {
			ps.AddValue(at+".restart", e.Restart, "NeverRestarts, AlwaysRequiresRestart or CanRequestRestart")
		}
		u.Restart = r
	}
	if e.Released != "" {
		u.Released = parseTime(ps, at+".released", e.Released)
	}
	if e.Revised != "" {
		u.Revised = parseTime(ps, at+".revised", e.Revised)
	}
	if e.MaxExecutionMinutes > maxMinutes {
		ps.AddValue(at+".maxExecutionMinutes", e.MaxExecutionMinutes, fmt.Sprintf("at most %d", maxMinutes))
	} else {
		u.MaxExecutionTime = time.Duration(e.MaxExecutionMinutes) * time.Minute
	}
	for i, s := range e.SupersededBy {
		id, err := updates.ParseUniqueID(s)
		if err != nil {
			ps.AddValue(fmt.Sprintf("%s.supersededBy[%d]", at, i), s, "a GUID: 8-4-4-4-12 hexadecimal digits")
		}
		u.SupersededBy = append(u.SupersededBy, id)
	}
	for i, raw := range e.Files {
		fat := fmt.Sprintf("%s.files[%d]", at, i)
		var fj fileEntryJSON
		if !decodeStrict(ps, fat, raw, &fj) {
			continue
		}
		cf := updates.ContentFile{Name: fj.Name, URL: fj.URL, Size: fj.Size, Language: fj.Language}
		if sum, err := hex.DecodeString(fj.SHA256); err != nil || len(sum) != len(cf.SHA256) {
			if fj.SHA256 == "" {
				ps.Add(fat+".sha256", "required: the file's SHA-256, 64 hexadecimal digits")
			} else {
				ps.AddValue(fat+".sha256", fj.SHA256, "64 hexadecimal digits")
			}
		} else {
			copy(cf.SHA256[:], sum)
		}
		u.Files = append(u.Files, cf)
	}
	return Entry{Sequence: e.Sequence, Update: u}
}

// checkCatalog checks the name (when given) and what spans entries:
// sequence numbers against the catalog's (when given), and that each update
// appears once. A zero Sequence or empty UniqueID was reported when the
// entry was decoded and is not checked again.
func checkCatalog(ps *consign.Problems, c *Catalog, haveName, haveSeq bool) {
	if haveName && !validName(c.Name) {
		ps.AddValue("catalog", c.Name, fmt.Sprintf("1 to %d of A–Z, a–z, 0–9, '.', '_', '-'", MaxNameLen))
	}
	ids := make(map[string]int, len(c.Entries))
	for i := range c.Entries {
		e := &c.Entries[i]
		if haveSeq && e.Sequence > c.Sequence {
			ps.AddValue(fmt.Sprintf("updates[%d].sequence", i), e.Sequence, fmt.Sprintf("at most the catalog's sequence (%d)", c.Sequence))
		}
		if id := e.Update.UniqueID; id != "" {
			if j, dup := ids[id]; dup {
				ps.AddValue(fmt.Sprintf("updates[%d].id", i), id, fmt.Sprintf("each update once in the catalog (already updates[%d])", j))
			} else {
				ids[id] = i
			}
		}
	}
}

func validName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Encode writes c in the format of the package documentation, indented,
// entries in order, with severity and restart always spelled out and other
// empty fields left out. It refuses, with every problem at once, a catalog Decode
// would refuse: a bad name, an entry sequence of 0 or above the catalog's,
// an update twice, a UniqueID not in canonical form, a MaxExecutionTime
// that is not whole minutes, or an enumeration value without a name. It does
// not apply updates.Update.Validate.
func (c *Catalog) Encode(w io.Writer) error {
	var ps consign.Problems
	checkCatalog(&ps, c, true, true)
	f := struct {
		Format    int         `json:"format"`
		Catalog   string      `json:"catalog"`
		Sequence  uint64      `json:"sequence"`
		Generated string      `json:"generated,omitempty"`
		Updates   []entryJSON `json:"updates"`
	}{Format: FormatVersion, Catalog: c.Name, Sequence: c.Sequence, Updates: make([]entryJSON, 0, len(c.Entries))}
	if !c.Generated.IsZero() {
		f.Generated = c.Generated.Format(time.RFC3339Nano)
	}
	for i := range c.Entries {
		e, u := &c.Entries[i], &c.Entries[i].Update
		at := fmt.Sprintf("updates[%d]", i)
		if e.Sequence == 0 {
			ps.Add(at+".sequence", "at least 1")
		}
		if id, err := updates.ParseUniqueID(u.UniqueID); err != nil || id != u.UniqueID {
			ps.AddValue(at+".id", u.UniqueID, "a GUID in lower case without braces")
		}
		for j, s := range u.SupersededBy {
			if id, err := updates.ParseUniqueID(s); err != nil || id != s {
				ps.AddValue(fmt.Sprintf("%s.supersededBy[%d]", at, j), s, "a GUID in lower case without braces")
			}
		}
		if u.MaxExecutionTime < 0 || u.MaxExecutionTime%time.Minute != 0 {
			ps.AddValue(at+".maxExecutionMinutes", u.MaxExecutionTime, "a whole, non-negative number of minutes")
		}
		ej := entryJSON{
			Sequence: e.Sequence, ID: u.UniqueID, Revision: u.Revision, Article: u.ArticleID, Bulletin: u.BulletinID,
			Title: u.Title, Description: u.Description, Product: u.Product, Languages: u.Languages,
			MaxExecutionMinutes: uint64(max(u.MaxExecutionTime, 0) / time.Minute),
			SupersededBy:        u.SupersededBy, Expired: u.Expired,
		}
		if u.Classification != 0 {
			if !u.Classification.Valid() {
				ps.AddValue(at+".classification", int(u.Classification), "one of the nine classifications")
			}
			ej.Classification = u.Classification.String()
		}
		if !u.Severity.Valid() {
			ps.AddValue(at+".severity", int(u.Severity), "one of the five severities")
		}
		if !u.Restart.Valid() {
			ps.AddValue(at+".restart", int(u.Restart), "one of the three restart behaviours")
		}
		ej.Severity, ej.Restart = u.Severity.String(), u.Restart.String()
		if !u.Released.IsZero() {
			ej.Released = u.Released.Format(time.RFC3339Nano)
		}
		if !u.Revised.IsZero() {
			ej.Revised = u.Revised.Format(time.RFC3339Nano)
		}
		for _, cf := range u.Files {
			raw, err := json.Marshal(fileEntryJSON{Name: cf.Name, URL: cf.URL, Size: cf.Size, SHA256: hex.EncodeToString(cf.SHA256[:]), Language: cf.Language})
			if err != nil {
				return err
			}
			ej.Files = append(ej.Files, raw)
		}
		f.Updates = append(f.Updates, ej)
	}
	if err := ps.Err(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
