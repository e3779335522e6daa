package policies_test

import (
	"encoding/json"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/policies"
	"writ.dev/writ/provenance"
	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/wellknown"
)

// Every shipped policy parses strictly and compiles; the guard policies protect what they say.
func TestShippedPoliciesCompile(t *testing.T) {
	files, err := fs.Glob(policies.FS, "*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("found %d policies: %v", len(files), err)
	}
	for _, f := range files {
		b, _ := fs.ReadFile(policies.FS, f)
		switch {
		case strings.Contains(string(b), "kind: GuardPolicy"):
			var gp guardv1.GuardPolicy
			if err := yaml.UnmarshalStrict(b, &gp); err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			p, err := webhook.Compile(&gp)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			checkGuard(t, f, p)
		case strings.Contains(string(b), "kind: TrustPolicy"):
			tp, err := provenance.LoadPolicy(b)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			if _, err := provenance.Compile(tp.Spec); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		default:
			t.Errorf("%s: neither a GuardPolicy nor a TrustPolicy", f)
		}
	}
}

func checkGuard(t *testing.T, file string, p *webhook.Policy) {
	t.Helper()
	s := &webhook.Snapshot{Policies: []*webhook.Policy{p}, NamespaceLabels: func(string) (map[string]string, error) {
		return map[string]string{"writ.dev/protected": "true"}, nil
	}}
	agent := p.Agents[0]
	user := "system:serviceaccount:" + agent.Namespace + ":" + agent.Name
	req := func(u, sub string, groups ...string) *webhook.Request {
		return &webhook.Request{Operation: "UPDATE", Group: "apps", Resource: "deployments", Subresource: sub, Namespace: "shop", Name: "web", User: u, Groups: groups}
	}
	if d := webhook.Decide(req(user, ""), s); !d.Allowed {
		t.Errorf("%s: the agent is denied: %s", file, d.Message)
	}
	if d := webhook.Decide(req("kubernetes-admin", "", "system:masters"), s); d.Allowed {
		t.Errorf("%s: an admin edit is allowed", file)
	}
	if d := webhook.Decide(req("system:serviceaccount:kube-system:horizontal-pod-autoscaler", "scale"), s); !d.Allowed {
		t.Errorf("%s: the HPA cannot scale: %s", file, d.Message)
	}
	pod := &webhook.Request{Operation: "UPDATE", Resource: "pods", Subresource: "status", Namespace: "shop", Name: "web-1", User: "system:node:n1", Groups: []string{"system:nodes"}}
	if d := webhook.Decide(pod, s); !d.Allowed {
		t.Errorf("%s: kubelets cannot write pod status: %s", file, d.Message)
	}
	pod.Subresource = ""
	if d := webhook.Decide(pod, s); d.Allowed {
		t.Errorf("%s: a kubelet may edit a pod's spec", file)
	}
	// A person in group system:nodes is not a node, nor is a node outside it.
	for _, u := range []*webhook.Request{
		{Operation: "UPDATE", Resource: "pods", Subresource: "status", Namespace: "shop", Name: "web-1", User: "mallory", Groups: []string{"system:nodes"}},
		{Operation: "UPDATE", Resource: "pods", Subresource: "status", Namespace: "shop", Name: "web-1", User: "system:node:n1"},
	} {
		if d := webhook.Decide(u, s); d.Allowed {
			t.Errorf("%s: %s (groups %v) may write pod status as a node", file, u.User, u.Groups)
		}
	}
	checkNarrowExemptions(t, file, s)
}

// checkNarrowExemptions: each system controller's exemption allows what Kubernetes does and
// nothing more, with owners served from a fake cache.
func checkNarrowExemptions(t *testing.T, file string, s *webhook.Snapshot) {
	t.Helper()
	tracked := map[string]string{wellknown.ManagedLabel: "true"}
	ctrl := true
	ownerRef := func(apiVersion, kind, name string, uid types.UID) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: &ctrl}}
	}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1"}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "dep-uid", Labels: tracked}, Spec: appsv1.DeploymentSpec{Template: tmpl}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "rs-uid", OwnerReferences: ownerRef("apps/v1", "Deployment", "web", "dep-uid")},
		Spec: appsv1.ReplicaSetSpec{Template: tmpl}}
	ss := &ssv1alpha1.SealedSecret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db", UID: "ss-uid", Labels: tracked}}
	claim := corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "pg", UID: "sts-uid", Labels: tracked},
		Spec: appsv1.StatefulSetSpec{Template: tmpl, VolumeClaimTemplates: []corev1.PersistentVolumeClaim{claim}}}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "migrate", UID: "job-uid", Labels: tracked}, Spec: batchv1.JobSpec{Template: tmpl}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "svc-uid", Labels: tracked}}
	cache := map[string]client.Object{"shop/web": dep, "shop/web-1": rs, "shop/db": ss, "shop/pg": sts, "shop/migrate": job, "shop/web#svc": svc}
	s.Owners = webhook.OwnerReaderFunc(func(ns, name string, obj client.Object) error {
		src, ok := cache[ns+"/"+name]
		if _, isSvc := obj.(*corev1.Service); isSvc {
			src, ok = cache[ns+"/"+name+"#svc"]
		}
		if !ok || reflect.TypeOf(src) != reflect.TypeOf(obj) {
			return apierrors.NewNotFound(schema.GroupResource{}, name)
		}
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(src).Elem())
		return nil
	})
	raw := func(o any) []byte {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sa := func(name string) string { return "system:serviceaccount:kube-system:" + name }
	pod := func(image string, volumes ...corev1.Volume) *corev1.Pod {
		spec := *tmpl.Spec.DeepCopy()
		spec.Containers[0].Image = image
		spec.Volumes = volumes
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1-x", OwnerReferences: ownerRef("apps/v1", "ReplicaSet", "web-1", "rs-uid")}, Spec: spec}
	}
	secretVolume := corev1.Volume{Name: "db", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db"}}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cfg", Finalizers: []string{"x"}}, Data: map[string]string{"k": "v"}}
	cmEdited := cm.DeepCopy()
	cmEdited.Data["k"] = "evil"
	cmFreed := cm.DeepCopy()
	cmFreed.Finalizers = nil
	depEvil := dep.DeepCopy()
	depEvil.Spec.Template.Spec.Containers[0].Image = "evil"
	depOrphan := dep.DeepCopy()
	depOrphan.OwnerReferences = nil
	dep.OwnerReferences = ownerRef("v1", "ConfigMap", "gone", "x")
	secret := func(typ corev1.SecretType, owners []metav1.OwnerReference) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db", OwnerReferences: owners}, Type: typ}
	}
	sealer := "system:serviceaccount:writ-system:writ-controller"
	stsPod := func(claimName string) *corev1.Pod {
		p := pod("nginx:1", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName}}})
		p.OwnerReferences = ownerRef("apps/v1", "StatefulSet", "pg", "sts-uid")
		return p
	}
	jobPod := pod("nginx:1")
	jobPod.OwnerReferences, jobPod.Finalizers = ownerRef("batch/v1", "Job", "migrate", "job-uid"), []string{"batch.kubernetes.io/job-tracking"}
	jobPodDone := jobPod.DeepCopy()
	jobPodDone.Finalizers = nil
	jobPodRelabelled := jobPod.DeepCopy()
	jobPodRelabelled.Labels = map[string]string{"app": "evil"}
	slice := func(owners []metav1.OwnerReference) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-x", OwnerReferences: owners}, AddressType: discoveryv1.AddressTypeIPv4}
	}
	for _, c := range []struct {
		name    string
		allowed bool
		r       *webhook.Request
	}{
		{"GC removes a finalizer", true, &webhook.Request{Operation: "UPDATE", Resource: "configmaps", Name: "cfg", User: sa("generic-garbage-collector"), OldObject: raw(cm), Object: raw(cmFreed)}},
		{"GC removes an ownerReference", true, &webhook.Request{Operation: "UPDATE", Group: "apps", Resource: "deployments", Name: "web", User: sa("generic-garbage-collector"), OldObject: raw(dep), Object: raw(depOrphan)}},
		{"GC deletes", true, &webhook.Request{Operation: "DELETE", Resource: "configmaps", Name: "cfg", User: sa("generic-garbage-collector"), OldObject: raw(cm)}},
		{"GC edits a ConfigMap's data", false, &webhook.Request{Operation: "UPDATE", Resource: "configmaps", Name: "cfg", User: sa("generic-garbage-collector"), OldObject: raw(cm), Object: raw(cmEdited)}},
		{"GC replaces a Deployment's image", false, &webhook.Request{Operation: "UPDATE", Group: "apps", Resource: "deployments", Name: "web", User: sa("generic-garbage-collector"), OldObject: raw(dep), Object: raw(depEvil)}},
		{"root-ca-cert-publisher updates kube-root-ca.crt", true, &webhook.Request{Operation: "UPDATE", Resource: "configmaps", Name: "kube-root-ca.crt", User: sa("root-ca-cert-publisher")}},
		{"root-ca-cert-publisher rewrites another ConfigMap", false, &webhook.Request{Operation: "UPDATE", Resource: "configmaps", Name: "cfg", User: sa("root-ca-cert-publisher")}},
		{"RS controller creates a pod from its template", true, &webhook.Request{Operation: "CREATE", Resource: "pods", User: sa("replicaset-controller"), Object: raw(pod("nginx:1"))}},
		{"RS controller creates a pod mounting a Secret", false, &webhook.Request{Operation: "CREATE", Resource: "pods", User: sa("replicaset-controller"), Object: raw(pod("nginx:1", secretVolume))}},
		{"RS controller creates a pod of another image", false, &webhook.Request{Operation: "CREATE", Resource: "pods", User: sa("replicaset-controller"), Object: raw(pod("evil"))}},
		{"RS controller creates an unowned pod", false, &webhook.Request{Operation: "CREATE", Resource: "pods", User: sa("replicaset-controller"), Object: raw(&corev1.Pod{Spec: tmpl.Spec})}},
		{"writ-controller writes its SealedSecret's Secret", true, &webhook.Request{Operation: "CREATE", Resource: "secrets", Name: "db", User: sealer, Object: raw(secret("", ownerRef("bitnami.com/v1alpha1", "SealedSecret", "db", "ss-uid")))}},
		{"writ-controller writes an unowned Secret", false, &webhook.Request{Operation: "CREATE", Resource: "secrets", Name: "db", User: sealer, Object: raw(secret("", nil))}},
		{"writ-controller writes a Secret of another type", false, &webhook.Request{Operation: "CREATE", Resource: "secrets", Name: "db", User: sealer, Object: raw(secret(corev1.SecretTypeServiceAccountToken, ownerRef("bitnami.com/v1alpha1", "SealedSecret", "db", "ss-uid")))}},
		{"StatefulSet controller creates a pod with its claim", true, &webhook.Request{Operation: "CREATE", Resource: "pods", User: sa("statefulset-controller"), Object: raw(stsPod("data-pg-0"))}},
		{"StatefulSet controller creates a pod with another claim", false, &webhook.Request{Operation: "CREATE", Resource: "pods", User: sa("statefulset-controller"), Object: raw(stsPod("someone-elses"))}},
		{"Job controller creates a pod of its Job", true, &webhook.Request{Operation: "CREATE", Resource: "pods", User: sa("job-controller"), Object: raw(jobPod)}},
		{"Job controller removes its pod finalizer", true, &webhook.Request{Operation: "UPDATE", Resource: "pods", Name: "web-1-x", User: sa("job-controller"), OldObject: raw(jobPod), Object: raw(jobPodDone)}},
		{"Job controller relabels a pod", false, &webhook.Request{Operation: "UPDATE", Resource: "pods", Name: "web-1-x", User: sa("job-controller"), OldObject: raw(jobPod), Object: raw(jobPodRelabelled)}},
		{"EndpointSlice controller writes a Service's slice", true, &webhook.Request{Operation: "CREATE", Group: "discovery.k8s.io", Resource: "endpointslices", User: sa("endpointslice-controller"), Object: raw(slice(ownerRef("v1", "Service", "web", "svc-uid")))}},
		{"EndpointSlice controller writes a slice no Service owns", false, &webhook.Request{Operation: "CREATE", Group: "discovery.k8s.io", Resource: "endpointslices", User: sa("endpointslice-controller"), Object: raw(slice(nil))}},
		{"writ-controller edits a ConfigMap", false, &webhook.Request{Operation: "UPDATE", Resource: "configmaps", Name: "cfg", User: sealer, OldObject: raw(cm), Object: raw(cmEdited)}},
	} {
		c.r.Namespace = "shop"
		if d := webhook.Decide(c.r, s); d.Allowed != c.allowed {
			t.Errorf("%s: %s: allowed %v, want %v: %s", file, c.name, d.Allowed, c.allowed, d.Message)
		}
	}
}
