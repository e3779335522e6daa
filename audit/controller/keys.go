package controller

import (
	"context"
	"crypto/ed25519"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/auditkey"
)

// Names of the objects holding the audit key.
const (
	KeySecret        = "writ-audit-signing-key"
	KeySecretField   = "audit.key"
	PublicConfigMap  = "writ-audit-public-key"
	PublicKeyField   = "audit.pub"
	PublicKeyIDField = "keyID"
)

// EnsureKey returns the audit signing key from its Secret in namespace, creating the Secret with
// a new key if there is none, and publishes the public key in a ConfigMap.
func EnsureKey(ctx context.Context, c client.Client, namespace string) (ed25519.PrivateKey, error) {
	var s corev1.Secret
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: KeySecret}, &s)
	if apierrors.IsNotFound(err) {
		k, gerr := auditkey.Generate(nil)
		if gerr != nil {
			return nil, gerr
		}
		pem, merr := auditkey.MarshalPrivate(k)
		if merr != nil {
			return nil, merr
		}
		s = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: KeySecret, Labels: map[string]string{"app.kubernetes.io/part-of": "writ"}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{KeySecretField: pem},
		}
		err = c.Create(ctx, &s)
		if apierrors.IsAlreadyExists(err) { // another replica won the race: use its key
			err = c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: KeySecret}, &s)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("audit signing key Secret %s/%s: %w", namespace, KeySecret, err)
	}
	key, err := auditkey.ParsePrivate(s.Data[KeySecretField])
	if err != nil {
		return nil, fmt.Errorf("audit signing key Secret %s/%s field %s: %w", namespace, KeySecret, KeySecretField, err)
	}
	if err := publish(ctx, c, namespace, key.Public().(ed25519.PublicKey)); err != nil {
		return nil, err
	}
	return key, nil
}

func publish(ctx context.Context, c client.Client, namespace string, pub ed25519.PublicKey) error {
	pem, err := auditkey.MarshalPublic(pub)
	if err != nil {
		return err
	}
	want := map[string]string{PublicKeyField: string(pem), PublicKeyIDField: audit.KeyID(pub)}
	var cm corev1.ConfigMap
	err = c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: PublicConfigMap}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: PublicConfigMap,
			Labels: map[string]string{"app.kubernetes.io/part-of": "writ"}}, Data: want}
		err = c.Create(ctx, &cm)
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
	case err == nil && (cm.Data[PublicKeyField] != want[PublicKeyField] || cm.Data[PublicKeyIDField] != want[PublicKeyIDField]):
		cm.Data = want
		err = c.Update(ctx, &cm)
	}
	if err != nil {
		return fmt.Errorf("publishing the audit public key in ConfigMap %s/%s: %w", namespace, PublicConfigMap, err)
	}
	return nil
}
