package controller

import (
	"context"
	"fmt"
	"sync"

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
