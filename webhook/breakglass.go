package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// An approval's approvedAt must lie within approvalSkew before the guard's clock and at most
// approvalFuture after it: writ-breakglass (Stamp) sets it to the admission time, and a client
// cannot extend a grant by dating its approval ahead.
const (
	approvalSkew   = 10 * time.Second
	approvalFuture = time.Second
)

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
		if err := ValidateBreakGlassScope(spec.Scope); err != nil {
			return deny("BreakGlassScope", "spec.scope: %v", err)
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
		if spec.ApprovedAt == nil {
			return deny("BreakGlassApprovedAt", "spec.approvedAt must be set: the writ-breakglass webhook sets it to the admission time, or set it to the current time")
		}
		if d := spec.ApprovedAt.Sub(s.Now); d > approvalFuture || d < -approvalSkew {
			return deny("BreakGlassApprovedAt", "spec.approvedAt %s is not the admission time %s (it may be at most %s earlier, never later): a grant runs from its approval",
				spec.ApprovedAt.UTC().Format(time.RFC3339), s.Now.UTC().Format(time.RFC3339), approvalSkew)
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

// NeverInBreakGlassScope reports whether a resource is beyond any break-glass request: RBAC, admission
// configuration and Writ's own kinds, with which a grant's holder could widen their own access or
// switch the guard off.
func NeverInBreakGlassScope(group, resource string) bool {
	switch {
	case group == "rbac.authorization.k8s.io", group == "admissionregistration.k8s.io":
		return true
	case group == guardv1.GroupVersion.Group || strings.HasSuffix(group, "."+guardv1.GroupVersion.Group):
		return true
	}
	return false
}

// neverNamed reports whether a cluster-scoped object is beyond any break-glass request: the
// definitions of Writ's own kinds (deleting one deletes every object of it).
func neverNamed(group, resource, name string) bool {
	return group == "apiextensions.k8s.io" && resource == "customresourcedefinitions" &&
		(name == guardv1.GroupVersion.Group || strings.HasSuffix(name, "."+guardv1.GroupVersion.Group))
}

// ValidateBreakGlassScope checks a request's scope when it is created (and a stored grant
// before it is honoured): namespaces by name, cluster-scoped objects only named, no wildcard
// names, and nothing NeverInBreakGlassScope. Whatever mirrors grants elsewhere (the fallback
// policy's) must skip a scope it refuses.
func ValidateBreakGlassScope(sc guardv1.BreakGlassScope) error {
	if len(sc.Namespaces) == 0 && len(sc.ClusterResources) == 0 {
		return fmt.Errorf("name the namespaces or the cluster-scoped objects it covers")
	}
	for _, ns := range sc.Namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("namespace %q: %s (cluster-scoped objects go in clusterResources, each named)", ns, strings.Join(errs, "; "))
		}
	}
	for _, rr := range sc.Resources {
		for _, g := range rr.APIGroups {
			for _, res := range rr.Resources {
				if NeverInBreakGlassScope(g, res) {
					return fmt.Errorf("resources: %s: RBAC, admission configuration and Writ's own kinds are never in a break-glass scope", groupResource(g, res))
				}
			}
		}
	}
	for _, n := range sc.Names {
		if n == "" || n == "*" || n != trimmed(n) {
			return fmt.Errorf("names: %q is not an object's name", n)
		}
	}
	for _, c := range sc.ClusterResources {
		if c.Resource == "" || c.Resource == "*" || c.APIGroup == "*" {
			return fmt.Errorf("clusterResources: name the API group and resource, without wildcards")
		}
		if NeverInBreakGlassScope(c.APIGroup, c.Resource) {
			return fmt.Errorf("clusterResources: %s: RBAC, admission configuration and Writ's own kinds are never in a break-glass scope", groupResource(c.APIGroup, c.Resource))
		}
		if len(c.Names) == 0 {
			return fmt.Errorf("clusterResources: %s: name the objects; a cluster-scoped object is in scope only by name", groupResource(c.APIGroup, c.Resource))
		}
		for _, n := range c.Names {
			if n == "" || n == "*" || n != trimmed(n) {
				return fmt.Errorf("clusterResources: %s: %q is not an object's name", groupResource(c.APIGroup, c.Resource), n)
			}
			if neverNamed(c.APIGroup, c.Resource, n) {
				return fmt.Errorf("clusterResources: the definition %s of Writ's own kind is never in a break-glass scope", n)
			}
		}
	}
	return nil
}
