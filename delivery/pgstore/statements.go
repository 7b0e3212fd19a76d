package pgstore

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// statements are the store's SQL, with its schema written in (quoted), so
// that they work on any connection whatever its search_path: the Store may
// run on a pool it shares with other code (New).
type statements struct {
	get, list, listIndex, changes, changesLimit string
	takeRevision, checkExpect                   string
	upsertArrays, upsertStaged, deleteRecords   string
	xactStatus, terminate                       string
}

// The temporary table large writes are staged in with COPY, one row per
// put. ON COMMIT DELETE ROWS empties it at the end of every transaction that
// used it (a rollback discards the rows anyway). It belongs to the
// connection, not to a schema.
const (
	stageTable  = "pgstore_stage"
	createStage = `CREATE TEMP TABLE IF NOT EXISTS pgstore_stage (
			kind  bytea   NOT NULL,
			key   bytea   NOT NULL,
			names bytea[],
			vals  bytea[],
			data  bytea   NOT NULL
		) ON COMMIT DELETE ROWS`
)

// upsertTail turns the puts into records and index rows, given the CTE
// the caller defines first, one row per put, each put's index fields
// sorted by name:
//
//	s(kind, key, names, vals, data)
//
// and $1, the revision. j probes each put's record (a tombstone counts:
// its row is there, with no index). Records that exist are updated, the
// others inserted: plain statements, no ON CONFLICT, since the revision
// lock keeps every other writer out until this transaction ends. Only the
// records whose index fields change touch record_index, and only in the
// entries that change (old but not new are deleted, new but not old
// inserted, so no entry is deleted and inserted by one statement), so
// rewriting a record with the same fields costs no index work. Every CTE
// sees the snapshot from before the statement.
//
// Every lookup of records or record_index rows goes through a LATERAL
// subquery with OFFSET 0, which the planner cannot flatten into a join: it
// is run per row, as a primary-key probe. Without the fence the planner may
// hash the whole table to join a few thousand staged rows, a cost that
// grows with the store instead of the batch. Rows found are then reached
// again by ctid.
const upsertTail = `,
j AS MATERIALIZED (
	SELECT s.kind, s.key, s.names, s.vals, s.data, r.ctid AS rctid, r.index_names AS onames, r.index_values AS ovals
	FROM s LEFT JOIN LATERAL (
		SELECT r.ctid, r.index_names, r.index_values FROM §.records r
		WHERE r.kind = s.kind AND r.key = s.key OFFSET 0) r ON true
), changed AS MATERIALIZED (
	SELECT kind, key, names, vals, onames, ovals FROM j
	WHERE onames IS DISTINCT FROM names OR ovals IS DISTINCT FROM vals
), gone AS (
	DELETE FROM §.record_index x WHERE x.ctid = ANY (ARRAY(
		SELECT y.ctid FROM changed c
		CROSS JOIN LATERAL (SELECT * FROM unnest(c.onames, c.ovals) EXCEPT ALL SELECT * FROM unnest(c.names, c.vals)) AS o(name, value)
		CROSS JOIN LATERAL (
			SELECT y.ctid FROM §.record_index y
			WHERE y.kind = c.kind AND y.name = o.name AND y.value = o.value AND y.key = c.key OFFSET 0) y))
), added AS (
	INSERT INTO §.record_index (kind, name, value, key)
	SELECT c.kind, n.name, n.value, c.key FROM changed c
	CROSS JOIN LATERAL (SELECT * FROM unnest(c.names, c.vals) EXCEPT ALL SELECT * FROM unnest(c.onames, c.ovals)) AS n(name, value)
), updated AS (
	UPDATE §.records r SET rev = $1, deleted = false, index_names = j.names, index_values = j.vals, data = j.data
	FROM j WHERE r.ctid = ANY (ARRAY(SELECT rctid FROM j WHERE rctid IS NOT NULL)) AND r.ctid = j.rctid
)
INSERT INTO §.records (kind, key, rev, deleted, index_names, index_values, data)
SELECT kind, key, $1, false, names, vals, data FROM j WHERE rctid IS NULL`

// newStatements writes schema into the store's SQL.
func newStatements(schema string) statements {
	q := pgx.Identifier{schema}.Sanitize()
	in := func(sql string) string { return strings.ReplaceAll(sql, "§", q) }
	return statements{
		get: in(`SELECT rev, index_names, index_values, data FROM §.records
			WHERE kind = $1 AND key = $2 AND NOT deleted`),
		list: in(`SELECT key, rev, index_names, index_values, data FROM §.records
			WHERE kind = $1 AND key > $2 AND NOT deleted ORDER BY key LIMIT $3`),
		// The page of keys comes from the index alone; each is then one
		// primary-key probe (the fence again: a merge join would walk the
		// kind's records from its first key).
		listIndex: in(`SELECT r.key, r.rev, r.index_names, r.index_values, r.data
			FROM (SELECT x.kind, x.key FROM §.record_index x
				WHERE x.kind = $1 AND x.name = $2 AND x.value = $3 AND x.key > $4
				ORDER BY x.key LIMIT $5) x
			CROSS JOIN LATERAL (
				SELECT r.key, r.rev, r.index_names, r.index_values, r.data FROM §.records r
				WHERE r.kind = x.kind AND r.key = x.key OFFSET 0) r
			ORDER BY x.key`),
		changes: in(`SELECT kind, key, rev, deleted, index_names, index_values, data FROM §.records
			WHERE rev > $1 ORDER BY rev, kind, key`),
		// The page ends with the revision of its limit-th row ($2 = limit-1
		// rows are skipped to find it), or at the end of the feed.
		changesLimit: in(`SELECT kind, key, rev, deleted, index_names, index_values, data FROM §.records
			WHERE rev > $1 AND rev <= coalesce(
				(SELECT rev FROM §.records WHERE rev > $1 ORDER BY rev OFFSET $2 LIMIT 1),
				9223372036854775807)
			ORDER BY rev, kind, key`),

		takeRevision: in(`UPDATE §.revision SET rev = rev + 1 RETURNING rev, pg_current_xact_id()::text`),
		checkExpect: in(`SELECT e.pos, e.expect, coalesce(r.rev, 0)
			FROM unnest($1::integer[], $2::bytea[], $3::bytea[], $4::bigint[]) AS e(pos, kind, key, expect)
			LEFT JOIN LATERAL (
				SELECT r.rev FROM §.records r
				WHERE r.kind = e.kind AND r.key = e.key AND NOT r.deleted OFFSET 0) r ON true
			WHERE coalesce(r.rev, 0) <> e.expect
			ORDER BY e.pos LIMIT 1`),
		// Index fields come flat (ipos says whose, in name order) and are
		// gathered per put, keeping that order.
		upsertArrays: in(`WITH s AS MATERIALIZED (
				SELECT u.kind, u.key, a.names, a.vals, u.data
				FROM unnest($2::integer[], $3::bytea[], $4::bytea[], $5::bytea[]) AS u(pos, kind, key, data)
				LEFT JOIN (
					SELECT pos, array_agg(name ORDER BY n) AS names, array_agg(value ORDER BY n) AS vals
					FROM unnest($6::integer[], $7::bytea[], $8::bytea[]) WITH ORDINALITY AS i(pos, name, value, n) GROUP BY pos
				) a USING (pos)
			)` + upsertTail),
		upsertStaged: in(`WITH s AS MATERIALIZED (SELECT kind, key, names, vals, data FROM pg_temp.` + stageTable + `)` + upsertTail),
		deleteRecords: in(`WITH d AS MATERIALIZED (
				SELECT r.ctid, r.kind, r.key, r.index_names, r.index_values
				FROM unnest($2::bytea[], $3::bytea[]) AS u(kind, key)
				CROSS JOIN LATERAL (
					SELECT r.ctid, r.kind, r.key, r.index_names, r.index_values FROM §.records r
					WHERE r.kind = u.kind AND r.key = u.key AND NOT r.deleted OFFSET 0) r
			), gone AS (
				DELETE FROM §.record_index x WHERE x.ctid = ANY (ARRAY(
					SELECT y.ctid FROM d CROSS JOIN LATERAL unnest(d.index_names, d.index_values) AS o(name, value)
					CROSS JOIN LATERAL (
						SELECT y.ctid FROM §.record_index y
						WHERE y.kind = d.kind AND y.name = o.name AND y.value = o.value AND y.key = d.key OFFSET 0) y))
			)
			UPDATE §.records r SET rev = $1, deleted = true, index_names = NULL, index_values = NULL, data = NULL
			WHERE r.ctid = ANY (ARRAY(SELECT ctid FROM d))`),

		xactStatus: `SELECT pg_xact_status($1::text::xid8)`,
		// Ends the backend still running the transaction, if it is: pid
		// alone could by now name another session.
		terminate: `SELECT pg_terminate_backend(pid, 1000) FROM pg_stat_activity
			WHERE pid = $1 AND backend_xid = $2::text::xid8::xid`,
	}
}
