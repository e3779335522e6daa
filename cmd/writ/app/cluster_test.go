package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// kubeconfigFor writes a kubeconfig for a certificate-authenticated user.
func kubeconfigFor(t *testing.T, user string, groups ...string) string {
	t.Helper()
	kc, err := env.KubeConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAuditExportFromClusterExplainsRBACAndAvailability runs the cluster path against the real
// apiserver: RBAC decides who may export, and each failure says what to do.
func TestAuditExportFromClusterExplainsRBACAndAvailability(t *testing.T) {
	if env == nil {
		t.Skip("integration test: needs the control plane; run without -short (make test-integration)")
	}
	ctx := context.Background()
	const ns = "writ-export-test"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bundle.zip")
	export := func(kubeconfig string) (int, string) {
		code, _, errOut := run(t, "audit", "export", "--from", "2026-01-01", "--to", "2026-02-01", "--out", out,
			"--kubeconfig", kubeconfig, "--controller-namespace", ns)
		return code, errOut
	}

	// An ordinary user without get on services/proxy is refused by RBAC.
	code, errOut := export(kubeconfigFor(t, "auditor-without-rights"))
	if code != ExitFail || !strings.Contains(errOut, "RBAC denies get on services/proxy") {
		t.Fatalf("unauthorised export: %d %s", code, errOut)
	}
	admin := kubeconfigFor(t, "export-admin", "system:masters")
	// No Service: Writ is not installed there (the apiserver answers as for no endpoints).
	if code, errOut := export(admin); code != ExitFail || !strings.Contains(errOut, "is Writ installed there") {
		t.Fatalf("no service: %d %s", code, errOut)
	}
	// A Service with no ready endpoint: the controller is not running.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "writ-controller"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "audit", Port: 8082, TargetPort: intstr.FromInt32(8082)}}}}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if code, errOut := export(admin); code != ExitFail || !strings.Contains(errOut, "not serving audit exports") {
		t.Fatalf("no endpoints: %d %s", code, errOut)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("a failed export left a file behind")
	}
}
