//go:build windows

package agent

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// defaultShell runs a command line on Windows.
var defaultShell = []string{"cmd", "/c"}

// setCommandLine passes the command line to the shell verbatim: cmd.exe
// parses its own command line, and the quoting os/exec applies to separate
// arguments would change what it sees.
func setCommandLine(c *exec.Cmd, shell []string, line string) {
	c.Args = append(append([]string{}, shell...), line)
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	c.SysProcAttr.CmdLine = strings.Join(shell, " ") + " " + line
}

// newProcessGroup starts c in a process group of its own.
func newProcessGroup(c *exec.Cmd) {
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	c.SysProcAttr.CreationFlags |= syscall.CREATE_NEW_PROCESS_GROUP
}

// killProcessGroup kills c's process and every process it started.
func killProcessGroup(c *exec.Cmd) error {
	kill := exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(c.Process.Pid))
	if err := kill.Run(); err != nil {
		return c.Process.Kill()
	}
	return nil
}

// exitedByItself is false on Windows: a killed process also ends with an
// exit code there, so a stopped program is always reported as stopped.
func exitedByItself(*os.ProcessState) bool { return false }
