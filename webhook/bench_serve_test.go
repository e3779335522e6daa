package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// BenchmarkServeHTTP measures the whole server-side path of one AdmissionReview in
// controller-runtime's webhook handler (read, decode, decide, encode), without TLS or the network:
// CPU and allocations per review, for the guard and a no-op.
func BenchmarkServeHTTP(b *testing.B) {
	benchQuiet()
	world := newBenchMemory()
	kept := benchGuard(b, world)
	kept.KeepSnapshot()
	replay := map[string]admission.Response{}
	var bodies [][]byte
	for _, r := range benchReviews(b) {
		var review admissionv1.AdmissionReview
		benchCheck(b, json.Unmarshal(r.body, &review))
		replay[string(review.Request.UID)] = kept.Handle(context.Background(), admission.Request{AdmissionRequest: *review.Request})
		bodies = append(bodies, r.body)
	}
	for _, c := range []struct {
		name string
		h    admission.Handler
	}{
		{"guard", kept},
		{"replay", admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response { return replay[string(req.UID)] })},
		{"noop", admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })},
	} {
		b.Run(c.name, func(b *testing.B) {
			var h http.Handler = &crwebhook.Admission{Handler: c.h}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(bodies[i%len(bodies)]))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
