package sealing_test

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"writ.dev/writ/sealing"
	"writ.dev/writ/sealing/sealingtest"
)

// BenchmarkSeal seals one two-value Secret with an RSA-4096 certificate, in process.
func BenchmarkSeal(b *testing.B) {
	k := sealingtest.Key4096(b)
	s, err := sealing.NewSealer(k.Cert, time.Now(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sec := sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2", "user": "app"})
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Seal(sec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnseal opens one two-value SealedSecret with a ring of 12 RSA-4096 keys (a year of
// monthly renewals), the sealing key named by the annotation.
func BenchmarkUnseal(b *testing.B) {
	k := sealingtest.Key4096(b)
	keys := []*sealing.Key{k}
	for i := 0; i < 11; i++ {
		keys = append(keys, &sealing.Key{Fingerprint: fmt.Sprintf("SHA256:other-%d", i), Private: k.Private, Created: time.Now().Add(time.Duration(i+1) * time.Hour)})
	}
	ring := sealing.NewKeyRing(keys...)
	s, _ := sealing.NewSealer(k.Cert, time.Now(), rand.Reader)
	ss, _ := s.Seal(sealingtest.Secret("shop", "db", map[string]string{"password": "hunter2", "user": "app"}))
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := sealing.Unseal(ss, ring); err != nil {
			b.Fatal(err)
		}
	}
}
