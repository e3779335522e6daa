package app

import (
	"context"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/kuberecorder"
	"writ.dev/writ/reconcile"
	"writ.dev/writ/reconcile/source"
)

// ReconcilerOptions configure the reconciler component: the GitSource and Sync controllers.
type ReconcilerOptions struct {
	Namespace string // Writ's own namespace, where audit events go
	CacheDir  string // repository caches and checkouts (--reconcile-cache-dir)
}

// setupReconciler registers the GitSource and Sync controllers with mgr.
func setupReconciler(ctx context.Context, mgr ctrl.Manager, o ReconcilerOptions) error {
	log := ctrl.Log.WithName("reconciler")
	rec := kuberecorder.New(mgr.GetClient(), kuberecorder.Options{Namespace: o.Namespace, OnError: func(e audit.Event, err error) {
		log.Error(err, "an audit event could not be handed to the audit component", "kind", e.Kind, "commit", e.Commit)
	}})
	if err := kuberecorder.RegisterMetrics(metrics.Registry, "reconciler", rec); err != nil {
		return err
	}
	m := reconcile.NewMetrics(metrics.Registry)
	cache := source.NewCache(filepath.Join(o.CacheDir, "sources"))
	sources := &reconcile.GitSourceReconciler{Client: mgr.GetClient(), Recorder: rec, Metrics: m, Cache: cache}
	if err := sources.SetupWithManager(mgr); err != nil {
		return err
	}
	syncs := &reconcile.SyncReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Config: mgr.GetConfig(), Recorder: rec, Sources: cache, Metrics: m}
	if err := syncs.SetupWithManager(mgr); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = rec.Close(context.Background())
	}()
	return nil
}
