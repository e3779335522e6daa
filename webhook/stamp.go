package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	jsonpatch "gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Stamp is the mutating admission handler (registered by the MutatingWebhookConfiguration
// writ-breakglass) that sets a BreakGlassRequest's spec.approvedAt from its own clock when an
// update approves it, so that a grant runs from the time the approval was admitted, whatever the
// approver wrote. The apiserver has no clock of its own to offer here (CEL in admission policies
// has no "now"). The validating guard does not depend on it: it accepts an approvedAt only
// within approvalSkew before its own clock and never later than approvalFuture after it.
type Stamp struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
}

var _ admission.Handler = (*Stamp)(nil)

// approval is what the stamp reads of a BreakGlassRequest.
type approval struct {
	Spec struct {
		ApprovedBy string `json:"approvedBy"`
	} `json:"spec"`
}

// Handle stamps approvals and lets everything else through unchanged.
func (s *Stamp) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Update || req.Resource.Group != guardv1.GroupVersion.Group ||
		req.Resource.Resource != "breakglassrequests" || req.SubResource != "" {
		return admission.Allowed("")
	}
	var before, after approval
	if err := json.Unmarshal(req.OldObject.Raw, &before); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if err := json.Unmarshal(req.Object.Raw, &after); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if after.Spec.ApprovedBy == "" || before.Spec.ApprovedBy != "" {
		return admission.Allowed("")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	// RFC 3339 to the second, as metav1.Time is stored: truncated, so never in the future.
	at := now().UTC().Truncate(time.Second).Format(time.RFC3339)
	return admission.Patched("writ: approvedAt is the admission time", jsonpatch.JsonPatchOperation{Operation: "add", Path: "/spec/approvedAt", Value: at})
}
