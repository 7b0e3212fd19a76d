package tasksequence_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/tasksequence"
	"pgregory.net/rapid"
)

// doc wraps the lines of a <sequence> element's content in the document
// ExportXML writes.
func doc(lines ...string) string {
	body := ""
	for _, l := range lines {
		body += l + "\n"
	}
	return xml.Header + "<sequence version=\"3.00\">\n" + body + "</sequence>\n"
}

// run is a Run Command Line step for the tests.
func runStep(name, cmd string) tasksequence.Step {
	return tasksequence.Step{Name: name, RunCommandLine: &tasksequence.RunCommandLine{CommandLine: cmd}}
}

// runXML is runStep's XML with the given condition lines inside it.
func runXML(indent, name, cmd string, condition ...string) []string {
	lines := []string{indent + `<step type="SMS_TaskSequence_RunCommandLineAction" name="` + name + `" description="">`}
	lines = append(lines, condition...)
	return append(lines,
		indent+`  <defaultVarList>`,
		indent+`    <variable name="CommandLine" property="CommandLine">`+cmd+`</variable>`,
		indent+`  </defaultVarList>`,
		indent+`</step>`)
}

// conditionXML indents the nodes of a condition for a step at the top.
func conditionXML(nodes ...string) []string {
	lines := []string{"    <condition>"}
	for _, n := range nodes {
		lines = append(lines, "      "+n)
	}
	return append(lines, "    </condition>")
}

// TestXMLGolden writes every step kind and every condition kind as the
// documented format says, and reads each document back to the sequence.
func TestXMLGolden(t *testing.T) {
	withCondition := func(c *tasksequence.Condition) *tasksequence.Sequence {
		st := runStep("Run", "cmd")
		st.Condition = c
		return &tasksequence.Sequence{Steps: []tasksequence.Step{st}}
	}
	cases := []struct {
		name string
		seq  *tasksequence.Sequence
		want string
	}{
		{"empty sequence", &tasksequence.Sequence{}, xml.Header + "<sequence version=\"3.00\">\n</sequence>\n"},
		{"install software", &tasksequence.Sequence{SchemaVersion: "3.00", Steps: []tasksequence.Step{{
			Name: "Install Office", Description: "Office 2007", Disabled: true, Timeout: 90 * time.Minute,
			InstallSoftware: &tasksequence.InstallSoftware{PackageID: "CEN00012", Program: "Install"},
		}}}, doc(
			`  <step type="SMS_TaskSequence_InstallSoftwareAction" name="Install Office" description="Office 2007" disable="true" timeout="5400">`,
			`    <defaultVarList>`,
			`      <variable name="PackageID" property="PackageID">CEN00012</variable>`,
			`      <variable name="ProgramName" property="ProgramName">Install</variable>`,
			`    </defaultVarList>`,
			`  </step>`)},
		{"install updates, mandatory", &tasksequence.Sequence{Steps: []tasksequence.Step{{
			Name: "Updates", InstallUpdates: &tasksequence.InstallUpdates{},
		}}}, doc(
			`  <step type="SMS_TaskSequence_InstallUpdateAction" name="Updates" description="">`,
			`    <defaultVarList>`,
			`      <variable name="SMSInstallUpdateTarget" property="Target">Mandatory</variable>`,
			`    </defaultVarList>`,
			`  </step>`)},
		{"install updates, all", &tasksequence.Sequence{Steps: []tasksequence.Step{{
			Name: "Updates", ContinueOnError: true, InstallUpdates: &tasksequence.InstallUpdates{Scope: tasksequence.UpdatesAll},
		}}}, doc(
			`  <step type="SMS_TaskSequence_InstallUpdateAction" name="Updates" description="" continueOnError="true">`,
			`    <defaultVarList>`,
			`      <variable name="SMSInstallUpdateTarget" property="Target">All</variable>`,
			`    </defaultVarList>`,
			`  </step>`)},
		{"run command line, minimal", &tasksequence.Sequence{Steps: []tasksequence.Step{runStep("Run", "cmd /c echo hi")}},
			doc(runXML("  ", "Run", "cmd /c echo hi")...)},
		{"run command line, every property", &tasksequence.Sequence{Steps: []tasksequence.Step{{
			Name: "Run", ContinueOnError: true, Timeout: time.Hour,
			RunCommandLine: &tasksequence.RunCommandLine{CommandLine: `cmd /c "echo hi & exit 3"`, WorkingDirectory: "bin",
				PackageID: "ABC00012", SuccessCodes: []int{0, 3, -1}},
		}}}, doc(
			`  <step type="SMS_TaskSequence_RunCommandLineAction" name="Run" description="" continueOnError="true" timeout="3600" successCodeList="0 3 -1">`,
			`    <defaultVarList>`,
			`      <variable name="CommandLine" property="CommandLine">cmd /c "echo hi &amp; exit 3"</variable>`,
			`      <variable name="WorkingDirectory" property="WorkingDirectory">bin</variable>`,
			`      <variable name="PackageID" property="PackageID">ABC00012</variable>`,
			`    </defaultVarList>`,
			`  </step>`)},
		{"restart to the installed OS", &tasksequence.Sequence{Steps: []tasksequence.Step{{
			Name: "Restart", Restart: &tasksequence.RestartComputer{},
		}}}, doc(
			`  <step type="SMS_TaskSequence_RebootAction" name="Restart" description="">`,
			`    <defaultVarList>`,
			`      <variable name="SMSRebootTarget" property="Target">HD</variable>`,
			`    </defaultVarList>`,
			`  </step>`)},
		{"restart to the boot image", &tasksequence.Sequence{Steps: []tasksequence.Step{{
			Name: "Restart", Restart: &tasksequence.RestartComputer{Target: tasksequence.RestartToBootImage,
				Message: "Restarting <now>", NotifyTimeout: 2 * time.Minute},
		}}}, doc(
			`  <step type="SMS_TaskSequence_RebootAction" name="Restart" description="">`,
			`    <defaultVarList>`,
			`      <variable name="SMSRebootTarget" property="Target">WinPE</variable>`,
			`      <variable name="SMSRebootMessage" property="Message">Restarting &lt;now&gt;</variable>`,
			`      <variable name="SMSRebootTimeout" property="MessageTimeout">120</variable>`,
			`    </defaultVarList>`,
			`  </step>`)},
		{"set variable to empty", &tasksequence.Sequence{Steps: []tasksequence.Step{{
			Name: "Clear role", SetVariable: &tasksequence.SetVariable{Name: "Role"},
		}}}, doc(
			`  <step type="SMS_TaskSequence_SetVariableAction" name="Clear role" description="">`,
			`    <defaultVarList>`,
			`      <variable name="VariableName" property="VariableName">Role</variable>`,
			`      <variable name="VariableValue" property="VariableValue"></variable>`,
			`    </defaultVarList>`,
			`  </step>`)},
		{"groups", &tasksequence.Sequence{Steps: []tasksequence.Step{
			{Name: "Apps", Description: "all of them", Disabled: true, ContinueOnError: true, Group: &tasksequence.Group{Steps: []tasksequence.Step{
				{Name: "Empty", Group: &tasksequence.Group{}},
				runStep("Run", "cmd"),
			}}},
			runStep("After", "cmd"),
		}}, doc(append(append([]string{
			`  <group name="Apps" description="all of them" disable="true" continueOnError="true">`,
			`    <group name="Empty" description="">`,
			`    </group>`},
			runXML("    ", "Run", "cmd")...),
			append([]string{`  </group>`}, runXML("  ", "After", "cmd")...)...)...)},
		{"variable condition", withCondition(&tasksequence.Condition{Op: tasksequence.OpVariable, Variable: "Role", Compare: tasksequence.Equals, Value: "Kiosk"}),
			doc(runXML("  ", "Run", "cmd", conditionXML(
				`<expression type="SMS_TaskSequence_VariableConditionExpression">`,
				`  <variable name="Variable">Role</variable>`,
				`  <variable name="Operator">equals</variable>`,
				`  <variable name="Value">Kiosk</variable>`,
				`</expression>`)...)...)},
		{"variable exists: no value", withCondition(&tasksequence.Condition{Op: tasksequence.OpVariable, Variable: "Role", Compare: tasksequence.Exists}),
			doc(runXML("  ", "Run", "cmd", conditionXML(
				`<expression type="SMS_TaskSequence_VariableConditionExpression">`,
				`  <variable name="Variable">Role</variable>`,
				`  <variable name="Operator">exists</variable>`,
				`</expression>`)...)...)},
		{"OS platform", withCondition(&tasksequence.Condition{Op: tasksequence.OpOS, Platform: "x64", Compare: tasksequence.Exists}),
			doc(runXML("  ", "Run", "cmd", conditionXML(
				`<expression type="SMS_TaskSequence_OSConditionExpression">`,
				`  <variable name="Platform">x64</variable>`,
				`  <variable name="Operator">exists</variable>`,
				`</expression>`)...)...)},
		{"OS version", withCondition(&tasksequence.Condition{Op: tasksequence.OpOS, Compare: tasksequence.GreaterEqual, Value: "6.0"}),
			doc(runXML("  ", "Run", "cmd", conditionXML(
				`<expression type="SMS_TaskSequence_OSConditionExpression">`,
				`  <variable name="Operator">greaterEqual</variable>`,
				`  <variable name="Value">6.0</variable>`,
				`</expression>`)...)...)},
		{"file", withCondition(&tasksequence.Condition{Op: tasksequence.OpFile, Path: `C:\Temp`, Compare: tasksequence.NotExists}),
			doc(runXML("  ", "Run", "cmd", conditionXML(
				`<expression type="SMS_TaskSequence_FileConditionExpression">`,
				`  <variable name="Path">C:\Temp</variable>`,
				`  <variable name="Operator">notExists</variable>`,
				`</expression>`)...)...)},
		{"and, or, not", withCondition(tasksequence.All(
			*tasksequence.Any(tasksequence.FileExists("a", true), tasksequence.FileExists("b", true)),
			*tasksequence.None(tasksequence.VariableIs("Count", tasksequence.Greater, "3"), tasksequence.OSIs("I386", tasksequence.Exists, "")),
		)), doc(runXML("  ", "Run", "cmd", conditionXML(
			`<operator type="and">`,
			`  <operator type="or">`,
			`    <expression type="SMS_TaskSequence_FileConditionExpression">`,
			`      <variable name="Path">a</variable>`,
			`      <variable name="Operator">exists</variable>`,
			`    </expression>`,
			`    <expression type="SMS_TaskSequence_FileConditionExpression">`,
			`      <variable name="Path">b</variable>`,
			`      <variable name="Operator">exists</variable>`,
			`    </expression>`,
			`  </operator>`,
			`  <operator type="not">`,
			`    <expression type="SMS_TaskSequence_VariableConditionExpression">`,
			`      <variable name="Variable">Count</variable>`,
			`      <variable name="Operator">greater</variable>`,
			`      <variable name="Value">3</variable>`,
			`    </expression>`,
			`    <expression type="SMS_TaskSequence_OSConditionExpression">`,
			`      <variable name="Platform">I386</variable>`,
			`      <variable name="Operator">exists</variable>`,
			`    </expression>`,
			`  </operator>`,
			`</operator>`)...)...)},
		{"characters to escape", &tasksequence.Sequence{Steps: []tasksequence.Step{{
			Name: `Say "hi" & <bye>`, Description: "line 1\nline 2\tend\r",
			RunCommandLine: &tasksequence.RunCommandLine{CommandLine: " echo 'a'\r\n\tb > c "},
		}}}, doc(
			`  <step type="SMS_TaskSequence_RunCommandLineAction" name="Say &quot;hi&quot; &amp; &lt;bye&gt;" description="line 1&#xA;line 2&#x9;end&#xD;">`,
			`    <defaultVarList>`,
			"      <variable name=\"CommandLine\" property=\"CommandLine\"> echo 'a'&#xD;\n\tb &gt; c </variable>",
			`    </defaultVarList>`,
			`  </step>`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := tasksequence.ExportXML(c.seq)
			if err != nil {
				t.Fatalf("ExportXML: %v", err)
			}
			if string(b) != c.want {
				t.Errorf("ExportXML:\n%s\nwant:\n%s", b, c.want)
			}
			got, err := tasksequence.ImportXML([]byte(c.want))
			if err != nil {
				t.Fatalf("ImportXML: %v", err)
			}
			if want := normalize(c.seq); !reflect.DeepEqual(got, want) {
				t.Errorf("ImportXML = %s, want %s", dump(got), dump(want))
			}
		})
	}
}

// dump formats a sequence with its pointers followed, for failures.
func dump(s *tasksequence.Sequence) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version %q", s.SchemaVersion)
	s.Walk(func(p tasksequence.Path, st *tasksequence.Step) bool {
		fmt.Fprintf(&b, "\n  %s %+v", p, *st)
		for _, v := range []any{st.Condition, st.InstallSoftware, st.InstallUpdates, st.RunCommandLine, st.Restart, st.SetVariable} {
			if !reflect.ValueOf(v).IsNil() {
				fmt.Fprintf(&b, " %+v", v)
			}
		}
		return true
	})
	return b.String()
}

// TestImportXMLReads checks what ImportXML accepts beyond what ExportXML
// writes: comments, CDATA, "false", a missing description, elements in
// another order, exact whitespace in values.
func TestImportXMLReads(t *testing.T) {
	in := `<?xml version="1.0"?>
<!-- exported by hand -->
<sequence version="3.00">
  <group name="G" disable="false" continueOnError="false">
    <step type="SMS_TaskSequence_SetVariableAction" name="Set" description="d">
      <defaultVarList>
        <!-- the value keeps its spaces -->
        <variable property="VariableValue" name="ignored"><![CDATA[ a<b ]]>&amp;c </variable>
        <variable property="VariableName">Role</variable>
      </defaultVarList>
      <condition><expression type="SMS_TaskSequence_FileConditionExpression"><variable name="Operator">exists</variable><variable name="Path">C:\x</variable></expression></condition>
    </step>
    <condition>
      <operator type="or"><expression type="SMS_TaskSequence_OSConditionExpression"><variable name="Operator">less</variable><variable name="Value">6.1</variable></expression></operator>
    </condition>
  </group>
</sequence>`
	got, err := tasksequence.ImportXML([]byte(in))
	if err != nil {
		t.Fatalf("ImportXML: %v", err)
	}
	fileCond := tasksequence.FileExists(`C:\x`, true)
	want := &tasksequence.Sequence{SchemaVersion: "3.00", Steps: []tasksequence.Step{{
		Name:      "G",
		Condition: tasksequence.Any(tasksequence.OSIs("", tasksequence.Less, "6.1")),
		Group: &tasksequence.Group{Steps: []tasksequence.Step{{
			Name: "Set", Description: "d", Condition: &fileCond,
			SetVariable: &tasksequence.SetVariable{Name: "Role", Value: " a<b &c "},
		}}},
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ImportXML = %s\nwant %s", dump(got), dump(want))
	}
}

// TestImportXMLErrors: each problem of a document is a ValidationError
// naming the step's path and, in the rule, the step; document-level
// problems name the Sequence. No sequence comes back.
func TestImportXMLErrors(t *testing.T) {
	seq := func(steps ...string) string {
		return `<sequence version="3.00">` + strings.Join(steps, "") + `</sequence>`
	}
	step := func(attrs, body string) string {
		return `<step type="SMS_TaskSequence_RunCommandLineAction" name="Run"` + attrs + `>` + body + `</step>`
	}
	vars := func(vs ...string) string {
		return `<defaultVarList>` + strings.Join(vs, "") + `</defaultVarList>`
	}
	cmd := `<variable name="CommandLine" property="CommandLine">cmd</variable>`
	okStep := step("", vars(cmd))
	cond := func(nodes string) string { return step("", `<condition>`+nodes+`</condition>`+vars(cmd)) }
	varExpr := func(fields string) string {
		return `<expression type="SMS_TaskSequence_VariableConditionExpression">` + fields + `</expression>`
	}
	nested := func(depth int, inner string) string {
		return strings.Repeat(`<group name="G">`, depth) + inner + strings.Repeat(`</group>`, depth)
	}
	cases := []struct {
		name  string
		in    string
		field string
		rules []string
	}{
		{"empty", ``, "Sequence", []string{"well-formed XML"}},
		{"truncated", `<sequence version="3.00"><step`, "Sequence", []string{"well-formed XML: XML syntax error"}},
		{"mismatched tags", `<sequence version="3.00"></group>`, "Sequence", []string{"well-formed XML"}},
		{"two document elements", seq() + seq(), "Sequence", []string{"well-formed XML", "one document element"}},
		{"text after the document", seq() + "x", "Sequence", []string{"well-formed XML", "text outside"}},
		{"undeclared entity", `<sequence version="3.00">&foo;</sequence>`, "Sequence", []string{"well-formed XML", "&foo;"}},
		{"not a sequence", `<tasksequence version="3.00"/>`, "Sequence", []string{"<sequence>", "<tasksequence>"}},
		{"no version", `<sequence>` + okStep + `</sequence>`, "Sequence", []string{"version", "line 1"}},
		{"unknown sequence attribute", `<sequence version="3.00" packageID="CEN00001"/>`, "Sequence", []string{"unknown attribute packageID"}},
		{"unknown sequence element", seq(okStep, `<globalVarList/>`), "Sequence", []string{"unknown element <globalVarList>"}},
		{"text in the sequence", seq("hello"), "Sequence", []string{"holds text"}},
		{"missing type", seq(`<step name="Run">` + vars(cmd) + `</step>`), "Steps[0]", []string{`step "Run"`, "type attribute"}},
		{"unknown step type", seq(okStep, `<step type="SMS_TaskSequence_ApplyOperatingSystemAction" name="Apply"/>`), "Steps[1]",
			[]string{`step "Apply"`, `unknown step type "SMS_TaskSequence_ApplyOperatingSystemAction"`}},
		{"group as a step type", seq(`<step type="SMS_TaskSequence_Group" name="G"/>`), "Steps[0]", []string{`step "G"`, "<group> element"}},
		{"missing name", seq(`<step type="SMS_TaskSequence_RunCommandLineAction">` + vars(cmd) + `</step>`), "Steps[0]", []string{`step ""`, "name attribute"}},
		{"unknown step attribute", seq(step(` runIn="WinPEandFullOS"`, vars(cmd))), "Steps[0]", []string{`step "Run"`, "unknown attribute runIn"}},
		{"namespaced attribute", seq(step(` x:y="1"`, vars(cmd))), "Steps[0]", []string{`step "Run"`, "unknown attribute x:y"}},
		{"attribute twice", seq(step(` description="a" description="b"`, vars(cmd))), "Steps[0]", []string{`step "Run"`, "description given twice"}},
		{"bad disable", seq(step(` disable="yes"`, vars(cmd))), "Steps[0]", []string{`step "Run"`, `disable is "true" or "false", not "yes"`}},
		{"bad continueOnError", seq(step(` continueOnError="TRUE"`, vars(cmd))), "Steps[0]", []string{`step "Run"`, "continueOnError"}},
		{"fractional timeout", seq(step(` timeout="1.5"`, vars(cmd))), "Steps[0]", []string{`step "Run"`, "timeout", "whole seconds", `"1.5"`}},
		{"negative timeout", seq(step(` timeout="-1"`, vars(cmd))), "Steps[0]", []string{`step "Run"`, "timeout", "whole seconds"}},
		{"huge timeout", seq(step(` timeout="9223372037"`, vars(cmd))), "Steps[0]", []string{`step "Run"`, "timeout", "9223372036"}},
		{"group timeout", seq(`<group name="G" timeout="10"/>`), "Steps[0]", []string{`step "G"`, "unknown attribute timeout"}},
		{"success codes elsewhere", seq(`<step type="SMS_TaskSequence_InstallUpdateAction" name="U" successCodeList="0">` +
			`<defaultVarList><variable property="Target">All</variable></defaultVarList></step>`), "Steps[0]",
			[]string{`step "U"`, "successCodeList belongs to Run Command Line steps"}},
		{"bad success code", seq(step(` successCodeList="0 x"`, vars(cmd))), "Steps[0]", []string{`step "Run"`, `successCodeList`, `"x"`}},
		{"unknown property", seq(okStep, `<group name="G">`+step("", vars(cmd, `<variable name="Foo" property="Foo">1</variable>`))+`</group>`),
			"Steps[1].Group.Steps[0]", []string{`step "Run"`, `unknown property "Foo"`, "CommandLine, WorkingDirectory, PackageID"}},
		{"property twice", seq(step("", vars(cmd, cmd))), "Steps[0]", []string{`step "Run"`, "property CommandLine given twice"}},
		{"variable without property", seq(step("", vars(cmd, `<variable name="WorkingDirectory">bin</variable>`))), "Steps[0]",
			[]string{`step "Run"`, "property attribute"}},
		{"missing required property", seq(step("", vars(`<variable property="WorkingDirectory">bin</variable>`))), "Steps[0]",
			[]string{`step "Run"`, "required property CommandLine is missing"}},
		{"missing defaultVarList", seq(`<step type="SMS_TaskSequence_InstallUpdateAction" name="U"/>`), "Steps[0]",
			[]string{`step "U"`, "required property Target"}},
		{"bad update target", seq(`<step type="SMS_TaskSequence_InstallUpdateAction" name="U"><defaultVarList><variable property="Target">Some</variable></defaultVarList></step>`),
			"Steps[0]", []string{`step "U"`, "property Target", `"Mandatory" or "All"`}},
		{"bad restart target", seq(`<step type="SMS_TaskSequence_RebootAction" name="R"><defaultVarList><variable property="Target">CD</variable></defaultVarList></step>`),
			"Steps[0]", []string{`step "R"`, "property Target", `"HD"`, `"WinPE"`}},
		{"bad message timeout", seq(`<step type="SMS_TaskSequence_RebootAction" name="R"><defaultVarList><variable property="Target">HD</variable>` +
			`<variable property="MessageTimeout">1m</variable></defaultVarList></step>`), "Steps[0]", []string{`step "R"`, "MessageTimeout", "whole seconds"}},
		{"unknown element in a step", seq(step("", `<action>smsswd.exe</action>`+vars(cmd))), "Steps[0]", []string{`step "Run"`, "unknown element <action>"}},
		{"unknown element in a group", seq(`<group name="G"><defaultVarList/></group>`), "Steps[0]", []string{`step "G"`, "unknown element <defaultVarList> in <group>"}},
		{"unknown element in a defaultVarList", seq(step("", vars(cmd, `<value/>`))), "Steps[0]", []string{`step "Run"`, "unknown element <value>"}},
		{"two defaultVarLists", seq(step("", vars(cmd)+vars())), "Steps[0]", []string{`step "Run"`, "at most one <defaultVarList>"}},
		{"element in a variable", seq(step("", vars(`<variable property="CommandLine">cmd<b/></variable>`))), "Steps[0]", []string{`step "Run"`, "<b> in <variable>", "text only"}},
		{"text in a step", seq(step("", "hello"+vars(cmd))), "Steps[0]", []string{`step "Run"`, "<step> holds text"}},
		{"two conditions", seq(step("", `<condition>`+varExpr(`<variable name="Variable">A</variable><variable name="Operator">exists</variable>`)+`</condition>`+
			`<condition>`+varExpr(`<variable name="Variable">A</variable><variable name="Operator">exists</variable>`)+`</condition>`+vars(cmd))),
			"Steps[0]", []string{`step "Run"`, "at most one <condition>"}},
		{"empty condition", seq(cond(``)), "Steps[0]", []string{`step "Run"`, "exactly one <operator> or <expression>, not 0"}},
		{"two condition nodes", seq(cond(`<operator type="and"/><operator type="or"/>`)), "Steps[0]", []string{`step "Run"`, "not 2"}},
		{"unknown operator", seq(cond(`<operator type="xor"/>`)), "Steps[0]", []string{`step "Run"`, `"and", "or" or "not", not "xor"`}},
		{"unknown condition element", seq(cond(`<operator type="and"><wmi/></operator>`)), "Steps[0]", []string{`step "Run"`, "unknown element <wmi>"}},
		{"unknown expression type", seq(cond(`<expression type="SMS_TaskSequence_WMIConditionExpression"/>`)), "Steps[0]",
			[]string{`step "Run"`, `unknown expression type "SMS_TaskSequence_WMIConditionExpression"`}},
		{"unknown expression field", seq(cond(varExpr(`<variable name="Variable">A</variable><variable name="Operator">exists</variable><variable name="Path">x</variable>`))),
			"Steps[0]", []string{`step "Run"`, `unknown field "Path"`}},
		{"expression field twice", seq(cond(varExpr(`<variable name="Variable">A</variable><variable name="Variable">B</variable><variable name="Operator">exists</variable>`))),
			"Steps[0]", []string{`step "Run"`, "field Variable given twice"}},
		{"missing operator", seq(cond(varExpr(`<variable name="Variable">A</variable>`))), "Steps[0]", []string{`step "Run"`, "needs the field Operator"}},
		{"bad operator", seq(cond(varExpr(`<variable name="Variable">A</variable><variable name="Operator">like</variable>`))), "Steps[0]",
			[]string{`step "Run"`, "Operator", `"equals"`}},
		{"groups too deep", seq(nested(tasksequence.MaxDepth, okStep)), tasksequence.Path(make([]int, tasksequence.MaxDepth+1)).String(),
			[]string{`step "Run"`, fmt.Sprintf("groups nest at most %d deep", tasksequence.MaxDepth)}},
		{"conditions too deep", seq(cond(strings.Repeat(`<operator type="not">`, tasksequence.MaxDepth+1) +
			varExpr(`<variable name="Variable">A</variable><variable name="Operator">exists</variable>`) + strings.Repeat(`</operator>`, tasksequence.MaxDepth+1))),
			"Steps[0]", []string{`step "Run"`, fmt.Sprintf("conditions nest at most %d deep", tasksequence.MaxDepth)}},
		{"elements too deep", strings.Repeat("<a>", 200) + strings.Repeat("</a>", 200), "Sequence", []string{"elements nest at most"}},
		{"too many steps", seq(strings.Repeat(okStep, tasksequence.MaxSteps+1)), "Sequence.Steps", []string{fmt.Sprintf("at most %d groups and steps", tasksequence.MaxSteps)}},
		{"too many elements", seq(step("", vars(cmd, strings.Repeat(`<v/>`, 100*tasksequence.MaxSteps)))), "Sequence", []string{"at most 100000 elements"}},
		{"too large", seq(`<!--` + strings.Repeat("x", tasksequence.MaxXMLSize) + `-->`), "Sequence", []string{"at most 4194304 bytes"}},
		// The document reads cleanly; Validate finds the problem.
		{"validate: version", `<sequence version="2.00"/>`, "Sequence.SchemaVersion", []string{"3.00"}},
		{"validate: read-only variable", seq(`<step type="SMS_TaskSequence_SetVariableAction" name="Set"><defaultVarList>` +
			`<variable property="VariableName">_SMSTSLastActionRetCode</variable><variable property="VariableValue">0</variable></defaultVarList></step>`),
			"Steps[0].SetVariable.Name", []string{`step "Set"`, "read-only"}},
		{"validate: empty operator", seq(cond(`<operator type="and"/>`)), "Steps[0].Condition.Operands", []string{`step "Run"`, "at least one operand"}},
		{"validate: empty command line", seq(step("", vars(`<variable property="CommandLine"> </variable>`))), "Steps[0].RunCommandLine.CommandLine",
			[]string{`step "Run"`, "required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := tasksequence.ImportXML([]byte(c.in))
			if got != nil {
				t.Errorf("ImportXML returned a sequence with the error %v", err)
			}
			if err == nil {
				t.Fatal("ImportXML: no error")
			}
			wantProblem(t, err, c.field, c.rules...)
		})
	}
}

// Every problem of a document is reported at once, each at its step.
func TestImportXMLReportsEveryProblem(t *testing.T) {
	in := `<sequence version="3.00">
<step type="SMS_TaskSequence_RunCommandLineAction" name="A" timeout="x"><defaultVarList><variable property="CommandLine">c</variable></defaultVarList></step>
<group name="G">
  <step type="Nope" name="B"/>
  <step type="SMS_TaskSequence_SetVariableAction" name="C"><defaultVarList><variable property="VariableName">V</variable></defaultVarList></step>
</group>
</sequence>`
	_, err := tasksequence.ImportXML([]byte(in))
	ps := problems(t, err)
	want := []string{"Steps[0]", "Steps[1].Group.Steps[0]", "Steps[1].Group.Steps[1]"}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d: %v", len(ps), len(want), err)
	}
	for i, p := range ps {
		if p.Field != want[i] {
			t.Errorf("problem %d at %q, want %q: %v", i, p.Field, want[i], p)
		}
	}
	for i, line := range []string{"line 2", "line 4", "line 5"} {
		if !strings.Contains(ps[i].Rule, line) {
			t.Errorf("problem %d: rule %q does not say %q", i, ps[i].Rule, line)
		}
	}
}

// The first hundred problems are listed, the rest counted.
func TestImportXMLCapsProblems(t *testing.T) {
	in := `<sequence version="3.00"><group name="G">` + strings.Repeat(`<x/>`, 150) + `</group></sequence>`
	_, err := tasksequence.ImportXML([]byte(in))
	ps := problems(t, err)
	if len(ps) != 101 {
		t.Fatalf("%d problems, want 100 and one counting the rest", len(ps))
	}
	for _, p := range ps[:100] {
		if p.Field != "Steps[0]" || !strings.Contains(p.Rule, "unknown element <x>") {
			t.Fatalf("problem %v", p)
		}
	}
	if last := ps[100]; last.Field != "Sequence" || last.Rule != "50 more problems, not listed" {
		t.Errorf("last problem %v", last)
	}
}

// TestExportXMLErrors: ExportXML validates first, and refuses what the
// form cannot carry, naming the field.
func TestExportXMLErrors(t *testing.T) {
	one := func(st tasksequence.Step) *tasksequence.Sequence {
		return &tasksequence.Sequence{Steps: []tasksequence.Step{st}}
	}
	withTimeout := runStep("Run", "cmd")
	withTimeout.Timeout = 1500 * time.Millisecond
	stray := runStep("Run", "cmd")
	stray.Condition = tasksequence.Any(tasksequence.FileExists("x", true), tasksequence.VariableIs("A", tasksequence.Exists, ""))
	stray.Condition.Operands[0].Value = "lost"
	stray.Condition.Operands[1].Platform = "x64"
	strayOperator := runStep("Run", "cmd")
	strayOperator.Condition = tasksequence.None(tasksequence.FileExists("x", true))
	strayOperator.Condition.Compare = tasksequence.Equals
	strayOperator.Condition.Variable = "A"
	cases := []struct {
		name   string
		seq    *tasksequence.Sequence
		fields []string
		rule   string
	}{
		{"nil", nil, []string{"Sequence"}, "required"},
		{"invalid", one(runStep("", "cmd")), []string{"Steps[0].Name"}, "1 to 100 characters"},
		{"fractional timeout", one(withTimeout), []string{"Steps[0].Timeout"}, "whole seconds"},
		{"fractional message time-out", one(tasksequence.Step{Name: "R", Restart: &tasksequence.RestartComputer{NotifyTimeout: time.Minute + time.Millisecond}}),
			[]string{"Steps[0].Restart.NotifyTimeout"}, "whole seconds"},
		{"control character", one(runStep("Run\x00", "cmd\x1b")), []string{"Steps[0].Name", "Steps[0].RunCommandLine.CommandLine"}, "XML 1.0"},
		{"invalid UTF-8", one(tasksequence.Step{Name: "S", Description: "\xff", SetVariable: &tasksequence.SetVariable{Name: "A", Value: "\xfe"}}),
			[]string{"Steps[0].Description", "Steps[0].SetVariable.Value"}, "UTF-8"},
		{"control character in a condition", one(tasksequence.Step{Name: "S", Condition: tasksequence.All(tasksequence.FileExists("a\x01", true)),
			SetVariable: &tasksequence.SetVariable{Name: "A"}}), []string{"Steps[0].Condition.Operands[0].Path"}, "XML 1.0"},
		{"fields a condition does not use", one(stray), []string{"Steps[0].Condition.Operands[0].Value", "Steps[0].Condition.Operands[1].Platform"}, "conditions do not use"},
		{"fields an operator does not use", one(strayOperator), []string{"Steps[0].Condition.Compare", "Steps[0].Condition.Variable"}, "None conditions do not use"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := tasksequence.ExportXML(c.seq)
			if b != nil {
				t.Errorf("ExportXML returned %d bytes with the error", len(b))
			}
			if got := fields(t, err); !reflect.DeepEqual(got, c.fields) {
				t.Fatalf("problems at %q, want %q: %v", got, c.fields, err)
			}
			for _, p := range problems(t, err) {
				if !strings.Contains(p.Rule, c.rule) {
					t.Errorf("rule %q does not contain %q", p.Rule, c.rule)
				}
			}
		})
	}
}

// ImportXML(ExportXML(s)) is s for every valid s, and the document
// ExportXML writes is a fixed point.
func TestXMLRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSequence.Draw(t, "sequence")
		b, err := tasksequence.ExportXML(s)
		if err != nil {
			t.Fatalf("ExportXML: %v", err)
		}
		got, err := tasksequence.ImportXML(b)
		if err != nil {
			t.Fatalf("ImportXML: %v\n%s", err, b)
		}
		if want := normalize(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %s\nwant %s\n%s", dump(got), dump(want), b)
		}
		again, err := tasksequence.ExportXML(got)
		if err != nil || string(again) != string(b) {
			t.Fatalf("ExportXML(ImportXML(b)) differs from b (%v):\n%s\n%s", err, again, b)
		}
	})
}

// ImportXML never panics, and whatever it accepts is valid and exports.
func TestImportXMLAnyInput(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := tasksequence.ExportXML(genSequence.Draw(t, "sequence"))
		if err != nil {
			t.Fatalf("ExportXML: %v", err)
		}
		// Damage the document: cut it, or replace a byte.
		switch i := rapid.IntRange(0, len(b)-1).Draw(t, "at"); rapid.IntRange(0, 1).Draw(t, "damage") {
		case 0:
			b = b[:i]
		default:
			b[i] = rapid.SampledFrom([]byte(`<>/"=& a1.`)).Draw(t, "byte")
		}
		s, err := tasksequence.ImportXML(b)
		if err != nil {
			if s != nil {
				t.Fatalf("a sequence with the error %v", err)
			}
			if !errors.Is(err, consign.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			problems(t, err)
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ImportXML accepted an invalid sequence: %v", err)
		}
		if _, err := tasksequence.ExportXML(s); err != nil {
			t.Fatalf("ImportXML accepted what ExportXML refuses: %v", err)
		}
	})
}
