package controller

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
)

// Ingester moves AuditEvent objects into the store: only those the apiserver stamped with one of
// Writ's service accounts as their creator (see SubmitterPolicies), while the stamping policy is
// in place as Writ builds it.
type Ingester struct {
	Client client.Client
	// Reader reads AuditEvents and the stamping policy uncached (the manager's API reader): a
	// stale count from a cache would store an aggregated event twice, and a stale policy could
	// hide its removal.
	Reader    client.Reader
	Store     audit.Store
	Namespace string
	Metrics   *Metrics
	// Submitters are the user names whose AuditEvents are stored; default Submitters(Namespace).
	Submitters []string
}

// SetupWithManager registers the ingester for AuditEvents in its namespace.
func (r *Ingester) SetupWithManager(mgr ctrl.Manager) error {
	inNamespace := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == r.Namespace })
	return ctrl.NewControllerManagedBy(mgr).
		Named("audit-ingest").
		For(&auditv1.AuditEvent{}, builder.WithPredicates(inNamespace, predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// Reconcile appends one AuditEvent to the store, durably, then deletes it. An aggregated event
// whose count grew while it was being appended is appended again with the difference.
func (r *Ingester) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var ae auditv1.AuditEvent
	if err := r.Reader.Get(ctx, req.NamespacedName, &ae); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	refusal, err := r.refuse(ctx, &ae)
	if err != nil {
		return ctrl.Result{}, err
	}
	if refusal != nil {
		// Never stored, kept for an operator to see. The log names the object and the stamped
		// creator only: the record's own fields are the claim being refused.
		r.Metrics.refused.WithLabelValues(refusal.reason).Inc()
		ctrl.LoggerFrom(ctx).Info("refusing an AuditEvent: it is not stored in the audit trail", "auditEvent", req.String(),
			"reason", refusal.reason, "detail", refusal.detail)
		if refusal.retry {
			return ctrl.Result{RequeueAfter: time.Minute}, nil
		}
		return ctrl.Result{}, nil
	}
	e := ae.Spec.Event()
	if err := e.Validate(); err != nil {
		// An invalid record can never be stored; keep the object for an operator to see and
		// count it, rather than lose it silently.
		r.Metrics.rejected.Inc()
		return ctrl.Result{}, nil
	}
	if _, err := r.Store.Append(ctx, e); err != nil {
		r.Metrics.errors.Inc()
		return ctrl.Result{}, fmt.Errorf("appending %s: %w", req, err)
	}
	r.Metrics.records.WithLabelValues(string(e.Kind)).Inc()
	// Delete only the version we stored: if the count grew meanwhile, the precondition fails and
	// the next reconcile stores the remainder.
	err = r.Client.Delete(ctx, &ae, client.Preconditions{UID: &ae.UID, ResourceVersion: &ae.ResourceVersion})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case apierrors.IsConflict(err):
		return ctrl.Result{Requeue: true}, r.subtractStored(ctx, req, ae.Spec.Count)
	default:
		return ctrl.Result{}, err
	}
}

// subtractStored lowers the count of an aggregated event by what was already stored, so the
// remainder is stored next time and nothing is counted twice.
func (r *Ingester) subtractStored(ctx context.Context, req ctrl.Request, stored int) error {
	if stored < 1 {
		stored = 1
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur auditv1.AuditEvent
		if err := r.Reader.Get(ctx, req.NamespacedName, &cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		if cur.Spec.Count -= stored; cur.Spec.Count < 1 {
			return r.Client.Delete(ctx, &cur, client.Preconditions{ResourceVersion: &cur.ResourceVersion})
		}
		return r.Client.Update(ctx, &cur)
	})
}
