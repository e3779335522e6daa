package webhook_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"writ.dev/writ/webhook"
	"writ.dev/writ/witness"
)

// BenchmarkGuardHandle measures the guard's own work per AdmissionReview (the requests
// BenchmarkGuardOverTLS sends, already decoded), in CPU time and allocations: unlike latency
// percentiles under load, these do not depend on what else the machine runs. kept is the guard as
// writ-controller runs it (policies and grants kept between requests), fresh reads and compiles
// them on every request (as right after a change). deployment-20k is the agent's update of a
// 20 KB Deployment as the apiserver stores it, by the kept guard without a witness and with one
// (witness), which judges it against an index of the commit that declares it: the difference is
// what the witness adds (goal: at most 20 µs at p99), reported as p50-ns and p99-ns of each call.
func BenchmarkGuardHandle(b *testing.B) {
	benchQuiet()
	var reqs []admission.Request
	for _, r := range benchReviews(b) {
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(r.body, &review); err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, admission.Request{AdmissionRequest: *review.Request})
	}
	world := newBenchMemory()
	kept := benchGuard(b, world)
	kept.KeepSnapshot()
	big, index := benchDeployment20k(b)
	witnessed := benchGuard(b, world)
	witnessed.KeepSnapshot()
	witnessed.Witness = indexWitness{Index: index, users: map[string]bool{benchAgent: true}}
	if resp := witnessed.Handle(context.Background(), big); !resp.Allowed || len(resp.Warnings) > 0 {
		b.Fatalf("the witness does not admit the declared Deployment: %+v", resp.Result)
	}
	for _, c := range []struct {
		name string
		h    admission.Handler
		reqs []admission.Request
	}{
		{"kept", kept, reqs},
		{"fresh", benchGuard(b, world), reqs},
		{"noop", admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") }), reqs},
		{"deployment-20k", kept, []admission.Request{big}},
		{"deployment-20k-witness", witnessed, []admission.Request{big}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			samples := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				_ = c.h.Handle(ctx, c.reqs[i%len(c.reqs)])
				samples = append(samples, time.Since(start))
			}
			slices.Sort(samples)
			b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// benchDeployment20k is the agent's UPDATE of reconcile/declared's 20 KB bench Deployment as the
// apiserver stores it (defaulted, another manager's sidecar, a status), and an index of a commit
// declaring it: the stored object without what the apiserver and the other manager added, and
// without the commit annotation and without the defaults the apiserver set, as the feed publishes
// what reconcile/declared's benchDeployment (the manifest the fixture was made from) declares.
func benchDeployment20k(b *testing.B) (admission.Request, *witness.Index) {
	raw, err := os.ReadFile("../reconcile/declared/testdata/deployment-20k.live.json")
	if err != nil {
		b.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := json.Unmarshal(raw, &obj.Object); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(obj.Object, "metadata", "annotations", "writ.dev/commit")
	unstructured.RemoveNestedField(obj.Object, "status")
	// The defaults the apiserver added, as reconcile/declared's benchDeployment leaves them out.
	for _, f := range [][]string{{"strategy"}, {"revisionHistoryLimit"}, {"progressDeadlineSeconds"}, {"template", "spec", "restartPolicy"},
		{"template", "spec", "terminationGracePeriodSeconds"}, {"template", "spec", "dnsPolicy"}, {"template", "spec", "schedulerName"},
		{"template", "spec", "serviceAccount"}} {
		unstructured.RemoveNestedField(obj.Object, append([]string{"spec"}, f...)...)
	}
	pod := obj.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	containers := slices.DeleteFunc(pod["containers"].([]any), func(c any) bool { return c.(map[string]any)["name"] == "mesh-proxy" })
	for _, c := range containers {
		c := c.(map[string]any)
		for _, f := range []string{"terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy"} {
			delete(c, f)
		}
		for _, p := range c["ports"].([]any) {
			delete(p.(map[string]any), "protocol")
		}
		for _, probe := range []string{"readinessProbe", "livenessProbe"} {
			pr := c[probe].(map[string]any)
			for _, f := range []string{"timeoutSeconds", "successThreshold", "failureThreshold"} {
				delete(pr, f)
			}
			delete(pr["httpGet"].(map[string]any), "scheme")
		}
		if c["livenessProbe"].(map[string]any)["periodSeconds"] == float64(10) {
			delete(c["livenessProbe"].(map[string]any), "periodSeconds")
		}
	}
	pod["containers"] = containers
	for _, v := range pod["volumes"].([]any) {
		if cm, ok := v.(map[string]any)["configMap"].(map[string]any); ok {
			delete(cm, "defaultMode")
		}
	}
	index := &witness.Index{}
	if err := index.Publish(types.NamespacedName{Namespace: "writ-system", Name: "bench"}, "0123456789abcdef0123456789abcdef01234567",
		[]*unstructured.Unstructured{obj}); err != nil {
		b.Fatal(err)
	}
	gvr := metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "bench-20k", Operation: admissionv1.Update,
		Resource: gvr, RequestResource: &gvr, Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		Namespace: "bench", Name: "big", UserInfo: authenticationv1.UserInfo{Username: benchAgent, Groups: []string{"system:serviceaccounts", "system:authenticated"}},
		Object: runtime.RawExtension{Raw: raw}, OldObject: runtime.RawExtension{Raw: raw}}}
	return req, index
}

var _ webhook.Witness = indexWitness{}
