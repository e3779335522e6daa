package feed

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/reconcile/source"
)

// Metrics are the feed's Prometheus metrics (writ_witness_*). A nil *Metrics records nothing.
type Metrics struct {
	ready          *prometheus.GaugeVec
	objects        *prometheus.GaugeVec
	publish        prometheus.Histogram
	fetchFailures  *prometheus.CounterVec
	verifyFailures *prometheus.CounterVec
	unaccounted    prometheus.Gauge
}

// NewMetrics creates the feed's metrics and registers them with reg (writ-controller: the
// controller-runtime metrics registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "writ_witness_ready",
			Help: "1 while the witness has an index for the Sync (a verified commit of it is published), else 0: the agent's writes to its objects are then denied."},
			[]string{"namespace", "name"}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "writ_witness_indexed_objects",
			Help: "Objects the newest commit the witness indexed for the Sync declares."}, []string{"namespace", "name"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "writ_witness_publish_duration_seconds",
			Help:    "Time from a verified commit to its objects in the witness's index, per Sync: checkout, render, stamp and Publish.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		fetchFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_witness_fetch_failures_total",
			Help: "Fetches by the witness that failed, by reason (SecretUnavailable, InvalidSource, RefNotFound, AuthFailed, HostKeyUntrusted, TagNameMismatch, FetchFailed)."},
			[]string{"reason"}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_witness_verify_failures_total",
			Help: "Commits the witness refused to index, by the trust policy's reason code (a served commit that no longer verifies counts under its code too)."},
			[]string{"reason"}),
		unaccounted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "writ_witness_unaccounted_mutators",
			Help: "Mutating admission objects (webhook configurations, admission policies and bindings) no verified commit declares and no one trusts by name: while it is not 0, every write of the agent's is denied (UnaccountedMutator)."}),
	}
	for _, c := range []prometheus.Collector{m.ready, m.objects, m.publish, m.fetchFailures, m.verifyFailures, m.unaccounted} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) syncState(sync types.NamespacedName, ready bool, objects int) {
	if m == nil {
		return
	}
	v := 0.0
	if ready {
		v = 1
	}
	m.ready.WithLabelValues(sync.Namespace, sync.Name).Set(v)
	m.objects.WithLabelValues(sync.Namespace, sync.Name).Set(float64(objects))
}

func (m *Metrics) forgetSync(sync types.NamespacedName) {
	if m != nil {
		m.ready.DeleteLabelValues(sync.Namespace, sync.Name)
		m.objects.DeleteLabelValues(sync.Namespace, sync.Name)
	}
}

func (m *Metrics) mutators(n int) {
	if m != nil {
		m.unaccounted.Set(float64(n))
	}
}

func (m *Metrics) published(took time.Duration) {
	if m != nil {
		m.publish.Observe(took.Seconds())
	}
}

func (m *Metrics) fetchFailed(reason string) {
	if m != nil {
		m.fetchFailures.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) verifyFailed(reason string) {
	if m != nil {
		m.verifyFailures.WithLabelValues(reason).Inc()
	}
}

// fetchReason is the reason label of a failed fetch.
func fetchReason(err error) string {
	switch {
	case errors.Is(err, source.ErrInvalidOptions):
		return "InvalidSource"
	case errors.Is(err, source.ErrRefNotFound):
		return "RefNotFound"
	case errors.Is(err, source.ErrAuth):
		return "AuthFailed"
	case errors.Is(err, source.ErrHostKey):
		return "HostKeyUntrusted"
	case errors.Is(err, source.ErrTagName):
		return "TagNameMismatch"
	}
	return "FetchFailed"
}
