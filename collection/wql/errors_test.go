package wql

import (
	"errors"
	"strings"
	"testing"

	"github.com/consign/consign"
)

func TestCompileErrors(t *testing.T) {
	s := testSchema(t)
	const from = "select * from SMS_R_System "
	const arp = "inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_R_System.ResourceId "
	for _, tc := range []struct {
		src   string
		token string // the offending token; its first occurrence after at is where the error is
		at    string // text before the token, to skip earlier occurrences
		msg   string
	}{
		{"select * from SMS_R_Sytem", "SMS_R_Sytem", "", `unknown class "SMS_R_Sytem"`},
		{from + `where SMS_R_System.OperatingSystemNameAndVersio like "%6.1%"`, "OperatingSystemNameAndVersio", "",
			`unknown property "OperatingSystemNameAndVersio" of class SMS_R_System`},
		{from + `where Name = "abc`, `"abc`, "", "unterminated string"},
		{from + `where and Name = "x"`, "and", "", `unexpected "and", expected a property, a literal or a function call`},
		{from + `where Name =`, "", "", "unexpected end of query, expected a property, a literal or a function call"},
		{from + `where Name = "x" garbage`, "garbage", "", `unexpected "garbage", expected end of query`},
		{from + "inner join SMS_G_System_COMPUTER_SYSTEM on SMS_G_System_COMPUTER_SYSTEM.ResourceID = SMS_R_System.ResourceId where Name = 'x'",
			"Name", "where ", `ambiguous property "Name": both SMS_R_System and SMS_G_System_COMPUTER_SYSTEM have it; qualify it`},
		{from + "where DATEDIFF(dd, LastLogonTimestamp) > 3", "DATEDIFF", "", "DATEDIFF takes 3 arguments, got 2"},
		{from + "where GETDATE(1) > LastLogonTimestamp", "GETDATE", "", "GETDATE takes 0 arguments, got 1"},
		{from + "inner join SMS_G_System_COMPUTER_SYSTEM on SMS_G_System_COMPUTER_SYSTEM.Name = SMS_R_System.Name", "on", "",
			"a join must be ON SMS_G_System_COMPUTER_SYSTEM.ResourceID = <an earlier class>.ResourceID"},
		{from + "inner join SMS_G_System_COMPUTER_SYSTEM on SMS_G_System_COMPUTER_SYSTEM.ResourceID = SMS_G_System_COMPUTER_SYSTEM.ResourceID", "on", "",
			"a join must be ON SMS_G_System_COMPUTER_SYSTEM.ResourceID = <an earlier class>.ResourceID"},
		{from + "right join SMS_G_System_COMPUTER_SYSTEM on SMS_G_System_COMPUTER_SYSTEM.ResourceID = SMS_R_System.ResourceId", "right", "",
			"only INNER and LEFT joins are supported: a collection query selects resources, so every row must have one"},
		{from + "where SUBSTRING(Name, 1, 3) = 'WKS'", "SUBSTRING", "", "unknown function SUBSTRING (WQL here has UPPER, LOWER, DATEDIFF, DATEADD and GETDATE)"},
		{from + "where DATEDIFF(fortnight, LastLogonTimestamp, GETDATE()) > 1", "fortnight", "", "unknown date part (use yy, qq, mm, wk, dd, hh, mi or ss)"},
		{from + `where ResourceId = "abc"`, `"abc"`, "", `"abc" is not a number`},
		{from + `where LastLogonTimestamp > "yesterday"`, `"yesterday"`, "", `"yesterday" is not a date and time (write yyyy-mm-dd hh:mm:ss or yyyymmddHHMMSS.mmmmmm+UUU)`},
		{from + `where LastLogonTimestamp > 5`, ">", "", "cannot compare a DateTime with an Integer"},
		{from + `where Name = LastLogonTimestamp`, "=", "", "cannot compare a String with a DateTime"},
		{from + `where Client like "1%"`, "Client", "", "LIKE needs a String, not an Integer"},
		{from + `where Name like Name`, "Name", "like ", "a LIKE pattern must be a quoted string"},
		{from + `where Name in (NetbiosName)`, "NetbiosName", "", "IN list items must be literals"},
		{from + `where Name in ("a", 5, "b")`, "5", "", "IN list items must all convert to one type"},
		{from + `where UPPER(Client) = "1"`, "Client", "", "UPPER needs a String as argument 1, not an Integer"},
		{from + `where UPPER(SystemOUName) = "X"`, "SystemOUName", "", "array property SMS_R_System.SystemOUName cannot be a function argument"},
		{from + `where FreeSpace > 1.5`, "1.5", "", "decimal numbers are not supported"},
		{from + `where Client = 99999999999999999999`, "99999999999999999999", "", "number 99999999999999999999 does not fit in 64 bits"},
		{from + `where Name = "a" # comment`, "#", "", `unexpected character '#'`},
		{from + `where ResourceId in (select ResourceID, Name from SMS_R_System)`, "select", "in (", "a sub-select must select exactly one property"},
		{from + `where ResourceId in (select * from SMS_R_System)`, "select", "in (", "a sub-select must select exactly one property"},
		{from + `where Name in (select SystemOUName from SMS_R_System)`, "SystemOUName", "", "a sub-select must select one property that is not an array"},
		{from + `where ResourceId in (select ResourceID from SMS_G_System_ADD_REMOVE_PROGRAMS where SMS_R_System.Client = 1)`, "SMS_R_System", "where ",
			"class SMS_R_System is not in the FROM clause of this select"},
		{from + `where os.Caption = "x"`, "os", "", `unknown class or alias "os"`},
		{from + "as s inner join SMS_G_System_OPERATING_SYSTEM as s on s.ResourceID = s.ResourceID", "s", "SYSTEM as ",
			`alias "s" is used twice`},
		{"select * from SMS_G_System_ADD_REMOVE_PROGRAMS inner join SMS_G_System_ADD_REMOVE_PROGRAMS on SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID = SMS_G_System_ADD_REMOVE_PROGRAMS.ResourceID",
			"SMS_G_System_ADD_REMOVE_PROGRAMS", "on ", "class SMS_G_System_ADD_REMOVE_PROGRAMS appears more than once in this select: qualify with an alias"},
		{from + arp + "where Publisher = 'x' and DisplayName not between 'a' and 'b'", "between", "", `unexpected "between", expected LIKE or IN`},
		{from + "where Name is not 'x'", "'x'", "", `unexpected "'x'", expected NULL`},
		{from + "where Name", "", "", "unexpected end of query, expected a comparison operator, LIKE, IN or IS"},
		{"select * from SMS_R_System where ORDER = 1", "ORDER", "", `unexpected "ORDER", expected a property, a literal or a function call`},
		{from + "order by Nme", "Nme", "", `unknown property "Nme" of class SMS_R_System`},
		{"update SMS_R_System set Name = 'x'", "update", "", `unexpected "update", expected SELECT`},
		{"", "", "", "unexpected end of query, expected SELECT"},
		{from + "where " + strings.Repeat("(", 100) + "Name = 'x'" + strings.Repeat(")", 100), "Name", "", "the query nests more than 100 levels deep"},
		{from + "where " + strings.Repeat("UPPER(", 100) + "Name" + strings.Repeat(")", 100) + " = 'x'", "UPPER", strings.Repeat("UPPER(", 99),
			"the query nests more than 100 levels deep"},
	} {
		_, err := Compile(tc.src, s)
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, consign.ErrInvalid) {
			t.Errorf("%s: error %v, want a *SyntaxError", tc.src, err)
			continue
		}
		off := len(tc.src)
		if tc.token != "" {
			skip := strings.Index(tc.src, tc.at) + len(tc.at)
			off = skip + strings.Index(tc.src[skip:], tc.token)
		}
		if se.Offset != off || se.Line != 1 || se.Column != off+1 || se.Token != tc.token || se.Msg != tc.msg {
			t.Errorf("%s:\n got offset %d line %d column %d token %q: %s\nwant offset %d line 1 column %d token %q: %s",
				tc.src, se.Offset, se.Line, se.Column, se.Token, se.Msg, off, off+1, tc.token, tc.msg)
		}
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	s := testSchema(t)
	src := "select SMS_R_System.Name\nfrom SMS_R_System\nwhere SMS_R_System.Nmae = 'café' and\n  SMS_R_System.Clent = 1"
	_, err := Compile(src, s)
	const want = `wql: line 3, column 20: unknown property "Nmae" of class SMS_R_System`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	// Columns count characters, not bytes.
	src = "select * from SMS_R_System where Name = 'café' and Clent = 1"
	_, err = Compile(src, s)
	var se *SyntaxError
	if !errors.As(err, &se) || se.Column != 52 || se.Offset != 52 || se.Token != "Clent" {
		t.Fatalf("error %+v, want column 52 at byte 52", err)
	}
}

func TestCompileNilSchema(t *testing.T) {
	if _, err := Compile("select * from SMS_R_System", nil); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("error %v, want ErrInvalid", err)
	}
}

func TestParse(t *testing.T) {
	st, err := Parse(`select * from SMS_R_System as s inner join SMS_G_System_X x on x.ResourceID = s.ResourceID
		where s.ResourceId not in (select ResourceID from sms_g_system_y where Foo = 1) and s.ResourceID in (select ResourceID from SMS_R_SYSTEM)`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Classes(), []string{"SMS_R_System", "SMS_G_System_X", "sms_g_system_y"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Classes() = %v, want %v", got, want)
	}
	if _, err := Parse("select * from"); !errors.Is(err, consign.ErrInvalid) {
		t.Errorf("error %v, want ErrInvalid", err)
	}
}
