package sealing

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/bitnami/sealed-secrets/pkg/crypto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnotationKey, on a SealedSecret, names the key that sealed its values: one fingerprint when
// every value was sealed with the same key, else "<data key>=<fingerprint>" pairs separated by
// commas. It is outside the encrypted data, so the format stays Bitnami's and kubeseal and
// Bitnami's controller ignore it; a wrong value only costs the controller a retry with every key.
const AnnotationKey = "sealing.writ.dev/key"

// AnnotationUnsealedWith, on a Secret the controller wrote, lists the fingerprints of the keys
// that actually opened it, comma-separated: evidence for SealedSecrets sealed by kubeseal, which
// carry no AnnotationKey.
const AnnotationUnsealedWith = "sealing.writ.dev/unsealed-with"

// GroupVersionKind of SealedSecret.
var GroupVersionKind = ssv1alpha1.SchemeGroupVersion.WithKind("SealedSecret")

// Sealer seals with one certificate.
type Sealer struct {
	cert *x509.Certificate
	pub  *rsa.PublicKey
	fp   string
	rnd  io.Reader
}

// ErrExpired is returned for a certificate past its NotAfter.
var ErrExpired = errors.New("the sealing certificate has expired")

// NewSealer returns a Sealer for cert, refusing a certificate that has expired at now. rnd is
// the randomness (crypto/rand.Reader outside tests).
func NewSealer(cert *x509.Certificate, now time.Time, rnd io.Reader) (*Sealer, error) {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("the certificate does not hold an RSA public key: it is not a sealing certificate")
	}
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%w on %s: fetch the cluster's current one (writ seal --fetch-cert)", ErrExpired, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	fp, err := crypto.PublicKeyFingerprint(pub)
	if err != nil {
		return nil, err
	}
	return &Sealer{cert: cert, pub: pub, fp: fp, rnd: rnd}, nil
}

// Fingerprint returns the fingerprint of the sealing key.
func (s *Sealer) Fingerprint() string { return s.fp }

// Cert returns the certificate.
func (s *Sealer) Cert() *x509.Certificate { return s.cert }

// SealValue seals one value for a Secret namespace/name in scope and returns it base64-encoded,
// as kubeseal --raw prints it.
func (s *Sealer) SealValue(value []byte, namespace, name string, scope ssv1alpha1.SealingScope) (string, error) {
	if err := checkTarget(namespace, name, scope); err != nil {
		return "", err
	}
	return s.sealValue(value, ssv1alpha1.EncryptionLabel(namespace, name, scope))
}

func (s *Sealer) sealValue(value, label []byte) (string, error) {
	ct, err := crypto.HybridEncrypt(s.rnd, s.pub, value, label)
	if err != nil {
		return "", fmt.Errorf("sealing: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

func checkTarget(namespace, name string, scope ssv1alpha1.SealingScope) error {
	switch {
	case scope == ssv1alpha1.StrictScope && name == "":
		return errors.New("no Secret name: strict scope binds the sealed value to namespace/name; give the Secret a metadata.name (or --name), or seal with --scope namespace-wide")
	case scope != ssv1alpha1.ClusterWideScope && namespace == "":
		return errors.New("no namespace: set metadata.namespace (or --namespace), or seal with --scope cluster-wide")
	}
	return nil
}

// Seal returns a SealedSecret for secret, in the scope its annotations declare (Bitnami's
// sealedsecrets.bitnami.com/namespace-wide and /cluster-wide), carrying its metadata, type and
// immutability in spec.template. Server-set metadata, owner references and kubectl's
// last-applied copy (which holds the plaintext) are dropped.
func (s *Sealer) Seal(secret *corev1.Secret) (*ssv1alpha1.SealedSecret, error) {
	return s.MergeInto(nil, secret, nil)
}

// MergeInto seals secret's values into a copy of existing (nil: a new SealedSecret). A value
// whose key existing already holds is kept as it is when old (if not nil) can open it and it
// equals the new plaintext, so a re-seal changes only what really changed.
func (s *Sealer) MergeInto(existing *ssv1alpha1.SealedSecret, secret *corev1.Secret, old *KeyRing) (*ssv1alpha1.SealedSecret, error) {
	var out *ssv1alpha1.SealedSecret
	var scope ssv1alpha1.SealingScope
	fps := map[string]string{}
	if existing == nil {
		scope = ssv1alpha1.SecretScope(secret)
		if err := checkTarget(secret.Namespace, secret.Name, scope); err != nil {
			return nil, err
		}
		if secret.Name == "" {
			return nil, errors.New("no Secret name: give the Secret a metadata.name (or --name)")
		}
		out = newSealedSecret(secret, scope)
	} else {
		out = existing.DeepCopy()
		scope = ssv1alpha1.SecretScope(out)
		fps = KeyFingerprints(out)
		if out.Spec.EncryptedData == nil {
			out.Spec.EncryptedData = ssv1alpha1.SealedSecretEncryptedData{}
		}
	}
	label := ssv1alpha1.EncryptionLabel(out.Namespace, out.Name, scope)
	values := make(map[string][]byte, len(secret.Data)+len(secret.StringData))
	for k, v := range secret.Data {
		values[k] = v
	}
	for k, v := range secret.StringData {
		values[k] = []byte(v)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if prev, ok := out.Spec.EncryptedData[k]; ok && old != nil {
			if plain, fp, err := openValue(prev, label, old, fps[k]); err == nil && bytes.Equal(plain, values[k]) {
				fps[k] = fp
				continue
			}
		}
		ct, err := s.sealValue(values[k], label)
		if err != nil {
			return nil, err
		}
		out.Spec.EncryptedData[k] = ct
		fps[k] = s.fp
	}
	setKeyFingerprints(out, fps)
	return out, nil
}

func newSealedSecret(secret *corev1.Secret, scope ssv1alpha1.SealingScope) *ssv1alpha1.SealedSecret {
	ss := &ssv1alpha1.SealedSecret{
		TypeMeta:   metav1.TypeMeta{APIVersion: ssv1alpha1.SchemeGroupVersion.String(), Kind: "SealedSecret"},
		ObjectMeta: metav1.ObjectMeta{Name: secret.Name, Namespace: secret.Namespace},
		Spec: ssv1alpha1.SealedSecretSpec{
			Template:      ssv1alpha1.SecretTemplateSpec{Type: secret.Type, Immutable: secret.Immutable},
			EncryptedData: ssv1alpha1.SealedSecretEncryptedData{},
		},
	}
	secret.ObjectMeta.DeepCopyInto(&ss.Spec.Template.ObjectMeta)
	t := &ss.Spec.Template.ObjectMeta
	ssv1alpha1.StripLastAppliedAnnotations(t.Annotations)
	t.OwnerReferences, t.ManagedFields, t.UID, t.ResourceVersion, t.Generation = nil, nil, "", "", 0
	t.CreationTimestamp, t.DeletionTimestamp, t.DeletionGracePeriodSeconds, t.Finalizers = metav1.Time{}, nil, nil, nil
	if len(t.Annotations) == 0 {
		t.Annotations = nil
	}
	ss.Annotations = ssv1alpha1.UpdateScopeAnnotations(ss.Annotations, scope)
	return ss
}

// KeyFingerprints returns the fingerprint of the key that sealed each value of ss, as its
// AnnotationKey says (no entry for a value it does not name).
func KeyFingerprints(ss *ssv1alpha1.SealedSecret) map[string]string {
	out := map[string]string{}
	a := strings.TrimSpace(ss.Annotations[AnnotationKey])
	if a == "" {
		return out
	}
	if !strings.Contains(a, "=") {
		for k := range ss.Spec.EncryptedData {
			out[k] = a
		}
		return out
	}
	for _, pair := range strings.Split(a, ",") {
		if k, fp, ok := strings.Cut(strings.TrimSpace(pair), "="); ok {
			if _, sealed := ss.Spec.EncryptedData[k]; sealed {
				out[k] = fp
			}
		}
	}
	return out
}

func setKeyFingerprints(ss *ssv1alpha1.SealedSecret, fps map[string]string) {
	distinct := map[string]bool{}
	complete := true
	for k := range ss.Spec.EncryptedData {
		if fp, ok := fps[k]; ok {
			distinct[fp] = true
		} else {
			complete = false
		}
	}
	if ss.Annotations == nil {
		ss.Annotations = map[string]string{}
	}
	switch {
	case len(distinct) == 0:
		delete(ss.Annotations, AnnotationKey)
	case len(distinct) == 1 && complete:
		for fp := range distinct {
			ss.Annotations[AnnotationKey] = fp
		}
	default:
		keys := make([]string, 0, len(fps))
		for k := range fps {
			if _, ok := ss.Spec.EncryptedData[k]; ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + fps[k]
		}
		ss.Annotations[AnnotationKey] = strings.Join(pairs, ",")
	}
}
