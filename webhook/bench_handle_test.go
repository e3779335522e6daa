package webhook_test

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// BenchmarkGuardHandle measures the guard's own work per AdmissionReview (the requests
// BenchmarkGuardOverTLS sends, already decoded), in CPU time and allocations: unlike latency
// percentiles under load, these do not depend on what else the machine runs. kept is the guard as
// writ-controller runs it (policies and grants kept between requests), fresh reads and compiles
// them on every request (as right after a change).
func BenchmarkGuardHandle(b *testing.B) {
	benchQuiet()
	var reqs []admission.Request
	for _, r := range benchReviews(b) {
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(r.body, &review); err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, admission.Request{AdmissionRequest: *review.Request})
	}
	world := newBenchMemory()
	kept := benchGuard(b, world)
	kept.KeepSnapshot()
	for _, c := range []struct {
		name string
		h    admission.Handler
	}{
		{"kept", kept},
		{"fresh", benchGuard(b, world)},
		{"noop", admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = c.h.Handle(ctx, reqs[i%len(reqs)])
			}
		})
	}
}
