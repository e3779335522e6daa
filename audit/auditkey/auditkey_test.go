package auditkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	k, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := MarshalPrivate(k)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParsePrivate(pp)
	if err != nil || !bytes.Equal(k, k2) {
		t.Fatalf("private round trip: %v", err)
	}
}

func TestPublicForms(t *testing.T) {
	k, _ := Generate(nil)
	pub := k.Public().(ed25519.PublicKey)
	p, err := MarshalPublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{"pem": p, "hex": []byte(hex.EncodeToString(pub) + "\n")} {
		got, err := ParsePublic(in)
		if err != nil || !bytes.Equal(got, pub) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestErrorsDoNotEchoKeys(t *testing.T) {
	k, _ := Generate(nil)
	pp, _ := MarshalPrivate(k)
	if _, err := ParsePublic(pp); err == nil || strings.Contains(err.Error(), "PRIVATE KEY-----") {
		t.Fatalf("private key accepted as public or echoed: %v", err)
	}
	broken := bytes.Replace(pp, []byte("MC4C"), []byte("MC4D"), 1)
	if _, err := ParsePrivate(broken); err == nil || strings.Contains(err.Error(), string(broken[30:40])) {
		t.Fatalf("broken key: %v", err)
	}
	if _, err := ParsePrivate([]byte("nope")); err == nil {
		t.Fatal("garbage accepted")
	}
}
