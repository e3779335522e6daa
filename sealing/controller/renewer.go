package controller

import (
	"context"
	"crypto/rand"
	"io"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/sealing"
)

// Renewer makes the first key and then a new one every Period, and at once when the newest key
// predates Cutoff. Old keys stay, so what they sealed still unseals.
type Renewer struct {
	Keys *KeyStore
	// Live reads key Secrets uncached, so a key just made is seen (mgr.GetAPIReader()).
	Live client.Reader
	// Period between keys; 0 disables renewal (a first key is still made).
	Period time.Duration
	// Cutoff: a newest key older than this is replaced once the clock passes it (zero: none).
	Cutoff time.Time
	// Interval between checks; default one minute.
	Interval time.Duration
	KeySize  int
	ValidFor time.Duration
	CN       string
	// Now and Rand default to the real clock and crypto/rand.
	Now     func() time.Time
	Rand    io.Reader
	Metrics *Metrics
	Log     logr.Logger
}

// RenewIfDue makes a new key if there is none, the newest is Period old, or it predates a
// passed Cutoff. It returns the new key, or nil.
func (r *Renewer) RenewIfDue(ctx context.Context) (*sealing.Key, error) {
	ring, err := r.Keys.Ring(ctx, r.Live, func(name string, err error) {
		r.Log.Error(err, "skipping a key Secret that does not parse", "secret", name)
	})
	if err != nil {
		return nil, err
	}
	r.Metrics.setKeys(len(ring.Keys()))
	now := r.now()
	latest := ring.Latest()
	reason := ""
	switch {
	case latest == nil:
		reason = "no key yet"
	case !r.Cutoff.IsZero() && !now.Before(r.Cutoff) && latest.Created.Before(r.Cutoff):
		reason = "newest key predates the cutoff " + r.Cutoff.UTC().Format(time.RFC3339)
	case r.Period > 0 && now.Sub(latest.Created) >= r.Period:
		reason = "newest key is older than " + r.Period.String()
	default:
		return nil, nil
	}
	bits, validFor := r.KeySize, r.ValidFor
	if bits == 0 {
		bits = sealing.DefaultKeySize
	}
	if validFor == 0 {
		validFor = sealing.DefaultCertValidity
	}
	k, err := sealing.NewKey(r.rand(), bits, now, validFor, r.CN)
	if err != nil {
		return nil, err
	}
	if k.Name, err = r.Keys.Create(ctx, k); err != nil {
		return nil, err
	}
	r.Metrics.renewed()
	r.Metrics.setKeys(len(ring.Keys()) + 1)
	r.Log.Info("new sealing key", "secret", k.Name, "fingerprint", k.Fingerprint, "reason", reason)
	return k, nil
}

// Start checks every Interval until ctx ends. It is a manager Runnable that runs on the leader.
func (r *Renewer) Start(ctx context.Context) error {
	every := r.Interval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := r.RenewIfDue(ctx); err != nil && ctx.Err() == nil {
			r.Log.Error(err, "renewing the sealing key")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *Renewer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Renewer) rand() io.Reader {
	if r.Rand != nil {
		return r.Rand
	}
	return rand.Reader
}
