package app

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/sealing"
	sealcontroller "writ.dev/writ/sealing/controller"
)

// serveSealing serves writ-controller's sealing handler with the keys in ns on this machine,
// exposed through the apiserver's service proxy as Service ns/writ-sealing.
func serveSealing(t *testing.T, ns string) {
	t.Helper()
	ks := &sealcontroller.KeyStore{Client: env.Client, Namespace: ns}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sealcontroller.Handler(sealcontroller.HandlerOptions{Rate: 100, Burst: 100,
		Ring: func(ctx context.Context) (*sealing.KeyRing, error) { return ks.Ring(ctx, env.Client, nil) }}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	if err := env.ExposeService(context.Background(), ns, "writ-sealing", "http", ln.Addr().(*net.TCPAddr).Port); err != nil {
		t.Fatal(err)
	}
}

// TestSealThroughTheControllerAndKeys: writ seal fetches the certificate, validates and
// re-encrypts through the API server's service proxy; writ keys reports which SealedSecrets need
// which key and refuses to retire a key still in use.
func TestSealThroughTheControllerAndKeys(t *testing.T) {
	if env == nil {
		t.Skip("integration test: needs the control plane; run without -short (make test-integration)")
	}
	ctx := context.Background()
	const ns = "writ-sealing-cli"
	dir := t.TempDir()
	a, b := newSealKey(t, dir, 0), newSealKey(t, dir, 1)
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	keyA := a.key.Secret(ns)
	if err := env.Client.Create(ctx, keyA); err != nil {
		t.Fatal(err)
	}
	serveSealing(t, ns)
	admin := kubeconfigFor(t, "sealer", "system:masters")
	cluster := []string{"--kubeconfig", admin, "--controller-namespace", ns}

	code, out, errOut := runIn(t, "", append([]string{"seal", "--fetch-cert"}, cluster...)...)
	if code != ExitOK || out != string(sealing.CertPEM(a.key.Cert)) {
		t.Fatalf("--fetch-cert: %d %q %s", code, out, errOut)
	}
	code, sealed, errOut := runIn(t, secretYAML, append([]string{"seal", "-o", "yaml"}, cluster...)...)
	if code != ExitOK {
		t.Fatalf("seal with the fetched certificate: %d %s", code, errOut)
	}
	if code, out, errOut := runIn(t, sealed, append([]string{"seal", "--validate"}, cluster...)...); code != ExitOK || !strings.Contains(out, "shop/db: the cluster can unseal it") {
		t.Fatalf("--validate: %d %s %s", code, out, errOut)
	}
	_, foreign, _ := runIn(t, secretYAML, "seal", "--cert", b.certFile)
	if code, _, errOut := runIn(t, foreign, append([]string{"seal", "--validate"}, cluster...)...); code != ExitFail || !strings.Contains(errOut, "cannot unseal") {
		t.Fatalf("--validate of a foreign SealedSecret: %d %s", code, errOut)
	}

	// Key b arrives (a renewal); --re-encrypt moves the SealedSecret onto it.
	keyB := b.key.Secret(ns)
	if err := env.Client.Create(ctx, keyB); err != nil {
		t.Fatal(err)
	}
	code, resealed, errOut := runIn(t, sealed, append([]string{"seal", "--re-encrypt", "-o", "yaml"}, cluster...)...)
	if code != ExitOK || decodeSealed(t, resealed)[0].Annotations[sealing.AnnotationKey] != b.key.Fingerprint {
		t.Fatalf("--re-encrypt: %d %s %s", code, resealed, errOut)
	}

	// In the cluster: the original (key a) and a kubeseal-style one without annotation.
	onA := decodeSealed(t, sealed)[0]
	onA.Namespace = ns
	onA.Name = "db"
	if err := env.Client.Create(ctx, onA); err != nil {
		t.Fatal(err)
	}
	anonymous := onA.DeepCopy()
	anonymous.ResourceVersion, anonymous.Name = "", "anonymous"
	delete(anonymous.Annotations, sealing.AnnotationKey)
	if err := env.Client.Create(ctx, anonymous); err != nil {
		t.Fatal(err)
	}
	keys := func(args ...string) (int, string, string) {
		return runIn(t, "", append(append([]string{"keys"}, args...), cluster...)...)
	}
	code, out, errOut = keys("report")
	if code != ExitOK || !strings.Contains(out, keyA.Name) || !strings.Contains(out, ns+"/db") || !strings.Contains(out, "unknown key") || !strings.Contains(out, ns+"/anonymous") {
		t.Fatalf("report: %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "PRIVATE") {
		t.Fatal("the report printed key material")
	}
	if code, _, errOut := keys("retire", keyA.Name); code != ExitFail || !strings.Contains(errOut, "still sealed with it") {
		t.Fatalf("retire a key in use: %d %s", code, errOut)
	}
	if err := env.Client.Delete(ctx, onA); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := keys("retire", a.key.Fingerprint); code != ExitFail || !strings.Contains(errOut, "unknown") {
		t.Fatalf("retire while a key is unknown: %d %s", code, errOut)
	}
	if err := env.Client.Delete(ctx, anonymous); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := keys("retire", keyB.Name); code != ExitFail || !strings.Contains(errOut, "newest") {
		t.Fatalf("retire the newest key: %d %s", code, errOut)
	}
	if code, out, errOut := keys("retire", keyA.Name); code != ExitOK || !strings.Contains(out, "retired") {
		t.Fatalf("retire an unused key: %d %s %s", code, out, errOut)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(keyA), keyA); err == nil {
		t.Fatal("the retired key Secret is still there")
	}
	code, out, _ = keys("report", "-o", "json")
	if code != ExitOK || strings.Contains(out, keyA.Name) || !strings.Contains(out, b.key.Fingerprint) {
		t.Fatalf("report after retiring: %s", out)
	}
}
