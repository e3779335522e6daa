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
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/witness"
)

// unsealerWitness answers CheckUnsealed with result, and notes which check the guard asked.
type unsealerWitness struct {
	result        witness.Result
	asked         *string
	unsealer      string
	witnessedUser string
}

func (u unsealerWitness) Check(w witness.Write) witness.Result {
	*u.asked = "Check"
	return witness.Result{Reason: witness.Undeclared, Operation: w.Operation, Object: w.Object}
}

func (u unsealerWitness) CheckUnsealed(w witness.Write) witness.Result {
	*u.asked = "CheckUnsealed"
	r := u.result
	r.Operation, r.Object = w.Operation, w.Object
	return r
}

func (u unsealerWitness) Witnessed(user string) bool { return user == u.witnessedUser }
func (u unsealerWitness) Unsealer(user string) bool  { return user == u.unsealer }

// TestJudgeUnsealer: the guard asks CheckUnsealed for every Secret write by the unsealer, and
// only for those (not its SealedSecret status, events or other kinds, not another account of the
// same name, not the agent's Secrets); its denial names the field and never a value, is recorded
// as UnverifiedAgentWrite, and takes the declaring Sync's mode.
func TestJudgeUnsealer(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, guardv1.AddToScheme, reconcilev1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	warnSync := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "writ-system", Name: "lenient"}, Spec: reconcilev1.SyncSpec{Witness: reconcilev1.SyncWitnessWarn}}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(warnSync).Build()
	const (
		unsealer = "system:serviceaccount:writ-system:writ-controller"
		agent    = "system:serviceaccount:writ-system:writ-reconciler"
		secret   = `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"shop"},"type":"Opaque","data":{"password":"aHVudGVyMg==","token":"eA=="}}`
	)
	request := func(user, group, resource, kind, sub string, op admissionv1.Operation, obj string) admission.Request {
		return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{UID: "u", Operation: op,
			Resource: metav1.GroupVersionResource{Group: group, Version: "v1", Resource: resource}, SubResource: sub,
			Kind: metav1.GroupVersionKind{Group: group, Version: "v1", Kind: kind}, Namespace: "shop", Name: "db",
			UserInfo: authenticationv1.UserInfo{Username: user}, Object: runtime.RawExtension{Raw: []byte(obj)}, OldObject: runtime.RawExtension{Raw: []byte(obj)}}}
	}
	shop := types.NamespacedName{Namespace: "writ-system", Name: "shop"}
	extra := witness.Result{Reason: witness.UnsealedMismatch, Path: ".data.token", Commit: "c1", Sync: shop}
	for _, c := range []struct {
		name     string
		req      admission.Request
		result   witness.Result
		asked    string // which check: "" none
		allowed  bool
		warn     bool
		contains []string
	}{
		{"an extra key", request(unsealer, "", "secrets", "Secret", "", admissionv1.Create, secret), extra, "CheckUnsealed", false, false,
			[]string{"Secret shop/db", "field .data.token", "SealedSecret shop/db", "commit c1", unverified}},
		{"an update", request(unsealer, "", "secrets", "Secret", "", admissionv1.Update, secret), extra, "CheckUnsealed", false, false, []string{".data.token"}},
		{"a Secret no commit's SealedSecret makes", request(unsealer, "", "secrets", "Secret", "", admissionv1.Create, secret),
			witness.Result{Reason: witness.NoSealedSecret}, "CheckUnsealed", false, false, []string{"no verified commit declares a SealedSecret shop/db"}},
		{"a delete", request(unsealer, "", "secrets", "Secret", "", admissionv1.Delete, ""), witness.Result{Reason: witness.UnsealerDelete},
			"CheckUnsealed", false, false, []string{"never deletes"}},
		{"the real unsealer's Secret", request(unsealer, "", "secrets", "Secret", "", admissionv1.Create, secret),
			witness.Result{Allowed: true, Reason: witness.Unsealed, Commit: "c1", Sync: shop}, "CheckUnsealed", true, false, nil},
		{"the declaring Sync's Warn", request(unsealer, "", "secrets", "Secret", "", admissionv1.Update, secret),
			witness.Result{Reason: witness.UnsealedMismatch, Path: ".type", Commit: "c1", Sync: types.NamespacedName{Namespace: "writ-system", Name: "lenient"}},
			"CheckUnsealed", true, true, []string{".type"}},
		{"its SealedSecret status", request(unsealer, "bitnami.com", "sealedsecrets", "SealedSecret", "status", admissionv1.Update, `{}`), extra, "", true, false, nil},
		{"its events", request(unsealer, "", "events", "Event", "", admissionv1.Create, `{}`), extra, "", true, false, nil},
		{"a ConfigMap (the chain decides)", request(unsealer, "", "configmaps", "ConfigMap", "", admissionv1.Create, `{}`), extra, "", true, false, nil},
		{"an account of the same name elsewhere", request("system:serviceaccount:shop:writ-controller", "", "secrets", "Secret", "", admissionv1.Create, secret), extra, "", true, false, nil},
		{"the agent's Secret is the agent's check", request(agent, "", "secrets", "Secret", "", admissionv1.Create, secret), witness.Result{Reason: witness.Undeclared}, "Check", false, false, []string{"no verified commit declares it"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var asked string
			var rec recording
			g := &Guard{Reader: reader, Recorder: &rec, Witness: unsealerWitness{result: c.result, asked: &asked, unsealer: unsealer, witnessedUser: agent}}
			r, err := toRequest(c.req)
			if err != nil {
				t.Fatal(err)
			}
			rr := g.reads(context.Background())
			defer rr.deadline.stop()
			s, err := rr.snapshot(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			d := g.judge(r, rr, s)
			if asked != c.asked {
				t.Fatalf("asked %q, want %q", asked, c.asked)
			}
			if d == nil {
				if !c.allowed || c.warn {
					t.Fatalf("no decision, want allowed %v warn %v", c.allowed, c.warn)
				}
				return
			}
			if d.Allowed != c.allowed || d.Warn != c.warn || d.auditKind() != audit.UnverifiedAgentWrite {
				t.Fatalf("decision %+v, want allowed %v warn %v, recorded as UnverifiedAgentWrite", d, c.allowed, c.warn)
			}
			for _, want := range c.contains {
				if !strings.Contains(d.Message, want) {
					t.Errorf("message lacks %q: %s", want, d.Message)
				}
			}
			if strings.Contains(d.Message, "aHVudGVy") || strings.Contains(d.Message, "hunter") || strings.Contains(d.Message, "Git declares") {
				t.Errorf("the message carries a value: %s", d.Message)
			}
			g.respond(context.Background(), r, d, nil, time.Now())
			if len(rec) != 1 || rec[0].Kind != audit.UnverifiedAgentWrite || rec[0].Actor.User != c.req.UserInfo.Username || rec[0].Commit != c.result.Commit ||
				(c.result.Path != "" && (len(rec[0].Fields) != 1 || rec[0].Fields[0] != c.result.Path)) {
				t.Errorf("recorded %+v", rec)
			}
		})
	}
}
