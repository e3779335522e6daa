package interop_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/sealing"
	sealcontroller "writ.dev/writ/sealing/controller"
	"writ.dev/writ/test/harness"
)

func randReader() io.Reader { return rand.Reader }

// startBitnamiController runs Bitnami's controller binary in namespace ns against the harness
// apiserver. It only reads in-cluster configuration (a service-account token and CA at
// /var/run/secrets/kubernetes.io/serviceaccount), so it runs in its own user and mount
// namespaces (unshare) with that directory bound to a temporary one holding a real token from
// the TokenRequest API for a service account with cluster-admin.
func startBitnamiController(t *testing.T, bin, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("Bitnami's controller reads only in-cluster configuration; running it beside the tests needs unshare (util-linux) to give it its own /var/run/secrets")
	}
	sa, err := env.ServiceAccount(ctx, ns, "sealed-secrets-controller")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Grant(ctx, harness.ServiceAccountSubject(ns, "sealed-secrets-controller"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	saDir := filepath.Join(run, "secrets", "kubernetes.io", "serviceaccount")
	if err := os.MkdirAll(saDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, saDir, "token", sa.BearerToken)
	writeFile(t, saDir, "ca.crt", string(env.Config.CAData))
	writeFile(t, saDir, "namespace", ns)
	u, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	script := `mount --bind "$1" /run && shift && exec "$@"`
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", run, bin,
		"--all-namespaces=false", "--key-renew-period=0", "--listen-addr", "127.0.0.1:"+strconv.Itoa(harness.FreePort(t)),
		"--listen-metrics-addr", "127.0.0.1:"+strconv.Itoa(harness.FreePort(t)))
	cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST="+u.Hostname(), "KUBERNETES_SERVICE_PORT="+u.Port(), "POD_NAMESPACE="+ns)
	logs := &harness.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Bitnami's controller: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("Bitnami's controller:\n%s", logs.String())
		}
	})
	harness.Eventually(t, "Bitnami's controller's key", 90*time.Second, func() (bool, string) {
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Sprintf("exited: %v\n%s", err, logs.String())
		default:
		}
		var l corev1.SecretList
		err := env.Client.List(ctx, &l, client.InNamespace(ns), client.HasLabels{sealing.KeyLabel})
		return err == nil && len(l.Items) > 0, logs.String()
	})
}

// TestBitnamiControllerUnsealsWhatWritSeals: the two controllers share keys in both directions.
// With a key Bitnami's controller made, Writ reads that key Secret as its own (migrating to Writ);
// with a key writ-controller's format made, Bitnami's controller uses it instead of making one
// (migrating back). Either way writ seal seals with the certificate, in every scope, and Bitnami's
// controller unseals the result into a Secret; Writ's Unseal opens the same object.
func TestBitnamiControllerUnsealsWhatWritSeals(t *testing.T) {
	harness.Require(t, env)
	bt := buildBitnamiTools(t)
	t.Run("key made by Bitnami", func(t *testing.T) { bitnamiUnsealsWritSealed(t, bt, "bitnami-interop", nil) })
	t.Run("key made by Writ", func(t *testing.T) {
		k, err := sealing.NewKey(randReader(), sealing.DefaultKeySize, time.Now(), sealing.DefaultCertValidity, "")
		if err != nil {
			t.Fatal(err)
		}
		bitnamiUnsealsWritSealed(t, bt, "bitnami-interop-writ-key", k)
	})
}

func bitnamiUnsealsWritSealed(t *testing.T, bt bitnamiTools, ns string, writKey *sealing.Key) {
	ctx := context.Background()
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if writKey != nil {
		if err := env.Client.Create(ctx, writKey.Secret(ns)); err != nil {
			t.Fatal(err)
		}
	}
	startBitnamiController(t, bt.controller, ns)
	ring, err := (&sealcontroller.KeyStore{Client: env.Client, Namespace: ns}).Ring(ctx, env.Client, nil)
	if err != nil || ring.Latest() == nil {
		t.Fatalf("Writ cannot read the key Secret Bitnami's controller made: %v", err)
	}
	if writKey != nil && (len(ring.Keys()) != 1 || ring.Latest().Fingerprint != writKey.Fingerprint) {
		t.Fatalf("Bitnami's controller did not take up Writ's key: keys %s, want only %s", ring, writKey.Fingerprint)
	}
	dir := t.TempDir()
	certFile := writeFile(t, dir, "cert.pem", string(sealing.CertPEM(ring.Latest().Cert)))
	for i, scope := range []string{"strict", "namespace-wide", "cluster-wide"} {
		name := "from-writ-" + strconv.Itoa(i)
		out, errOut, code := writCLI(t, fmt.Sprintf(plainSecret, name, ns, "sealed-by-writ-"+scope), "seal", "--cert", certFile, "--scope", scope, "-o", "yaml")
		if code != 0 {
			t.Fatalf("writ seal: %d %s", code, errOut)
		}
		ss := createSealed(t, out)
		s := waitSecret(t, ns, name)
		if string(s.Data["password"]) != "sealed-by-writ-"+scope {
			t.Fatalf("%s: Bitnami's controller unsealed %q", scope, s.Data["password"])
		}
		if _, ok := s.Annotations[sealing.AnnotationUnsealedWith]; ok {
			t.Fatal("the Secret was written by Writ's controller, not Bitnami's")
		}
		harness.Eventually(t, "Bitnami's Synced condition", 30*time.Second, func() (bool, string) {
			got := &ssv1alpha1.SealedSecret{}
			_ = env.Client.Get(ctx, client.ObjectKeyFromObject(ss), got)
			return got.Status != nil && len(got.Status.Conditions) > 0 && got.Status.Conditions[0].Status == corev1.ConditionTrue, fmt.Sprintf("%+v", got.Status)
		})
		if plain, _, err := sealing.Unseal(ss, ring); err != nil || string(plain.Data["password"]) != "sealed-by-writ-"+scope {
			t.Fatalf("Writ's Unseal of the same object: %v", err)
		}
	}
}
