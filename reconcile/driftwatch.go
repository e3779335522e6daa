package reconcile

import (
	"context"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"writ.dev/writ/reconcile/apply"
	"writ.dev/writ/wellknown"
)

// driftWatcher watches the kinds syncs have applied (metadata only, so memory stays small) and
// wakes the owning sync when another manager changes one of its objects: drift is seen in
// seconds, not on the next interval.
type driftWatcher struct {
	ctrl  controller.Controller
	cache cache.Cache

	mu      sync.Mutex
	watched map[schema.GroupVersionKind]bool
}

func (w *driftWatcher) ensure(inventory []apply.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range inventory {
		gvk := schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
		if w.watched[gvk] {
			continue
		}
		obj := &metav1.PartialObjectMetadata{}
		obj.SetGroupVersionKind(gvk)
		src := source.Kind[*metav1.PartialObjectMetadata](w.cache, obj,
			handler.TypedEnqueueRequestsFromMapFunc(func(_ context.Context, o *metav1.PartialObjectMetadata) []ctrlreconcile.Request {
				owner := o.GetLabels()[wellknown.ManagedLabel]
				ns, name, ok := strings.Cut(owner, ".")
				if !ok {
					return nil
				}
				return []ctrlreconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
			}),
			predicate.TypedFuncs[*metav1.PartialObjectMetadata]{
				// The initial list of a new watch arrives as creates: an object changed while no
				// one watched is checked too. Managed-fields times have one-second granularity, so
				// Writ's own writes cannot be told apart reliably; they cause one extra check that
				// finds nothing to do.
				CreateFunc: func(event.TypedCreateEvent[*metav1.PartialObjectMetadata]) bool { return true },
				UpdateFunc: func(e event.TypedUpdateEvent[*metav1.PartialObjectMetadata]) bool {
					return e.ObjectNew.GetResourceVersion() != e.ObjectOld.GetResourceVersion()
				},
			})
		if err := w.ctrl.Watch(src); err != nil {
			return err
		}
		if w.watched == nil {
			w.watched = map[schema.GroupVersionKind]bool{}
		}
		w.watched[gvk] = true
	}
	return nil
}
