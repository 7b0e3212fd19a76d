package tasksequence_test

import (
	"fmt"
	"strings"
	"time"

	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
)

// kiosk is the device of the example: Windows Vista SP1 on x64.
type kiosk struct{}

func (kiosk) OS() pkg.OSInfo {
	return pkg.OSInfo{Name: "Microsoft Windows NT Workstation", Platform: "x64", Version: pkg.FileVersion{Major: 6, Minor: 0, Build: 6001}}
}

func (kiosk) FileExists(string) bool { return false }

func Example() {
	// On kiosks (Vista or later): install Office, run a clean-up script
	// whose failure does not matter, then restart.
	kioskRole := tasksequence.VariableIs("Role", tasksequence.Equals, "Kiosk")
	seq := &tasksequence.Sequence{Steps: []tasksequence.Step{
		{Name: "Set role", SetVariable: &tasksequence.SetVariable{Name: "Role", Value: "Kiosk"}},
		{Name: "Kiosk apps", Condition: tasksequence.All(kioskRole, tasksequence.OSIs("", tasksequence.GreaterEqual, "6.0")),
			Group: &tasksequence.Group{Steps: []tasksequence.Step{
				{Name: "Install Office", Timeout: time.Hour,
					InstallSoftware: &tasksequence.InstallSoftware{PackageID: "CEN00012", Program: "Install"}},
				{Name: "Clean up", ContinueOnError: true,
					RunCommandLine: &tasksequence.RunCommandLine{CommandLine: `cmd /c del /q "%TEMP%\*"`}},
			}}},
		{Name: "Legacy only", Disabled: true, RunCommandLine: &tasksequence.RunCommandLine{CommandLine: "legacy.cmd"}},
		{Name: "Restart", Restart: &tasksequence.RestartComputer{Message: "Restarting in a minute"}},
	}}
	doc, err := tasksequence.ExportXML(seq)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(doc))

	// The agent runs the sequence. Office asks for a restart (3010); the
	// clean-up fails; the Restart Computer step restarts the device,
	// which resumes the saved run.
	outcomes := map[string]tasksequence.Outcome{
		"Install Office": {Succeeded: true, ExitCode: 3010, Restart: true},
		"Clean up":       {ExitCode: 2, Detail: "file in use"},
	}
	run := tasksequence.NewRun(seq, nil)
	for !run.Done {
		_, step := run.Next(kiosk{})
		switch {
		case step == nil && run.RestartPending, step != nil && step.Restart != nil:
			// The computer restarts; the agent starts again and resumes.
			fmt.Println("-- restart; resumed:", run.Resume())
		case step != nil:
			if err := run.Complete(outcomes[step.Name]); err != nil {
				panic(err)
			}
		}
	}
	for _, r := range run.Results {
		line := fmt.Sprintf("%-24s %-14s %-16s exit %-4d continued %-5v %s", r.Path, r.Name, r.State, r.ExitCode, r.Continued, r.Detail)
		fmt.Println(strings.TrimRight(line, " "))
	}
	fmt.Println("succeeded:", run.Succeeded(), "failures:", len(run.Failures()))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <sequence version="3.00">
	//   <step type="SMS_TaskSequence_SetVariableAction" name="Set role" description="">
	//     <defaultVarList>
	//       <variable name="VariableName" property="VariableName">Role</variable>
	//       <variable name="VariableValue" property="VariableValue">Kiosk</variable>
	//     </defaultVarList>
	//   </step>
	//   <group name="Kiosk apps" description="">
	//     <condition>
	//       <operator type="and">
	//         <expression type="SMS_TaskSequence_VariableConditionExpression">
	//           <variable name="Variable">Role</variable>
	//           <variable name="Operator">equals</variable>
	//           <variable name="Value">Kiosk</variable>
	//         </expression>
	//         <expression type="SMS_TaskSequence_OSConditionExpression">
	//           <variable name="Operator">greaterEqual</variable>
	//           <variable name="Value">6.0</variable>
	//         </expression>
	//       </operator>
	//     </condition>
	//     <step type="SMS_TaskSequence_InstallSoftwareAction" name="Install Office" description="" timeout="3600">
	//       <defaultVarList>
	//         <variable name="PackageID" property="PackageID">CEN00012</variable>
	//         <variable name="ProgramName" property="ProgramName">Install</variable>
	//       </defaultVarList>
	//     </step>
	//     <step type="SMS_TaskSequence_RunCommandLineAction" name="Clean up" description="" continueOnError="true">
	//       <defaultVarList>
	//         <variable name="CommandLine" property="CommandLine">cmd /c del /q "%TEMP%\*"</variable>
	//       </defaultVarList>
	//     </step>
	//   </group>
	//   <step type="SMS_TaskSequence_RunCommandLineAction" name="Legacy only" description="" disable="true">
	//     <defaultVarList>
	//       <variable name="CommandLine" property="CommandLine">legacy.cmd</variable>
	//     </defaultVarList>
	//   </step>
	//   <step type="SMS_TaskSequence_RebootAction" name="Restart" description="">
	//     <defaultVarList>
	//       <variable name="SMSRebootTarget" property="Target">HD</variable>
	//       <variable name="SMSRebootMessage" property="Message">Restarting in a minute</variable>
	//     </defaultVarList>
	//   </step>
	// </sequence>
	// -- restart; resumed: true
	// -- restart; resumed: true
	// Steps[0]                 Set role       Succeeded        exit 0    continued false Role set
	// Steps[1].Group.Steps[0]  Install Office Succeeded        exit 3010 continued false
	// Steps[1].Group.Steps[1]  Clean up       Failed           exit 2    continued true  file in use
	// Steps[1]                 Kiosk apps     Succeeded        exit 0    continued false
	// Steps[2]                 Legacy only    SkippedDisabled  exit 0    continued false disabled
	// Steps[3]                 Restart        Succeeded        exit 0    continued false restarted
	// succeeded: true failures: 1
}
