package sealing

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/bitnami/sealed-secrets/pkg/crypto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	certutil "k8s.io/client-go/util/cert"
)

// Labels and names of the key Secrets, as Bitnami's controller writes and reads them, so either
// controller can use the other's keys.
const (
	// KeyLabel marks a key Secret; its value is KeyActive or KeyCompromised.
	KeyLabel = "sealedsecrets.bitnami.com/sealed-secrets-key"
	// KeyActive is the KeyLabel value of a key in use.
	KeyActive = "active"
	// KeyCompromised is the KeyLabel value of a key that must no longer be used: it neither seals
	// nor unseals (Bitnami's controller ignores it too).
	KeyCompromised = "compromised"
	// KeyPrefix is the generateName of new key Secrets.
	KeyPrefix = "sealed-secrets-key"
	// DefaultKeySize is the RSA modulus size of new keys.
	DefaultKeySize = 4096
	// DefaultCertValidity is how long a new key's certificate is valid (Bitnami's default).
	DefaultCertValidity = 10 * 365 * 24 * time.Hour
	// DefaultRenewPeriod is how often a new key is made.
	DefaultRenewPeriod = 30 * 24 * time.Hour
)

// Key is one sealing key pair.
type Key struct {
	// Name of the Secret holding it ("" for a key not stored in the cluster).
	Name string
	// Fingerprint identifies the public key: crypto.PublicKeyFingerprint, "SHA256:<base64>".
	Fingerprint string
	Private     *rsa.PrivateKey
	Cert        *x509.Certificate
	// Status is KeyLabel's value on the Secret.
	Status string
	// Created is the certificate's NotBefore, which orders keys (Bitnami's default order).
	Created time.Time
}

// NewKey generates an RSA key of bits bits with a self-signed certificate valid from now for
// validFor, as Bitnami's controller does.
func NewKey(rnd io.Reader, bits int, now time.Time, validFor time.Duration, cn string) (*Key, error) {
	priv, err := rsa.GenerateKey(rnd, bits)
	if err != nil {
		return nil, fmt.Errorf("generating a %d-bit RSA key: %w", bits, err)
	}
	cert, err := crypto.SignKeyWithNotBefore(rnd, priv, now, validFor, cn)
	if err != nil {
		return nil, fmt.Errorf("signing the key's certificate: %w", err)
	}
	return keyFrom(priv, cert, "", KeyActive)
}

func keyFrom(priv *rsa.PrivateKey, cert *x509.Certificate, name, status string) (*Key, error) {
	fp, err := crypto.PublicKeyFingerprint(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	k := &Key{Name: name, Fingerprint: fp, Private: priv, Cert: cert, Status: status}
	if cert != nil {
		k.Created = cert.NotBefore
	}
	return k, nil
}

// Secret returns the key as a kubernetes.io/tls Secret in namespace, labelled active, named by
// the API server from KeyPrefix.
func (k *Key) Secret(namespace string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: KeyPrefix, Labels: map[string]string{KeyLabel: KeyActive}},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.Private)}),
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw}),
		},
	}
}

// KeyFromSecret reads a key Secret (tls.key and tls.crt, as both controllers write them).
func KeyFromSecret(s *corev1.Secret) (*Key, error) {
	priv, err := ParsePrivateKey(s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("key Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	certs, err := ParseCerts(s.Data[corev1.TLSCertKey])
	if err != nil {
		return nil, fmt.Errorf("key Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return keyFrom(priv, certs[0], s.Name, s.Labels[KeyLabel])
}

// ParsePrivateKey reads a PEM RSA private key (PKCS#1 or PKCS#8).
func ParsePrivateKey(pemData []byte) (*rsa.PrivateKey, error) {
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(b.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, errors.New("the private key is not an RSA key: sealing keys are RSA")
			}
			return rk, nil
		}
	}
}

// ParseCerts reads PEM certificates (every CERTIFICATE block, read by client-go's
// certutil.ParseCertsPEM) and requires each to hold an RSA public key.
func ParseCerts(pemData []byte) ([]*x509.Certificate, error) {
	certs, err := certutil.ParseCertsPEM(pemData)
	switch {
	case err != nil && len(certs) > 0:
		return nil, fmt.Errorf("parsing a certificate: %w", err)
	case err != nil:
		return nil, fmt.Errorf("no PEM certificate found that parses (%v): is this the sealing certificate (writ seal --fetch-cert prints it)?", err)
	}
	for _, c := range certs {
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("the certificate for %q does not hold an RSA public key: it is not a sealing certificate", c.Subject.CommonName)
		}
	}
	return certs, nil
}

// CertPEM encodes a certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Fingerprint returns the fingerprint of a certificate's public key.
func Fingerprint(c *x509.Certificate) (string, error) {
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "", errors.New("not an RSA certificate")
	}
	return crypto.PublicKeyFingerprint(pub)
}

// KeyRing is a set of keys, newest first. Its zero value is empty.
type KeyRing struct {
	keys []*Key
	byFP map[string]*Key
}

// NewKeyRing returns a ring of the given keys; compromised keys are left out.
func NewKeyRing(keys ...*Key) *KeyRing {
	r := &KeyRing{byFP: map[string]*Key{}}
	for _, k := range keys {
		if k.Status == KeyCompromised {
			continue
		}
		if _, dup := r.byFP[k.Fingerprint]; dup {
			continue
		}
		r.keys = append(r.keys, k)
		r.byFP[k.Fingerprint] = k
	}
	sort.SliceStable(r.keys, func(i, j int) bool { return r.keys[i].Created.After(r.keys[j].Created) })
	return r
}

// Keys returns the keys, newest first.
func (r *KeyRing) Keys() []*Key {
	if r == nil {
		return nil
	}
	return r.keys
}

// Latest returns the newest key, which seals; nil if the ring is empty.
func (r *KeyRing) Latest() *Key {
	if r == nil || len(r.keys) == 0 {
		return nil
	}
	return r.keys[0]
}

// Get returns the key with fingerprint fp.
func (r *KeyRing) Get(fp string) (*Key, bool) {
	if r == nil {
		return nil, false
	}
	k, ok := r.byFP[fp]
	return k, ok
}

// privateKeys returns the keys with the given fingerprints, in the map form Bitnami's
// crypto.HybridDecrypt takes; all keys if fps is empty.
func (r *KeyRing) privateKeys(fps ...string) map[string]*rsa.PrivateKey {
	m := map[string]*rsa.PrivateKey{}
	if r == nil {
		return m
	}
	if len(fps) == 0 {
		for _, k := range r.keys {
			m[k.Fingerprint] = k.Private
		}
		return m
	}
	for _, fp := range fps {
		if k, ok := r.byFP[fp]; ok {
			m[fp] = k.Private
		}
	}
	return m
}

// String lists the fingerprints, for logs (never key material).
func (r *KeyRing) String() string {
	fps := make([]string, 0, len(r.Keys()))
	for _, k := range r.Keys() {
		fps = append(fps, k.Fingerprint)
	}
	return strings.Join(fps, ",")
}
