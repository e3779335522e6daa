package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"writ.dev/writ/audit"
	auditcontroller "writ.dev/writ/audit/controller"
	"writ.dev/writ/audit/postgres"
	"writ.dev/writ/audit/segment"
)

// PostgresDSNEnv names the environment variable holding the PostgreSQL DSN, so the password
// never appears in the process's arguments.
const PostgresDSNEnv = "WRIT_AUDIT_POSTGRES_DSN"

// AuditOptions configure the audit component: the store, its ingester and checkpointer, and the
// evidence export server.
type AuditOptions struct {
	Namespace          string        // Writ's own namespace: AuditEvents, the audit key's Secret
	Dir                string        // the embedded log's directory (--audit-dir)
	Chain              string        // the chain in a shared PostgreSQL store (--audit-chain)
	CheckpointInterval time.Duration // how often the chain's head is signed
	ExportAddr         string        // where evidence bundles are served; "0": nowhere
}

// openStore opens the audit store the options select: PostgreSQL when $WRIT_AUDIT_POSTGRES_DSN
// is set, else the embedded log in o.Dir.
func openStore(ctx context.Context, o AuditOptions) (audit.Store, string, error) {
	if dsn := os.Getenv(PostgresDSNEnv); dsn != "" {
		s, err := postgres.Open(ctx, dsn, postgres.Options{Chain: o.Chain})
		return s, "postgres", err
	}
	s, err := segment.Open(o.Dir, segment.Options{})
	return s, "embedded log at " + o.Dir, err
}

// setupAudit opens the store and registers the ingester, the checkpointer and the export server
// with mgr.
func setupAudit(ctx context.Context, mgr ctrl.Manager, o AuditOptions) error {
	store, where, err := openStore(ctx, o)
	if err != nil {
		return fmt.Errorf("opening the audit store: %w", err)
	}
	m := auditcontroller.NewMetrics(metrics.Registry)
	if err := (&auditcontroller.Ingester{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Store: store, Namespace: o.Namespace, Metrics: m}).SetupWithManager(mgr); err != nil {
		return err
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	ctrl.Log.WithName("audit").Info("audit store opened", "store", where)
	var key atomic.Pointer[ed25519.PrivateKey]
	if o.ExportAddr != "0" {
		mux := http.NewServeMux()
		mux.Handle(auditcontroller.ExportPath, auditcontroller.ExportHandler(store, func() ed25519.PrivateKey {
			if k := key.Load(); k != nil {
				return *k
			}
			return nil
		}))
		srv := &http.Server{Addr: o.ExportAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			go func() {
				<-ctx.Done()
				shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(shutdown)
			}()
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})); err != nil {
			return err
		}
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		defer store.Close()
		k, err := auditcontroller.EnsureKey(ctx, direct, o.Namespace)
		if err != nil {
			return err
		}
		key.Store(&k)
		cp := &auditcontroller.Checkpointer{Store: store, Key: k, Interval: o.CheckpointInterval, Metrics: m}
		return cp.Start(ctx)
	}))
}
