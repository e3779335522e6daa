package kuberecorder

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
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
		// A write made on another version of the object is another write (see Name).
		"other version": func(x *audit.Event) { x.ResourceVersion = "13" },
		"other uid":     func(x *audit.Event) { x.Object.UID = "u-2" },
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

// A client whose discovery does not know the AuditEvent kind yet (its CRD was just installed)
// fails a few creates with "no matches for kind": the recorder keeps trying instead of losing the
// event, and gives up only on an error that retrying cannot cure.
func TestPutRetriesUntilTheKindIsKnown(t *testing.T) {
	s := runtime.NewScheme()
	if err := auditv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	gk := schema.GroupKind{Group: auditv1.GroupVersion.Group, Kind: "AuditEvent"}
	for name, tc := range map[string]struct {
		failures int
		err      error
		stored   bool
	}{
		"unknown kind, then known": {failures: 3, err: &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: []string{"v1alpha1"}}, stored: true},
		"apiserver unavailable":    {failures: 2, err: apierrors.NewServiceUnavailable("restarting"), stored: true},
		"forbidden":                {failures: 1, err: apierrors.NewForbidden(schema.GroupResource{Group: gk.Group, Resource: "auditevents"}, "", errors.New("no")), stored: false},
	} {
		t.Run(name, func(t *testing.T) {
			calls := 0
			c := fake.NewClientBuilder().WithScheme(s).WithInterceptorFuncs(interceptor.Funcs{
				Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					calls++
					if calls <= tc.failures {
						return tc.err
					}
					return c.Create(ctx, obj, opts...)
				}}).Build()
			sk := &sink{c: c, o: Options{Namespace: "writ-system", Bucket: time.Second}}
			err := sk.put(context.Background(), audit.Event{Kind: audit.DriftDetected, Time: time.Now()})
			var list auditv1.AuditEventList
			if lerr := c.List(context.Background(), &list); lerr != nil {
				t.Fatal(lerr)
			}
			if tc.stored && (err != nil || len(list.Items) != 1) {
				t.Fatalf("put = %v after %d calls, %d events stored; want the event stored", err, calls, len(list.Items))
			}
			if !tc.stored && (err == nil || len(list.Items) != 0 || calls != 1) {
				t.Fatalf("put = %v after %d calls, %d events stored; want one refused attempt", err, calls, len(list.Items))
			}
		})
	}
}

// TestUnverifiedAgentWritesAreNeverAggregated: two identical UnverifiedAgentWrite records are two
// AuditEvents, each counting one, where two identical denials fold into one counting two.
func TestUnverifiedAgentWritesAreNeverAggregated(t *testing.T) {
	s := runtime.NewScheme()
	if err := auditv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		kind          audit.Kind
		objects, each int
	}{{audit.UnverifiedAgentWrite, 2, 1}, {audit.MutationDenied, 1, 2}} {
		c := fake.NewClientBuilder().WithScheme(s).Build()
		sk := &sink{c: c, o: Options{Namespace: "writ-system", Bucket: time.Minute}}
		e := audit.Event{Kind: tc.kind, Time: at, Actor: audit.Actor{User: "system:serviceaccount:writ-system:writ-reconciler"},
			Object: audit.ObjectRef{Kind: "ConfigMap", Namespace: "shop", Name: "settings"}, Operation: "UPDATE", Fields: []string{".data.mode"}, Reason: "Mismatch"}
		for range 2 {
			if err := sk.put(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		var list auditv1.AuditEventList
		if err := c.List(context.Background(), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != tc.objects {
			t.Fatalf("%s: %d AuditEvents of two identical records, want %d", tc.kind, len(list.Items), tc.objects)
		}
		for _, x := range list.Items {
			if x.Spec.Count != tc.each {
				t.Errorf("%s: an AuditEvent counts %d, want %d", tc.kind, x.Spec.Count, tc.each)
			}
		}
	}
}
