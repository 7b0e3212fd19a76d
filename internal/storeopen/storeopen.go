// Package storeopen opens a delivery.Store from a one-line spec, so every
// example (and the cross-store benchmarks) can run on each store with a
// -store flag:
//
//	memory               the in-memory store (the default)
//	bolt:PATH            the embedded bbolt file at PATH (created if needed)
//	postgres:DSN         PostgreSQL, e.g. postgres:postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	postgres:DSN#SCHEMA  the same in schema SCHEMA (default "consign")
package storeopen

import (
	"context"
	"fmt"
	"strings"

	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/boltstore"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/pgstore"
)

// Usage describes the spec, for a flag's help text.
const Usage = `where the site keeps its state: "memory", "bolt:PATH" or "postgres:DSN[#SCHEMA]"`

// Open opens the store spec names. The caller closes it.
func Open(ctx context.Context, spec string) (delivery.Store, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "", "memory":
		if arg != "" {
			return nil, fmt.Errorf("store %q: memory takes no argument", spec)
		}
		return memstore.New(), nil
	case "bolt":
		if arg == "" {
			return nil, fmt.Errorf("store %q: bolt needs a file path (bolt:PATH)", spec)
		}
		return boltstore.Open(arg, nil)
	case "postgres":
		dsn, schema, _ := strings.Cut(arg, "#")
		if dsn == "" {
			return nil, fmt.Errorf("store %q: postgres needs a DSN (postgres:postgres://user@host:5432/db)", spec)
		}
		return pgstore.Open(ctx, dsn, &pgstore.Options{Schema: schema})
	}
	return nil, fmt.Errorf("store %q: want %s", spec, Usage)
}
