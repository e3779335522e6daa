package kuberecorder

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"writ.dev/writ/audit"
)

func TestNameAggregatesOnlyIdenticalEventsInABucket(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 5, 0, time.UTC)
	e := audit.Event{Kind: audit.MutationDenied, Time: at, Actor: audit.Actor{User: "bob"}, Object: audit.ObjectRef{Kind: "ConfigMap", Namespace: "prod", Name: "x"}, Reason: "no"}
	same := e
	same.Time = at.Add(20 * time.Second)
	if Name(e, 30*time.Second) != Name(same, 30*time.Second) {
		t.Error("identical events in one bucket got different names")
	}
	for name, f := range map[string]func(*audit.Event){
		"other user":   func(x *audit.Event) { x.Actor.User = "eve" },
		"other object": func(x *audit.Event) { x.Object.Name = "y" },
		"other reason": func(x *audit.Event) { x.Reason = "still no" },
		"next bucket":  func(x *audit.Event) { x.Time = at.Add(time.Minute) },
	} {
		x := e
		f(&x)
		if Name(x, 30*time.Second) == Name(e, 30*time.Second) {
			t.Errorf("%s: aggregated with a different event", name)
		}
	}
	if n := Name(e, time.Second); len(n) > 63 || !strings.HasPrefix(n, "mutationdenied-") {
		t.Errorf("name %q is not a valid object name", n)
	}
}

func TestMetricsExposeRecorderCounters(t *testing.T) {
	b := audit.NewBuffered(func(_ context.Context, e audit.Event) error {
		if e.Reason == "fail" {
			return errors.New("refused")
		}
		return nil
	}, audit.BufferedOptions{})
	b.Record(context.Background(), audit.Event{Kind: audit.DriftDetected})
	b.Record(context.Background(), audit.Event{Kind: audit.DriftDetected, Reason: "fail"})
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := RegisterMetrics(reg, "webhook", b); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if got["delivered"] != 1 || got["failed"] != 1 || got["dropped"] != 0 {
		t.Fatalf("metrics %v", got)
	}
}
