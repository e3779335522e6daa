package certs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Defaults of a Rotator.
const (
	DefaultCAValidity   = 2 * 365 * 24 * time.Hour
	DefaultCertValidity = 90 * 24 * time.Hour
	DefaultInterval     = time.Minute
)

// Rotator keeps the webhook's CA and serving certificate in a Secret and the webhook
// configuration's caBundle in step with it. Ensure does one pass; Start runs passes until its
// context ends. Run one Rotator per cluster (it needs leader election).
type Rotator struct {
	// Client reads and writes the Secret and the ValidatingWebhookConfiguration. Give it an
	// uncached client: a cached one would watch every Secret in the cluster.
	Client client.Client
	// Namespace and Secret name the Secret, in the webhook's namespace.
	Namespace, Secret string
	// Service is the webhook's Service in Namespace: the serving certificate names it (DNSNames).
	Service string
	// WebhookConfiguration names the ValidatingWebhookConfiguration whose webhooks all get the
	// caBundle.
	WebhookConfiguration string
	// MutatingWebhookConfiguration, if set, names a MutatingWebhookConfiguration served by the
	// same certificate (writ-breakglass, the guard's approval-time stamp) whose webhooks all get
	// the caBundle too. Unlike WebhookConfiguration it may be missing (an install without it).
	MutatingWebhookConfiguration string
	// CAValidity and CertValidity are the lifetimes of a new CA and serving certificate (default
	// DefaultCAValidity, DefaultCertValidity). Each is renewed with a third of it left.
	CAValidity, CertValidity time.Duration
	// Interval is the longest Start waits between passes (default DefaultInterval): it also
	// restores a caBundle that someone removed.
	Interval time.Duration
	// Now and Rand default to time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

// Result says what a pass did.
type Result struct {
	CARotated, CertRotated bool // a new CA or serving certificate was written
	BundleUpdated          bool // the webhook configuration's caBundle was changed
	// RenewAt is when the next renewal is due.
	RenewAt time.Time
}

// Ensure makes the Secret hold a CA and a serving certificate that are not due for renewal, and
// the webhook configuration trust that CA. A new CA enters the caBundle before the Secret holds a
// certificate it signed.
func (r *Rotator) Ensure(ctx context.Context) (Result, error) {
	var res Result
	if r.Client == nil || r.Namespace == "" || r.Secret == "" || r.Service == "" || r.WebhookConfiguration == "" {
		return res, errors.New("webhook certificates: the rotator needs a client, a namespace, a Secret, a Service and a webhook configuration")
	}
	now, rnd := r.now(), r.rand()
	var secret corev1.Secret
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Secret}, &secret)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return res, fmt.Errorf("reading Secret %s/%s: %w", r.Namespace, r.Secret, err)
	}

	ca, caErr := parsePair(secret.Data[CABundleKey], secret.Data[CAPrivateKeyKey])
	trusted, bundleErr := certutil.ParseCertsPEM(secret.Data[CABundleKey])
	if bundleErr != nil {
		trusted = nil // a bundle that does not parse whole is not kept in part
	}
	if caErr != nil || !now.Before(renewAt(ca.cert)) {
		fresh, err := newCA(rnd, now, or(r.CAValidity, DefaultCAValidity), "writ-webhook-ca")
		if err != nil {
			return res, fmt.Errorf("creating the webhook CA: %w", err)
		}
		// Keep trusting the CA being replaced: pods serve its certificates until they reload.
		var old *x509.Certificate
		if caErr == nil {
			old = ca.cert
		}
		ca, trusted, res.CARotated = fresh, []*x509.Certificate{fresh.cert, old}, true
	}
	caBundle := bundle(now, trusted...)

	names := DNSNames(r.Service, r.Namespace)
	serving, err := parsePair(secret.Data[CertKey], secret.Data[PrivateKeyKey])
	if err != nil || res.CARotated || !servesFor(serving.cert, ca.cert, names) || !now.Before(renewAt(serving.cert)) {
		if serving, err = issue(rnd, ca, now, or(r.CertValidity, DefaultCertValidity), names); err != nil {
			return res, fmt.Errorf("issuing the webhook's serving certificate: %w", err)
		}
		res.CertRotated = true
	}
	res.RenewAt = renewAt(ca.cert)
	if t := renewAt(serving.cert); t.Before(res.RenewAt) {
		res.RenewAt = t
	}

	caKey, err := encodeKey(ca.key)
	if err != nil {
		return res, err
	}
	key, err := encodeKey(serving.key)
	if err != nil {
		return res, err
	}
	want := map[string][]byte{CABundleKey: caBundle, CAPrivateKeyKey: caKey, CertKey: encodeCert(serving.cert), PrivateKeyKey: key}

	// The caBundle first, so that no pod serves a certificate the apiserver does not trust yet.
	if res.BundleUpdated, err = r.setBundle(ctx, caBundle); err != nil {
		return res, err
	}
	if exists && sameData(secret.Data, want) {
		return res, nil
	}
	secret.Data = want
	if !exists {
		secret.ObjectMeta = metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Secret, Labels: map[string]string{
			"app.kubernetes.io/part-of": "writ", "app.kubernetes.io/managed-by": "writ-controller"}}
		secret.Type = corev1.SecretTypeTLS
		err = r.Client.Create(ctx, &secret)
	} else {
		err = r.Client.Update(ctx, &secret)
	}
	if err != nil {
		return res, fmt.Errorf("writing Secret %s/%s: %w", r.Namespace, r.Secret, err)
	}
	return res, nil
}

// setBundle sets caBundle on every webhook of the configurations and reports whether it changed.
func (r *Rotator) setBundle(ctx context.Context, caBundle []byte) (bool, error) {
	changed, err := setBundleOf(ctx, r.Client, &admissionregistrationv1.ValidatingWebhookConfiguration{}, r.WebhookConfiguration, caBundle)
	if err != nil {
		return false, fmt.Errorf("setting the caBundle of ValidatingWebhookConfiguration %s: %w", r.WebhookConfiguration, err)
	}
	if r.MutatingWebhookConfiguration == "" {
		return changed, nil
	}
	mchanged, err := setBundleOf(ctx, r.Client, &admissionregistrationv1.MutatingWebhookConfiguration{}, r.MutatingWebhookConfiguration, caBundle)
	if apierrors.IsNotFound(err) {
		return changed, nil
	}
	if err != nil {
		return false, fmt.Errorf("setting the caBundle of MutatingWebhookConfiguration %s: %w", r.MutatingWebhookConfiguration, err)
	}
	return changed || mchanged, nil
}

// setBundleOf sets caBundle on every webhook of the named configuration (obj: an empty
// Validating- or MutatingWebhookConfiguration to read into).
func setBundleOf(ctx context.Context, c client.Client, obj client.Object, name string, caBundle []byte) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed = false
		if err := c.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
			return err
		}
		for _, cc := range clientConfigs(obj) {
			if !bytes.Equal(cc.CABundle, caBundle) {
				cc.CABundle = caBundle
				changed = true
			}
		}
		if !changed {
			return nil
		}
		return c.Update(ctx, obj)
	})
	return changed, err
}

// clientConfigs returns the client configurations of a webhook configuration's webhooks.
func clientConfigs(obj client.Object) []*admissionregistrationv1.WebhookClientConfig {
	var out []*admissionregistrationv1.WebhookClientConfig
	switch o := obj.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range o.Webhooks {
			out = append(out, &o.Webhooks[i].ClientConfig)
		}
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range o.Webhooks {
			out = append(out, &o.Webhooks[i].ClientConfig)
		}
	}
	return out
}

// Start runs Ensure until ctx ends: again when a renewal is due, after an error in a few
// seconds, and at least every Interval.
func (r *Rotator) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("webhook-certs")
	for {
		res, err := r.Ensure(ctx)
		wait := or(r.Interval, DefaultInterval)
		switch {
		case err != nil:
			logger.Error(err, "webhook certificates not in place; retrying")
			wait = min(wait, 5*time.Second)
		case res.CARotated || res.CertRotated || res.BundleUpdated:
			logger.Info("webhook certificates updated", "secret", r.Namespace+"/"+r.Secret, "newCA", res.CARotated,
				"newServingCertificate", res.CertRotated, "caBundleUpdated", res.BundleUpdated, "renewAt", res.RenewAt)
		}
		if d := res.RenewAt.Sub(r.now()); err == nil && d < wait {
			wait = max(d, time.Second)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// NeedLeaderElection makes a manager run the Rotator on the leader only.
func (r *Rotator) NeedLeaderElection() bool { return true }

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Rotator) rand() io.Reader {
	if r.Rand != nil {
		return r.Rand
	}
	return rand.Reader
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func sameData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if !bytes.Equal(a[k], v) {
			return false
		}
	}
	return true
}
