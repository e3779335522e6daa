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

func TestSignerID(t *testing.T) {
	a := Signer{Method: Keyless, Identity: "a@example.com", Issuer: "https://accounts.google.com", Fingerprint: "cert1"}
	b := a
	b.Fingerprint = "cert2"
	if a.ID() != b.ID() {
		t.Error("two certificates of one keyless identity are different signers")
	}
	k1 := Signer{Method: SSH, Fingerprint: "SHA256:x", Identity: "alice"}
	k2 := Signer{Method: SSH, Fingerprint: "SHA256:y", Identity: "alice"}
	if k1.ID() == k2.ID() {
		t.Error("two SSH keys are the same signer")
	}
}

func TestSentinelsWrap(t *testing.T) {
	err := fmt.Errorf("%w: key SHA256:abc is not in allowed_signers", ErrUnknownKey)
	if !errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrBadSignature) {
		t.Fatal("sentinel wrapping broken")
	}
}
