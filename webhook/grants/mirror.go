package grants

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Resync is how often the mirror rewrites the key even when nothing changed, so that a key
// someone else rewrote (the agent applying the ConfigMap from Git) gets its grants back.
const Resync = 5 * time.Minute

// Mirror keeps the breakGlass key of the fallback's parameters equal to the approved, unexpired
// BreakGlassRequests. It reconciles one key for all requests.
type Mirror struct {
	// Requests lists BreakGlassRequests (the manager's cache).
	Requests client.Reader
	// Client reads and patches the ConfigMap (uncached: the mirror needs get and patch on that one
	// ConfigMap, not a cluster-wide watch of ConfigMaps).
	Client client.Client
	// Namespace is Writ's: the ConfigMap's, and never granted.
	Namespace string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log logr.Logger
}

var key = types.NamespacedName{Name: webhook.FallbackParamsName}

// SetupWithManager registers the mirror: every BreakGlassRequest event reconciles the one key.
func (m *Mirror) SetupWithManager(mgr ctrl.Manager) error {
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: key}}
	})
	// One mirror per manager; tests run several managers in one process, which the name check
	// (there for metrics) would refuse.
	skip := true
	return ctrl.NewControllerManagedBy(mgr).Named("breakglass-grants").
		WithOptions(controller.Options{SkipNameValidation: &skip}).
		Watches(&guardv1.BreakGlassRequest{}, one).
		Complete(m)
}

// Reconcile writes the grants and comes back at the next expiry.
func (m *Mirror) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	var reqs guardv1.BreakGlassRequestList
	if err := m.Requests.List(ctx, &reqs); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing BreakGlassRequests: %w", err)
	}
	grants, next := Grants(reqs.Items, now, m.Namespace)
	want := Lines(grants)
	var cm corev1.ConfigMap
	err := m.Client.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: webhook.FallbackParamsName}, &cm)
	if apierrors.IsNotFound(err) {
		m.Log.Info("the fallback policy's parameters are missing: no break-glass grant can reach it", "configmap", m.Namespace+"/"+webhook.FallbackParamsName)
		return reconcile.Result{RequeueAfter: Resync}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if cm.Data[webhook.FallbackBreakGlassKey] != want {
		patch, _ := json.Marshal(map[string]any{"data": map[string]any{webhook.FallbackBreakGlassKey: want}})
		if err := m.Client.Patch(ctx, &cm, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return reconcile.Result{}, fmt.Errorf("writing the break-glass grants into %s/%s: %w", m.Namespace, webhook.FallbackParamsName, err)
		}
		m.Log.Info("break-glass grants mirrored into the fallback policy", "grants", len(grants))
	}
	after := Resync
	if !next.IsZero() && next.Sub(now) < after {
		after = next.Sub(now) + 10*time.Millisecond
	}
	return reconcile.Result{RequeueAfter: after}, nil
}
