package sealing_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/sealing"
	"writ.dev/writ/sealing/sealingtest"
)

// ParseCerts takes every certificate of a PEM file, each an RSA sealing certificate, and says what
// is wrong with anything else.
func TestParseCerts(t *testing.T) {
	a, b := sealingtest.Keys(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not-sealing"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec.PublicKey, ec)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	broken := "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	both := string(sealing.CertPEM(a.Cert)) + "# a comment\n" + string(sealing.CertPEM(b.Cert))
	for _, tc := range []struct {
		name, in string
		want     int
		err      string
	}{
		{"two certificates", both, 2, ""},
		{"a key before the certificate", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" + string(sealing.CertPEM(a.Cert)), 1, ""},
		{"not PEM", "apiVersion: v1\nkind: Secret\n", 0, "no PEM certificate found"},
		{"empty", "", 0, "no PEM certificate found"},
		{"a broken certificate after a good one", string(sealing.CertPEM(a.Cert)) + broken, 0, "parsing a certificate"},
		{"an EC certificate", ecPEM, 0, `the certificate for "not-sealing" does not hold an RSA public key`},
	} {
		certs, err := sealing.ParseCerts([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || certs != nil {
				t.Errorf("%s: %d certificates, %v; want an error with %q", tc.name, len(certs), err, tc.err)
			}
			continue
		}
		if err != nil || len(certs) != tc.want {
			t.Errorf("%s: %d certificates, %v; want %d", tc.name, len(certs), err, tc.want)
		}
	}
}
