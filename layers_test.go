package nexus_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nexus-authz/nexus"

// layers are the module's folders from the bottom up. A package may import
// a package of a lower layer, or of its own folder (fileplane/files may
// import fileplane/paths; server may import server/rpc), and nothing else:
// identity and the file plane are peers that do not know each other, and
// nothing below server sees a transport.
var layers = [][]string{
	{"internal", "errs", "", "api"}, // leaves; "" is the root package (schema.zed)
	{"storage"},
	{"authz"},
	{"identity", "fileplane"},
	{"server"},
	{"cmd", "bench"},
}

// transports are what only server and above may import.
var transports = []string{module + "/api", "connectrpc.com/", "net/http/httptest"}

// engines are SpiceDB's own packages: authz embeds SpiceDB, and the layers
// above it speak authz's types, never SpiceDB's.
var engines = []string{"github.com/authzed/"}

// folder returns the top folder of a module package ("" for the root) and
// its layer.
func folder(pkg string) (string, int) {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	top, _, _ := strings.Cut(rel, "/")
	for i, l := range layers {
		for _, f := range l {
			if f == top {
				return top, i
			}
		}
	}
	return top, -1
}

// unit is a package's own folder for the same-folder rule: fileplane's
// packages share one, authz/memdb is authz's, internal/x is only itself.
func unit(pkg string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	if strings.HasPrefix(rel, "internal/") {
		return rel
	}
	top, _, _ := strings.Cut(rel, "/")
	return top
}

// TestLayers fails when an import, a test's included, points the wrong way.
func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`,
		module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	seen := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg, imports := f[0], f[1:]
		top, layer := folder(pkg)
		if layer < 0 {
			t.Errorf("%s: folder %q is in no layer; add it to layers in layers_test.go", pkg, top)
			continue
		}
		seen++
		for _, imp := range imports {
			if layer < 4 && top != "api" && top != "" {
				for _, tr := range transports {
					if strings.HasPrefix(imp, tr) {
						t.Errorf("%s imports %s: only server and above see a transport", pkg, imp)
					}
				}
			}
			if top == "storage" || top == "identity" || top == "fileplane" {
				for _, e := range engines {
					if strings.HasPrefix(imp, e) {
						t.Errorf("%s imports %s: only authz speaks SpiceDB's types", pkg, imp)
					}
				}
			}
			if imp == pkg+"_test" || (imp != module && !strings.HasPrefix(imp, module+"/")) {
				continue
			}
			if strings.HasPrefix(strings.TrimPrefix(pkg, module), "/internal/") && imp != pkg {
				t.Errorf("%s imports %s: internal/ holds leaves that import nothing of the module", pkg, imp)
				continue
			}
			itop, ilayer := folder(imp)
			if ilayer < layer || unit(imp) == unit(pkg) {
				continue
			}
			t.Errorf("%s (layer %s) imports %s (layer %s): an arrow pointing up or sideways", pkg, top, imp, itop)
		}
	}
	if seen < 30 {
		t.Fatalf("go list named %d packages: expected the whole module", seen)
	}
}

// TestLayersCatch shows the rules refuse what they are for.
func TestLayersCatch(t *testing.T) {
	for _, c := range []struct{ pkg, imp string }{
		{"/fileplane/files", "/identity"},
		{"/identity", "/fileplane/paths"},
		{"/authz", "/fileplane/paths"},
		{"/storage/postgres", "/authz"},
		{"/server/rpc", "/cmd/nexus"},
	} {
		_, l := folder(module + c.pkg)
		_, il := folder(module + c.imp)
		if il < l {
			t.Errorf("%s importing %s would be allowed", c.pkg, c.imp)
		}
	}
}
