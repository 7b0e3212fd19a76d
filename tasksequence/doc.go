// Package tasksequence models ConfigMgr 2007 task sequences (reference
// §1.10): an ordered, conditional tree of groups and steps that installs
// software, installs software updates, runs commands, sets variables and
// restarts the computer, stored as a package of type 4 and advertised like a
// program (§1.9).
//
// The package is pure, like the other domain packages: a Sequence is data
// with its rules (Validate, References, CheckReferences), a Condition is
// evaluated against variables and an Env the caller provides, and a Run is
// the execution state machine a device agent drives and persists. Run never
// executes anything itself: Next says which action is due, the agent runs it
// and hands the Outcome to Complete. Because the whole state of an execution
// is the Run value, an agent that saves it before and after every action can
// resume after a restart step, or after a crash, exactly where it was, and no
// completed step ever runs twice (see Run).
//
// ExportXML and ImportXML write and read a sequence in the XML form
// documented in xml.go, modelled on ConfigMgr's own sequence XML
// (SMS_TaskSequencePackage GetSequence / ImportSequence).
package tasksequence
