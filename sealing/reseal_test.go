package sealing_test

import (
	"crypto/rand"
	"testing"
	"time"

	"writ.dev/writ/sealing"
	"writ.dev/writ/sealing/sealingtest"
)

func TestReseal(t *testing.T) {
	a, b := sealingtest.Keys(t)
	ss, _ := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2"}))
	out, err := sealing.Reseal(ss, sealing.NewKeyRing(a, b), time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if out.Annotations[sealing.AnnotationKey] != b.Fingerprint {
		t.Errorf("resealed with %q, want the newest key %s", out.Annotations[sealing.AnnotationKey], b.Fingerprint)
	}
	if s, _, err := sealing.Unseal(out, sealing.NewKeyRing(b)); err != nil || string(s.Data["password"]) != "hunter2" {
		t.Fatalf("%v %v", s, err)
	}
}
