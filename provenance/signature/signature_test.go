package signature

import (
	"errors"
	"fmt"
	"testing"
)

func TestDetect(t *testing.T) {
	for sig, want := range map[string]Method{
		"-----BEGIN PGP SIGNATURE-----\n\nabc":    OpenPGP,
		"\n-----BEGIN SSH SIGNATURE-----\nU1NI":   SSH,
		"-----BEGIN SIGNED MESSAGE-----\nMIAG":    Keyless,
		"-----BEGIN CERTIFICATE-----\nMII":        "",
		"":                                        "",
		"garbage -----BEGIN PGP SIGNATURE-----\n": "",
	} {
		if got := Detect([]byte(sig)); got != want {
			t.Errorf("Detect(%q) = %q, want %q", sig, got, want)
		}
	}
}

// ID keeps the key and the person apart, and keyless signers keep their issuer.
func TestSignerID(t *testing.T) {
	for _, tc := range []struct {
		s    Signer
		want string
	}{
		{Signer{Method: SSH, Fingerprint: "SHA256:v/FvuR4", Identity: "alice@example.com"}, "ssh:SHA256:v/FvuR4 (alice@example.com)"},
		{Signer{Method: SSH, Fingerprint: "SHA256:v/FvuR4"}, "ssh:SHA256:v/FvuR4"},
		{Signer{Method: OpenPGP, Fingerprint: "4F1C9A2B", KeyID: "9A2B", Identity: "Alice <alice@example.com>"}, "openpgp:4F1C9A2B (Alice <alice@example.com>)"},
		{Signer{Method: Keyless, Fingerprint: "cert1", Identity: "alice@example.com", Issuer: "https://accounts.google.com"}, "keyless:alice@example.com (https://accounts.google.com)"},
	} {
		if got := tc.s.ID(); got != tc.want {
			t.Errorf("ID() = %q, want %q", got, tc.want)
		}
	}
}

// Key tells signers apart: one keyless identity is one signer whatever its certificate, two SSH
// keys are two, and one key matched under two principals is one.
func TestSignerKey(t *testing.T) {
	a := Signer{Method: Keyless, Identity: "a@example.com", Issuer: "https://accounts.google.com", Fingerprint: "cert1"}
	b := a
	b.Fingerprint = "cert2"
	if a.Key() != b.Key() || a.ID() != b.ID() {
		t.Error("two certificates of one keyless identity are different signers")
	}
	c := a
	c.Issuer = "https://token.actions.githubusercontent.com"
	if a.Key() == c.Key() || a.ID() == c.ID() {
		t.Error("one identity from two issuers is the same signer")
	}
	k1 := Signer{Method: SSH, Fingerprint: "SHA256:x", Identity: "alice"}
	k2 := Signer{Method: SSH, Fingerprint: "SHA256:y", Identity: "alice"}
	if k1.Key() == k2.Key() || k1.ID() == k2.ID() {
		t.Error("two SSH keys are the same signer")
	}
	k3 := k1
	k3.Identity = "alice@corp.example.com"
	if k1.Key() != k3.Key() {
		t.Error("one SSH key under two principals is two signers")
	}
}

func TestSentinelsWrap(t *testing.T) {
	err := fmt.Errorf("%w: key SHA256:abc is not in allowed_signers", ErrUnknownKey)
	if !errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrBadSignature) {
		t.Fatal("sentinel wrapping broken")
	}
}
