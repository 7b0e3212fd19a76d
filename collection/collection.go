package collection

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
	"github.com/consign/consign/schedule"
)

// Limits for collection fields. ConfigMgr 2007 publishes none of them for
// collections; they follow the other names and comments of §5.1
// [UNVERIFIED].
const (
	// MaxNameLength bounds Collection.Name in bytes [UNVERIFIED: SMS_Collection.Name's column width is not documented].
	MaxNameLength = 127
	// MaxCommentLength bounds Collection.Comment in bytes (comments are 127 in §5.1).
	MaxCommentLength = 127
	// MaxServiceWindows bounds the maintenance windows of one collection
	// [UNVERIFIED: no published limit; this keeps client policy small].
	MaxServiceWindows = 100
)

// DirectRule is SMS_CollectionRuleDirect: it pins one SMS_R_System resource,
// for as long as the resource exists (§1.6).
type DirectRule struct {
	RuleName   string // usually the resource's name
	ResourceID uint32
}

// QueryRule is SMS_CollectionRuleQuery: the resources its WQL QueryExpression
// selects, intersected with the members of LimitToCollectionID when that is
// set (§1.6).
type QueryRule struct {
	RuleName string
	// Query is the WQL statement, e.g. `select * from SMS_R_System where
	// SMS_R_System.OperatingSystemNameandVersion like "%Workstation 5.1%"`.
	Query string
	// LimitToCollectionID is the limiting collection; "" is the console's
	// <Unlimited>.
	LimitToCollectionID consign.ObjectID
}

// RefreshType is SMS_Collection.RefreshType (§1.6): whether the collection is
// re-evaluated on its RefreshSchedule.
type RefreshType int

// The ConfigMgr 2007 refresh types. Later versions' incremental types
// ([CB] 4 and 6) are not accepted.
const (
	RefreshManual   RefreshType = 1 // only on request
	RefreshPeriodic RefreshType = 2 // on RefreshSchedule
)

// Collection is SMS_Collection with its rules and settings (§1.6, §1.7,
// §2.7).
type Collection struct {
	ID      consign.ObjectID
	Name    string
	Comment string

	DirectRules []DirectRule
	QueryRules  []QueryRule

	RefreshType RefreshType
	// RefreshSchedule says when a periodic collection is re-evaluated in
	// full (default once a day, §1.6). The caller runs Engine.Evaluate at
	// its openings.
	RefreshSchedule []schedule.Token

	// ServiceWindows are the collection's maintenance windows
	// (SMS_CollectionSettings.ServiceWindows, §1.7). They apply to the
	// collection's own members only, not to subcollections.
	ServiceWindows []ServiceWindow

	// SourceSite is the site that created the collection; other sites hold
	// a read-only copy (§1.1). "" = the local site.
	SourceSite consign.SiteCode
}

// NewCollection returns a collection with ConfigMgr's defaults for the New
// Collection Wizard (§2.7): refreshed periodically, once a day from start
// (truncated to the minute, as a schedule token holds it). The schedule is in
// UTC, because the site server, not the device, runs it.
func NewCollection(id consign.ObjectID, name string, start time.Time) *Collection {
	return &Collection{
		ID:          id,
		Name:        name,
		RefreshType: RefreshPeriodic,
		RefreshSchedule: []schedule.Token{{
			Type:    schedule.Interval,
			Start:   start.UTC().Truncate(time.Minute),
			IsGMT:   true,
			DaySpan: 1,
		}},
	}
}

// Validate reports every problem with c at once, with field paths such as
// Collection.QueryRules["XP"].Query: the ID's form, a missing or too long
// name, duplicate rule names (case-insensitive, across direct and query
// rules) or resources, a query that does not compile against s (the error
// wraps the *wql.SyntaxError, so errors.As finds it), a rule limited to c
// itself, the refresh settings and the maintenance windows. Whether a
// limiting collection exists is the Engine's check.
func (c *Collection) Validate(s *wql.Schema) error {
	var p consign.Problems
	if c.ID.Validate() != nil {
		p.AddValue("Collection.ID", string(c.ID), "site code (3 letters or digits) followed by 5 hexadecimal digits")
	}
	p.Check(c.Name != "", "Collection.Name", "required")
	p.Check(len(c.Name) <= MaxNameLength, "Collection.Name", fmt.Sprintf("at most %d bytes", MaxNameLength))
	p.Check(len(c.Comment) <= MaxCommentLength, "Collection.Comment", fmt.Sprintf("at most %d bytes", MaxCommentLength))
	if c.SourceSite != "" && c.SourceSite.Validate() != nil {
		p.AddValue("Collection.SourceSite", string(c.SourceSite), "three letters or digits")
	}

	names := map[string]bool{}
	checkName := func(field, name string) {
		key := strings.ToLower(name)
		p.Check(name != "", field+".RuleName", "required")
		p.Check(name == "" || !names[key], field+".RuleName", "must be unique in the collection")
		names[key] = true
	}
	resources := map[uint32]bool{}
	for i, r := range c.DirectRules {
		field := "Collection.DirectRules" + ruleKey(i, r.RuleName)
		checkName(field, r.RuleName)
		p.Check(r.ResourceID != 0, field+".ResourceID", "must not be 0")
		p.Check(r.ResourceID == 0 || !resources[r.ResourceID], field+".ResourceID", "must not repeat another direct rule's resource")
		resources[r.ResourceID] = true
	}
	for i, r := range c.QueryRules {
		field := "Collection.QueryRules" + ruleKey(i, r.RuleName)
		checkName(field, r.RuleName)
		if _, err := wql.Compile(r.Query, s); err != nil {
			// Both the field path and the wql error's position survive:
			// errors.As finds the *consign.ValidationError and the
			// *wql.SyntaxError.
			p.Merge(fmt.Errorf("%w: %w", &consign.ValidationError{Field: field + ".Query", Rule: "must be a WQL query over the schema"}, err))
		}
		switch {
		case r.LimitToCollectionID == "":
		case r.LimitToCollectionID.Validate() != nil:
			p.AddValue(field+".LimitToCollectionID", string(r.LimitToCollectionID), "a collection ID or empty (<Unlimited>)")
		case r.LimitToCollectionID == c.ID:
			p.Add(field+".LimitToCollectionID", "must not be the collection itself")
		}
	}

	switch c.RefreshType {
	case RefreshManual:
	case RefreshPeriodic:
		p.Check(len(c.RefreshSchedule) > 0, "Collection.RefreshSchedule", "required when RefreshType is RefreshPeriodic")
	default:
		p.AddValue("Collection.RefreshType", int(c.RefreshType), "RefreshManual (1) or RefreshPeriodic (2)")
	}
	for i, t := range c.RefreshSchedule {
		mergeAt(&p, fmt.Sprintf("Collection.RefreshSchedule[%d]", i), t.Validate())
	}

	p.Check(len(c.ServiceWindows) <= MaxServiceWindows, "Collection.ServiceWindows", fmt.Sprintf("at most %d windows", MaxServiceWindows))
	ids := map[string]bool{}
	for i, w := range c.ServiceWindows {
		field := fmt.Sprintf("Collection.ServiceWindows[%d]", i)
		w.check(&p, field)
		p.Check(w.ID == "" || !ids[strings.ToLower(w.ID)], field+".ID", "must be unique in the collection")
		ids[strings.ToLower(w.ID)] = true
	}
	return p.Err()
}

// ruleKey is a rule's path element: its name when it has one, else its
// index.
func ruleKey(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("[%d]", i)
	}
	return fmt.Sprintf("[%q]", name)
}

// Clone returns a deep copy of c.
func (c *Collection) Clone() *Collection {
	cp := *c
	cp.DirectRules = slices.Clone(c.DirectRules)
	cp.QueryRules = slices.Clone(c.QueryRules)
	cp.RefreshSchedule = slices.Clone(c.RefreshSchedule)
	cp.ServiceWindows = slices.Clone(c.ServiceWindows)
	return &cp
}
