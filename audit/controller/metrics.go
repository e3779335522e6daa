package controller

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the audit component's Prometheus metrics.
type Metrics struct {
	records     *prometheus.CounterVec
	errors      prometheus.Counter
	rejected    prometheus.Counter
	refused     *prometheus.CounterVec
	checkpoints prometheus.Counter
}

// NewMetrics creates and registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_audit_records_total",
			Help: "Audit records appended to the store, by kind."}, []string{"kind"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "writ_audit_store_errors_total",
			Help: "Failed appends to the audit store (the AuditEvent is kept and retried)."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "writ_audit_invalid_events_total",
			Help: "AuditEvents that can never be stored (unknown kind, secret material); kept for inspection."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_audit_refused_events_total",
			Help: "AuditEvents refused because the apiserver did not stamp them as created by one of Writ's service accounts " +
				"(reason: unstamped, submitter, policy); kept, never stored. Any increase is worth an alert: someone else " +
				"created an AuditEvent, or the stamping policy is missing."}, []string{"reason"}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "writ_audit_checkpoints_total",
			Help: "Signed checkpoints of the audit chain."}),
	}
	reg.MustRegister(m.records, m.errors, m.rejected, m.refused, m.checkpoints)
	return m
}
