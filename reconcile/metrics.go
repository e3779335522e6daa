package reconcile

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the reconciler's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	syncDuration   *prometheus.HistogramVec
	objects        *prometheus.CounterVec
	drift          *prometheus.CounterVec
	verifyFailures *prometheus.CounterVec
	revoked        *prometheus.GaugeVec
}

// NewMetrics creates and registers the reconciler's metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "writ_sync_duration_seconds",
			Help: "Time one Sync reconciliation takes (render, apply, prune, health).", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)},
			[]string{"namespace", "name", "result"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_sync_objects_total",
			Help: "Objects applied by syncs, by action: created, configured, pruned."}, []string{"action"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_drift_events_total",
			Help: "Objects found drifted from Git, by the sync's drift mode (Heal, Warn)."}, []string{"mode"}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_verify_failures_total",
			Help: "Fetched commits refused by the trust policy, by reason code."}, []string{"reason"}),
		revoked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "writ_source_revoked",
			Help: "1 while a GitSource's served commit no longer verifies under its TrustPolicy (its syncs are frozen), else 0."},
			[]string{"namespace", "name"}),
	}
	reg.MustRegister(m.syncDuration, m.objects, m.drift, m.verifyFailures, m.revoked)
	return m
}

func (m *Metrics) observeSync(ns, name, result string, took time.Duration) {
	if m != nil {
		m.syncDuration.WithLabelValues(ns, name, result).Observe(took.Seconds())
	}
}

func (m *Metrics) applied(counts map[string]int) {
	if m == nil {
		return
	}
	for _, a := range []string{"created", "configured", "pruned"} {
		m.objects.WithLabelValues(a).Add(float64(counts[a]))
	}
}

func (m *Metrics) drifted(mode string, n int) {
	if m != nil && n > 0 {
		m.drift.WithLabelValues(mode).Add(float64(n))
	}
}

func (m *Metrics) verifyFailed(reason string) {
	if m != nil {
		m.verifyFailures.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) sourceRevoked(ns, name string, revoked bool) {
	if m == nil {
		return
	}
	v := 0.0
	if revoked {
		v = 1
	}
	m.revoked.WithLabelValues(ns, name).Set(v)
}

func (m *Metrics) forgetSource(ns, name string) {
	if m != nil {
		m.revoked.DeleteLabelValues(ns, name)
	}
}
