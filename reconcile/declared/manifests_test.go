package declared_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// manifest is one object a test compares, and where it comes from.
type manifest struct {
	source string
	obj    *unstructured.Unstructured
}

func (m manifest) String() string {
	return fmt.Sprintf("%s %s %s/%s", m.source, m.obj.GetKind(), m.obj.GetNamespace(), m.obj.GetName())
}

// decode reads every object of a YAML or JSON stream.
func decode(t *testing.T, source, data string) []manifest {
	t.Helper()
	var out []manifest
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(data), 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil { // integers stay int64, as the renderer reads them
			t.Fatalf("%s: %v", source, err)
		}
		out = append(out, manifest{source, u})
	}
}

func readManifests(t *testing.T, paths ...string) []manifest {
	t.Helper()
	var out []manifest
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, decode(t, filepath.ToSlash(p), string(b))...)
	}
	return out
}

// chartManifests renders charts/writ, as `helm install --dry-run` would (the way
// charts/render_test.go does), hooks included, with its default values and with the webhook's
// self-managed certificate. cert-manager's objects are left out: the test control plane has no
// cert-manager CRDs to store them.
func chartManifests(t *testing.T, kubeVersion string) []manifest {
	t.Helper()
	var out []manifest
	for _, values := range []map[string]any{{}, {"webhook": map[string]any{"tls": map[string]any{"mode": "self-managed"}}}} {
		for _, m := range renderChart(t, kubeVersion, values) {
			if m.obj.GroupVersionKind().Group != "cert-manager.io" {
				out = append(out, m)
			}
		}
	}
	return out
}

func renderChart(t *testing.T, kubeVersion string, values map[string]any) []manifest {
	t.Helper()
	c, err := loader.Load("../../charts/writ")
	if err != nil {
		t.Fatal(err)
	}
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace, install.KubeVersion = "writ", "writ-system", kv
	rel, err := install.Run(c, values)
	if err != nil {
		t.Fatal(err)
	}
	manifest := rel.Manifest
	for _, h := range rel.Hooks {
		manifest += "\n---\n" + h.Manifest
	}
	return decode(t, "charts/writ", manifest)
}

// demoManifests are the manifests test/demo commits, read from its source: every string
// expression there that is a manifest, with "demo" for each variable part (configMapYAML(mode)).
func demoManifests(t *testing.T) []manifest {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("../../test/demo/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no demo sources: %v", err)
	}
	var out []manifest
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			e, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			s, ok := stringExpr(e)
			if !ok {
				return true
			}
			if strings.HasPrefix(s, "apiVersion:") && !strings.Contains(s, "%") { // not a format string
				out = append(out, decode(t, filepath.ToSlash(name), s)...)
			}
			return false
		})
	}
	return out
}

// stringExpr evaluates a concatenation of string literals and identifiers ("demo" for each).
func stringExpr(e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(x.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return "", false
		}
		l, lok := stringExpr(x.X)
		r, rok := stringExpr(x.Y)
		return l + r, lok && rok
	case *ast.Ident:
		return "demo", true
	}
	return "", false
}
