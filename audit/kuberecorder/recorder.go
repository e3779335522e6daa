package kuberecorder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
)

// Options configure a recorder.
type Options struct {
	// Namespace is where AuditEvents are created: Writ's own namespace.
	Namespace string
	// Bucket is the aggregation window for identical events (default 30s).
	Bucket time.Duration
	// Buffer is the queue size (default 4096).
	Buffer int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnError is called when an event could not be handed over (it is then counted as failed).
	OnError func(audit.Event, error)
}

// New returns a Recorder creating AuditEvents with c. Close it to drain the queue.
func New(c client.Client, o Options) *audit.Buffered {
	if o.Bucket <= 0 {
		o.Bucket = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &sink{c: c, o: o}
	return audit.NewBuffered(s.put, audit.BufferedOptions{Size: o.Buffer, Now: o.Now, OnError: o.OnError})
}

type sink struct {
	c client.Client
	o Options
}

// Name returns the AuditEvent name for e: identical events in the same time bucket share it.
func Name(e audit.Event, bucket time.Duration) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%d",
		e.Kind, e.Actor.User, strings.Join(e.Actor.Groups, ","), e.Object.String(), e.Operation, e.Reason,
		e.Policy, e.Commit, e.BreakGlass, strings.Join(e.Fields, ","), e.Time.Truncate(bucket).Unix())
	if e.ResourceVersion != "" || e.Object.UID != "" {
		// A write made on another version is another write, not a retry of the same one: a
		// warned write's record must keep the version a drift record is joined on.
		fmt.Fprintf(h, "\x00%s\x00%s", e.Object.UID, e.ResourceVersion)
	}
	return strings.ToLower(string(e.Kind)) + "-" + hex.EncodeToString(h.Sum(nil))[:20]
}

// aggregates reports whether repeats of a kind fold into one record (attempts, not facts).
func aggregates(k audit.Kind) bool { return k == audit.MutationDenied || k == audit.MutationWarned }

func (s *sink) put(ctx context.Context, e audit.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if e.Count == 0 {
		e.Count = 1
	}
	obj := &auditv1.AuditEvent{ObjectMeta: metav1.ObjectMeta{Namespace: s.o.Namespace}, Spec: auditv1.FromEvent(e)}
	if !aggregates(e.Kind) {
		obj.GenerateName = strings.ToLower(string(e.Kind)) + "-"
		return retry.OnError(handOver, retriable, func() error { return s.c.Create(ctx, obj) })
	}
	obj.Name = Name(e, s.o.Bucket)
	return retry.OnError(handOver, retriable, func() error {
		err := s.c.Create(ctx, obj.DeepCopy())
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		var cur auditv1.AuditEvent
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(obj), &cur); err != nil {
			return err // NotFound: ingested meanwhile; the retry creates it anew
		}
		cur.Spec.Count += e.Count
		return s.c.Update(ctx, &cur) // a Conflict retries
	})
}

// handOver is how long a recorder keeps trying one event: about 15 s over nine attempts (inside
// put's 30 s), long enough to outlast an apiserver restart or a client whose discovery does not
// know the AuditEvent kind yet (its CRD just installed), short enough not to hold the queue.
var handOver = wait.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 9, Cap: 4 * time.Second}

// retriable reports whether a failed hand-over may succeed if tried again: a conflict, the event
// ingested meanwhile, an overloaded or restarting apiserver, or a kind the client's REST mapper
// has not discovered yet.
func retriable(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err)
}

// RegisterMetrics exposes a recorder's counters, so a recorder that cannot hand events over is
// visible: writ_audit_recorder_events_total{result="delivered|failed|dropped"}.
func RegisterMetrics(reg prometheus.Registerer, component string, b *audit.Buffered) error {
	for _, result := range []string{"delivered", "failed", "dropped"} {
		result := result
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "writ_audit_recorder_events_total",
			Help:        "Audit events handed to the audit component by a recorder: delivered, failed (the API refused them) or dropped (queue full).",
			ConstLabels: prometheus.Labels{"component": component, "result": result},
		}, func() float64 {
			s := b.Stats()
			switch result {
			case "delivered":
				return float64(s.Delivered)
			case "failed":
				return float64(s.Failed)
			}
			return float64(s.Dropped)
		})
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
