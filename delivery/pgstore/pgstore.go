package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// DefaultSchema is the schema a Store uses when Options.Schema is empty.
const DefaultSchema = "consign"

// Options configure a Store. The zero value (or nil) is ready to use.
type Options struct {
	// Schema is the PostgreSQL schema that holds the store's tables,
	// created and migrated by Open and New. Default DefaultSchema. Several
	// stores can share a database in different schemas; several processes
	// share one store by naming the same schema.
	Schema string
	// MaxConns caps the connections of the pool Open creates (0: pgxpool's
	// default, the larger of 4 and the number of CPUs, or pool_max_conns in
	// the DSN). New ignores it: the embedder sized its pool.
	MaxConns int32
	// ResolveTimeout bounds how long an Apply or PutBatch whose connection
	// failed after it sent COMMIT spends asking PostgreSQL whether that
	// COMMIT took effect (see "Commit outcome" in the package
	// documentation). Default 30 seconds.
	ResolveTimeout time.Duration
	// CopyThreshold is the number of records from which Apply and PutBatch
	// stage their puts with COPY into a temporary table instead of sending
	// them as array parameters. 0 means the default (DefaultCopyThreshold);
	// a negative value never uses COPY.
	CopyThreshold int
}

// DefaultCopyThreshold is the default Options.CopyThreshold. Below it,
// array parameters win (COPY costs a few more round trips); from about a
// thousand puts COPY is as fast or faster (BenchmarkStaging), and it keeps
// the data transfer out of the time the revision lock is held.
const DefaultCopyThreshold = 1000

// Store is a delivery.Store and delivery.BulkWriter over PostgreSQL, safe
// for concurrent use by any number of goroutines and processes. Create one
// with Open or New.
type Store struct {
	pool       *pgxpool.Pool
	ownPool    bool // Open made the pool, so Close closes it
	schema     string
	sql        statements
	resolveFor time.Duration
	copyFrom   int // CopyThreshold in effect; 0 = never
	// planned is prepended to the arguments of List and Changes (see
	// queryPlanned); nil when the pool's configuration does not allow it.
	planned []any
	closed  atomic.Bool
	// beforeCommit, when set (by tests), runs after the revision is taken
	// and the Expects checked, before the writes and COMMIT are sent, with
	// the PostgreSQL process ID of the transaction's connection.
	beforeCommit func(pid uint32)
}

var (
	_ delivery.Store      = (*Store)(nil)
	_ delivery.BulkWriter = (*Store)(nil)
)

// Open connects to the PostgreSQL database that dsn names (a URL such as
// postgres://user@host:5432/db?sslmode=disable, or key=value pairs, as
// pgxpool.ParseConfig accepts), creates or migrates the store's schema, and
// returns the Store, which owns its connection pool: Close closes it.
//
// The role needs the CREATE privilege on the database to create the schema
// the first time, or a schema owned by it; once the schema is at
// SchemaVersion, Open only reads it. A schema migrated by a newer release is
// refused with an error matching consign.ErrFailedPrecondition. An
// unreachable server gives an error matching consign.ErrUnavailable, an
// invalid DSN or schema name one matching consign.ErrInvalid.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	const op = "pgstore.Open"
	o, err := options(op, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op,
			Err: &consign.ValidationError{Field: "dsn", Rule: "a PostgreSQL connection string: " + err.Error()}}
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = "consign"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, mapError(op, "", err)
	}
	s, err := newStore(ctx, op, pool, o)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// New returns a Store over a pool the caller owns, after creating or
// migrating the schema as Open does. Close does not close the pool: the
// caller closes it after the Store. The pool may be shared with other code
// and any search_path: the Store names its schema in every statement, sets
// its transaction settings with SET LOCAL only, and creates one temporary
// table (pgstore_stage) on the connections it stages large writes on.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	const op = "pgstore.New"
	if pool == nil {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op,
			Err: &consign.ValidationError{Field: "pool", Rule: "must not be nil"}}
	}
	o, err := options(op, opts)
	if err != nil {
		return nil, err
	}
	return newStore(ctx, op, pool, o)
}

// options validates opts and fills in the defaults.
func options(op string, opts *Options) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.ResolveTimeout == 0 {
		o.ResolveTimeout = 30 * time.Second
	}
	if o.CopyThreshold == 0 {
		o.CopyThreshold = DefaultCopyThreshold
	}
	var p consign.Problems
	// NAMEDATALEN is 64: identifiers keep at most 63 bytes, and PostgreSQL
	// would silently truncate a longer one, so two long names could meet.
	p.Check(len(o.Schema) <= 63 && utf8.ValidString(o.Schema) && !strings.ContainsRune(o.Schema, 0),
		"Options.Schema", "at most 63 bytes of UTF-8 without NUL (a PostgreSQL identifier)")
	p.Check(!strings.HasPrefix(o.Schema, "pg_"), "Options.Schema", `must not start with "pg_" (reserved by PostgreSQL)`)
	p.Check(o.MaxConns >= 0, "Options.MaxConns", "0 (the default) or more")
	p.Check(o.ResolveTimeout > 0, "Options.ResolveTimeout", "0 (the default) or more")
	if err := p.Err(); err != nil {
		return o, &consign.Error{Code: consign.ErrInvalid, Op: op, Err: err}
	}
	return o, nil
}

func newStore(ctx context.Context, op string, pool *pgxpool.Pool, o Options) (*Store, error) {
	if err := migrate(ctx, pool, o.Schema); err != nil {
		return nil, err
	}
	s := &Store{pool: pool, schema: o.Schema, sql: newStatements(o.Schema), resolveFor: o.ResolveTimeout, copyFrom: max(o.CopyThreshold, 0)}
	cc := pool.Config().ConnConfig
	if cc.DescriptionCacheCapacity > 0 && (cc.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement || cc.DefaultQueryExecMode == pgx.QueryExecModeCacheDescribe) {
		s.planned = []any{pgx.QueryExecModeCacheDescribe}
	}
	return s, nil
}

// Schema returns the schema that holds the store's tables.
func (s *Store) Schema() string { return s.schema }

// Get returns the record, or an error matching consign.ErrNotFound.
func (s *Store) Get(ctx context.Context, kind, key string) (delivery.Record, error) {
	const op = "pgstore.Get"
	if err := s.usable(ctx, op); err != nil {
		return delivery.Record{}, err
	}
	r := delivery.Record{Kind: kind, Key: key}
	var names, values [][]byte
	err := s.pool.QueryRow(ctx, s.sql.get, []byte(kind), []byte(key)).Scan(&r.Revision, &names, &values, &r.Data)
	if err != nil {
		return delivery.Record{}, mapError(op, kind+"/"+key, err)
	}
	r.Index = indexMap(names, values)
	return r, nil
}

// List returns the records of kind matching q in ascending byte order of
// their keys, and the key to pass as q.After for the next page ("" when
// there is none). A record matches q.IndexName only if its Index has that
// field: a missing field does not match an empty q.IndexValue. Each page is
// one query that reads only the rows it returns (plus one, to know whether
// a next page exists), with or without an index filter.
func (s *Store) List(ctx context.Context, kind string, q delivery.Query) ([]delivery.Record, string, error) {
	const op = "pgstore.List"
	if q.Limit < 0 {
		return nil, "", &consign.Error{Code: consign.ErrInvalid, Op: op,
			Err: &consign.ValidationError{Field: "Query.Limit", Value: q.Limit, Rule: "0 (no limit) or more"}}
	}
	if err := s.usable(ctx, op); err != nil {
		return nil, "", err
	}
	var limit any // NULL: LIMIT ALL
	if q.Limit > 0 {
		limit = int64(q.Limit) + 1
	}
	var rows pgx.Rows
	var err error
	if q.IndexName != "" {
		rows, err = s.queryPlanned(ctx, s.sql.listIndex, []byte(kind), []byte(q.IndexName), []byte(q.IndexValue), []byte(q.After), limit)
	} else {
		rows, err = s.queryPlanned(ctx, s.sql.list, []byte(kind), []byte(q.After), limit)
	}
	if err != nil {
		return nil, "", mapError(op, kind, err)
	}
	defer rows.Close()
	d := newRowDecoder(rows)
	var recs []delivery.Record
	for rows.Next() {
		r := delivery.Record{Kind: kind}
		if r.Key, r.Revision, r.Index, r.Data, err = d.listRow(rows); err != nil {
			return nil, "", mapError(op, kind, err)
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", mapError(op, kind, err)
	}
	if q.Limit > 0 && len(recs) > q.Limit {
		recs = recs[:q.Limit]
		return recs, recs[len(recs)-1].Key, nil
	}
	return recs, "", nil
}

// Changes returns, in increasing revision order (kind and key within one
// revision), the latest state of every record last written with a revision
// greater than after, tombstones included. limit (0 = no limit) is rounded
// up to the end of a revision, in the query itself: the page ends at the
// revision of its limit-th row. One query, so one snapshot: a page never
// shows part of a commit, and since writers commit in revision order (see
// the package documentation), never a revision whose predecessors are not
// all visible.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]delivery.Change, error) {
	const op = "pgstore.Changes"
	if limit < 0 {
		return nil, &consign.Error{Code: consign.ErrInvalid, Op: op,
			Err: &consign.ValidationError{Field: "limit", Value: limit, Rule: "0 (no limit) or more"}}
	}
	if err := s.usable(ctx, op); err != nil {
		return nil, err
	}
	var rows pgx.Rows
	var err error
	if limit > 0 {
		rows, err = s.queryPlanned(ctx, s.sql.changesLimit, after, int64(limit)-1)
	} else {
		rows, err = s.queryPlanned(ctx, s.sql.changes, after)
	}
	if err != nil {
		return nil, mapError(op, "", err)
	}
	defer rows.Close()
	d := newRowDecoder(rows)
	// Rows gather in chunks, joined once at the end: growing one slice
	// of a million changes by doubling spent more time copying it than
	// decoding the rows.
	var chunks [][]delivery.Change
	chunk := make([]delivery.Change, 0, 256)
	for rows.Next() {
		if len(chunk) == cap(chunk) {
			chunks = append(chunks, chunk)
			chunk = make([]delivery.Change, 0, min(2*cap(chunk), 1<<14))
		}
		var c delivery.Change
		r := &c.Record
		if r.Kind, r.Key, r.Revision, c.Deleted, r.Index, r.Data, err = d.changeRow(rows); err != nil {
			return nil, mapError(op, "", err)
		}
		chunk = append(chunk, c)
	}
	if err := rows.Err(); err != nil {
		return nil, mapError(op, "", err)
	}
	if len(chunks) == 0 && len(chunk) == 0 {
		return nil, nil
	}
	out := slices.Concat(append(chunks, chunk)...)
	return out, nil
}

// Close marks the store closed: later calls, except Close, return an error
// matching consign.ErrUnavailable. A Store made by Open then closes its
// pool, waiting for calls in progress to give their connections back; a
// Store made by New leaves the caller's pool open. Close always returns
// nil, so that deferred and cleanup Closes can run in any order.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}

// queryPlanned runs a query that PostgreSQL must plan for its actual
// arguments every time. A prepared statement's generic plan, which
// PostgreSQL may switch to after five runs, guesses its parameters: one
// made while a Site loaded the whole feed (rev > 0) would scan and sort the
// whole table for every later tail of a few changes, and LIMIT $n guesses
// a tenth of the table. So List and Changes use pgx's describe-cached mode:
// the unnamed statement, parsed and planned per call with the arguments
// (one round trip, results still binary), unless the pool was configured
// without a description cache or for another mode, which then applies.
func (s *Store) queryPlanned(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return s.pool.Query(ctx, sql, append(slices.Clip(s.planned), args...)...)
}

// usable returns why op cannot run now, if it cannot.
func (s *Store) usable(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if s.closed.Load() {
		return consign.Errorf(consign.ErrUnavailable, op, "", "store is closed")
	}
	return nil
}

// indexMap pairs the stored index names and values; nil when there are none.
func indexMap(names, values [][]byte) map[string]string {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]string, len(names))
	for i, n := range names {
		m[string(n)] = string(values[i])
	}
	return m
}
