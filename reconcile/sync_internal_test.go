package reconcile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"

	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/source"
)

// checkouts is a Checkouts that serves one directory, or fails.
type checkouts struct {
	dir   string
	err   error
	calls int
}

func (c *checkouts) Checkout(_ context.Context, _ source.Key, commit string) (*source.Tree, error) {
	c.calls++
	if c.err != nil {
		return nil, c.err
	}
	return &source.Tree{Commit: commit, Dir: c.dir}, nil
}

// The Sync state machine's first phases, with the fake client: which errors reach the workqueue
// (and whether as terminal), and which conditions each outcome leaves. Applying needs an
// apiserver and is covered by the integration tests.
func TestSyncReconcileOutcomes(t *testing.T) {
	broken := t.TempDir()
	if err := os.MkdirAll(filepath.Join(broken, "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "apps", "a.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	verified := reconcilev1.GitSourceStatus{LastVerifiedCommit: commitA}
	unavailable := apierrors.NewServiceUnavailable("etcd is down")
	for _, tc := range []struct {
		name         string
		source       *reconcilev1.GitSourceStatus // nil: no GitSource
		getErr       error                        // from reading the GitSource
		checkout     checkouts
		wantErr      bool
		wantTerminal bool
		wantReady    string // Ready's reason (always False here)
		wantStalled  string // Stalled's reason, "" for no Stalled condition
		wantCheckout int
	}{
		{name: "the GitSource is missing", wantReady: "SourceNotFound"},
		{name: "the apiserver fails reading the GitSource", source: &verified, getErr: unavailable, wantErr: true, wantReady: "SourceNotFound"},
		{name: "nothing verified yet", source: &reconcilev1.GitSourceStatus{}, wantReady: "NoVerifiedCommit"},
		{name: "the served commit revoked", source: &reconcilev1.GitSourceStatus{LastVerifiedCommit: commitA, Revoked: &reconcilev1.Revocation{Commit: commitA, Reason: "UnknownKey"}},
			wantReady: "SourceRevoked", wantStalled: "SourceRevoked"},
		{name: "the cache is not fetched yet", source: &verified, checkout: checkouts{err: errors.New("repository does not exist")},
			wantErr: true, wantReady: "CheckoutFailed", wantCheckout: 1},
		{name: "the commit's tree is unsafe", source: &verified, checkout: checkouts{err: source.ErrUnsafeTree},
			wantErr: true, wantTerminal: true, wantReady: "RenderFailed", wantStalled: "RenderFailed", wantCheckout: 1},
		{name: "the commit does not render", source: &verified, checkout: checkouts{dir: broken},
			wantErr: true, wantTerminal: true, wantReady: "RenderFailed", wantStalled: "RenderFailed", wantCheckout: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scheme := runtime.NewScheme()
			if err := reconcilev1.AddToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			interval := &metav1.Duration{Duration: 42 * time.Second}
			sy := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops", Name: "shop", Generation: 1},
				Spec: reconcilev1.SyncSpec{SourceRef: reconcilev1.LocalObjectReference{Name: "shop"}, Path: "apps", Interval: interval}}
			b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(sy).WithStatusSubresource(&reconcilev1.Sync{}, &reconcilev1.GitSource{})
			if tc.source != nil {
				b = b.WithObjects(&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops", Name: "shop"}, Status: *tc.source})
			}
			b = b.WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if _, ok := obj.(*reconcilev1.GitSource); ok && tc.getErr != nil {
					return tc.getErr
				}
				return c.Get(ctx, key, obj, opts...)
			}})
			c := b.Build()
			r := &SyncReconciler{Client: c, Sources: &tc.checkout, Now: func() time.Time { return epoch }}
			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sy)})
			if (err != nil) != tc.wantErr || errors.Is(err, ctrlreconcile.TerminalError(nil)) != tc.wantTerminal {
				t.Fatalf("Reconcile error %v: want an error %t, terminal %t", err, tc.wantErr, tc.wantTerminal)
			}
			if err == nil && res.RequeueAfter != interval.Duration {
				t.Errorf("requeue after %s, want the interval %s", res.RequeueAfter, interval.Duration)
			}
			var got reconcilev1.Sync
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(sy), &got); err != nil {
				t.Fatal(err)
			}
			wantCondition(t, got.Status.Conditions, Ready, metav1.ConditionFalse, tc.wantReady)
			if tc.wantStalled != "" {
				wantCondition(t, got.Status.Conditions, Stalled, metav1.ConditionTrue, tc.wantStalled)
			} else if c := findCondition(got.Status.Conditions, Stalled); c != nil {
				t.Errorf("Stalled %+v set for a failure that may pass", c)
			}
			if c := findCondition(got.Status.Conditions, Reconciling); c != nil && c.Status != metav1.ConditionFalse {
				t.Errorf("Reconciling left %s", c.Status)
			}
			if got.Status.ObservedGeneration != 1 {
				t.Errorf("observedGeneration %d", got.Status.ObservedGeneration)
			}
			if tc.checkout.calls != tc.wantCheckout {
				t.Errorf("%d checkouts, want %d", tc.checkout.calls, tc.wantCheckout)
			}
		})
	}
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// The mappers cannot return errors: a failed List is logged with what to check.
func TestMappersLogListErrors(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := reconcilev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return apierrors.NewForbidden(reconcilev1.GroupVersion.WithResource("syncs").GroupResource(), "", errors.New("rbac"))
		}}).Build()
	var logged []string
	ctx := logr.NewContext(context.Background(), funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{}))
	gs := &reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops", Name: "shop"}}
	if got := (&SyncReconciler{Client: c}).syncsOf(ctx, gs); got != nil {
		t.Fatalf("syncsOf = %v", got)
	}
	if got := (&GitSourceReconciler{Client: c}).sourcesOf(ctx, gs); got != nil {
		t.Fatalf("sourcesOf = %v", got)
	}
	if len(logged) != 2 || !strings.Contains(logged[0], "check the controller's RBAC (list syncs.writ.dev)") || !strings.Contains(logged[1], "list gitsources.writ.dev") {
		t.Fatalf("logged %q", logged)
	}
}
