package pkg

import (
	"errors"
	"slices"
	"testing"

	"github.com/consign/consign"
)

// problemFields returns the Field of every *consign.ValidationError in err,
// in order; any other error in err fails the test.
func problemFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	errs := []error{err}
	var multi interface{ WrappedErrors() []error }
	if errors.As(err, &multi) {
		errs = multi.WrappedErrors()
	}
	var fields []string
	for _, e := range errs {
		var ve *consign.ValidationError
		if !errors.As(e, &ve) {
			t.Fatalf("not a ValidationError: %v", e)
		}
		fields = append(fields, ve.Field)
	}
	return fields
}

// wantProblems checks that err reports exactly the given fields (in any
// order, counting repeats) and that it matches consign.ErrInvalid.
func wantProblems(t *testing.T, err error, fields ...string) {
	t.Helper()
	got := problemFields(t, err)
	slices.Sort(got)
	want := slices.Clone(fields)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("problems %q, want %q (err: %v)", got, want, err)
	}
	if len(want) > 0 && !errors.Is(err, consign.ErrInvalid) {
		t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
	}
}
