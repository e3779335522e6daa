package controller_test

import (
	"github.com/prometheus/client_golang/prometheus"

	"writ.dev/writ/test/harness"
)

// metricValue returns the value of the counter or gauge name (with label=value when label is
// not empty) from reg, 0 if absent.
func metricValue(reg *prometheus.Registry, name, label, value string) float64 {
	var labels map[string]string
	if label != "" {
		labels = map[string]string{label: value}
	}
	v, _ := harness.Metric(reg, name, labels)
	return v
}
