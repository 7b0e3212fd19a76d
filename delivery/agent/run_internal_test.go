package agent

import (
	"errors"
	"fmt"
	"testing"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/distpoint"
)

func TestAllHashMismatches(t *testing.T) {
	mismatch := func(src string) error {
		return &httpdp.SourceError{Source: src, Path: "setup.exe", Status: 200, Err: &distpoint.HashMismatchError{}}
	}
	down := &httpdp.SourceError{Source: "http://dp2", Path: "setup.exe", Err: consign.Errorf(consign.ErrUnavailable, "get", "", "refused")}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"every source served other content", &httpdp.FileError{Path: "setup.exe", Errs: []error{mismatch("http://dp1"), mismatch("http://dp2")}}, true},
		{"several files, all mismatches", errors.Join(
			&httpdp.FileError{Path: "a", Errs: []error{mismatch("http://dp1")}},
			&httpdp.FileError{Path: "b", Errs: []error{mismatch("http://dp1")}}), true},
		{"wrapped", fmt.Errorf("fetch: %w", &httpdp.FileError{Path: "a", Errs: []error{mismatch("http://dp1")}}), true},
		{"one source was down", &httpdp.FileError{Path: "setup.exe", Errs: []error{mismatch("http://dp1"), down}}, false},
		{"no source at all", &httpdp.FileError{Path: "setup.exe"}, false},
		{"a local error", errors.New("disk full"), false},
	} {
		if got := allHashMismatches(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
