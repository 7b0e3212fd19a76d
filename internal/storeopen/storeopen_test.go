package storeopen_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/consign/consign/internal/storeopen"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []string{"", "memory", "bolt:" + filepath.Join(t.TempDir(), "s.db")} {
		s, err := storeopen.Open(ctx, spec)
		if err != nil {
			t.Errorf("Open(%q): %v", spec, err)
			continue
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close(%q): %v", spec, err)
		}
	}
	for _, spec := range []string{"memory:x", "bolt:", "postgres:", "postgres:#schema", "sqlite:x.db"} {
		if _, err := storeopen.Open(ctx, spec); err == nil {
			t.Errorf("Open(%q) succeeded; want an error", spec)
		}
	}
}
