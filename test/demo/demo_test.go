package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the demo end to end, as `make demo` does, against a freshly built writ-controller.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs the control plane; run without -short (make test-integration)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "writ-controller")
	build := exec.Command("go", "build", "-o", bin, "writ.dev/writ/cmd/writ-controller")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building writ-controller: %v\n%s", err, out)
	}
	var out bytes.Buffer
	err := run(context.Background(), options{controller: bin, workDir: dir, timeout: 3 * time.Minute}, &out)
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"kube-apiserver v1.37.1", "readyz -> 200", "leader lease writ-system/writ-controller.writ.dev held by", `leader_election_master_status{name="writ-controller.writ.dev"} 1`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
