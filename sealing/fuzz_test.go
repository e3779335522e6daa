package sealing_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"writ.dev/writ/sealing"
	"writ.dev/writ/sealing/sealingtest"
)

// FuzzOpenValue feeds arbitrary bytes to the sealed-value decoder (length prefix, RSA-OAEP
// session key, AES-GCM body): it must never panic, and anything but a genuine value for the
// label must be refused with ErrUnseal.
func FuzzOpenValue(f *testing.F) {
	a, _ := sealingtest.Keys(f)
	s := sealingtest.Sealer(f, a)
	genuine, err := s.SealValue([]byte("hunter2"), "shop", "db", 0)
	if err != nil {
		f.Fatal(err)
	}
	ct, _ := base64.StdEncoding.DecodeString(genuine)
	f.Add(ct, "shop/db")
	f.Add(ct, "shop/other")
	f.Add(ct[:2], "shop/db")
	f.Add([]byte{0xff, 0xff}, "")
	f.Add([]byte{}, "")
	ring := sealing.NewKeyRing(a)
	f.Fuzz(func(t *testing.T, data []byte, label string) {
		p, fp, err := sealing.OpenValue(data, []byte(label), ring, a.Fingerprint)
		if err != nil {
			if !errors.Is(err, sealing.ErrUnseal) {
				t.Fatalf("error %v does not wrap ErrUnseal", err)
			}
			return
		}
		if !bytes.Equal(data, ct) || label != "shop/db" || string(p) != "hunter2" || fp != a.Fingerprint {
			t.Fatalf("opened something that is not the genuine value: %q with label %q", p, label)
		}
	})
}

// FuzzDecodeSealedSecret: any bytes posted to /v1/verify or /v1/rotate are decoded and, if they
// are a SealedSecret, unsealed; neither may panic.
func FuzzDecodeSealedSecret(f *testing.F) {
	a, _ := sealingtest.Keys(f)
	ss, err := sealingtest.Sealer(f, a).Seal(sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2"}))
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sealing.Encode(&buf, "json", ss); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{"name":"x","namespace":"y"},"spec":{"encryptedData":{"a":"AAAA"}}}`))
	f.Add([]byte(`apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: x, namespace: y, annotations: {sealing.writ.dev/key: "a=SHA256:x,b"}}
spec: {encryptedData: {a: "!!"}, template: {data: {a: "{{ .a }}"}}}
`))
	ring := sealing.NewKeyRing(a)
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, err := sealing.DecodeSealedSecret(data)
		if err != nil {
			return
		}
		_, _, _ = sealing.Unseal(ss, ring)
		_ = sealing.KeyFingerprints(ss)
	})
}
