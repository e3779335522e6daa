package charts_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
)

var env *harness.Env

// maintainer may change admission policies: the control plane's static protection lists it.
const maintainer = "writ-chart-maintainer"

// The control plane gets Writ's CRDs, cert-manager's (from the cert-manager Go module, so the
// chart's Issuers and Certificates meet the real schema), the Prometheus Operator's
// ServiceMonitor CRD (from its module, for the optional ServiceMonitor) and the SealedSecret CRD.
func TestMain(m *testing.M) {
	dirs := []string{filepath.Join("writ", "files", "crds")}
	if _, err := os.Stat(filepath.Join("writ", "files", "sealing")); err == nil {
		dirs = append(dirs, filepath.Join("writ", "files", "sealing"))
	}
	cm, err := certManagerCRDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "charts:", err)
		os.Exit(1)
	}
	sm, err := serviceMonitorCRD()
	if err != nil {
		fmt.Fprintln(os.Stderr, "charts:", err)
		os.Exit(1)
	}
	// The control plane loads Writ's static protection, as the README tells operators to: only
	// the maintainer below (the identity that installs and removes Writ here) or an agent may
	// change admission policies.
	static, staticBinding, err := webhook.StaticProtection(webhook.StaticOptions{Maintainers: []string{maintainer}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "charts:", err)
		os.Exit(1)
	}
	code := harness.Main(m, harness.Options{CRDDirs: append(dirs, cm, sm), StaticAdmissionPolicies: []runtime.Object{static, staticBinding}}, &env)
	os.RemoveAll(sm)
	os.Exit(code)
}

// prometheusOperator is the Prometheus Operator release whose ServiceMonitor CRD the chart's
// optional ServiceMonitor is applied against. Newer releases are not served by the module proxy.
const prometheusOperator = "github.com/prometheus-operator/prometheus-operator@v0.94.1"

// serviceMonitorCRD downloads the Prometheus Operator's module (checked against the checksum
// database, as every module is; this module does not require it) and returns a new directory
// holding its ServiceMonitor CRD alone.
func serviceMonitorCRD() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", prometheusOperator).Output()
	if err != nil {
		return "", fmt.Errorf("downloading %s (go mod download): %w", prometheusOperator, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Error != "" || mod.Dir == "" {
		return "", fmt.Errorf("downloading %s: %v %s", prometheusOperator, err, mod.Error)
	}
	crd, err := os.ReadFile(filepath.Join(mod.Dir, "example", "prometheus-operator-crd", "monitoring.coreos.com_servicemonitors.yaml"))
	if err != nil {
		return "", fmt.Errorf("the ServiceMonitor CRD in %s: %w", prometheusOperator, err)
	}
	dir, err := os.MkdirTemp("", "writ-servicemonitor-crd-")
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "servicemonitors.yaml"), crd, 0o644)
}

// certManagerCRDs finds deploy/crds of the cert-manager module this module requires.
func certManagerCRDs() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		return "", fmt.Errorf("locating the cert-manager module (go list -m): %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("cert-manager's CRDs: %w (run go mod download)", err)
	}
	return dir, nil
}
