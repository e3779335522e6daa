package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	"writ.dev/writ/cmd/writ-controller/app"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/webhook"
	"writ.dev/writ/witness"
)

// BenchmarkHealLatency makes 100 out-of-band edits to an object a Sync manages (the sync's
// interval is an hour, so healing comes from the drift watch) and reports the p50 and p99 time
// from each edit until the object is back to Git's value (goal: p99 ≤ 2 s). Each edit is made under a
// break-glass grant revoked right after it (healing waits for the grant to end), so the figure
// includes the revocation's way to the reconciler.
func BenchmarkHealLatency(b *testing.B) {
	if env == nil {
		b.Skip("needs the control plane: run without -short")
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns := fmt.Sprintf("heal-bench-%d", time.Now().UnixNano()%1_000_000)
		alice := fixtures.SSHKey(b, "Alice", "alice@example.com", "ed25519")
		repo := fixtures.NewRepo(b)
		repo.Commit(alice, "cfg", map[string]string{
			"app/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n",
			"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: " + ns + "}\ndata: {mode: safe}\n",
		})
		start(b)
		slow := &metav1.Duration{Duration: time.Hour}
		no := false
		for _, o := range []client.Object{
			&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: provenancev1.TrustPolicySpec{SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
			&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: ns}, Spec: reconcilev1.GitSourceSpec{URL: "file://" + repo.Dir, TrustPolicy: ns, Interval: &metav1.Duration{Duration: time.Second}}},
			&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: ns}, Spec: reconcilev1.SyncSpec{
				SourceRef: reconcilev1.LocalObjectReference{Name: ns}, Path: "app", Interval: slow, Wait: &no}},
		} {
			if err := env.Client.Create(ctx, o); err != nil {
				b.Fatal(err)
			}
		}
		value := func() string {
			var c corev1.ConfigMap
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cfg"}, &c)
			return c.Data["mode"]
		}
		for deadline := time.Now().Add(time.Minute); value() != "safe"; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("the sync never applied")
			}
		}
		time.Sleep(2 * time.Second) // let the drift watch start
		b.StartTimer()
		var took []time.Duration
		for e := 0; e < 100; e++ {
			// Each edit under a grant that ends right after it: an edit is healed only then.
			b.StopTimer()
			human := emergency(b, ns)
			b.StartTimer()
			patch := []byte(fmt.Sprintf(`{"data":{"mode":"edit-%d"}}`, e))
			start := time.Now()
			if err := human.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cfg"}},
				client.RawPatch("application/merge-patch+json", patch), client.FieldOwner("kubectl-edit")); err != nil {
				b.Fatal(err)
			}
			human.End(b)
			for value() != "safe" {
				if time.Since(start) > 30*time.Second {
					b.Fatalf("edit %d not healed after 30 s", e)
				}
				time.Sleep(10 * time.Millisecond)
			}
			took = append(took, time.Since(start))
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		b.ReportMetric(took[49].Seconds(), "p50-heal-s")
		b.ReportMetric(took[98].Seconds(), "p99-heal-s")
	}
}

// thousandFiles are the manifests of 1,000 objects in ns (ConfigMaps, headless Services and
// Deployments, a third each, as apply's BenchmarkApply1000; the test apiserver's service range is
// small) and their Namespace, at revision rev: every object changes with it.
func thousandFiles(ns string, rev int) map[string]string {
	var cms, svcs, deps strings.Builder
	for i := range 1000 {
		name := fmt.Sprintf("obj-%04d", i)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {index: %q, rev: %q, payload: 0123456789abcdef}\n", name, ns, fmt.Sprint(i), fmt.Sprint(rev))
		case 1:
			fmt.Fprintf(&svcs, "---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s, labels: {rev: %q}}\nspec: {clusterIP: None, selector: {app: %s}, ports: [{port: 80, targetPort: 8080}]}\n", name, ns, fmt.Sprint(rev), name)
		default:
			fmt.Fprintf(&deps, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: %s}\nspec:\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}, annotations: {rev: %q}}\n    spec: {containers: [{name: app, image: 'nginx:1.27'}]}\n", name, ns, name, name, fmt.Sprint(rev))
		}
	}
	return map[string]string{
		"app/ns.yaml":          "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n",
		"app/configmaps.yaml":  cms.String(),
		"app/services.yaml":    svcs.String(),
		"app/deployments.yaml": deps.String(),
	}
}

// pushToApplied runs a new GitSource and Sync of 1,000 objects and returns the time from
// creating them to the first commit applied (every object created), and from a push that
// changes every object (the GitSource woken at once, as a push webhook would) to it applied, and
// how many of the reconciler's writes the witness refused meanwhile (none is false: a write
// before the witness has indexed the commit, retried by the reconciler, costs time).
func pushToApplied(b *testing.B, ns string) (first, push time.Duration, refused int) {
	ctx := context.Background()
	alice := fixtures.SSHKey(b, "Alice", "alice@example.com", "ed25519")
	repo := fixtures.NewRepo(b)
	commit := repo.Commit(alice, "1,000 objects", thousandFiles(ns, 1))
	rec := start(b)
	rec.expectWitnessDenials(func(e auditv1.AuditEventSpec) bool { return e.Reason == string(witness.NotReady) }) // counted below
	since := time.Now()
	hour := &metav1.Duration{Duration: time.Hour} // every step below comes from a watch
	no := false
	gs := &reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: ns}, Spec: reconcilev1.GitSourceSpec{
		URL: "file://" + repo.Dir, TrustPolicy: ns, Interval: hour}}
	applied := func(commit string, since time.Time) time.Duration {
		for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
			var s reconcilev1.Sync
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: ns}, &s); err == nil && s.Status.LastAppliedCommit == commit {
				return time.Since(since)
			} else if time.Now().After(deadline) {
				b.Fatalf("%s not applied after 5 minutes: %s", commit, conditions(s.Status.Conditions))
			}
		}
	}
	began := time.Now()
	for _, o := range []client.Object{
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: provenancev1.TrustPolicySpec{SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
		gs,
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: ns}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: ns}, Path: "app", Interval: hour, Wait: &no}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	first = applied(commit, began)
	next := repo.Commit(alice, "every object changes", thousandFiles(ns, 2))
	began = time.Now()
	poke := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"test.writ.dev/pushed":"`+next+`"}}}`))
	if err := env.Client.Patch(ctx, gs, poke); err != nil {
		b.Fatal(err)
	}
	push = applied(next, began)
	time.Sleep(500 * time.Millisecond) // the guard hands its records to the apiserver asynchronously
	return first, push, len(witnessDenials(b, since))
}

// BenchmarkPushToApplied1000 reports the time from a push to a Sync of 1,000 objects applied
// (pushToApplied: a first sync creating them all, and a commit changing them all), with the
// webhook served by the writ-controller program as the chart runs it (writController: the guard
// with the witness in Enforce) and by the guard alone, as before the witness (guardAlone), one
// after the other in each round, the first of the two alternating from round to round, so that
// the machine's load weighs on both alike (goal: the witness adds at most 10%). Run it with
// -benchtime 1x -count 5.
func BenchmarkPushToApplied1000(b *testing.B) {
	if env == nil {
		b.Skip("needs the control plane: run without -short")
	}
	enforce := writController(b)
	variants := []struct {
		name   string
		server webhookServer
	}{{"guard-alone", guardAlone}, {"witness-enforce", enforce}}
	b.Cleanup(func() { // the witness in Enforce again, for what runs next
		if err := serveWebhooks(env, enforce); err != nil {
			b.Error(err)
		}
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		took := map[string][2]time.Duration{}
		for j := range variants {
			v := variants[(benchRounds+j)%len(variants)]
			b.StopTimer()
			if err := serveWebhooks(env, v.server); err != nil {
				b.Fatal(err)
			}
			if err := guardInForce(context.Background(), env); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			first, push, refused := pushToApplied(b, fmt.Sprintf("push-bench-%d", time.Now().UnixNano()%1_000_000))
			took[v.name] = [2]time.Duration{first, push}
			b.ReportMetric(first.Seconds(), "s/first-sync-"+v.name)
			b.ReportMetric(push.Seconds(), "s/push-"+v.name)
			b.ReportMetric(float64(refused), "refused-"+v.name)
		}
		benchRounds++
		alone, witnessed := took["guard-alone"], took["witness-enforce"]
		b.ReportMetric(witnessed[0].Seconds()/alone[0].Seconds(), "x/first-sync-enforce/alone")
		b.ReportMetric(witnessed[1].Seconds()/alone[1].Seconds(), "x/push-enforce/alone")
	}
}

// benchRounds counts BenchmarkPushToApplied1000's rounds across -count runs, so that which variant
// goes first alternates.
var benchRounds int

// guardAlone serves the suite's webhooks as writ-controller's webhook component did before the
// witness (issue #14), in this process: the guard with no Witness, deciding by its policy chain
// alone, and the approval stamp. It records no audit events (the agent's writes it allows make
// none).
func guardAlone(cfg *rest.Config, hook harness.WebhookServing) (func(), string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	fail := func(err error) (func(), string, error) { cancel(); return nil, "", err }
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: crwebhook.NewServer(crwebhook.Options{Port: hook.Port, CertDir: hook.CertDir})})
	if err != nil {
		return fail(err)
	}
	guard := &webhook.Guard{Reader: mgr.GetCache(), ExemptNamespaces: append(slices.Clone(webhook.DefaultExemptNamespaces), writNS)}
	if err := guard.InvalidateOn(ctx, mgr.GetCache()); err != nil {
		return fail(err)
	}
	for _, o := range webhook.OwnerObjects() {
		if _, err := mgr.GetCache().GetInformer(ctx, o); err != nil {
			return fail(err)
		}
	}
	mgr.GetWebhookServer().Register(app.GuardPath, &admission.Webhook{Handler: guard})
	mgr.GetWebhookServer().Register(app.StampPath, &admission.Webhook{Handler: &webhook.Stamp{}})
	stop, err := runManager(ctx, cancel, mgr)
	return stop, "", err
}

// writController builds the writ-controller program and returns a webhookServer that runs it as
// the chart's writ-webhook Deployment does: --enable-webhook as writ-webhook (a kubeconfig with
// its token), the witness in Enforce with a cache directory of its own. Its files stay until the
// control plane stops, so that it can keep serving after b.
func writController(b *testing.B) webhookServer {
	dir, err := os.MkdirTemp("", "writ-suite-")
	if err != nil {
		b.Fatal(err)
	}
	env.AtStop(func() { _ = os.RemoveAll(dir) })
	harness.BuildCommands(b, dir, "writ-controller")
	return func(cfg *rest.Config, hook harness.WebhookServing) (func(), string, error) {
		kc := clientcmdapi.NewConfig()
		kc.Clusters["suite"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
		kc.AuthInfos["writ-webhook"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
		kc.Contexts["suite"] = &clientcmdapi.Context{Cluster: "suite", AuthInfo: "writ-webhook"}
		kc.CurrentContext = "suite"
		kubeconfig := filepath.Join(dir, "writ-webhook.kubeconfig")
		if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
			return nil, "", err
		}
		probe, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		log, err := os.Create(filepath.Join(dir, "writ-controller.log"))
		if err != nil {
			return nil, "", err
		}
		cmd := exec.Command(filepath.Join(dir, "writ-controller"), "--kubeconfig", kubeconfig, "--enable-webhook", "--namespace", writNS,
			"--webhook-port", fmt.Sprint(hook.Port), "--webhook-cert-dir", hook.CertDir, "--witness-mode", "Enforce",
			"--witness-cache-dir", filepath.Join(dir, "witness-cache"), "--metrics-bind-address", "0", "--health-probe-bind-address", probe)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			log.Close()
			return nil, "", err
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); log.Close(); close(done) }()
		stop := func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		return stop, "http://" + probe + "/readyz", nil
	}
}
