// Distribution sends a package's content to three distribution points and
// walks through the Manage Distribution Points workflow:
//
//  1. a package source folder of 300 files (a few KB to a few hundred KB
//     each) is written to a temporary directory; it stands for the share
//     \\FS01\Source\ContosoSuite an administrator would name;
//  2. three distribution points get a content library each, a directory
//     where files are stored once by SHA-256; the third is flaky: its first
//     writes fail, as when a DP's share is briefly unreachable;
//  3. the package is created from the folder's manifest and added to the
//     three DPs; DistributeContent passes copy it, drawing a progress bar,
//     until every DP has it installed. The flaky DP goes to Install
//     Retrying; its retries become due 30 minutes later (the ConfigMgr
//     default), so the example moves its clock on instead of waiting;
//  4. a few source files are edited and the package updated: every DP gets
//     the new version, and only the changed files are copied;
//  5. a file is damaged on one DP's disk: content validation finds the
//     hash mismatch, and refreshing the package on that DP repairs it;
//  6. the package is removed from one DP.
//
// After each step the state of the package on every DP is printed, as the
// console's Package Status shows it.
//
// Run it with: go run ./examples/distribution
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	"github.com/consign/consign/internal/storeopen"
	pkg "github.com/consign/consign/package"
)

func main() {
	storeSpec := flag.String("store", "memory", storeopen.Usage+" (a fresh one: the example builds its site from scratch)")
	flag.Parse()
	if err := run(context.Background(), *storeSpec); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, storeSpec string) error {
	store, err := storeopen.Open(ctx, storeSpec)
	if err != nil {
		return err
	}
	defer store.Close()
	tmp, err := os.MkdirTemp("", "consign-distribution-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// 1. The package source folder.
	const sourcePath = `\\FS01\Source\ContosoSuite`
	srcDir := filepath.Join(tmp, "source")
	if err := writeSource(srcDir, 300); err != nil {
		return fmt.Errorf("write the package source: %w", err)
	}

	// 2. Three DPs, each with a content library in its own directory. The
	// site finds a DP's library by its NAL path.
	names := []string{"DP01", "DP02", "DP03"}
	nals := make([]string, len(names))
	dirs := map[string]string{}            // NAL path → library directory
	libs := map[string]distpoint.Library{} // NAL path → library
	display := map[string]string{}         // NAL path → server name
	for i, name := range names {
		nal := fmt.Sprintf(`["Display=\\%s\"]MSWNET:["SMS_SITE=CEN"]\\%s\`, name, name)
		dir := filepath.Join(tmp, name)
		lib, err := fslibrary.Open(dir)
		if err != nil {
			return err
		}
		var l distpoint.Library = lib
		if name == "DP03" {
			l = newFlaky(lib, 2) // its first two writes fail
		}
		nals[i], dirs[nal], libs[nal], display[nal] = nal, dir, l, name
	}

	// A settable clock: retries become due without sleeping.
	clock := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	bar := &progressBar{names: display}
	site, err := delivery.Open(ctx, store, delivery.NewChannelTransport(), &delivery.Options{
		SiteCode: "CEN",
		Clock:    clock.Now,
		Libraries: func(nal string) (distpoint.Library, error) {
			if l, ok := libs[nal]; ok {
				return l, nil
			}
			return nil, fmt.Errorf("unknown distribution point %s", nal)
		},
		// The package's SourcePath is a UNC path, as on a ConfigMgr site
		// server; here it is served from the folder written above.
		Sources: func(p *pkg.Package) (fs.FS, error) {
			if p.SourcePath != sourcePath {
				return nil, fmt.Errorf("no source folder for %s", p.SourcePath)
			}
			return os.DirFS(srcDir), nil
		},
		ThreadsPerPackage: 3,
		Progress:          bar.event,
	})
	if err != nil {
		return err
	}
	defer site.Close()
	for i, nal := range nals {
		dp := &distpoint.DistributionPoint{NALPath: nal, Name: names[i], SiteCode: "CEN", Kind: distpoint.Standard, BITSEnabled: true}
		if err := site.AddDistributionPoint(ctx, dp); err != nil {
			return err
		}
	}

	// 3. The package, from the folder's manifest (every file's path, size
	// and SHA-256), copied to the three DPs.
	m, err := source.ManifestFromFS(ctx, os.DirFS(srcDir))
	if err != nil {
		return err
	}
	p := pkg.NewPackage("", "Contoso Suite")
	p.Version, p.Manufacturer, p.Language = "4.2", "Contoso", "English"
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, sourcePath, m
	if p, err = site.CreatePackage(ctx, p); err != nil {
		return fmt.Errorf("create package: %w", err)
	}
	fmt.Printf("Package %s %q: %d files, %s, source version %d\n", p.ID, p.Name, len(m.Files), mib(totalSize(m)), p.SourceVersion)
	if err := site.AddPackageToDistributionPoints(ctx, p.ID, nals...); err != nil {
		return err
	}
	if err := printTable(site, p.ID, display); err != nil {
		return err
	}

	distribute := func(title string) (*delivery.DistributionReport, error) {
		fmt.Printf("\n== %s (%s)\n", title, clock.Now().Format("Jan 2 15:04"))
		pk, err := site.Package(p.ID)
		if err != nil {
			return nil, err
		}
		// The rows the pass will work on: pending, or retrying and due.
		rows, err := site.PackageStatus(p.ID)
		if err != nil {
			return nil, err
		}
		var due []distpoint.PackageStatus
		for _, r := range rows {
			if r.Due(clock.Now(), distpoint.Retry{}) {
				due = append(due, r)
			}
		}
		bar.start(len(pk.Manifest.Files), due)
		rep, err := site.DistributeContent(ctx)
		bar.finish()
		if err != nil {
			return nil, err
		}
		return rep, printTable(site, p.ID, display)
	}

	allInstalled := func() (bool, error) {
		rows, err := site.PackageStatus(p.ID)
		if err != nil {
			return false, err
		}
		for _, r := range rows {
			if r.State != distpoint.Installed {
				return false, nil
			}
		}
		return true, nil
	}
	for pass := 1; ; pass++ {
		if pass > 10 {
			return errors.New("the package did not reach every DP in 10 passes")
		}
		if pass > 1 {
			// The retry delay is 30 minutes: let it pass.
			clock.Advance(31 * time.Minute)
		}
		if _, err := distribute(fmt.Sprintf("Distribution pass %d", pass)); err != nil {
			return err
		}
		if ok, err := allInstalled(); err != nil {
			return err
		} else if ok {
			break
		}
	}

	// 4. Edit three source files and update all DPs with the new version.
	clock.Advance(24 * time.Hour)
	edited := []string{"setup.exe", "config/app.ini", "bin/module017.dll"}
	for _, name := range edited {
		f, err := os.OpenFile(filepath.Join(srcDir, filepath.FromSlash(name)), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "\n; patched %s\n", clock.Now().Format(time.DateOnly))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if m, err = source.ManifestFromFS(ctx, os.DirFS(srcDir)); err != nil {
		return err
	}
	if p, err = site.UpdatePackageSource(ctx, p.ID, m); err != nil {
		return fmt.Errorf("update package source: %w", err)
	}
	fmt.Printf("\nEdited %s; the package is now at source version %d.\n", strings.Join(edited, ", "), p.SourceVersion)
	rep, err := distribute("Update all distribution points")
	if err != nil {
		return err
	}
	printCopied(rep, display)

	// 5. Damage a file on DP02's disk. Blobs are read-only files named by
	// their SHA-256.
	dp02 := nals[1]
	victim := p.Manifest.Sorted().Files[0]
	h := hex.EncodeToString(victim.SHA256[:])
	blob := filepath.Join(dirs[dp02], "blobs", h[:2], h)
	if err := os.Chmod(blob, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(blob, []byte("overwritten by a disk fault"), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nDamaged %s on DP02's disk.\n\n== Validate content\n", victim.Path)
	if rep, err = site.ValidateContent(ctx, p.ID); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Err != nil {
			fmt.Printf("%s: %v\n", display[r.NALPath], r.Err)
		} else {
			fmt.Printf("%s: content intact\n", display[r.NALPath])
		}
	}
	if err := printTable(site, p.ID, display); err != nil {
		return err
	}
	if err := site.RefreshPackageOnDistributionPoints(ctx, p.ID, dp02); err != nil {
		return err
	}
	if rep, err = distribute("Refresh the package on DP02"); err != nil {
		return err
	}
	printCopied(rep, display)
	if rep, err = site.ValidateContent(ctx, p.ID, dp02); err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("content still damaged after the refresh: %w", err)
	}
	fmt.Println("DP02 validated again: content intact.")

	// 6. Remove the package from DP01.
	if err := site.RemovePackageFromDistributionPoints(ctx, p.ID, nals[0]); err != nil {
		return err
	}
	if rep, err = distribute("Remove the package from DP01"); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Removed {
			fmt.Printf("%s: content removed, the package's row is gone.\n", display[r.NALPath])
		}
	}
	versions, err := libs[nals[0]].Versions(ctx, p.ID)
	if err != nil {
		return err
	}
	fmt.Printf("DP01's library holds %d version(s) of %s.\n", len(versions), p.ID)
	return nil
}

// writeSource writes n files of deterministic content under dir: mostly a
// few KB, some a few hundred KB.
func writeSource(dir string, n int) error {
	rng := rand.New(rand.NewPCG(2007, 3))
	data := rand.NewChaCha8([32]byte{'c', 'o', 'n', 's', 'i', 'g', 'n'})
	write := func(name string, size int) error {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		buf := make([]byte, size)
		_, _ = data.Read(buf)
		return os.WriteFile(path, buf, 0o644)
	}
	if err := write("setup.exe", 180<<10); err != nil {
		return err
	}
	if err := write("config/app.ini", 2<<10); err != nil {
		return err
	}
	for i := range n - 2 {
		var name string
		switch i % 3 {
		case 0:
			name = fmt.Sprintf("bin/module%03d.dll", i/3)
		case 1:
			name = fmt.Sprintf("data/table%03d.dat", i/3)
		default:
			name = fmt.Sprintf("help/en-US/topic%03d.htm", i/3)
		}
		size := 2<<10 + rng.IntN(30<<10)
		if rng.IntN(6) == 0 {
			size = 100<<10 + rng.IntN(300<<10)
		}
		if err := write(name, size); err != nil {
			return err
		}
	}
	return nil
}

// flaky is a DP whose share is briefly unreachable: its first few PutBlob
// calls fail.
type flaky struct {
	distpoint.Library
	failures atomic.Int64
}

func newFlaky(lib distpoint.Library, failures int64) *flaky {
	f := &flaky{Library: lib}
	f.failures.Store(failures)
	return f
}

func (f *flaky) PutBlob(ctx context.Context, sum [32]byte, size int64, r io.Reader) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("the network path was not found")
	}
	return f.Library.PutBlob(ctx, sum, size, r)
}

// clock is a clock the example moves on by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// progressBar draws one line per DistributeContent pass, redrawn in place:
// files done (copied or already there) and MiB copied per DP. State
// changes are printed on lines of their own. Progress events come from
// several goroutines.
type progressBar struct {
	names map[string]string // NAL path → DP name

	mu         sync.Mutex
	files      int                    // files in the package version
	dps        map[string]*dpProgress // by NAL path
	drawn      bool
	lastLength int
}

type dpProgress struct {
	removing bool
	done     int   // files on the DP: copied or already there
	bytes    int64 // bytes copied
}

// start begins a pass that works on the rows due.
func (b *progressBar) start(files int, due []distpoint.PackageStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.files, b.dps, b.drawn, b.lastLength = files, map[string]*dpProgress{}, false, 0
	for _, r := range due {
		b.dps[r.NALPath] = &dpProgress{removing: r.Removing()}
	}
	b.draw()
}

func (b *progressBar) event(e delivery.ProgressEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.State != nil {
		b.clear()
		fmt.Printf("  %s is now %s\n", b.names[e.NALPath], e.State)
		b.draw()
		return
	}
	d := b.dps[e.NALPath]
	if d == nil {
		d = &dpProgress{}
		b.dps[e.NALPath] = d
	}
	d.done++
	if !e.Skipped {
		d.bytes += e.Bytes
	}
	b.draw()
}

// draw writes the bar over the current line.
func (b *progressBar) draw() {
	if len(b.dps) == 0 {
		return
	}
	done, total := 0, 0
	var parts []string
	for _, nal := range sortedKeys(b.dps) {
		d := b.dps[nal]
		if d.removing {
			parts = append(parts, b.names[nal]+" removing")
			continue
		}
		done, total = done+d.done, total+b.files
		parts = append(parts, fmt.Sprintf("%s %3d/%d %9s", b.names[nal], d.done, b.files, mib(d.bytes)))
	}
	const width = 10
	fill := width
	if total > 0 {
		fill = done * width / total
	}
	line := fmt.Sprintf("  [%s%s] %s", strings.Repeat("#", fill), strings.Repeat(".", width-fill), strings.Join(parts, "  "))
	fmt.Printf("\r%-*s", b.lastLength, line)
	b.lastLength, b.drawn = len(line), true
}

// clear blanks the bar's line so that a message can take it.
func (b *progressBar) clear() {
	if b.drawn {
		fmt.Printf("\r%s\r", strings.Repeat(" ", b.lastLength))
	}
}

// finish ends the pass's bar line.
func (b *progressBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.dps) > 0 {
		b.draw()
		fmt.Println()
	} else {
		fmt.Println("  (nothing due)")
	}
	b.dps, b.drawn, b.lastLength = nil, false, 0
}

// printTable prints the package's state on every DP, as the console's
// Package Status node does.
func printTable(site *delivery.Site, id consign.ObjectID, names map[string]string) error {
	rows, err := site.PackageStatus(id)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "DP (NAL path)\tState\tInstalled\tRetries\tLast error")
	for _, r := range rows {
		installed := "-"
		if r.SourceVersion > 0 {
			installed = fmt.Sprintf("v%d", r.SourceVersion)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", r.NALPath, r.State, installed, r.Retries, shorten(r.LastError, 56))
	}
	return w.Flush()
}

// printCopied shows, per DP, what a pass copied and what was already there.
func printCopied(rep *delivery.DistributionReport, names map[string]string) {
	for _, r := range rep.Results {
		fmt.Printf("%s: copied %d file(s) (%s), %d already on the DP\n", names[r.NALPath], r.Files, mib(r.Bytes), r.Skipped)
	}
}

func totalSize(m pkg.Manifest) int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

func mib(n int64) string {
	if n > 0 && n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
