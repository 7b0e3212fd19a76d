package httpmp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery/httpdp"
)

// Wire error codes: ErrorBody.Code.
const (
	CodeInvalid              = "invalid"
	CodeUnauthenticated      = "unauthenticated"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeConflict             = "conflict"
	CodeTooLarge             = "too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
)

// Error is a management point's refusal as the Client sees it: the HTTP
// status and the JSON error body. errors.Is matches the consign code the
// status stands for, so an agent can branch without knowing HTTP:
//
//	400, 405, 413, 415  consign.ErrInvalid (the request itself is wrong;
//	                    sending it again will not help)
//	401                 httpdp.ErrUnauthenticated (register again)
//	403                 consign.ErrPermissionDenied
//	404                 consign.ErrNotFound
//	409                 consign.ErrConflict (fetch policy again)
//	408, 429, 5xx       consign.ErrUnavailable (retry later)
//
// A 400 that names a field also unwraps to a *consign.ValidationError with
// that Field, so errors.As finds it.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Body is the decoded error body; when the response had none (a proxy's
	// error page, say), Code is derived from Status and Message holds the
	// start of the body.
	Body ErrorBody
}

// Error formats the status, code, field and message.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "httpmp: HTTP %d %s", e.Status, e.Body.Code)
	if e.Body.Field != "" {
		fmt.Fprintf(&b, " (field %s)", e.Body.Field)
	}
	if e.Body.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Body.Message)
	}
	return b.String()
}

// Is reports whether target is the code e's status stands for.
func (e *Error) Is(target error) bool {
	code := statusCode(e.Status)
	return code != nil && target == code
}

// Unwrap returns a *consign.ValidationError for a 400 naming a field, so
// that errors.As finds the field; nil otherwise.
func (e *Error) Unwrap() error {
	if e.Status == http.StatusBadRequest && e.Body.Field != "" {
		return &consign.ValidationError{Field: e.Body.Field, Rule: e.Body.Message}
	}
	return nil
}

// statusCode maps an HTTP status to the consign code (or
// httpdp.ErrUnauthenticated) a Client error matches.
func statusCode(status int) error {
	switch {
	case status == http.StatusUnauthorized:
		return httpdp.ErrUnauthenticated
	case status == http.StatusForbidden:
		return consign.ErrPermissionDenied
	case status == http.StatusNotFound:
		return consign.ErrNotFound
	case status == http.StatusConflict:
		return consign.ErrConflict
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return consign.ErrUnavailable
	case status >= 400:
		return consign.ErrInvalid
	}
	return nil
}

// codeForStatus is the ErrorBody.Code a status gets when a response did not
// carry one.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalid
	case http.StatusUnauthorized:
		return CodeUnauthenticated
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusUnsupportedMediaType:
		return CodeUnsupportedMediaType
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	}
	if status >= 500 {
		if status == http.StatusInternalServerError {
			return CodeInternal
		}
		return CodeUnavailable
	}
	return CodeInvalid
}

// refusal is a failure the server answers with a given status and body. It
// carries the reason to log, which may say more than the body (never a
// credential).
type refusal struct {
	status int
	body   ErrorBody
	reason string
}

func (e *refusal) Error() string {
	if e.reason != "" {
		return e.reason
	}
	return e.body.Message
}

func refuse(status int, code, field, msg string) *refusal {
	return &refusal{status: status, body: ErrorBody{Code: code, Field: field, Message: msg}}
}

func invalid(field, msg string) *refusal {
	return refuse(http.StatusBadRequest, CodeInvalid, field, msg)
}

func forbidden(field, msg string) *refusal {
	return refuse(http.StatusForbidden, CodeForbidden, field, msg)
}

// errUnauthenticated answers 401; reason (logged, never sent) says which
// check failed.
func errUnauthenticated(reason string) *refusal {
	r := refuse(http.StatusUnauthorized, CodeUnauthenticated, "", "a valid device token is required")
	r.reason = reason
	return r
}

// Is lets a 401 refusal match httpdp.ErrUnauthenticated and a 403 one
// consign.ErrPermissionDenied, so that AuthorizeContent's errors mean the
// right thing to httpdp.
func (e *refusal) Is(target error) bool {
	switch e.status {
	case http.StatusUnauthorized:
		return target == httpdp.ErrUnauthenticated
	case http.StatusForbidden:
		return target == consign.ErrPermissionDenied
	case http.StatusServiceUnavailable:
		return target == consign.ErrUnavailable
	}
	return false
}

// classify maps an error from a handler (a refusal, or an error from the
// Site or the signer) to the status and body to send. rename maps a field
// path the Site reports to the wire's (nil keeps it). ctx is the request's.
func classify(ctx context.Context, err error, rename func(string) string) (int, ErrorBody) {
	var rf *refusal
	if errors.As(err, &rf) {
		return rf.status, rf.body
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return http.StatusServiceUnavailable, ErrorBody{Code: CodeUnavailable, Message: "request cancelled"}
	}
	switch {
	case errors.Is(err, consign.ErrInvalid):
		field, msg := validationText(err, rename)
		return http.StatusBadRequest, ErrorBody{Code: CodeInvalid, Field: field, Message: msg}
	case errors.Is(err, httpdp.ErrUnauthenticated):
		return http.StatusUnauthorized, ErrorBody{Code: CodeUnauthenticated, Message: "a valid device token is required"}
	case errors.Is(err, consign.ErrPermissionDenied):
		return http.StatusForbidden, ErrorBody{Code: CodeForbidden, Message: err.Error()}
	case errors.Is(err, consign.ErrNotFound):
		return http.StatusNotFound, ErrorBody{Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, consign.ErrConflict), errors.Is(err, consign.ErrFailedPrecondition):
		return http.StatusConflict, ErrorBody{Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, consign.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, ErrorBody{Code: CodeUnavailable, Message: "the site is unavailable; try again later"}
	}
	return http.StatusInternalServerError, ErrorBody{Code: CodeInternal, Message: "internal error"}
}

// validationText returns the (renamed) field of the first validation error
// in err and a message listing every problem with renamed fields.
func validationText(err error, rename func(string) string) (string, string) {
	ves := validationErrors(err)
	if len(ves) == 0 {
		return "", err.Error()
	}
	parts := make([]string, len(ves))
	field := ""
	for i, ve := range ves {
		f := ve.Field
		if rename != nil {
			f = rename(f)
		}
		if i == 0 {
			field = f
		}
		parts[i] = (&consign.ValidationError{Field: f, Rule: ve.Rule, Value: ve.Value}).Error()
	}
	if len(parts) == 1 {
		return field, parts[0]
	}
	return field, fmt.Sprintf("%d problems: %s", len(parts), strings.Join(parts, "; "))
}

// validationErrors lists the *consign.ValidationError values in err, which
// is one of them or a multierror of them (consign.Problems).
func validationErrors(err error) []*consign.ValidationError {
	var out []*consign.ValidationError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if ve, ok := e.(*consign.ValidationError); ok {
			out = append(out, ve)
			return
		}
		if me, ok := e.(interface{ WrappedErrors() []error }); ok {
			for _, x := range me.WrappedErrors() {
				walk(x)
			}
			return
		}
		if u, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range u.Unwrap() {
				walk(x)
			}
			return
		}
		if x := errors.Unwrap(e); x != nil {
			walk(x)
		}
	}
	walk(err)
	return out
}
