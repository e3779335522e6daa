package reconcile_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/cmd/writ-controller/app"
	"writ.dev/writ/policies"
	"writ.dev/writ/test/controlplane"
	"writ.dev/writ/test/harness"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// The suite runs as production does (setupSuite): the reconcilers each test starts act as Writ's
// reconciler service account with a real token and the RBAC the chart gives it, and every write
// passes the guard: writ-controller's webhook component, run in this process as writ-webhook
// with the chart's RBAC, registered with the chart's own webhook configurations, under the
// shipped GuardPolicy (policies/guard-writ.yaml), with the witness in Enforce judging every
// write of the reconciler's (denials_test.go: a test fails on a refusal it does not expect).
// Only the reconciler is the agent: a test sets up as the admin, and changes what the guard
// protects as a person would, through break-glass (emergency) or as the exempt controller (the
// HPA).

// writNS is Writ's namespace, the chart's release namespace.
const writNS = "writ-system"

// The people of the suite, in the groups guard-writ.yaml's break-glass names; RBAC lets them do
// anything, so every refusal they meet is the guard's.
var (
	onCall = person{"oncall-op", "oncall"}
	lead   = person{"platform-lead", "platform-leads"}
	// prober is the user whose dry-run write shows the guard in force.
	prober = person{"suite-probe", "developers"}
)

type person struct{ user, group string }

func (p person) client(t testing.TB) client.Client {
	t.Helper()
	c, err := env.ClientAs(p.user, p.group)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{Setup: setupSuite}, &env)) }

// setupSuite installs what the chart installs for the reconciler and the webhook (service
// accounts, RBAC, webhook configurations), runs the webhook component as writ-webhook, and puts
// the shipped GuardPolicy in force, in the order an installation does: RBAC before the webhook
// configurations (whose failurePolicy is Fail), the policy last.
func setupSuite(e *harness.Env) error {
	ctx := context.Background()
	chart, err := renderChart(e, writNS, "reconciler-rbac.yaml", "webhook-rbac.yaml",
		"webhook-validatingwebhookconfiguration.yaml", "webhook-mutatingwebhookconfiguration.yaml")
	if err != nil {
		return err
	}
	if err := e.EnsureNamespace(ctx, writNS); err != nil {
		return err
	}
	for _, tpl := range []string{"reconciler-rbac.yaml", "webhook-rbac.yaml"} {
		for _, o := range chart[tpl] {
			if err := e.Client.Create(ctx, o.(client.Object)); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("the chart's %s: %w", tpl, err)
			}
		}
	}
	for _, p := range []person{onCall, lead, prober} {
		if err := e.Grant(ctx, harness.User(p.user), "cluster-admin"); err != nil {
			return err
		}
	}
	if err := serveWebhooks(e, webhookComponent); err != nil {
		return err
	}
	e.AtStop(func() { serving() })
	for _, tpl := range []string{"webhook-validatingwebhookconfiguration.yaml", "webhook-mutatingwebhookconfiguration.yaml"} {
		if len(chart[tpl]) != 1 {
			return fmt.Errorf("the chart's %s rendered %d objects, want 1", tpl, len(chart[tpl]))
		}
		o := chart[tpl][0]
		if err := pointAt(o, e.WebhookServing()); err != nil {
			return fmt.Errorf("the chart's %s: %w", tpl, err)
		}
		if err := e.Client.Create(ctx, o.(client.Object)); err != nil {
			return fmt.Errorf("the chart's %s: %w", tpl, err)
		}
	}
	gp, err := shippedGuardPolicy()
	if err != nil {
		return err
	}
	if err := e.Client.Create(ctx, gp); err != nil {
		return fmt.Errorf("creating GuardPolicy %s: %w", gp.Name, err)
	}
	return guardInForce(ctx, e)
}

// renderChart renders charts/writ with its default values for the control plane's version, as
// `helm template` does, and decodes the objects of the named templates, by template.
func renderChart(e *harness.Env, namespace string, templates ...string) (map[string][]runtime.Object, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	c, err := loader.Load(filepath.Join(root, "charts", "writ"))
	if err != nil {
		return nil, err
	}
	kv, err := chartutil.ParseKubeVersion(e.ServerVersion)
	if err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	values, err := chartutil.ToRenderValues(c, nil, chartutil.ReleaseOptions{Name: "writ", Namespace: namespace, IsInstall: true}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(c, values)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w", err)
	}
	decoder := serializer.NewCodecFactory(e.Scheme).UniversalDeserializer()
	out := map[string][]runtime.Object{}
	for path, text := range files {
		name, ok := strings.CutPrefix(path, "writ/templates/")
		if !ok || !slices.Contains(templates, name) {
			continue
		}
		docs := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
		for {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if string(js) == "null" { // only comments: a template whose condition is off
				continue
			}
			o, _, err := decoder.Decode(js, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			out[name] = append(out[name], o)
		}
	}
	return out, nil
}

// pointAt points a webhook configuration's clientConfig at the suite's webhook server (the
// chart names the Service writ-webhook, which a test control plane has no pods behind).
func pointAt(o runtime.Object, hook harness.WebhookServing) error {
	point := func(cc *admissionv1.WebhookClientConfig) error {
		if cc.Service == nil || cc.Service.Path == nil {
			return errors.New("a webhook without a Service path")
		}
		url := hook.URL(*cc.Service.Path)
		cc.Service, cc.URL, cc.CABundle = nil, &url, hook.CABundle
		return nil
	}
	switch c := o.(type) {
	case *admissionv1.ValidatingWebhookConfiguration:
		for i := range c.Webhooks {
			if err := point(&c.Webhooks[i].ClientConfig); err != nil {
				return err
			}
		}
	case *admissionv1.MutatingWebhookConfiguration:
		for i := range c.Webhooks {
			if err := point(&c.Webhooks[i].ClientConfig); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%T is not a webhook configuration", o)
	}
	return nil
}

// serving stops what serves the suite's webhook configurations now.
var serving = func() {}

// A webhookServer starts what serves the suite's webhook configurations, as cfg's identity, on
// the address and certificate the apiserver was told about, and returns how to stop it and the
// URL of its readiness probe ("" for none: it is ready once it returns).
type webhookServer func(cfg *rest.Config, hook harness.WebhookServing) (stop func(), readyz string, err error)

// webhookComponent is writ-controller's webhook component as the chart's writ-webhook Deployment
// runs it (--enable-webhook), in this process: the guard, the approval stamp and the witness
// (its feed with a cache directory of its own, the witness in Enforce). It can run once per
// process (its controllers' names are registered process-wide); the benchmark runs the
// writ-controller program instead (writController).
func webhookComponent(cfg *rest.Config, hook harness.WebhookServing) (func(), string, error) {
	probe, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	o := app.DefaultOptions()
	o.Enabled = map[string]bool{app.ComponentWebhook: true}
	o.Namespace, o.MetricsAddr, o.ProbeAddr = writNS, "0", probe
	o.WebhookPort, o.WebhookCertDir = hook.Port, hook.CertDir
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := app.NewManager(ctx, cfg, o)
	if err != nil {
		cancel()
		return nil, "", err
	}
	stop, err := runManager(ctx, cancel, mgr)
	return stop, "http://" + probe + "/readyz", err
}

// runManager starts mgr until cancel and returns once its webhook server serves and its caches
// have synced.
func runManager(ctx context.Context, cancel context.CancelFunc, mgr ctrl.Manager) (stop func(), err error) {
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop = func() { cancel(); <-done }
	for deadline := time.Now().Add(time.Minute); mgr.GetWebhookServer().StartedChecker()(nil) != nil; time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("the webhook server stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("the webhook server does not serve after a minute")
		}
	}
	synced, cancelSync := context.WithTimeout(ctx, time.Minute)
	defer cancelSync()
	if !mgr.GetCache().WaitForCacheSync(synced) {
		stop()
		return nil, errors.New("the webhook server's cache did not sync in a minute (its RBAC?)")
	}
	return stop, nil
}

// serveWebhooks stops what serves the suite's webhooks and serves them with server instead, as
// writ-webhook (a new token), once it is ready: its readiness probe passing (the witness knows
// whose writes it judges), as a pod must be before its Service sends it reviews.
func serveWebhooks(e *harness.Env, server webhookServer) error {
	serving()
	serving = func() {}
	cfg, err := e.ServiceAccount(context.Background(), writNS, wellknown.WebhookServiceAccount)
	if err != nil {
		return err
	}
	stop, readyz, err := server(cfg, e.WebhookServing())
	if err != nil {
		return err
	}
	last := ""
	for deadline := time.Now().Add(time.Minute); readyz != ""; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(readyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("the webhook server is not ready after a minute: %s: %s", readyz, last)
		}
	}
	serving = stop
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// shippedGuardPolicy is policies/guard-writ.yaml, the GuardPolicy for clusters where Writ's own
// reconciler is the agent (the demo's).
func shippedGuardPolicy() (*guardv1.GuardPolicy, error) {
	data, err := policies.FS.ReadFile("guard-writ.yaml")
	if err != nil {
		return nil, err
	}
	var gp guardv1.GuardPolicy
	if err := yaml.UnmarshalStrict(data, &gp); err != nil {
		return nil, fmt.Errorf("policies/guard-writ.yaml: %w", err)
	}
	return &gp, nil
}

// guardInForce waits until the guard denies a person's dry-run create of a tracked object: the
// webhook configuration registered and the policy in the guard's cache.
func guardInForce(ctx context.Context, e *harness.Env) error {
	c, err := e.ClientAs(prober.user, prober.group)
	if err != nil {
		return err
	}
	var last error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "suite-probe", Labels: map[string]string{wellknown.ManagedLabel: "suite.probe"}}}
		last = c.Create(ctx, cm, client.DryRunAll)
		if apierrors.IsForbidden(last) && strings.Contains(last.Error(), "writ:") {
			return nil
		}
	}
	return fmt.Errorf("the guard is not in force after a minute: a tracked object's dry-run create by %s: %v", prober.user, last)
}

// agentConfig is a connection as Writ's reconciler service account, with a new token from the
// TokenRequest API and writ-controller's client-side rate limits.
func agentConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := env.ServiceAccount(context.Background(), writNS, wellknown.ReconcilerServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	o := app.DefaultOptions()
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	return cfg
}

// access is an on-call person's approved break-glass grant and a client for them.
type access struct {
	client.Client
	// Request is the BreakGlassRequest's name: the grant's id.
	Request string
}

// End revokes the grant (deletes its BreakGlassRequest): the reconciler then heals what was
// left in place under it.
func (a access) End(t testing.TB) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: a.Request}}); client.IgnoreNotFound(err) != nil {
		t.Fatalf("revoking break-glass request %s: %v", a.Request, err)
	}
}

// emergency is an on-call person's approved break-glass access to every object in namespaces
// for 15 minutes: a BreakGlassRequest by onCall, approved by lead (the guard stamps the
// approval), and a client for onCall once the guard admits its writes there. It is how a test
// changes what the reconciler applied, as a person in production must while the guard is in
// force. While the grant is in force the reconciler leaves its edits in place: End it to have
// them healed.
func emergency(t testing.TB, namespaces ...string) access {
	t.Helper()
	return emergencyFor(t, 15*time.Minute, guardv1.BreakGlassScope{Namespaces: namespaces})
}

// emergencyFor is emergency with a duration and scope of the test's.
func emergencyFor(t testing.TB, d time.Duration, scope guardv1.BreakGlassScope) access {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("suite-%d", time.Now().UnixNano())
	req := &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.BreakGlassRequestSpec{
		Requester: onCall.user, Justification: "the test " + t.Name() + " changes what Git declares", Ticket: "TEST",
		Scope: scope, Duration: metav1.Duration{Duration: d}}}
	c := onCall.client(t)
	if err := c.Create(ctx, req); err != nil {
		t.Fatalf("break-glass request: %v", err)
	}
	approval := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"approvedBy":"`+lead.user+`"}}`))
	if err := lead.client(t).Patch(ctx, &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: name}}, approval); err != nil {
		t.Fatalf("break-glass approval: %v", err)
	}
	probeName := "break-glass-probe"
	if len(scope.Names) > 0 {
		probeName = scope.Names[0]
	}
	harness.Eventually(t, "the break-glass grant in force", 30*time.Second, func() (bool, string) {
		probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: scope.Namespaces[0], Name: probeName,
			Labels: map[string]string{wellknown.ManagedLabel: "suite.probe"}}}
		err := c.Create(ctx, probe, client.DryRunAll)
		return err == nil || apierrors.IsAlreadyExists(err), fmt.Sprint(err)
	})
	return access{Client: c, Request: name}
}

// agentOf makes a service account an agent of the suite's GuardPolicy until t ends: a Sync with
// spec.serviceAccountName applies as that account, and the guard lets only agents change what
// it protects (the reconciler's own tracked objects included).
func agentOf(t testing.TB, namespace, name string) {
	t.Helper()
	sa := guardv1.Subject{Kind: guardv1.ServiceAccountSubject, Namespace: namespace, Name: name}
	edit := func(change func([]guardv1.Subject) []guardv1.Subject) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var gp guardv1.GuardPolicy
			if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "writ"}, &gp); err != nil {
				return err
			}
			gp.Spec.Agents = change(gp.Spec.Agents)
			return env.Client.Update(context.Background(), &gp)
		})
	}
	if err := edit(func(a []guardv1.Subject) []guardv1.Subject { return append(a, sa) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := edit(func(a []guardv1.Subject) []guardv1.Subject {
			return slices.DeleteFunc(a, func(s guardv1.Subject) bool { return s == sa })
		}); err != nil {
			t.Error(err)
		}
	})
}
