package sealing_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"writ.dev/writ/test/controlplane"
)

// TestShippedCRDIsBitnamis: the chart ships Bitnami's own SealedSecret CRD, byte for byte from
// the module go.mod pins, so clusters that already have it see no change.
func TestShippedCRDIsBitnamis(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/bitnami/sealed-secrets").Output()
	if err != nil {
		t.Fatalf("locating the sealed-secrets module: %v", err)
	}
	want, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "helm", "sealed-secrets", "crds", "bitnami.com_sealedsecrets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "charts", "writ", "files", "sealing", "bitnami.com_sealedsecrets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("charts/writ/files/sealing/bitnami.com_sealedsecrets.yaml differs from the CRD of the sealed-secrets module in go.mod: copy it again from helm/sealed-secrets/crds")
	}
}
