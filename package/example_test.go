package pkg_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
)

// A package with source files and two programs: Install runs Prerequisites
// first (DependentProgram ";;Prerequisites").
func Example_packageWithPrograms() {
	p := pkg.NewPackage("CEN00012", "Office 2007")
	p.Manufacturer, p.Version = "Microsoft", "12.0"
	p.SourceFlag = pkg.StorageCompress
	p.SourcePath = `\\srv01\source$\office2007`
	content := pkg.Manifest{Files: []pkg.File{
		{Path: "setup.exe", Size: 445440, SHA256: sha256.Sum256([]byte("setup"))},
		{Path: "prereq/vcredist.exe", Size: 2629536, SHA256: sha256.Sum256([]byte("vcredist"))},
	}}
	if err := p.UpdateSource(content, time.Date(2008, 3, 1, 9, 0, 0, 0, time.UTC)); err != nil {
		fmt.Println(err)
		return
	}

	prereq := pkg.NewProgram(p.ID, "Prerequisites", `prereq\vcredist.exe /q`)
	prereq.RunMode, prereq.Logon = pkg.RunWithAdminRights, pkg.EitherLogon

	install := pkg.NewProgram(p.ID, "Install", "setup.exe /adminfile office.msp")
	install.RunMode, install.Logon = pkg.RunWithAdminRights, pkg.EitherLogon
	install.AfterRunning = pkg.ConfigMgrRestarts
	install.AnyPlatform = false
	install.Platforms = []pkg.OSRequirement{{Name: "Win NT", Platform: "I386",
		MinVersion: pkg.FileVersion{Major: 5, Minor: 10}, MaxVersion: pkg.FileVersion{Major: 5, Minor: 10, Build: 9999, Revision: 9999}}}
	dep, err := pkg.ParseProgramRef(";;Prerequisites", p.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	install.Dependency = &dep

	for _, err := range []error{p.Validate(), prereq.Validate(), install.Validate(), pkg.CheckChains([]*pkg.Program{prereq, install})} {
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("source version:", p.SourceVersion, "size:", p.Manifest.Size())
	fmt.Println("install flags:", install.Flags())
	fmt.Println("runs first:", install.Dependency)
	// Output:
	// source version: 1 size: 3074976
	// install flags: UNATTENDED|ADMINRIGHTS|EVERYUSER|OKTOREBOOT|USEUNCPATH
	// runs first: CEN00012;;Prerequisites
}

func ExampleRunOrder() {
	prepare := pkg.NewProgram("CEN00001", "Prepare", "prep.cmd")
	runtime := pkg.NewProgram("CEN00002", "Runtime", "runtime.msi")
	runtime.Dependency = &pkg.ProgramRef{PackageID: "CEN00001", Program: "Prepare"}
	app := pkg.NewProgram("CEN00003", "App", "app.msi")
	app.Dependency = &pkg.ProgramRef{PackageID: "CEN00002", Program: "Runtime"}

	byRef := map[pkg.ProgramRef]*pkg.Program{}
	for _, p := range []*pkg.Program{prepare, runtime, app} {
		byRef[p.Ref()] = p
	}
	lookup := func(r pkg.ProgramRef) (*pkg.Program, bool) { p, ok := byRef[r]; return p, ok }

	// A new device: the whole chain runs, dependencies first.
	order, _ := pkg.RunOrder(app.Ref(), lookup, func(pkg.ProgramRef) bool { return false })
	fmt.Println(order)

	// Runtime already succeeded here: App runs alone.
	order, _ = pkg.RunOrder(app.Ref(), lookup, func(r pkg.ProgramRef) bool { return r == runtime.Ref() })
	fmt.Println(order)

	// A loop is an error that names it.
	prepare.Dependency = &pkg.ProgramRef{PackageID: "CEN00003", Program: "App"}
	_, err := pkg.RunOrder(app.Ref(), lookup, func(pkg.ProgramRef) bool { return false })
	fmt.Println(err)
	// Output:
	// [CEN00001;;Prepare CEN00002;;Runtime CEN00003;;App]
	// [CEN00003;;App]
	// CEN00003;;App -> CEN00002;;Runtime -> CEN00001;;Prepare -> CEN00003;;App
}

func ExampleParseFileVersion() {
	v, _ := pkg.ParseFileVersion("5.10.0000.0")
	w, _ := pkg.ParseFileVersion("4.00.6487.2000")
	fmt.Println(v, w, v.Compare(w))
	_, err := pkg.ParseFileVersion("5.1.x")
	fmt.Println(err)
	fmt.Println(errors.Is(err, consign.ErrInvalid))
	// Output:
	// 5.10.0.0 4.0.6487.2000 1
	// invalid FileVersion "5.1.x": 1 to 4 dot-separated decimal numbers, each below 2^32
	// true
}
