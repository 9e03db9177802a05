package server_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The rules of ARCHITECTURE.md, checked against the code: what the
// compiler links (go list) and what the interfaces declare (go/ast).

const module = "github.com/slipway-ci/slipway/"

// deps lists the Slipway packages pkg links, itself excluded.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var got []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, module) && p != module+pkg {
			got = append(got, strings.TrimPrefix(p, module))
		}
	}
	sort.Strings(got)
	return got
}

// TestServerNeverLinksTheRolloutEngine: only deploy pods change workloads,
// so nothing the server links may hold the strategies.
func TestServerNeverLinksTheRolloutEngine(t *testing.T) {
	for _, p := range deps(t, "pkg/server") {
		if p == "pkg/deploy" || strings.HasPrefix(p, "pkg/deploy/") {
			t.Errorf("pkg/server links %s: the rollout engine runs only in deploy pods", p)
		}
	}
}

// TestStoreLinksOnlyTheDomain: the store persists domain types; a stage
// in its imports would knot the layers and pull a database into the
// stage's tests.
func TestStoreLinksOnlyTheDomain(t *testing.T) {
	domain := map[string]bool{"pkg/event": true, "pkg/run": true, "pkg/release": true, "pkg/testreport": true}
	var other []string
	for _, p := range deps(t, "pkg/store") {
		if !domain[p] {
			other = append(other, p)
		}
	}
	if diff := cmp.Diff([]string(nil), other); diff != "" {
		t.Errorf("pkg/store links packages other than the domain ones (-want +got):\n%s", diff)
	}
}

// TestLeavesStayLeaves: the domain packages and the shared contracts are
// importable from every layer, so they link nothing but each other.
func TestLeavesStayLeaves(t *testing.T) {
	leaves := map[string]bool{"pkg/event": true, "pkg/run": true, "pkg/release": true,
		"pkg/rollout": true, "pkg/retry": true, "pkg/api/wire": true, "pkg/testreport": true}
	for p := range leaves {
		for _, d := range deps(t, p) {
			if !leaves[d] {
				t.Errorf("%s links %s; it must stay a leaf", p, d)
			}
		}
	}
}

// iface is one interface declaration: its own methods and what it embeds.
type iface struct {
	pos     string
	methods int
	embeds  []string // "pkgdir.Name" of module interfaces, else "?"
}

// TestInterfacesAreSmall: consumers declare the few methods they use; an
// interface over five methods is a component asking for too much.
func TestInterfacesAreSmall(t *testing.T) {
	root := filepath.Join("..")
	ifaces := map[string]iface{} // "pkgdir.Name"
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		imports := map[string]string{} // local name → pkgdir
		for _, im := range f.Imports {
			p := strings.Trim(im.Path.Value, `"`)
			if !strings.HasPrefix(p, module+"pkg/") {
				continue
			}
			rel := "../" + strings.TrimPrefix(p, module+"pkg/")
			name := filepath.Base(p)
			if im.Name != nil {
				name = im.Name.Name
			}
			imports[name] = rel
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			it, ok := ts.Type.(*ast.InterfaceType)
			if !ok {
				return true
			}
			in := iface{pos: fset.Position(ts.Pos()).String()}
			for _, m := range it.Methods.List {
				if len(m.Names) > 0 {
					in.methods += len(m.Names)
					continue
				}
				switch e := m.Type.(type) {
				case *ast.Ident:
					in.embeds = append(in.embeds, dir+"."+e.Name)
				case *ast.SelectorExpr:
					if x, ok := e.X.(*ast.Ident); ok && imports[x.Name] != "" {
						in.embeds = append(in.embeds, imports[x.Name]+"."+e.Sel.Name)
					} else {
						in.embeds = append(in.embeds, "?") // outside the module: counted as one
					}
				default:
					in.embeds = append(in.embeds, "?")
				}
			}
			ifaces[dir+"."+ts.Name.Name] = in
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var count func(string, int) int
	count = func(key string, depth int) int {
		in, ok := ifaces[key]
		if !ok || depth > 10 {
			return 1 // a type constraint or an interface outside pkg/
		}
		n := in.methods
		for _, e := range in.embeds {
			n += count(e, depth+1)
		}
		return n
	}
	if len(ifaces) < 20 {
		t.Fatalf("found %d interfaces under pkg/; the walk is broken", len(ifaces))
	}
	for key, in := range ifaces {
		if n := count(key, 0); n > 5 {
			t.Errorf("%s: interface %s has %d methods; declare the few the consumer uses (at most 5)", in.pos, key[strings.LastIndex(key, ".")+1:], n)
		}
	}
}

// TestImportsFollowTheLayers holds ARCHITECTURE.md's table of packages by
// layer against the imports: a package imports only its own layer or the
// layers listed before it, and every package has its row.
func TestImportsFollowTheLayers(t *testing.T) {
	doc, err := os.ReadFile("../../ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	layer, n := map[string]int{}, 0
	name := regexp.MustCompile("`(pkg/[a-z/]+)`")
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if !strings.HasPrefix(line, "| ") || len(cells) < 3 {
			continue
		}
		first := strings.TrimSpace(cells[0])
		if first == "layer" || strings.HasPrefix(first, "--") {
			continue
		}
		if first != "" {
			n++
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			layer[m[1]] = n
		}
	}
	if n < 3 {
		t.Fatalf("found %d layers in ARCHITECTURE.md; is the table still there?", n)
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"pkg/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		p := strings.TrimPrefix(f[0], module)
		if strings.HasSuffix(p, "test") { // test kits (storetest, apitest, ...)
			continue
		}
		lp, ok := layer[p]
		if !ok {
			t.Errorf("%s has no row in ARCHITECTURE.md's table of packages", p)
			continue
		}
		for _, imp := range f[1:] {
			i := strings.TrimPrefix(imp, module)
			if li, ok := layer[i]; ok && li > lp {
				t.Errorf("%s (layer %d) imports %s (layer %d): only its own layer or the ones listed before it", p, lp, i, li)
			}
		}
	}
}
