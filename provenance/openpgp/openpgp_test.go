package openpgp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/provenance/signature"
	"writ.dev/writ/test/fixtures"
)

func TestVerifyRealGPGSignatures(t *testing.T) {
	g := fixtures.NewGPG(t)
	ed := g.Key(t, "Alice", "alice@example.com", "ed25519", "never")
	rsa := g.Key(t, "Bob", "bob@example.com", "rsa2048", "never")
	stranger := g.Key(t, "Mallory", "mallory@example.com", "ed25519", "never")
	// Eve's key: created in 2020, signs in June 2020, then gets an expiry of 2020-03-02 (set by a
	// later self-signature), so the June signature was made by an expired key.
	eveBorn := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	expiring := g.KeyAt(t, "Eve", "eve@example.com", "ed25519", "never", eveBorn)
	payload := []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nhello\n")
	eveEarly := g.SignAt(t, expiring.Fingerprint, payload, eveBorn.AddDate(0, 0, 30))
	eveLate := g.SignAt(t, expiring.Fingerprint, payload, eveBorn.AddDate(0, 5, 0))
	expiring.PublicKey = g.SetExpiry(t, expiring.Fingerprint, "60d", eveBorn.Add(time.Hour))

	// Alice's and Bob's keys in one entry, Eve's in another: every block is read.
	v, err := Compile([]string{ed.PublicKey + "\n" + rsa.PublicKey, expiring.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Fingerprints()) != 3 {
		t.Fatalf("read %d keys from three blocks", len(v.Fingerprints()))
	}

	for _, k := range []fixtures.Signer{ed, rsa} {
		s, err := v.Verify(payload, g.Sign(t, k.Fingerprint, payload))
		if err != nil {
			t.Fatalf("%s: %v", k.Name, err)
		}
		if s.Fingerprint != k.Fingerprint || s.Method != signature.OpenPGP || !strings.Contains(s.Identity, k.Email) {
			t.Fatalf("%s: signer %+v", k.Name, s)
		}
		if time.Since(s.SigningTime) > time.Hour || s.TimeSource != signature.TimeSignature {
			t.Fatalf("%s: signing time %v from %s", k.Name, s.SigningTime, s.TimeSource)
		}
	}

	tests := []struct {
		name    string
		payload []byte
		sig     []byte
		want    error
	}{
		{"tampered payload", []byte(strings.Replace(string(payload), "hello", "hellO", 1)), g.Sign(t, ed.Fingerprint, payload), signature.ErrBadSignature},
		{"signature copied from another payload", payload, g.Sign(t, ed.Fingerprint, []byte("other")), signature.ErrBadSignature},
		{"unknown key", payload, g.Sign(t, stranger.Fingerprint, payload), signature.ErrUnknownKey},
		{"signed after the key expired", payload, eveLate, signature.ErrExpired},
		{"not armor", payload, []byte("-----BEGIN PGP SIGNATURE-----\n\n!!!\n"), signature.ErrMalformed},
		{"a public key instead of a signature", payload, []byte(ed.PublicKey), signature.ErrMalformed},
		{"text before the armor", payload, append([]byte("note\n"), g.Sign(t, ed.Fingerprint, payload)...), signature.ErrMalformed},
		{"text after the armor", payload, append(g.Sign(t, ed.Fingerprint, payload), "note\n"...), signature.ErrMalformed},
		{"two armors", payload, append(g.Sign(t, ed.Fingerprint, payload), g.Sign(t, ed.Fingerprint, payload)...), signature.ErrMalformed},
	}
	for _, tt := range tests {
		if _, err := v.Verify(tt.payload, tt.sig); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}

	// A signature made while the key was valid still verifies after it expired: validity is
	// judged at signing time.
	if _, err := v.Verify(payload, eveEarly); err != nil {
		t.Fatalf("signature made before expiry: %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	for name, keys := range map[string][]string{
		"none":          nil,
		"no block":      {"ssh-ed25519 AAAA"},
		"garbage block": {"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64\n-----END PGP PUBLIC KEY BLOCK-----\n"},
	} {
		if _, err := Compile(keys); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}

func TestCompileRejectsPrivateKeys(t *testing.T) {
	g := fixtures.NewGPG(t)
	k := g.Key(t, "Alice", "alice@example.com", "ed25519", "never")
	secret := fixtures.ExportSecret(t, g, k.Fingerprint)
	_, err := Compile([]string{secret})
	if err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("a private key was accepted: %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY BLOCK") {
		t.Fatal("error echoes the private key")
	}
}
