package controller

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the sealing component's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	keys     prometheus.Gauge
	renewals prometheus.Counter
}

// Error reasons of writ_unseal_errors_total.
const (
	ReasonUnseal    = "unseal"    // the ciphertext does not open (tampered, moved, wrong or missing key)
	ReasonUnmanaged = "unmanaged" // a Secret of that name exists and is not ours to overwrite
	ReasonUpdate    = "update"    // writing the Secret failed
	ReasonStatus    = "status"    // writing the SealedSecret's status failed
	ReasonKeys      = "keys"      // reading the key Secrets failed
)

// NewMetrics creates and registers the sealing metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_unseal_requests_total",
			Help: "SealedSecrets the controller tried to unseal, by result (ok, error)."}, []string{"result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "writ_unseal_errors_total",
			Help: "Failed unseals, by reason: unseal, unmanaged, update, status, keys."}, []string{"reason"}),
		keys: prometheus.NewGauge(prometheus.GaugeOpts{Name: "writ_sealing_keys",
			Help: "Usable sealing keys (active, not compromised) in the controller's namespace."}),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{Name: "writ_sealing_key_renewals_total",
			Help: "New sealing keys made by the controller."}),
	}
	reg.MustRegister(m.requests, m.errors, m.keys, m.renewals)
	return m
}

func (m *Metrics) request(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.requests.WithLabelValues("error").Inc()
		return
	}
	m.requests.WithLabelValues("ok").Inc()
}

func (m *Metrics) failed(reason string) {
	if m != nil {
		m.errors.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) setKeys(n int) {
	if m != nil {
		m.keys.Set(float64(n))
	}
}

func (m *Metrics) renewed() {
	if m != nil {
		m.renewals.Inc()
	}
}
