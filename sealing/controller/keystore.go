package controller

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"writ.dev/writ/sealing"
)

// KeyStore reads and writes the key Secrets in the controller's namespace. Parsed keys are kept
// per Secret resourceVersion, so a ring costs a cache list, not an RSA parse per call.
type KeyStore struct {
	// Client reads (usually from the manager's cache) and creates key Secrets.
	Client client.Client
	// Namespace is the controller's namespace.
	Namespace string

	mu     sync.Mutex
	parsed map[string]parsedKey // by Secret name
}

type parsedKey struct {
	rv  string
	key *sealing.Key
	err error
}

// Ring returns the usable keys (active, and any other key Secret not labelled compromised).
// A key Secret that does not parse is reported through onBad and skipped.
func (s *KeyStore) Ring(ctx context.Context, r client.Reader, onBad func(name string, err error)) (*sealing.KeyRing, error) {
	if r == nil {
		r = s.Client
	}
	var list corev1.SecretList
	if err := r.List(ctx, &list, client.InNamespace(s.Namespace), client.HasLabels{sealing.KeyLabel}); err != nil {
		return nil, fmt.Errorf("listing key Secrets in %s: %w", s.Namespace, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parsed == nil {
		s.parsed = map[string]parsedKey{}
	}
	seen := map[string]bool{}
	var keys []*sealing.Key
	for i := range list.Items {
		sec := &list.Items[i]
		seen[sec.Name] = true
		p, ok := s.parsed[sec.Name]
		if !ok || p.rv != sec.ResourceVersion {
			k, err := sealing.KeyFromSecret(sec)
			p = parsedKey{rv: sec.ResourceVersion, key: k, err: err}
			s.parsed[sec.Name] = p
		}
		if p.err != nil {
			if onBad != nil {
				onBad(sec.Name, p.err)
			}
			continue
		}
		k := *p.key
		k.Status = sec.Labels[sealing.KeyLabel]
		keys = append(keys, &k)
	}
	for name := range s.parsed {
		if !seen[name] {
			delete(s.parsed, name)
		}
	}
	return sealing.NewKeyRing(keys...), nil
}

// Create stores k as a new active key Secret and returns the Secret's name.
func (s *KeyStore) Create(ctx context.Context, k *sealing.Key) (string, error) {
	sec := k.Secret(s.Namespace)
	if err := s.Client.Create(ctx, sec); err != nil {
		return "", fmt.Errorf("storing a new sealing key in %s: %w", s.Namespace, err)
	}
	return sec.Name, nil
}

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
	return cryptoRand
}
