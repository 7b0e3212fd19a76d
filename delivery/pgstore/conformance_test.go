package pgstore

import (
	"testing"

	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/storetest"
)

// TestConformance runs the persistent-store suite; each store gets a
// schema of its own, and the Reopener opens a second Store on it.
func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.RunPersistent(t, func(t *testing.T) (delivery.Store, storetest.Reopener) {
		schema := freshSchema(t, dsn)
		s := openTest(t, dsn, schema, nil)
		return s, func(t *testing.T) delivery.Store { return openTest(t, dsn, schema, nil) }
	})
}
