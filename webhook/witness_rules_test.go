package webhook

import (
	"strings"
	"testing"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/witness"
)

// fixedWitness answers every Check with result and says what Git declares (DeclaredValuer).
type fixedWitness struct {
	result witness.Result
	got    *witness.Write
}

func (f fixedWitness) Check(w witness.Write) witness.Result {
	*f.got = w
	r := f.result
	r.Operation, r.Object = w.Operation, w.Object
	return r
}
func (f fixedWitness) Witnessed(user string) bool {
	return user == "system:serviceaccount:writ-system:writ-reconciler"
}
func (f fixedWitness) CheckUnsealed(w witness.Write) witness.Result { return f.Check(w) }
func (f fixedWitness) Unsealer(string) bool                         { return false }
func (f fixedWitness) DeclaredValue(witness.Result) (string, bool) {
	return `"safe"`, true
}

func TestStricter(t *testing.T) {
	for _, c := range []struct{ a, b, want guardv1.WitnessMode }{
		{"", "", ""}, {"", guardv1.WitnessOff, guardv1.WitnessOff}, {guardv1.WitnessOff, guardv1.WitnessWarn, guardv1.WitnessWarn},
		{guardv1.WitnessEnforce, guardv1.WitnessOff, guardv1.WitnessEnforce}, {guardv1.WitnessWarn, "Bogus", guardv1.WitnessEnforce},
	} {
		if got := stricter(c.a, c.b); got != c.want {
			t.Errorf("stricter(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}

// TestJudge: what the guard makes of the witness's Results, without a control plane: the Write
// it builds, the denial with the value Git declares (never a Secret's), the subresources it
// denies itself, bookkeeping and other users skipped, the Sync's mode for a mismatch and the
// default otherwise, and the record it makes.
func TestJudge(t *testing.T) {
	reader := judgeReader(t)
	const agent = "system:serviceaccount:writ-system:writ-reconciler"
	cm := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"shop","labels":{"writ.dev/managed":"writ-system.shop"}},"data":{"mode":"evil"}}`
	request := review
	mismatch := witness.Result{Reason: witness.Mismatch, Path: ".data.mode", Commit: "c1", Sync: types.NamespacedName{Namespace: "writ-system", Name: "shop"}}
	for _, c := range []struct {
		name     string
		req      admission.Request
		result   witness.Result
		mode     guardv1.WitnessMode // the Guard's default
		checked  bool
		allowed  bool
		warn     bool
		contains []string
		absent   []string
	}{
		{"a declared value differs", request(agent, "", "configmaps", "ConfigMap", "", "settings", admissionv1.Update, cm), mismatch, "", true, false, false,
			[]string{"ConfigMap shop/settings", ".data.mode", "commit c1", "(Git declares .data.mode = \"safe\")", unverified}, nil},
		{"a Secret's value is never shown", request(agent, "", "secrets", "Secret", "", "creds", admissionv1.Update, cm), witness.Result{Reason: witness.Mismatch, Path: ".data.password", Commit: "c1", Sync: mismatch.Sync},
			"", true, false, false, []string{".data.password"}, []string{"Git declares", "safe"}},
		{"the default mode Warn", request(agent, "", "configmaps", "ConfigMap", "", "settings", admissionv1.Update, cm), mismatch, guardv1.WitnessWarn, true, true, true, []string{".data.mode"}, nil},
		{"the declaring Sync's Warn", request(agent, "", "configmaps", "ConfigMap", "", "settings", admissionv1.Update, cm),
			witness.Result{Reason: witness.Mismatch, Path: ".data.mode", Commit: "c1", Sync: types.NamespacedName{Namespace: "writ-system", Name: "lenient"}}, "", true, true, true, nil, nil},
		{"the labelled Sync's Warn is not asked for an undeclared object", request(agent, "", "configmaps", "ConfigMap", "", "settings", admissionv1.Create, cm),
			witness.Result{Reason: witness.Undeclared, Sync: types.NamespacedName{Namespace: "writ-system", Name: "lenient"}}, "", true, false, false, []string{"no verified commit declares it"}, nil},
		{"a declared write while a mutator is unaccounted for", request(agent, "", "configmaps", "ConfigMap", "", "settings", admissionv1.Update, cm),
			witness.Result{Reason: witness.UnaccountedMutator, Commit: "c1", Sync: mismatch.Sync, Why: "MutatingWebhookConfiguration.admissionregistration.k8s.io mallory: no verified commit declares it"},
			"", true, false, false, []string{"mallory: no verified commit declares it", "--witness-trusted-mutators", unverified}, []string{"Git declares"}},
		{"the declaring Sync's Warn while a mutator is unaccounted for", request(agent, "", "configmaps", "ConfigMap", "", "settings", admissionv1.Update, cm),
			witness.Result{Reason: witness.UnaccountedMutator, Commit: "c1", Sync: types.NamespacedName{Namespace: "writ-system", Name: "lenient"}, Why: "x: no verified commit declares it"},
			"", true, true, true, []string{"x: no verified commit declares it"}, nil},
		{"Off", request(agent, "", "configmaps", "ConfigMap", "", "settings", admissionv1.Update, cm), mismatch, guardv1.WitnessOff, true, true, false, nil, nil},
		{"declared", request(agent, "", "configmaps", "ConfigMap", "", "settings", admissionv1.Update, cm), witness.Result{Allowed: true, Reason: witness.Declared}, "", true, true, false, nil, nil},
		{"scale", request(agent, "apps", "deployments", "Scale", "scale", "web", admissionv1.Update, `{"kind":"Scale","apiVersion":"autoscaling/v1"}`),
			witness.Result{Allowed: true, Reason: witness.Declared}, "", false, false, false, []string{"deployments.apps shop/web (scale)", "never another subresource"}, nil},
		{"bookkeeping", request(agent, "coordination.k8s.io", "leases", "Lease", "", "l", admissionv1.Update, `{}`), mismatch, "", false, true, false, nil, nil},
		{"another user", request("alice", "", "configmaps", "ConfigMap", "", "settings", admissionv1.Update, cm), mismatch, "", false, true, false, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got witness.Write
			var rec recording
			g := &Guard{Reader: reader, Recorder: &rec, Witness: fixedWitness{result: c.result, got: &got}, WitnessMode: c.mode}
			r, d := judged(t, g, c.req)
			if checked := got.Operation != ""; checked != c.checked {
				t.Fatalf("checked %v, want %v", checked, c.checked)
			}
			if c.checked && (got.Object.Name != r.Name || !got.RawValidated || string(got.Raw) != string(c.req.Object.Raw) ||
				got.Sync != (types.NamespacedName{Namespace: "writ-system", Name: "shop"})) {
				t.Errorf("the Write %+v", got)
			}
			judgedAs(t, g, &rec, r, d, c.result, c.allowed, c.warn, c.contains, c.absent)
		})
	}
}

// TestBookkeepingExpressionNamesEveryEntry: the CEL the witness entry skips covers each entry of
// agentBookkeeping (evaluated by the real apiserver in TestWitnessEntryWithTheWebhookDown).
func TestBookkeepingExpressionNamesEveryEntry(t *testing.T) {
	expr := BookkeepingExpression()
	if n := strings.Count(expr, " || ") + 1; n != len(agentBookkeeping) {
		t.Fatalf("%d terms for %d entries: %s", n, len(agentBookkeeping), expr)
	}
	for _, b := range agentBookkeeping {
		if !strings.Contains(expr, "'"+b.group+"'") || (b.resource != "*" && !strings.Contains(expr, "'"+b.resource+"'")) {
			t.Errorf("%+v not in %s", b, expr)
		}
		r := &Request{Group: b.group, Resource: b.resource, Subresource: b.subresource}
		if b.resource == "*" {
			r.Resource = "syncs"
		}
		if !Bookkeeping(r) {
			t.Errorf("%+v is not bookkeeping", b)
		}
	}
	for _, r := range []*Request{{Group: "writ.dev", Resource: "syncs"}, {Group: "", Resource: "configmaps"}, {Group: "apps", Resource: "deployments", Subresource: "status"},
		{Group: "coordination.k8s.io", Resource: "leases", Subresource: "status"}} {
		if Bookkeeping(r) {
			t.Errorf("%+v counted as bookkeeping", r)
		}
	}
}

func TestShortened(t *testing.T) {
	long := strings.Repeat("é", maxDeclaredValue) // two bytes each
	got := shortened(long)
	if len(got) > maxDeclaredValue+len("…") || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Errorf("shortened to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if shortened(`"safe"`) != `"safe"` {
		t.Error("a short value changed")
	}
}
