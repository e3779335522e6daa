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

func init() { components[ComponentSealing] = sealingComponent{} }

type sealingComponent struct{}

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

func (sealingComponent) Setup(_ context.Context, mgr ctrl.Manager, o Options) error {
	log := ctrl.Log.WithName("sealing")
	m := sealcontroller.NewMetrics(metrics.Registry)
	keys := &sealcontroller.KeyStore{Client: mgr.GetClient(), Namespace: o.Namespace}
	c := &sealcontroller.Controller{Client: mgr.GetClient(), Keys: keys, Events: mgr.GetEventRecorder("writ-sealing"), Metrics: m, Workers: o.SealingWorkers}
	if err := c.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := mgr.Add(&sealcontroller.Renewer{Keys: keys, Live: mgr.GetAPIReader(), Period: o.SealingKeyRenewPeriod, Cutoff: o.SealingKeyCutoff,
		KeySize: sealing.DefaultKeySize, ValidFor: o.SealingKeyTTL, CN: o.SealingKeyCN, Metrics: m, Log: log}); err != nil {
		return err
	}
	if o.SealingAddr == "0" {
		return nil
	}
	h := sealcontroller.Handler(sealcontroller.HandlerOptions{
		Ring:  func(ctx context.Context) (*sealing.KeyRing, error) { return keys.Ring(ctx, nil, nil) },
		Rate:  rate.Limit(o.SealingRateLimit),
		Burst: o.SealingRateBurst,
		Log:   log,
	})
	srv := &http.Server{Addr: o.SealingAddr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	return mgr.Add(serverRunnable{srv: srv})
}
