package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/consign/consign"
)

func pgErr(code string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: "message for " + code}
}

func fatal(code string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: "terminating connection"}
}

// TestMapError checks the SQLSTATE and connection-error table of mapError.
func TestMapError(t *testing.T) {
	codes := []error{consign.ErrNotFound, consign.ErrConflict, consign.ErrInvalid, consign.ErrUnavailable, consign.ErrFailedPrecondition}
	netErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, c := range []struct {
		name string
		err  error
		want error // a consign code, or a context error
	}{
		{"no rows", pgx.ErrNoRows, consign.ErrNotFound},
		{"no rows, wrapped", fmt.Errorf("scan: %w", pgx.ErrNoRows), consign.ErrNotFound},
		{"unique_violation 23505", pgErr("23505"), consign.ErrConflict},
		{"serialization_failure 40001", pgErr("40001"), consign.ErrUnavailable},
		{"deadlock_detected 40P01", pgErr("40P01"), consign.ErrUnavailable},
		{"lock_not_available 55P03", pgErr("55P03"), consign.ErrUnavailable},
		{"query_canceled 57014 (statement_timeout)", pgErr("57014"), consign.ErrUnavailable},
		{"read_only_sql_transaction 25006 (standby)", pgErr("25006"), consign.ErrUnavailable},
		{"admin_shutdown 57P01 (pg_terminate_backend)", fatal("57P01"), consign.ErrUnavailable},
		{"connection_failure 08006", fatal("08006"), consign.ErrUnavailable},
		{"too_many_connections 53300", fatal("53300"), consign.ErrUnavailable},
		{"undefined_table 42P01", pgErr("42P01"), consign.ErrUnavailable},
		{"program_limit_exceeded 54000 (index row too large)", pgErr("54000"), consign.ErrInvalid},
		{"invalid_byte_sequence 22021", pgErr("22021"), consign.ErrInvalid},
		{"connection reset", netErr, consign.ErrUnavailable},
		{"unexpected EOF", io.ErrUnexpectedEOF, consign.ErrUnavailable},
		{"closed connection", net.ErrClosed, consign.ErrUnavailable},
		{"cancelled", context.Canceled, context.Canceled},
		{"deadline", fmt.Errorf("timeout: %w", context.DeadlineExceeded), context.DeadlineExceeded},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := mapError("pgstore.Test", "kind/key", c.err)
			if !errors.Is(got, c.want) {
				t.Errorf("mapError(%v) = %v; want an error matching %v", c.err, got, c.want)
			}
			if !errors.Is(got, c.err) {
				t.Errorf("mapError(%v) = %v; want it to wrap the cause", c.err, got)
			}
			for _, code := range codes {
				if code != c.want && errors.Is(got, code) {
					t.Errorf("mapError(%v) = %v; matches %v as well as %v", c.err, got, code, c.want)
				}
			}
		})
	}
	if err := mapError("op", "", nil); err != nil {
		t.Errorf("mapError(nil) = %v; want nil", err)
	}
}

// TestServerRolledBack checks which errors prove that the server skipped the
// rest of a pipeline, COMMIT included.
func TestServerRolledBack(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"ERROR", pgErr("23505"), true},
		{"ERROR, wrapped", fmt.Errorf("upsert: %w", pgErr("54000")), true},
		{"localized ERROR", &pgconn.PgError{Severity: "FEHLER", SeverityUnlocalized: "ERROR", Code: "40001"}, true},
		{"FATAL: the session ended, perhaps after COMMIT did its work", fatal("57P01"), false},
		{"PANIC", &pgconn.PgError{Severity: "PANIC", SeverityUnlocalized: "PANIC", Code: "XX000"}, false},
		{"lost connection", io.ErrUnexpectedEOF, false},
		{"cancelled", context.Canceled, false},
	} {
		if got := serverRolledBack(c.err); got != c.want {
			t.Errorf("%s: serverRolledBack(%v) = %v; want %v", c.name, c.err, got, c.want)
		}
	}
}
