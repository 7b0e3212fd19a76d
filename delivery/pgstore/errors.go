package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
)

// ErrCommitUnknown is matched (errors.Is) by the error of an Apply or
// PutBatch whose COMMIT was sent but whose outcome the store could not learn:
// the connection failed after the commit left and PostgreSQL could not be
// asked afterwards (see "Commit outcome" in the package documentation). The
// write may or may not be stored. It deliberately matches none of the
// consign codes: it is not consign.ErrUnavailable, which promises that the
// call had no effect. Read the records (or follow Changes) to find out. It
// is delivery.ErrCommitUnknown, which a Site understands.
var ErrCommitUnknown = delivery.ErrCommitUnknown

// SQLSTATE codes the store gives a meaning to. The full list is in
// PostgreSQL's documentation, appendix A.
const (
	codeUniqueViolation      = "23505"
	codeProgramLimitExceeded = "54000" // e.g. an index row too large
)

// mapError gives err the consign code it means, for an operation that had
// no effect: reads, and writes that failed before their COMMIT could run
// (write.go decides that before calling it; a write whose COMMIT may have
// run goes through resolveCommit instead). The returned error wraps err.
//
//   - a cancelled or expired context: the context's error (wrapped), so
//     errors.Is(err, context.Canceled) holds, as the Store contract asks;
//   - pgx.ErrNoRows: consign.ErrNotFound;
//   - unique_violation 23505: consign.ErrConflict;
//   - serialization_failure 40001, deadlock_detected 40P01,
//     lock_not_available 55P03, query_canceled 57014, read-only transaction
//     25006, connection exceptions (class 08), operator intervention (class
//     57: shutdown, pg_terminate_backend) and insufficient resources (class
//     53, e.g. too many connections): consign.ErrUnavailable, retryable;
//   - program_limit_exceeded 54000 and data exceptions (class 22):
//     consign.ErrInvalid (the input is more than PostgreSQL can store);
//   - an error raised before anything was sent (pgconn.SafeToRetry), a
//     connection that could not be made or was lost (net and I/O errors):
//     consign.ErrUnavailable;
//   - any other server error (a missing table, a permission denied):
//     consign.ErrUnavailable too, since the call had no effect; the cause
//     stays in the chain for the operator.
func mapError(op, key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if key != "" {
			return fmt.Errorf("%s %s: %w", op, key, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return &consign.Error{Code: errorCode(err), Op: op, Key: key, Err: err}
}

// errorCode is the consign code of a failure that had no effect.
func errorCode(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return consign.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == codeUniqueViolation:
			return consign.ErrConflict
		case pe.Code == codeProgramLimitExceeded, strings.HasPrefix(pe.Code, "22"):
			return consign.ErrInvalid
		}
		// Serialization failures, deadlocks, lock timeouts, cancelled
		// statements, standbys, shutdowns, terminated backends, lost
		// connections, exhausted resources and everything else: the
		// transaction rolled back; retrying may succeed.
		return consign.ErrUnavailable
	}
	return consign.ErrUnavailable
}

// serverRolledBack reports whether err is the server's answer that a
// statement failed with ERROR severity: the session goes on and the
// transaction is aborted, so nothing after the failed statement, COMMIT
// included, took effect. FATAL and PANIC errors end the session and may
// come after a COMMIT did its work, so they do not count.
func serverRolledBack(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	sev := pe.SeverityUnlocalized // PostgreSQL 9.6 and later
	if sev == "" {
		sev = pe.Severity
	}
	return sev == "ERROR"
}
