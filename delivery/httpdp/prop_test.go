package httpdp_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/consign/consign/delivery/httpdp"
)

// TestPropInterruptedFetchResumes: whatever the files and wherever a DP
// dies, a Fetch after the interrupted one yields exactly the manifest's
// bytes, reusing every byte the first one received and downloading only
// the rest.
func TestPropInterruptedFetchResumes(t *testing.T) {
	base := t.TempDir()
	paths := []string{"a.bin", "b/c.bin", "b/d.txt", "e", "F/g/h.dat"}
	rapid.Check(t, func(rt *rapid.T) {
		chosen := rapid.SliceOfNDistinct(rapid.SampledFrom(paths), 1, len(paths), rapid.ID[string]).Draw(rt, "paths")
		var files []testFile
		var total int64
		for _, p := range chosen {
			size := rapid.IntRange(0, 40000).Draw(rt, "size "+p)
			seed := rapid.Int().Draw(rt, "seed "+p)
			files = append(files, testFile{p, pattern(p+strconv.Itoa(seed), size)})
			total += int64(size)
		}
		cut := rapid.Int64Range(0, total).Draw(rt, "cut")

		lib := newMemLib()
		m := publish(rt, lib, testPkg, 1, files)
		inner := httpdp.NewServer(lib, nil)
		dying := httptest.NewServer(&cutter{h: inner, allow: budgetCut(cut)})
		defer dying.Close()
		healthy := httptest.NewServer(inner)
		defer healthy.Close()
		dir, err := os.MkdirTemp(base, "fetch-")
		if err != nil {
			rt.Fatal(err)
		}
		d := &httpdp.Downloader{MaxAttempts: 1, RetryDelay: time.Millisecond}
		ctx := context.Background()

		first, err := d.Fetch(ctx, []httpdp.Source{{dying.URL}}, testPkg, 1, m, dir)
		if cut >= total && err != nil {
			rt.Fatalf("nothing was cut, yet: %v", err)
		}
		if first.Downloaded != min(cut, total) {
			rt.Fatalf("first fetch downloaded %d, want %d", first.Downloaded, min(cut, total))
		}
		second, err := d.Fetch(ctx, []httpdp.Source{{healthy.URL}}, testPkg, 1, m, dir)
		if err != nil {
			rt.Fatalf("second fetch: %v", err)
		}
		checkFiles(rt, dir, files)
		if kept := second.Reused + second.Resumed; kept != first.Downloaded {
			rt.Fatalf("second fetch kept %d bytes (reused %d, resumed %d), first received %d", kept, second.Reused, second.Resumed, first.Downloaded)
		}
		if second.Downloaded != total-first.Downloaded {
			rt.Fatalf("second fetch downloaded %d, want %d", second.Downloaded, total-first.Downloaded)
		}
	})
}

// TestPropServerRanges: any set of byte ranges, in any order, is served as
// the model (the bytes themselves) says, from a blob reader that cannot
// seek as from one that can.
func TestPropServerRanges(t *testing.T) {
	for _, seekable := range []bool{false, true} {
		t.Run(fmt.Sprint("seekable=", seekable), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				size := rapid.IntRange(1, 5000).Draw(rt, "size")
				data := pattern("ranges"+strconv.Itoa(size), size)
				lib := newMemLib()
				lib.seekable = seekable
				publish(rt, lib, testPkg, 1, []testFile{{"f.bin", data}})
				h := httpdp.NewServer(lib, nil)

				n := rapid.IntRange(1, 5).Draw(rt, "ranges")
				type rng struct{ first, last int }
				var rs []rng
				var specs []string
				var sum int
				for i := range n {
					a := rapid.IntRange(0, size-1).Draw(rt, fmt.Sprint("first ", i))
					b := rapid.IntRange(a, size-1).Draw(rt, fmt.Sprint("last ", i))
					rs = append(rs, rng{a, b})
					specs = append(specs, fmt.Sprintf("%d-%d", a, b))
					sum += b - a + 1
				}
				req := httptest.NewRequest("GET", "/v1/content/CEN00001/1/files/f.bin", nil)
				req.Header.Set("Range", "bytes="+strings.Join(specs, ","))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				body := rec.Body.Bytes()
				if sum > size {
					// net/http serves the whole file when the ranges add up
					// to more than it.
					if rec.Code != 200 || !bytes.Equal(body, data) {
						rt.Fatalf("overlapping ranges: %d, %d bytes", rec.Code, len(body))
					}
					return
				}
				if rec.Code != http.StatusPartialContent {
					rt.Fatalf("status %d", rec.Code)
				}
				if n == 1 {
					if !bytes.Equal(body, data[rs[0].first:rs[0].last+1]) {
						rt.Fatalf("single range body differs")
					}
					return
				}
				_, params, err := mime.ParseMediaType(rec.Header().Get("Content-Type"))
				if err != nil {
					rt.Fatal(err)
				}
				mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
				for i, r := range rs {
					p, err := mr.NextPart()
					if err != nil {
						rt.Fatalf("part %d: %v", i, err)
					}
					got, _ := io.ReadAll(p)
					if !bytes.Equal(got, data[r.first:r.last+1]) {
						rt.Fatalf("part %d (%d-%d) differs", i, r.first, r.last)
					}
				}
			})
		})
	}
}
