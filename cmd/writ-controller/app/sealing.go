package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/time/rate"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"writ.dev/writ/sealing"
	sealcontroller "writ.dev/writ/sealing/controller"
)

// SealingOptions configure the sealing component: the unsealing controller, key renewal and the
// HTTP service kubeseal and `writ seal` use.
type SealingOptions struct {
	Namespace      string        // Writ's own namespace, where the sealing keys' Secrets live
	Addr           string        // where the HTTP service binds; "0": nowhere
	KeyRenewPeriod time.Duration // how often a new key is made; 0: never
	KeyCutoff      time.Time     // a new key at once if the newest predates it
	KeyTTL         time.Duration // validity of a new key's certificate
	KeyCN          string        // common name of new certificates
	Workers        int           // SealedSecrets unsealed at once
	RateLimit      float64       // requests per second per client to /v1/verify and /v1/rotate
	RateBurst      int
}

// serverRunnable serves HTTP on every replica, leader or not, so the Service always answers.
type serverRunnable struct{ srv *http.Server }

func (serverRunnable) NeedLeaderElection() bool { return false }

func (s serverRunnable) Start(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(shutdown)
	}()
	if err := s.srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// setupSealing registers the unsealing controller, the key renewer and the HTTP service with mgr.
func setupSealing(mgr ctrl.Manager, o SealingOptions) error {
	log := ctrl.Log.WithName("sealing")
	m := sealcontroller.NewMetrics(metrics.Registry)
	keys := &sealcontroller.KeyStore{Client: mgr.GetClient(), Namespace: o.Namespace}
	c := &sealcontroller.Controller{Client: mgr.GetClient(), Keys: keys, Events: mgr.GetEventRecorder("writ-sealing"), Metrics: m, Workers: o.Workers}
	if err := c.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := mgr.Add(&sealcontroller.Renewer{Keys: keys, Live: mgr.GetAPIReader(), Period: o.KeyRenewPeriod, Cutoff: o.KeyCutoff,
		KeySize: sealing.DefaultKeySize, ValidFor: o.KeyTTL, CN: o.KeyCN, Metrics: m, Log: log}); err != nil {
		return err
	}
	if o.Addr == "0" {
		return nil
	}
	h := sealcontroller.Handler(sealcontroller.HandlerOptions{
		Ring:  func(ctx context.Context) (*sealing.KeyRing, error) { return keys.Ring(ctx, nil, nil) },
		Rate:  rate.Limit(o.RateLimit),
		Burst: o.RateBurst,
		Log:   log,
	})
	srv := &http.Server{Addr: o.Addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	return mgr.Add(serverRunnable{srv: srv})
}
