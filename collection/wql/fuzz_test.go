package wql

import (
	"errors"
	"testing"
	"time"
)

// FuzzCompile checks that Compile never panics, that every error is a
// *SyntaxError pointing inside the query, and that a compiled query can be
// prepared and matched.
func FuzzCompile(f *testing.F) {
	for _, q := range realQueries {
		f.Add(q.src)
	}
	for _, q := range benchRules {
		f.Add(q.src)
	}
	f.Add(`select * from SMS_R_System where Name like "[a-z]%[^0-9]_[_]" and "x" not in (select Name from SMS_G_System_COMPUTER_SYSTEM)`)
	f.Add(`select * from SMS_R_System left join SMS_G_System_OPERATING_SYSTEM os on os.ResourceID = SMS_R_System.ResourceID where not (os.InstallDate > '20090101000000.000000+***' or DATEDIFF(mm, os.InstallDate, GETDATE()) <= -1)`)
	s := testSchema(f)
	devs := []*device{
		newDevice(f, s, 1, map[string]any{"Name": "PC1", "SystemOUName": []string{"A", "B"}, "LastLogonTimestamp": time.Unix(0, 0)},
			map[string][]map[string]any{"SMS_G_System_ADD_REMOVE_PROGRAMS": {{"DisplayName": "x"}, {}}}),
		newDevice(f, s, 2, nil, nil),
	}
	all := resources(devs)
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Compile(src, s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			if se.Offset < 0 || se.Offset > len(src) || se.Line < 1 || se.Column < 1 {
				t.Fatalf("error position out of range: %+v for %d bytes", se, len(src))
			}
			return
		}
		p := q.Prepare(time.Unix(1e9, 0), all)
		for _, d := range devs {
			p.Match(d)
		}
	})
}
