package pgstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// maxKeyBytes bounds what one B-tree entry holds: a record's kind and key
// together, and the kind, key, field name and value of one index entry.
// PostgreSQL refuses index entries above about 2,700 bytes (a third of a
// page); this leaves room for the entry's own overhead.
const maxKeyBytes = 2048

// change is one call's writes, in the column-wise shape the SQL takes.
type change struct {
	op string
	// puts: pos is the put's number, 1-based, that its index fields (ipos)
	// refer to; put j's fields are inames[ifrom[j]:ifrom[j+1]].
	pos               []int32
	kinds, keys, data [][]byte
	ifrom             []int
	ipos              []int32
	inames, ivalues   [][]byte
	// deletes
	dkinds, dkeys [][]byte
	// Expects other than AnyRevision: epos is the write's index in the
	// call, for the error message.
	epos          []int32
	ekinds, ekeys [][]byte
	expects       []int64
}

// addPut adds r as the next put. r.Data is referenced, not copied: it is
// encoded for the server before the call returns, and not kept after.
func (c *change) addPut(r delivery.Record) {
	n := int32(len(c.pos) + 1)
	data := r.Data
	if data == nil {
		data = []byte{} // NULL marks a tombstone
	}
	c.pos, c.kinds, c.keys, c.data = append(c.pos, n), append(c.kinds, []byte(r.Kind)), append(c.keys, []byte(r.Key)), append(c.data, data)
	c.ifrom = append(c.ifrom, len(c.inames))
	// In name order, so that an unchanged index is an equal array.
	for _, name := range slices.Sorted(maps.Keys(r.Index)) {
		c.ipos, c.inames, c.ivalues = append(c.ipos, n), append(c.inames, []byte(name)), append(c.ivalues, []byte(r.Index[name]))
	}
}

// index returns put j's index field names and values (nil, nil for none).
func (c *change) index(j int) (names, values [][]byte) {
	from, to := c.ifrom[j], len(c.inames)
	if j+1 < len(c.ifrom) {
		to = c.ifrom[j+1]
	}
	if from == to {
		return nil, nil
	}
	return c.inames[from:to], c.ivalues[from:to]
}

// checkLimits adds a problem for keys and index entries of the i-th
// element of the call's list that PostgreSQL cannot index
// (delivery.CheckWrites checks the rest).
func checkLimits(p *consign.Problems, list, field string, i int, r delivery.Record, put bool) {
	path := func(name string) string { return fmt.Sprintf("%s[%d]%s.%s", list, i, field, name) }
	if len(r.Kind)+len(r.Key) > maxKeyBytes {
		p.AddValue(path("Key"), len(r.Kind)+len(r.Key), fmt.Sprintf("Kind and Key together at most %d bytes", maxKeyBytes))
	}
	if put {
		for name, v := range r.Index {
			if len(r.Kind)+len(r.Key)+len(name)+len(v) > maxKeyBytes {
				p.AddValue(path("Index["+name+"]"), len(v), fmt.Sprintf("Kind, Key, field name and value together at most %d bytes", maxKeyBytes))
			}
		}
	}
}

// Apply performs every write or none (see delivery.Store), in one
// transaction: it takes the next revision (which serialises it with every
// other writer of the schema), checks every Expect in one query, then
// upserts the puts and tombstones the deletes in one statement each.
// Invalid writes (empty Kind or Key, an unknown Op, an Expect below
// AnyRevision, a Kind and Key named twice, keys or index entries over 2,048
// bytes) give an error matching consign.ErrInvalid that wraps a
// *consign.ValidationError per problem, its Field naming the write, e.g.
// "writes[2].Record.Key". A failed Expect gives an error matching
// consign.ErrConflict naming the first such write.
func (s *Store) Apply(ctx context.Context, writes []delivery.Write) (int64, error) {
	const op = "pgstore.Apply"
	var p consign.Problems
	delivery.CheckWrites(&p, writes)
	c := &change{op: op}
	for i, w := range writes {
		checkLimits(&p, "writes", ".Record", i, w.Record, w.Op == delivery.Put)
		switch w.Op {
		case delivery.Put:
			c.addPut(w.Record)
		case delivery.Delete:
			c.dkinds, c.dkeys = append(c.dkinds, []byte(w.Record.Kind)), append(c.dkeys, []byte(w.Record.Key))
		}
		if w.Expect > delivery.AnyRevision {
			c.epos = append(c.epos, int32(i))
			c.ekinds, c.ekeys = append(c.ekinds, []byte(w.Record.Kind)), append(c.ekeys, []byte(w.Record.Key))
			c.expects = append(c.expects, w.Expect)
		}
	}
	if err := p.Err(); err != nil {
		return 0, &consign.Error{Code: consign.ErrInvalid, Op: op, Err: err}
	}
	return s.write(ctx, c)
}

// PutBatch stores every record unconditionally, all under one new revision,
// which it returns: Apply without the Expect check, and with the puts
// staged by COPY once there are Options.CopyThreshold of them. Its
// validation matches Apply's, with fields such as "records[3].Key".
func (s *Store) PutBatch(ctx context.Context, records []delivery.Record) (int64, error) {
	const op = "pgstore.PutBatch"
	var p consign.Problems
	delivery.CheckRecords(&p, records)
	c := &change{op: op}
	for i, r := range records {
		checkLimits(&p, "records", "", i, r, true)
		c.addPut(r)
	}
	if err := p.Err(); err != nil {
		return 0, &consign.Error{Code: consign.ErrInvalid, Op: op, Err: err}
	}
	return s.write(ctx, c)
}

// txSettings configures a write transaction, for its duration only:
//
//   - jit off: the write statements' cost estimates (thousands of index
//     probes) cross jit_above_cost, and compiling them took longer than
//     running them (350 ms against 170 ms for 10,000 puts, measured);
//   - custom plans: the prepared statements take arrays whose length the
//     planner sees only in a custom plan; a generic plan guesses, and may
//     pick a nested loop that is quadratic in the batch.
const txSettings = "SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)"

// stageReady is the connection's CustomData key saying that the staging
// table exists on it.
const stageReady = "github.com/consign/consign/delivery/pgstore.stage"

// write runs c as one transaction, in two round trips once the puts are
// staged:
//
//  1. BEGIN; UPDATE revision … RETURNING the new revision and the
//     transaction ID; the Expect check.
//  2. the upsert; the delete; COMMIT.
//
// Step 1 takes the revision row's lock, which the transaction holds until
// it ends. Every writer takes it first, so a writer that got revision r+1
// waited for the one with r to commit (or roll back, which gives r back):
// transactions commit in revision order, and a snapshot that sees revision
// r+1 sees every revision below it. That is what lets Changes promise that
// a reader never later finds a change below one it has seen. A sequence
// would not: nextval hands out numbers without waiting, so revision 8 could
// commit, and be read, before revision 7.
//
// Large puts are copied into the staging table before step 1, so the lock
// is held only while the server applies them, not while they cross the
// network.
//
// Nothing is sent after step 1 unless every Expect held, and until step 2
// is sent nothing can commit: any failure before it rolls back and maps to
// its code (a cancelled ctx to ctx.Err()). A failure after step 2 was sent
// may have followed a successful COMMIT; resolveCommit finds out which.
func (s *Store) write(ctx context.Context, c *change) (int64, error) {
	op := c.op
	if err := s.usable(ctx, op); err != nil {
		return 0, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, mapError(op, "", err)
	}
	defer conn.Release() // destroys the connection unless it is idle and healthy; a second Release is a no-op

	staged := s.copyFrom > 0 && len(c.pos) >= s.copyFrom
	first := &pgx.Batch{}
	if staged {
		if err := s.stage(ctx, conn, c); err != nil {
			abort(ctx, conn)
			return 0, mapError(op, "", err)
		}
	} else {
		first.Queue("BEGIN")
	}
	first.Queue(txSettings)
	first.Queue(s.sql.takeRevision)
	if len(c.epos) > 0 {
		first.Queue(s.sql.checkExpect, c.epos, c.ekinds, c.ekeys, c.expects)
	}
	rev, xid, conflict, err := s.begin(ctx, conn, first, staged, c)
	if err != nil || conflict != nil {
		abort(ctx, conn)
		if conflict != nil {
			return 0, conflict
		}
		return 0, mapError(op, "", err)
	}
	if s.beforeCommit != nil {
		s.beforeCommit(conn.Conn().PgConn().PID())
	}

	second := &pgx.Batch{}
	switch {
	case staged:
		second.Queue(s.sql.upsertStaged, rev)
	case len(c.pos) > 0:
		second.Queue(s.sql.upsertArrays, rev, c.pos, c.kinds, c.keys, c.data, c.ipos, c.inames, c.ivalues)
	}
	if len(c.dkinds) > 0 {
		second.Queue(s.sql.deleteRecords, rev, c.dkinds, c.dkeys)
	}
	second.Queue("COMMIT")
	pid := conn.Conn().PgConn().PID()
	err = execAll(ctx, conn, second)
	switch {
	case err == nil:
		return rev, nil
	case pgconn.SafeToRetry(err) || serverRolledBack(err):
		// Nothing reached the server, or it refused a statement and
		// skipped the rest, COMMIT included.
		abort(ctx, conn)
		return 0, mapError(op, "", err)
	default:
		// The connection is broken: give it back first (the pool destroys
		// it), so that resolving works even with a pool of one.
		conn.Release()
		return s.resolveCommit(ctx, op, pid, xid, rev, err)
	}
}

// stage opens the transaction and copies the puts into the staging table,
// creating it first if this connection has not got it yet.
func (s *Store) stage(ctx context.Context, conn *pgxpool.Conn, c *change) error {
	custom := conn.Conn().PgConn().CustomData()
	if custom[stageReady] == nil {
		if _, err := conn.Exec(ctx, createStage); err != nil {
			return err
		}
		custom[stageReady] = true
	}
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"pg_temp", stageTable}, []string{"kind", "key", "names", "vals", "data"},
		pgx.CopyFromFunc(rowsOf(len(c.pos), func(j int) []any {
			names, values := c.index(j)
			return []any{c.kinds[j], c.keys[j], names, values, c.data[j]}
		})))
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table: someone ran DISCARD TEMP
			delete(custom, stageReady)
		}
	}
	return err
}

// rowsOf adapts n rows made by row to pgx.CopyFromFunc.
func rowsOf(n int, row func(i int) []any) func() ([]any, error) {
	i := 0
	return func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		i++
		return row(i - 1), nil
	}
}

// begin sends the first round trip and reads the new revision, the
// transaction ID and, if an Expect failed, the conflict to return.
func (s *Store) begin(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, staged bool, c *change) (rev int64, xid string, conflict, err error) {
	br := conn.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if !staged {
		if _, err := br.Exec(); err != nil { // BEGIN
			return 0, "", nil, err
		}
	}
	if _, err := br.Exec(); err != nil { // txSettings
		return 0, "", nil, err
	}
	if err := br.QueryRow().Scan(&rev, &xid); err != nil {
		return 0, "", nil, err
	}
	if len(c.epos) == 0 {
		return rev, xid, nil, nil
	}
	var pos int32
	var expect, found int64
	switch err := br.QueryRow().Scan(&pos, &expect, &found); {
	case errors.Is(err, pgx.ErrNoRows):
		return rev, xid, nil, nil
	case err != nil:
		return 0, "", nil, err
	}
	i := int(pos)
	return 0, "", consign.Errorf(consign.ErrConflict, c.op, string(c.ekinds[indexOf(c.epos, pos)])+"/"+string(c.ekeys[indexOf(c.epos, pos)]),
		"writes[%d] expects revision %d, found %d", i, expect, found), nil
}

// indexOf returns where v is in the ascending slice s.
func indexOf(s []int32, v int32) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := (lo + hi) / 2
		if s[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// execAll sends b and reads every result, returning the first error.
func execAll(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch) error {
	br := conn.SendBatch(ctx, b)
	var first error
	for range b.Len() {
		if _, err := br.Exec(); err != nil && first == nil {
			first = err
		}
	}
	if err := br.Close(); first == nil {
		first = err
	}
	return first
}

// abort rolls back the connection's transaction, if it still has one, so
// that the pool can reuse the connection. If that fails, Release destroys
// the connection, which ends the transaction on the server too.
func abort(ctx context.Context, conn *pgxpool.Conn) {
	pc := conn.Conn().PgConn()
	if pc.IsClosed() || pc.TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(rctx, "ROLLBACK"); err != nil {
		conn.Conn().Close(rctx) //nolint:errcheck // the connection is dropped either way
	}
}

// resolveCommit finds out whether the transaction xid, whose connection
// (to the backend pid) failed with cause after COMMIT may have run, did
// commit. PostgreSQL keeps every transaction's outcome; pg_xact_status
// reports it from another connection. While the old backend is still at
// work on it ("in progress": it has not noticed the client is gone), the
// backend is terminated, which settles the transaction one way or the
// other. The answer:
//
//   - committed: the write is stored; Apply returns rev and no error, even
//     if ctx was cancelled meanwhile (what was written cannot be unwritten);
//   - aborted: nothing was written; the error is ctx.Err() if ctx is done,
//     else matches consign.ErrUnavailable;
//   - no answer within Options.ResolveTimeout (PostgreSQL unreachable): an
//     error matching ErrCommitUnknown and no consign code.
func (s *Store) resolveCommit(ctx context.Context, op string, pid uint32, xid string, rev int64, cause error) (int64, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.resolveFor)
	defer cancel()
	wait := 10 * time.Millisecond
	for {
		var status *string
		err := s.pool.QueryRow(rctx, s.sql.xactStatus, xid).Scan(&status)
		switch {
		case err == nil && status != nil && *status == "committed":
			return rev, nil
		case err == nil && status != nil && *status == "aborted":
			if ctx.Err() != nil {
				return 0, fmt.Errorf("%s: %w (the transaction rolled back: %v)", op, ctx.Err(), cause)
			}
			return 0, &consign.Error{Code: consign.ErrUnavailable, Op: op,
				Err: fmt.Errorf("the connection failed during the transaction, which rolled back: %w", cause)}
		case err == nil && status != nil: // in progress
			// Best effort: without the right to signal that backend, wait
			// for it to notice the lost client by itself.
			_, _ = s.pool.Exec(rctx, s.sql.terminate, int64(pid), xid)
		case err == nil: // NULL: too old to know, which cannot happen this soon
			return 0, fmt.Errorf("%s: %w: PostgreSQL no longer knows transaction %s (after %v)", op, ErrCommitUnknown, xid, cause)
		}
		select {
		case <-rctx.Done():
			return 0, fmt.Errorf("%s: %w: the connection failed after COMMIT was sent (%v) and PostgreSQL could not be asked within %v whether transaction %s committed (%v)",
				op, ErrCommitUnknown, cause, s.resolveFor, xid, err)
		case <-time.After(wait):
			wait = min(2*wait, time.Second)
		}
	}
}
