package certs_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook/certs"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

const (
	day = 24 * time.Hour
	ns  = "writ-certs"
	svc = "writ-webhook"
)

// vwc creates a webhook configuration with two webhooks and no caBundle.
func vwc(t *testing.T, name string) {
	t.Helper()
	path := "/validate"
	none := admissionregistrationv1.SideEffectClassNone
	ignore := admissionregistrationv1.Ignore
	hook := func(n string) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    n,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: svc, Path: &path}},
			SideEffects:             &none,
			FailurePolicy:           &ignore,
			AdmissionReviewVersions: []string{"v1"},
			// Matches nothing, so the apiserver never calls it.
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"writ.dev/certs-test": name}},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
		}
	}
	obj := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{hook("a.writ.dev"), hook("b.writ.dev")}}
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
}

func rotator(t *testing.T, name string, now *time.Time) *certs.Rotator {
	t.Helper()
	if err := env.EnsureNamespace(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	vwc(t, name)
	return &certs.Rotator{Client: env.Client, Namespace: ns, Secret: name, Service: svc, WebhookConfiguration: name,
		CAValidity: 12 * day, CertValidity: 9 * day, Now: func() time.Time { return *now }}
}

func caBundles(t *testing.T, name string) [][]byte {
	t.Helper()
	var got admissionregistrationv1.ValidatingWebhookConfiguration
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &got); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, w := range got.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

func secret(t *testing.T, name string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func ensure(t *testing.T, r *certs.Rotator) certs.Result {
	t.Helper()
	res, err := r.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// project writes tls.crt and tls.key of the Secret into dir, as the kubelet does for a Secret
// volume with those two items.
func project(t *testing.T, s *corev1.Secret, dir string) {
	t.Helper()
	for _, k := range []string{certs.CertKey, certs.PrivateKeyKey} {
		if err := os.WriteFile(filepath.Join(dir, k+".new"), s.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, k+".new"), filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
}

// The rotator creates the CA and serving certificate, sets the caBundle, does nothing while they
// are fresh, restores a removed caBundle, and renews the certificate, then the CA, as its clock
// passes their renewal times; a webhook server that reads the Secret's files keeps serving, and a
// client that trusts only the configuration's caBundle (as the apiserver does) connects after
// every rotation, without the server restarting.
func TestRotationWithoutRestart(t *testing.T) {
	harness.Require(t, env)
	start := time.Now()
	now := start
	r := rotator(t, "writ-certs-rotation", &now)
	dir := t.TempDir()

	res := ensure(t, r)
	if !res.CARotated || !res.CertRotated || !res.BundleUpdated {
		t.Fatalf("first pass: %+v, want a new CA, a certificate and a caBundle", res)
	}
	s := secret(t, r.Secret)
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %s, want %s", s.Type, corev1.SecretTypeTLS)
	}
	for i, b := range caBundles(t, r.Secret) {
		if !bytes.Equal(b, s.Data[certs.CABundleKey]) {
			t.Errorf("webhook %d: caBundle is not the Secret's ca.crt", i)
		}
	}
	if res := ensure(t, r); res.CARotated || res.CertRotated || res.BundleUpdated {
		t.Errorf("second pass changed something: %+v", res)
	}

	project(t, s, dir)
	addr := serve(t, dir)
	first := dial(t, addr, caBundles(t, r.Secret)[0], now)

	// Someone removes the caBundle: the next pass puts it back and changes nothing else.
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: r.WebhookConfiguration}, &vwc); err != nil {
		t.Fatal(err)
	}
	vwc.Webhooks[1].ClientConfig.CABundle = nil
	if err := env.Client.Update(context.Background(), &vwc); err != nil {
		t.Fatal(err)
	}
	if res := ensure(t, r); res.CARotated || res.CertRotated || !res.BundleUpdated {
		t.Errorf("pass after the caBundle was removed: %+v, want only the caBundle restored", res)
	}

	// Past the certificate's renewal time (6 of 9 days): a new certificate from the same CA.
	if want := start.Add(6 * day); res.RenewAt.Sub(want).Abs() > 10*time.Minute {
		t.Errorf("renewal due at %s, want %s", res.RenewAt, want)
	}
	now = start.Add(6*day + time.Hour)
	res = ensure(t, r)
	if res.CARotated || !res.CertRotated || res.BundleUpdated {
		t.Fatalf("renewal pass: %+v, want only a new serving certificate", res)
	}
	s = secret(t, r.Secret)
	project(t, s, dir)
	second := waitServed(t, addr, caBundles(t, r.Secret)[0], now, first)
	if !second.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate expires %s, the first %s: not renewed for the injected clock", second.NotAfter, first.NotAfter)
	}

	// Past the CA's renewal time (8 of 12 days): a new CA joins the old one in the caBundle, and
	// the certificate still served (signed by the old CA) stays trusted until the pod reloads.
	now = start.Add(8*day + 12*time.Hour)
	res = ensure(t, r)
	if !res.CARotated || !res.CertRotated || !res.BundleUpdated {
		t.Fatalf("CA renewal pass: %+v, want a new CA and certificate", res)
	}
	bundle := caBundles(t, r.Secret)[0]
	if n := bytes.Count(bundle, []byte("BEGIN CERTIFICATE")); n != 2 {
		t.Errorf("caBundle holds %d CAs after the CA rotation, want the new and the old", n)
	}
	if got := dial(t, addr, bundle, now); !got.Equal(second) {
		t.Error("the server changed its certificate before its files did")
	}
	s = secret(t, r.Secret)
	project(t, s, dir)
	third := waitServed(t, addr, bundle, now, second)
	cas, err := parseCAs(s.Data[certs.CABundleKey])
	if err != nil {
		t.Fatal(err)
	}
	if err := third.CheckSignatureFrom(cas[0]); err != nil {
		t.Errorf("the new certificate is not signed by the new CA: %v", err)
	}

	// Once the old CA has expired it leaves the caBundle.
	now = start.Add(12*day + 12*time.Hour)
	res = ensure(t, r)
	if n := bytes.Count(caBundles(t, r.Secret)[0], []byte("BEGIN CERTIFICATE")); n != 1 {
		t.Errorf("caBundle holds %d CAs after the old CA expired, want 1 (pass: %+v)", n, res)
	}
}

// A Secret holding garbage, or a certificate for another Service, is replaced.
func TestRepairsABadSecret(t *testing.T) {
	harness.Require(t, env)
	now := time.Now()
	r := rotator(t, "writ-certs-repair", &now)
	bad := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: r.Secret}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{certs.CertKey: []byte("not a certificate"), certs.PrivateKeyKey: []byte("not a key")}}
	if err := env.Client.Create(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	if res := ensure(t, r); !res.CARotated || !res.CertRotated {
		t.Fatalf("pass over a bad Secret: %+v", res)
	}
	other := *r
	other.Service = "another-service"
	if res := ensure(t, &other); res.CARotated || !res.CertRotated {
		t.Errorf("pass for another Service: %+v, want a new certificate from the same CA", res)
	}
	leaf, err := parseCAs(secret(t, r.Secret).Data[certs.CertKey])
	if err != nil {
		t.Fatal(err)
	}
	if leaf[0].DNSNames[0] != "another-service."+ns+".svc" {
		t.Errorf("certificate names %v", leaf[0].DNSNames)
	}
}

// Without its webhook configuration the pass fails, says which, and writes no Secret.
func TestMissingWebhookConfiguration(t *testing.T) {
	harness.Require(t, env)
	r := &certs.Rotator{Client: env.Client, Namespace: ns, Secret: "writ-certs-missing", Service: svc, WebhookConfiguration: "writ-certs-missing"}
	if err := env.EnsureNamespace(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	_, err := r.Ensure(context.Background())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("ValidatingWebhookConfiguration writ-certs-missing")) {
		t.Fatalf("err = %v", err)
	}
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: r.Secret}, &s); err == nil {
		t.Error("a Secret was written although the caBundle could not be set")
	}
}

// serve starts controller-runtime's webhook server on the certificates in dir.
func serve(t *testing.T, dir string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	srv.Register("/validate", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatal("webhook server not listening")
	return ""
}

// dial connects as the apiserver would at time now: trusting only caBundle, checking the
// Service's name.
func dial(t *testing.T, addr string, caBundle []byte, now time.Time) *x509.Certificate {
	t.Helper()
	c, err := tryDial(addr, caBundle, now)
	if err != nil {
		t.Fatalf("TLS to the webhook with the caBundle: %v", err)
	}
	return c
}

func tryDial(addr string, caBundle []byte, now time.Time) (*x509.Certificate, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caBundle)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: pool, ServerName: certs.DNSNames(svc, ns)[0], MinVersion: tls.VersionTLS12,
			Time: func() time.Time { return now }})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// waitServed waits until the server presents a certificate other than old, verified with
// caBundle, and returns it.
func waitServed(t *testing.T, addr string, caBundle []byte, now time.Time, old *x509.Certificate) *x509.Certificate {
	t.Helper()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := tryDial(addr, caBundle, now)
		if err == nil && !c.Equal(old) {
			return c
		}
		last = err
	}
	t.Fatalf("the server did not serve the renewed certificate within 30s (last error: %v)", last)
	return nil
}

func parseCAs(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return out, nil
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

// The caBundle also reaches the MutatingWebhookConfiguration served by the same certificate
// (writ-breakglass, the approval-time stamp), on every webhook, and comes back when removed; a
// missing one is skipped, so an install without it keeps its certificates.
func TestMutatingWebhookConfigurationGetsTheBundle(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	r := rotator(t, "writ-certs-mutating", &now)
	r.MutatingWebhookConfiguration = "writ-certs-mutating-stamp"
	if _, err := r.Ensure(ctx); err != nil {
		t.Fatalf("with the mutating configuration missing: %v", err)
	}
	path := "/stamp"
	none := admissionregistrationv1.SideEffectClassNone
	ignore := admissionregistrationv1.Ignore
	hook := func(n string) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{Name: n, SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"},
			ClientConfig:   admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: svc, Path: &path}},
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"writ.dev/certs-test": "never"}},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}}
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: r.MutatingWebhookConfiguration},
		Webhooks: []admissionregistrationv1.MutatingWebhook{hook("a.writ.dev"), hook("b.writ.dev")}}
	if err := env.Client.Create(ctx, mwc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), mwc) })
	mutating := func() [][]byte {
		var got admissionregistrationv1.MutatingWebhookConfiguration
		if err := env.Client.Get(ctx, client.ObjectKey{Name: mwc.Name}, &got); err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, w := range got.Webhooks {
			out = append(out, w.ClientConfig.CABundle)
		}
		return out
	}
	for round := 0; round < 2; round++ {
		if res := ensure(t, r); !res.BundleUpdated {
			t.Errorf("round %d: the mutating configuration's caBundle was not set", round)
		}
		want := caBundles(t, "writ-certs-mutating")[0]
		for i, b := range mutating() {
			if len(b) == 0 || !bytes.Equal(b, want) {
				t.Errorf("round %d: mutating webhook %d has caBundle %q, want the validating one's", round, i, b)
			}
		}
		// Someone removes it: the next pass restores it.
		if err := env.Client.Get(ctx, client.ObjectKey{Name: mwc.Name}, mwc); err != nil {
			t.Fatal(err)
		}
		mwc.Webhooks[1].ClientConfig.CABundle = nil
		if err := env.Client.Update(ctx, mwc); err != nil {
			t.Fatal(err)
		}
	}
}
