package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	controller "writ.dev/writ/cmd/writ-controller/app"
	writ "writ.dev/writ/cmd/writ/app"
	"writ.dev/writ/sealing"
	sealcontroller "writ.dev/writ/sealing/controller"
	"writ.dev/writ/test/harness"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func kubeconfig(t testing.TB, dir string) string {
	t.Helper()
	kc, err := env.KubeConfig("interop-admin", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "kubeconfig", string(kc))
}

// writCLI runs `writ args...` with stdin.
func writCLI(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := writ.Main(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// run runs a program with stdin and returns its stdout, failing on a non-zero exit.
func run(t testing.TB, stdin string, name string, args ...string) string {
	t.Helper()
	out, errOut, err := runErr(stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errOut)
	}
	return out
}

func runErr(stdin string, name string, args ...string) (string, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func waitSecret(t testing.TB, ns, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	harness.Eventually(t, "Secret "+ns+"/"+name, 60*time.Second, func() (bool, string) {
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s)
		return err == nil, fmt.Sprint(err)
	})
	return s
}

func createSealed(t testing.TB, yamlOrJSON string) *ssv1alpha1.SealedSecret {
	t.Helper()
	list, err := sealing.ReadSealedSecrets(strings.NewReader(yamlOrJSON))
	if err != nil {
		t.Fatalf("%v\n%s", err, yamlOrJSON)
	}
	if err := env.Client.Create(context.Background(), list[0]); err != nil {
		t.Fatal(err)
	}
	return list[0]
}

const plainSecret = `apiVersion: v1
kind: Secret
metadata:
  name: %s
  namespace: %s
type: Opaque
stringData:
  password: %s
`

// startWritController runs writ-controller --enable-sealing in namespace ns until the test ends
// and returns the address of its sealing server.
func startWritController(t *testing.T, ns, dir string) int {
	t.Helper()
	kc := kubeconfig(t, dir)
	port, probes := harness.FreePort(t), harness.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &harness.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- controller.Main(ctx, []string{"--kubeconfig", kc, "--namespace", ns, "--metrics-bind-address", "0",
			"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(probes), "--enable-sealing",
			"--sealing-bind-address", "0.0.0.0:" + strconv.Itoa(port), "--sealing-rate-limit", "50", "--sealing-rate-limit-burst", "50"}, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("writ-controller exited %d:\n%s", code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("writ-controller did not stop")
		}
	})
	// Served, not just stored: the handler reads keys through the manager's cache.
	harness.Eventually(t, "writ-controller serving its first sealing key", 90*time.Second, func() (bool, string) {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + sealing.CertPath)
		if err != nil {
			return false, err.Error() + "\n" + logs.String()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status + "\n" + logs.String()
	})
	return port
}

// TestKubesealAgainstWritController: kubeseal fetches the certificate from writ-controller and
// validates through the API server's service proxy, and what kubeseal seals (raw values and whole
// Secrets) writ-controller unseals.
func TestKubesealAgainstWritController(t *testing.T) {
	harness.Require(t, env)
	bt := buildBitnamiTools(t)
	ctx := context.Background()
	dir := t.TempDir()
	const ns, app = "writ-interop", "kubeseal-app"
	for _, n := range []string{ns, app} {
		if err := env.EnsureNamespace(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	port := startWritController(t, ns, dir)
	if err := env.ExposeService(ctx, ns, "writ-sealing", "http", port); err != nil {
		t.Fatal(err)
	}
	kc := kubeconfig(t, dir)
	cluster := []string{"--kubeconfig", kc, "--controller-name", "writ-sealing", "--controller-namespace", ns}

	cert := run(t, "", bt.kubeseal, append([]string{"--fetch-cert"}, cluster...)...)
	ring, err := (&sealcontroller.KeyStore{Client: env.Client, Namespace: ns}).Ring(ctx, env.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cert != string(sealing.CertPEM(ring.Latest().Cert)) {
		t.Fatalf("kubeseal --fetch-cert through the service proxy got\n%s\nwant writ-controller's certificate", cert)
	}
	certFile := writeFile(t, dir, "cert.pem", cert)

	// A raw value, as teams template them into their own manifests.
	valueFile := writeFile(t, dir, "value", "from-kubeseal-raw")
	raw := strings.TrimSpace(run(t, "", bt.kubeseal, "--raw", "--cert", certFile, "--name", "raw", "--namespace", app, "--from-file", valueFile))
	createSealed(t, fmt.Sprintf("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: raw, namespace: %s}\nspec:\n  encryptedData:\n    password: %s\n", app, raw))
	if s := waitSecret(t, app, "raw"); string(s.Data["password"]) != "from-kubeseal-raw" {
		t.Fatalf("raw value unsealed to %q", s.Data["password"])
	}
	// A whole Secret, sealed with the certificate fetched by kubeseal itself.
	sealed := run(t, fmt.Sprintf(plainSecret, "whole", app, "from-kubeseal"), bt.kubeseal, append([]string{"-o", "yaml"}, cluster...)...)
	createSealed(t, sealed)
	if s := waitSecret(t, app, "whole"); string(s.Data["password"]) != "from-kubeseal" || s.Annotations[sealing.AnnotationUnsealedWith] != ring.Latest().Fingerprint {
		t.Fatalf("whole Secret unsealed to %v", s)
	}
	// writ-controller's real event recorder reports it (events.k8s.io, as kubectl describe shows).
	harness.Eventually(t, "an Unsealed event", 30*time.Second, func() (bool, string) {
		var evs eventsv1.EventList
		if err := env.Client.List(ctx, &evs, client.InNamespace(app)); err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == "whole" && e.Regarding.Kind == "SealedSecret" && e.Reason == sealcontroller.EventUnsealed {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})
	// kubeseal --validate through the service proxy: ours passes, a foreign one does not.
	run(t, sealed, bt.kubeseal, append([]string{"--validate"}, cluster...)...)
	other, err := sealing.NewKey(randReader(), 2048, time.Now(), time.Hour, "other")
	if err != nil {
		t.Fatal(err)
	}
	foreignCert := writeFile(t, dir, "foreign.pem", string(sealing.CertPEM(other.Cert)))
	foreign := run(t, fmt.Sprintf(plainSecret, "whole", app, "x"), bt.kubeseal, "--cert", foreignCert)
	if _, errOut, err := runErr(foreign, bt.kubeseal, append([]string{"--validate"}, cluster...)...); err == nil || !strings.Contains(errOut, "unable to decrypt") {
		t.Fatalf("kubeseal --validate passed a foreign SealedSecret: %v %s", err, errOut)
	}
	// kubeseal --re-encrypt through the proxy returns a SealedSecret writ-controller still opens.
	resealed := run(t, sealed, bt.kubeseal, append([]string{"--re-encrypt", "-o", "yaml"}, cluster...)...)
	rs, err := sealing.ReadSealedSecrets(strings.NewReader(resealed))
	if err != nil {
		t.Fatal(err)
	}
	if s, _, err := sealing.Unseal(rs[0], ring); err != nil || string(s.Data["password"]) != "from-kubeseal" {
		t.Fatalf("re-encrypted by kubeseal: %v %v", s, err)
	}
}
