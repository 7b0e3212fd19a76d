package collection

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/schedule"
	"github.com/hashicorp/go-multierror"
)

// WindowType is SMS_ServiceWindow.ServiceWindowType (§1.7): what a
// maintenance window gates.
type WindowType int

// The window types ConfigMgr 2007 can create. The 2007 console offers General
// and, through the checkbox "This schedule applies only to operating system
// deployment task sequences", OSD; Updates exists in the class (§1.7).
const (
	WindowGeneral WindowType = 1 // every deployment
	WindowUpdates WindowType = 4 // software updates
	WindowOSD     WindowType = 5 // task sequences
)

// MaxWindowDuration is exclusive: each maintenance window is shorter than a
// day (§1.7, §5.1).
const MaxWindowDuration = 24 * time.Hour

// ServiceWindow is one maintenance window of a collection (SMS_ServiceWindow,
// §1.7). Schedule carries the start, the duration, the recurrence and IsGMT
// (UTC, or the device's local time).
type ServiceWindow struct {
	ID          string // ServiceWindowID, a GUID string in ConfigMgr
	Name        string
	Description string
	Enabled     bool // IsEnabled: a disabled window gates nothing
	Schedule    schedule.Token
	Type        WindowType
}

// Validate reports every problem with w: an ID and a name are required, the
// type must be one of the Window* constants, the schedule token must be valid,
// and its duration must be positive and under 24 hours.
func (w ServiceWindow) Validate() error {
	var p consign.Problems
	w.check(&p, "ServiceWindow")
	return p.Err()
}

func (w ServiceWindow) check(p *consign.Problems, field string) {
	p.Check(w.ID != "", field+".ID", "required")
	p.Check(w.Name != "", field+".Name", "required")
	switch w.Type {
	case WindowGeneral, WindowUpdates, WindowOSD:
	default:
		p.AddValue(field+".Type", int(w.Type), "WindowGeneral (1), WindowUpdates (4) or WindowOSD (5)")
	}
	if err := w.Schedule.Validate(); err != nil {
		mergeAt(p, field+".Schedule", err)
		return
	}
	d := w.Schedule.Duration()
	p.Check(d > 0, field+".Schedule", "must have a duration")
	p.Check(d < MaxWindowDuration, field+".Schedule", "must last less than 24 hours")
}

// EffectiveWindows returns when the windows ws are open within [from, to), as
// sorted, non-overlapping spans; a window that overlaps from or to is
// returned whole. Disabled windows are ignored. General
// windows gate every kind of deployment; windows of the other types count
// only when listed in types, so a task sequence passes WindowOSD and a
// software update deployment WindowUpdates. Windows in local time
// (Schedule.IsGMT false) open in deviceLoc.
//
// A device's windows are those of every collection it is a member of, with no
// inheritance from parent collections (§1.7, §3.6, §7 item 9); pass them all
// in ws.
func EffectiveWindows(ws []ServiceWindow, types []WindowType, from, to time.Time, deviceLoc *time.Location) []schedule.Span {
	var spans []schedule.Span
	for _, w := range ws {
		if !w.Enabled || (w.Type != WindowGeneral && !slices.Contains(types, w.Type)) {
			continue
		}
		spans = append(spans, w.Schedule.Openings(from, to, deviceLoc)...)
	}
	return schedule.Union(spans)
}

// mergeAt adds the problems in err to p, with their field paths placed under
// field (a token's "Token.HourDuration" becomes field+".HourDuration"). Errors that
// are not validation errors are recorded at field with their message as the
// rule.
func mergeAt(p *consign.Problems, field string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	var me *multierror.Error
	if errors.As(err, &me) {
		errs = me.Errors
	}
	for _, e := range errs {
		var ve *consign.ValidationError
		if !errors.As(e, &ve) {
			p.Add(field, e.Error())
			continue
		}
		f := field
		if rest, ok := strings.CutPrefix(ve.Field, "Token"); ok {
			f += rest
		} else if ve.Field != "" {
			f += "." + ve.Field
		}
		p.Merge(&consign.ValidationError{Field: f, Rule: ve.Rule, Value: ve.Value})
	}
}
