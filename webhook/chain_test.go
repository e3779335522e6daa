package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func testPolicy(t *testing.T, mode guardv1.GuardMode) *Policy {
	t.Helper()
	gp := &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "prod"}, Spec: guardv1.GuardPolicySpec{
		Mode: mode,
		Protect: guardv1.Protection{
			Namespaces:       guardv1.NamespaceSelector{Names: []string{"prod"}, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"writ.dev/protected": "true"}}},
			ClusterResources: []guardv1.ResourceRule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}}},
		},
		Agents: []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"}},
		Exemptions: []guardv1.Exemption{{Name: "hpa", Subject: guardv1.Subject{Kind: guardv1.ServiceAccountSubject, Namespace: "kube-system", Name: "horizontal-pod-autoscaler"},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}}}, Operations: []string{"UPDATE"}, Subresources: []string{"scale"}}},
		BreakGlass:    guardv1.BreakGlassPolicy{RequesterGroups: []string{"oncall"}, ApproverGroups: []string{"leads"}},
		SourceOfTruth: "https://git.example.com/infra (path clusters/prod)",
	}}
	p, err := Compile(gp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func snapshot(p *Policy) *Snapshot {
	return &Snapshot{
		Policies: []*Policy{p},
		NamespaceLabels: func(ns string) (map[string]string, error) {
			switch ns {
			case "labelled":
				return map[string]string{"writ.dev/protected": "true"}, nil
			case "broken":
				return nil, errors.New("cache not synced")
			}
			return map[string]string{}, nil
		},
		Grants: []Grant{
			{ID: "bg-live", Requester: "oncall-ann", Scope: guardv1.BreakGlassScope{Namespaces: []string{"prod"}, Names: []string{"db"}}, Expires: now.Add(time.Hour)},
			{ID: "bg-old", Requester: "oncall-bob", Scope: guardv1.BreakGlassScope{Namespaces: []string{"prod"}}, Expires: now.Add(-time.Minute)},
			{ID: "bg-cat-old", Requester: "oncall-cat", Scope: guardv1.BreakGlassScope{Namespaces: []string{"prod"}}, Expires: now.Add(-time.Hour)},
			{ID: "bg-cat-new", Requester: "oncall-cat", Scope: guardv1.BreakGlassScope{Namespaces: []string{"prod"}}, Expires: now.Add(time.Hour)},
		},
		Now:              now,
		ExemptNamespaces: map[string]bool{"kube-system": true, "writ-system": true},
	}
}

const agent = "system:serviceaccount:writ-system:writ-reconciler"

func deploy(op, ns, name, user string, groups ...string) *Request {
	return &Request{Operation: op, Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", Namespace: ns, Name: name, User: user, Groups: groups,
		Old: &ObjectMeta{}, New: &ObjectMeta{}}
}

func TestDecide(t *testing.T) {
	p := testPolicy(t, guardv1.Enforce)
	s := snapshot(p)
	with := func(r *Request, f func(*Request)) *Request { f(r); return r }
	tests := []struct {
		name   string
		req    *Request
		allow  bool
		reason string
	}{
		{"agent updates", deploy("UPDATE", "prod", "web", agent), true, "Allowed"},
		{"admin edits", deploy("UPDATE", "prod", "web", "kubernetes-admin", "system:masters"), false, "NotAgent"},
		{"user creates", deploy("CREATE", "prod", "new", "alice"), false, "NotAgent"},
		{"look-alike namespace SA", deploy("UPDATE", "prod", "web", "system:serviceaccount:writ-systemx:writ-reconciler"), false, "NotAgent"},
		{"trailing space SA", deploy("UPDATE", "prod", "web", agent+" "), false, "NotAgent"},
		{"same SA name, other namespace", deploy("UPDATE", "prod", "web", "system:serviceaccount:default:writ-reconciler"), false, "NotAgent"},
		{"spoofed agent group", deploy("UPDATE", "prod", "web", "mallory", "system:serviceaccounts:writ-system", "writ-reconciler"), false, "NotAgent"},
		{"labelled namespace", deploy("DELETE", "labelled", "web", "alice"), false, "NotAgent"},
		{"unprotected namespace", deploy("UPDATE", "dev", "web", "alice"), true, "Unprotected"},
		{"exempt namespace", deploy("UPDATE", "kube-system", "coredns", "alice"), true, "ExemptNamespace"},
		{"HPA scales", with(deploy("UPDATE", "prod", "web", "system:serviceaccount:kube-system:horizontal-pod-autoscaler"), func(r *Request) { r.Subresource = "scale" }), true, "Exempt"},
		{"HPA edits the spec", deploy("UPDATE", "prod", "web", "system:serviceaccount:kube-system:horizontal-pod-autoscaler"), false, "NotAgent"},
		{"HPA deletes", with(deploy("DELETE", "prod", "web", "system:serviceaccount:kube-system:horizontal-pod-autoscaler"), func(r *Request) { r.Subresource = "scale" }), false, "NotAgent"},
		{"user scales", with(deploy("UPDATE", "prod", "web", "alice"), func(r *Request) { r.Subresource = "scale" }), false, "NotAgent"},
		{"status write", with(deploy("UPDATE", "prod", "web", "alice"), func(r *Request) { r.Subresource = "status" }), false, "NotAgent"},
		{"break-glass in scope", deploy("UPDATE", "prod", "db", "oncall-ann", "oncall"), true, "BreakGlass"},
		{"break-glass out of scope", deploy("UPDATE", "prod", "web", "oncall-ann", "oncall"), false, "NotAgent"},
		{"break-glass by someone else", deploy("UPDATE", "prod", "db", "oncall-eve", "oncall"), false, "NotAgent"},
		{"expired break-glass", deploy("UPDATE", "prod", "db", "oncall-bob", "oncall"), false, "NotAgent"},
		{"tracked object anywhere", with(deploy("UPDATE", "dev", "web", "alice"), func(r *Request) { r.Old.Labels = map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps"} }), false, "NotAgent"},
		{"stripping the tracking label", with(deploy("UPDATE", "dev", "web", "alice"), func(r *Request) { r.Old.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "x"} }), false, "NotAgent"},
		{"protected cluster resource", &Request{Operation: "UPDATE", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "admin", User: "alice"}, false, "NotAgent"},
		{"unprotected cluster resource", &Request{Operation: "UPDATE", Group: "", Resource: "persistentvolumes", Name: "pv", User: "alice"}, true, "Unprotected"},
		{"relabel namespace out of protection", &Request{Operation: "UPDATE", Resource: "namespaces", Name: "labelled", User: "alice",
			Old: &ObjectMeta{Labels: map[string]string{"writ.dev/protected": "true"}}, New: &ObjectMeta{}}, false, "NotAgent"},
		{"delete protected namespace", &Request{Operation: "DELETE", Resource: "namespaces", Name: "prod", User: "alice", Old: &ObjectMeta{}}, false, "NotAgent"},
		{"label a namespace into protection", &Request{Operation: "UPDATE", Resource: "namespaces", Name: "dev", User: "alice",
			Old: &ObjectMeta{}, New: &ObjectMeta{Labels: map[string]string{"writ.dev/protected": "true"}}}, false, "NotAgent"},
		{"expired grant beside a live one", deploy("UPDATE", "prod", "cache", "oncall-cat", "oncall"), true, "BreakGlass"},
		{"exec into a protected pod", &Request{Operation: "CONNECT", Resource: "pods", Subresource: "exec", Namespace: "prod", Name: "web-1", User: "alice"}, false, "NotAgent"},
		{"namespace lookup fails", deploy("UPDATE", "broken", "web", agent), false, "LookupFailed"},
	}
	for _, tt := range tests {
		d := Decide(tt.req, s)
		if d.Allowed != tt.allow || d.Reason != tt.reason {
			t.Errorf("%s: allowed=%v reason=%s (%s), want allowed=%v reason=%s", tt.name, d.Allowed, d.Reason, d.Message, tt.allow, tt.reason)
		}
	}
}

func TestDenialMessageIsActionable(t *testing.T) {
	p := testPolicy(t, guardv1.Enforce)
	s := snapshot(p)
	r := deploy("UPDATE", "prod", "db", "oncall-bob", "oncall")
	r.Old.Annotations = map[string]string{wellknown.SourceAnnotation: "https://git.example.com/infra (path clusters/prod/db.yaml)"}
	d := Decide(r, s)
	for _, want := range []string{`"oncall-bob"`, "update of deployments.apps prod/db", `GuardPolicy "prod"`, "Change it in Git: https://git.example.com/infra (path clusters/prod/db.yaml).", `break-glass request "bg-old" expired`, "member of oncall", "member of leads"} {
		if !strings.Contains(d.Message, want) {
			t.Errorf("message lacks %q:\n%s", want, d.Message)
		}
	}
}

func TestWarnMode(t *testing.T) {
	p := testPolicy(t, guardv1.Warn)
	d := Decide(deploy("UPDATE", "prod", "web", "alice"), snapshot(p))
	if !d.Allowed || !d.Warn || d.Message == "" {
		t.Fatalf("warn mode: %+v", d)
	}
	enforce := testPolicy(t, guardv1.Enforce)
	enforce.Name = "strict"
	s := snapshot(p)
	s.Policies = append(s.Policies, enforce)
	if d := Decide(deploy("UPDATE", "prod", "web", "alice"), s); d.Allowed || d.Policy != "strict" {
		t.Fatalf("an Enforce policy must win over a Warn one: %+v", d)
	}
}

// anExemption is a valid pods exemption for the replicaset controller, changed by f.
func anExemption(f func(*guardv1.Exemption)) guardv1.Exemption {
	e := guardv1.Exemption{Name: "x", Subject: guardv1.Subject{Kind: guardv1.ServiceAccountSubject, Namespace: "kube-system", Name: "replicaset-controller"},
		Resources: []guardv1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}, Operations: []string{"CREATE", "UPDATE"}}
	f(&e)
	return e
}

func TestCompileRejects(t *testing.T) {
	if _, err := Compile(&guardv1.GuardPolicy{Spec: guardv1.GuardPolicySpec{Exemptions: []guardv1.Exemption{anExemption(func(*guardv1.Exemption) {})}}}); err != nil {
		t.Fatalf("the valid exemption: %v", err)
	}
	for name, spec := range map[string]guardv1.GuardPolicySpec{
		"wildcard exemption": {Exemptions: []guardv1.Exemption{{Name: "x", Subject: guardv1.Subject{Kind: guardv1.UserSubject, Name: "u"},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"*"}, Resources: []string{"pods"}}}, Operations: []string{"UPDATE"}}}},
		"agent with spaces":    {Agents: []guardv1.Subject{{Kind: guardv1.UserSubject, Name: " admin"}}},
		"SA without namespace": {Agents: []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Name: "x"}}},
		"bad mode":             {Mode: "Audit"},
		"huge break-glass":     {BreakGlass: guardv1.BreakGlassPolicy{MaxDuration: &metav1.Duration{Duration: 48 * time.Hour}}},
		"group agent":          {Agents: []guardv1.Subject{{Kind: "Group", Name: "system:masters"}}},
		"wildcard user":        {Agents: []guardv1.Subject{{Kind: guardv1.UserSubject, Name: "*"}}},
		"wildcard name":        {Exemptions: []guardv1.Exemption{anExemption(func(e *guardv1.Exemption) { e.Names = []string{"*"} })}},
		"unknown change":       {Exemptions: []guardv1.Exemption{anExemption(func(e *guardv1.Exemption) { e.Changes = []guardv1.MetadataField{"labels"} })}},
		"changes on create": {Exemptions: []guardv1.Exemption{anExemption(func(e *guardv1.Exemption) {
			e.Changes, e.Operations = []guardv1.MetadataField{guardv1.FinalizersField}, []string{"CREATE", "UPDATE"}
		})}},
		"unknown owner": {Exemptions: []guardv1.Exemption{anExemption(func(e *guardv1.Exemption) {
			e.OwnedBy = &guardv1.OwnerRule{OwnerKind: guardv1.OwnerKind{APIVersion: "apps/v1", Kind: "DaemonSet"}}
		})}},
		"owner that owns no such resource": {Exemptions: []guardv1.Exemption{anExemption(func(e *guardv1.Exemption) {
			e.OwnedBy = &guardv1.OwnerRule{OwnerKind: guardv1.OwnerKind{APIVersion: "v1", Kind: "Service"}}
		})}},
		"owner's owner of the wrong kind": {Exemptions: []guardv1.Exemption{anExemption(func(e *guardv1.Exemption) {
			e.OwnedBy = &guardv1.OwnerRule{OwnerKind: guardv1.OwnerKind{APIVersion: "apps/v1", Kind: "ReplicaSet"}, OwnedBy: &guardv1.OwnerKind{APIVersion: "batch/v1", Kind: "Job"}}
		})}},
		"unknown operation": {Exemptions: []guardv1.Exemption{anExemption(func(e *guardv1.Exemption) { e.Operations = []string{"PATCH"} })}},
	} {
		if _, err := Compile(&guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: spec}); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}

// A Namespace's own requests carry namespace == name; a policy limited to some resources still
// protects the namespace object itself (deleting it deletes everything protected in it).
func TestNamespaceObjectWithResourceLimitedPolicy(t *testing.T) {
	gp := &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "platform"}, Spec: guardv1.GuardPolicySpec{
		Protect: guardv1.Protection{
			Namespaces: guardv1.NamespaceSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "platform"}}},
			Resources:  []guardv1.ResourceRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}}},
		},
		Agents: []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"}},
	}}
	p, err := Compile(gp)
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{Policies: []*Policy{p}, Now: now, NamespaceLabels: func(string) (map[string]string, error) {
		return map[string]string{"tier": "platform"}, nil
	}}
	for _, op := range []string{"DELETE", "UPDATE"} {
		r := &Request{Operation: op, Resource: "namespaces", Namespace: "team-a", Name: "team-a", User: "alice",
			Old: &ObjectMeta{Labels: map[string]string{"tier": "platform"}}}
		if op == "UPDATE" {
			r.New = &ObjectMeta{}
		}
		if d := Decide(r, s); d.Allowed {
			t.Errorf("%s of a protected namespace (namespace == name) allowed: %+v", op, d)
		}
	}
}

// Argo CD's legacy instance label, which every Helm chart sets, is a tracking marker only under
// a policy that opts in; its tracking-id annotation always is.
func TestArgoCDLabelTrackingIsOptIn(t *testing.T) {
	helm := func() *Request {
		r := deploy("UPDATE", "dev", "web", "alice")
		r.Old.Labels = map[string]string{ArgoCDInstanceLabel: "my-release"}
		return r
	}
	p := testPolicy(t, guardv1.Enforce)
	if d := Decide(helm(), snapshot(p)); !d.Allowed || d.Reason != "Unprotected" {
		t.Errorf("a Helm release's object outside protected namespaces: %+v", d)
	}
	annotated := deploy("UPDATE", "dev", "web", "alice")
	annotated.Old.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:dev/web"}
	if d := Decide(annotated, snapshot(p)); d.Allowed {
		t.Error("an object Argo CD tracks by annotation is not protected")
	}
	p.argoCDLabels = true
	if d := Decide(helm(), snapshot(p)); d.Allowed {
		t.Error("with argoCDLabelTracking, the instance label does not protect")
	}
}

// A namespace is named once, and a node only by its exact identity.
func TestRefAndNodeIdentity(t *testing.T) {
	ns := &Request{Operation: "DELETE", Resource: "namespaces", Namespace: "shop", Name: "shop"}
	if got := ns.Ref(); got != "namespaces shop" {
		t.Errorf("namespace ref %q", got)
	}
	if got := (&Request{Resource: "configmaps", Namespace: "shop", Name: "cfg"}).Ref(); got != "configmaps shop/cfg" {
		t.Errorf("configmap ref %q", got)
	}
	for _, c := range []struct {
		user   string
		groups []string
		node   bool
	}{
		{"system:node:n1", []string{"system:nodes", "system:authenticated"}, true},
		{"system:node:n1", nil, false},
		{"mallory", []string{"system:nodes"}, false},
		{"system:node:", []string{"system:nodes"}, false},
	} {
		if _, ok := (&Request{User: c.user, Groups: c.groups}).Node(); ok != c.node {
			t.Errorf("%s %v: node %v, want %v", c.user, c.groups, ok, c.node)
		}
	}
}
