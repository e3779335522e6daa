package harness

import "github.com/prometheus/client_golang/prometheus"

// Metric returns the value of the first counter or gauge called name in g whose labels include
// every pair in labels (nil: any), and whether there is one.
func Metric(g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	mfs, _ := g.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := 0
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					match++
				}
			}
			if match < len(labels) {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}
