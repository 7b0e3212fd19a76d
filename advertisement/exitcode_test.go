package advertisement_test

import (
	"slices"
	"testing"

	"github.com/consign/consign/advertisement"
	"pgregory.net/rapid"
)

func TestClassifyDefaults(t *testing.T) {
	codes := advertisement.DefaultExitCodes()
	for _, c := range []struct {
		code int
		want advertisement.ExitClass
	}{
		{0, advertisement.ExitSuccess},
		{3010, advertisement.ExitSuccessRestart}, // soft restart needed
		{1641, advertisement.ExitSuccessRestart}, // the installer restarted
		{5, advertisement.ExitRetry},             // access denied, retried [B-rc]
		{1618, advertisement.ExitRetry},          // another installation in progress
		{1, advertisement.ExitFailure},
		{-1, advertisement.ExitFailure},
		{1603, advertisement.ExitFailure},
	} {
		if got := codes.Classify(c.code); got != c.want {
			t.Errorf("Classify(%d) = %v, want %v", c.code, got, c.want)
		}
	}
	codes.Success = append(codes.Success, 1)
	if advertisement.DefaultExitCodes().Classify(1) != advertisement.ExitFailure {
		t.Error("changing a returned list changed the defaults")
	}
}

// Property 7: Classify returns the class of the first list holding the
// code, and Failure for a code in none.
func TestClassifyMatchesLists(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		codes := advertisement.DefaultExitCodes()
		if rapid.Bool().Draw(t, "custom") {
			list := rapid.SliceOfN(rapid.IntRange(-5, 40), 0, 6)
			codes = advertisement.ExitCodes{Success: list.Draw(t, "success"), Restart: list.Draw(t, "restart"), Retry: list.Draw(t, "retry")}
		}
		all := slices.Concat(codes.Success, codes.Restart, codes.Retry)
		code := rapid.OneOf(rapid.IntRange(-5, 4000), rapid.SampledFrom(append(all, 0))).Draw(t, "code")
		want := advertisement.ExitFailure
		switch {
		case slices.Contains(codes.Success, code):
			want = advertisement.ExitSuccess
		case slices.Contains(codes.Restart, code):
			want = advertisement.ExitSuccessRestart
		case slices.Contains(codes.Retry, code):
			want = advertisement.ExitRetry
		}
		if got := codes.Classify(code); got != want {
			t.Fatalf("Classify(%d) = %v, want %v", code, got, want)
		}
	})
}
