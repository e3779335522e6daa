package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"writ.dev/writ/sealing"
)

// Event reasons, as Bitnami's controller records them.
const (
	EventUnsealed     = "Unsealed"
	EventUnsealFailed = "ErrUnsealFailed"
	EventUpdateFailed = "ErrUpdateFailed"
)

// EventRecorder records Kubernetes events (mgr.GetEventRecorder).
type EventRecorder interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// Controller unseals SealedSecrets into Secrets.
type Controller struct {
	Client client.Client
	Keys   *KeyStore
	Events EventRecorder
	// Metrics may be nil.
	Metrics *Metrics
	// RetryAfter is how long a SealedSecret that does not unseal waits before another try (a
	// restored key may make it open); default 5 minutes.
	RetryAfter time.Duration
	// Workers is the number of SealedSecrets unsealed at once; default 4.
	Workers int

	mu sync.Mutex
	// written remembers, per SealedSecret, what it looked like and the resourceVersion of the
	// Secret written from it, so that the events caused by our own writes (and resyncs) cost no
	// RSA decryption. An edit to either object, or a restart, unseals again.
	written map[types.NamespacedName]writtenSecret
}

type writtenSecret struct{ digest, secretRV string }

// SetupWithManager registers the controller: it watches SealedSecrets, the Secrets they own, and
// Secrets annotated managed or patch (handed over to the SealedSecret of the same name).
func (c *Controller) SetupWithManager(mgr ctrl.Manager) error {
	workers := c.Workers
	if workers <= 0 {
		workers = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("sealedsecret").
		For(&ssv1alpha1.SealedSecret{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(secretToSealedSecret)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(c)
}

// secretToSealedSecret maps a Secret to the SealedSecret of the same name if it is one's, or
// annotated to become one's.
func secretToSealedSecret(_ context.Context, o client.Object) []reconcile.Request {
	a := o.GetAnnotations()
	owned := false
	if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "SealedSecret" && ref.APIVersion == ssv1alpha1.SchemeGroupVersion.String() {
		owned = true
	}
	if !owned && a[ssv1alpha1.SealedSecretManagedAnnotation] != "true" && a[ssv1alpha1.SealedSecretPatchAnnotation] != "true" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(o)}}
}

// Reconcile opens one SealedSecret and writes its Secret, then its Synced condition.
func (c *Controller) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ss := &ssv1alpha1.SealedSecret{}
	if err := c.Client.Get(ctx, req.NamespacedName, ss); err != nil {
		// Gone: the Secret goes with it through its owner reference.
		if apierrors.IsNotFound(err) {
			c.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ss.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	ss.SetGroupVersionKind(sealing.GroupVersionKind)
	err := c.sync(ctx, ss)
	c.Metrics.request(err)
	if serr := c.setSynced(ctx, ss, err); serr != nil {
		c.Metrics.failed(ReasonStatus)
		if err == nil {
			return ctrl.Result{}, serr
		}
	}
	var re *retryError
	if errors.As(err, &re) {
		after := c.RetryAfter
		if after <= 0 {
			after = 5 * time.Minute
		}
		return ctrl.Result{RequeueAfter: after}, nil
	}
	return ctrl.Result{}, err
}

// retryError is a failure that another attempt now would repeat: wait RetryAfter.
type retryError struct{ error }

func (e *retryError) Unwrap() error { return e.error }

// sync unseals ss and creates or updates its Secret, honouring Bitnami's managed and patch
// annotations on an existing Secret. It never writes a Secret unless every value opened.
func (c *Controller) sync(ctx context.Context, ss *ssv1alpha1.SealedSecret) error {
	key := client.ObjectKeyFromObject(ss)
	digest := sealedDigest(ss)
	have := &corev1.Secret{}
	err := c.Client.Get(ctx, key, have)
	if err == nil && c.upToDate(key, digest, have.ResourceVersion) {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		c.Metrics.failed(ReasonUpdate)
		return err
	}
	exists := err == nil
	ring, err := c.Keys.Ring(ctx, nil, nil)
	if err != nil {
		c.Metrics.failed(ReasonKeys)
		return err
	}
	want, used, err := sealing.Unseal(ss, ring)
	if err != nil {
		c.Metrics.failed(ReasonUnseal)
		c.event(ss, corev1.EventTypeWarning, EventUnsealFailed, "Failed to unseal: %v", err)
		return &retryError{err}
	}
	if want.Annotations == nil {
		want.Annotations = map[string]string{}
	}
	want.Annotations[sealing.AnnotationUnsealedWith] = sealing.JoinFingerprints(used)

	if !exists {
		if err := c.Client.Create(ctx, want); err != nil {
			c.Metrics.failed(ReasonUpdate)
			c.event(ss, corev1.EventTypeWarning, EventUpdateFailed, "%v", err)
			return err
		}
		c.remember(key, digest, want.ResourceVersion)
		c.event(ss, corev1.EventTypeNormal, EventUnsealed, "SealedSecret unsealed successfully")
		return nil
	}
	managed := have.Annotations[ssv1alpha1.SealedSecretManagedAnnotation] == "true"
	patch := have.Annotations[ssv1alpha1.SealedSecretPatchAnnotation] == "true"
	if !metav1.IsControlledBy(have, ss) && !managed && !patch {
		c.Metrics.failed(ReasonUnmanaged)
		msg := fmt.Sprintf("Resource %q already exists and is not managed by SealedSecret", have.Name)
		c.event(ss, corev1.EventTypeWarning, EventUpdateFailed, "%s", msg)
		return &retryError{errors.New("failed update: " + msg + " (annotate the Secret " + ssv1alpha1.SealedSecretManagedAnnotation + "=true to hand it over)")}
	}
	next := have.DeepCopy()
	if patch {
		next.Data = mergeBytes(next.Data, want.Data)
		next.Labels = mergeStrings(next.Labels, want.Labels)
		next.Annotations = mergeStrings(next.Annotations, want.Annotations)
		if managed {
			next.OwnerReferences = want.OwnerReferences
		}
	} else {
		next.Data, next.Labels, next.Annotations, next.OwnerReferences = want.Data, want.Labels, want.Annotations, want.OwnerReferences
	}
	next.Type = want.Type
	if apiequality.Semantic.DeepEqual(have, next) {
		c.remember(key, digest, have.ResourceVersion)
		return nil
	}
	if err := c.Client.Update(ctx, next); err != nil {
		c.Metrics.failed(ReasonUpdate)
		c.event(ss, corev1.EventTypeWarning, EventUpdateFailed, "%v", err)
		return err
	}
	c.remember(key, digest, next.ResourceVersion)
	c.event(ss, corev1.EventTypeNormal, EventUnsealed, "SealedSecret unsealed successfully")
	return nil
}

func (c *Controller) upToDate(key types.NamespacedName, digest, secretRV string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.written[key]
	return ok && w.digest == digest && w.secretRV == secretRV
}

func (c *Controller) remember(key types.NamespacedName, digest, secretRV string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.written == nil {
		c.written = map[types.NamespacedName]writtenSecret{}
	}
	c.written[key] = writtenSecret{digest: digest, secretRV: secretRV}
}

func (c *Controller) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.written, key)
}

// sealedDigest summarises what of a SealedSecret decides its Secret: identity, metadata and spec.
func sealedDigest(ss *ssv1alpha1.SealedSecret) string {
	b, _ := json.Marshal(struct {
		UID         types.UID
		Labels      map[string]string
		Annotations map[string]string
		Spec        ssv1alpha1.SealedSecretSpec
	}{ss.UID, ss.Labels, ss.Annotations, ss.Spec})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// setSynced records the outcome in the Synced condition, writing status only when it changes.
func (c *Controller) setSynced(ctx context.Context, ss *ssv1alpha1.SealedSecret, syncErr error) error {
	st := ss.Status
	if st == nil {
		st = &ssv1alpha1.SealedSecretStatus{}
	}
	next := st.DeepCopy()
	var cond *ssv1alpha1.SealedSecretCondition
	for i := range next.Conditions {
		if next.Conditions[i].Type == ssv1alpha1.SealedSecretSynced {
			cond = &next.Conditions[i]
		}
	}
	if cond == nil {
		next.Conditions = append(next.Conditions, ssv1alpha1.SealedSecretCondition{Type: ssv1alpha1.SealedSecretSynced})
		cond = &next.Conditions[len(next.Conditions)-1]
	}
	status, msg := corev1.ConditionTrue, ""
	if syncErr != nil {
		status, msg = corev1.ConditionFalse, syncErr.Error()
	}
	if cond.Status == status && cond.Message == msg && next.ObservedGeneration == ss.Generation {
		return nil
	}
	now := metav1.Now()
	if cond.Status != status {
		cond.LastTransitionTime = now
	}
	cond.Status, cond.Message, cond.LastUpdateTime = status, msg, now
	next.ObservedGeneration = ss.Generation
	ss.Status = next
	return c.Client.Status().Update(ctx, ss)
}

func (c *Controller) event(ss *ssv1alpha1.SealedSecret, kind, reason, format string, args ...any) {
	if c.Events != nil {
		c.Events.Eventf(ss, nil, kind, reason, "sealing.Unseal", format, args...)
	}
}

func mergeBytes(dst, src map[string][]byte) map[string][]byte {
	if dst == nil {
		dst = map[string][]byte{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func mergeStrings(dst, src map[string]string) map[string]string {
	if dst == nil && len(src) > 0 {
		dst = map[string]string{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}
