package webhook_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// The attacks of issue #12 against the fallback alone (the webhook is gone by the time these
// run): each is something a cluster-admin did on the chart's fallback policy before it was fixed.

func merge(f *fallbackEnv, c client.Client, o client.Object, body string, opts ...client.PatchOption) error {
	return c.Patch(f.ctx, o, client.RawPatch("application/merge-patch+json", []byte(body)), opts...)
}

func controllerRef(apiVersion, kind, name string) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: "0b5c1d2e-0000-4000-8000-00000000000a", Controller: &yes}
}

func podRunningAs(ns, name, account string, owners ...metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
		Spec: corev1.PodSpec{ServiceAccountName: account, Containers: []corev1.Container{{Name: "c", Image: "mallory/tool"}}}}
}

func podTemplate(account string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{ServiceAccountName: account, Containers: []corev1.Container{{Name: "c", Image: "mallory/tool"}}}}
}

func jobTemplate(account string) corev1.PodTemplateSpec {
	t := podTemplate(account)
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return t
}

// credentialPaths: nobody but Kubernetes and the agents gets a token for, or runs a pod as, Writ's
// service accounts or the exempt controllers', kube-system included; RBAC that binds them or
// grants impersonation is the agents'; AuditEvents are Writ's components'.
func credentialPaths(t *testing.T, f *fallbackEnv) {
	ctx, admin := f.ctx, f.admin
	cs := clientset(t, env.Config)
	token := func(cfgClient func(ns, sa string) error, ns, sa string) error { return cfgClient(ns, sa) }
	asAdmin := func(ns, sa string) error {
		_, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		return err
	}
	nodeCS := clientset(t, env.As("system:node:fallback-n1", "system:nodes"))
	asNode := func(pod *corev1.Pod) func(ns, sa string) error {
		return func(ns, sa string) error {
			tr := &authenticationv1.TokenRequest{}
			if pod != nil {
				tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
			}
			_, err := nodeCS.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
			return err
		}
	}
	mallory := clientset(t, env.As("mallory", "system:nodes"))
	asMallory := func(ns, sa string) error {
		_, err := mallory.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		return err
	}
	tokenSecret := func(ns, sa string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fallback-token-" + sa, Annotations: map[string]string{corev1.ServiceAccountNameKey: sa}},
			Type: corev1.SecretTypeServiceAccountToken}
	}
	impersonator := func(ns string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"impersonate"}, ResourceNames: []string{wellknown.ReconcilerServiceAccount}}}
	}
	bindTo := func(ns, name string, subject rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{subject}}
	}
	humanSA := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: fbDev, Name: "robot"}
	reconcilerSA := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: fbWrit, Name: wellknown.ReconcilerServiceAccount}
	audit := func(ns string) *auditv1.AuditEvent {
		return &auditv1.AuditEvent{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "forged-"},
			Spec: auditv1.AuditEventSpec{Type: "BreakGlassApproved", Time: metav1.NewMicroTime(time.Now()), Actor: auditv1.Actor{User: "lea"}}}
	}
	for _, d := range []struct {
		name string
		err  error
	}{
		{"admin mints the garbage collector's token (kubectl create token generic-garbage-collector -n kube-system)", token(asAdmin, "kube-system", "generic-garbage-collector")},
		{"admin mints root-ca-cert-publisher's token", token(asAdmin, "kube-system", "root-ca-cert-publisher")},
		{"admin mints writ-controller's token", token(asAdmin, fbWrit, wellknown.ControllerServiceAccount)},
		{"admin mints writ-webhook's token", token(asAdmin, fbWrit, wellknown.WebhookServiceAccount)},
		{"a node mints the agent's token bound to no pod", token(asNode(nil), fbWrit, wellknown.ReconcilerServiceAccount)},
		{"a human in group system:nodes mints the agent's token", token(asMallory, fbWrit, wellknown.ReconcilerServiceAccount)},
		{"admin makes a legacy token Secret for the garbage collector", admin.Create(ctx, tokenSecret("kube-system", "generic-garbage-collector"))},
		{"admin makes a legacy token Secret for writ-controller", admin.Create(ctx, tokenSecret(fbWrit, wellknown.ControllerServiceAccount))},
		{"admin runs a pod as writ-reconciler in writ-system", admin.Create(ctx, podRunningAs(fbWrit, "fallback-as-agent", wellknown.ReconcilerServiceAccount))},
		{"admin runs a pod as the garbage collector in kube-system", admin.Create(ctx, podRunningAs("kube-system", "fallback-as-gc", "generic-garbage-collector"))},
		{"admin runs a pod as the garbage collector, by the deprecated field", admin.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "fallback-as-gc2"},
			Spec: corev1.PodSpec{DeprecatedServiceAccount: "generic-garbage-collector", Containers: []corev1.Container{{Name: "c", Image: "mallory/tool"}}}})},
		{"admin makes a Deployment running as replicaset-controller in kube-system", admin.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "fallback-as-rs"},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, Template: podTemplate("replicaset-controller")}})},
		{"admin makes a CronJob running as the garbage collector in kube-system", admin.Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "fallback-as-gc"},
			Spec: batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTemplate("generic-garbage-collector")}}}})},
		{"admin lets a human's service account impersonate writ-reconciler (RoleBinding in writ-system)", admin.Create(ctx, bindTo(fbWrit, "fallback-impersonate", humanSA))},
		{"admin makes a ClusterRole that grants impersonation", admin.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "fallback-impersonator"}, Rules: impersonator(fbWrit)})},
		{"admin makes a Role in kube-system that grants impersonation", admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "fallback-impersonator"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}})},
		{"admin binds writ-reconciler to more rights, cluster-wide", admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "fallback-more-rights"},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{reconcilerSA}})},
		{"admin binds every service account of kube-system in a RoleBinding", admin.Create(ctx, bindTo(fbDev, "fallback-kube-system-sas",
			rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts:kube-system"}))},
		{"admin forges an AuditEvent in Writ's namespace", admin.Create(ctx, audit(fbWrit))},
		{"admin forges an AuditEvent elsewhere", admin.Create(ctx, audit(fbDev))},
		{"a look-alike of writ-webhook forges an AuditEvent", as(t, "system:serviceaccount:writ-systemx:"+wellknown.WebhookServiceAccount).Create(ctx, audit(fbDev))},
	} {
		denied(t, d.name, d.err, "writ: ")
	}

	// Kubernetes itself and the agents still may.
	if err := admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "fallback-ordinary"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	agentPod := podRunningAs(fbWrit, "fallback-agent-pod", wellknown.ReconcilerServiceAccount)
	agentPod.Spec.NodeName = "fallback-n1"
	if err := f.agent.Create(ctx, agentPod); err != nil {
		t.Fatalf("the agent runs a pod as itself (through Git): %v", err)
	}
	t.Cleanup(func() { _ = f.agent.Delete(ctx, agentPod) })
	for _, a := range []struct {
		name string
		err  error
	}{
		{"the kubelet mints the token of a pod bound to it", token(asNode(agentPod), fbWrit, wellknown.ReconcilerServiceAccount)},
		{"replicaset-controller starts a pod as the garbage collector from a ReplicaSet (dry run)", f.rsCtrl.Create(ctx,
			podRunningAs("kube-system", "fallback-rs-pod", "generic-garbage-collector", controllerRef("apps/v1", "ReplicaSet", "x")), client.DryRunAll)},
		{"the agent makes a ClusterRole that grants impersonation (dry run)", f.agent.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "fallback-impersonator"},
			Rules: impersonator(fbWrit)}, client.DryRunAll)},
		{"admin binds a human's service account outside Writ's namespace", admin.Create(ctx, bindTo(fbDev, "fallback-robot", humanSA), client.DryRunAll)},
		{"admin mints a token for an ordinary service account in kube-system", token(asAdmin, "kube-system", "fallback-ordinary")},
		{"admin runs a pod as an ordinary service account in kube-system", admin.Create(ctx, podRunningAs("kube-system", "fallback-default", "fallback-ordinary"), client.DryRunAll)},
		{"writ-webhook records an AuditEvent (dry run)", f.hook.Create(ctx, audit(fbWrit), client.DryRunAll)},
		{"writ-controller records an AuditEvent (dry run)", f.ctrl.Create(ctx, audit(fbWrit), client.DryRunAll)},
	} {
		if a.err != nil {
			t.Errorf("%s: %v", a.name, a.err)
		}
	}
	aggregatedAuditEvent(t, f, audit(fbWrit))
}

// aggregatedAuditEvent: the webhook's recorder folds repeats of a denial into one AuditEvent by
// adding to its count (audit/kuberecorder), so Writ's components may update AuditEvents; nobody
// else may, and only writ-controller removes them (once ingested).
func aggregatedAuditEvent(t *testing.T, f *fallbackEnv, ev *auditv1.AuditEvent) {
	ctx := f.ctx
	ev.Spec.Type, ev.Spec.Count = "MutationDenied", 1
	if err := f.hook.Create(ctx, ev); err != nil {
		t.Fatalf("writ-webhook records an aggregated denial: %v", err)
	}
	t.Cleanup(func() { _ = f.ctrl.Delete(ctx, ev) })
	if err := merge(f, f.hook, ev.DeepCopy(), `{"spec":{"count":2}}`); err != nil {
		t.Errorf("writ-webhook adds a repeat to its denial's count: %v", err)
	}
	denied(t, "admin changes a recorded AuditEvent", merge(f, f.admin, ev.DeepCopy(), `{"spec":{"count":1}}`), "writ: ")
	denied(t, "admin deletes an AuditEvent before it is ingested", f.admin.Delete(ctx, ev.DeepCopy()), "writ: ")
	denied(t, "writ-webhook deletes an AuditEvent", f.hook.Delete(ctx, ev.DeepCopy()), "writ: ")
	if err := f.ctrl.Delete(ctx, ev.DeepCopy()); err != nil {
		t.Errorf("writ-controller removes an ingested AuditEvent: %v", err)
	}
}

// exemptionConstraints: an exempt controller's token changes only what the controller changes.
func exemptionConstraints(t *testing.T, f *fallbackEnv) {
	ctx := f.ctx
	owned := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "fallback-owned", Finalizers: []string{"example.com/hold"},
		OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "Deployment", "web")}}, Data: map[string]string{"k": "v"}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "web-1", OwnerReferences: []metav1.OwnerReference{controllerRef("apps/v1", "Deployment", "web")}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, Template: podTemplate("default")}}
	for _, o := range []client.Object{owned, rs} {
		if err := f.agent.Create(ctx, o); err != nil {
			t.Fatalf("the agent creates %s: %v", o.GetName(), err)
		}
	}
	t.Cleanup(func() {
		_ = f.agent.Patch(ctx, owned, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`)))
		_ = f.agent.Delete(ctx, owned)
		_ = f.agent.Delete(ctx, rs)
	})
	put := func(c client.Client, o client.Object, change func()) error {
		if err := f.admin.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			return err
		}
		change()
		return c.Update(ctx, o, client.DryRunAll)
	}
	kubeRoot := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "x"}}
	for _, d := range []struct {
		name string
		err  error
	}{
		{"the garbage collector's token edits a protected ConfigMap's data", merge(f, f.gc, owned.DeepCopy(), `{"data":{"k":"hacked"}}`)},
		{"the garbage collector's token adds a label with the ownerReference change", merge(f, f.gc, owned.DeepCopy(), `{"metadata":{"ownerReferences":null,"labels":{"x":"y"}}}`)},
		{"the garbage collector's token replaces a protected Deployment's image", merge(f, f.gc, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "web"}},
			`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"mallory/web"}]}}}}`)},
		{"root-ca-cert-publisher's token rewrites another ConfigMap with a PUT", put(f.rootCA, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "app-config"}},
			func() {})},
		{"replicaset-controller's token creates an unowned pod", f.rsCtrl.Create(ctx, podRunningAs(fbProd, "fallback-unowned", "default"))},
		{"replicaset-controller's token creates a pod owned by a Deployment", f.rsCtrl.Create(ctx, podRunningAs(fbProd, "fallback-deploy-owned", "default", controllerRef("apps/v1", "Deployment", "web")))},
		{"deployment-controller's token changes a ReplicaSet's pod template", merge(f, f.deployCtrl, rs.DeepCopy(), `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"mallory/web"}]}}}}`)},
	} {
		denied(t, d.name, d.err, "is protected")
	}
	for _, a := range []struct {
		name string
		err  error
	}{
		{"the garbage collector removes an ownerReference", merge(f, f.gc, owned.DeepCopy(), `{"metadata":{"ownerReferences":null}}`)},
		{"the garbage collector removes a finalizer", merge(f, f.gc, owned.DeepCopy(), `{"metadata":{"finalizers":null}}`)},
		{"the garbage collector deletes a dependent (dry run)", f.gc.Delete(ctx, owned.DeepCopy(), client.DryRunAll)},
		{"root-ca-cert-publisher writes kube-root-ca.crt", f.rootCA.Create(ctx, kubeRoot)},
		{"replicaset-controller creates a pod of a ReplicaSet (dry run)", f.rsCtrl.Create(ctx,
			podRunningAs(fbProd, "fallback-rs-owned", "default", controllerRef("apps/v1", "ReplicaSet", "web-1")), client.DryRunAll)},
		{"deployment-controller scales a ReplicaSet", merge(f, f.deployCtrl, rs.DeepCopy(), `{"spec":{"replicas":0},"metadata":{"annotations":{"deployment.kubernetes.io/revision":"2"}}}`)},
	} {
		if a.err != nil {
			t.Errorf("%s: %v", a.name, a.err)
		}
	}
	_ = f.agent.Delete(ctx, kubeRoot)
}

// writNamespace: Writ's namespace is the agent's control room; its components write only their own.
func writNamespace(t *testing.T, f *fallbackEnv) {
	ctx, admin := f.ctx, f.admin
	gs := func(ns string) *reconcilev1.GitSource {
		return &reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fallback-mallory"},
			Spec: reconcilev1.GitSourceSpec{URL: "https://git.example.com/mallory", TrustPolicy: "fallback"}}
	}
	lease := func(name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: name}}
	}
	tls := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "writ-webhook-tls"}}
	for _, d := range []struct {
		name string
		err  error
	}{
		{"admin edits an ordinary Secret in Writ's namespace", merge(f, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "fallback-other"}}, `{"stringData":{"x":"y"}}`)},
		{"admin adds a GitSource in Writ's namespace", admin.Create(ctx, gs(fbWrit))},
		{"admin adds a GitSource in another namespace", admin.Create(ctx, gs(fbDev))},
		{"admin adds a Sync", admin.Create(ctx, &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "fallback-mallory"},
			Spec: reconcilev1.SyncSpec{SourceRef: reconcilev1.LocalObjectReference{Name: "x"}}})},
		{"admin adds a service account in Writ's namespace", admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "fallback-mallory"}})},
		{"admin takes writ-controller's leader lease", admin.Create(ctx, lease("fallback-admin"))},
		{"admin replaces the webhook's certificate", admin.Create(ctx, tls.DeepCopy())},
		{"the webhook's token adds a break-glass grant", merge(f, f.hook, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: webhook.FallbackParamsName}},
			`{"data":{"breakGlass":"mallory `+fbProd+`\n"}}`)},
		{"admin execs into a pod in Writ's namespace (CONNECT)", clientset(t, env.Config).CoreV1().RESTClient().Post().Namespace(fbWrit).Resource("pods").
			Name("fallback-agent-pod").SubResource("exec").Param("container", "c").Param("command", "sh").Param("stdout", "true").Do(ctx).Error()},
	} {
		denied(t, d.name, d.err, "writ: ")
	}
	for _, a := range []struct {
		name string
		err  error
	}{
		{"writ-controller takes its leader lease", f.ctrl.Create(ctx, lease("fallback-ctrl"))},
		{"writ-controller keeps the webhook's certificate", f.ctrl.Create(ctx, tls.DeepCopy())},
		{"writ-webhook records an event", f.hook.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, GenerateName: "writ-webhook."},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: fbWrit, Name: "writ-webhook-0"}, Reason: "Started", Message: "started"}, client.DryRunAll)},
		{"the agent adds a GitSource (dry run)", f.agent.Create(ctx, gs(fbWrit), client.DryRunAll)},
	} {
		if a.err != nil {
			t.Errorf("%s: %v", a.name, a.err)
		}
	}
	// The service proxy (writ audit export, writ seal) is RBAC's to allow: no Service answers
	// here, but the fallback lets the request through to the proxy.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "fallback-proxy"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "audit", Port: 8082}}, Selector: map[string]string{"app": "none"}}}
	if err := f.agent.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.agent.Delete(ctx, svc) }()
	_, err := clientset(t, env.Config).CoreV1().Services(fbWrit).ProxyGet("http", svc.Name, "audit", "/v1/audit/export", nil).DoRaw(ctx)
	if err == nil || apierrors.IsForbidden(err) {
		t.Errorf("the admin's service proxy request into Writ's namespace: %v", err)
	}
	for _, o := range []client.Object{lease("fallback-ctrl"), tls} {
		_ = f.agent.Delete(ctx, o)
	}
	sourceStatus(t, f, gs(fbDev))
}

// sourceStatus: a GitSource's status is what its Syncs deploy (lastVerifiedCommit) and what keeps
// a revoked commit frozen (revoked, trustPolicyGeneration): an admin who rewrote it could unfreeze
// a revoked commit or name any commit as verified. Only the agent (the reconciler) writes it.
func sourceStatus(t *testing.T, f *fallbackEnv, src *reconcilev1.GitSource) {
	ctx := f.ctx
	if err := f.agent.Create(ctx, src); err != nil {
		t.Fatalf("the agent creates a GitSource: %v", err)
	}
	defer func() { _ = f.agent.Delete(ctx, src) }()
	status := func(c client.Client, body string) error {
		return c.Status().Patch(ctx, src.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(body)))
	}
	if err := status(f.agent, `{"status":{"lastVerifiedCommit":"1111111111111111111111111111111111111111","revoked":{"commit":"1111111111111111111111111111111111111111","reason":"Revoked","trustPolicyGeneration":1,"time":"2026-12-02T00:00:00Z"}}}`); err != nil {
		t.Fatalf("the agent records its source's status: %v", err)
	}
	for _, d := range []struct {
		name string
		err  error
	}{
		{"admin clears a revoked commit from a GitSource's status", status(f.admin, `{"status":{"revoked":null}}`)},
		{"admin names another commit as verified", status(f.admin, `{"status":{"lastVerifiedCommit":"2222222222222222222222222222222222222222"}}`)},
		{"admin rewrites a Sync's view of the source by editing its spec", merge(f, f.admin, src.DeepCopy(), `{"spec":{"url":"https://git.example.com/mallory2"}}`)},
	} {
		denied(t, d.name, d.err, "writ: ")
	}
	var got reconcilev1.GitSource
	if err := f.admin.Get(ctx, client.ObjectKeyFromObject(src), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Revoked == nil || got.Status.LastVerifiedCommit != "1111111111111111111111111111111111111111" {
		t.Errorf("the GitSource's status changed under the admin's patches: %+v", got.Status)
	}
}

// nearMisses: the skips and the node exemption match the exact identities, nothing near them.
func nearMisses(t *testing.T, f *fallbackEnv) {
	edit := func(user string, groups ...string) error {
		return merge(f, as(t, user, groups...), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "app-config"}}, `{"data":{"k":"near-miss"}}`)
	}
	event := func(user string, groups ...string) error {
		return as(t, user, groups...).Create(f.ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, GenerateName: "web-0."},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: fbProd, Name: "web-0"}, Reason: "Pulled", Message: "pulled"}, client.DryRunAll)
	}
	for _, d := range []struct {
		name string
		err  error
	}{
		{"a user named system:apiserver without system:masters", edit("system:apiserver")},
		{"a user named system:apiserver with an extra group", edit("system:apiserver", "system:masters", "devs")},
		{"a human in group system:nodes records a pod's event", event("mallory", "system:nodes")},
		{"a user named system:node: (no node name) in system:nodes", event("system:node:", "system:nodes")},
		{"a human in group system:nodes edits a protected ConfigMap", edit("mallory", "system:nodes")},
	} {
		denied(t, d.name, d.err, "is protected")
	}
	if err := event("system:node:fallback-n1", "system:nodes"); err != nil {
		t.Errorf("a kubelet records a pod's event: %v", err)
	}
}

// apiserverIdentity: the apiserver's own loopback requests carry exactly the identity the policies
// skip. A policy that denies any other identity of that name watches the apiserver recreate the
// kubernetes Service.
func apiserverIdentity(t *testing.T, f *fallbackEnv) {
	ctx := f.ctx
	fail := admissionregistrationv1.Fail
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "writ-test-loopback"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				ResourceNames: []string{"kubernetes"},
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"services"}}}}}},
			MatchConditions: webhookFallbackPolicy(t).Spec.MatchConditions,
			Validations:     []admissionregistrationv1.Validation{{Expression: "request.userInfo.username != 'system:apiserver'"}},
		}}
	// The policy above denies the apiserver's user name unless the match condition (the exact
	// identity) skips it: if the Service comes back, the loopback identity is the one skipped.
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "writ-test-loopback"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}}}
	m := maintainerClient(t)
	for _, o := range []client.Object{policy, binding} {
		if err := m.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, o := range []client.Object{binding, policy} {
			if err := m.Delete(ctx, o); err != nil {
				t.Error(err)
			}
		}
	}()
	// Wait until it denies a look-alike, then remove the Service.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443}}}}
	lookalike := as(t, "system:apiserver")
	eventually(t, "the loopback policy", func() error { return lookalike.Create(ctx, svc.DeepCopy(), client.DryRunAll) },
		func(err error) bool { return err != nil && strings.Contains(err.Error(), "writ-test-loopback") })
	if err := f.admin.Delete(ctx, svc.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the apiserver recreating the kubernetes Service", func() error { return f.admin.Get(ctx, client.ObjectKeyFromObject(svc), &corev1.Service{}) },
		func(err error) bool { return err == nil })
}

// webhookFallbackPolicy is the main policy as FallbackPolicy builds it.
func webhookFallbackPolicy(t *testing.T) *admissionregistrationv1.ValidatingAdmissionPolicy {
	fb, err := webhook.FallbackPolicy(webhook.FallbackOptions{Namespace: fbWrit})
	if err != nil {
		t.Fatal(err)
	}
	return fb.Policies[0]
}

// breakGlassScope: a request's scope never reaches the cluster, RBAC, admission or Writ, and a
// grant covers what it names only.
func breakGlassScope(t *testing.T, f *fallbackEnv) {
	ctx := f.ctx
	alice := as(t, "alice", "devs")
	request := func(name string, scope guardv1.BreakGlassScope) error {
		b := breakGlass(name, "alice", "")
		b.Spec.Scope = scope
		return alice.Create(ctx, b, client.DryRunAll)
	}
	for _, d := range []struct {
		name string
		err  error
	}{
		{"a scope of the empty namespace", request("fallback-empty", guardv1.BreakGlassScope{Namespaces: []string{""}})},
		{"a scope of Writ's namespace", request("fallback-writ", guardv1.BreakGlassScope{Namespaces: []string{fbWrit}})},
		{"a scope of kube-system", request("fallback-kube", guardv1.BreakGlassScope{Namespaces: []string{"kube-system"}})},
		{"a scope naming RBAC", request("fallback-rbac", guardv1.BreakGlassScope{Namespaces: []string{fbProd},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}}}})},
		{"a scope naming admission configuration", request("fallback-adm", guardv1.BreakGlassScope{Namespaces: []string{fbProd},
			Resources: []guardv1.ResourceRule{{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"*"}}}})},
		{"a cluster-scoped RBAC object", request("fallback-crb", guardv1.BreakGlassScope{
			ClusterResources: []guardv1.NamedResource{{APIGroup: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Names: []string{"mallory"}}}})},
		{"a scope naming nothing", request("fallback-nothing", guardv1.BreakGlassScope{})},
	} {
		denied(t, d.name, d.err, "a break-glass scope names namespaces")
	}
	if err := request("fallback-ok", guardv1.BreakGlassScope{Namespaces: []string{fbProd}}); err != nil {
		t.Errorf("a scope of a protected namespace: %v", err)
	}
	if err := request("fallback-pv", guardv1.BreakGlassScope{ClusterResources: []guardv1.NamedResource{{Resource: "persistentvolumes", Names: []string{"pv-1"}}}}); err != nil {
		t.Errorf("a scope of a named cluster-scoped object: %v", err)
	}

	// A grant limited to one ConfigMap covers it alone, and the denial says what it covers.
	params := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: webhook.FallbackParamsName}}
	grant := "alice " + fbProd + " resources=/configmaps names=app-config until=2026-12-02T03:00:00Z request=inc-1"
	if err := merge(f, f.ctrl, params, `{"data":{"breakGlass":"`+grant+`\nalice `+fbWrit+`\n"}}`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the narrow grant", func() error {
		return merge(f, alice, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "app-config"}}, `{"data":{"k":"granted"}}`)
	}, func(err error) bool { return err == nil })
	for _, d := range []struct {
		name string
		err  error
	}{
		{"another ConfigMap", alice.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "fallback-other"}})},
		{"a Deployment", merge(f, alice, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "web"}}, `{"spec":{"minReadySeconds":3}}`)},
	} {
		denied(t, d.name, d.err, "Your break-glass grants do not cover this request", grant)
	}
	denied(t, "a grant listed for Writ's namespace", alice.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbWrit, Name: "fallback-alice"}}), "is Writ's own")
	// A whole-namespace grant never covers RBAC there.
	if err := merge(f, f.ctrl, params, `{"data":{"breakGlass":"alice `+fbProd+`\n"}}`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the namespace grant", func() error {
		return alice.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "fallback-granted"}}, client.DryRunAll)
	}, func(err error) bool { return err == nil })
	denied(t, "RBAC under a namespace grant", alice.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: fbProd, Name: "fallback-alice"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}}}),
		"Your break-glass grants do not cover this request")
	if err := merge(f, f.ctrl, params, `{"data":{"breakGlass":null}}`); err != nil {
		t.Fatal(err)
	}
}

// admissionConfiguration: webhook configurations (the fallback) and admission policies (the
// static protection) are the agent's.
func admissionConfiguration(t *testing.T, f *fallbackEnv) {
	ctx, admin := f.ctx, f.admin
	none := admissionregistrationv1.SideEffectClassNone
	url := "https://mallory.example.com/mutate"
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "fallback-mallory"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mallory.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
			SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}}}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "fallback-mallory"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "mallory.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
			SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}}}
	denied(t, "admin creates a MutatingWebhookConfiguration", admin.Create(ctx, mwc.DeepCopy()), "any webhook configuration")
	denied(t, "admin creates a ValidatingWebhookConfiguration", admin.Create(ctx, vwc.DeepCopy()), "any webhook configuration")
	if err := f.agent.Create(ctx, mwc.DeepCopy(), client.DryRunAll); err != nil {
		t.Errorf("the agent creates a MutatingWebhookConfiguration (dry run): %v", err)
	}
	// Writ's own webhook configurations (labelled part of Writ): the agent may relabel them and
	// refresh their CA bundles, never otherwise change or delete them.
	ignore := admissionregistrationv1.Ignore
	own := vwc.DeepCopy()
	own.Name, own.Labels = fbOwnWebhookConfig, map[string]string{"app.kubernetes.io/part-of": "writ"}
	own.Webhooks[0].FailurePolicy = &ignore
	own.Webhooks[0].ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"fallback-test": "never"}}
	if err := f.agent.Create(ctx, own); err != nil {
		t.Fatalf("the agent creates a webhook configuration of Writ's: %v", err)
	}
	ownRef := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: fbOwnWebhookConfig}}
	merge := func(body string) error {
		return f.agent.Patch(ctx, ownRef.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(body)), client.DryRunAll)
	}
	strategic := func(body string) error { // webhooks merged by name
		return f.agent.Patch(ctx, ownRef.DeepCopy(), client.RawPatch("application/strategic-merge-patch+json", []byte(body)), client.DryRunAll)
	}
	const never = "never otherwise change or delete them"
	denied(t, "the agent deletes Writ's webhook configuration", f.agent.Delete(ctx, ownRef.DeepCopy(), client.DryRunAll), never)
	denied(t, "the agent repoints Writ's webhook", strategic(`{"webhooks":[{"name":"mallory.example.com","clientConfig":{"url":"https://mallory.example.com/other"}}]}`), never)
	denied(t, "the agent drops Writ's webhooks", merge(`{"webhooks":[]}`), never)
	denied(t, "the agent unlabels Writ's webhook configuration", merge(`{"metadata":{"labels":{"app.kubernetes.io/part-of":null}}}`), never)
	denied(t, "the agent deletes every webhook configuration (dry run)", clientset(t, env.As(agentUser)).AdmissionregistrationV1().ValidatingWebhookConfigurations().
		DeleteCollection(ctx, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}, metav1.ListOptions{}), never)
	if err := merge(`{"metadata":{"annotations":{"note":"from git"}}}`); err != nil {
		t.Errorf("the agent annotates Writ's webhook configuration: %v", err)
	}
	if err := strategic(`{"webhooks":[{"name":"mallory.example.com","clientConfig":{"caBundle":"` + base64.StdEncoding.EncodeToString([]byte("a CA")) + `"}}]}`); err != nil {
		t.Errorf("the agent refreshes the CA bundle of Writ's webhook configuration: %v", err)
	}
	policy := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
			"metadata": map[string]any{"name": "fallback-mallory"},
			"spec": map[string]any{
				"matchConstraints": map[string]any{"resourceRules": []any{map[string]any{"apiGroups": []any{"apps"}, "apiVersions": []any{"v1"},
					"operations": []any{"CREATE", "UPDATE"}, "resources": []any{"deployments"}}}},
				"reinvocationPolicy": "Never",
				"mutations": []any{map[string]any{"patchType": "JSONPatch", "jsonPatch": map[string]any{
					"expression": `[JSONPatch{op: "replace", path: "/spec/template/spec/containers/0/image", value: "mallory/web"}]`}}},
			},
		}}
		return u
	}
	deniedStatically(t, "admin creates a MutatingAdmissionPolicy", admin.Create(ctx, policy()))
	deniedStatically(t, "admin creates a ValidatingAdmissionPolicy", admin.Create(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "fallback-mallory"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "true"}}}}))
	if err := f.agent.Create(ctx, policy(), client.DryRunAll); err != nil {
		t.Errorf("the agent creates a MutatingAdmissionPolicy (dry run): %v", err)
	}
}
