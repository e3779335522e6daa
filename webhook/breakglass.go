package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// approvalSkew is how far an approval's approvedAt may be from the admission time.
const approvalSkew = 2 * time.Minute

// validateBreakGlass admits BreakGlassRequests: a requester-group member creates one for
// themselves within the policies' maximum duration; a different user in an approver group
// approves it by setting approvedBy (themselves) and approvedAt (now), changing nothing else; an
// approved request never changes again.
func (g *Guard) validateBreakGlass(_ context.Context, req admission.Request, r *Request, s *Snapshot) Decision {
	deny := func(reason, format string, args ...any) Decision {
		return Decision{Plugin: "breakglass", Reason: reason, Message: "writ: " + fmt.Sprintf(format, args...)}
	}
	if r.Operation == "DELETE" || r.Operation == "CONNECT" {
		return Decision{Allowed: true, Plugin: "breakglass", Reason: "Allowed"}
	}
	var bgr, old guardv1.BreakGlassRequest
	if err := json.Unmarshal(req.Object.Raw, &bgr); err != nil {
		return deny("Malformed", "cannot read the BreakGlassRequest: %v", err)
	}
	if r.Subresource != "" {
		return deny("BreakGlassEdit", "break-glass requests have no %s to change", r.Subresource)
	}
	spec := bgr.Spec
	switch r.Operation {
	case "CREATE":
		if spec.Requester != r.User {
			return deny("BreakGlassRequester", "spec.requester must be you (%q), not %q", r.User, spec.Requester)
		}
		max := time.Duration(0)
		for _, p := range s.Policies {
			if inAny(r, p.breakGlass.RequesterGroups) && p.MaxBreakGlass > max {
				max = p.MaxBreakGlass
			}
		}
		if max == 0 {
			return deny("BreakGlassNotRequester", "%q is in no break-glass requester group of any GuardPolicy", r.User)
		}
		if spec.ApprovedBy != "" || spec.ApprovedAt != nil {
			return deny("BreakGlassSelfApproval", "a request is created unapproved; another person approves it")
		}
		if d := spec.Duration.Duration; d <= 0 || d > max {
			return deny("BreakGlassDuration", "spec.duration %s must be positive and at most %s", d, max)
		}
		return Decision{Allowed: true, Plugin: "breakglass", Reason: "BreakGlassRequested", BreakGlass: bgr.Name, Message: spec.Justification}
	case "UPDATE":
		if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
			return deny("Malformed", "cannot read the previous BreakGlassRequest: %v", err)
		}
		if old.Spec.ApprovedBy != "" {
			if reflect.DeepEqual(old.Spec, spec) {
				return Decision{Allowed: true, Plugin: "breakglass", Reason: "Allowed"} // metadata only
			}
			return deny("BreakGlassEdit", "request %q is approved and cannot change: create a new one", bgr.Name)
		}
		if spec.ApprovedBy == "" {
			if reflect.DeepEqual(old.Spec, spec) {
				return Decision{Allowed: true, Plugin: "breakglass", Reason: "Allowed"}
			}
			return deny("BreakGlassEdit", "a pending request cannot change: delete it and create a new one")
		}
		unchanged := spec
		unchanged.ApprovedBy, unchanged.ApprovedAt = "", nil
		if !reflect.DeepEqual(old.Spec, unchanged) {
			return deny("BreakGlassEdit", "an approval sets only approvedBy and approvedAt")
		}
		if spec.ApprovedBy != r.User {
			return deny("BreakGlassApprover", "spec.approvedBy must be you (%q)", r.User)
		}
		if r.User == spec.Requester {
			return deny("BreakGlassSelfApproval", "%q cannot approve their own request: another approver must", r.User)
		}
		approver := false
		for _, p := range s.Policies {
			approver = approver || inAny(r, p.breakGlass.ApproverGroups)
		}
		if !approver {
			return deny("BreakGlassApprover", "%q is in no break-glass approver group of any GuardPolicy", r.User)
		}
		if spec.ApprovedAt == nil || absDuration(spec.ApprovedAt.Sub(s.Now)) > approvalSkew {
			return deny("BreakGlassApprovedAt", "spec.approvedAt must be the current time (within %s)", approvalSkew)
		}
		return Decision{Allowed: true, Plugin: "breakglass", Reason: "BreakGlassApproved", BreakGlass: bgr.Name}
	}
	return deny("Unsupported", "operation %s on a BreakGlassRequest", r.Operation)
}

func inAny(r *Request, groups []string) bool {
	for _, g := range groups {
		if r.InGroup(g) {
			return true
		}
	}
	return false
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
