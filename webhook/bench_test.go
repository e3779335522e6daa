package webhook_test

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
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"writ.dev/writ/audit"
	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

const (
	benchAgent = "system:serviceaccount:writ-system:writ-reconciler"
	benchHPA   = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
	// The load: a fixed arrival rate, for benchRounds phases of benchPhase per handler, from at
	// most benchWorkers requests in flight. Short phases, alternating which handler goes first,
	// spread the machine's own hiccups (GC, other processes) evenly over both handlers.
	benchRate    = 2000
	benchPhase   = 50 * time.Millisecond
	benchRounds  = 400
	benchWorkers = 64
	benchBlocks  = 5 // for the median-of-blocks p99 ratio
)

// benchMust(f())(b) returns f's value, failing b on f's error.
func benchMust[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

// benchCheck fails b on err.
func benchCheck(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// benchPolicies are what a cluster might run: production namespaces by name with RBAC's cluster
// resources, platform namespaces by label for a list of kinds, staging in Warn mode.
func benchPolicies() []*guardv1.GuardPolicy {
	agents := []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"}}
	exemptions := []guardv1.Exemption{
		{Name: "hpa-scale", Subject: guardv1.Subject{Kind: guardv1.ServiceAccountSubject, Namespace: "kube-system", Name: "horizontal-pod-autoscaler"},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}}}, Operations: []string{"UPDATE"}, Subresources: []string{"scale"}},
		{Name: "pod-status", Subject: guardv1.Subject{Kind: guardv1.NodeSubject, Name: "*"},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}, Operations: []string{"UPDATE"}, Subresources: []string{"status"}},
	}
	bg := guardv1.BreakGlassPolicy{RequesterGroups: []string{"oncall"}, ApproverGroups: []string{"sre-leads"}}
	policy := func(name string, mode guardv1.GuardMode, protect guardv1.Protection) *guardv1.GuardPolicy {
		return &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.GuardPolicySpec{
			Mode: mode, Protect: protect, Agents: agents, Exemptions: exemptions, BreakGlass: bg, SourceOfTruth: "https://git.example.com/platform/infra"}}
	}
	return []*guardv1.GuardPolicy{
		policy("production", guardv1.Enforce, guardv1.Protection{
			Namespaces: guardv1.NamespaceSelector{Names: []string{"prod", "payments", "checkout"}},
			ClusterResources: []guardv1.ResourceRule{
				{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles", "clusterrolebindings"}},
				{APIGroups: []string{"writ.dev"}, Resources: []string{"guardpolicies"}}},
		}),
		policy("platform", guardv1.Enforce, guardv1.Protection{
			Namespaces: guardv1.NamespaceSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "platform"}}},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}},
				{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets", "services"}}},
		}),
		policy("staging", guardv1.Warn, guardv1.Protection{
			Namespaces: guardv1.NamespaceSelector{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"staging", "qa"}}}}},
		}),
	}
}

// benchMemory holds the policies, twenty namespaces and three break-glass requests (live,
// expired, pending) the guard reads, and serves them as the manager's informer cache does: a deep
// copy of each stored object.
type benchMemory struct {
	policies   []guardv1.GuardPolicy
	requests   []guardv1.BreakGlassRequest
	namespaces map[string]*corev1.Namespace
	objects    []client.Object // the same, for the fake client
}

func newBenchMemory() *benchMemory {
	m := &benchMemory{namespaces: map[string]*corev1.Namespace{}}
	for i, gp := range benchPolicies() {
		gp.UID, gp.ResourceVersion = types.UID(fmt.Sprintf("policy-%d", i)), "1"
		m.policies, m.objects = append(m.policies, *gp), append(m.objects, gp)
	}
	add := func(name string, labels map[string]string) {
		m.namespaces[name] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		m.objects = append(m.objects, m.namespaces[name].DeepCopy())
	}
	for _, ns := range []string{"prod", "payments", "checkout", "kube-system", "writ-system"} {
		add(ns, nil)
	}
	for i := range 5 {
		add(fmt.Sprint("platform-", i), map[string]string{"tier": "platform", "team": "infra"})
		add(fmt.Sprint("staging-", i), map[string]string{"env": "staging"})
		add(fmt.Sprint("dev-", i), map[string]string{"env": "dev"})
	}
	for i, approvedAgo := range []time.Duration{10 * time.Minute, 3 * time.Hour, 0} {
		bgr := guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("inc-", i)}, Spec: guardv1.BreakGlassRequestSpec{
			Requester: "ann", Justification: "INC-42: checkout is down", Scope: guardv1.BreakGlassScope{Namespaces: []string{"checkout"}},
			Duration: metav1.Duration{Duration: time.Hour}}}
		if approvedAgo > 0 {
			at := metav1.NewTime(time.Now().Add(-approvedAgo))
			bgr.Spec.ApprovedBy, bgr.Spec.ApprovedAt = "lea", &at
		}
		m.requests, m.objects = append(m.requests, bgr), append(m.objects, bgr.DeepCopy())
	}
	return m
}

// fakeClient serves the same objects through controller-runtime's fake client, which
// round-trips every object it returns through JSON.
func (m *benchMemory) fakeClient(b *testing.B) client.Reader {
	scheme := runtime.NewScheme()
	benchCheck(b, clientgoscheme.AddToScheme(scheme))
	benchCheck(b, guardv1.AddToScheme(scheme))
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(m.objects...).Build()
}

func (m *benchMemory) Get(_ context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return fmt.Errorf("benchMemory holds no %T", obj)
	}
	stored, ok := m.namespaces[key.Name]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("namespaces"), key.Name)
	}
	if (&client.GetOptions{}).ApplyOptions(opts).UnsafeDisableDeepCopy != nil {
		*ns = *stored // as the informer cache does: a shallow copy
		return nil
	}
	stored.DeepCopyInto(ns)
	return nil
}

func (m *benchMemory) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	switch l := list.(type) {
	case *guardv1.GuardPolicyList:
		l.Items = make([]guardv1.GuardPolicy, len(m.policies))
		for i := range m.policies {
			m.policies[i].DeepCopyInto(&l.Items[i])
		}
	case *guardv1.BreakGlassRequestList:
		l.Items = make([]guardv1.BreakGlassRequest, len(m.requests))
		for i := range m.requests {
			m.requests[i].DeepCopyInto(&l.Items[i])
		}
	default:
		return fmt.Errorf("benchMemory holds no %T", list)
	}
	return nil
}

// benchGuard is a Guard as the controller runs it: metrics, a buffered recorder.
func benchGuard(b *testing.B, reader client.Reader) *webhook.Guard {
	rec := audit.NewBuffered(func(context.Context, audit.Event) error { return nil }, audit.BufferedOptions{})
	b.Cleanup(func() { _ = rec.Close(context.Background()) })
	return &webhook.Guard{Reader: reader, Recorder: rec, Metrics: webhook.NewMetrics(prometheus.NewRegistry()),
		ExemptNamespaces: append(slices.Clone(webhook.DefaultExemptNamespaces), "writ-system")}
}

// BenchmarkDecide measures the pure decision, without reading the policies.
func BenchmarkDecide(b *testing.B) {
	var policies []*webhook.Policy
	for _, gp := range benchPolicies() {
		policies = append(policies, benchMust(webhook.Compile(gp))(b))
	}
	world := newBenchMemory()
	snap := &webhook.Snapshot{
		Policies: policies,
		NamespaceLabels: func(name string) (map[string]string, error) {
			if ns, ok := world.namespaces[name]; ok {
				return ns.Labels, nil
			}
			return nil, nil
		},
		Now:              time.Now(),
		ExemptNamespaces: map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true, "writ-system": true},
	}
	meta := &webhook.ObjectMeta{Labels: map[string]string{"app": "web", wellknown.ManagedLabel: "true"}, Annotations: map[string]string{wellknown.SourceAnnotation: "git.example.com/infra//apps/web"}}
	deploy := func(user string, groups ...string) *webhook.Request {
		return &webhook.Request{UID: "u", Operation: "UPDATE", Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment",
			Namespace: "prod", Name: "web", User: user, Groups: groups, Old: meta, New: meta}
	}
	for _, c := range []struct {
		name string
		req  *webhook.Request
	}{{"denied", deploy("alice", "devs", "system:authenticated")}, {"allowed", deploy(benchAgent, "system:serviceaccounts", "system:serviceaccounts:writ-system")}} {
		b.Run(c.name, func(b *testing.B) {
			if d := webhook.Decide(c.req, snap); d.Allowed != (c.name == "allowed") {
				b.Fatalf("decision %+v for a request meant to be %s", d, c.name)
			}
			b.ReportAllocs()
			for b.Loop() {
				webhook.Decide(c.req, snap)
			}
		})
	}
}

// benchReview is one pre-encoded AdmissionReview and the answer it must get.
type benchReview struct {
	name        string
	body        []byte
	allow, warn bool
}

// benchReviews are the requests the load cycles through: the agent's update, a person's
// (denied), the HPA's scale write (exempt), an unprotected edit, a Warn-mode edit and a tracked
// object created by the agent. Objects are full Deployments and ConfigMaps as the apiserver sends.
func benchReviews(b testing.TB) []benchReview {
	replicas := int32(3)
	labels := map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop", wellknown.ManagedLabel: "true"}
	dep := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod", Labels: labels, UID: "9f1c2d1e-0000-4000-8000-000000000001", ResourceVersion: "48213", Generation: 7,
			Annotations: map[string]string{wellknown.SourceAnnotation: "https://git.example.com/platform/infra//apps/web", "deployment.kubernetes.io/revision": "7"}},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "registry.example.com/shop/web@sha256:4f5e0c1d2b3a49586776a5b4c3d2e1f00112233445566778899aabbccddeeff0",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:   []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "DB_HOST", Value: "db.payments.svc"}, {Name: "FEATURE_FLAGS", Value: "a,b,c"}},
			}}}}}}
	cm := func(ns string, tracked bool) *corev1.ConfigMap {
		c := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns},
			Data: map[string]string{"app.yaml": "listen: :8080\nlog: info\nfeatures: [a, b, c]\n", "limits": "100"}}
		if tracked {
			c.Labels = labels
		}
		return c
	}
	review := func(name string, op admissionv1.Operation, gvr metav1.GroupVersionResource, sub, ns, user string, groups []string, old, obj any, allow, warn bool) benchReview {
		raw := func(o any) runtime.RawExtension {
			if o == nil {
				return runtime.RawExtension{}
			}
			return runtime.RawExtension{Raw: benchMust(json.Marshal(o))(b)}
		}
		body := benchMust(json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: types.UID("bench-" + name), Operation: op, Resource: gvr, RequestResource: &gvr, SubResource: sub,
				Kind: metav1.GroupVersionKind{Group: gvr.Group, Version: gvr.Version, Kind: "Object"}, Namespace: ns, Name: "web",
				UserInfo: authenticationv1.UserInfo{Username: user, UID: "u-" + user, Groups: groups},
				Object:   raw(obj), OldObject: raw(old)}}))(b)
		return benchReview{name: name, body: body, allow: allow, warn: warn}
	}
	deployments := metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	configmaps := metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	sa := []string{"system:serviceaccounts", "system:authenticated"}
	person := []string{"devs", "system:authenticated"}
	return []benchReview{
		review("agent-update", admissionv1.Update, deployments, "", "prod", benchAgent, sa, dep, dep, true, false),
		review("person-update", admissionv1.Update, deployments, "", "prod", "alice", person, dep, dep, false, false),
		review("hpa-scale", admissionv1.Update, deployments, "scale", "prod", benchHPA, sa, map[string]any{"kind": "Scale"}, map[string]any{"kind": "Scale"}, true, false),
		review("unprotected", admissionv1.Update, configmaps, "", "dev-1", "bob", person, cm("dev-1", false), cm("dev-1", false), true, false),
		review("warned", admissionv1.Update, configmaps, "", "staging-2", "bob", person, cm("staging-2", false), cm("staging-2", false), true, true),
		review("agent-create-tracked", admissionv1.Create, configmaps, "", "platform-3", benchAgent, sa, nil, cm("platform-3", true), true, false),
	}
}

// benchTimed times each call of the handler it wraps and counts calls by namespace.
type benchTimed struct {
	h       admission.Handler
	mu      sync.Mutex
	samples []time.Duration
	byNS    map[string]int
}

func (t *benchTimed) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	resp := t.h.Handle(ctx, req)
	took := time.Since(start)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.samples = append(t.samples, took)
	if t.byNS == nil {
		t.byNS = map[string]int{}
	}
	t.byNS[req.Namespace]++
	return resp
}

// reset returns the samples and calls by namespace so far, and starts afresh.
func (t *benchTimed) reset() ([]time.Duration, map[string]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, n := t.samples, t.byNS
	t.samples, t.byNS = nil, nil
	return s, n
}

// BenchmarkGuardOverTLS serves the guard and a no-op handler from controller-runtime's webhook
// server over TLS on loopback and offers each, in alternating phases, the same requests at a
// fixed rate over HTTP/2 (as the apiserver calls webhooks); see benchLoad for what a latency
// includes. The load generator is a process of its own (see TestLoadGeneratorProcess), sharing
// the machine's CPUs but not the server's heap, unless WRIT_BENCH_LOADGEN=inline. The guard reads through the fake
// client or from memory as the informer cache does; guard=replay sends the guard's responses
// without deciding (the cost of the response itself); guard=none pits the no-op against a second
// no-op, so its ratio is the noise floor of the machine.
func BenchmarkGuardOverTLS(b *testing.B) {
	benchQuiet()
	noop := func() *benchTimed {
		return &benchTimed{h: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })}
	}
	world := newBenchMemory()
	// in-memory is the guard as writ-controller runs it: policies and grants kept between
	// requests (nothing changes during the benchmark, so nothing invalidates them). fake-client
	// reads and compiles them on every request, as after every change.
	kept := benchGuard(b, world)
	kept.KeepSnapshot()
	// replay answers each review with the guard's own response, computed once beforehand: the
	// cost of the response the guard sends (messages, warnings, auditAnnotations) without deciding.
	replay := map[string]admission.Response{}
	for _, r := range benchReviews(b) {
		var review admissionv1.AdmissionReview
		benchCheck(b, json.Unmarshal(r.body, &review))
		replay[string(review.Request.UID)] = kept.Handle(context.Background(), admission.Request{AdmissionRequest: *review.Request})
	}
	replayer := admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response { return replay[string(req.UID)] })
	guards := map[string]*benchTimed{"/fake-client": {h: benchGuard(b, world.fakeClient(b))}, "/in-memory": {h: kept}, "/replay": {h: replayer}, "/none": noop()}
	handlers := map[string]admission.Handler{"/noop": noop()}
	for path, h := range guards {
		handlers[path] = h
	}
	hc, base, ca := benchServe(b, handlers)
	reviews := benchReviews(b)
	var bodies [][]byte
	for _, r := range reviews {
		bodies = append(bodies, r.body)
	}
	// The load comes from a process of its own, as the apiserver's would, unless
	// WRIT_BENCH_LOADGEN=inline: then client and server share this process (and its GC).
	load := func(_ *testing.B, url string, d time.Duration) ([]time.Duration, int, time.Duration) {
		return benchLoad(hc, url, bodies, d)
	}
	if os.Getenv("WRIT_BENCH_LOADGEN") != "inline" {
		lg := startLoadgen(b, ca)
		load = lg.load
	}
	paths := []string{"/fake-client", "/in-memory", "/replay", "/none"}
	if only := os.Getenv("WRIT_BENCH_PATHS"); only != "" {
		paths = strings.Split(only, ",") // e.g. /in-memory,/none
	}
	for _, path := range paths {
		if guards[path] == nil {
			b.Fatalf("WRIT_BENCH_PATHS: no handler %s (have /fake-client, /in-memory, /replay, /none)", path)
		}
		b.Run("guard="+path[1:], func(b *testing.B) {
			for _, r := range reviews {
				resp := benchMust(hc.Post(base+path, "application/json", bytes.NewReader(r.body)))(b)
				var review admissionv1.AdmissionReview
				err := json.NewDecoder(resp.Body).Decode(&review)
				resp.Body.Close()
				if err != nil || review.Response == nil || resp.ProtoMajor != 2 ||
					(path != "/none" && (review.Response.Allowed != r.allow || (len(review.Response.Warnings) > 0) != r.warn)) {
					b.Fatalf("%s over %s: %+v (%v), want allowed=%v warn=%v", r.name, resp.Proto, review.Response, err, r.allow, r.warn)
				}
			}
			lat, took := map[string][]time.Duration{}, map[string]time.Duration{}
			var roundRatios []float64 // each round's p99 ratio: the pair ran back to back
			// The rounds in benchBlocks consecutive blocks: each block's pooled p99 ratio.
			blocks := make([]map[string][]time.Duration, benchBlocks)
			for i := range blocks {
				blocks[i] = map[string][]time.Duration{}
			}
			errs := 0
			rounds := benchRounds
			if n, err := strconv.Atoi(os.Getenv("WRIT_BENCH_ROUNDS")); err == nil && n > 0 {
				rounds = n // more samples for a steadier tail on a noisy machine
			}
			for round := range rounds + 1 { // round 0 warms connections, caches and the heap
				d := benchPhase
				if round == 0 {
					d = 10 * benchPhase
				}
				order := []string{"/noop", path}
				if round%2 == 1 {
					order[0], order[1] = order[1], order[0]
				}
				p99 := map[string]time.Duration{}
				for _, p := range order {
					l, e, t := load(b, base+p, d)
					if round > 0 {
						lat[p], took[p], errs = append(lat[p], l...), took[p]+t, errs+e
						blk := blocks[(round-1)*benchBlocks/rounds]
						blk[p] = append(blk[p], l...)
						p99[p] = benchPct(l, 0.99)
					}
				}
				if round > 0 {
					roundRatios = append(roundRatios, float64(p99[path])/float64(max(p99["/noop"], 1)))
				}
				if round == 0 {
					guards[path].reset()
				}
			}
			b.Logf("load average: %s", benchLoadAvg())
			decisions, _ := guards[path].reset()
			g, n := lat[path], lat["/noop"]
			b.ReportMetric(float64(benchPct(g, 0.5).Nanoseconds()), "ns/op") // the guard's median, not the benchmark's wall time
			b.ReportMetric(benchMS(benchPct(g, 0.5)), "p50-ms")
			b.ReportMetric(benchMS(benchPct(g, 0.99)), "p99-ms")
			b.ReportMetric(benchMS(benchPct(n, 0.99)), "noop-p99-ms")
			b.ReportMetric(benchMS(benchPct(n, 0.5)), "noop-p50-ms")
			b.ReportMetric(float64(benchPct(g, 0.99))/float64(max(benchPct(n, 0.99), 1)), "p99-ratio-vs-noop")
			// The median over rounds of each round's ratio: robust to a hiccup of the machine
			// that lands in one handler's phase and dominates the pooled p99.
			slices.Sort(roundRatios)
			b.ReportMetric(roundRatios[len(roundRatios)/2], "p99-ratio-vs-noop-median-round")
			// The median over blocks of each block's pooled p99 ratio (a median of means): a
			// cluster of GC cycles or hiccups that lands in one block moves that block only.
			var blockRatios []float64
			for _, blk := range blocks {
				blockRatios = append(blockRatios, float64(benchPct(blk[path], 0.99))/float64(max(benchPct(blk["/noop"], 0.99), 1)))
			}
			slices.Sort(blockRatios)
			b.ReportMetric(blockRatios[len(blockRatios)/2], "p99-ratio-vs-noop-median-block")
			b.ReportMetric(benchMS(benchPct(decisions, 0.99)), "decision-p99-ms")
			b.ReportMetric(benchMS(benchPct(decisions, 0.5)), "decision-p50-ms")
			b.ReportMetric(float64(len(g))/took[path].Seconds(), "rps")
			b.ReportMetric(float64(len(n))/took["/noop"].Seconds(), "noop-rps")
			if errs > 0 {
				b.Errorf("%d requests failed", errs)
			}
		})
	}
}

// benchServe starts controller-runtime's webhook server on a free loopback port with a
// self-signed certificate, registers handlers, and returns an HTTP/2 client that trusts it.
func benchServe(b *testing.B, handlers map[string]admission.Handler) (*http.Client, string, string) {
	dir := b.TempDir()
	roots := benchCert(b, dir)
	l := benchMust(net.Listen("tcp", "127.0.0.1:0"))(b)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := crwebhook.NewServer(crwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: dir})
	for path, h := range handlers {
		srv.Register(path, &crwebhook.Admission{Handler: h})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); srv.StartedChecker()(nil) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("webhook server not serving: %v", srv.StartedChecker()(nil))
		}
	}
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	transport := &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: benchWorkers}
	b.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: 10 * time.Second}, "https://" + addr, filepath.Join(dir, "tls.crt")
}

// benchQuiet silences controller-runtime, whose warning that no logger was set would otherwise
// land in the middle of a benchmark's result line.
func benchQuiet() { ctrllog.SetLogger(ctrllog.Log.WithSink(ctrllog.NullLogSink{})) }

func benchLoadAvg() string {
	avg, _ := os.ReadFile("/proc/loadavg") // Linux only
	return strings.TrimSpace(string(avg))
}

// benchLoad sends requests cycling through bodies to url at benchRate for d, from at most
// benchWorkers requests in flight, and returns each successful request's latency, the number of
// failures and the time from the first send to the last answer. A request's clock starts when the
// generator releases it, not when a worker takes it: a server that keeps every worker waiting is
// charged for the queue it builds, while the generator's own timer slack is not.
func benchLoad(hc *http.Client, url string, bodies [][]byte, d time.Duration) ([]time.Duration, int, time.Duration) {
	type job struct {
		i        int
		released time.Time
	}
	n, interval := int(d.Seconds()*benchRate), time.Second/benchRate
	lat, jobs := make([]time.Duration, n), make(chan job, n)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for j := range jobs {
				resp, err := hc.Post(url, "application/json", bytes.NewReader(bodies[j.i%len(bodies)]))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					lat[j.i] = -1
					continue
				}
				lat[j.i] = time.Since(j.released)
			}
		})
	}
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- job{i, time.Now()}
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	return slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 }), int(failed.Load()), took
}

// benchCert writes a self-signed certificate for 127.0.0.1 as tls.crt and tls.key in dir and
// returns a pool that trusts it.
func benchCert(b *testing.B, dir string) *x509.CertPool {
	b.Helper()
	key := benchMust(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(b)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "writ-bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der := benchMust(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))(b)
	pkcs8 := benchMust(x509.MarshalPKCS8PrivateKey(key))(b)
	for name, block := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "PRIVATE KEY", Bytes: pkcs8}} {
		benchCheck(b, os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600))
	}
	roots := x509.NewCertPool()
	roots.AddCert(benchMust(x509.ParseCertificate(der))(b))
	return roots
}

// benchPct is the nearest-rank percentile q of samples.
func benchPct(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return s[max(0, int(math.Ceil(q*float64(len(s))))-1)]
}

func benchMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
