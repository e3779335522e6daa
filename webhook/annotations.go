package webhook

import (
	"sync"
	"sync/atomic"
)

// Audit annotations the guard adds to the Kubernetes audit log.
const (
	AnnotationDecision   = "decision"
	AnnotationPolicy     = "policy"
	AnnotationReason     = "reason"
	AnnotationBreakGlass = "break-glass"
)

// maxAnnotationSets bounds an annotationCache: outcomes, reasons and policies are few, but
// policies come and go with their names.
const maxAnnotationSets = 4096

// annotationCache holds the audit annotations of every outcome, reason and policy seen, shared
// by the responses that carry them (they are only read: encoded into the AdmissionReview).
type annotationCache struct {
	sets  sync.Map // annotationKey -> map[string]string
	count atomic.Int64
}

type annotationKey struct{ outcome, reason, policy string }

// of returns the audit annotations of a decision.
func (c *annotationCache) of(d *Decision) map[string]string {
	key := annotationKey{d.outcome(), d.Reason, d.Policy}
	if d.BreakGlass == "" {
		if ann, ok := c.sets.Load(key); ok {
			return ann.(map[string]string)
		}
	}
	ann := map[string]string{AnnotationDecision: key.outcome, AnnotationReason: d.Reason}
	if d.Policy != "" {
		ann[AnnotationPolicy] = d.Policy
	}
	if d.BreakGlass != "" { // one per grant: not kept
		ann[AnnotationBreakGlass] = d.BreakGlass
		return ann
	}
	if c.count.Add(1) <= maxAnnotationSets {
		c.sets.Store(key, ann)
	}
	return ann
}
