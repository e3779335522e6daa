package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	auditcontroller "writ.dev/writ/audit/controller"
	"writ.dev/writ/audit/evidence"
	"writ.dev/writ/cmd/writ-controller/app"
	"writ.dev/writ/test/harness"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// selfSigned writes tls.crt and tls.key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "writ-test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
}

// TestGuardAndAuditComponents runs writ-controller with the webhook and audit components: a
// denied admission review becomes an audit record that an evidence export contains.
func TestGuardAndAuditComponents(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	for _, ns := range []string{"writ-system", "shop"} {
		if err := env.EnsureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.Create(ctx, &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: guardv1.GuardPolicySpec{
		Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"shop"}}},
		Agents:  []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"}},
	}}); err != nil {
		t.Fatal(err)
	}
	// The audit trail stores only AuditEvents the apiserver stamped with one of Writ's service
	// accounts: install the stamping policies as the chart does, and run as writ-controller.
	mp, mb, vp, vb, err := auditcontroller.SubmitterPolicies("writ-system")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{mp, mb, vp, vb} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond))) // events must postdate the policy
	kc, err := env.KubeConfig("system:serviceaccount:writ-system:writ-controller", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kcPath := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kcPath, kc, 0o600)
	certDir := filepath.Join(dir, "certs")
	os.MkdirAll(certDir, 0o700)
	selfSigned(t, certDir)
	webhookAddr, probes, export := freeAddr(t), freeAddr(t), freeAddr(t)
	_, port, _ := net.SplitHostPort(webhookAddr)

	mctx, cancel := context.WithCancel(ctx)
	var logs harness.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- app.Main(mctx, []string{"--kubeconfig", kcPath, "--metrics-bind-address", "0", "--health-probe-bind-address", probes,
			"--enable-webhook", "--enable-audit", "--webhook-port", port, "--webhook-cert-dir", certDir,
			"--audit-dir", filepath.Join(dir, "audit"), "--audit-export-bind-address", export, "--audit-checkpoint-interval", "1s"}, &logs)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	}()
	waitReady(t, probes, &logs)
	deadline := time.Now().Add(60 * time.Second)

	// An AdmissionReview as the apiserver sends it: alice edits a ConfigMap in shop.
	review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Update, Namespace: "shop", Name: "prices",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			UserInfo:  authenticationv1.UserInfo{Username: "alice", Groups: []string{"devs"}},
			Object:    runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"prices","namespace":"shop"}}`)},
			OldObject: runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"prices","namespace":"shop"}}`)}}}
	body, _ := json.Marshal(review)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // test server's own cert
	var resp admissionv1.AdmissionReview
	for {
		r, err := hc.Post("https://127.0.0.1:"+port+app.GuardPath, "application/json", bytes.NewReader(body))
		if err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			_ = json.Unmarshal(b, &resp)
		}
		if resp.Response != nil && !resp.Response.Allowed && strings.Contains(resp.Response.Result.Message, `GuardPolicy "shop"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("guard did not deny: %v %+v", err, resp.Response)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp.Response.AuditAnnotations["decision"] != "denied" {
		t.Errorf("audit annotations %v", resp.Response.AuditAnnotations)
	}

	// The denial travels as an AuditEvent into the store; an export contains it.
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for {
		code, b, err := get("http://" + export + "/v1/audit/export?from=" + from + "&to=" + to)
		if err == nil && code == http.StatusOK {
			res, verr := evidence.Verify(bytes.NewReader([]byte(b)), int64(len(b)), evidence.VerifyOptions{})
			if verr == nil && res.Manifest.Counts["MutationDenied"] >= 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the denial never reached an export (%d): %v\n%s", code, err, logs.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
}
