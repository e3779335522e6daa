package controller

import (
	"context"
	"crypto/ed25519"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"writ.dev/writ/audit"
)

// Checkpointer signs a checkpoint of the store's head every Interval when it has moved.
type Checkpointer struct {
	Store    audit.Store
	Key      ed25519.PrivateKey
	Interval time.Duration
	Now      func() time.Time
	Metrics  *Metrics
}

// NeedLeaderElection: only the leader writes to the store.
func (c *Checkpointer) NeedLeaderElection() bool { return true }

// Start runs until ctx ends, with a final checkpoint on the way out.
func (c *Checkpointer) Start(ctx context.Context) error {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = c.Checkpoint(final)
			return nil
		case <-t.C:
			if _, err := c.Checkpoint(ctx); err != nil {
				ctrl.Log.WithName("audit").Error(err, "signing an audit checkpoint")
			}
		}
	}
}

// Checkpoint signs the current head if no checkpoint covers it yet, and reports whether it did.
func (c *Checkpointer) Checkpoint(ctx context.Context) (bool, error) {
	seq, head, err := c.Store.Head(ctx)
	if err != nil || seq == 0 {
		return false, err
	}
	cps, err := c.Store.Checkpoints(ctx)
	if err != nil {
		return false, err
	}
	if n := len(cps); n > 0 && cps[n-1].Seq >= seq {
		return false, nil
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := c.Store.AddCheckpoint(ctx, audit.SignCheckpoint(c.Key, seq, head, now())); err != nil {
		return false, err
	}
	if c.Metrics != nil {
		c.Metrics.checkpoints.Inc()
	}
	return true, nil
}
