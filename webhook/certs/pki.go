package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

// Keys of the Secret the Rotator keeps.
const (
	// CABundleKey holds the trusted CAs, PEM: the current one first, then the previous one while
	// it is still valid. The webhook configuration's caBundle is this value.
	CABundleKey = "ca.crt"
	// CAPrivateKeyKey holds the current CA's private key, PEM. Never mount it into a pod.
	CAPrivateKeyKey = "ca.key"
	// CertKey and PrivateKeyKey hold the serving certificate and its key, PEM, as the
	// kubernetes.io/tls Secret type and controller-runtime's webhook server name them.
	CertKey       = "tls.crt"
	PrivateKeyKey = "tls.key"
)

// pair is a certificate with its private key.
type pair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newCA creates a self-signed CA valid from now for validity.
func newCA(rnd io.Reader, now time.Time, validity time.Duration, name string) (pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return pair{}, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"writ"}},
		NotBefore:             now.Add(-5 * time.Minute), // tolerate clock skew between nodes
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return sign(rnd, tmpl, nil, key)
}

// issue signs a serving certificate for dnsNames with ca, valid for validity but never past the
// CA's own expiry.
func issue(rnd io.Reader, ca pair, now time.Time, validity time.Duration, dnsNames []string) (pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return pair{}, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: dnsNames[0]},
		DNSNames:    dnsNames,
		NotBefore:   now.Add(-5 * time.Minute),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return sign(rnd, tmpl, &ca, key)
}

func sign(rnd io.Reader, tmpl *x509.Certificate, parent *pair, key *ecdsa.PrivateKey) (pair, error) {
	serial, err := randSerial(rnd)
	if err != nil {
		return pair{}, err
	}
	tmpl.SerialNumber = serial
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rnd, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		return pair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return pair{}, err
	}
	return pair{cert: cert, key: key}, nil
}

func randSerial(rnd io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b), nil
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// parsePair parses a certificate (the first of certPEM) and its EC private key, and checks that
// they belong together. Its errors never quote key material.
func parsePair(certPEM, keyPEM []byte) (pair, error) {
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		return pair{}, err
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return pair{}, errors.New("no PEM private key")
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return pair{}, errors.New("private key is not an EC key")
	}
	pub, ok := certs[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return pair{}, errors.New("private key does not match the certificate")
	}
	return pair{cert: certs[0], key: key}, nil
}

// renewAt is when a certificate is due for renewal: a third of its lifetime before it expires.
func renewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotAfter.Add(-life / 3)
}

// servesFor reports whether c was signed by ca and names exactly dnsNames.
func servesFor(c, ca *x509.Certificate, dnsNames []string) bool {
	if err := c.CheckSignatureFrom(ca); err != nil {
		return false
	}
	return slices.Equal(c.DNSNames, dnsNames)
}

// bundle encodes cas, skipping any that expired by now and duplicates.
func bundle(now time.Time, cas ...*x509.Certificate) []byte {
	var b bytes.Buffer
	var seen [][]byte
	for _, c := range cas {
		if c == nil || now.After(c.NotAfter) || slices.ContainsFunc(seen, func(r []byte) bool { return bytes.Equal(r, c.Raw) }) {
			continue
		}
		seen = append(seen, c.Raw)
		b.Write(encodeCert(c))
	}
	return b.Bytes()
}

// DNSNames returns the names a serving certificate for service in namespace carries: the ones the
// apiserver and in-cluster clients use.
func DNSNames(service, namespace string) []string {
	return []string{
		fmt.Sprintf("%s.%s.svc", service, namespace),
		fmt.Sprintf("%s.%s.svc.cluster.local", service, namespace),
		fmt.Sprintf("%s.%s", service, namespace),
		service,
	}
}
