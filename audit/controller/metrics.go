package controller

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the audit component's Prometheus metrics.
type Metrics struct {
	records     *prometheus.CounterVec
	errors      prometheus.Counter
	rejected    prometheus.Counter
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
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "writ_audit_checkpoints_total",
			Help: "Signed checkpoints of the audit chain."}),
	}
	reg.MustRegister(m.records, m.errors, m.rejected, m.checkpoints)
	return m
}
