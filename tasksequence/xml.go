package tasksequence

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consign/consign"
)

// The XML form of a task sequence
//
// ExportXML writes, and ImportXML reads, a Sequence as a document modelled
// on ConfigMgr's own sequence XML: what SMS_TaskSequencePackage's
// GetSequence returns and ImportSequence takes (§1.10). The form is exact
// in both directions: ImportXML(ExportXML(s)) gives back s, and an element,
// attribute, property or value ImportXML does not know is an error, never
// ignored, so nothing in a document is silently lost.
//
// Example (a group that runs only on kiosks, holding one Run Command Line
// step):
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<sequence version="3.00">
//	  <group name="Install apps" description="" disable="true" continueOnError="true">
//	    <condition>
//	      <operator type="and">
//	        <expression type="SMS_TaskSequence_VariableConditionExpression">
//	          <variable name="Variable">Role</variable>
//	          <variable name="Operator">equals</variable>
//	          <variable name="Value">Kiosk</variable>
//	        </expression>
//	      </operator>
//	    </condition>
//	    <step type="SMS_TaskSequence_RunCommandLineAction" name="Run" description="" continueOnError="true" timeout="3600" successCodeList="0 3010">
//	      <defaultVarList>
//	        <variable name="CommandLine" property="CommandLine">cmd /c echo hi</variable>
//	        <variable name="WorkingDirectory" property="WorkingDirectory">bin</variable>
//	        <variable name="PackageID" property="PackageID">ABC00012</variable>
//	      </defaultVarList>
//	    </step>
//	  </group>
//	</sequence>
//
// Document. UTF-8 text, at most MaxXMLSize (4 MiB). ExportXML starts it
// with the XML declaration and indents it by two spaces; ImportXML accepts
// any well-formed document of this shape (a declaration, comments and
// processing instructions are allowed; whitespace between elements is
// ignored). Character data and attribute values are escaped as XML 1.0
// requires; ExportXML writes carriage returns, and in attribute values tabs
// and newlines, as character references so that a parser gives them back
// unchanged, and refuses strings XML 1.0 cannot carry (other control
// characters, invalid UTF-8). Text is taken exactly as written, leading and
// trailing whitespace included.
//
// <sequence version="3.00"> is the document element: the Sequence.
//   - version (required) is SchemaVersion. ExportXML writes "3.00"
//     (DefaultSchemaVersion) for an empty SchemaVersion, and ImportXML keeps
//     what it reads, so a sequence read from XML has SchemaVersion "3.00":
//     Validate accepts no other.
//   - Children: <group> and <step> elements, the sequence's Steps in order.
//
// <group> is a Step with a Group; <step> is a Step with one action. Their
// attributes:
//   - name (required): Name.
//   - description: Description. ExportXML always writes it; a missing one
//     reads as empty.
//   - disable: "true" when Disabled (SMS_TaskSequence_Step.Enabled is
//     false). ExportXML omits it otherwise; ImportXML also reads "false".
//   - continueOnError: "true" when ContinueOnError; likewise.
//   - type (<step> only, required): the action's ConfigMgr class, which is
//     Kind().String():
//     SMS_TaskSequence_InstallSoftwareAction (Install Software),
//     SMS_TaskSequence_InstallUpdateAction (Install Software Updates),
//     SMS_TaskSequence_RunCommandLineAction (Run Command Line),
//     SMS_TaskSequence_RebootAction (Restart Computer) or
//     SMS_TaskSequence_SetVariableAction (Set Task Sequence Variable).
//   - timeout (<step> only): Timeout in whole seconds, as ConfigMgr stores
//     SMS_TaskSequence_Action.Timeout; omitted when zero (no limit).
//     ExportXML refuses a Timeout that is not a whole number of seconds.
//   - successCodeList (Run Command Line steps only): SuccessCodes, decimal
//     and separated by spaces ("0 3010"); omitted when SuccessCodes is
//     empty, which means the default success codes, 0 and 3010.
//
// Children of a <group>: at most one <condition>, and the group's Steps in
// order as <group> and <step> elements. Children of a <step>: at most one
// <condition> and one <defaultVarList>.
//
// <defaultVarList> holds the action's properties, each as
// <variable name="N" property="P">value</variable>. ImportXML reads the
// property attribute, P; name, N, is the task sequence variable ConfigMgr
// associates with the property, which ExportXML writes for people and
// ImportXML does not check. The exact variable names ConfigMgr 2007 uses
// are [UNVERIFIED]. A required property is always written (possibly
// empty) and must be present; an optional one is written only when it is
// not empty. Each property may appear once. The properties per type, as
// P (N):
//   - Install Software: PackageID (PackageID) and ProgramName (ProgramName),
//     both required.
//   - Install Software Updates: Target (SMSInstallUpdateTarget), required:
//     "Mandatory" (UpdatesMandatory) or "All" (UpdatesAll).
//   - Run Command Line: CommandLine (CommandLine), required;
//     WorkingDirectory (WorkingDirectory) and PackageID (PackageID),
//     optional.
//   - Restart Computer: Target (SMSRebootTarget), required: "HD" (the
//     installed operating system, RestartToInstalledOS) or "WinPE" (the
//     boot image, RestartToBootImage); Message (SMSRebootMessage) and
//     MessageTimeout (SMSRebootTimeout), NotifyTimeout in whole seconds,
//     optional.
//   - Set Task Sequence Variable: VariableName (VariableName) and
//     VariableValue (VariableValue), both required; the value may be empty.
//
// <condition> is a Step's Condition and holds exactly one node, an
// <operator> or an <expression>:
//   - <operator type="and|or|not"> holds its operands as <operator> and
//     <expression> elements: "and" is OpAll, "or" is OpAny and "not" is
//     OpNone, true when none of its operands is (with one operand: NOT).
//   - <expression type="T"> holds its fields as
//     <variable name="F">value</variable>, each at most once. Operator is
//     the Compare as Compare.String() writes it ("exists", "notExists",
//     "equals", "notEquals", "greater", "greaterEqual", "less",
//     "lessEqual"). The types and their fields:
//     SMS_TaskSequence_VariableConditionExpression (OpVariable): Variable
//     and Operator, required; Value, optional.
//     SMS_TaskSequence_FileConditionExpression (OpFile): Path and Operator,
//     required.
//     SMS_TaskSequence_OSConditionExpression (OpOS): Operator, required;
//     Platform and Value (the Windows version), optional. ConfigMgr itself
//     tests the operating system with a WMI query expression; this
//     expression type is Consign's structured stand-in for it.
//
// Limits. Conditions and groups each nest at most MaxDepth deep, and a
// sequence holds at most MaxSteps groups and steps; ImportXML rejects a
// document beyond these limits, larger than MaxXMLSize or of more than
// 100 000 elements (a hundred per group or step on average), as it reads
// it, without building the sequence.
//
// Errors. ImportXML returns no Sequence when it reports an error. A
// document that is not well-formed XML is a *consign.ValidationError with
// Field "Sequence" and Rule "well-formed XML: " and the parser's message; so
// are problems of the <sequence> element itself and of the document's size
// and nesting (too many groups and steps: Field "Sequence.Steps"). A problem of a group or
// step (unknown element, attribute, step type, property or expression
// field, a value that does not parse, a missing required attribute or
// property) is a *consign.ValidationError whose Field is the step's path,
// e.g. "Steps[1].Group.Steps[0]", and whose Rule names the step and the
// line, e.g. `step "Run": unknown property "Foo" (line 12)`. Such
// problems are reported together (the first hundred one by one, the rest
// counted); when there is none, the sequence read is checked with Validate
// and its error, if any, is returned.

// MaxXMLSize is the largest document ImportXML reads: 4 MiB.
const MaxXMLSize = 4 << 20

// maxElements bounds the elements of a document: a hundred per group or
// step on average, a guard against documents that cost far more to read
// than their size suggests [UNVERIFIED: ConfigMgr records no limit].
const maxElements = 100 * MaxSteps

// maxImportProblems bounds the problems ImportXML reports one by one; the
// rest are counted in one more.
const maxImportProblems = 100

// maxElementDepth bounds how deeply the elements of a document nest: the
// deepest valid document has <sequence>, MaxDepth-1 groups, a step, its
// <condition>, MaxDepth+1 nested condition nodes and a <variable>.
const maxElementDepth = 2*MaxDepth + 4

// Expression types (the <expression type> attribute).
const (
	exprVariable = "SMS_TaskSequence_VariableConditionExpression"
	exprFile     = "SMS_TaskSequence_FileConditionExpression"
	// exprOS is Consign's structured stand-in for ConfigMgr's WMI query
	// expression, which is how ConfigMgr tests the operating system.
	exprOS = "SMS_TaskSequence_OSConditionExpression"
)

// Operator types (the <operator type> attribute).
var operatorTypes = map[Op]string{OpAll: "and", OpAny: "or", OpNone: "not"}

// stepProperty is one property of an action's <defaultVarList>.
type stepProperty struct {
	// prop is the property attribute, which ImportXML reads.
	prop string
	// field is the Step field that holds it, e.g. "InstallSoftware.Program".
	field string
	// variable is the name attribute: the task sequence variable ConfigMgr
	// associates with the property [UNVERIFIED: exact ConfigMgr names].
	variable string
	// required properties are always written and must be read; optional
	// ones are written only when not empty.
	required bool
	get      func(st *Step) string
	set      func(st *Step, v string) error
}

// stepProperties lists each action type's properties in the order
// ExportXML writes them.
var stepProperties = map[Kind][]stepProperty{
	KindInstallSoftware: {
		{prop: "PackageID", field: "InstallSoftware.PackageID", variable: "PackageID", required: true,
			get: func(st *Step) string { return string(st.InstallSoftware.PackageID) },
			set: func(st *Step, v string) error { st.InstallSoftware.PackageID = consign.ObjectID(v); return nil }},
		{prop: "ProgramName", field: "InstallSoftware.Program", variable: "ProgramName", required: true,
			get: func(st *Step) string { return st.InstallSoftware.Program },
			set: func(st *Step, v string) error { st.InstallSoftware.Program = v; return nil }},
	},
	KindInstallUpdates: {
		{prop: "Target", field: "InstallUpdates.Scope", variable: "SMSInstallUpdateTarget", required: true,
			get: func(st *Step) string { return st.InstallUpdates.Scope.String() },
			set: func(st *Step, v string) error {
				switch v {
				case UpdatesMandatory.String():
					st.InstallUpdates.Scope = UpdatesMandatory
				case UpdatesAll.String():
					st.InstallUpdates.Scope = UpdatesAll
				default:
					return errors.New(`"Mandatory" or "All"`)
				}
				return nil
			}},
	},
	KindRunCommandLine: {
		{prop: "CommandLine", field: "RunCommandLine.CommandLine", variable: "CommandLine", required: true,
			get: func(st *Step) string { return st.RunCommandLine.CommandLine },
			set: func(st *Step, v string) error { st.RunCommandLine.CommandLine = v; return nil }},
		{prop: "WorkingDirectory", field: "RunCommandLine.WorkingDirectory", variable: "WorkingDirectory",
			get: func(st *Step) string { return st.RunCommandLine.WorkingDirectory },
			set: func(st *Step, v string) error { st.RunCommandLine.WorkingDirectory = v; return nil }},
		{prop: "PackageID", field: "RunCommandLine.PackageID", variable: "PackageID",
			get: func(st *Step) string { return string(st.RunCommandLine.PackageID) },
			set: func(st *Step, v string) error { st.RunCommandLine.PackageID = consign.ObjectID(v); return nil }},
	},
	KindRestart: {
		{prop: "Target", field: "Restart.Target", variable: "SMSRebootTarget", required: true,
			get: func(st *Step) string {
				if st.Restart.Target == RestartToBootImage {
					return "WinPE"
				}
				return "HD"
			},
			set: func(st *Step, v string) error {
				switch v {
				case "HD":
					st.Restart.Target = RestartToInstalledOS
				case "WinPE":
					st.Restart.Target = RestartToBootImage
				default:
					return errors.New(`"HD" (the installed operating system) or "WinPE" (the boot image)`)
				}
				return nil
			}},
		{prop: "Message", field: "Restart.Message", variable: "SMSRebootMessage",
			get: func(st *Step) string { return st.Restart.Message },
			set: func(st *Step, v string) error { st.Restart.Message = v; return nil }},
		{prop: "MessageTimeout", field: "Restart.NotifyTimeout", variable: "SMSRebootTimeout",
			get: func(st *Step) string { return formatSeconds(st.Restart.NotifyTimeout) },
			set: func(st *Step, v string) (err error) { st.Restart.NotifyTimeout, err = parseSeconds(v); return err }},
	},
	KindSetVariable: {
		{prop: "VariableName", field: "SetVariable.Name", variable: "VariableName", required: true,
			get: func(st *Step) string { return st.SetVariable.Name },
			set: func(st *Step, v string) error { st.SetVariable.Name = v; return nil }},
		{prop: "VariableValue", field: "SetVariable.Value", variable: "VariableValue", required: true,
			get: func(st *Step) string { return st.SetVariable.Value },
			set: func(st *Step, v string) error { st.SetVariable.Value = v; return nil }},
	},
}

// exprField is one field of an <expression>.
type exprField struct {
	// name is the <variable name> attribute; field the Condition field.
	name, field string
	required    bool
	get         func(c *Condition) string
	set         func(c *Condition, v string) error
}

var (
	operatorField = exprField{name: "Operator", field: "Compare", required: true,
		get: func(c *Condition) string { return c.Compare.String() },
		set: func(c *Condition, v string) (err error) {
			c.Compare, err = ParseCompare(v)
			if err != nil {
				return errors.New(`one of "exists", "notExists", "equals", "notEquals", "greater", "greaterEqual", "less" and "lessEqual"`)
			}
			return nil
		}}
	valueField = exprField{name: "Value", field: "Value",
		get: func(c *Condition) string { return c.Value },
		set: func(c *Condition, v string) error { c.Value = v; return nil }}
)

// expressions describes each expression Op: its type attribute and its
// fields in the order ExportXML writes them.
var expressions = map[Op]struct {
	class  string
	fields []exprField
}{
	OpVariable: {exprVariable, []exprField{
		{name: "Variable", field: "Variable", required: true,
			get: func(c *Condition) string { return c.Variable },
			set: func(c *Condition, v string) error { c.Variable = v; return nil }},
		operatorField,
		valueField,
	}},
	OpFile: {exprFile, []exprField{
		{name: "Path", field: "Path", required: true,
			get: func(c *Condition) string { return c.Path },
			set: func(c *Condition, v string) error { c.Path = v; return nil }},
		operatorField,
	}},
	OpOS: {exprOS, []exprField{
		{name: "Platform", field: "Platform",
			get: func(c *Condition) string { return c.Platform },
			set: func(c *Condition, v string) error { c.Platform = v; return nil }},
		operatorField,
		valueField,
	}},
}

// ExportXML returns s in the XML form documented at the top of xml.go:
// UTF-8, with the XML declaration, indented by two spaces. It validates s
// first and returns Validate's error when s breaks a rule. It also refuses,
// with a *consign.ValidationError naming the field, what the form cannot
// carry: a Timeout or NotifyTimeout that is not a whole number of seconds
// (ConfigMgr stores seconds) and a string with characters XML 1.0 cannot
// hold.
func ExportXML(s *Sequence) ([]byte, error) {
	if s == nil {
		return nil, &consign.ValidationError{Field: "Sequence", Rule: "required"}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var ps consign.Problems
	s.Walk(func(p Path, st *Step) bool {
		checkExportable(&ps, p.String(), st)
		return true
	})
	if err := ps.Err(); err != nil {
		return nil, err
	}
	w := &xmlWriter{}
	w.buf.WriteString(xml.Header)
	version := s.SchemaVersion
	if version == "" {
		version = DefaultSchemaVersion
	}
	w.start("sequence", xmlAttr("version", version))
	for i := range s.Steps {
		w.step(&s.Steps[i])
	}
	w.end("sequence")
	return w.buf.Bytes(), nil
}

// checkExportable adds the problems that keep one step (not the steps it
// contains) of a valid sequence from being written exactly.
func checkExportable(ps *consign.Problems, field string, st *Step) {
	rule := func(r string) string { return fmt.Sprintf("step %q: %s", st.Name, r) }
	text := func(f, v string) {
		ps.Check(xmlString(v), field+"."+f, rule("only characters XML 1.0 can hold: valid UTF-8 without control characters other than tab, newline and carriage return"))
	}
	seconds := func(f string, d time.Duration) {
		if d%time.Second != 0 {
			ps.AddValue(field+"."+f, d.String(), rule("whole seconds: ConfigMgr stores the time in seconds"))
		}
	}
	text("Name", st.Name)
	text("Description", st.Description)
	seconds("Timeout", st.Timeout)
	for _, p := range stepProperties[st.Kind()] {
		text(p.field, p.get(st))
	}
	if st.Restart != nil {
		seconds("Restart.NotifyTimeout", st.Restart.NotifyTimeout)
	}
	if st.Condition != nil {
		checkExportableCondition(ps, field, "Condition", st.Condition, rule, text)
	}
}

// checkExportableCondition checks the condition node c at rel (relative to
// the step's field: "Condition", "Condition.Operands[0]", …) and its
// operands.
func checkExportableCondition(ps *consign.Problems, field, rel string, c *Condition, rule func(string) string, text func(f, v string)) {
	// Fields the Op does not read are refused by Validate, so the form
	// needs no place for them.
	if x, ok := expressions[c.Op]; ok {
		for _, f := range x.fields {
			text(rel+"."+f.field, f.get(c))
		}
	}
	for i := range c.Operands {
		checkExportableCondition(ps, field, fmt.Sprintf("%s.Operands[%d]", rel, i), &c.Operands[i], rule, text)
	}
}

// xmlString reports whether s is valid UTF-8 made of characters XML 1.0
// can hold (its Char production).
func xmlString(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return false
			}
		}
		if !xmlChar(r) {
			return false
		}
	}
	return true
}

func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// xmlWriter writes a document indented by two spaces, one element a line.
// Strings were checked with xmlString.
type xmlWriter struct {
	buf   bytes.Buffer
	depth int
}

func xmlAttr(name, value string) xml.Attr {
	return xml.Attr{Name: xml.Name{Local: name}, Value: value}
}

// open writes the indentation and <name attrs>.
func (w *xmlWriter) open(name string, attrs []xml.Attr) {
	for range w.depth {
		w.buf.WriteString("  ")
	}
	w.buf.WriteString("<" + name)
	for _, a := range attrs {
		w.buf.WriteString(" " + a.Name.Local + `="`)
		w.escape(a.Value, true)
		w.buf.WriteByte('"')
	}
	w.buf.WriteByte('>')
}

// start begins an element that holds elements.
func (w *xmlWriter) start(name string, attrs ...xml.Attr) {
	w.open(name, attrs)
	w.buf.WriteByte('\n')
	w.depth++
}

// end closes what start began.
func (w *xmlWriter) end(name string) {
	w.depth--
	for range w.depth {
		w.buf.WriteString("  ")
	}
	w.buf.WriteString("</" + name + ">\n")
}

// element writes <name attrs>text</name> on a line.
func (w *xmlWriter) element(name, text string, attrs ...xml.Attr) {
	w.open(name, attrs)
	w.escape(text, false)
	w.buf.WriteString("</" + name + ">\n")
}

// escape writes s as character data, or as an attribute value. Carriage
// returns (and in attributes tabs and newlines) are written as character
// references, because a parser would normalise them.
func (w *xmlWriter) escape(s string, attr bool) {
	for _, r := range s {
		switch {
		case r == '&':
			w.buf.WriteString("&amp;")
		case r == '<':
			w.buf.WriteString("&lt;")
		case r == '>':
			w.buf.WriteString("&gt;")
		case r == '\r':
			w.buf.WriteString("&#xD;")
		case attr && r == '"':
			w.buf.WriteString("&quot;")
		case attr && r == '\t':
			w.buf.WriteString("&#x9;")
		case attr && r == '\n':
			w.buf.WriteString("&#xA;")
		default:
			w.buf.WriteRune(r)
		}
	}
}

// step writes st as a <group> or <step> element, with what it holds.
func (w *xmlWriter) step(st *Step) {
	el := "group"
	var attrs []xml.Attr
	if st.Group == nil {
		el = "step"
		attrs = append(attrs, xmlAttr("type", st.Kind().String()))
	}
	attrs = append(attrs, xmlAttr("name", st.Name), xmlAttr("description", st.Description))
	if st.Disabled {
		attrs = append(attrs, xmlAttr("disable", "true"))
	}
	if st.ContinueOnError {
		attrs = append(attrs, xmlAttr("continueOnError", "true"))
	}
	if st.Timeout != 0 {
		attrs = append(attrs, xmlAttr("timeout", formatSeconds(st.Timeout)))
	}
	if rc := st.RunCommandLine; rc != nil && len(rc.SuccessCodes) > 0 {
		codes := make([]string, len(rc.SuccessCodes))
		for i, c := range rc.SuccessCodes {
			codes[i] = strconv.Itoa(c)
		}
		attrs = append(attrs, xmlAttr("successCodeList", strings.Join(codes, " ")))
	}
	w.start(el, attrs...)
	if st.Condition != nil {
		w.start("condition")
		w.condition(st.Condition)
		w.end("condition")
	}
	if st.Group != nil {
		for i := range st.Group.Steps {
			w.step(&st.Group.Steps[i])
		}
	} else {
		w.start("defaultVarList")
		for _, p := range stepProperties[st.Kind()] {
			if v := p.get(st); p.required || v != "" {
				w.element("variable", v, xmlAttr("name", p.variable), xmlAttr("property", p.prop))
			}
		}
		w.end("defaultVarList")
	}
	w.end(el)
}

// condition writes the condition node c, an <operator> or <expression>.
func (w *xmlWriter) condition(c *Condition) {
	if t, ok := operatorTypes[c.Op]; ok {
		w.start("operator", xmlAttr("type", t))
		for i := range c.Operands {
			w.condition(&c.Operands[i])
		}
		w.end("operator")
		return
	}
	e := expressions[c.Op]
	w.start("expression", xmlAttr("type", e.class))
	for _, f := range e.fields {
		if v := f.get(c); f.required || v != "" {
			w.element("variable", v, xmlAttr("name", f.name))
		}
	}
	w.end("expression")
}

// formatSeconds writes d in whole seconds; "" for zero.
func formatSeconds(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return strconv.FormatInt(int64(d/time.Second), 10)
}

// maxSeconds is the largest number of seconds a time.Duration holds.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// parseSeconds reads a whole, non-negative number of seconds.
func parseSeconds(s string) (time.Duration, error) {
	bad := fmt.Errorf("whole seconds, a decimal number from 0 to %d, not %q", maxSeconds, s)
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxSeconds {
		return 0, bad
	}
	return time.Duration(n) * time.Second, nil
}

// ImportXML reads a sequence in the XML form documented at the top of
// xml.go and validates it. Every problem of the document is a
// *consign.ValidationError. Field "Sequence" is for the document as a
// whole: not well-formed XML (Rule "well-formed XML: …"), larger than
// MaxXMLSize, elements nested deeper than a valid sequence's, or a wrong
// <sequence> element; Field "Sequence.Steps" for more than MaxSteps groups
// and steps. Any other problem's Field is the path of its step, e.g.
// "Steps[1].Group.Steps[0]", and its Rule names the step and the line.
// All are reported together. When the document reads cleanly, the
// sequence's Validate error is returned, if any. On error the Sequence is
// nil.
func ImportXML(b []byte) (*Sequence, error) {
	if len(b) > MaxXMLSize {
		return nil, &consign.ValidationError{Field: "Sequence",
			Rule: fmt.Sprintf("a document of at most %d bytes (4 MiB), not %d", MaxXMLSize, len(b))}
	}
	root, err := parseXML(b)
	if err != nil {
		return nil, err
	}
	var im importer
	seq := im.sequence(root)
	if im.dropped > 0 {
		im.ps.Add("Sequence", fmt.Sprintf("%d more problems, not listed", im.dropped))
	}
	if err := im.ps.Err(); err != nil {
		return nil, err
	}
	if err := seq.Validate(); err != nil {
		return nil, err
	}
	return seq, nil
}

// element is one element of a document read by parseXML.
type element struct {
	name  xml.Name
	attrs []xml.Attr
	kids  []*element
	text  []byte // the character data directly inside it, concatenated
	line  int    // where its start tag ends
}

// is reports whether e is the element <name> (without a namespace).
func (e *element) is(name string) bool { return e.name.Space == "" && e.name.Local == name }

// tag formats e's name for messages, e.g. "<step>".
func (e *element) tag() string {
	if e.name.Space != "" {
		return "<" + e.name.Space + ":" + e.name.Local + ">"
	}
	return "<" + e.name.Local + ">"
}

// hasText reports whether e holds character data other than whitespace.
func (e *element) hasText() bool { return len(bytes.TrimSpace(e.text)) > 0 }

// documentError is a problem of the document as a whole.
func documentError(rule string) error {
	return &consign.ValidationError{Field: "Sequence", Rule: rule}
}

// parseXML reads b into a tree of elements, rejecting documents that nest
// more deeply or hold more groups and steps than a valid sequence can
// before the tree grows past those bounds.
func parseXML(b []byte) (*element, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var root *element
	var stack []*element
	steps, elements := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, documentError("well-formed XML: " + err.Error())
		}
		line, _ := d.InputPos()
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, documentError(fmt.Sprintf("well-formed XML: one document element, but <%s> follows it (line %d)", t.Name.Local, line))
			}
			if elements++; elements > maxElements {
				return nil, documentError(fmt.Sprintf("at most %d elements (line %d)", maxElements, line))
			}
			if len(stack) >= maxElementDepth {
				return nil, documentError(fmt.Sprintf("elements nest at most %d deep: groups and conditions each nest at most %d deep (line %d)", maxElementDepth, MaxDepth, line))
			}
			if t.Name.Space == "" && (t.Name.Local == "group" || t.Name.Local == "step") {
				if steps++; steps > MaxSteps {
					return nil, &consign.ValidationError{Field: "Sequence.Steps", Rule: fmt.Sprintf("at most %d groups and steps (line %d)", MaxSteps, line)}
				}
			}
			e := &element{name: t.Name, attrs: t.Attr, line: line}
			if len(stack) == 0 {
				root = e
			} else {
				parent := stack[len(stack)-1]
				parent.kids = append(parent.kids, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, documentError(fmt.Sprintf("well-formed XML: text outside the document element (line %d)", line))
				}
				continue
			}
			top := stack[len(stack)-1]
			top.text = append(top.text, t...)
		}
	}
	if root == nil {
		return nil, documentError("well-formed XML: a document element, <sequence>")
	}
	return root, nil
}

// importer builds a Sequence from a parsed document, collecting every
// problem.
type importer struct {
	ps consign.Problems
	// dropped counts the problems past maxImportProblems.
	dropped int
}

// where says whose problem a message is: the sequence's (step false) or
// the step's at path, named name.
type where struct {
	step bool
	path Path
	name string
}

func (im *importer) add(w where, e *element, format string, args ...any) {
	if im.ps.Len() >= maxImportProblems {
		im.dropped++
		return
	}
	msg := fmt.Sprintf(format, args...) + fmt.Sprintf(" (line %d)", e.line)
	if !w.step {
		im.ps.Add("Sequence", msg)
		return
	}
	im.ps.Add(w.path.String(), fmt.Sprintf("step %q: %s", w.name, msg))
}

// attrs reads e's attributes into the fields allowed, reporting unknown,
// repeated and missing required ones; required names end in "!".
func (im *importer) attrs(w where, e *element, allowed ...string) map[string]string {
	got := make(map[string]string, len(e.attrs))
	for _, a := range e.attrs {
		name := a.Name.Local
		if a.Name.Space != "" {
			name = a.Name.Space + ":" + name
		}
		known := a.Name.Space == "" && (slices.Contains(allowed, name) || slices.Contains(allowed, name+"!"))
		switch _, dup := got[name]; {
		case !known:
			im.add(w, e, "unknown attribute %s of %s", name, e.tag())
		case dup:
			im.add(w, e, "attribute %s given twice", name)
		}
		got[name] = a.Value
	}
	for _, a := range allowed {
		if n, ok := strings.CutSuffix(a, "!"); ok {
			if _, present := got[n]; !present {
				im.add(w, e, "%s needs the %s attribute", e.tag(), n)
			}
		}
	}
	return got
}

// noText reports text directly inside e, where only elements belong.
func (im *importer) noText(w where, e *element) {
	if e.hasText() {
		im.add(w, e, "%s holds text; only elements belong in it", e.tag())
	}
}

func (im *importer) sequence(root *element) *Sequence {
	w := where{}
	if !root.is("sequence") {
		im.add(w, root, "the document element must be <sequence>, not %s", root.tag())
		return nil
	}
	a := im.attrs(w, root, "version!")
	im.noText(w, root)
	seq := &Sequence{SchemaVersion: a["version"]}
	for _, k := range root.kids {
		if k.is("group") || k.is("step") {
			seq.Steps = append(seq.Steps, im.step(k, Path{len(seq.Steps)}))
			continue
		}
		im.add(w, k, "unknown element %s in <sequence>, which holds <group> and <step> elements", k.tag())
	}
	return seq
}

// kindOf returns the action kind whose class is class.
func kindOf(class string) (Kind, bool) {
	for k := KindInstallSoftware; k <= KindSetVariable; k++ {
		if k.String() == class {
			return k, true
		}
	}
	return KindInvalid, false
}

// step reads a <group> or <step> element at path p.
func (im *importer) step(e *element, p Path) Step {
	var st Step
	for _, a := range e.attrs {
		if a.Name.Space == "" && a.Name.Local == "name" {
			st.Name = a.Value
		}
	}
	w := where{step: true, path: p, name: st.Name}
	if len(p) > MaxDepth {
		im.add(w, e, "groups nest at most %d deep", MaxDepth)
		return st
	}
	group := e.is("group")
	var a map[string]string
	if group {
		a = im.attrs(w, e, "name!", "description", "disable", "continueOnError")
	} else {
		a = im.attrs(w, e, "type!", "name!", "description", "disable", "continueOnError", "timeout", "successCodeList")
	}
	st.Description = a["description"]
	for _, b := range []struct {
		attr string
		to   *bool
	}{{"disable", &st.Disabled}, {"continueOnError", &st.ContinueOnError}} {
		switch v, ok := a[b.attr]; {
		case !ok, v == "false":
		case v == "true":
			*b.to = true
		default:
			im.add(w, e, `%s is "true" or "false", not %q`, b.attr, v)
		}
	}
	kind := KindInvalid
	if group {
		kind = KindGroup
		st.Group = &Group{}
	} else if class, ok := a["type"]; ok {
		if kind, ok = kindOf(class); ok {
			newAction(&st, kind)
		} else if class == KindGroup.String() {
			im.add(w, e, "step type %q: a group is written as a <group> element", class)
		} else {
			im.add(w, e, "unknown step type %q", class)
		}
	}
	if v, ok := a["timeout"]; ok {
		d, err := parseSeconds(v)
		if err != nil {
			im.add(w, e, "timeout: %v", err)
		}
		st.Timeout = d
	}
	if v, ok := a["successCodeList"]; ok {
		if st.RunCommandLine == nil {
			if kind != KindInvalid {
				im.add(w, e, "successCodeList belongs to Run Command Line steps only")
			}
		} else {
			for _, f := range strings.Fields(v) {
				c, err := strconv.Atoi(f)
				if err != nil {
					im.add(w, e, "successCodeList: exit codes are decimal integers separated by spaces, not %q", f)
				}
				st.RunCommandLine.SuccessCodes = append(st.RunCommandLine.SuccessCodes, c)
			}
		}
	}
	im.noText(w, e)
	var vars *element
	conditions := 0
	for _, k := range e.kids {
		switch {
		case k.is("condition"):
			if conditions++; conditions > 1 {
				im.add(w, k, "%s holds at most one <condition>", e.tag())
				continue
			}
			st.Condition = im.condition(w, k)
		case group && (k.is("group") || k.is("step")):
			st.Group.Steps = append(st.Group.Steps, im.step(k, append(slices.Clip(p), len(st.Group.Steps))))
		case !group && k.is("defaultVarList"):
			if vars != nil {
				im.add(w, k, "<step> holds at most one <defaultVarList>")
				continue
			}
			vars = k
		case group:
			im.add(w, k, "unknown element %s in <group>, which holds <condition>, <group> and <step> elements", k.tag())
		default:
			im.add(w, k, "unknown element %s in <step>, which holds <condition> and <defaultVarList>", k.tag())
		}
	}
	if !group && kind != KindInvalid {
		im.properties(w, e, vars, &st, kind)
	}
	return st
}

// newAction sets st's action field of kind k to its zero value.
func newAction(st *Step, k Kind) {
	switch k {
	case KindInstallSoftware:
		st.InstallSoftware = &InstallSoftware{}
	case KindInstallUpdates:
		st.InstallUpdates = &InstallUpdates{}
	case KindRunCommandLine:
		st.RunCommandLine = &RunCommandLine{}
	case KindRestart:
		st.Restart = &RestartComputer{}
	case KindSetVariable:
		st.SetVariable = &SetVariable{}
	}
}

// properties reads the <defaultVarList> of step e (nil when it has none)
// into st's action of kind k.
func (im *importer) properties(w where, e, list *element, st *Step, k Kind) {
	table := stepProperties[k]
	seen := make(map[string]bool, len(table))
	if list != nil {
		im.attrs(w, list)
		im.noText(w, list)
		for _, v := range list.kids {
			if !v.is("variable") {
				im.add(w, v, "unknown element %s in <defaultVarList>, which holds <variable> elements", v.tag())
				continue
			}
			a := im.attrs(w, v, "name", "property!")
			im.noElements(w, v)
			prop, ok := a["property"]
			if !ok {
				continue
			}
			i := slices.IndexFunc(table, func(p stepProperty) bool { return p.prop == prop })
			switch {
			case i < 0:
				im.add(w, v, "unknown property %q for %s (it has %s)", prop, k, propertyNames(table))
			case seen[prop]:
				im.add(w, v, "property %s given twice", prop)
			default:
				seen[prop] = true
				if err := table[i].set(st, string(v.text)); err != nil {
					im.add(w, v, "property %s: %v", prop, err)
				}
			}
		}
	}
	for _, p := range table {
		if p.required && !seen[p.prop] {
			at := e
			if list != nil {
				at = list
			}
			im.add(w, at, "the required property %s is missing from the <defaultVarList>", p.prop)
		}
	}
}

func propertyNames(table []stepProperty) string {
	names := make([]string, len(table))
	for i, p := range table {
		names[i] = p.prop
	}
	return strings.Join(names, ", ")
}

// noElements reports child elements of e, which holds text only.
func (im *importer) noElements(w where, e *element) {
	if len(e.kids) > 0 {
		im.add(w, e.kids[0], "%s in %s, which holds text only", e.kids[0].tag(), e.tag())
	}
}

// condition reads a <condition> element.
func (im *importer) condition(w where, e *element) *Condition {
	im.attrs(w, e)
	im.noText(w, e)
	if len(e.kids) != 1 {
		im.add(w, e, "<condition> holds exactly one <operator> or <expression>, not %d elements", len(e.kids))
		return nil
	}
	c := im.conditionNode(w, e.kids[0], 0)
	return &c
}

// conditionNode reads an <operator> or <expression> element depth levels
// below the root of its condition.
func (im *importer) conditionNode(w where, e *element, depth int) Condition {
	var c Condition
	if depth > MaxDepth {
		im.add(w, e, "condition: conditions nest at most %d deep", MaxDepth)
		return c
	}
	switch {
	case e.is("operator"):
		a := im.attrs(w, e, "type!")
		im.noText(w, e)
		if t, ok := a["type"]; ok {
			for op, name := range operatorTypes {
				if name == t {
					c.Op = op
				}
			}
			if c.Op == OpInvalid {
				im.add(w, e, `condition: operator type is "and", "or" or "not", not %q`, t)
			}
		}
		for _, k := range e.kids {
			c.Operands = append(c.Operands, im.conditionNode(w, k, depth+1))
		}
	case e.is("expression"):
		a := im.attrs(w, e, "type!")
		im.noText(w, e)
		t, ok := a["type"]
		if !ok {
			return c
		}
		for op, x := range expressions {
			if x.class == t {
				c.Op = op
			}
		}
		x, ok := expressions[c.Op]
		if !ok {
			im.add(w, e, "condition: unknown expression type %q (one of %s, %s and %s)", t, exprVariable, exprFile, exprOS)
			return c
		}
		seen := make(map[string]bool, len(x.fields))
		for _, v := range e.kids {
			if !v.is("variable") {
				im.add(w, v, "condition: unknown element %s in <expression>, which holds <variable> elements", v.tag())
				continue
			}
			va := im.attrs(w, v, "name!")
			im.noElements(w, v)
			name, ok := va["name"]
			if !ok {
				continue
			}
			i := slices.IndexFunc(x.fields, func(f exprField) bool { return f.name == name })
			switch {
			case i < 0:
				im.add(w, v, "condition: unknown field %q of %s", name, t)
			case seen[name]:
				im.add(w, v, "condition: field %s given twice", name)
			default:
				seen[name] = true
				if err := x.fields[i].set(&c, string(v.text)); err != nil {
					im.add(w, v, "condition: %s: %v", name, err)
				}
			}
		}
		for _, f := range x.fields {
			if f.required && !seen[f.name] {
				im.add(w, e, "condition: %s needs the field %s", t, f.name)
			}
		}
	default:
		im.add(w, e, "condition: unknown element %s, where an <operator> or <expression> belongs", e.tag())
	}
	return c
}
