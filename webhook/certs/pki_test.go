package certs

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

func TestIssueAndParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := newCA(rand.Reader, now, 30*24*time.Hour, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	names := DNSNames("writ-webhook", "writ-system")
	leaf, err := issue(rand.Reader, ca, now, 90*24*time.Hour, names)
	if err != nil {
		t.Fatal(err)
	}
	// Never past the CA.
	if !leaf.cert.NotAfter.Equal(ca.cert.NotAfter) {
		t.Errorf("certificate expires %s, CA %s", leaf.cert.NotAfter, ca.cert.NotAfter)
	}
	if !servesFor(leaf.cert, ca.cert, names) || servesFor(leaf.cert, ca.cert, names[:1]) {
		t.Error("servesFor does not compare the names")
	}
	other, _ := newCA(rand.Reader, now, time.Hour, "other")
	if servesFor(leaf.cert, other.cert, names) {
		t.Error("servesFor accepts a certificate another CA signed")
	}
	key, _ := encodeKey(leaf.key)
	got, err := parsePair(encodeCert(leaf.cert), key)
	if err != nil || !got.cert.Equal(leaf.cert) {
		t.Fatalf("round trip: %v", err)
	}
	caKey, _ := encodeKey(ca.key)
	if _, err := parsePair(encodeCert(leaf.cert), caKey); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("a mismatched key: %v", err)
	}
	if _, err := parsePair([]byte("garbage"), key); err == nil {
		t.Error("garbage parsed")
	}
	// Errors never quote the key.
	if _, err := parsePair(encodeCert(leaf.cert), append([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), key...)); err == nil || bytes.Contains([]byte(err.Error()), key[30:60]) {
		t.Errorf("bad key: %v", err)
	}
}

func TestRenewAtIsAThirdBeforeExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := newCA(rand.Reader, now, 30*24*time.Hour, "ca")
	if err != nil {
		t.Fatal(err)
	}
	life := ca.cert.NotAfter.Sub(ca.cert.NotBefore)
	if got, want := renewAt(ca.cert), ca.cert.NotAfter.Add(-life/3); !got.Equal(want) {
		t.Errorf("renewAt %s, want %s", got, want)
	}
}

func TestBundleDropsExpiredAndDuplicateCAs(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, _ := newCA(rand.Reader, now, 24*time.Hour, "a")
	b, _ := newCA(rand.Reader, now, 48*time.Hour, "b")
	if n := bytes.Count(bundle(now, a.cert, b.cert, a.cert, nil), []byte("BEGIN CERTIFICATE")); n != 2 {
		t.Errorf("%d certificates, want 2", n)
	}
	later := bundle(now.Add(36*time.Hour), a.cert, b.cert)
	certs, err := certutil.ParseCertsPEM(later)
	if err != nil || len(certs) != 1 || certs[0].Subject.CommonName != "b" {
		t.Errorf("after a expired: %v %v", certs, err)
	}
}
