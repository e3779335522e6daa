package webhook

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// A kept snapshot is reused until Invalidate, then read afresh; without KeepSnapshot every
// request reads the policies. (On the real apiserver, bypass_test and breakglass_test run the
// guard with InvalidateOn: policies and approvals created during the tests take effect.)
func TestKeptSnapshotIsDroppedOnInvalidate(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := guardv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).Build()
	ctx := context.Background()
	policy := func(name string) *guardv1.GuardPolicy {
		return &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.GuardPolicySpec{
			Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"prod"}}}}}
	}
	count := func(g *Guard) int {
		t.Helper()
		s, err := g.reads(ctx).snapshot(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return len(s.Policies)
	}

	fresh := &Guard{Reader: reader}
	kept := &Guard{Reader: reader}
	kept.KeepSnapshot()
	if count(fresh) != 0 || count(kept) != 0 {
		t.Fatal("policies before any was created")
	}
	if err := reader.Create(ctx, policy("one")); err != nil {
		t.Fatal(err)
	}
	if n := count(fresh); n != 1 {
		t.Errorf("without KeepSnapshot the guard saw %d policies, want 1", n)
	}
	if n := count(kept); n != 0 {
		t.Errorf("the kept snapshot was not kept: %d policies before Invalidate", n)
	}
	kept.Invalidate()
	if n := count(kept); n != 1 {
		t.Errorf("after Invalidate the guard saw %d policies, want 1", n)
	}
	// Each request gets its own time and namespace lookup over the shared part.
	a, _ := kept.reads(ctx).snapshot(time.Unix(1, 0))
	b, _ := kept.reads(ctx).snapshot(time.Unix(2, 0))
	if a.Now.Equal(b.Now) || &a.Policies[0] != &b.Policies[0] {
		t.Errorf("requests share the wrong parts: %v %v", a.Now, b.Now)
	}
}

// blockingReader never answers until its context ends, like a cache whose informer cannot sync.
type blockingReader struct{ client.Reader }

func (blockingReader) List(ctx context.Context, _ client.ObjectList, _ ...client.ListOption) error {
	<-ctx.Done()
	return ctx.Err()
}

// A guard whose policies cannot be read answers anyway, denying, within its bound.
func TestGuardFailsClosedWhenItsCacheCannotSync(t *testing.T) {
	defer func(d time.Duration) { snapshotTimeout = d }(snapshotTimeout)
	snapshotTimeout = 200 * time.Millisecond
	g := &Guard{Reader: blockingReader{}}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "u", Operation: admissionv1.Update,
		Resource: metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Namespace: "prod", Name: "cfg",
		UserInfo: authenticationv1.UserInfo{Username: "alice"}}}
	start := time.Now()
	resp := g.Handle(context.Background(), req)
	if resp.Allowed || !strings.Contains(resp.Result.Message, "cannot read its policies") || resp.AuditAnnotations[AnnotationReason] != "LookupFailed" {
		t.Fatalf("response %+v", resp)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %s", took)
	}
}
