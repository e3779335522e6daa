package sealing

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/bitnami/sealed-secrets/pkg/crypto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

// ErrUnseal is wrapped by every failure to open a SealedSecret: tampered or truncated
// ciphertext, a renamed or moved object (the scope label no longer matches), a key this cluster
// does not have.
var ErrUnseal = errors.New("cannot unseal")

// Unseal opens ss into the Secret it describes, with spec.template rendered as Bitnami's
// controller renders it (Bitnami's own SealedSecret.Unseal), and returns the fingerprints of the
// keys that opened it. It tries the keys AnnotationKey names first, then each key alone (newest
// first), then all keys together for values sealed with different keys. Either every value
// opens or there is no Secret.
func Unseal(ss *ssv1alpha1.SealedSecret, ring *KeyRing) (*corev1.Secret, []string, error) {
	return unseal(ss, ring, true)
}

// UnsealWithoutTemplate is Unseal without rendering spec.template.data, for unauthenticated
// callers (a template could otherwise serve as a decryption oracle).
func UnsealWithoutTemplate(ss *ssv1alpha1.SealedSecret, ring *KeyRing) (*corev1.Secret, []string, error) {
	return unseal(ss, ring, false)
}

func unseal(ss *ssv1alpha1.SealedSecret, ring *KeyRing, render bool) (*corev1.Secret, []string, error) {
	if len(ring.Keys()) == 0 {
		return nil, nil, fmt.Errorf("%w %s/%s: no sealing key in this cluster yet", ErrUnseal, ss.Namespace, ss.Name)
	}
	ss = ss.DeepCopy()
	ss.SetGroupVersionKind(GroupVersionKind) // the owner reference Bitnami's Unseal sets needs it
	open := func(keys map[string]*rsa.PrivateKey) (*corev1.Secret, error) {
		if render {
			return ss.Unseal(scheme.Codecs, keys)
		}
		return ss.UnsealWithoutTemplate(scheme.Codecs, keys)
	}
	var attempts [][]string
	if hinted := hintedKeys(ss, ring); len(hinted) > 0 {
		attempts = append(attempts, hinted)
	}
	for _, k := range ring.Keys() {
		attempts = append(attempts, []string{k.Fingerprint})
	}
	if len(ring.Keys()) > 1 {
		attempts = append(attempts, nil)
	}
	var last error
	for _, fps := range attempts {
		s, err := open(ring.privateKeys(fps...))
		if err == nil {
			if fps == nil {
				fps = usedKeys(ss, ring)
			}
			return s, fps, nil
		}
		last = err
		if len(ss.Spec.EncryptedData) == 0 {
			break // nothing a key could change
		}
	}
	if render {
		// Every value opens but the template does not render: its error may quote the plaintext
		// ({{ fail .password }}), and status and events are readable by whoever wrote the
		// SealedSecret, so the text is withheld.
		if _, err := ss.UnsealWithoutTemplate(scheme.Codecs, ring.privateKeys()); err == nil {
			return nil, nil, fmt.Errorf("%w %s/%s: %w", ErrUnseal, ss.Namespace, ss.Name, ErrTemplate)
		}
	}
	return nil, nil, fmt.Errorf("%w %s/%s: %v", ErrUnseal, ss.Namespace, ss.Name, last)
}

// ErrTemplate is returned when every value opens but spec.template.data does not render.
var ErrTemplate = errors.New("spec.template.data does not render (the template error is not shown: it may contain secret values)")

// hintedKeys returns the distinct fingerprints AnnotationKey names, if this ring has them all.
func hintedKeys(ss *ssv1alpha1.SealedSecret, ring *KeyRing) []string {
	seen := map[string]bool{}
	var fps []string
	for _, fp := range KeyFingerprints(ss) {
		if seen[fp] {
			continue
		}
		if _, ok := ring.Get(fp); !ok {
			return nil
		}
		seen[fp] = true
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	return fps
}

// usedKeys finds, value by value, which key opens ss (only after a multi-key unseal).
func usedKeys(ss *ssv1alpha1.SealedSecret, ring *KeyRing) []string {
	label := ssv1alpha1.EncryptionLabel(ss.Namespace, ss.Name, ssv1alpha1.SecretScope(ss))
	seen := map[string]bool{}
	var fps []string
	for _, v := range ss.Spec.EncryptedData {
		if _, fp, err := openValue(v, label, ring, ""); err == nil && !seen[fp] {
			seen[fp] = true
			fps = append(fps, fp)
		}
	}
	sort.Strings(fps)
	return fps
}

// openValue decrypts one base64 sealed value with label, trying the key hint first, and returns
// the plaintext and the fingerprint of the key that opened it.
func openValue(value string, label []byte, ring *KeyRing, hint string) ([]byte, string, error) {
	ct, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, "", fmt.Errorf("%w: the sealed value is not base64: %v", ErrUnseal, err)
	}
	return OpenValue(ct, label, ring, hint)
}

// OpenValue decrypts one sealed value (raw bytes, not base64) sealed for label, trying the key
// with fingerprint hint first, and returns the plaintext and the key's fingerprint.
func OpenValue(ct, label []byte, ring *KeyRing, hint string) ([]byte, string, error) {
	order := make([]*Key, 0, len(ring.Keys()))
	if k, ok := ring.Get(hint); ok {
		order = append(order, k)
	}
	for _, k := range ring.Keys() {
		if k.Fingerprint != hint {
			order = append(order, k)
		}
	}
	var last error = errors.New("no key")
	for _, k := range order {
		p, err := crypto.HybridDecrypt(rand.Reader, map[string]*rsa.PrivateKey{k.Fingerprint: k.Private}, ct, label)
		if err == nil {
			return p, k.Fingerprint, nil
		}
		last = err
	}
	return nil, "", fmt.Errorf("%w: %v", ErrUnseal, last)
}

// Label returns the RSA-OAEP label a value of ss is sealed with.
func Label(ss *ssv1alpha1.SealedSecret) []byte {
	return ssv1alpha1.EncryptionLabel(ss.Namespace, ss.Name, ssv1alpha1.SecretScope(ss))
}

// JoinFingerprints formats fingerprints as the value of AnnotationUnsealedWith.
func JoinFingerprints(fps []string) string { return strings.Join(fps, ",") }
