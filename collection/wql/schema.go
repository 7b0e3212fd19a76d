package wql

import (
	"fmt"
	"strings"

	"github.com/consign/consign"
)

// Type is the data type of a property.
type Type uint8

// The property types. Integer covers WMI's sint/uint types; ConfigMgr's yes/no
// discovery properties are usually Integers holding 0 or 1.
const (
	String Type = iota + 1
	Integer
	DateTime
	Boolean
)

// String returns the type's name.
func (t Type) String() string {
	switch t {
	case String:
		return "String"
	case Integer:
		return "Integer"
	case DateTime:
		return "DateTime"
	case Boolean:
		return "Boolean"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Property is one property of a class.
type Property struct {
	Name string
	Type Type
	// Array marks a multi-valued property (SystemOUName, IPSubnets, …):
	// a comparison on it is true when any element satisfies it.
	Array bool
}

// Class is a WMI class queries may name: SMS_R_System or an inventory class.
type Class struct {
	Name       string
	Properties []Property
}

// ResourceID is the property every class has: the resource a row belongs to,
// and the only column a join or a per-resource sub-select may match on.
const ResourceID = "ResourceID"

// Schema is the set of classes queries may name. Class 0 is always
// SMS_R_System, the resource class: each resource has exactly one row of it.
// Other classes (inventory, SMS_G_System_*) have zero or more rows per
// resource. Every class has an Integer ResourceID property: NewSchema appends
// one to a class that lacks it, after the given properties, so the caller's
// property indices stay as given. Class and property names are matched
// case-insensitively. A Schema is immutable.
type Schema struct {
	classes []Class
	byName  map[string]int   // lower-case class name → index
	props   []map[string]int // per class: lower-case property name → index
	rid     []int            // per class: index of ResourceID
}

// NewSchema checks the classes and returns them as a Schema. The first class
// must be SMS_R_System; names must be identifiers (letters, digits and
// underscores, not starting with a digit) and unique case-insensitively,
// types must be one of the Type constants, and a ResourceID property, where
// given, must be a single Integer. All problems are reported together as
// *consign.ValidationError values.
func NewSchema(classes ...Class) (*Schema, error) {
	var p consign.Problems
	s := &Schema{byName: make(map[string]int, len(classes))}
	if len(classes) == 0 || !strings.EqualFold(classes[0].Name, systemClass) {
		p.Add("Schema.Classes[0].Name", "must be "+systemClass)
	}
	for i, c := range classes {
		field := fmt.Sprintf("Schema.Classes[%d]", i)
		if !isIdent(c.Name) {
			p.AddValue(field+".Name", c.Name, "must be an identifier")
		}
		key := strings.ToLower(c.Name)
		if _, dup := s.byName[key]; dup {
			p.AddValue(field+".Name", c.Name, "must be unique (case-insensitively)")
		}
		s.byName[key] = i
		c.Properties = append([]Property(nil), c.Properties...)
		idx := make(map[string]int, len(c.Properties)+1)
		for j, pr := range c.Properties {
			pf := fmt.Sprintf("%s.Properties[%d]", field, j)
			if !isIdent(pr.Name) {
				p.AddValue(pf+".Name", pr.Name, "must be an identifier")
			}
			if pr.Type < String || pr.Type > Boolean {
				p.AddValue(pf+".Type", uint8(pr.Type), "must be String, Integer, DateTime or Boolean")
			}
			k := strings.ToLower(pr.Name)
			if _, dup := idx[k]; dup {
				p.AddValue(pf+".Name", pr.Name, "must be unique within the class (case-insensitively)")
			}
			idx[k] = j
		}
		rid, ok := idx[strings.ToLower(ResourceID)]
		if !ok {
			rid = len(c.Properties)
			c.Properties = append(c.Properties, Property{Name: ResourceID, Type: Integer})
			idx[strings.ToLower(ResourceID)] = rid
		} else if pr := c.Properties[rid]; pr.Type != Integer || pr.Array {
			p.Add(fmt.Sprintf("%s.Properties[%d]", field, rid), "ResourceID must be a single Integer")
		}
		s.classes = append(s.classes, c)
		s.props = append(s.props, idx)
		s.rid = append(s.rid, rid)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// systemClass is the resource class; class 0 of every schema.
const systemClass = "SMS_R_System"

// NumClasses reports how many classes the schema has.
func (s *Schema) NumClasses() int { return len(s.classes) }

// Class returns class i. The caller must not modify it.
func (s *Schema) Class(i int) *Class { return &s.classes[i] }

// ClassIndex returns the index of the class named name (case-insensitively).
func (s *Schema) ClassIndex(name string) (int, bool) {
	i, ok := s.byName[strings.ToLower(name)]
	return i, ok
}

// PropertyIndex returns the index, within class, of the property named name
// (case-insensitively).
func (s *Schema) PropertyIndex(class int, name string) (int, bool) {
	if class < 0 || class >= len(s.props) {
		return 0, false
	}
	i, ok := s.props[class][strings.ToLower(name)]
	return i, ok
}

func isIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}
