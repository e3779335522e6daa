package webhook

import (
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"writ.dev/writ/audit"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// breakGlassSnapshot has prod's policy (requesters oncall, approvers leads, at most 1 h) and an
// SRE one (requesters sre, at most 4 h).
func breakGlassSnapshot(t *testing.T) *Snapshot {
	t.Helper()
	sre, err := Compile(&guardv1.GuardPolicy{ObjectMeta: metav1.ObjectMeta{Name: "sre"}, Spec: guardv1.GuardPolicySpec{
		BreakGlass: guardv1.BreakGlassPolicy{RequesterGroups: []string{"sre"}, ApproverGroups: []string{"sre-leads"}, MaxDuration: &metav1.Duration{Duration: 4 * time.Hour}}}})
	if err != nil {
		t.Fatal(err)
	}
	return &Snapshot{Policies: []*Policy{testPolicy(t, guardv1.Enforce), sre}, Now: now}
}

func bgRequest(op, user string, groups ...string) *Request {
	return &Request{Operation: op, Group: "writ.dev", Version: "v1alpha1", Resource: "breakglassrequests", Kind: "BreakGlassRequest", Name: "bg", User: user, Groups: groups}
}

// bgObject is ann's pending request for prod/db for 30 minutes, changed by f.
func bgObject(f func(*guardv1.BreakGlassRequestSpec)) *guardv1.BreakGlassRequest {
	b := &guardv1.BreakGlassRequest{ObjectMeta: metav1.ObjectMeta{Name: "bg"}, Spec: guardv1.BreakGlassRequestSpec{
		Requester: "ann", Justification: "INC-7: payments are down", Ticket: "INC-7",
		Scope:    guardv1.BreakGlassScope{Namespaces: []string{"prod"}, Names: []string{"db"}},
		Duration: metav1.Duration{Duration: 30 * time.Minute}}}
	if f != nil {
		f(&b.Spec)
	}
	return b
}

// approvedBy approves a spec as user at at.
func approvedBy(user string, at time.Time) func(*guardv1.BreakGlassRequestSpec) {
	return func(s *guardv1.BreakGlassRequestSpec) { s.ApprovedBy, s.ApprovedAt = user, &metav1.Time{Time: at} }
}

func TestDecideBreakGlass(t *testing.T) {
	s := breakGlassSnapshot(t)
	pending := bgObject(nil)
	approved := bgObject(approvedBy("lea", now))
	tests := []struct {
		name     string
		req      *Request
		bgr, old *guardv1.BreakGlassRequest
		allow    bool
		reason   string
		message  string // a part of the message
	}{
		{"delete", bgRequest("DELETE", "mallory"), nil, nil, true, "Allowed", ""},
		{"connect", bgRequest("CONNECT", "mallory"), nil, nil, true, "Allowed", ""},
		{"no object", bgRequest("CREATE", "ann", "oncall"), nil, nil, false, "Malformed", "carries none"},
		{"a subresource", with(bgRequest("UPDATE", "lea", "leads"), func(r *Request) { r.Subresource = "status" }), approved, pending, false, "BreakGlassEdit", "no status to change"},
		{"an unknown operation", bgRequest("PATCH", "ann", "oncall"), pending, nil, false, "Unsupported", "operation PATCH"},

		{"create for someone else", bgRequest("CREATE", "bob", "oncall"), pending, nil, false, "BreakGlassRequester", `must be you ("bob"), not "ann"`},
		{"create outside every requester group", bgRequest("CREATE", "ann", "leads"), pending, nil, false, "BreakGlassNotRequester", "no break-glass requester group"},
		{"create approved", bgRequest("CREATE", "ann", "oncall"), bgObject(approvedBy("ann", now)), nil, false, "BreakGlassSelfApproval", "created unapproved"},
		{"create with approvedAt alone", bgRequest("CREATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.ApprovedAt = &metav1.Time{Time: now} }), nil,
			false, "BreakGlassSelfApproval", "created unapproved"},
		{"create with no duration", bgRequest("CREATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.Duration.Duration = 0 }), nil,
			false, "BreakGlassDuration", "must be positive"},
		{"create with a negative duration", bgRequest("CREATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.Duration.Duration = -time.Minute }), nil,
			false, "BreakGlassDuration", "must be positive"},
		{"create beyond the maximum", bgRequest("CREATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.Duration.Duration = time.Hour + time.Second }), nil,
			false, "BreakGlassDuration", "at most 1h0m0s"},
		{"create for the maximum", bgRequest("CREATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.Duration.Duration = time.Hour }), nil,
			true, "BreakGlassRequested", "INC-7"},
		{"create within the largest maximum of the requester's policies", bgRequest("CREATE", "ann", "oncall", "sre"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.Duration.Duration = 3 * time.Hour }), nil,
			true, "BreakGlassRequested", "INC-7"},
		{"create beyond the largest maximum", bgRequest("CREATE", "ann", "oncall", "sre"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.Duration.Duration = 5 * time.Hour }), nil,
			false, "BreakGlassDuration", "at most 4h0m0s"},
		{"create with an empty scope", bgRequest("CREATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.Scope = guardv1.BreakGlassScope{} }), nil,
			false, "BreakGlassScope", "name the namespaces"},
		{"create for RBAC", bgRequest("CREATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) {
			s.Scope.Resources = []guardv1.ResourceRule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}}}
		}), nil, false, "BreakGlassScope", "never in a break-glass scope"},
		{"create for a wildcard name", bgRequest("CREATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.Scope.Names = []string{"*"} }), nil,
			false, "BreakGlassScope", "is not an object's name"},
		{"create for an unnamed cluster object", bgRequest("CREATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) {
			s.Scope.ClusterResources = []guardv1.NamedResource{{APIGroup: "", Resource: "persistentvolumes"}}
		}), nil, false, "BreakGlassScope", "in scope only by name"},
		{"create", bgRequest("CREATE", "ann", "oncall"), pending, nil, true, "BreakGlassRequested", "INC-7: payments are down"},

		{"update without the previous object", bgRequest("UPDATE", "lea", "leads"), approved, nil, false, "Malformed", "previous BreakGlassRequest"},
		{"a pending request's metadata", bgRequest("UPDATE", "ann", "oncall"), pending, bgObject(nil), true, "Allowed", ""},
		{"a pending request changed", bgRequest("UPDATE", "ann", "oncall"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.Duration.Duration = time.Hour }), pending,
			false, "BreakGlassEdit", "a pending request cannot change"},
		{"an approval that changes the scope", bgRequest("UPDATE", "lea", "leads"), bgObject(func(s *guardv1.BreakGlassRequestSpec) {
			approvedBy("lea", now)(s)
			s.Scope.Names = nil
		}), pending, false, "BreakGlassEdit", "sets only approvedBy and approvedAt"},
		{"an approval in another's name", bgRequest("UPDATE", "lea", "leads"), bgObject(approvedBy("leo", now)), pending, false, "BreakGlassApprover", `approvedBy must be you ("lea")`},
		{"self-approval", bgRequest("UPDATE", "ann", "oncall", "leads"), bgObject(approvedBy("ann", now)), pending, false, "BreakGlassSelfApproval", "cannot approve their own request"},
		{"an approver in no approver group", bgRequest("UPDATE", "mallory", "oncall", "sre"), bgObject(approvedBy("mallory", now)), pending, false, "BreakGlassApprover", "no break-glass approver group"},
		{"an approver of another policy", bgRequest("UPDATE", "sam", "sre-leads"), bgObject(approvedBy("sam", now)), pending, true, "BreakGlassApproved", ""},
		{"an approval without approvedAt", bgRequest("UPDATE", "lea", "leads"), bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.ApprovedBy = "lea" }), pending,
			false, "BreakGlassApprovedAt", "approvedAt must be set"},
		{"approvedAt 2 s ahead", bgRequest("UPDATE", "lea", "leads"), bgObject(approvedBy("lea", now.Add(2*time.Second))), pending, false, "BreakGlassApprovedAt", "never later"},
		{"approvedAt 1 s ahead", bgRequest("UPDATE", "lea", "leads"), bgObject(approvedBy("lea", now.Add(time.Second))), pending, true, "BreakGlassApproved", ""},
		{"approvedAt 10 s ago", bgRequest("UPDATE", "lea", "leads"), bgObject(approvedBy("lea", now.Add(-10*time.Second))), pending, true, "BreakGlassApproved", ""},
		{"approvedAt 11 s ago", bgRequest("UPDATE", "lea", "leads"), bgObject(approvedBy("lea", now.Add(-11*time.Second))), pending, false, "BreakGlassApprovedAt", "at most 10s earlier"},
		{"approval", bgRequest("UPDATE", "lea", "leads"), approved, pending, true, "BreakGlassApproved", ""},
		{"an approved request's metadata", bgRequest("UPDATE", "ann", "oncall"), bgObject(approvedBy("lea", now)), approved, true, "Allowed", ""},
		{"an approved request extended", bgRequest("UPDATE", "lea", "leads"), bgObject(func(s *guardv1.BreakGlassRequestSpec) {
			approvedBy("lea", now)(s)
			s.Duration.Duration = time.Hour
		}), approved, false, "BreakGlassEdit", `request "bg" is approved and cannot change`},
		{"an approved request re-approved later", bgRequest("UPDATE", "lea", "leads"), bgObject(approvedBy("lea", now.Add(time.Minute))), approved,
			false, "BreakGlassEdit", "is approved and cannot change"},
		{"an approval withdrawn", bgRequest("UPDATE", "lea", "leads"), pending, approved, false, "BreakGlassEdit", "is approved and cannot change"},
	}
	for _, tt := range tests {
		d := decideBreakGlass(tt.req, tt.bgr, tt.old, s)
		if d.Allowed != tt.allow || d.Reason != tt.reason || d.Plugin != "breakglass" || !strings.Contains(d.Message, tt.message) {
			t.Errorf("%s: %+v, want allowed=%v reason=%s and a message with %q", tt.name, d, tt.allow, tt.reason, tt.message)
		}
		if !d.Allowed && !strings.HasPrefix(d.Message, "writ: ") {
			t.Errorf("%s: the denial %q does not say it is writ's", tt.name, d.Message)
		}
		want := audit.Kind("")
		switch tt.reason {
		case "BreakGlassRequested":
			want = audit.BreakGlassRequested
		case "BreakGlassApproved":
			want = audit.BreakGlassApproved
		}
		if d.Audit != want || (want != "" && d.BreakGlass != "bg") {
			t.Errorf("%s: audit %q for %q, want %q for bg", tt.name, d.Audit, d.BreakGlass, want)
		}
	}
}

// validateBreakGlass decodes the objects and fails closed on what it cannot read, refusing a
// subresource before it looks at the previous object.
func TestValidateBreakGlassDecodes(t *testing.T) {
	s := breakGlassSnapshot(t)
	good := []byte(`{"metadata":{"name":"bg"},"spec":{"requester":"ann","justification":"INC-7: payments are down","scope":{"namespaces":["prod"]},"duration":"30m"}}`)
	review := func(op, sub string, object, old []byte) admission.Request {
		var req admission.Request
		req.Operation, req.SubResource = admissionv1.Operation(op), sub
		req.Object, req.OldObject = runtime.RawExtension{Raw: object}, runtime.RawExtension{Raw: old}
		return req
	}
	for _, c := range []struct {
		name, op, sub  string
		object, old    []byte
		reason, phrase string
	}{
		{"a delete is not read", "DELETE", "", []byte("{"), nil, "Allowed", ""},
		{"an unreadable object", "CREATE", "", []byte("{"), nil, "Malformed", "cannot read the BreakGlassRequest"},
		{"an unreadable previous object", "UPDATE", "", good, []byte("{"), "Malformed", "cannot read the previous BreakGlassRequest"},
		{"a subresource, before the previous object", "UPDATE", "status", good, []byte("{"), "BreakGlassEdit", "no status to change"},
		{"an unchanged update", "UPDATE", "", good, good, "Allowed", ""},
		{"a create", "CREATE", "", good, nil, "BreakGlassRequested", "INC-7"},
	} {
		r := bgRequest(c.op, "ann", "oncall")
		r.Subresource = c.sub
		d := validateBreakGlass(review(c.op, c.sub, c.object, c.old), r, s)
		if d.Reason != c.reason || !strings.Contains(d.Message, c.phrase) {
			t.Errorf("%s: %+v, want reason %s and a message with %q", c.name, d, c.reason, c.phrase)
		}
	}
}

// A BreakGlassRequest is a grant once approved, with a scope the guard accepts today, until a
// day after it expires; it expires its duration after its approval.
func TestGrantOf(t *testing.T) {
	for _, c := range []struct {
		name  string
		bgr   *guardv1.BreakGlassRequest
		grant bool
	}{
		{"approved", bgObject(approvedBy("lea", now.Add(-time.Minute))), true},
		{"pending", bgObject(nil), false},
		{"approved without a time", bgObject(func(s *guardv1.BreakGlassRequestSpec) { s.ApprovedBy = "lea" }), false},
		{"expired within the day", bgObject(approvedBy("lea", now.Add(-23*time.Hour))), true},
		{"expired over a day ago", bgObject(approvedBy("lea", now.Add(-25*time.Hour))), false},
		{"a scope refused today", bgObject(func(s *guardv1.BreakGlassRequestSpec) {
			approvedBy("lea", now)(s)
			s.Scope.Names = []string{"*"}
		}), false},
	} {
		g, ok := grantOf(c.bgr, now)
		if ok != c.grant {
			t.Errorf("%s: a grant %v, want %v", c.name, ok, c.grant)
		}
		if ok && (g.ID != "bg" || g.Requester != "ann" || !g.Expires.Equal(c.bgr.Spec.ApprovedAt.Add(30*time.Minute))) {
			t.Errorf("%s: grant %+v", c.name, g)
		}
	}
	g := Grant{ID: "bg", Requester: "ann", Scope: guardv1.BreakGlassScope{Namespaces: []string{"prod"}}, Expires: now}
	if !g.liveAt(now.Add(-time.Nanosecond)) || g.liveAt(now) {
		t.Error("a grant is live until, not at, its expiry")
	}
	if !g.covers(deploy("UPDATE", "prod", "web", "ann")) || g.covers(deploy("UPDATE", "prod", "web", "bob")) || g.covers(deploy("UPDATE", "dev", "web", "ann")) {
		t.Error("a grant covers its requester's requests in its scope alone")
	}
}
