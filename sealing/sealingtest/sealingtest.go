package sealingtest

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/sealing"
)

var (
	keysOnce    sync.Once
	keyA, keyB  *sealing.Key
	key4096Once sync.Once
	key4096     *sealing.Key
)

// Keys returns two 2048-bit keys valid for a day: A created an hour ago, B now (newest).
func Keys(t testing.TB) (*sealing.Key, *sealing.Key) {
	t.Helper()
	keysOnce.Do(func() {
		now := time.Now()
		var err error
		if keyA, err = sealing.NewKey(rand.Reader, 2048, now.Add(-time.Hour), time.Hour*24, "a"); err != nil {
			panic(err)
		}
		if keyB, err = sealing.NewKey(rand.Reader, 2048, now, time.Hour*24, "b"); err != nil {
			panic(err)
		}
	})
	return keyA, keyB
}

// Key4096 returns one RSA-4096 key, the size the controller makes, for benchmarks.
func Key4096(t testing.TB) *sealing.Key {
	t.Helper()
	key4096Once.Do(func() {
		var err error
		if key4096, err = sealing.NewKey(rand.Reader, sealing.DefaultKeySize, time.Now(), time.Hour, "bench"); err != nil {
			panic(err)
		}
	})
	return key4096
}

// Secret returns an Opaque Secret with data, a label and two annotations (one of them kubectl's
// last-applied-configuration, which sealing must drop).
func Secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "shop"},
		Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"password":"c2VjcmV0"}}`, "team": "pay"}},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// Sealer returns a sealer for k's certificate at the current time.
func Sealer(t testing.TB, k *sealing.Key) *sealing.Sealer {
	t.Helper()
	s, err := sealing.NewSealer(k.Cert, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
