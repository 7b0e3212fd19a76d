package consign

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// The error codes every Consign package returns. Match them with errors.Is;
// the concrete error usually carries more detail (see Error and
// ValidationError).
var (
	// ErrNotFound: the object asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object changed since it was read, or already exists.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a rule; the error is or wraps a
	// *ValidationError naming the field and the rule.
	ErrInvalid = errors.New("invalid")
	// ErrPermissionDenied: the caller may not do this (for example, change an
	// object created at another site).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnavailable: a dependency (store, transport) is unreachable; the
	// operation had no effect and may be retried.
	ErrUnavailable = errors.New("unavailable")
	// ErrFailedPrecondition: the system is not in a state that allows the
	// operation (for example, deleting a collection an advertisement targets).
	ErrFailedPrecondition = errors.New("failed precondition")
)

// Error is an operation's failure with the code it maps to. It wraps the
// underlying cause, so errors.Is matches both the Code and the cause.
type Error struct {
	Code error  // one of the Err* codes above
	Op   string // the operation, e.g. "CreateAdvertisement"
	Key  string // the object the operation was about, if any
	Err  error  // the cause, if any
}

// Errorf returns an *Error with the given code, operation and key, whose cause
// is formatted from format and args.
func Errorf(code error, op, key, format string, args ...any) *Error {
	return &Error{Code: code, Op: op, Key: key, Err: fmt.Errorf(format, args...)}
}

// Error formats the operation, the key and the cause.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
	}
	if e.Key != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Key)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else if e.Code != nil {
		b.WriteString(e.Code.Error())
	}
	return b.String()
}

// Is reports whether target is e's code.
func (e *Error) Is(target error) bool { return e.Code != nil && target == e.Code }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ValidationError says which field of which object broke which rule.
// errors.Is(err, ErrInvalid) is true for every ValidationError.
type ValidationError struct {
	// Field is the path to the offending value, e.g.
	// "Program[Install].CommandLine" or "Advertisement.AssignedSchedule[3]".
	Field string
	// Rule is the rule broken, phrased as what is required, e.g.
	// "at most 255 bytes" or "must name an existing program".
	Rule string
	// Value is the offending value, when showing it helps.
	Value any
}

// Error says which field broke which rule.
func (e *ValidationError) Error() string {
	if e.Value != nil {
		return fmt.Sprintf("invalid %s %q: %s", e.Field, fmt.Sprint(e.Value), e.Rule)
	}
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Rule)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Problems collects every rule an input breaks, so that one call reports all
// of them. The zero value is ready to use. Err returns nil when nothing was
// added, otherwise an error that errors.As finds each *ValidationError in.
type Problems struct {
	errs *multierror.Error
}

// Add records that field broke rule.
func (p *Problems) Add(field, rule string) {
	p.errs = multierror.Append(p.errs, &ValidationError{Field: field, Rule: rule})
}

// AddValue records that field, holding value, broke rule.
func (p *Problems) AddValue(field string, value any, rule string) {
	p.errs = multierror.Append(p.errs, &ValidationError{Field: field, Rule: rule, Value: value})
}

// Check records that field broke rule when ok is false.
func (p *Problems) Check(ok bool, field, rule string) {
	if !ok {
		p.Add(field, rule)
	}
}

// Merge adds every problem in err (nil adds nothing). Errors that are not
// validation errors are added as they are.
func (p *Problems) Merge(err error) {
	if err == nil {
		return
	}
	var me *multierror.Error
	if errors.As(err, &me) {
		p.errs = multierror.Append(p.errs, me.Errors...)
		return
	}
	p.errs = multierror.Append(p.errs, err)
}

// Len reports how many problems were recorded.
func (p *Problems) Len() int {
	if p.errs == nil {
		return 0
	}
	return len(p.errs.Errors)
}

// Err returns nil when no problem was recorded, otherwise an error listing
// them all. It never returns a typed nil.
func (p *Problems) Err() error {
	if p.errs == nil || len(p.errs.Errors) == 0 {
		return nil
	}
	if len(p.errs.Errors) == 1 {
		return p.errs.Errors[0]
	}
	p.errs.ErrorFormat = formatProblems
	return p.errs
}

func formatProblems(es []error) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return fmt.Sprintf("%d problems: %s", len(es), strings.Join(parts, "; "))
}
