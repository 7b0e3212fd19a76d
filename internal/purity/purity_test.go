package purity

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// domain lists the pure packages, by folder relative to the module root.
var domain = []string{"package", "schedule", "collection", "collection/wql", "advertisement", "distpoint", "updates", "tasksequence"}

// forbidden are import paths (or prefixes ending in "/") a domain package
// must not use in non-test code.
var forbidden = []string{
	"github.com/consign/consign/delivery", "github.com/consign/consign/delivery/",
	"os", "os/", "net", "net/", "io/ioutil", "database/", "syscall", "log", "log/", "math/rand", "math/rand/v2", "crypto/rand",
}

func TestDomainPackagesArePure(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, dir := range domain {
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Errorf("%s: no Go files; is the domain list out of date?", dir)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			checkFile(t, f)
		}
	}
}

// reporter is the part of *testing.T the checker uses, so the checker
// itself can be tested.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
}

func checkFile(t reporter, path string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	timeName := ""
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		for _, bad := range forbidden {
			if p == "net/netip" {
				break // pure value types for addresses and prefixes
			}
			if p == bad || strings.HasSuffix(bad, "/") && strings.HasPrefix(p, bad) {
				t.Errorf("%s imports %s: domain packages must not import delivery, adapters or I/O packages", fset.Position(imp.Pos()), p)
			}
		}
		if p == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			t.Errorf("%s: go statement: domain packages start no goroutines", fset.Position(n.Pos()))
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && timeName != "" && id.Name == timeName {
				switch n.Sel.Name {
				case "Now", "Since", "Until", "Sleep", "After", "Tick", "NewTimer", "NewTicker", "AfterFunc", "LoadLocation":
					t.Errorf("%s: time.%s: domain packages take time as a parameter and do no I/O", fset.Position(n.Pos()), n.Sel.Name)
				}
			}
		}
		return true
	})
}

func TestCheckerCatchesViolations(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.go")
	src := "package bad\nimport (\n\"time\"\n\"github.com/consign/consign/delivery/memstore\"\n)\nfunc f() { go f(); _ = time.Now(); _ = memstore.New }\n"
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	checkFile(rec, bad)
	if len(rec.msgs) != 3 {
		t.Fatalf("checker found %d violations in a file with 3 (import, go, time.Now): %q", len(rec.msgs), rec.msgs)
	}
}

type recorder struct{ msgs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
