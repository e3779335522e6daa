package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"writ.dev/writ/audit"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// The fuzzers' world: three policies and the identities they name.
//
//   - "prod" (Enforce) protects every resource in the namespaces prod and payments, RBAC's
//     cluster roles and bindings, and tracked objects everywhere.
//   - "platform" (Enforce) protects deployments, statefulsets, configmaps and secrets in
//     namespaces labelled tier=platform, and tracked objects everywhere.
//   - "staging" (Warn) protects every resource in namespaces labelled env=staging.
//
// All three name the same two agents and the same HPA exemption, so "the agent" and "exempt"
// mean the same thing under every policy.
const (
	fuzzAgent   = "system:serviceaccount:writ-system:writ-reconciler"
	fuzzArgo    = "system:serviceaccount:argocd:argocd-application-controller"
	fuzzHPA     = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
	fuzzGrantee = "olga"  // holds a live break-glass grant for namespace prod
	fuzzExpired = "oscar" // holds an expired one
)

var (
	fuzzNow    = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	fuzzExempt = []string{"kube-system", "kube-public", "kube-node-lease", "writ-system"}
)

func fuzzPolicies() []*guardv1.GuardPolicy {
	agents := []guardv1.Subject{
		{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"},
		{Kind: guardv1.ServiceAccountSubject, Namespace: "argocd", Name: "argocd-application-controller"},
	}
	hpa := []guardv1.Exemption{{Name: "hpa-scale",
		Subject:   guardv1.Subject{Kind: guardv1.ServiceAccountSubject, Namespace: "kube-system", Name: "horizontal-pod-autoscaler"},
		Resources: []guardv1.ResourceRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}}}, Operations: []string{"UPDATE"}, Subresources: []string{"scale"}}}
	bg := guardv1.BreakGlassPolicy{RequesterGroups: []string{"oncall"}, ApproverGroups: []string{"leads"}}
	policy := func(name string, mode guardv1.GuardMode, protect guardv1.Protection) *guardv1.GuardPolicy {
		return &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.GuardPolicySpec{
			Mode: mode, Protect: protect, Agents: agents, Exemptions: hpa, BreakGlass: bg, SourceOfTruth: "https://git.example.com/infra"}}
	}
	untracked := false
	return []*guardv1.GuardPolicy{
		policy("prod", guardv1.Enforce, guardv1.Protection{
			Namespaces:       guardv1.NamespaceSelector{Names: []string{"prod", "payments"}},
			ClusterResources: []guardv1.ResourceRule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles", "clusterrolebindings"}}},
		}),
		policy("platform", guardv1.Enforce, guardv1.Protection{
			Namespaces: guardv1.NamespaceSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "platform"}}},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}},
				{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}}},
		}),
		policy("staging", guardv1.Warn, guardv1.Protection{
			Namespaces:     guardv1.NamespaceSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "staging"}}},
			TrackedObjects: &untracked,
		}),
	}
}

func fuzzCompiled(t testing.TB) []*Policy {
	t.Helper()
	var ps []*Policy
	for _, gp := range fuzzPolicies() {
		p, err := Compile(gp)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// Vocabularies for FuzzDecide's structural fields, with near misses; identities, groups,
// namespaces and subresources are free-form.
var (
	fuzzKinds = []struct{ group, resource string }{
		{"", "configmaps"}, {"", "secrets"}, {"", "pods"}, {"apps", "deployments"}, {"apps", "statefulsets"},
		{"", "namespaces"}, {"rbac.authorization.k8s.io", "clusterroles"}, {"rbac.authorization.k8s.io", "roles"},
		{"writ.dev", "guardpolicies"}, {"batch", "jobs"}, {"apps", "Deployments"}, {"", "configmap"}, {"core", "namespaces"},
	}
	fuzzOps    = []string{"CREATE", "UPDATE", "DELETE", "CONNECT", "update", ""}
	fuzzLabels = []struct{ key, value string }{
		{}, {wellknown.ManagedLabel, "true"}, {"app.kubernetes.io/instance", "web"}, {"kustomize.toolkit.fluxcd.io/name", "apps"},
		{"helm.toolkit.fluxcd.io/namespace", "flux-system"}, {"tier", "platform"}, {"tier", "Platform"}, {"env", "staging"},
		{"app", "web"}, {"writ.dev/managedx", "true"}, {"Writ.dev/managed", "true"},
	}
)

func fuzzPick[T any](list []T, i uint8) T { return list[int(i)%len(list)] }

// FuzzDecide fuzzes the identity, target and labels of a request, shaped as the apiserver sends
// it, against the fixed policies, and checks Decide against an independent statement of what
// they mean.
func FuzzDecide(f *testing.F) {
	type seed struct {
		user, groups, ns   string
		kind               uint8
		sub                string
		op, label, nsLabel uint8
		oldOnly            bool
	}
	const configmaps, secrets, pods, deployments, statefulsets, namespaces, clusterroles = 0, 1, 2, 3, 4, 5, 6
	const create, update, del, connect = 0, 1, 2, 3
	const managed, argoInstance, platform, staging = 1, 2, 5, 7
	for _, s := range []seed{
		{fuzzAgent, "system:serviceaccounts", "prod", deployments, "", update, 0, 0, false},
		{"alice", "devs,system:masters", "prod", configmaps, "", del, 0, 0, false},
		{fuzzHPA, "", "prod", deployments, "scale", update, 0, 0, false},
		{fuzzHPA, "", "prod", deployments, "", update, 0, 0, false},
		{"alice", "", "dev", configmaps, "", update, managed, 0, true},
		{"alice", "", "team-a", statefulsets, "", create, 0, platform, false},
		{"alice", "", "team-a", pods, "exec", connect, 0, platform, false},
		{"alice", "", "qa", pods, "", create, 0, staging, false},
		{"alice", "", "", clusterroles, "", update, 0, 0, false},
		{"alice", "", "kube-system", configmaps, "", update, argoInstance, 0, false},
		{fuzzGrantee, "oncall", "prod", configmaps, "", update, 0, 0, false},
		{fuzzExpired, "oncall", "prod", configmaps, "", update, 0, 0, false},
		{fuzzAgent + " ", "", "prod", secrets, "", update, 0, 0, false},
		{"system:serviceaccount:writ-system:writ-reconciler:x", "", "payments", secrets, "", del, 0, 0, false},
		{"alice", "", "prod", namespaces, "", del, 0, 0, false},
		{"alice", "", "dev", namespaces, "", create, staging, 0, false},
	} {
		f.Add(s.user, s.groups, s.ns, s.kind, s.sub, s.op, s.label, s.nsLabel, s.oldOnly)
	}
	policies := fuzzCompiled(f)
	f.Fuzz(func(t *testing.T, user, groups, ns string, kind uint8, sub string, op, label, nsLabel uint8, oldOnly bool) {
		r, nsLabels := fuzzRequest(user, groups, ns, kind, sub, op, label, nsLabel, oldOnly)
		if r == nil {
			return // a shape the apiserver never sends
		}
		d := Decide(r, fuzzSnapshot(policies, r, nsLabels))
		want := fuzzExpect(r, nsLabels)
		switch {
		case want.allow && (!d.Allowed || d.Warn):
			t.Fatalf("%s: %+v, want allowed: %s", want.why, d, fuzzDescribe(r, nsLabels))
		case want.deny && d.Allowed:
			t.Fatalf("%s: %+v, want denied: %s", want.why, d, fuzzDescribe(r, nsLabels))
		case want.warn && (!d.Allowed || !d.Warn):
			t.Fatalf("%s: %+v, want allowed with a warning: %s", want.why, d, fuzzDescribe(r, nsLabels))
		}
		if again := Decide(r, fuzzSnapshot(policies, r, nsLabels)); !reflect.DeepEqual(again, d) {
			t.Fatalf("not deterministic: %+v then %+v", d, again)
		}
		reversed := slices.Clone(policies)
		slices.Reverse(reversed)
		if other := Decide(r, fuzzSnapshot(reversed, r, nsLabels)); other.Allowed != d.Allowed || other.Warn != d.Warn {
			t.Fatalf("depends on policy order: %+v, reversed %+v", d, other)
		}
	})
}

// fuzzRequest builds the request the apiserver would send. A namespace's own requests carry its
// name as both namespace and name (the apiserver's RequestInfo does that for create, update and
// delete alike); its old object holds its current labels, its new object the fuzzed ones.
func fuzzRequest(user, groups, ns string, kind uint8, sub string, op, label, nsLabel uint8, oldOnly bool) (*Request, map[string]string) {
	k := fuzzPick(fuzzKinds, kind)
	r := &Request{UID: "fuzz", Operation: fuzzPick(fuzzOps, op), Group: k.group, Version: "v1", Resource: k.resource, Subresource: sub,
		Namespace: ns, Name: "obj", User: user}
	if groups != "" {
		r.Groups = strings.Split(groups, ",")
	}
	var nsLabels, labels map[string]string
	if l := fuzzPick(fuzzLabels, nsLabel); l.key != "" {
		nsLabels = map[string]string{l.key: l.value}
	}
	if l := fuzzPick(fuzzLabels, label); l.key != "" {
		labels = map[string]string{l.key: l.value}
	}
	if r.Group == "" && r.Resource == "namespaces" {
		if ns == "" {
			return nil, nil
		}
		r.Name = ns
		switch r.Operation {
		case "CREATE":
			r.New = &ObjectMeta{Labels: labels}
			nsLabels = nil // it does not exist yet
		case "UPDATE":
			r.Old, r.New = &ObjectMeta{Labels: nsLabels}, &ObjectMeta{Labels: labels}
		case "DELETE":
			r.Old = &ObjectMeta{Labels: nsLabels}
		}
		return r, nsLabels
	}
	switch r.Operation {
	case "CREATE":
		r.New = &ObjectMeta{Labels: labels}
	case "DELETE":
		r.Old = &ObjectMeta{Labels: labels}
	case "CONNECT":
	default:
		r.Old, r.New = &ObjectMeta{Labels: labels}, &ObjectMeta{Labels: labels}
		if oldOnly {
			r.New = &ObjectMeta{} // the edit removes the label
		}
	}
	return r, nsLabels
}

func fuzzSnapshot(policies []*Policy, r *Request, nsLabels map[string]string) *Snapshot {
	exempt := map[string]bool{}
	for _, ns := range fuzzExempt {
		exempt[ns] = true
	}
	return &Snapshot{
		Policies: policies,
		NamespaceLabels: func(name string) (map[string]string, error) {
			if name == r.Namespace {
				return nsLabels, nil
			}
			return nil, nil
		},
		Grants: []Grant{
			{ID: "bg-oscar", Requester: fuzzExpired, Scope: guardv1.BreakGlassScope{Namespaces: []string{"prod"}}, Expires: fuzzNow.Add(-time.Minute)},
			{ID: "bg-olga", Requester: fuzzGrantee, Scope: guardv1.BreakGlassScope{Namespaces: []string{"prod"}}, Expires: fuzzNow.Add(time.Hour)},
		},
		Now:              fuzzNow,
		ExemptNamespaces: exempt,
	}
}

type fuzzWant struct {
	allow, deny, warn bool
	why               string
}

// fuzzExpect states what the fixed policies mean, without the chain's code (only its table of
// tracking labels).
func fuzzExpect(r *Request, nsLabels map[string]string) fuzzWant {
	tracked := false
	for _, m := range []*ObjectMeta{r.Old, r.New} {
		for k := range fuzzMetaLabels(m) {
			tracked = tracked || slices.Contains(trackingLabels, k)
		}
	}
	nsObject := r.Group == "" && r.Resource == "namespaces"
	is := func(m map[string]string, k, v string) bool { return m[k] == v } // every v here is non-empty
	// A namespace is in a selector's protection if it is, or its own edit would put it there.
	selected := func(k, v string) bool {
		if r.Namespace == "" {
			return false
		}
		if is(nsLabels, k, v) {
			return true
		}
		return nsObject && r.New != nil && is(r.New.Labels, k, v)
	}
	platformKind := (r.Group == "apps" && (r.Resource == "deployments" || r.Resource == "statefulsets")) ||
		(r.Group == "" && (r.Resource == "configmaps" || r.Resource == "secrets"))
	enforced := tracked ||
		(r.Namespace == "" && r.Group == "rbac.authorization.k8s.io" && (r.Resource == "clusterroles" || r.Resource == "clusterrolebindings")) ||
		r.Namespace == "prod" || r.Namespace == "payments" ||
		(selected("tier", "platform") && (platformKind || (nsObject && slices.Contains([]string{"CREATE", "UPDATE", "DELETE"}, r.Operation))))
	switch {
	case slices.Contains(fuzzExempt, r.Namespace):
		return fuzzWant{allow: true, why: "an exempt namespace is never guarded"}
	case r.User == fuzzAgent || r.User == fuzzArgo:
		return fuzzWant{allow: true, why: "the agent may change anything"}
	case r.User == fuzzHPA && r.Group == "apps" && r.Resource == "deployments" && r.Operation == "UPDATE" && r.Subresource == "scale":
		return fuzzWant{allow: true, why: "the HPA's scale write is exempt"}
	case r.User == fuzzGrantee && r.Namespace == "prod":
		return fuzzWant{allow: true, why: "a live grant covers namespace prod"}
	case enforced:
		return fuzzWant{deny: true, why: "only the agent may change what an Enforce policy protects"}
	case selected("env", "staging") && !nsObject:
		return fuzzWant{warn: true, why: "a Warn policy warns instead of denying"}
	case !nsObject && !is(nsLabels, "env", "staging"):
		return fuzzWant{allow: true, why: "nothing protects it"}
	}
	return fuzzWant{}
}

func fuzzMetaLabels(m *ObjectMeta) map[string]string {
	if m == nil {
		return nil
	}
	return m.Labels
}

func fuzzDescribe(r *Request, nsLabels map[string]string) string {
	b, _ := json.Marshal(struct {
		Req      *Request
		NSLabels map[string]string
	}{r, nsLabels})
	return string(b)
}

// fuzzGuard is a Guard reading the fixed policies, a few namespaces and break-glass requests
// from a fake client.
func fuzzGuard(t testing.TB) *Guard {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := guardv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	for _, gp := range fuzzPolicies() {
		objs = append(objs, gp)
	}
	for name, labels := range map[string]map[string]string{
		"prod": nil, "payments": nil, "dev": nil, "kube-system": nil, "writ-system": nil,
		"team-a": {"tier": "platform"}, "qa": {"env": "staging"},
	} {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	}
	approved := func(name, requester string, at time.Time) *guardv1.BreakGlassRequest {
		approvedAt := metav1.NewTime(at)
		return &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.BreakGlassRequestSpec{
			Requester: requester, Justification: "INC-1: the database is down", Scope: guardv1.BreakGlassScope{Namespaces: []string{"prod"}},
			Duration: metav1.Duration{Duration: time.Hour}, ApprovedBy: "lea", ApprovedAt: &approvedAt}}
	}
	objs = append(objs, approved("bg-olga", fuzzGrantee, fuzzNow.Add(-10*time.Minute)), approved("bg-oscar", fuzzExpired, fuzzNow.Add(-2*time.Hour)))
	return &Guard{
		Reader:           fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build(),
		Recorder:         audit.Discard,
		ExemptNamespaces: fuzzExempt,
		Now:              func() time.Time { return fuzzNow },
		Metrics:          NewMetrics(prometheus.NewRegistry()),
	}
}

// fuzzReview encodes an AdmissionReview for the seeds.
func fuzzReview(apiVersion string, op admissionv1.Operation, group, resource, sub, ns, name, user string, groups []string, oldObj, newObj string) []byte {
	raw := func(s string) runtime.RawExtension {
		if s == "" {
			return runtime.RawExtension{}
		}
		return runtime.RawExtension{Raw: []byte(s)}
	}
	ar := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"}, Request: &admissionv1.AdmissionRequest{
		UID: types.UID("uid-" + name), Operation: op, Namespace: ns, Name: name, SubResource: sub,
		Kind:     metav1.GroupVersionKind{Group: group, Version: "v1", Kind: "Thing"},
		Resource: metav1.GroupVersionResource{Group: group, Version: "v1", Resource: resource},
		UserInfo: authenticationv1.UserInfo{Username: user, Groups: groups},
		Object:   raw(newObj), OldObject: raw(oldObj),
	}}
	b, err := json.Marshal(ar)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzAdmissionReview posts arbitrary bytes to the guard served by controller-runtime: it never
// panics, always answers with a well-formed AdmissionReview (or an HTTP error) for the request's
// uid, and allows exactly what Decide allows for the request controller-runtime decoded. (The
// answer's apiVersion is controller-runtime's echo of the request's, unchecked.)
func FuzzAdmissionReview(f *testing.F) {
	cm := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"app","namespace":"prod","labels":{"app":"web"}},"data":{"k":"v"}}`
	tracked := `{"metadata":{"labels":{"writ.dev/managed":"true"},"annotations":{"writ.dev/source":"git@x:y"}}}`
	bgr := `{"apiVersion":"writ.dev/v1alpha1","kind":"BreakGlassRequest","metadata":{"name":"bg-new"},"spec":{"requester":"ann","justification":"INC-2: payments are down","scope":{"namespaces":["prod"]},"duration":"30m"}}`
	v1 := "admission.k8s.io/v1"
	for _, seed := range [][]byte{
		fuzzReview(v1, admissionv1.Update, "", "configmaps", "", "prod", "app", fuzzAgent, []string{"system:serviceaccounts"}, cm, cm),
		fuzzReview(v1, admissionv1.Update, "", "configmaps", "", "prod", "app", "alice", []string{"system:masters"}, cm, cm),
		fuzzReview(v1, admissionv1.Delete, "", "configmaps", "", "dev", "app", "alice", nil, tracked, ""),
		fuzzReview(v1, admissionv1.Update, "", "configmaps", "", "dev", "app", "alice", nil, tracked, cm),
		fuzzReview(v1, admissionv1.Create, "", "configmaps", "", "qa", "app", "alice", nil, "", cm),
		fuzzReview(v1, admissionv1.Update, "apps", "deployments", "scale", "team-a", "web", fuzzHPA, nil, `{}`, `{}`),
		fuzzReview(v1, admissionv1.Connect, "", "pods", "exec", "prod", "web-0", "alice", nil, "", `{"kind":"PodExecOptions"}`),
		fuzzReview(v1, admissionv1.Delete, "", "namespaces", "", "prod", "prod", "alice", nil, `{"metadata":{"name":"prod"}}`, ""),
		fuzzReview(v1, admissionv1.Update, "rbac.authorization.k8s.io", "clusterroles", "", "", "admin", "alice", nil, `{}`, `{}`),
		fuzzReview(v1, admissionv1.Update, "", "configmaps", "", "prod", "app", fuzzGrantee, []string{"oncall"}, cm, cm),
		fuzzReview(v1, admissionv1.Create, "writ.dev", "breakglassrequests", "", "", "bg-new", "ann", []string{"oncall"}, "", bgr),
		fuzzReview(v1, admissionv1.Update, "", "configmaps", "", "prod", "app", "alice", nil, `{"metadata":[]}`, `{"metadata":{"labels":7}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","namespace":"dev","resource":{"resource":"configmaps"},"object":tru}}`),
		fuzzReview("admission.k8s.io/v1beta1", admissionv1.Update, "", "configmaps", "", "prod", "app", "alice", nil, cm, cm),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`),
		[]byte(`{"kind":"AdmissionReview","request":{"uid":"x","operation":"DELETE","namespace":"prod","resource":{"resource":"secrets"},"userInfo":{"username":"alice"},"dryRun":true}}`),
		[]byte(`{"request":{"uid":1}}`),
		[]byte(`[]`),
		nil,
	} {
		f.Add(seed)
	}
	g := fuzzGuard(f)
	recoverPanic := false
	f.Fuzz(func(t *testing.T, body []byte) {
		var seen *admission.Request
		hook := &crwebhook.Admission{RecoverPanic: &recoverPanic, Handler: admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
			seen = &req
			return g.Handle(ctx, req)
		})}
		httpReq := httptest.NewRequest(http.MethodPost, "/guard", bytes.NewReader(body))
		httpReq.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		hook.ServeHTTP(w, httpReq)
		if w.Code != http.StatusOK {
			return // an HTTP error: the apiserver fails closed
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(w.Body.Bytes(), &review); err != nil || review.Response == nil {
			t.Fatalf("answer is not an AdmissionReview (%v): %q", err, w.Body.String())
		}
		resp := review.Response
		if seen == nil {
			if resp.Allowed {
				t.Fatalf("allowed a review the guard never saw: %q", w.Body.String())
			}
			return
		}
		if resp.UID != seen.UID {
			t.Fatalf("response uid %q for request %q", resp.UID, seen.UID)
		}
		want := fuzzOracle(t, g, *seen)
		if resp.Allowed != want.Allowed || (len(resp.Warnings) > 0) != want.Warn {
			t.Fatalf("guard answered allowed=%v warnings=%q, Decide says %+v, for %s", resp.Allowed, resp.Warnings, want, body)
		}
		if !resp.Allowed && (resp.Result == nil || resp.Result.Code != http.StatusForbidden || resp.Result.Message == "") {
			t.Fatalf("a denial without a 403 and a message: %+v", resp.Result)
		}
	})
}

// fuzzOracle decides req as Handle should: a request it cannot read is denied, a
// BreakGlassRequest is validated on its own rules, everything else is Decide's.
func fuzzOracle(t *testing.T, g *Guard, req admission.Request) Decision {
	r, err := toRequest(req)
	if err != nil {
		return Decision{}
	}
	s, err := g.reads(context.Background()).snapshot(fuzzNow)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if r.Group == guardv1.GroupVersion.Group && r.Resource == "breakglassrequests" {
		return validateBreakGlass(req, r, s)
	}
	return Decide(r, s)
}
