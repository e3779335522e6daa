package charts_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/evidence"
	"writ.dev/writ/cmd/writ-controller/app"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/sealing"
	"writ.dev/writ/test/harness"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/webhook/certs"
)

// logs collects every manager's log, printed when a component test fails.
var logs harness.SyncBuffer

func init() { ctrl.SetLogger(zap.New(zap.WriteTo(&logs))) }

// runComponents runs each rendered Deployment's writ-controller, with the Deployment's own
// arguments (local ports and directories instead of the pod's) and as its service account, so
// with nothing but the chart's RBAC: the controller makes the webhook's certificates, the audit
// key and a sealing key, and unseals a SealedSecret in another namespace; the webhook, serving the certificate from the controller's Secret as the
// pod would mount it, answers an admission review over TLS that trusts only writ-guard's
// caBundle; the reconciler, on its own role alone (reconciler.applyClusterRole empty), reports on
// a GitSource.
func runComponents(t *testing.T, r rendering) {
	t.Helper()
	ns := r.namespace
	ctx := context.Background()

	controller := start(t, r, "writ-controller", nil)
	var tlsSecret corev1.Secret
	waitFor(t, "writ-controller to write the webhook's certificates, the audit key and a sealing key", func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "writ-webhook-tls"}, &tlsSecret); err != nil {
			return err
		}
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "writ-guard"}, &vwc); err != nil {
			return err
		}
		if !bytes.Equal(vwc.Webhooks[0].ClientConfig.CABundle, tlsSecret.Data[certs.CABundleKey]) {
			return fmt.Errorf("writ-guard's caBundle is not the Secret's ca.crt")
		}
		var key corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "writ-audit-signing-key"}, &key); err != nil {
			return err
		}
		var keys corev1.SecretList
		if err := env.Client.List(ctx, &keys, client.InNamespace(ns), client.HasLabels{sealing.KeyLabel}); err != nil {
			return err
		}
		if len(keys.Items) == 0 {
			return fmt.Errorf("no sealing key yet")
		}
		return nil
	})
	t.Cleanup(func() {
		var keys corev1.SecretList
		_ = env.Client.List(context.Background(), &keys, client.InNamespace(ns))
		for i := range keys.Items {
			_ = env.Client.Delete(context.Background(), &keys.Items[i])
		}
	})
	unsealsInto(t, ns, "default")

	// The webhook pod mounts tls.crt and tls.key of that Secret.
	certDir := t.TempDir()
	for _, k := range []string{certs.CertKey, certs.PrivateKeyKey} {
		if err := os.WriteFile(filepath.Join(certDir, k), tlsSecret.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := harness.FreePort(t)
	start(t, r, "writ-webhook", []string{"--webhook-cert-dir=" + certDir, fmt.Sprintf("--webhook-port=%d", port)})
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "writ-guard"}, &vwc); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(vwc.Webhooks[0].ClientConfig.CABundle)
	// As the apiserver connects: trusting the caBundle alone, expecting the Service's name.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: vwc.Webhooks[0].ClientConfig.Service.Name + "." + ns + ".svc", MinVersion: tls.VersionTLS12}}}
	review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Create, Namespace: "default", Name: "c",
			Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			UserInfo: authenticationv1.UserInfo{Username: "alice"},
			Object:   runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default"}}`)}}}
	body, _ := json.Marshal(review)
	url := fmt.Sprintf("https://127.0.0.1:%d%s", port, *vwc.Webhooks[0].ClientConfig.Service.Path)
	waitFor(t, "writ-webhook to answer over TLS with writ-guard's caBundle", func() error {
		resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var got admissionv1.AdmissionReview
		if err := json.Unmarshal(b, &got); err != nil || got.Response == nil {
			return fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		if !got.Response.Allowed {
			return fmt.Errorf("denied: %v", got.Response.Result)
		}
		return nil
	})
	deniedIntoTheAuditTrail(t, r, controller, func(b []byte) (*admissionv1.AdmissionReview, error) {
		resp, err := hc.Post(url, "application/json", bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var got admissionv1.AdmissionReview
		err = json.NewDecoder(resp.Body).Decode(&got)
		return &got, err
	})

	start(t, r, "writ-reconciler", nil)
	gs := &reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "chart-components"},
		Spec: reconcilev1.GitSourceSpec{URL: "file:///nonexistent/repo.git", TrustPolicy: "none"}}
	// GitSources are Writ's configuration: with the fallback policy bound, only the agent's.
	agent := agentClient(t, r)
	if err := agent.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Delete(context.Background(), gs) })
	waitFor(t, "writ-reconciler to report on a GitSource", func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(gs), gs); err != nil {
			return err
		}
		if len(gs.Status.Conditions) == 0 {
			return fmt.Errorf("no conditions")
		}
		return nil
	})
}

// deniedIntoTheAuditTrail has the webhook deny a change in a protected namespace and finds the
// denial in an evidence export from writ-controller: the webhook hands AuditEvents over, the
// audit component ingests them, each with the chart's RBAC alone.
func deniedIntoTheAuditTrail(t *testing.T, r rendering, controller app.Options, review func([]byte) (*admissionv1.AdmissionReview, error)) {
	t.Helper()
	ctx := context.Background()
	// The fallback policy lets only the agent change GuardPolicies.
	agent, err := client.New(env.As("system:serviceaccount:"+r.namespace+":writ-reconciler", "system:masters"), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	gp := &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "chart-shop"}, Spec: guardv1.GuardPolicySpec{
		Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"chart-shop"}}},
		Agents:  []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: r.namespace, Name: "writ-reconciler"}},
	}}
	if err := agent.Create(ctx, gp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Delete(context.Background(), gp) })
	cm := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"prices","namespace":"chart-shop"}}`
	body, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "2", Operation: admissionv1.Update, Namespace: "chart-shop", Name: "prices",
			Kind:     metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			UserInfo: authenticationv1.UserInfo{Username: "alice"},
			Object:   runtime.RawExtension{Raw: []byte(cm)}, OldObject: runtime.RawExtension{Raw: []byte(cm)}}})
	waitFor(t, "writ-webhook to deny a change in a protected namespace", func() error {
		got, err := review(body)
		if err != nil {
			return err
		}
		if got.Response == nil || got.Response.Allowed {
			return fmt.Errorf("not denied: %+v", got.Response)
		}
		return nil
	})
	from, to := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	waitFor(t, "the denial in an evidence export from writ-controller", func() error {
		resp, err := http.Get("http://" + controller.AuditExportAddr + "/v1/audit/export?from=" + from + "&to=" + to)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("export: %d %v", resp.StatusCode, err)
		}
		res, err := evidence.Verify(bytes.NewReader(b), int64(len(b)), evidence.VerifyOptions{})
		if err != nil {
			return err
		}
		if res.Manifest.Counts[audit.MutationDenied] < 1 {
			return fmt.Errorf("records in the export: %v", res.Manifest.Counts)
		}
		return nil
	})
}

// unsealsInto seals a Secret for namespace with the controller's sealing key and waits for the
// controller to unseal it there: its role covers SealedSecrets and Secrets in every namespace.
func unsealsInto(t *testing.T, writNamespace, namespace string) {
	t.Helper()
	ctx := context.Background()
	var keys corev1.SecretList
	if err := env.Client.List(ctx, &keys, client.InNamespace(writNamespace), client.HasLabels{sealing.KeyLabel}); err != nil || len(keys.Items) == 0 {
		t.Fatalf("no sealing key: %v", err)
	}
	key, err := sealing.KeyFromSecret(&keys.Items[0])
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := sealing.NewSealer(key.Cert, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := sealer.Seal(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "chart-sealed"}, StringData: map[string]string{"password": "from-git"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, ss); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ss) })
	waitFor(t, "writ-controller to unseal a SealedSecret into "+namespace, func() error {
		var s corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "chart-sealed"}, &s); err != nil {
			return err
		}
		if string(s.Data["password"]) != "from-git" {
			return fmt.Errorf("the unsealed Secret holds other data")
		}
		// And reports it on the SealedSecret's status.
		live := ss.DeepCopy()
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ss), live); err != nil {
			return err
		}
		if live.Status == nil || live.Status.ObservedGeneration != live.Generation || len(live.Status.Conditions) == 0 {
			return fmt.Errorf("the SealedSecret's status is not updated: %+v", live.Status)
		}
		return nil
	})
}

// start runs the Deployment's writ-controller as its service account until the test ends.
func start(t *testing.T, r rendering, deployment string, extra []string) app.Options {
	t.Helper()
	d := r.must(t, "Deployment", deployment)
	c := containers(t, d)[0]
	sa := d.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["serviceAccountName"].(string)
	dir := t.TempDir()
	local := append(append([]string{}, args(c)...),
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:"+fmt.Sprint(harness.FreePort(t)),
		"--audit-dir="+filepath.Join(dir, "audit"), "--audit-export-bind-address=127.0.0.1:"+fmt.Sprint(harness.FreePort(t)),
		"--sealing-bind-address=127.0.0.1:"+fmt.Sprint(harness.FreePort(t)), "--reconcile-cache-dir="+filepath.Join(dir, "cache"), "--witness-cache-dir="+filepath.Join(dir, "witness"),
		"--leader-election-id="+deployment+"-test", "--graceful-shutdown-timeout=5s")
	o, err := app.ParseFlags(append(local, extra...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ns := r.namespace
	cfg := env.As("system:serviceaccount:"+ns+":"+sa, "system:serviceaccounts", "system:serviceaccounts:"+ns, "system:authenticated")
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := app.NewManager(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatalf("%s: %v", deployment, err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", deployment, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30s", deployment)
		}
	})
	return o
}

func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	out := logs.String()
	if i := strings.LastIndex(out[:max(0, len(out)-8000)], "\n"); i > 0 {
		out = out[i:]
	}
	t.Fatalf("waiting for %s: %v\nmanager logs (tail):\n%s", what, err, out)
}
