package charts_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"writ.dev/writ/test/harness"
)

var env *harness.Env

// The control plane gets Writ's CRDs, cert-manager's (from the cert-manager Go module, so the
// chart's Issuers and Certificates meet the real schema) and, once sealing ships it, the
// SealedSecret CRD.
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
	os.Exit(harness.Main(m, harness.Options{CRDDirs: append(dirs, cm)}, &env))
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
