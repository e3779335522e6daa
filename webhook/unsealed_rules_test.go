package webhook

import (
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

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
	reader := judgeReader(t)
	const (
		unsealer = "system:serviceaccount:writ-system:writ-controller"
		agent    = "system:serviceaccount:writ-system:writ-reconciler"
		secret   = `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"shop"},"type":"Opaque","data":{"password":"aHVudGVyMg==","token":"eA=="}}`
	)
	request := func(user, group, resource, kind, sub string, op admissionv1.Operation, obj string) admission.Request {
		return review(user, group, resource, kind, sub, "db", op, obj)
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
			r, d := judged(t, g, c.req)
			if asked != c.asked {
				t.Fatalf("asked %q, want %q", asked, c.asked)
			}
			judgedAs(t, g, &rec, r, d, c.result, c.allowed, c.warn, c.contains, []string{"aHVudGVy", "hunter", "Git declares"})
		})
	}
}
