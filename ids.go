package consign

import (
	"fmt"
	"strconv"
	"strings"
)

// SiteCode is a site's three-character code, unique in a hierarchy, e.g.
// "CEN" (reference §1.1).
type SiteCode string

// Validate reports whether c is three ASCII letters or digits.
func (c SiteCode) Validate() error {
	if len(c) != 3 || !isAlnum(string(c)) {
		return &ValidationError{Field: "SiteCode", Value: string(c), Rule: "three letters or digits"}
	}
	return nil
}

// ObjectID identifies a package, collection or advertisement the way
// ConfigMgr does: the creating site's code followed by five hexadecimal
// digits, e.g. "CEN00012". Built-in objects use the pseudo-site "SMS", as in
// "SMS00001" (All Systems). Comparisons are case-sensitive; Parse normalises
// to upper case.
type ObjectID string

// NewObjectID returns the ID with the given site code and serial number.
// The serial must be below 0x100000.
func NewObjectID(site SiteCode, serial uint32) ObjectID {
	return ObjectID(fmt.Sprintf("%s%05X", strings.ToUpper(string(site)), serial&0xFFFFF))
}

// ParseObjectID checks s and returns it as an ObjectID in upper case.
func ParseObjectID(s string) (ObjectID, error) {
	id := ObjectID(strings.ToUpper(s))
	if err := id.Validate(); err != nil {
		return "", err
	}
	return id, nil
}

// Validate reports whether id has ConfigMgr's form: three letters or digits,
// then five hexadecimal digits.
func (id ObjectID) Validate() error {
	s := string(id)
	if len(s) != 8 || !isAlnum(s[:3]) {
		return &ValidationError{Field: "ID", Value: s, Rule: "site code (3 letters or digits) followed by 5 hexadecimal digits"}
	}
	if _, err := strconv.ParseUint(s[3:], 16, 32); err != nil {
		return &ValidationError{Field: "ID", Value: s, Rule: "site code (3 letters or digits) followed by 5 hexadecimal digits"}
	}
	return nil
}

// Site returns the site-code part of id.
func (id ObjectID) Site() SiteCode {
	if len(id) < 3 {
		return ""
	}
	return SiteCode(id[:3])
}

// Serial returns the numeric part of id, or 0 when id is malformed.
func (id ObjectID) Serial() uint32 {
	if len(id) != 8 {
		return 0
	}
	n, err := strconv.ParseUint(string(id[3:]), 16, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return s != ""
}
