// Package pkg models Configuration Manager 2007 packages and programs
// (SMS_Package and SMS_Program): their fields, flag words, validation rules,
// content manifests, 4-part file versions and the "run another program
// first" dependency chain. The folder is package/ because package is a Go
// keyword; import it as
//
//	pkg "github.com/consign/consign/package"
//
// Section and source references in comments (§1.2, [S-PRG], …) point into
// the domain reference, domain/configmgr2007.md.
//
// The package is pure: no I/O, no clock, no goroutines. Time is always a
// parameter.
//
// # Packages
//
// A [Package] is a container of source files plus metadata, the unit that is
// copied to distribution points and versioned (§1.2). [NewPackage] gives the
// New Package Wizard's defaults (§2.1): no source files, normal priority,
// the common share. [Package.UpdateSource] is ConfigMgr's *update*
// (RefreshPkgSource): new content, next SourceVersion.
//
// # Content manifests
//
// A [Manifest] lists a package's files with size and SHA-256. Paths are
// relative, slash-separated and unique ignoring case, as they will be on a
// Windows client. [Manifest.Hash] is a deterministic digest of the whole
// content, the analogue of ConfigMgr's package source hash that clients
// check after download.
//
// # Programs
//
// A [Program] is a command line plus run-time requirements owned by one
// package (§1.3). Its ProgramFlags word is exposed as typed fields (run mode,
// logon requirement, after-running action, window and drive mode, …);
// [Program.Flags] and [Program.FromFlags] convert losslessly between the two,
// keeping bits the typed fields do not represent in OtherFlags.
//
// # Dependency chains
//
// A program may name another program to run first (DependentProgram,
// "<PackageID>;;<ProgramName>"). [RunOrder] resolves the chain for one
// device; [CheckChains] validates every chain in a set of programs. A loop is
// reported as a [*LoopError].
//
// # File versions
//
// [FileVersion] is ConfigMgr's 4-part version ("5.10.0000.0"), used by
// platform requirements (SMS_OS_Details).
package pkg
