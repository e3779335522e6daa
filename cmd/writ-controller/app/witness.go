package app

import (
	"context"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"writ.dev/writ/webhook"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/witness"
	"writ.dev/writ/witness/feed"
)

// WitnessOptions configure the witness the webhook component runs for its guard (package
// witness/feed): its own fetch, verification and rendering of every Sync, as writ-webhook.
type WitnessOptions struct {
	Namespace string // Writ's own namespace: its reconciler's service account is witnessed
	// CacheDir is the feed's own repository cache (--witness-cache-dir); empty means a new
	// directory under $TMPDIR, removed when the manager stops (the cache is disposable: the feed's
	// verified anchors live in memory).
	CacheDir string
	// Mode is the guard's witness mode where neither a Sync nor a GuardPolicy sets one
	// (--witness-mode).
	Mode guardv1.WitnessMode
	// TrustedMutators are the mutating admission objects the witness trusts by name
	// (--witness-trusted-mutators: MutatingWebhookConfiguration/NAME, MutatingAdmissionPolicy/NAME).
	TrustedMutators []string
}

// The feed is the guard's Witness, and names what Git declares in the guard's denials.
var (
	_ webhook.Witness        = (*feed.Feed)(nil)
	_ webhook.DeclaredValuer = (*feed.Feed)(nil)
)

// witnessModes are the values --witness-mode takes.
var witnessModes = []guardv1.WitnessMode{guardv1.WitnessEnforce, guardv1.WitnessWarn, guardv1.WitnessOff}

// setupWitness registers the witness's feed with mgr, with its readiness check ("witness": the
// pod serves reviews only once it knows whose writes to judge), and returns it for the guard.
func setupWitness(ctx context.Context, mgr ctrl.Manager, o WitnessOptions) (webhook.Witness, error) {
	dir := o.CacheDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "writ-witness-"); err != nil {
			return nil, fmt.Errorf("the witness's cache directory: %w (set --witness-cache-dir)", err)
		}
		go func() {
			<-ctx.Done()
			_ = os.RemoveAll(dir)
		}()
	}
	m, err := feed.NewMetrics(metrics.Registry)
	if err != nil {
		return nil, fmt.Errorf("the witness's metrics: %w", err)
	}
	var trusted []witness.Key
	for _, t := range o.TrustedMutators {
		k, err := feed.ParseTrustedMutator(t)
		if err != nil {
			return nil, err
		}
		trusted = append(trusted, k)
	}
	f, err := feed.New(feed.Options{Namespace: o.Namespace, CacheDir: dir, Index: &witness.Index{}, Metrics: m, TrustedMutators: trusted})
	if err != nil {
		return nil, err
	}
	if err := f.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("witness", f.ReadyCheck); err != nil {
		return nil, fmt.Errorf("witness readiness check: %w", err)
	}
	return f, nil
}
