package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/consign/consign"
	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/fslibrary"
	"github.com/consign/consign/delivery/memstore"
	"github.com/consign/consign/delivery/source"
	"github.com/consign/consign/distpoint"
	pkg "github.com/consign/consign/package"
)

// benchFiles is the number of files of the benchmark package.
const benchFiles = 200

// benchBytes is the size of the benchmark package: 1 GiB, or
// CONSIGN_BENCH_BYTES.
func benchBytes(b *testing.B) int64 {
	b.Helper()
	if s := os.Getenv("CONSIGN_BENCH_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < benchFiles {
			b.Fatalf("CONSIGN_BENCH_BYTES=%q: want a byte count of at least %d", s, benchFiles)
		}
		return n
	}
	return 1 << 30
}

// writeBenchFile writes size bytes of deterministic, incompressible
// content (a ChaCha8 stream seeded by seed) to path, and syncs it: setup
// must leave no dirty data behind for a timed pass to write back (a DP
// library's sync of the file system would otherwise pay for the source).
func writeBenchFile(b *testing.B, path string, seed uint64, size int64) {
	b.Helper()
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.NewChaCha8(key), size); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// benchSource is a package source folder written once per benchmark.
type benchSource struct {
	dir      string
	files    []string // paths relative to dir
	bytes    int64
	manifest pkg.Manifest
}

// newBenchSource writes benchFiles files of equal size, about total bytes
// in all, with content seeds seeds[i] (files with the same seed have the
// same content). Files whose seed is in from are hard links to that
// folder's file of the same seed.
func newBenchSource(b *testing.B, total int64, seeds []uint64, from *benchSource, fromSeeds []uint64) *benchSource {
	b.Helper()
	s := &benchSource{dir: b.TempDir()}
	size := total / int64(len(seeds))
	have := map[uint64]string{}
	if from != nil {
		for i, seed := range fromSeeds {
			have[seed] = filepath.Join(from.dir, from.files[i])
		}
	}
	for i, seed := range seeds {
		name := fmt.Sprintf("files/part%03d.bin", i)
		path := filepath.Join(s.dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if old, ok := have[seed]; !ok || os.Link(old, path) != nil {
			writeBenchFile(b, path, seed, size)
		}
		s.files = append(s.files, name)
		s.bytes += size
	}
	syncDirs(b, filepath.Join(s.dir, "files"), s.dir)
	m, err := source.ManifestFromFS(context.Background(), os.DirFS(s.dir))
	if err != nil {
		b.Fatal(err)
	}
	s.manifest = m
	return s
}

// syncDirs makes the entries of each directory durable.
func syncDirs(b *testing.B, dirs ...string) {
	b.Helper()
	for _, dir := range dirs {
		d, err := os.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		err = d.Sync()
		d.Close()
		if err != nil && !errors.Is(err, os.ErrInvalid) { // Windows cannot sync a directory
			b.Fatal(err)
		}
	}
}

// removeSettled removes the tree at dir, outside the timer, and makes the
// removal durable, so that the next timed phase starts on a quiet file
// system rather than committing (and discarding) the last phase's files.
func removeSettled(b *testing.B, dir string) {
	b.Helper()
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	syncDirs(b, filepath.Dir(dir))
}

// benchDPs opens n fresh filesystem DP libraries below dir.
func benchDPs(b *testing.B, dir string, n int) map[string]distpoint.Library {
	b.Helper()
	libs := map[string]distpoint.Library{}
	for i := range n {
		nal := fmt.Sprintf("DP%02d", i+1)
		lib, err := fslibrary.Open(filepath.Join(dir, nal))
		if err != nil {
			b.Fatal(err)
		}
		libs[nal] = lib
	}
	return libs
}

// benchSite opens a site over the libraries with every DP registered; a
// package's source is the folder of srcs named by the package's name.
func benchSite(b *testing.B, libs map[string]distpoint.Library, srcs map[string]*benchSource) *delivery.Site {
	b.Helper()
	ctx := context.Background()
	site, err := delivery.Open(ctx, memstore.New(), nil, &delivery.Options{
		Clock:     func() time.Time { return t0 },
		Libraries: func(nal string) (distpoint.Library, error) { return libs[nal], nil },
		Sources: func(p *pkg.Package) (fs.FS, error) {
			src, ok := srcs[p.Name]
			if !ok {
				return nil, fmt.Errorf("no source for %s", p.Name)
			}
			return os.DirFS(src.dir), nil
		},
		ThreadsPerPackage: len(libs),
	})
	if err != nil {
		b.Fatal(err)
	}
	for nal := range libs {
		if err := site.AddDistributionPoint(ctx, &distpoint.DistributionPoint{NALPath: nal, Name: nal, SiteCode: "CEN", Kind: distpoint.Standard}); err != nil {
			b.Fatal(err)
		}
	}
	return site
}

// benchPackage creates a package over src and adds it to every DP.
func benchPackage(b *testing.B, site *delivery.Site, name string, src *benchSource, libs map[string]distpoint.Library) consign.ObjectID {
	b.Helper()
	ctx := context.Background()
	p := pkg.NewPackage("", name)
	p.SourceFlag, p.SourcePath, p.Manifest = pkg.StorageDirect, `\\FS01\Source\`+name, src.manifest
	p, err := site.CreatePackage(ctx, p)
	if err != nil {
		b.Fatal(err)
	}
	var nals []string
	for nal := range libs {
		nals = append(nals, nal)
	}
	if err := site.AddPackageToDistributionPoints(ctx, p.ID, nals...); err != nil {
		b.Fatal(err)
	}
	return p.ID
}

// distributeAll runs one pass and checks that every row it worked on is
// installed; it returns the bytes the pass reports copied.
func distributeAll(b *testing.B, site *delivery.Site) int64 {
	b.Helper()
	rep, err := site.DistributeContent(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, r := range rep.Results {
		if r.State != distpoint.Installed {
			b.Fatalf("%s on %s: %v after the pass", r.PackageID, r.NALPath, r.State)
		}
		n += r.Bytes
	}
	return n
}

// plainCopy copies every file of src to each of the destination folders,
// one goroutine per destination, with io.Copy from file to file; sync
// also syncs each file before closing it.
func plainCopy(src *benchSource, dests []string, sync bool) error {
	var g errgroup.Group
	for _, dst := range dests {
		g.Go(func() error {
			for _, name := range src.files {
				out := filepath.Join(dst, name)
				if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
					return err
				}
				if err := copyOne(filepath.Join(src.dir, name), out, sync); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func copyOne(from, to string, sync bool) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if sync {
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

// BenchmarkDistributeVsPlainCopy distributes a package of 200 files, 1 GiB
// in all (CONSIGN_BENCH_BYTES to change it), to 8 filesystem DPs on one
// disk, and copies the same files to 8 folders with a plain parallel copy
// in the same iteration (issue #3 target: distribution at least 0.7 of
// the plain copy's throughput). The timer covers the distribution pass
// only (so the standard MB/s is the distribution's); the metrics are:
//
//	dist-MB/s        bytes landed on the DPs per second of distribution
//	plain-MB/s       the same bytes per second of plain copy (io.Copy, no sync)
//	plainsync-MB/s   plain copy that also syncs each file, as a DP library must
//	ratio            dist-MB/s / plain-MB/s
//	ratio-vs-sync    dist-MB/s / plainsync-MB/s
//
// Each iteration starts from fresh DP and destination folders, made and
// removed outside the timer; the source is synced when written, and each
// removal is made durable before the next phase, so no phase pays for
// another's writeback.
func BenchmarkDistributeVsPlainCopy(b *testing.B) {
	const dps = 8
	seeds := make([]uint64, benchFiles)
	for i := range seeds {
		seeds[i] = uint64(i)
	}
	src := newBenchSource(b, benchBytes(b), seeds, nil, nil)
	work := b.TempDir()
	written := src.bytes * dps
	b.SetBytes(written)
	var dist, plain, plainSync time.Duration
	iters := 0
	for b.Loop() {
		b.StopTimer()
		iters++
		dir := filepath.Join(work, "dps")
		libs := benchDPs(b, dir, dps)
		site := benchSite(b, libs, map[string]*benchSource{"Big App": src})
		benchPackage(b, site, "Big App", src, libs)

		b.StartTimer()
		start := time.Now()
		got := distributeAll(b, site)
		dist += time.Since(start)
		b.StopTimer()
		if got != written {
			b.Fatalf("the pass copied %d bytes, want %d", got, written)
		}
		removeSettled(b, dir)

		for _, sync := range []bool{false, true} {
			var dests []string
			for i := range dps {
				dests = append(dests, filepath.Join(work, "plain", fmt.Sprint(i)))
			}
			start = time.Now()
			if err := plainCopy(src, dests, sync); err != nil {
				b.Fatal(err)
			}
			if sync {
				plainSync += time.Since(start)
			} else {
				plain += time.Since(start)
			}
			removeSettled(b, filepath.Join(work, "plain"))
		}
		b.StartTimer()
	}
	mbps := func(d time.Duration) float64 { return float64(written) * float64(iters) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(dist), "dist-MB/s")
	b.ReportMetric(mbps(plain), "plain-MB/s")
	b.ReportMetric(mbps(plainSync), "plainsync-MB/s")
	b.ReportMetric(mbps(dist)/mbps(plain), "ratio")
	b.ReportMetric(mbps(dist)/mbps(plainSync), "ratio-vs-sync")
}

// countingLibrary counts the bytes its library's PutBlob reads: the bytes
// actually written to the DP.
type countingLibrary struct {
	distpoint.Library
	n *atomic.Int64
}

func (c countingLibrary) PutBlob(ctx context.Context, sum [32]byte, size int64, r io.Reader) error {
	return c.Library.PutBlob(ctx, sum, size, &countingReader{r: r, n: c.n})
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// BenchmarkSharedFiles distributes a second package, 90% of whose files
// (by content, under other paths) are those of a first package already on
// the DPs, and reports the bytes written to the DP libraries for it as a
// fraction of its size on every DP (issue #3 target: at most 0.10):
//
//	written-fraction   bytes the libraries' PutBlob read / (package bytes × DPs)
//	copied-fraction    the same from DPResult.Bytes
//
// The first package is distributed outside the timer, to fresh DPs each
// iteration.
func BenchmarkSharedFiles(b *testing.B) {
	const dps = 4
	total := benchBytes(b)
	seedsA := make([]uint64, benchFiles)
	seedsB := make([]uint64, benchFiles)
	for i := range benchFiles {
		seedsA[i] = uint64(i)
		seedsB[i] = uint64(benchFiles - 1 - i) // shared content, other paths
		if i >= benchFiles*9/10 {
			seedsB[i] = uint64(1000 + i) // 10% new content
		}
	}
	a := newBenchSource(b, total, seedsA, nil, nil)
	bsrc := newBenchSource(b, total, seedsB, a, seedsA)
	work := b.TempDir()
	b.SetBytes(bsrc.bytes * dps)
	var written atomic.Int64 // reset before each second-package pass
	var wsum, copied int64
	iters := 0
	for b.Loop() {
		b.StopTimer()
		iters++
		dir := filepath.Join(work, "dps")
		libs := benchDPs(b, dir, dps)
		for nal, lib := range libs {
			libs[nal] = countingLibrary{Library: lib, n: &written}
		}
		site := benchSite(b, libs, map[string]*benchSource{"Big App": a, "Big App Plus": bsrc})
		benchPackage(b, site, "Big App", a, libs)
		distributeAll(b, site)
		benchPackage(b, site, "Big App Plus", bsrc, libs)
		written.Store(0)

		b.StartTimer()
		copied += distributeAll(b, site)
		b.StopTimer()
		wsum += written.Load()
		removeSettled(b, dir)
		b.StartTimer()
	}
	size := float64(bsrc.bytes) * dps * float64(iters)
	b.ReportMetric(float64(wsum)/size, "written-fraction")
	b.ReportMetric(float64(copied)/size, "copied-fraction")
}
