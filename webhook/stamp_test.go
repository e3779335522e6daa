package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

func approvalReview(t *testing.T, user string, groups []string, at *metav1.Time) admission.Request {
	t.Helper()
	spec := guardv1.BreakGlassRequestSpec{Requester: "oncall-ann", Justification: "INC-1: the database is down",
		Scope: guardv1.BreakGlassScope{Namespaces: []string{"prod"}}, Duration: metav1.Duration{Duration: 4 * time.Second}}
	old := guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: "bg"}, Spec: spec}
	spec.ApprovedBy, spec.ApprovedAt = user, at
	approved := guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: "bg"}, Spec: spec}
	o, _ := json.Marshal(old)
	n, _ := json.Marshal(approved)
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: admissionv1.Update, Name: "bg",
		Resource: metav1.GroupVersionResource{Group: "writ.dev", Version: "v1alpha1", Resource: "breakglassrequests"},
		UserInfo: authenticationv1.UserInfo{Username: user, Groups: groups},
		Object:   runtime.RawExtension{Raw: n}, OldObject: runtime.RawExtension{Raw: o}}}
}

// Without the stamp, the validating guard alone keeps a grant from being extended: approvedAt
// must be the admission time, at most approvalSkew earlier and never more than 1 s later.
func TestApprovalTimeIsTheGuards(t *testing.T) {
	s := snapshot(testPolicy(t, guardv1.Enforce))
	for _, c := range []struct {
		name string
		at   *metav1.Time
		ok   bool
	}{
		{"now", &metav1.Time{Time: now}, true},
		{"a second ago, as the stamp truncates", &metav1.Time{Time: now.Add(-time.Second)}, true},
		{"100 s ahead", &metav1.Time{Time: now.Add(100 * time.Second)}, false},
		{"2 s ahead", &metav1.Time{Time: now.Add(2 * time.Second)}, false},
		{"a minute ago", &metav1.Time{Time: now.Add(-time.Minute)}, false},
		{"missing", nil, false},
	} {
		req := approvalReview(t, "lea", []string{"leads"}, c.at)
		r, err := toRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		d := validateBreakGlass(req, r, s)
		if d.Allowed != c.ok {
			t.Errorf("approvedAt %s: allowed %v, want %v: %s", c.name, d.Allowed, c.ok, d.Message)
		}
	}
}

// The stamp sets approvedAt to its own clock on an approval, and leaves everything else alone.
func TestStampSetsTheApprovalTime(t *testing.T) {
	st := &Stamp{Now: func() time.Time { return now.Add(700 * time.Millisecond) }}
	resp := st.Handle(context.Background(), approvalReview(t, "lea", []string{"leads"}, &metav1.Time{Time: now.Add(100 * time.Second)}))
	if !resp.Allowed || len(resp.Patches) != 1 || resp.Patches[0].Path != "/spec/approvedAt" || resp.Patches[0].Value != now.Format(time.RFC3339) {
		t.Fatalf("stamp: allowed %v patches %+v", resp.Allowed, resp.Patches)
	}
	unapproved := approvalReview(t, "", nil, nil)
	if resp := st.Handle(context.Background(), unapproved); !resp.Allowed || len(resp.Patches) != 0 {
		t.Errorf("an update that approves nothing was patched: %+v", resp.Patches)
	}
	other := approvalReview(t, "lea", nil, nil)
	other.Resource.Resource = "guardpolicies"
	if resp := st.Handle(context.Background(), other); !resp.Allowed || len(resp.Patches) != 0 {
		t.Errorf("another kind was patched: %+v", resp.Patches)
	}
}

func TestValidateScope(t *testing.T) {
	named := func(group, resource string, names ...string) guardv1.BreakGlassScope {
		return guardv1.BreakGlassScope{ClusterResources: []guardv1.NamedResource{{APIGroup: group, Resource: resource, Names: names}}}
	}
	for _, c := range []struct {
		name  string
		scope guardv1.BreakGlassScope
		want  string // "" valid
	}{
		{"a namespace", guardv1.BreakGlassScope{Namespaces: []string{"prod"}}, ""},
		{"a named persistent volume", named("", "persistentvolumes", "pv-1"), ""},
		{"nothing", guardv1.BreakGlassScope{}, "name the namespaces"},
		{"the empty namespace", guardv1.BreakGlassScope{Namespaces: []string{""}}, "clusterResources"},
		{"a wildcard namespace", guardv1.BreakGlassScope{Namespaces: []string{"*"}}, `namespace "*"`},
		{"RoleBindings in a namespace", guardv1.BreakGlassScope{Namespaces: []string{"prod"},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}}}}, "never"},
		{"a ClusterRoleBinding", named("rbac.authorization.k8s.io", "clusterrolebindings", "x"), "never"},
		{"a webhook configuration", named("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "x"), "never"},
		{"an admission policy binding", named("admissionregistration.k8s.io", "validatingadmissionpolicybindings", "x"), "never"},
		{"a GuardPolicy", named("writ.dev", "guardpolicies", "prod"), "never"},
		{"a TrustPolicy", named("writ.dev", "trustpolicies", "prod"), "never"},
		{"Writ's CRD", named("apiextensions.k8s.io", "customresourcedefinitions", "guardpolicies.writ.dev"), "Writ's own kind"},
		{"unnamed cluster objects", named("", "persistentvolumes"), "name the objects"},
		{"a wildcard name", named("", "persistentvolumes", "*"), "not an object's name"},
		{"a wildcard resource", named("", "*", "x"), "without wildcards"},
	} {
		err := ValidateBreakGlassScope(c.scope)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// At decision time too: a grant for a namespace never covers RBAC in it, and a cluster-scoped
	// object only by name.
	g := guardv1.BreakGlassScope{Namespaces: []string{"prod"}, ClusterResources: []guardv1.NamedResource{{Resource: "namespaces", Names: []string{"prod"}}}}
	for _, c := range []struct {
		r  *Request
		in bool
	}{
		{&Request{Resource: "configmaps", Namespace: "prod", Name: "x"}, true},
		{&Request{Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "prod", Name: "x"}, false},
		{&Request{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Name: "x"}, false},
		{&Request{Resource: "namespaces", Namespace: "prod", Name: "prod"}, true},
		{&Request{Resource: "namespaces", Namespace: "dev", Name: "dev"}, false},
		{&Request{Resource: "persistentvolumes", Name: "pv"}, false},
	} {
		if got := inScope(g, c.r); got != c.in {
			t.Errorf("%s in scope: %v, want %v", c.r.Ref(), got, c.in)
		}
	}
}
