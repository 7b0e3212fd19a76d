package advertisement

import "slices"

// ExitClass is what a program's exit code means to the client (§3.5).
type ExitClass int

// Exit classes (§3.5 [S-PRG, B-rc]).
const (
	ExitSuccess        ExitClass = iota // status 10008, state Succeeded
	ExitSuccessRestart                  // success, a restart is required: Reboot Pending or Succeeded per "After running"
	ExitRetry                           // transient: state Retrying, the client tries again later
	ExitFailure                         // status 10006, state Failed
)

// String returns the class name.
func (c ExitClass) String() string {
	switch c {
	case ExitSuccess:
		return "Success"
	case ExitSuccessRestart:
		return "SuccessRestart"
	case ExitRetry:
		return "Retry"
	case ExitFailure:
		return "Failure"
	}
	return "ExitClass(invalid)"
}

// ExitCodes are the return-code lists the site control file copies into
// policy (PRG_Custom*ReturnCodes, §1.18, §3.5). A code found in none of them
// is a failure.
type ExitCodes struct {
	Success []int // success
	Restart []int // success, restart required
	Retry   []int // transient failure, retried
}

// DefaultExitCodes returns the lists of §3.5. They are documented for later
// versions and assumed identical in 2007 (§8 item 7). Each call returns new
// slices, so callers may change them.
func DefaultExitCodes() ExitCodes {
	return ExitCodes{
		Success: []int{0},
		Restart: []int{1604, 1641, 3010, 3011},
		Retry: []int{4, 5, 8, 13, 14, 39, 51, 53, 54, 55, 59, 64, 65, 67, 70, 71, 85, 86, 87,
			112, 128, 170, 267, 999, 1003, 1203, 1219, 1220, 1222, 1231, 1232, 1238, 1265,
			1311, 1323, 1326, 1330, 1618, 1622, 2250},
	}
}

// Classify returns the class of code. The lists are tried in the order
// success, restart, retry, so a code listed twice takes the first class.
func (c ExitCodes) Classify(code int) ExitClass {
	switch {
	case slices.Contains(c.Success, code):
		return ExitSuccess
	case slices.Contains(c.Restart, code):
		return ExitSuccessRestart
	case slices.Contains(c.Retry, code):
		return ExitRetry
	}
	return ExitFailure
}
