package layering

import (
	"os/exec"
	"strings"
	"testing"

	"writ.dev/writ/test/controlplane"
)

// deps lists every package pkg imports, directly or not, the standard library included.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

type rule struct {
	pkg       string
	forbidden []string // import path prefixes; a trailing "$" means exactly this package
	allowed   []string // exceptions to forbidden, as prefixes
}

// violations returns the imports r forbids.
func (r rule) violations(imports []string) []string {
	var bad []string
	for _, imp := range imports {
		if imp == r.pkg || matches(imp, r.allowed) {
			continue
		}
		if matches(imp, r.forbidden) {
			bad = append(bad, imp)
		}
	}
	return bad
}

func matches(imp string, prefixes []string) bool {
	for _, p := range prefixes {
		if exact, ok := strings.CutSuffix(p, "$"); ok {
			if imp == exact {
				return true
			}
		} else if imp == p || strings.HasPrefix(imp, p+"/") {
			return true
		}
	}
	return false
}

var controllerCode = []string{"sigs.k8s.io/controller-runtime", "github.com/prometheus/client_golang"}

// apiTypes are Writ's API packages and what they import of Writ's (audit's Event types).
var apiTypes = []string{"writ.dev/writ/provenance/api", "writ.dev/writ/audit/api", "writ.dev/writ/webhook/api", "writ.dev/writ/reconcile/api", "writ.dev/writ/audit$"}

var rules = []rule{
	{pkg: "writ.dev/writ/provenance/...", forbidden: append([]string{"writ.dev/writ"}, controllerCode...), allowed: []string{"writ.dev/writ/provenance"}},
	{pkg: "writ.dev/writ/sealing", forbidden: append([]string{"writ.dev/writ"}, controllerCode...)},
	{pkg: "writ.dev/writ/cmd/writ", forbidden: append([]string{
		"github.com/sigstore", "github.com/go-git", "github.com/ProtonMail/go-crypto",
		"k8s.io/client-go/kubernetes$", "writ.dev/writ/provenance", "writ.dev/writ/sealing/controller",
		"writ.dev/writ/webhook", "writ.dev/writ/reconcile", "writ.dev/writ/cmd/writ-verify",
	}, controllerCode...)},
	// The scheme is API types only, so the harness and every test importing it link no controller.
	{pkg: "writ.dev/writ/scheme", forbidden: append([]string{"writ.dev/writ"}, controllerCode...), allowed: apiTypes},
	{pkg: "writ.dev/writ/test/harness", forbidden: []string{"writ.dev/writ"}, allowed: append([]string{"writ.dev/writ/scheme", "writ.dev/writ/test/controlplane"}, apiTypes...)},
	// The witness's index and check are pure: no controller, no Git, and nothing of what feeds it.
	{pkg: "writ.dev/writ/witness", forbidden: append([]string{"github.com/go-git", "writ.dev/writ/witness/feed", "writ.dev/writ/webhook$", "writ.dev/writ/reconcile$"}, controllerCode...)},
	// The feed reuses the reconciler's libraries (source, render, apply, the API types) but never
	// its controllers, so no state of the agent's reaches the witness; and it does not know the
	// guard that asks it (the guard owns the interface the feed satisfies) nor the audit trail
	// (it writes nothing).
	{pkg: "writ.dev/writ/witness/feed", forbidden: []string{"writ.dev/writ/reconcile$", "writ.dev/writ/webhook$", "writ.dev/writ/cmd", "writ.dev/writ/audit"}},
}

func TestImportRules(t *testing.T) {
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			pkgs := []string{r.pkg}
			if base, ok := strings.CutSuffix(r.pkg, "/..."); ok {
				pkgs = listPackages(t, r.pkg)
				r.allowed = append(r.allowed, base)
			}
			for _, p := range pkgs {
				rr := r
				rr.pkg = p
				if bad := rr.violations(deps(t, p)); len(bad) > 0 {
					t.Errorf("%s must not import %s", p, strings.Join(bad, ", "))
				}
			}
		})
	}
}

func listPackages(t *testing.T, pattern string) []string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", pattern)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	return strings.Fields(string(out))
}

// TestRulesBite: each rule catches what it forbids, so a rule that matched nothing cannot pass
// silently.
func TestRulesBite(t *testing.T) {
	for _, tc := range []struct {
		r    rule
		imps []string
		bad  bool
	}{
		{rules[2], []string{"sigs.k8s.io/controller-runtime/pkg/client"}, true},
		{rules[2], []string{"k8s.io/client-go/kubernetes"}, true},
		{rules[2], []string{"k8s.io/client-go/kubernetes/scheme", "k8s.io/client-go/rest"}, false},
		{rules[2], []string{"github.com/sigstore/sigstore-go/pkg/verify"}, true},
		{rules[1], []string{"writ.dev/writ/audit"}, true},
		{rules[1], []string{"github.com/bitnami/sealed-secrets/pkg/crypto"}, false},
		{rules[3], []string{"writ.dev/writ/webhook/api/v1alpha1", "writ.dev/writ/audit"}, false},
		{rules[3], []string{"writ.dev/writ/webhook"}, true},
		{rules[3], []string{"writ.dev/writ/audit/controller"}, true},
		{rules[3], []string{"sigs.k8s.io/controller-runtime/pkg/scheme"}, true},
		{rules[4], []string{"writ.dev/writ/scheme", "writ.dev/writ/test/controlplane", "sigs.k8s.io/controller-runtime/pkg/envtest"}, false},
		{rules[4], []string{"writ.dev/writ/cmd/writ-controller/app"}, true},
		{rules[5], []string{"writ.dev/writ/reconcile/declared", "k8s.io/apimachinery/pkg/types"}, false},
		{rules[5], []string{"sigs.k8s.io/controller-runtime/pkg/client"}, true},
		{rules[5], []string{"writ.dev/writ/witness/feed"}, true},
		{rules[6], []string{"writ.dev/writ/reconcile/source", "writ.dev/writ/reconcile/render", "writ.dev/writ/reconcile/apply", "writ.dev/writ/witness"}, false},
		{rules[6], []string{"writ.dev/writ/reconcile"}, true},
		{rules[6], []string{"writ.dev/writ/webhook"}, true},
		{rules[6], []string{"writ.dev/writ/webhook/api/v1alpha1"}, false},
	} {
		if got := tc.r.violations(tc.imps); (len(got) > 0) != tc.bad {
			t.Errorf("%s with %v: violations %v, want some: %v", tc.r.pkg, tc.imps, got, tc.bad)
		}
	}
}
