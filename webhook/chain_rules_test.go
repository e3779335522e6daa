package webhook

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/audit"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// stub is a test-only plugin that answers d (nil: abstain) with note, and counts its calls.
func stub(name string, d *Decision, note string, calls *int) plugin {
	return plugin{name, func(*Policy, *Request, *Snapshot) (*Decision, string, error) {
		if calls != nil {
			*calls++
		}
		return d, note, nil
	}}
}

// The first plugin that does not abstain decides for its policy, a Deny as much as an Allow; no
// plugin after it is asked.
func TestChainHonoursDeny(t *testing.T) {
	agentPl, exemptionPl, breakGlassPl := perPolicy[0], perPolicy[1], perPolicy[2]
	veto := &Decision{Policy: "prod", Plugin: "veto", Reason: "Vetoed", Message: "writ: vetoed"}
	failing := plugin{"failing", func(*Policy, *Request, *Snapshot) (*Decision, string, error) {
		return nil, "", errors.New("the owner's informer is gone")
	}}
	var later int
	tests := []struct {
		name       string
		mode       guardv1.GuardMode
		chain      chain
		req        *Request
		allow      bool
		warn       bool
		reason     string
		plugin     string
		message    string // a part of the message
		laterCalls int
	}{
		{"a Deny before the agent", guardv1.Enforce, chain{stub("veto", veto, "", nil), agentPl, stub("later", nil, "", &later)},
			deploy("UPDATE", "prod", "web", agent), false, false, "Vetoed", "veto", "vetoed", 0},
		{"a Deny after an abstention, before a live grant", guardv1.Enforce, chain{agentPl, stub("veto", veto, "", nil), breakGlassPl},
			deploy("UPDATE", "prod", "db", "oncall-ann", "oncall"), false, false, "Vetoed", "veto", "vetoed", 0},
		{"an Allow before the Deny", guardv1.Enforce, chain{agentPl, stub("veto", veto, "", nil)},
			deploy("UPDATE", "prod", "web", agent), true, false, "Allowed", "agent", "", 0},
		{"a Deny under a Warn policy warns", guardv1.Warn, chain{stub("veto", veto, "", nil), stub("later", nil, "", &later)},
			deploy("UPDATE", "prod", "web", agent), true, true, "Vetoed", "veto", "vetoed", 0},
		{"all abstain: denied with the first note", guardv1.Enforce,
			chain{stub("quiet", nil, "", nil), stub("noted", nil, "the first note", nil), stub("later", nil, "a second note", &later)},
			deploy("UPDATE", "prod", "web", agent), false, false, "NotAgent", "guard", "(the first note)", 1},
		{"an exemption allows", guardv1.Enforce, chain{exemptionPl, stub("veto", veto, "", nil)},
			with(deploy("UPDATE", "prod", "web", "system:serviceaccount:kube-system:horizontal-pod-autoscaler"), func(r *Request) { r.Subresource = "scale" }),
			true, false, "Exempt", "exemption", "", 0},
		{"a plugin that cannot look denies", guardv1.Enforce, chain{failing, agentPl, stub("later", nil, "", &later)},
			deploy("UPDATE", "prod", "web", agent), false, false, "LookupFailed", "failing", "the owner's informer is gone", 0},
		{"the guard's chain: a live grant", guardv1.Enforce, perPolicy,
			deploy("UPDATE", "prod", "db", "oncall-ann", "oncall"), true, false, "BreakGlass", "breakglass", "", 0},
	}
	for _, tt := range tests {
		later = 0
		d := tt.chain.decide(tt.req, snapshot(testPolicy(t, tt.mode)))
		if d.Allowed != tt.allow || d.Warn != tt.warn || d.Reason != tt.reason || d.Plugin != tt.plugin || d.Policy != "prod" ||
			!strings.Contains(d.Message, tt.message) || later != tt.laterCalls {
			t.Errorf("%s: %+v (later plugin asked %d times), want allowed=%v warn=%v reason=%s plugin=%s, a message with %q, later asked %d times",
				tt.name, d, later, tt.allow, tt.warn, tt.reason, tt.plugin, tt.message, tt.laterCalls)
		}
	}
	if veto.Allowed || veto.Warn {
		t.Errorf("the chain wrote to a plugin's decision: %+v", veto)
	}
}

// policyFor compiles a policy named name protecting namespace prod, with agents (users).
func policyFor(t *testing.T, name string, mode guardv1.GuardMode, agents ...string) *Policy {
	t.Helper()
	gp := &guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: guardv1.GuardPolicySpec{
		Mode: mode, Protect: guardv1.Protection{Namespaces: guardv1.NamespaceSelector{Names: []string{"prod"}}}}}
	for _, a := range agents {
		gp.Spec.Agents = append(gp.Spec.Agents, guardv1.Subject{Kind: guardv1.UserSubject, Name: a})
	}
	p, err := Compile(gp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Across the policies that protect a request: an Enforce denial denies, else a Warn denial warns
// (naming the first Warn policy), else the request is allowed by a break-glass grant if one
// allowed it under any policy, by the first policy that allowed it otherwise.
func TestDecideAcrossPolicies(t *testing.T) {
	prod := testPolicy(t, guardv1.Enforce) // its agent is writ-reconciler; bg-live lets oncall-ann change prod/db
	tests := []struct {
		name       string
		policies   []*Policy
		req        *Request
		allow      bool
		warn       bool
		policy     string
		reason     string
		breakGlass string
		exemption  string
		audit      audit.Kind
	}{
		{"an Enforce denial after an allow", []*Policy{policyFor(t, "open", guardv1.Enforce, "alice"), prod},
			deploy("UPDATE", "prod", "web", "alice"), false, false, "prod", "NotAgent", "", "", audit.MutationDenied},
		{"an Enforce denial after a Warn one", []*Policy{policyFor(t, "soft", guardv1.Warn), policyFor(t, "strict", guardv1.Enforce)},
			deploy("UPDATE", "prod", "web", "alice"), false, false, "strict", "NotAgent", "", "", audit.MutationDenied},
		{"two Warn denials: the first warns", []*Policy{policyFor(t, "soft-a", guardv1.Warn), policyFor(t, "soft-b", guardv1.Warn)},
			deploy("UPDATE", "prod", "web", "alice"), true, true, "soft-a", "NotAgent", "", "", audit.MutationWarned},
		{"a Warn denial beside an allow", []*Policy{policyFor(t, "open", guardv1.Enforce, "alice"), policyFor(t, "soft", guardv1.Warn)},
			deploy("UPDATE", "prod", "web", "alice"), true, true, "soft", "NotAgent", "", "", audit.MutationWarned},
		{"two allows: the first names the policy", []*Policy{policyFor(t, "first", guardv1.Enforce, "alice"), policyFor(t, "second", guardv1.Enforce, "alice")},
			deploy("UPDATE", "prod", "web", "alice"), true, false, "first", "Allowed", "", "", ""},
		{"break-glass after an agent's allow", []*Policy{policyFor(t, "open", guardv1.Enforce, "oncall-ann"), prod},
			deploy("UPDATE", "prod", "db", "oncall-ann", "oncall"), true, false, "prod", "BreakGlass", "bg-live", "", audit.BreakGlassUsed},
		{"break-glass before an agent's allow", []*Policy{prod, policyFor(t, "open", guardv1.Enforce, "oncall-ann")},
			deploy("UPDATE", "prod", "db", "oncall-ann", "oncall"), true, false, "prod", "BreakGlass", "bg-live", "", audit.BreakGlassUsed},
		{"an exemption names itself", []*Policy{prod},
			with(deploy("UPDATE", "prod", "web", "system:serviceaccount:kube-system:horizontal-pod-autoscaler"), func(r *Request) { r.Subresource = "scale" }),
			true, false, "prod", "Exempt", "", "hpa", ""},
		{"no policy protects it", []*Policy{prod, policyFor(t, "open", guardv1.Enforce)},
			deploy("UPDATE", "dev", "web", "alice"), true, false, "", "Unprotected", "", "", ""},
	}
	for _, tt := range tests {
		s := snapshot(prod)
		s.Policies = tt.policies
		d := Decide(tt.req, s)
		if d.Allowed != tt.allow || d.Warn != tt.warn || d.Policy != tt.policy || d.Reason != tt.reason || d.BreakGlass != tt.breakGlass ||
			d.Exemption != tt.exemption || d.auditKind() != tt.audit {
			t.Errorf("%s: %+v (audit %q), want allowed=%v warn=%v policy=%q reason=%s breakGlass=%q exemption=%q audit %q",
				tt.name, d, d.auditKind(), tt.allow, tt.warn, tt.policy, tt.reason, tt.breakGlass, tt.exemption, tt.audit)
		}
	}
}

func with(r *Request, f func(*Request)) *Request { f(r); return r }

// Every decision maps to one audit kind, and no string becomes one.
func TestAuditKind(t *testing.T) {
	for _, c := range []struct {
		name string
		d    Decision
		want audit.Kind
	}{
		{"denied", Decision{Reason: "NotAgent"}, audit.MutationDenied},
		{"denied, whatever it says it is", Decision{Reason: "BreakGlassApproved", Audit: audit.BreakGlassApproved}, audit.MutationDenied},
		{"warned", Decision{Allowed: true, Warn: true, Reason: "NotAgent"}, audit.MutationWarned},
		{"allowed", Decision{Allowed: true, Reason: "Allowed"}, ""},
		{"allowed, with a reason that is a kind's name", Decision{Allowed: true, Reason: "BreakGlassRequested"}, ""},
		{"a grant used", Decision{Allowed: true, Reason: "BreakGlass", BreakGlass: "bg", Audit: audit.BreakGlassUsed}, audit.BreakGlassUsed},
		{"a request created", Decision{Allowed: true, Reason: "BreakGlassRequested", Audit: audit.BreakGlassRequested}, audit.BreakGlassRequested},
		{"a request approved", Decision{Allowed: true, Reason: "BreakGlassApproved", Audit: audit.BreakGlassApproved}, audit.BreakGlassApproved},
		{"the witness denied", Decision{Reason: "Mismatch", Audit: audit.UnverifiedAgentWrite}, audit.UnverifiedAgentWrite},
		{"the witness warned", Decision{Allowed: true, Warn: true, Reason: "Mismatch", Audit: audit.UnverifiedAgentWrite}, audit.UnverifiedAgentWrite},
		{"allowed, never recorded as unverified", Decision{Allowed: true, Reason: "Declared", Audit: audit.UnverifiedAgentWrite}, ""},
	} {
		if got := c.d.auditKind(); got != c.want {
			t.Errorf("%s: audit kind %q, want %q", c.name, got, c.want)
		}
	}
}

// recording is a Recorder that keeps what it gets.
type recording []audit.Event

func (rec *recording) Record(_ context.Context, e audit.Event) { *rec = append(*rec, e) }

// The response records the decision's audit kind and carries its audit annotations, kept per
// guard except for a grant's.
func TestRespondRecordsAndAnnotates(t *testing.T) {
	var rec recording
	g := &Guard{Recorder: &rec}
	r := deploy("UPDATE", "prod", "db", "oncall-ann", "oncall")
	for _, c := range []struct {
		d    Decision
		kind audit.Kind // "": no record
		ann  map[string]string
	}{
		{Decision{Policy: "prod", Reason: "NotAgent", Message: "writ: denied"}, audit.MutationDenied,
			map[string]string{AnnotationDecision: "denied", AnnotationReason: "NotAgent", AnnotationPolicy: "prod"}},
		{Decision{Allowed: true, Warn: true, Policy: "prod", Reason: "NotAgent", Message: "writ: denied"}, audit.MutationWarned,
			map[string]string{AnnotationDecision: "warned", AnnotationReason: "NotAgent", AnnotationPolicy: "prod"}},
		{Decision{Allowed: true, Plugin: "unprotected", Reason: "Unprotected"}, "",
			map[string]string{AnnotationDecision: "allowed", AnnotationReason: "Unprotected"}},
		{Decision{Allowed: true, Policy: "prod", Reason: "BreakGlass", BreakGlass: "bg-live", Audit: audit.BreakGlassUsed}, audit.BreakGlassUsed,
			map[string]string{AnnotationDecision: "allowed", AnnotationReason: "BreakGlass", AnnotationPolicy: "prod", AnnotationBreakGlass: "bg-live"}},
		{Decision{Allowed: true, Reason: "BreakGlassRequested", BreakGlass: "bg-new", Message: "INC-1: the database is down", Audit: audit.BreakGlassRequested}, audit.BreakGlassRequested,
			map[string]string{AnnotationDecision: "allowed", AnnotationReason: "BreakGlassRequested", AnnotationBreakGlass: "bg-new"}},
	} {
		rec = nil
		resp := g.respond(context.Background(), r, &c.d, nil, now)
		if len(rec) != min(len(c.kind), 1) || (len(rec) == 1 && rec[0].Kind != c.kind) {
			t.Errorf("%+v: recorded %+v, want kind %q", c.d, rec, c.kind)
		}
		if len(rec) == 1 && c.kind == audit.BreakGlassRequested && rec[0].Reason != c.d.Message {
			t.Errorf("a request's record does not carry its justification: %+v", rec[0])
		}
		if len(resp.AuditAnnotations) != len(c.ann) {
			t.Errorf("%+v: annotations %v, want %v", c.d, resp.AuditAnnotations, c.ann)
		}
		for k, v := range c.ann {
			if resp.AuditAnnotations[k] != v {
				t.Errorf("%+v: annotations %v, want %v", c.d, resp.AuditAnnotations, c.ann)
			}
		}
		if resp.Allowed != c.d.Allowed || (len(resp.Warnings) > 0) != c.d.Warn {
			t.Errorf("%+v: response allowed=%v warnings=%q", c.d, resp.Allowed, resp.Warnings)
		}
	}
	denied := &Decision{Policy: "prod", Reason: "NotAgent"}
	if a, b := g.annotations.of(denied), g.annotations.of(denied); !sameMap(a, b) {
		t.Errorf("the annotations of one decision are not shared: %v %v", a, b)
	}
	if other := (&Guard{}).annotations.of(denied); sameMap(other, g.annotations.of(denied)) {
		t.Error("two guards share an annotation cache")
	}
	grant := &Decision{Allowed: true, Policy: "prod", Reason: "BreakGlass", BreakGlass: "bg-live"}
	if sameMap(g.annotations.of(grant), g.annotations.of(grant)) {
		t.Error("a grant's annotations are kept")
	}
}

// sameMap reports whether a and b are the same map (not equal ones).
func sameMap(a, b map[string]string) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	a["\x00probe"] = "x"
	_, same := b["\x00probe"]
	delete(a, "\x00probe")
	return same
}
