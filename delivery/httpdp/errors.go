package httpdp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/consign/consign"
)

// ErrUnauthenticated is what Options.Authorize returns (wrapped is fine)
// when the request carries no credential or one the site does not know;
// the Server answers 401. A credential that is valid but not allowed this
// package's content is consign.ErrPermissionDenied instead (403).
var ErrUnauthenticated = errors.New("unauthenticated")

// SourceError is one source's failure to serve one file.
type SourceError struct {
	// Source is the BaseURL of the DP.
	Source string
	// Path is the manifest path of the file.
	Path string
	// Status is the HTTP status of the response, or 0 when none arrived
	// (transport failure, no response in time, skipped source). A body
	// cut short keeps the status of its response.
	Status int
	// Err is the cause. It matches consign.ErrNotFound for a 404,
	// consign.ErrPermissionDenied for 401 and 403, consign.ErrUnavailable
	// for transport failures, 5xx and cut-off transfers, and is a
	// *distpoint.HashMismatchError (matching consign.ErrInvalid) for
	// content that is not what the manifest says.
	Err error
}

// Error names the source, the file and the cause.
func (e *SourceError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: %s: HTTP %d: %v", e.Source, e.Path, e.Status, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Source, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *SourceError) Unwrap() error { return e.Err }

// FileError says that no source could serve a file. It matches
// consign.ErrUnavailable (the content may be fetched later), and errors.Is
// and errors.As also see each source's failure.
type FileError struct {
	// Path is the manifest path of the file.
	Path string
	// Errs holds one *SourceError per failed attempt, in the order tried;
	// a source skipped because it was unreachable earlier in the same
	// Fetch has one too, so every source is named.
	Errs []error
}

// Error names the file and every source's failure.
func (e *FileError) Error() string {
	if len(e.Errs) == 0 {
		return fmt.Sprintf("httpdp: file %q: no source to fetch it from", e.Path)
	}
	parts := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		parts[i] = err.Error()
	}
	return fmt.Sprintf("httpdp: file %q: no source could serve it: %s", e.Path, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, consign.ErrUnavailable) true.
func (e *FileError) Is(target error) bool { return target == consign.ErrUnavailable }

// Unwrap returns each source's failure.
func (e *FileError) Unwrap() []error { return e.Errs }

// Wire error codes, the "code" of a JSON error body.
const (
	codeInvalid          = "invalid"
	codeNotFound         = "not_found"
	codeUnauthenticated  = "unauthenticated"
	codePermissionDenied = "permission_denied"
	codeMethodNotAllowed = "method_not_allowed"
	codeUnavailable      = "unavailable"
	codeInternal         = "internal"
)

// errorBody is the JSON body of every error the Server writes.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}
