package app_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

// BenchmarkControllerRSS1000 runs the writ-controller binary (reconciler on) against the real
// apiserver with one Sync of 1,000 objects (ConfigMaps, headless Services, Deployments) from a
// signed commit, and reports the process's resident memory once they are applied and after a
// minute of resyncs and drift watching (goal: ≤ 150 MiB), and its peak.
func BenchmarkControllerRSS1000(b *testing.B) {
	if env == nil {
		b.Skip("needs the control plane: run without -short")
	}
	ctx := context.Background()
	dir := b.TempDir()
	bin := filepath.Join(dir, "writ-controller")
	if out, err := exec.Command("go", "build", "-o", bin, "writ.dev/writ/cmd/writ-controller").CombinedOutput(); err != nil {
		b.Fatalf("building writ-controller: %v\n%s", err, out)
	}
	for i := 0; i < b.N; i++ {
		ns := fmt.Sprintf("rss-%d", time.Now().UnixNano()%1_000_000)
		alice := fixtures.SSHKey(b, "Alice", "alice@example.com", "ed25519")
		repo := fixtures.NewRepo(b)
		files := map[string]string{"app/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n"}
		for j := 0; j < 1000; j++ {
			name := fmt.Sprintf("obj-%04d", j)
			switch j % 3 {
			case 0:
				files["app/"+name+".yaml"] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {index: '%d', payload: 0123456789abcdef}\n", name, ns, j)
			case 1:
				files["app/"+name+".yaml"] = fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec: {clusterIP: None, selector: {app: %s}, ports: [{port: 80, targetPort: 8080}]}\n", name, ns, name)
			default:
				files["app/"+name+".yaml"] = fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: %s}\nspec:\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec: {containers: [{name: app, image: 'nginx:1.27'}]}\n", name, ns, name, name)
			}
		}
		repo.Commit(alice, "a thousand objects", files)

		kc, err := env.KubeConfig("writ-rss-bench", "system:masters")
		if err != nil {
			b.Fatal(err)
		}
		kcPath := filepath.Join(dir, "kubeconfig")
		if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
			b.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		probes := l.Addr().String()
		l.Close()
		cmd := exec.Command(bin, "--kubeconfig", kcPath, "--enable-reconciler", "--metrics-bind-address", "0",
			"--health-probe-bind-address", probes, "--reconcile-cache-dir", filepath.Join(dir, "cache", ns))
		var logs harness.SyncBuffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				_ = cmd.Process.Signal(os.Interrupt)
				_ = cmd.Wait()
			}
		}
		b.Cleanup(stop)

		minute := &metav1.Duration{Duration: time.Minute}
		no := false
		for _, o := range []client.Object{
			&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: provenancev1.TrustPolicySpec{SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
			&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: ns}, Spec: reconcilev1.GitSourceSpec{URL: "file://" + repo.Dir, TrustPolicy: ns, Interval: minute}},
			&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: ns}, Spec: reconcilev1.SyncSpec{
				SourceRef: reconcilev1.LocalObjectReference{Name: ns}, Path: "app", Interval: &metav1.Duration{Duration: 5 * time.Second}, Wait: &no}},
		} {
			if err := env.Client.Create(ctx, o); err != nil {
				b.Fatal(err)
			}
		}
		applied := time.Now()
		for {
			var s reconcilev1.Sync
			var gs reconcilev1.GitSource
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: ns}, &s); err == nil && len(s.Status.Inventory) == 1001 {
				break
			}
			if time.Since(applied) > 3*time.Minute {
				_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: ns}, &gs)
				b.Fatalf("the sync did not apply 1,000 objects in 3 minutes: source %+v, sync %+v\n%s", gs.Status.Conditions, s.Status.Conditions, tail(logs.String(), 4000))
			}
			time.Sleep(200 * time.Millisecond)
		}
		took := time.Since(applied)
		rssApplied, _ := procStatus(b, cmd.Process.Pid)
		time.Sleep(time.Minute) // a dozen resyncs of 1,000 objects, and the drift watches running
		rss, hwm := procStatus(b, cmd.Process.Pid)
		stop()
		b.ReportMetric(took.Seconds(), "s/first-sync-1000")
		b.ReportMetric(rssApplied, "MiB/rss-applied")
		b.ReportMetric(rss, "MiB/rss-after-1m")
		b.ReportMetric(hwm, "MiB/rss-peak")
		if rss > 150 {
			b.Errorf("resident memory %.0f MiB after a minute of 1,000 managed objects: goal ≤ 150 MiB", rss)
		}
	}
}

// procStatus returns a process's resident set size and its peak, in MiB, from /proc (Linux).
func procStatus(b *testing.B, pid int) (rss, hwm float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			b.Fatalf("%s: %v", sc.Text(), err)
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
