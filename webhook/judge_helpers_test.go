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

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/witness"
)

// judgeReader is what the witness step reads in the tests of judge: one Sync,
// writ-system/lenient, whose spec.witness is Warn.
func judgeReader(t *testing.T) client.Reader {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, guardv1.AddToScheme, reconcilev1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	warnSync := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "writ-system", Name: "lenient"}, Spec: reconcilev1.SyncSpec{Witness: reconcilev1.SyncWitnessWarn}}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(warnSync).Build()
}

// review is an admission request in namespace shop, its old object the same as the new.
func review(user, group, resource, kind, sub, name string, op admissionv1.Operation, obj string) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "u", Operation: op,
		Resource: metav1.GroupVersionResource{Group: group, Version: "v1", Resource: resource}, SubResource: sub,
		Kind: metav1.GroupVersionKind{Group: group, Version: "v1", Kind: kind}, Namespace: "shop", Name: name,
		UserInfo: authenticationv1.UserInfo{Username: user}, Object: runtime.RawExtension{Raw: []byte(obj)}, OldObject: runtime.RawExtension{Raw: []byte(obj)}}}
}

// judged runs g's witness step on req: the request and the decision (nil: none).
func judged(t *testing.T, g *Guard, req admission.Request) (*Request, *Decision) {
	t.Helper()
	r, err := toRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	rr := g.reads(context.Background())
	defer rr.deadline.stop()
	s, err := rr.snapshot(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r, g.judge(r, rr, s)
}

// judgedAs checks the witness step's decision d on r: none, or allowed and warned as wanted,
// its message with every contains and none of absent, and, once answered, one
// UnverifiedAgentWrite in rec with the actor, the result's commit and path, and the mode.
func judgedAs(t *testing.T, g *Guard, rec *recording, r *Request, d *Decision, res witness.Result, allowed, warn bool, contains, absent []string) {
	t.Helper()
	if d == nil {
		if !allowed || warn {
			t.Fatalf("no decision, want allowed %v warn %v", allowed, warn)
		}
		return
	}
	if d.Allowed != allowed || d.Warn != warn || d.auditKind() != audit.UnverifiedAgentWrite {
		t.Fatalf("decision %+v, want allowed %v warn %v, recorded as UnverifiedAgentWrite", d, allowed, warn)
	}
	for _, want := range contains {
		if !strings.Contains(d.Message, want) {
			t.Errorf("message lacks %q: %s", want, d.Message)
		}
	}
	for _, no := range absent {
		if strings.Contains(d.Message, no) {
			t.Errorf("message carries %q: %s", no, d.Message)
		}
	}
	g.respond(context.Background(), r, d, nil, time.Now())
	if len(*rec) != 1 || (*rec)[0].Kind != audit.UnverifiedAgentWrite || (*rec)[0].Actor.User != r.User || (*rec)[0].Commit != res.Commit ||
		(res.Path != "" && (len((*rec)[0].Fields) != 1 || (*rec)[0].Fields[0] != res.Path)) || (*rec)[0].Policy != string(d.WitnessMode) {
		t.Errorf("recorded %+v", *rec)
	}
}
