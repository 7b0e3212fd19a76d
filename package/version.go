package pkg

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	"github.com/consign/consign"
)

// FileVersion is ConfigMgr's 4-part version, Major.Minor.Build.Revision, as
// used by SMS_OS_Details ("5.10.0000.0") and client versions
// ("4.00.6487.2000"). The zero value is 0.0.0.0.
type FileVersion struct {
	Major, Minor, Build, Revision uint32
}

// ParseFileVersion parses 1 to 4 dot-separated decimal numbers, each below
// 2^32. Missing parts are 0 and leading zeros are allowed, so "5.10",
// "5.10.0" and "5.10.0000.0" are the same version.
func ParseFileVersion(s string) (FileVersion, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return FileVersion{}, badVersion(s)
	}
	var n [4]uint32
	for i, part := range parts {
		// ParseUint alone would accept a leading '+'.
		if part == "" || strings.TrimLeft(part, "0123456789") != "" {
			return FileVersion{}, badVersion(s)
		}
		v, err := strconv.ParseUint(part, 10, 32)
		if err != nil {
			return FileVersion{}, badVersion(s)
		}
		n[i] = uint32(v)
	}
	return FileVersion{n[0], n[1], n[2], n[3]}, nil
}

func badVersion(s string) error {
	return &consign.ValidationError{Field: "FileVersion", Value: s, Rule: "1 to 4 dot-separated decimal numbers, each below 2^32"}
}

// String returns the version with all four parts and no leading zeros,
// e.g. "5.10.0.0"; ParseFileVersion reads it back unchanged.
func (v FileVersion) String() string {
	return fmt.Sprintf("%d.%d.%d.%d", v.Major, v.Minor, v.Build, v.Revision)
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than w,
// comparing the parts in order.
func (v FileVersion) Compare(w FileVersion) int {
	return cmp.Or(
		cmp.Compare(v.Major, w.Major),
		cmp.Compare(v.Minor, w.Minor),
		cmp.Compare(v.Build, w.Build),
		cmp.Compare(v.Revision, w.Revision),
	)
}
