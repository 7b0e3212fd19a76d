// Tasksequence runs a ConfigMgr 2007-style task sequence end to end, with
// device agents that talk to the site over real HTTP:
//
//  1. a site in memory, with an HTTP management point and a DP content
//     server on 127.0.0.1;
//  2. packages: "Office 2007" (its installer exits 3010, restart
//     required), "Acrobat Reader", and a package of build scripts;
//  3. the sample update catalog (package jsoncatalog) is synchronised and
//     three Contoso OS 6.0 updates are deployed with a deadline (mandatory)
//     to the "Build workstations" collection, their files in a deployment
//     package on the DP;
//  4. the task sequence, its packages put on the DP with it
//     (DistributeTaskSequence), printed as XML: a group installing both
//     applications, the mandatory updates, a restart, a variable two later
//     steps test (one runs, one is skipped), a settings script that may fail
//     without failing the build (continue on error), and a step for x64 only;
//  5. three devices register through the management point and report scans
//     (two of the updates Required). PC01 (x64) succeeds everywhere; on PC02
//     the settings script fails and an update asks for a restart; on PC03
//     the Acrobat installer fails (1603), which fails the group and the
//     sequence;
//  6. the sequence is advertised mandatory as soon as possible, the
//     management point pushes the policy, and the agents run it. A restart
//     is a real one for the agent: it is stopped, its state and cache are
//     closed, and a new agent with a fresh executor resumes over them;
//  7. the site's view — each device's step outcomes, final status and
//     restarts; the advertisement's summary and per-step summary — is
//     printed and checked.
//
// The program exits with status 1 when anything is not as expected, so it
// doubles as a smoke test. Run it from the repository root with:
//
//	go run ./examples/tasksequence
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/consign/consign"
	"github.com/consign/consign/advertisement"
	"github.com/consign/consign/collection"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/agent"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/httpdp"
	"github.com/consign/consign/delivery/httpmp"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/signing"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/tasksequence"
	"github.com/consign/consign/updates"
	"github.com/consign/consign/updates/jsoncatalog"
)

func main() {
	catalog := flag.String("catalog", "updates/jsoncatalog/testdata/catalog.json", "the update catalog to synchronise")
	content := flag.String("content", "updates/jsoncatalog/testdata/content", "the folder holding the updates' files (the download location)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *catalog, *content); err != nil {
		log.Fatal(err)
	}
}

// The updates deployed, by KB article: each device's scan finds the first
// two Required (listed in CIID order, the order the Install Software
// Updates step installs them in) and the third Installed already.
var required, installed = []string{"950121", "950192"}, []string{"950181"}

// ids are the packages the devices' scripts name.
type ids struct{ office, acrobat, tools, updates consign.ObjectID }

// The devices: what their programs do (the Office installer exits 3010
// everywhere; anything else not scripted succeeds) and what should happen.
var devices = []*device{
	{name: "PC01", systemType: "x64-based PC", wantFinal: advertisement.EventTSSucceeded, wantRestarts: 2,
		wantRuns: []string{"Install", "Install", "KB950121", "KB950192", "Apply settings", "Configure kiosk mode", "Install x64 shell extension"}},
	{name: "PC02", systemType: "X86-based PC", wantFinal: advertisement.EventTSSucceeded, wantRestarts: 3,
		wantDetail: `"Apply settings" (exit code 1, continued on error)`,
		wantRuns:   []string{"Install", "Install", "KB950121", "KB950192", "Apply settings", "Configure kiosk mode"},
		script: func(x *agent.SimExecutor, id ids) {
			x.Script(id.tools, "Apply settings", agent.SimOutcome{ExitCode: 1})
			x.Script(id.updates, "KB950121", agent.SimOutcome{ExitCode: 3010, Duration: 150 * time.Millisecond})
		}},
	{name: "PC03", systemType: "X86-based PC", wantFinal: advertisement.EventTSFailed, wantRestarts: 1,
		wantDetail: `"Install Acrobat Reader" (exit code 1603)`, wantRuns: []string{"Install", "Install"},
		script: func(x *agent.SimExecutor, id ids) {
			x.Script(id.acrobat, "Install", agent.SimOutcome{ExitCode: 1603, Duration: 100 * time.Millisecond})
		}},
}

// Step outcomes as the site reports them.
const (
	ok      = "Succeeded"
	failed  = "Failed"
	cont    = "Failed (continued)" // failed with continue on error
	skipped = "SkippedCondition"
	none    = "not reached"
)

// expected is each step's outcome on PC01, PC02 and PC03, in step order.
var expected = []struct {
	step string
	pc   [3]string
}{
	{"Applications", [3]string{ok, ok, failed}},
	{"Install Office 2007", [3]string{ok, ok, ok}},
	{"Install Acrobat Reader", [3]string{ok, ok, failed}},
	{"Install software updates", [3]string{ok, ok, none}},
	{"Restart computer", [3]string{ok, ok, none}},
	{"Set role", [3]string{ok, ok, none}},
	{"Apply settings", [3]string{ok, cont, none}},
	{"Configure kiosk mode", [3]string{ok, ok, none}},
	{"Configure office desk", [3]string{skipped, skipped, none}},
	{"Install x64 shell extension", [3]string{ok, skipped, none}},
}

func run(ctx context.Context, catalogPath, contentDir string) error {
	if _, err := os.Stat(catalogPath); err != nil {
		return fmt.Errorf("%w (run the example from the repository root, or pass -catalog and -content)", err)
	}
	started := time.Now()
	tmp, err := os.MkdirTemp("", "consign-tasksequence-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// 1. The site, its management point and DP01.
	l, err := startSite(ctx, tmp)
	if err != nil {
		return err
	}
	defer l.close()
	site := l.site

	// 2. The packages. A program an Install Software step runs must run
	// with administrative rights whether or not a user is logged on: the
	// sequence runs it as LocalSystem, with nobody there to answer it.
	var id ids
	if id.office, err = l.newPackage(ctx, "Office 2007", "setup.exe /adminfile silent.msp", "setup.exe", "silent.msp"); err != nil {
		return err
	}
	if id.acrobat, err = l.newPackage(ctx, "Acrobat Reader", "msiexec /i AcroRead.msi /qn", "AcroRead.msi"); err != nil {
		return err
	}
	if id.tools, err = l.newPackage(ctx, "Build scripts", "", "apply-settings.cmd", "kiosk.cmd", "desk.cmd", "shellext64.cmd"); err != nil {
		return err
	}
	coll, err := site.CreateCollection(ctx, &collection.Collection{Name: "Build workstations",
		QueryRules: []collection.QueryRule{{RuleName: "PCs", Query: `select * from SMS_R_System where SMS_R_System.Name like "PC%"`}}}, "")
	if err != nil {
		return err
	}

	// 3. Software updates: sync, and deploy three with a deadline; the
	// wizard downloads their files into a new deployment package on DP01.
	src, err := jsoncatalog.Open(catalogPath)
	if err != nil {
		return err
	}
	if _, err := site.SyncUpdates(ctx, src, updates.Filter{Languages: []string{"en"}}); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	kbs := map[string]updates.CIID{} // KB article → CIID, for Contoso OS 6.0
	for _, u := range site.Updates() {
		if u.Product == "Contoso OS 6.0" {
			kbs[u.ArticleID] = u.CIID
		}
	}
	var deploy []updates.CIID
	for _, kb := range slices.Concat(required, installed) {
		if kbs[kb] == 0 {
			return fmt.Errorf("the catalog has no Contoso OS 6.0 update KB%s", kb)
		}
		deploy = append(deploy, kbs[kb])
	}
	depPkg := pkg.NewPackage("", "Workstation baseline updates")
	depPkg.SourcePath = `\\SCCM01\Updates\Baseline`
	l.sources[depPkg.SourcePath] = filepath.Join(tmp, "sources", "updates")
	dep, err := site.DeploySoftwareUpdates(ctx, delivery.DeployRequest{Name: "Workstation baseline", Updates: deploy,
		CollectionID: coll.ID, Deadline: time.Now().Add(24 * time.Hour), Settings: &updates.Settings{UseGMTTimes: true},
		Download: &delivery.DownloadRequest{NewPackage: depPkg, DistributionPoints: []string{dpNAL}, Languages: []string{"en"},
			Source: source.UpdateFiles{FS: os.DirFS(contentDir)}}})
	if err != nil {
		return fmt.Errorf("deploy updates: %w", err)
	}
	if rep, err := site.DistributeContent(ctx); err != nil || rep.Err() != nil {
		return fmt.Errorf("distribute the deployment package: %v %v", err, rep.Err())
	}
	id.updates = dep.Download.Package.ID
	fmt.Printf("Deployed KB%s to %q, deadline in 24 h; deployment package %s on DP01\n",
		strings.Join(slices.Concat(required, installed), ", KB"), coll.Name, id.updates)

	// 4. The task sequence package: no files of its own, just the sequence.
	tsPkg := pkg.NewPackage("", "Workstation build")
	tsPkg.Type = pkg.TypeTaskSequence
	seq := newSequence(id)
	if tsPkg, err = site.CreateTaskSequence(ctx, tsPkg, seq); err != nil {
		return fmt.Errorf("create the task sequence: %w", err)
	}
	// Every package the steps use goes to DP01 with the sequence.
	if err := site.DistributeTaskSequence(ctx, tsPkg.ID, dpNAL); err != nil {
		return fmt.Errorf("distribute the task sequence: %w", err)
	}
	if rep, err := site.DistributeContent(ctx); err != nil || rep.Err() != nil {
		return fmt.Errorf("distribute the task sequence's packages: %v %v", err, rep.Err())
	}
	fmt.Printf("Task sequence %s: its packages %s, %s and %s are on DP01\n", tsPkg.ID, id.office, id.acrobat, id.tools)
	xml, err := tasksequence.ExportXML(seq)
	if err != nil {
		return err
	}
	fmt.Printf("\nTask sequence %s %q (%d steps), as XML:\n%s\n", tsPkg.ID, tsPkg.Name, seq.Len(), xml)

	// 5. The devices, each an agent under a supervisor that plays the
	// machine: it restarts the agent when the sequence asks.
	agentCtx, cancelAgents := context.WithCancel(ctx)
	var g errgroup.Group
	stopAgents := func() error { cancelAgents(); return g.Wait() }
	defer stopAgents() //nolint:errcheck // on an early return; the error that caused it is the one to report
	for i, d := range devices {
		g.Go(func() error { return d.supervise(agentCtx, i, filepath.Join(tmp, "agents", d.name), l, id) })
	}
	if err := waitFor(ctx, "the devices to register and fetch policy", func() bool {
		return !slices.ContainsFunc(devices, func(d *device) bool { return !d.policy.Load() })
	}); err != nil {
		return err
	}
	var scans []delivery.DeviceScan
	for _, d := range devices {
		sc := delivery.DeviceScan{ResourceID: d.rid.Load(), ScanTime: time.Now()}
		for _, kb := range required {
			sc.States = append(sc.States, updates.UpdateState{Update: kbs[kb], State: updates.Required})
		}
		for _, kb := range installed {
			sc.States = append(sc.States, updates.UpdateState{Update: kbs[kb], State: updates.Installed})
		}
		scans = append(scans, sc)
	}
	if _, err := site.ReportScans(ctx, scans); err != nil {
		return err
	}
	members, err := site.Members(coll.ID)
	if err != nil {
		return err
	}
	fmt.Printf("%d devices registered through the management point (%d in %q) and sent their scans\n",
		len(devices), len(members), coll.Name)

	// 6. The advertisement, mandatory as soon as possible: the management
	// point pushes it to the devices' long polls.
	ad := advertisement.NewTaskSequence("", "Workstation build", tsPkg.ID, coll.ID, time.Now().Add(-time.Minute))
	ad.ASAP, ad.PresentTimeIsGMT = true, true
	if ad, err = site.CreateAdvertisement(ctx, ad); err != nil {
		return err
	}
	advertised := time.Now()
	fmt.Printf("Advertised %s %q mandatory as soon as possible; waiting for the devices…\n", ad.ID, ad.Name)
	if err := waitFor(ctx, "every device's final status (11170 or 11171)", func() bool {
		for _, d := range devices {
			cs, err := site.ClientStatus(ad.ID, d.rid.Load())
			if err != nil || cs.LastEvent != advertisement.EventTSSucceeded && cs.LastEvent != advertisement.EventTSFailed {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	fmt.Printf("Every device reported its final status %.1f s after the advertisement\n", time.Since(advertised).Seconds())
	if err := stopAgents(); err != nil {
		return err
	}

	// 7. The site's view, checked against what should have happened.
	var bad []string
	check := func(cond bool, format string, a ...any) {
		if !cond {
			bad = append(bad, fmt.Sprintf(format, a...))
		}
	}
	steps, err := site.TaskSequenceSummary(ad.ID)
	if err != nil {
		return err
	}
	check(len(steps) == len(expected), "%d steps in the summary, want %d", len(steps), len(expected))
	for i, d := range devices {
		if err := d.report(site, ad.ID, steps, i, check); err != nil {
			return err
		}
	}
	sum, err := site.AdvertisementSummary(ad.ID)
	if err != nil {
		return err
	}
	c := sum.Counts
	fmt.Printf("\nAdvertisement %s: targeted %d, succeeded %d, failed %d, running %d, not reported %d\n\n",
		ad.ID, sum.Targeted, c.Succeeded, c.Failed, c.Running, sum.NotReported)
	check(sum.Targeted == 3 && c.Succeeded == 2 && c.Failed == 1 && sum.NotReported == 0,
		"advertisement summary %+v, want 3 targeted, 2 succeeded, 1 failed", sum)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Step\tKind\tSucceeded\tFailed\tContinued\tSkipped")
	for i, s := range steps {
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%d\t%d\t%d\n", indent(s.Path), s.Name,
			strings.TrimPrefix(s.Kind.String(), "SMS_TaskSequence_"), s.Succeeded, s.Failed, s.FailedContinued, s.Skipped)
		if i < len(expected) {
			got := [4]int{s.Succeeded, s.Failed, s.FailedContinued, s.Skipped}
			want := [4]int{count(expected[i].pc, ok), count(expected[i].pc, failed) + count(expected[i].pc, cont),
				count(expected[i].pc, cont), count(expected[i].pc, skipped)}
			check(got == want, "step %q: succeeded/failed/continued/skipped %v, want %v", s.Name, got, want)
		}
	}
	tw.Flush()

	fmt.Printf("\nDone in %.1f s.\n", time.Since(started).Seconds())
	if len(bad) > 0 {
		return fmt.Errorf("%d expectations not met:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	return nil
}

// newSequence is the build: applications, updates, a restart, settings.
func newSequence(id ids) *tasksequence.Sequence {
	command := func(name, line string, cond *tasksequence.Condition) tasksequence.Step {
		return tasksequence.Step{Name: name, Condition: cond,
			RunCommandLine: &tasksequence.RunCommandLine{CommandLine: line, PackageID: id.tools}}
	}
	settings := command("Apply settings", "apply-settings.cmd /all", nil)
	settings.ContinueOnError = true // a failure is reported, and the build goes on
	role := func(v string) *tasksequence.Condition {
		c := tasksequence.VariableIs("Role", tasksequence.Equals, v)
		return &c
	}
	return &tasksequence.Sequence{Steps: []tasksequence.Step{
		{Name: "Applications", Group: &tasksequence.Group{Steps: []tasksequence.Step{
			{Name: "Install Office 2007", InstallSoftware: &tasksequence.InstallSoftware{PackageID: id.office, Program: "Install"}},
			{Name: "Install Acrobat Reader", InstallSoftware: &tasksequence.InstallSoftware{PackageID: id.acrobat, Program: "Install"}},
		}}},
		{Name: "Install software updates", InstallUpdates: &tasksequence.InstallUpdates{Scope: tasksequence.UpdatesMandatory}},
		{Name: "Restart computer", Restart: &tasksequence.RestartComputer{Message: "The computer restarts to finish its build."}},
		{Name: "Set role", SetVariable: &tasksequence.SetVariable{Name: "Role", Value: "Kiosk"}},
		settings,
		command("Configure kiosk mode", "kiosk.cmd /on", role("Kiosk")),
		command("Configure office desk", "desk.cmd", role("Office")),
		command("Install x64 shell extension", "shellext64.cmd", tasksequence.All(
			tasksequence.OSIs("x64", tasksequence.Exists, ""), tasksequence.OSIs("", tasksequence.GreaterEqual, "6.0"))),
	}}
}

// device is one simulated machine: the scripted outcomes of its programs,
// what happened to it, and what should have.
type device struct {
	name, systemType string
	script           func(*agent.SimExecutor, ids)
	wantFinal        advertisement.Event
	wantRestarts     int
	wantDetail       string   // in the final status's detail
	wantRuns         []string // the programs its executors run, in order

	rid      atomic.Uint32
	policy   atomic.Bool     // it has fetched its policy
	restarts int             // written by supervise, read after it returned
	runs     []agent.Command // every program run, over every restart
}

// supervise runs the device's agent, with its state and cache in dir.
// When the task sequence asks for a restart it does what a restart does:
// the agent's process ends (its Run is cancelled, its files are closed),
// and a new one starts over the same files, with a new executor and no
// other memory of the last one.
func (d *device) supervise(ctx context.Context, i int, dir string, l *lab, id ids) error {
	dev := &collection.Device{Name: d.name, NetbiosName: d.name, SMSUniqueIdentifier: fmt.Sprintf("GUID:00000000-0000-4000-8000-%012d", i+1),
		OperatingSystemNameandVersion: "Microsoft Windows NT Workstation 6.0", ResourceDomainORWorkgroup: "CONTOSO",
		Client: true, Active: true, IPAddresses: []string{fmt.Sprintf("10.1.0.%d", i+11)}, IPSubnets: []string{"10.1.0.0"},
		Inventory: map[string][]collection.Instance{"SMS_G_System_COMPUTER_SYSTEM": {{"SystemType": d.systemType}}}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for boot := 0; ; boot++ {
		// NoSync: a simulation; a real agent keeps its state durable.
		st, err := agent.OpenState(filepath.Join(dir, "state.db"), &agent.StateOptions{NoSync: true})
		if err != nil {
			return err
		}
		cache, err := agent.OpenCache(st, filepath.Join(dir, "cache"), nil)
		if err != nil {
			st.Close()
			return err
		}
		exec := agent.NewSimExecutor(&agent.SimOptions{Default: agent.SimOutcome{Duration: 100 * time.Millisecond}})
		exec.Script(id.office, "Install", agent.SimOutcome{ExitCode: 3010, Duration: 200 * time.Millisecond})
		if d.script != nil {
			d.script(exec, id)
		}
		restart := make(chan struct{}, 1)
		a, err := agent.New(agent.Config{MP: httpmp.NewClient(l.mpURL, l.client), Device: dev, State: st, Cache: cache,
			Executor: exec, Downloader: &httpdp.Downloader{Client: l.client, NoSync: true},
			Rand: mrand.New(mrand.NewPCG(uint64(i), uint64(boot))),
			// Called once the agent has saved the sequence's state.
			Restart: func(context.Context) error {
				select {
				case restart <- struct{}{}:
				default:
				}
				return nil
			},
			OnEvent: func(e agent.Event) {
				switch e.Kind {
				case agent.EventRegistered:
					d.rid.Store(e.ResourceID)
				case agent.EventPolicy:
					d.policy.Store(true)
				}
			}})
		if err != nil {
			cache.Close()
			st.Close()
			return err
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(runCtx) }()
		restarted := false
		select {
		case <-ctx.Done():
		case <-restart:
			restarted = true
		}
		stop()
		err = errors.Join(<-done, cache.Close(), st.Close())
		d.runs = append(d.runs, exec.Runs()...)
		if err != nil || !restarted {
			return err
		}
		d.restarts++
	}
}

// report prints device number i's outcome as the site has it — each step's
// status from its step status messages, and its final status — with its
// restarts and the programs its executors ran, and checks them.
func (d *device) report(site *delivery.Site, adID consign.ObjectID, steps []delivery.StepSummary, i int, check func(bool, string, ...any)) error {
	cs, err := site.ClientStatus(adID, d.rid.Load())
	if err != nil {
		return err
	}
	statuses, err := site.DeviceSteps(adID, d.rid.Load())
	if err != nil {
		return err
	}
	fmt.Printf("\n%s (%s): %s (%d), %s; restarts: %d\n", d.name, d.systemType, cs.LastEvent, cs.LastEvent.MessageID(), cs.Delivery, d.restarts)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	for j, s := range steps {
		got, why := none, ""
		if k := slices.IndexFunc(statuses, func(st delivery.DeviceStep) bool { return st.Index == s.Index }); k >= 0 {
			got = statuses[k].State.String()
			if statuses[k].Continued {
				got += " (continued)"
			}
			if statuses[k].State == tasksequence.StepFailed {
				why = statuses[k].Detail
			}
		}
		fmt.Fprintf(tw, "  %s%s\t%s\t%s\n", indent(s.Path), s.Name, got, why)
		if j < len(expected) {
			check(s.Name == expected[j].step && got == expected[j].pc[i], "%s: step %q %s, want %q %s", d.name, s.Name, got, expected[j].step, expected[j].pc[i])
		}
	}
	tw.Flush()
	var ran []string
	for _, c := range d.runs {
		ran = append(ran, c.Program)
	}
	fmt.Printf("  final status detail: %s\n  programs run: %s\n", cs.Detail, strings.Join(ran, ", "))
	check(cs.LastEvent == d.wantFinal, "%s: final status %v, want %v", d.name, cs.LastEvent, d.wantFinal)
	check(strings.Contains(cs.Detail, d.wantDetail), "%s: final detail %q does not name %s", d.name, cs.Detail, d.wantDetail)
	check(d.restarts == d.wantRestarts, "%s: %d restarts, want %d", d.name, d.restarts, d.wantRestarts)
	// Each action ran once, restarts notwithstanding, and nothing ran
	// after the step that failed the sequence.
	check(slices.Equal(ran, d.wantRuns), "%s: ran %q, want %q", d.name, ran, d.wantRuns)
	return nil
}

const dpNAL = `["Display=\\DP01\"]MSWNET:["SMS_SITE=CEN"]\\DP01\`

// lab is the site with its servers, and what the devices need to reach it.
type lab struct {
	site    *delivery.Site
	mpURL   string
	client  *http.Client      // the agents' HTTP client
	sources map[string]string // package source path → local folder
	tmp     string
	close   func()
}

// startSite opens a site in memory with one DP, DP01, and serves its
// management point and DP01's content over HTTP on 127.0.0.1.
func startSite(ctx context.Context, tmp string) (*lab, error) {
	lib, err := fslibrary.Open(filepath.Join(tmp, "DP01"))
	if err != nil {
		return nil, err
	}
	l := &lab{sources: map[string]string{}, tmp: tmp, client: &http.Client{}}
	notifier := httpmp.NewNotifier() // the site's Transport: wakes long polls
	l.site, err = delivery.Open(ctx, memstore.New(), notifier, &delivery.Options{SiteCode: "CEN",
		Libraries: func(string) (distpoint.Library, error) { return lib, nil },
		SourceDirs: func(p *pkg.Package) (string, error) {
			if dir, ok := l.sources[p.SourcePath]; ok {
				return dir, nil
			}
			return "", fmt.Errorf("no source folder for %s", p.SourcePath)
		}})
	if err != nil {
		return nil, err
	}
	ring, err := signing.GenerateKeyring(rand.Reader, time.Now())
	if err != nil {
		return nil, err
	}
	mpLn, err1 := net.Listen("tcp", "127.0.0.1:0")
	dpLn, err2 := net.Listen("tcp", "127.0.0.1:0")
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	l.mpURL = "http://" + mpLn.Addr().String()
	dpURL := "http://" + dpLn.Addr().String()
	tokenKey := make([]byte, httpmp.MinTokenKeyLen)
	rand.Read(tokenKey)
	mp, err := httpmp.NewServer(l.site, httpmp.Options{Keyring: ring, TokenKeys: [][]byte{tokenKey}, Notifier: notifier,
		ContentSource: func(distpoint.DistributionPoint) (httpdp.Source, bool) { return httpdp.Source{BaseURL: dpURL}, true }})
	if err != nil {
		return nil, err
	}
	var servers []*http.Server
	for ln, h := range map[net.Listener]http.Handler{mpLn: mp, dpLn: httpdp.NewServer(lib, &httpdp.Options{Authorize: mp.AuthorizeContent})} {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at Shutdown
	}
	l.close = func() {
		// Connections the agents' client opened and never used would hold
		// up the servers' graceful shutdown.
		l.client.CloseIdleConnections()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			s.Shutdown(sctx) //nolint:errcheck // best effort at exit
		}
		mp.Close()
		l.site.Close()
	}
	err = l.site.AddDistributionPoint(ctx, &distpoint.DistributionPoint{NALPath: dpNAL, Name: "DP01", SiteCode: "CEN",
		Kind: distpoint.Standard, BITSEnabled: true})
	if err == nil { // the devices' network is a fast boundary: DP01 is local to them
		err = l.site.AddBoundary(ctx, &distpoint.Boundary{Name: "HQ", Type: distpoint.IPSubnet,
			Prefix: netip.MustParsePrefix("10.1.0.0/16"), SiteCode: "CEN", Speed: distpoint.Fast})
	}
	if err != nil {
		l.close()
		return nil, err
	}
	fmt.Println("Management point and DP01 content server listening on 127.0.0.1")
	return l, nil
}

// newPackage creates a package of the given files (small stand-ins) with,
// when cmd is not empty, an "Install" program that a task sequence can
// run. It reaches DP01 with the task sequence (DistributeTaskSequence).
func (l *lab) newPackage(ctx context.Context, name, cmd string, files ...string) (consign.ObjectID, error) {
	dir := filepath.Join(l.tmp, "sources", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(name+" "+f+"\r\n"), 0o644); err != nil {
			return "", err
		}
	}
	m, err := source.ManifestFromFS(ctx, os.DirFS(dir))
	if err != nil {
		return "", err
	}
	p := pkg.NewPackage("", name)
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\`+name, m
	l.sources[p.SourcePath] = dir
	if p, err = l.site.CreatePackage(ctx, p); err != nil {
		return "", err
	}
	if cmd != "" {
		prog := pkg.NewProgram(p.ID, "Install", cmd)
		prog.Logon, prog.RunMode = pkg.EitherLogon, pkg.RunWithAdminRights
		if err := l.site.CreateProgram(ctx, prog); err != nil {
			return "", err
		}
	}
	fmt.Printf("Package %s %q: %d files\n", p.ID, name, len(m.Files))
	return p.ID, nil
}

// waitFor polls cond until it holds, or fails naming what it waited for
// when ctx ends.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// indent indents a step by its depth in the sequence.
func indent(p tasksequence.Path) string { return strings.Repeat("  ", len(p)-1) }

// count counts the devices whose outcome is state.
func count(pc [3]string, state string) int {
	n := 0
	for _, s := range pc {
		if s == state {
			n++
		}
	}
	return n
}
