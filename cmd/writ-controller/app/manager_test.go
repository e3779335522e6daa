package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/cmd/writ-controller/app"
	"writ.dev/writ/test/harness"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestManagerServesProbesAndMetricsWithLeaderElection(t *testing.T) {
	harness.Require(t, env)
	kc, err := env.KubeConfig("writ-controller-test", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := env.EnsureNamespace(context.Background(), "writ-system"); err != nil {
		t.Fatal(err)
	}
	metrics, probes := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs harness.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(ctx, []string{"--kubeconfig", kcPath, "--metrics-bind-address", metrics,
			"--health-probe-bind-address", probes, "--leader-elect", "--graceful-shutdown-timeout", "5s"}, &logs)
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("manager exited %d:\n%s", code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop within 30s")
		}
	}()

	waitReady(t, probes, &logs)
	deadline := time.Now().Add(60 * time.Second)
	if code, body, err := get("http://" + probes + "/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("healthz: %d %q %v", code, body, err)
	}
	// Leader election takes the lease in Writ's namespace; metrics are served by then.
	var body string
	for time.Now().Before(deadline) {
		var code int
		code, body, err = get("http://" + metrics + "/metrics")
		if err == nil && code == http.StatusOK && strings.Contains(body, "leader_election_master_status") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, `leader_election_master_status{name="writ-controller.writ.dev"} 1`) {
		t.Fatalf("metrics do not show this replica as leader:\n%s\nlogs:\n%s", grep(body, "leader"), logs.String())
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitReady waits up to a minute for the manager's readiness probe to answer 200.
func waitReady(t *testing.T, probes string, logs *harness.SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, err := get("http://" + probes + "/readyz")
		if err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz not OK after 60s (code %d, err %v):\n%s", code, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
