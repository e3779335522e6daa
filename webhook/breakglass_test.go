package webhook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	"writ.dev/writ/test/harness"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// TestBreakGlass walks the emergency path on the real apiserver: request, second-person approval,
// an edit in scope, and every way to abuse it.
func TestBreakGlass(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	ev := guarded(t)
	if err := env.Grant(ctx, harness.Group("system:authenticated"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	if err := env.EnsureNamespace(ctx, "payments"); err != nil {
		t.Fatal(err)
	}
	// db-config is tracked by a Sync (its label), other-config is not: the guard remembers who
	// wrote which version of the first only.
	for _, name := range []string{"db-config", "other-config"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: name}, Data: map[string]string{"k": "v"}}
		if name == "db-config" {
			cm.Labels = map[string]string{wellknown.ManagedLabel: "gitops.payments"}
		}
		if err := env.Client.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.Create(ctx, &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "payments"}, Spec: guardv1.GuardPolicySpec{
		Protect:    guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"payments"}}},
		Agents:     []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"}},
		BreakGlass: guardv1.BreakGlassPolicy{RequesterGroups: []string{"oncall"}, ApproverGroups: []string{"leads"}, MaxDuration: &metav1.Duration{Duration: time.Hour}},
		Exemptions: []guardv1.Exemption{{Name: "config-rotator", Subject: guardv1.Subject{Kind: guardv1.UserSubject, Name: "rotator"},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}}}, Operations: []string{"UPDATE"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	ann, bob, lea, mallory := as(t, "ann", "oncall"), as(t, "bob", "oncall"), as(t, "lea", "leads"), as(t, "mallory")
	edit := func(c client.Client, name string) error {
		return c.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: name}},
			client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"emergency"}}`)), client.FieldOwner("kubectl-edit"))
	}
	version := func(name string) (uid, rv string) {
		var cm corev1.ConfigMap
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "payments", Name: name}, &cm); err != nil {
			t.Fatal(err)
		}
		return string(cm.UID), cm.ResourceVersion
	}
	waitForDenial(t, func() error { return edit(ann, "db-config") })

	request := func(name, requester string, d time.Duration) *guardv1.BreakGlassRequest {
		return &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.BreakGlassRequestSpec{
			Requester: requester, Justification: "INC-7: payments database is down", Ticket: "INC-7",
			Scope:    guardv1.BreakGlassScope{Namespaces: []string{"payments"}, Names: []string{"db-config"}},
			Duration: metav1.Duration{Duration: d}}}
	}
	denied := func(what string, err error, want string) {
		t.Helper()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a denial containing %q", what, err, want)
		}
	}
	denied("request for someone else", ann.Create(ctx, request("bg-other", "bob", 10*time.Minute)), "must be you")
	denied("request by a non-requester", mallory.Create(ctx, request("bg-mallory", "mallory", 10*time.Minute)), "no break-glass requester group")
	denied("request beyond the maximum", ann.Create(ctx, request("bg-long", "ann", 2*time.Hour)), "at most 1h0m0s")
	pre := request("bg-pre", "ann", 10*time.Minute)
	pre.Spec.ApprovedBy, pre.Spec.ApprovedAt = "ann", &metav1.Time{Time: time.Now()}
	denied("request created approved", ann.Create(ctx, pre), "created unapproved")

	bg := request("bg-1", "ann", 10*time.Minute)
	if err := ann.Create(ctx, bg); err != nil {
		t.Fatalf("ann's request: %v", err)
	}
	approve := func(c client.Client, user, name string) error {
		var cur guardv1.BreakGlassRequest
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &cur); err != nil {
			return err
		}
		cur.Spec.ApprovedBy, cur.Spec.ApprovedAt = user, &metav1.Time{Time: time.Now()}
		return c.Update(ctx, &cur)
	}
	denied("self-approval", approve(ann, "ann", "bg-1"), "cannot approve their own request")
	denied("approval by a non-approver", approve(bob, "bob", "bg-1"), "no break-glass approver group")
	denied("approval in someone else's name", approve(bob, "lea", "bg-1"), "must be you")
	if err := approve(lea, "lea", "bg-1"); err != nil {
		t.Fatalf("lea's approval: %v", err)
	}

	// Until it expires, ann may change what the request names, and nothing else.
	dbUID, beforeAnn := version("db-config")
	deadline := time.Now().Add(30 * time.Second)
	for err := edit(ann, "db-config"); err != nil; err = edit(ann, "db-config") {
		if time.Now().After(deadline) {
			t.Fatalf("approved break-glass edit refused: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the guard's cache catches up with the approval
	}
	denied("out-of-scope edit", edit(ann, "other-config"), "GuardPolicy")
	// A delete by collection reaches admission once per object, without the name in the request:
	// the guard takes it from the object, so db-config passes and other-config is refused.
	denied("out-of-scope delete by collection", clientset(t, env.As("ann", "oncall")).CoreV1().ConfigMaps("payments").
		DeleteCollection(ctx, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}, metav1.ListOptions{}), "configmaps payments/other-config")
	denied("another requester using ann's grant", edit(bob, "db-config"), "GuardPolicy")
	var cur guardv1.BreakGlassRequest
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "bg-1"}, &cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Scope.Names = nil
	denied("widening an approved request", ann.Update(ctx, &cur), "is approved and cannot change")

	// An expired grant no longer works.
	if err := bob.Create(ctx, request("bg-short", "bob", 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := approve(lea, "lea", "bg-short"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	denied("expired grant", edit(bob, "db-config"), `break-glass request "bg-short" expired`)

	// An exempt writer's write of the tracked object is remembered (MutationAllowed); of the
	// untracked one it is not.
	rotator := as(t, "rotator", "rotators")
	_, beforeRotator := version("db-config")
	for _, name := range []string{"db-config", "other-config"} {
		if err := rotator.Patch(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: name}},
			client.RawPatch("application/merge-patch+json", []byte(`{"data":{"k":"rotated"}}`)), client.FieldOwner("rotator")); err != nil {
			t.Fatalf("the exempt rotator's write of %s: %v", name, err)
		}
	}

	time.Sleep(200 * time.Millisecond) // let the recorder deliver
	// Each record of a write of db-config names the object's uid, the version it was made on
	// and the field manager, apart from the user.
	wrote := func(kind audit.Kind, user, rv, manager string) bool {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		for _, e := range ev.all {
			if e.Kind == kind && e.Actor.User == user && e.Object.Name == "db-config" && e.Object.UID == dbUID && e.ResourceVersion == rv && e.Manager == manager {
				return true
			}
		}
		return false
	}
	if !wrote(audit.BreakGlassUsed, "ann", beforeAnn, "kubectl-edit") {
		t.Errorf("no BreakGlassUsed record of ann's edit of db-config (uid %s) made on version %s under kubectl-edit", dbUID, beforeAnn)
	}
	if !wrote(audit.MutationAllowed, "rotator", beforeRotator, "rotator") {
		t.Errorf("no MutationAllowed record of the rotator's write of db-config made on version %s", beforeRotator)
	}
	ev.mu.Lock()
	for _, e := range ev.all {
		if e.Kind == audit.MutationAllowed && (e.Object.Name != "db-config" || e.Actor.User != "rotator" || !strings.Contains(e.Reason, "config-rotator")) {
			t.Errorf("MutationAllowed of an untracked object or another writer, or without the exemption: %+v", e)
		}
	}
	ev.mu.Unlock()
	for _, k := range []struct {
		kind audit.Kind
		user string
	}{{audit.BreakGlassRequested, "ann"}, {audit.BreakGlassApproved, "lea"}, {audit.BreakGlassUsed, "ann"}, {audit.MutationDenied, "bob"}} {
		if !ev.find(k.kind, k.user) {
			t.Errorf("no %s record for %s", k.kind, k.user)
		}
	}
	// A use is a change made under a grant: creating or approving the request is not one.
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, e := range ev.all {
		if e.Kind == audit.BreakGlassUsed && e.Object.Kind != "ConfigMap" {
			t.Errorf("BreakGlassUsed recorded for %s by %s", e.Object, e.Actor.User)
		}
	}
}

// TestBreakGlassScopeAndClock: a request cannot reach cluster-scoped objects it does not name,
// nor RBAC, admission configuration or Writ's own kinds; and a grant runs from the admission
// time, not from an approvedAt the approver dates ahead.
func TestBreakGlassScopeAndClock(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	guarded(t)
	if err := env.Grant(ctx, harness.Group("system:authenticated"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	if err := env.EnsureNamespace(ctx, "bgscope"); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "bgscope", Name: "cfg"}, Data: map[string]string{"k": "v"}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	gp := &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bgscope"}, Spec: guardv1.GuardPolicySpec{
		Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"bgscope"}},
			ClusterResources: []guardv1.ResourceRule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterrolebindings"}}}},
		Agents:     []guardv1.Subject{{Kind: guardv1.ServiceAccountSubject, Namespace: "writ-system", Name: "writ-reconciler"}},
		BreakGlass: guardv1.BreakGlassPolicy{RequesterGroups: []string{"oncall"}, ApproverGroups: []string{"leads"}},
	}}
	if err := env.Client.Create(ctx, gp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), gp) })
	ann, lea := as(t, "ann", "oncall"), as(t, "lea", "leads")
	edit := func() error { return ann.Patch(ctx, cm.DeepCopy(), mergePatch(`{"data":{"k":"emergency"}}`)) }
	waitForDenial(t, edit)
	request := func(name string, scope guardv1.BreakGlassScope, d time.Duration) *guardv1.BreakGlassRequest {
		return &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.BreakGlassRequestSpec{
			Requester: "ann", Justification: "INC-9: the shop is down", Scope: scope, Duration: metav1.Duration{Duration: d}}}
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ann-is-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "ann"}}}

	// Scopes refused when the request is created.
	guardDenied(t, "a request for namespace \"\"", ann.Create(ctx, request("bg-empty", guardv1.BreakGlassScope{Namespaces: []string{""}}, time.Minute)), "clusterResources")
	guardDenied(t, "a request for ClusterRoleBindings", ann.Create(ctx, request("bg-crb", guardv1.BreakGlassScope{ClusterResources: []guardv1.NamedResource{
		{APIGroup: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Names: []string{"ann-is-admin"}}}}, time.Minute)), "never in a break-glass scope")
	// (The CRD's schema requires names; the guard refuses an empty list too: TestValidateScope.)
	if err := ann.Create(ctx, request("bg-pvs", guardv1.BreakGlassScope{ClusterResources: []guardv1.NamedResource{{Resource: "persistentvolumes"}}}, time.Minute)); !apierrors.IsInvalid(err) {
		t.Errorf("a request for every object of a cluster-scoped kind: %v", err)
	}
	guardDenied(t, "a request for webhook configurations", ann.Create(ctx, request("bg-vwc", guardv1.BreakGlassScope{Namespaces: []string{"bgscope"},
		Resources: []guardv1.ResourceRule{{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"validatingwebhookconfigurations"}}}}, time.Minute)), "never in a break-glass scope")
	guardDenied(t, "a request for GuardPolicies", ann.Create(ctx, request("bg-gp", guardv1.BreakGlassScope{ClusterResources: []guardv1.NamedResource{
		{APIGroup: "writ.dev", Resource: "guardpolicies", Names: []string{"bgscope"}}}}, time.Minute)), "never in a break-glass scope")

	// A grant for the namespace, approved without a time: writ-breakglass stamps the admission
	// time. It covers the ConfigMap, never RBAC in the namespace nor a ClusterRoleBinding.
	if err := ann.Create(ctx, request("bg-ns", guardv1.BreakGlassScope{Namespaces: []string{"bgscope"}}, 4*time.Second)); err != nil {
		t.Fatalf("a request for the namespace: %v", err)
	}
	approve := func(name string, at *metav1.Time) error {
		var cur guardv1.BreakGlassRequest
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &cur); err != nil {
			return err
		}
		cur.Spec.ApprovedBy, cur.Spec.ApprovedAt = "lea", at
		return lea.Update(ctx, &cur)
	}
	if err := approve("bg-ns", nil); err != nil {
		t.Fatalf("an approval without approvedAt: %v", err)
	}
	var got guardv1.BreakGlassRequest
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "bg-ns"}, &got); err != nil || got.Spec.ApprovedAt == nil || time.Since(got.Spec.ApprovedAt.Time) > 5*time.Second {
		t.Fatalf("approvedAt not stamped with the admission time: %v %v", got.Spec.ApprovedAt, err)
	}
	allowedEventually(t, "the approved edit", edit)
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "bgscope", Name: "ann-admin"}, RoleRef: crb.RoleRef, Subjects: crb.Subjects}
	guardDenied(t, "a RoleBinding under a namespace grant", ann.Create(ctx, rb), `GuardPolicy "bgscope"`)
	guardDenied(t, "a ClusterRoleBinding to cluster-admin under a namespace grant", ann.Create(ctx, crb), `GuardPolicy "bgscope"`)

	// An approval dated 100 s ahead does not extend a 4 s grant: the stamp overwrites it.
	if err := ann.Create(ctx, request("bg-ahead", guardv1.BreakGlassScope{Namespaces: []string{"bgscope"}, Names: []string{"cfg"}}, 4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := approve("bg-ahead", &metav1.Time{Time: time.Now().Add(100 * time.Second)}); err != nil {
		t.Fatalf("approval: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "bg-ahead"}, &got); err != nil || got.Spec.ApprovedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("approvedAt %v stayed in the future (%v)", got.Spec.ApprovedAt, err)
	}
	time.Sleep(6 * time.Second)
	guardDenied(t, "an edit after both 4 s grants ran out", edit(), "expired")
}
