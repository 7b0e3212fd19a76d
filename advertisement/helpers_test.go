package advertisement_test

import (
	"fmt"
	"time"

	"github.com/consign/consign/advertisement"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/schedule"
)

// tokenString encodes a schedule token per the bit layout of §1.8, so the
// tests do not depend on how package schedule builds tokens.
func tokenString(start time.Time, typ, specific uint32, gmt bool) string {
	w1 := uint32(start.Minute())<<26 | uint32(start.Hour())<<21 | uint32(start.Day())<<16 |
		uint32(start.Month())<<12 | uint32(start.Year()-1970)<<6
	w2 := typ<<19 | specific
	if gmt {
		w2 |= 1
	}
	return fmt.Sprintf("%08X%08X", w1, w2)
}

type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func mustParse(t fataler, s string) schedule.Token {
	t.Helper()
	tok, err := schedule.Parse(s)
	if err != nil {
		t.Fatalf("schedule.Parse(%q): %v", s, err)
	}
	return tok
}

// once is a non-recurring assignment at the civil time start.
func once(t fataler, start time.Time, gmt bool) schedule.Token {
	return mustParse(t, tokenString(start, 1, 0, gmt))
}

// everyDays recurs every n days (1–31) from the civil time start.
func everyDays(t fataler, start time.Time, n int, gmt bool) schedule.Token {
	return mustParse(t, tokenString(start, 2, uint32(n)<<3, gmt))
}

// everyHours recurs every n hours (1–23) from the civil time start.
func everyHours(t fataler, start time.Time, n int, gmt bool) schedule.Token {
	return mustParse(t, tokenString(start, 2, uint32(n)<<8, gmt))
}

// at is a civil time (its zone is ignored by the package).
func at(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

func program(logon pkg.LogonRequirement, maxRun int) *pkg.Program {
	return &pkg.Program{
		PackageID:   "CEN00001",
		Name:        "Install",
		MaxRunTime:  maxRun,
		Logon:       logon,
		AnyPlatform: true,
	}
}

func newAd(present time.Time) *advertisement.Advertisement {
	return advertisement.New("CEN00010", "Office", "CEN00001", "Install", "CEN00002", present)
}
