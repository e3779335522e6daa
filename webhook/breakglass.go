package webhook

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"writ.dev/writ/audit"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/webhook/breakglass"
)

// An approval's approvedAt must lie within approvalSkew before the guard's clock and at most
// approvalFuture after it: writ-breakglass (Stamp) sets it to the admission time, and a client
// cannot extend a grant by dating its approval ahead.
const (
	approvalSkew   = 10 * time.Second
	approvalFuture = time.Second
)

// Grant is an approved break-glass request.
type Grant struct {
	ID        string
	Requester string
	Scope     guardv1.BreakGlassScope
	Expires   time.Time
}

// grantOf returns the grant an approved BreakGlassRequest is, as of now. Grants that expired
// over a day ago are dropped; Decide checks every grant's expiry against the request's time, so a
// kept snapshot never extends one. A scope that would be refused today (stored before the guard
// checked scopes) grants nothing.
func grantOf(b *guardv1.BreakGlassRequest, now time.Time) (Grant, bool) {
	if b.Spec.ApprovedBy == "" || b.Spec.ApprovedAt == nil || !now.Before(b.Spec.ApprovedAt.Add(b.Spec.Duration.Duration+24*time.Hour)) ||
		ValidateBreakGlassScope(b.Spec.Scope) != nil {
		return Grant{}, false
	}
	return Grant{ID: b.Name, Requester: b.Spec.Requester, Scope: b.Spec.Scope, Expires: b.Spec.ApprovedAt.Add(b.Spec.Duration.Duration)}, true
}

// covers reports whether the grant is the requester's and its scope covers the request, live or
// not.
func (g *Grant) covers(r *Request) bool {
	return g.Requester == r.User && inScope(g.Scope, r)
}

// liveAt reports whether the grant has not expired at now.
func (g *Grant) liveAt(now time.Time) bool { return now.Before(g.Expires) }

// inScope reports whether a grant's scope covers the request (breakglass.Covers).
func inScope(sc guardv1.BreakGlassScope, r *Request) bool {
	return breakglass.Covers(sc, breakglass.Object{Group: r.Group, Resource: r.Resource, Namespace: r.Namespace, Name: r.Name})
}

// validateBreakGlass admits BreakGlassRequests: it decodes the objects of the admission request
// and leaves the decision to decideBreakGlass.
func validateBreakGlass(req admission.Request, r *Request, s *Snapshot) Decision {
	if r.Operation == "DELETE" || r.Operation == "CONNECT" {
		return decideBreakGlass(r, nil, nil, s) // allowed without reading the object
	}
	var bgr, old guardv1.BreakGlassRequest
	if err := json.Unmarshal(req.Object.Raw, &bgr); err != nil {
		return breakGlassDenial("Malformed", "cannot read the BreakGlassRequest: %v", err)
	}
	var previous *guardv1.BreakGlassRequest
	if r.Operation == "UPDATE" && r.Subresource == "" { // a subresource is refused before looking
		if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
			return breakGlassDenial("Malformed", "cannot read the previous BreakGlassRequest: %v", err)
		}
		previous = &old
	}
	return decideBreakGlass(r, &bgr, previous, s)
}

// decideBreakGlass is the rule for BreakGlassRequests, given the request, the object (bgr) and,
// on UPDATE, the previous one (old), and the policies and time of s: a requester-group member
// creates one for themselves within the policies' maximum duration; a different user in an
// approver group approves it by setting approvedBy (themselves) and approvedAt (now), changing
// nothing else; an approved request never changes again. DELETE and CONNECT are allowed. A
// missing object is denied.
func decideBreakGlass(r *Request, bgr, old *guardv1.BreakGlassRequest, s *Snapshot) Decision {
	allowed := Decision{Allowed: true, Plugin: "breakglass", Reason: "Allowed"}
	if r.Operation == "DELETE" || r.Operation == "CONNECT" {
		return allowed
	}
	if bgr == nil {
		return breakGlassDenial("Malformed", "cannot read the BreakGlassRequest: the request carries none")
	}
	if r.Subresource != "" {
		return breakGlassDenial("BreakGlassEdit", "break-glass requests have no %s to change", r.Subresource)
	}
	spec := bgr.Spec
	switch r.Operation {
	case "CREATE":
		if spec.Requester != r.User {
			return breakGlassDenial("BreakGlassRequester", "spec.requester must be you (%q), not %q", r.User, spec.Requester)
		}
		max := time.Duration(0)
		for _, p := range s.Policies {
			if inAny(r, p.breakGlass.RequesterGroups) && p.MaxBreakGlass > max {
				max = p.MaxBreakGlass
			}
		}
		if max == 0 {
			return breakGlassDenial("BreakGlassNotRequester", "%q is in no break-glass requester group of any GuardPolicy", r.User)
		}
		if spec.ApprovedBy != "" || spec.ApprovedAt != nil {
			return breakGlassDenial("BreakGlassSelfApproval", "a request is created unapproved; another person approves it")
		}
		if d := spec.Duration.Duration; d <= 0 || d > max {
			return breakGlassDenial("BreakGlassDuration", "spec.duration %s must be positive and at most %s", d, max)
		}
		if err := ValidateBreakGlassScope(spec.Scope); err != nil {
			return breakGlassDenial("BreakGlassScope", "spec.scope: %v", err)
		}
		return Decision{Allowed: true, Plugin: "breakglass", Reason: "BreakGlassRequested", BreakGlass: bgr.Name, Message: spec.Justification, Audit: audit.BreakGlassRequested}
	case "UPDATE":
		if old == nil {
			return breakGlassDenial("Malformed", "cannot read the previous BreakGlassRequest: the request carries none")
		}
		if old.Spec.ApprovedBy != "" {
			if reflect.DeepEqual(old.Spec, spec) {
				return allowed // metadata only
			}
			return breakGlassDenial("BreakGlassEdit", "request %q is approved and cannot change: create a new one", bgr.Name)
		}
		if spec.ApprovedBy == "" {
			if reflect.DeepEqual(old.Spec, spec) {
				return allowed
			}
			return breakGlassDenial("BreakGlassEdit", "a pending request cannot change: delete it and create a new one")
		}
		unchanged := spec
		unchanged.ApprovedBy, unchanged.ApprovedAt = "", nil
		if !reflect.DeepEqual(old.Spec, unchanged) {
			return breakGlassDenial("BreakGlassEdit", "an approval sets only approvedBy and approvedAt")
		}
		if spec.ApprovedBy != r.User {
			return breakGlassDenial("BreakGlassApprover", "spec.approvedBy must be you (%q)", r.User)
		}
		if r.User == spec.Requester {
			return breakGlassDenial("BreakGlassSelfApproval", "%q cannot approve their own request: another approver must", r.User)
		}
		approver := false
		for _, p := range s.Policies {
			approver = approver || inAny(r, p.breakGlass.ApproverGroups)
		}
		if !approver {
			return breakGlassDenial("BreakGlassApprover", "%q is in no break-glass approver group of any GuardPolicy", r.User)
		}
		if spec.ApprovedAt == nil {
			return breakGlassDenial("BreakGlassApprovedAt", "spec.approvedAt must be set: the writ-breakglass webhook sets it to the admission time, or set it to the current time")
		}
		if d := spec.ApprovedAt.Sub(s.Now); d > approvalFuture || d < -approvalSkew {
			return breakGlassDenial("BreakGlassApprovedAt", "spec.approvedAt %s is not the admission time %s (it may be at most %s earlier, never later): a grant runs from its approval",
				spec.ApprovedAt.UTC().Format(time.RFC3339), s.Now.UTC().Format(time.RFC3339), approvalSkew)
		}
		return Decision{Allowed: true, Plugin: "breakglass", Reason: "BreakGlassApproved", BreakGlass: bgr.Name, Audit: audit.BreakGlassApproved}
	}
	return breakGlassDenial("Unsupported", "operation %s on a BreakGlassRequest", r.Operation)
}

// breakGlassDenial is decideBreakGlass's denial, with its reason code and message.
func breakGlassDenial(reason, format string, args ...any) Decision {
	return Decision{Plugin: "breakglass", Reason: reason, Message: "writ: " + fmt.Sprintf(format, args...)}
}

func inAny(r *Request, groups []string) bool {
	for _, g := range groups {
		if r.InGroup(g) {
			return true
		}
	}
	return false
}

// NeverInBreakGlassScope reports whether a resource is beyond any break-glass request: RBAC,
// admission configuration and Writ's own kinds (breakglass.NeverInScope).
func NeverInBreakGlassScope(group, resource string) bool {
	return breakglass.NeverInScope(group, resource)
}

// ValidateBreakGlassScope checks a request's scope when it is created (and a stored grant
// before it is honoured): breakglass.ValidateScope. Whatever mirrors grants elsewhere (the
// fallback policy's) must skip a scope it refuses.
func ValidateBreakGlassScope(sc guardv1.BreakGlassScope) error { return breakglass.ValidateScope(sc) }
