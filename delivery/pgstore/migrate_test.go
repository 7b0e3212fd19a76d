package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

func TestLoadMigrations(t *testing.T) {
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	for _, c := range []struct {
		name  string
		files fstest.MapFS
		want  string // "" for success, else part of the error
	}{
		{"two in order", fstest.MapFS{"migrations/0001_a.sql": sql, "migrations/0002_b.sql": sql}, ""},
		{"a gap", fstest.MapFS{"migrations/0001_a.sql": sql, "migrations/0003_c.sql": sql}, "want 2"},
		{"not from 1", fstest.MapFS{"migrations/0002_b.sql": sql}, "want 1"},
		{"a repeat", fstest.MapFS{"migrations/0001_a.sql": sql, "migrations/0001_b.sql": sql}, "want 2"},
		{"no number", fstest.MapFS{"migrations/first.sql": sql}, "NNNN_description.sql"},
		{"short number", fstest.MapFS{"migrations/1_a.sql": sql}, "NNNN_description.sql"},
		{"none", fstest.MapFS{"migrations/README": sql}, "no migrations"},
	} {
		ms, err := loadMigrations(c.files)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: loadMigrations = %v; want success", c.name, err)
		case c.want == "" && (len(ms) != 2 || ms[1].version != 2 || ms[1].name != "0002_b.sql" || ms[1].sql != "SELECT 1;"):
			t.Errorf("%s: loadMigrations = %+v; want versions 1 and 2 with their files", c.name, ms)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: loadMigrations = %v; want an error saying %q", c.name, err, c.want)
		}
	}
	if len(migrations) != SchemaVersion {
		t.Errorf("%d migrations embedded; SchemaVersion is %d", len(migrations), SchemaVersion)
	}
}

func TestOptionsInvalid(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		opts  Options
		field string
	}{
		{Options{Schema: strings.Repeat("s", 64)}, "Options.Schema"},
		{Options{Schema: "pg_consign"}, "Options.Schema"},
		{Options{Schema: "a\x00b"}, "Options.Schema"},
		{Options{MaxConns: -1}, "Options.MaxConns"},
		{Options{ResolveTimeout: -time.Second}, "Options.ResolveTimeout"},
	} {
		_, err := Open(ctx, "postgres://127.0.0.1:1/none", &c.opts)
		var ve *consign.ValidationError
		if !errors.Is(err, consign.ErrInvalid) || !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("Open(%+v) = %v; want consign.ErrInvalid naming %s", c.opts, err, c.field)
		}
	}
	if _, err := Open(ctx, "postgres://%zz", nil); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("Open(bad DSN) = %v; want consign.ErrInvalid", err)
	}
	if _, err := New(ctx, nil, nil); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("New(nil pool) = %v; want consign.ErrInvalid", err)
	}
	// Port 1 on loopback: nothing listens there.
	if _, err := Open(ctx, "postgres://postgres@127.0.0.1:1/test?connect_timeout=2", nil); !errors.Is(err, consign.ErrUnavailable) {
		t.Errorf("Open(unreachable server) = %v; want consign.ErrUnavailable", err)
	}
}

// versions returns the rows of the schema's version table.
func versions(t *testing.T, conn *pgx.Conn, schema string) []int {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT version FROM "+pgx.Identifier{schema, versionTable}.Sanitize()+" ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestMigrateConcurrent opens two Stores on a fresh schema at the same
// moment, several times: both must succeed, and each migration must run
// once (a second run would fail on CREATE TABLE, or record its version
// twice).
func TestMigrateConcurrent(t *testing.T) {
	dsn := testDSN(t)
	conn := admin(t, dsn)
	for range 5 {
		schema := freshSchema(t, dsn)
		var wg sync.WaitGroup
		start := make(chan struct{})
		stores := make([]*Store, 2)
		errs := make([]error, 2)
		for i := range stores {
			wg.Go(func() {
				<-start
				stores[i], errs[i] = Open(context.Background(), dsn, &Options{Schema: schema, MaxConns: 2})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("concurrent Open %d on schema %s = %v; want success", i, schema, err)
			}
			defer stores[i].Close()
		}
		if got := versions(t, conn, schema); len(got) != SchemaVersion || got[len(got)-1] != SchemaVersion {
			t.Errorf("schema %s records versions %v; want 1…%d once each", schema, got, SchemaVersion)
		}
		// Both handles work on the same tables.
		ctx := context.Background()
		rev, err := stores[0].Apply(ctx, []delivery.Write{{Op: delivery.Put, Expect: 0, Record: delivery.Record{Kind: "k", Key: "a", Data: []byte("x")}}})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := stores[1].Get(ctx, "k", "a"); err != nil || r.Revision != rev {
			t.Errorf("the other handle's Get = %+v, %v; want the record at revision %d", r, err, rev)
		}
	}
}

// TestMigrateIdempotent opens a migrated schema again: nothing is re-run,
// and the records stay.
func TestMigrateIdempotent(t *testing.T) {
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	ctx := context.Background()
	s := openTest(t, dsn, schema, nil)
	if _, err := s.Apply(ctx, []delivery.Write{{Op: delivery.Put, Expect: delivery.AnyRevision, Record: delivery.Record{Kind: "k", Key: "a"}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openTest(t, dsn, schema, nil)
	if _, err := s2.Get(ctx, "k", "a"); err != nil {
		t.Errorf("Get after reopening = %v; want the record", err)
	}
	if got := versions(t, admin(t, dsn), schema); len(got) != SchemaVersion {
		t.Errorf("after two Opens the schema records versions %v; want each once", got)
	}
}

// TestMigrateRefusesNewer pretends a newer release migrated the schema:
// Open must refuse it, saying why.
func TestMigrateRefusesNewer(t *testing.T) {
	dsn := testDSN(t)
	schema := freshSchema(t, dsn)
	ctx := context.Background()
	openTest(t, dsn, schema, nil).Close()
	conn := admin(t, dsn)
	if _, err := conn.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, versionTable}.Sanitize()+" (version, name) VALUES ($1, 'from the future')", SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn, &Options{Schema: schema})
	if err == nil {
		s.Close()
		t.Fatalf("Open of a schema at version %d succeeded; want a refusal", SchemaVersion+1)
	}
	if !errors.Is(err, consign.ErrFailedPrecondition) {
		t.Errorf("Open of a newer schema = %v; want consign.ErrFailedPrecondition", err)
	}
	for _, want := range []string{schema, fmt.Sprintf("version %d", SchemaVersion+1), fmt.Sprintf("up to %d", SchemaVersion), "upgrade"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open of a newer schema = %q; want it to say %q", err, want)
		}
	}
}
