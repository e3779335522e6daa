package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"writ.dev/writ/witness"
)

// Metrics are the guard's Prometheus metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
	witness  *prometheus.CounterVec
}

// NewMetrics creates and registers the guard's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_admission_requests_total",
			Help: "Admission requests decided by the guard, by operation, decision (allowed, denied, warned) and reason."},
			[]string{"operation", "decision", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "writ_admission_decision_seconds",
			Help:    "Time the guard takes to decide one admission request.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1}}),
		witness: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_witness_decisions_total",
			Help: "Writes by Writ's agent the witness judged, by reason (Declared, Prune, Mismatch, Undeclared, DeleteDeclared, NotReady, Malformed, Subresource) and decision (allowed, denied, warned, off: what the effective mode made of a write no verified commit declares)."},
			[]string{"reason", "decision"}),
	}
	reg.MustRegister(m.requests, m.latency, m.witness)
	return m
}

func (m *Metrics) observe(op string, d *Decision, took time.Duration) {
	m.requests.WithLabelValues(op, d.outcome(), d.Reason).Inc()
	m.latency.Observe(took.Seconds())
}

// witnessed counts one of the witness's decisions; a nil Metrics counts nothing.
func (m *Metrics) witnessed(reason witness.Reason, decision string) {
	if m != nil {
		m.witness.WithLabelValues(string(reason), decision).Inc()
	}
}
