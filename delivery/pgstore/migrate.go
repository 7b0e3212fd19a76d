package pgstore

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/consign/consign"
)

// migrationFiles holds the schema, one file per version: NNNN_name.sql,
// numbered from 0001 without gaps. A released file never changes; a new
// version adds a file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema version.
type migration struct {
	version int
	name    string // the file name
	sql     string
}

// migrations are the embedded schema versions in order. Loading cannot fail
// at run time once the tests have passed, so a bad file panics.
var migrations = mustLoadMigrations(migrationFiles)

// SchemaVersion is the schema version this code creates and understands:
// the number of embedded migrations. Open refuses a schema whose version is
// higher (migrated by a newer program) and upgrades one whose version is
// lower.
const SchemaVersion = 1

func mustLoadMigrations(fsys fs.FS) []migration {
	ms, err := loadMigrations(fsys)
	if err == nil && len(ms) != SchemaVersion {
		err = fmt.Errorf("%d migrations embedded but SchemaVersion is %d", len(ms), SchemaVersion)
	}
	if err != nil {
		panic("pgstore: " + err.Error())
	}
	return ms
}

// loadMigrations reads migrations/NNNN_*.sql and checks that they are
// numbered 1, 2, 3, … without gaps or repeats.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var ms []migration
	for i, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		if v != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d (versions start at 1 and have no gaps)", base, v, i+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations embedded")
	}
	return ms, nil
}

// lockKey is the pg_advisory_xact_lock key that serialises migrations of
// one schema: processes migrating different schemas of one database do not
// wait for each other (unless their 64-bit hashes collide, which only costs
// a wait).
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/consign/consign/delivery/pgstore\x00"))
	h.Write([]byte(schema))
	return int64(h.Sum64())
}

// versionTable is the table, inside the store's schema, that records which
// migrations have run.
const versionTable = "schema_version"

// migrate brings schema up to SchemaVersion. When the schema is already
// current it only reads the version (no DDL, no lock), so a role without
// CREATE privilege can open a migrated store. Otherwise, in one
// transaction holding an advisory lock derived from the schema name, it
// creates the schema if needed and runs every missing migration, so that
// two processes opening a fresh database at once apply each migration
// exactly once: the second waits for the lock and then finds nothing to do.
// A schema newer than SchemaVersion is refused with an error matching
// consign.ErrFailedPrecondition.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	const op = "pgstore.Open"
	q := pgx.Identifier{schema}.Sanitize()
	table := pgx.Identifier{schema, versionTable}.Sanitize()

	current, err := readVersion(ctx, pool, table)
	if err != nil {
		return mapError(op, schema, err)
	}
	if current == SchemaVersion {
		return nil
	}
	if err := checkNotNewer(op, schema, current); err != nil {
		return err
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		return mapError(op, schema, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	steps := []string{
		"SELECT pg_advisory_xact_lock($1)",
		"CREATE SCHEMA IF NOT EXISTS " + q,
		"CREATE TABLE IF NOT EXISTS " + table + ` (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`,
	}
	for i, sql := range steps {
		var args []any
		if i == 0 {
			args = []any{lockKey(schema)}
		}
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			return mapError(op, schema, fmt.Errorf("preparing schema %s: %w", schema, err))
		}
	}
	// Read again under the lock: another process may have migrated while
	// this one waited.
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+table).Scan(&current); err != nil {
		return mapError(op, schema, err)
	}
	if err := checkNotNewer(op, schema, current); err != nil {
		return err
	}
	for _, m := range migrations[current:] {
		// SET LOCAL lasts until the end of this transaction, so the files
		// name their tables without a schema.
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+q); err != nil {
			return mapError(op, schema, err)
		}
		// No arguments: pgx sends the file with the simple protocol, which
		// runs several statements.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return mapError(op, schema, fmt.Errorf("migration %s in schema %s: %w", m.name, schema, err))
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return mapError(op, schema, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		// A migration that did commit is found by the next Open, which then
		// has nothing to do; one that did not is run again.
		return mapError(op, schema, err)
	}
	return nil
}

// readVersion returns the schema's version: 0 when the version table does
// not exist yet.
func readVersion(ctx context.Context, pool *pgxpool.Pool, table string) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+table).Scan(&v)
	return v, err
}

// checkNotNewer refuses a schema that a newer program has migrated past
// what this code knows: its tables may mean something this code would
// corrupt.
func checkNotNewer(op, schema string, version int) error {
	if version <= SchemaVersion {
		return nil
	}
	return consign.Errorf(consign.ErrFailedPrecondition, op, schema,
		"schema %s is at version %d but this program knows versions up to %d: it was migrated by a newer release; upgrade this program (or open another schema)",
		schema, version, SchemaVersion)
}
