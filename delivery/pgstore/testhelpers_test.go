package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// dsnEnv names the variable that points the tests at a PostgreSQL database.
const dsnEnv = "CONSIGN_TEST_POSTGRES"

// testDSN returns the test database's DSN, or skips tb saying how to run it.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		tb.Skipf("needs PostgreSQL: set %s to a database URL, e.g. %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./delivery/pgstore/",
			dsnEnv, dsnEnv)
	}
	return dsn
}

// freshSchema returns the name of a schema no one uses, and drops it (with
// everything in it) when tb ends, after the stores tb opened are closed.
func freshSchema(tb testing.TB, dsn string) string {
	tb.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "pgstore_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

// openTest opens a Store on schema, closed when tb ends.
func openTest(tb testing.TB, dsn, schema string, opts *Options) *Store {
	tb.Helper()
	o := Options{MaxConns: 4}
	if opts != nil {
		o = *opts
	}
	o.Schema = schema
	s, err := Open(context.Background(), dsn, &o)
	if err != nil {
		tb.Fatalf("Open(schema %s): %v", schema, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// admin returns a connection for test bookkeeping, closed when tb ends.
func admin(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("connecting to %s: %v", dsnEnv, err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// quote returns name as an SQL identifier.
func quote(name string) string { return pgx.Identifier{name}.Sanitize() }
