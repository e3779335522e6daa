package webhook_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/policies"
	"writ.dev/writ/test/harness"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// shippedPolicy creates the shipped guard-writ.yaml GuardPolicy (namespaces labelled
// writ.dev/protected=true) and deletes it when t ends. RBAC is granted to everyone first: the
// policy protects ClusterRoleBindings too.
func shippedPolicy(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := env.Grant(ctx, harness.Group("system:authenticated"), "cluster-admin"); err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(policies.FS, "guard-writ.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var gp guardv1.GuardPolicy
	if err := yaml.UnmarshalStrict(b, &gp); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &gp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), &gp) })
}

// guardedByShippedPolicy starts the guard under the shipped policy with namespace protected
// (labelled writ.dev/protected=true), after the system and Writ namespaces whose service accounts
// the tests mint tokens for.
func guardedByShippedPolicy(t *testing.T, protected string) {
	t.Helper()
	guarded(t)
	for _, ns := range []string{"kube-system", "writ-system"} {
		if err := env.EnsureNamespace(context.Background(), ns); err != nil {
			t.Fatal(err)
		}
	}
	ensureNamespace(t, protected, map[string]string{"writ.dev/protected": "true"})
	shippedPolicy(t)
}

// token is a client with a real token of a service account, as `kubectl create token` mints.
func token(t *testing.T, namespace, name string) client.Client {
	t.Helper()
	cfg, err := env.ServiceAccount(context.Background(), namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	return mustClient(t, cfg)
}

func guardDenied(t *testing.T, what string, err error, wants ...string) {
	t.Helper()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "writ:") {
		t.Errorf("%s: not denied by the guard: %v", what, err)
		return
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: the denial lacks %q: %v", what, w, err)
		}
	}
}

// allowedEventually retries what a controller would retry: the guard's cache may not hold an
// owner created a moment ago.
func allowedEventually(t *testing.T, what string, do func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := do()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: refused: %v", what, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mergePatch(s string) client.Patch {
	return client.RawPatch("application/merge-patch+json", []byte(s))
}

// TestSystemControllerTokensAreNarrow: with the shipped policy, a token minted for each exempt
// system controller (and for writ-controller) does what Kubernetes needs and nothing else.
func TestSystemControllerTokensAreNarrow(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	guardedByShippedPolicy(t, "shop")
	agent := token(t, "writ-system", "writ-reconciler")
	gc := token(t, "kube-system", "generic-garbage-collector")
	rootCA := token(t, "kube-system", "root-ca-cert-publisher")
	rsc := token(t, "kube-system", "replicaset-controller")
	dc := token(t, "kube-system", "deployment-controller")
	sealer := token(t, "writ-system", "writ-controller")

	managed := map[string]string{wellknown.ManagedLabel: "true"}
	cfg := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cfg", Labels: managed}, Data: map[string]string{"k": "v"}}
	if err := agent.Create(ctx, cfg); err != nil {
		t.Fatalf("the agent creates a ConfigMap: %v", err)
	}
	waitForDenial(t, func() error { return as(t, "alice").Patch(ctx, cfg, mergePatch(`{"data":{"k":"x"}}`)) })
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-password", Labels: managed}, StringData: map[string]string{"password": "s3cret"}}
	if err := agent.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Labels: managed}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: tmpl}}
	if err := agent.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	controller := func(o client.Object, kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{*metav1.NewControllerRef(o, o.GetObjectKind().GroupVersionKind().GroupVersion().WithKind(kind))}
	}
	dep.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))

	// The deployment controller creates the ReplicaSet of the Deployment's template; the
	// ReplicaSet controller creates its pods.
	rsTemplate := *tmpl.DeepCopy()
	rsTemplate.Labels["pod-template-hash"] = "abc"
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-abc", OwnerReferences: controller(dep, "Deployment")},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: rsTemplate.Labels}, Template: rsTemplate}}
	evilRS := rs.DeepCopy()
	evilRS.Name = "web-evil"
	evilRS.Spec.Template.Spec.Containers[0].Image = "evil:latest"
	allowedEventually(t, "deployment-controller creates the Deployment's ReplicaSet", func() error { return dc.Create(ctx, rs.DeepCopy()) })
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rs), rs); err != nil {
		t.Fatal(err)
	}
	rs.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	guardDenied(t, "deployment-controller creates a ReplicaSet of another image", dc.Create(ctx, evilRS), `exemption "deployment-controller"`, "image")
	pod := func(name string, owners []metav1.OwnerReference, volumes ...corev1.Volume) *corev1.Pod {
		spec := *rsTemplate.Spec.DeepCopy()
		spec.Volumes = volumes
		for _, v := range volumes {
			spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: "/" + v.Name})
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: rsTemplate.Labels, OwnerReferences: owners}, Spec: spec}
	}
	allowedEventually(t, "replicaset-controller creates a pod from its template", func() error { return rsc.Create(ctx, pod("web-abc-1", controller(rs, "ReplicaSet"))) })
	mountsSecret := corev1.Volume{Name: "stolen", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-password"}}}
	guardDenied(t, "replicaset-controller creates a pod mounting a protected Secret",
		rsc.Create(ctx, pod("web-abc-2", controller(rs, "ReplicaSet"), mountsSecret)), `exemption "replicaset-controller"`, `volume "stolen"`)
	guardDenied(t, "replicaset-controller creates a pod nobody owns", rsc.Create(ctx, pod("loose", nil)), "no controller")
	otherImage := pod("web-abc-3", controller(rs, "ReplicaSet"))
	otherImage.Spec.Containers[0].Image = "evil:latest"
	guardDenied(t, "replicaset-controller creates a pod of another image", rsc.Create(ctx, otherImage), "image")
	forged := controller(rs, "ReplicaSet")
	forged[0].UID = "0d6c2b9e-0000-4000-8000-000000000000"
	guardDenied(t, "replicaset-controller creates a pod naming its ReplicaSet with a forged uid", rsc.Create(ctx, pod("web-abc-4", forged)), "uid")
	if err := rsc.Delete(ctx, pod("web-abc-1", nil)); err != nil {
		t.Errorf("replicaset-controller deletes its pod: %v", err)
	}

	// The garbage collector changes ownerReferences and finalizers, and deletes.
	// (Not tracked: a tracked object is protected by every policy that tracks, other tests' too.)
	owned := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "owned", Finalizers: []string{"example.com/hold"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "cfg", UID: "5c1d6a3e-0000-4000-8000-000000000000"}}}}
	if err := agent.Create(ctx, owned); err != nil {
		t.Fatal(err)
	}
	guardDenied(t, "the garbage collector's token edits a protected ConfigMap", gc.Patch(ctx, cfg, mergePatch(`{"data":{"k":"hacked"}}`)),
		`exemption "garbage-collector"`, "metadata.finalizers and metadata.ownerReferences", "changes data")
	guardDenied(t, "the garbage collector's token relabels a protected ConfigMap", gc.Patch(ctx, cfg, mergePatch(`{"metadata":{"labels":{"x":"y"}}}`)), "metadata.labels")
	guardDenied(t, "the garbage collector's token replaces a protected Deployment's image",
		gc.Patch(ctx, dep, mergePatch(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"evil:latest"}]}}}}`)), "changes spec")
	if err := gc.Patch(ctx, owned, mergePatch(`{"metadata":{"ownerReferences":null}}`)); err != nil {
		t.Errorf("the garbage collector removes an ownerReference: %v", err)
	}
	if err := gc.Patch(ctx, owned, mergePatch(`{"metadata":{"finalizers":null}}`)); err != nil {
		t.Errorf("the garbage collector removes a finalizer: %v", err)
	}
	if err := gc.Delete(ctx, owned); err != nil {
		t.Errorf("the garbage collector deletes: %v", err)
	}

	// root-ca-cert-publisher writes kube-root-ca.crt, and no other ConfigMap.
	rootCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "old"}}
	if err := rootCA.Create(ctx, rootCM); err != nil {
		t.Errorf("root-ca-cert-publisher creates kube-root-ca.crt: %v", err)
	}
	rootCM.Data["ca.crt"] = "new"
	if err := rootCA.Update(ctx, rootCM); err != nil {
		t.Errorf("root-ca-cert-publisher updates kube-root-ca.crt: %v", err)
	}
	var put corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cfg), &put); err != nil {
		t.Fatal(err)
	}
	put.Data["k"] = "rewritten"
	guardDenied(t, "root-ca-cert-publisher's token rewrites a ConfigMap with a PUT", rootCA.Update(ctx, &put), "configmaps shop/cfg")

	// writ-controller writes the Secret its SealedSecret templates, owned by it.
	sealed := &ssv1alpha1.SealedSecret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-key", Labels: managed},
		Spec: ssv1alpha1.SealedSecretSpec{EncryptedData: map[string]string{"key": "AgBy3i4OJSWK+PiTySYZZA=="}}}
	if err := agent.Create(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	sealed.SetGroupVersionKind(ssv1alpha1.SchemeGroupVersion.WithKind("SealedSecret"))
	unsealed := func(name string, typ corev1.SecretType, owners []metav1.OwnerReference) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, OwnerReferences: owners}, Type: typ, Data: map[string][]byte{"key": []byte("v")}}
	}
	allowedEventually(t, "writ-controller writes the Secret of its SealedSecret", func() error {
		return sealer.Create(ctx, unsealed("api-key", corev1.SecretTypeOpaque, controller(sealed, "SealedSecret")))
	})
	if err := sealer.Patch(ctx, unsealed("api-key", "", nil), mergePatch(`{"data":{"key":"djI="}}`)); err != nil {
		t.Errorf("writ-controller updates the Secret of its SealedSecret: %v", err)
	}
	guardDenied(t, "writ-controller's token creates a Secret no SealedSecret owns", sealer.Create(ctx, unsealed("planted", corev1.SecretTypeOpaque, nil)), "no controller")
	guardDenied(t, "writ-controller's token creates a Secret under another name", sealer.Create(ctx, unsealed("planted", corev1.SecretTypeOpaque, controller(sealed, "SealedSecret"))), "name")
	tlsKey := sealed.DeepCopy()
	tlsKey.Name, tlsKey.ResourceVersion, tlsKey.UID = "tls-key", "", ""
	if err := agent.Create(ctx, tlsKey); err != nil {
		t.Fatal(err)
	}
	tlsKey.SetGroupVersionKind(ssv1alpha1.SchemeGroupVersion.WithKind("SealedSecret"))
	allowedEventually(t, "the guard sees the second SealedSecret", func() error {
		err := sealer.Create(ctx, unsealed("tls-key", "example.com/other", controller(tlsKey, "SealedSecret")))
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			return nil
		}
		return err
	})
	guardDenied(t, "writ-controller's token creates a Secret of another type than its SealedSecret's",
		sealer.Create(ctx, unsealed("tls-key", "example.com/other", controller(tlsKey, "SealedSecret"))), "type")
	guardDenied(t, "writ-controller's token rewrites a protected Secret", sealer.Patch(ctx, secret, mergePatch(`{"stringData":{"password":"x"}}`)), "writ-sealing-secrets")
}
