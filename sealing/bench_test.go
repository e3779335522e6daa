package sealing_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/sealing"
	"writ.dev/writ/test/harness"
)

var (
	key4096Once sync.Once
	key4096     *sealing.Key
)

// benchKey is one RSA-4096 key, the size the controller makes.
func benchKey(b *testing.B) *sealing.Key {
	b.Helper()
	key4096Once.Do(func() {
		var err error
		if key4096, err = sealing.NewKey(rand.Reader, sealing.DefaultKeySize, time.Now(), time.Hour, "bench"); err != nil {
			panic(err)
		}
	})
	return key4096
}

// BenchmarkSeal seals one two-value Secret with an RSA-4096 certificate, in process.
func BenchmarkSeal(b *testing.B) {
	k := benchKey(b)
	s, err := sealing.NewSealer(k.Cert, time.Now(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sec := secret("shop", "db", map[string]string{"password": "hunter2", "user": "app"})
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
	k := benchKey(b)
	keys := []*sealing.Key{k}
	for i := 0; i < 11; i++ {
		keys = append(keys, &sealing.Key{Fingerprint: fmt.Sprintf("SHA256:other-%d", i), Private: k.Private, Created: time.Now().Add(time.Duration(i+1) * time.Hour)})
	}
	ring := sealing.NewKeyRing(keys...)
	s, _ := sealing.NewSealer(k.Cert, time.Now(), rand.Reader)
	ss, _ := s.Seal(secret("shop", "db", map[string]string{"password": "hunter2", "user": "app"}))
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := sealing.Unseal(ss, ring); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkControllerUnseal1000 creates 1,000 SealedSecrets (RSA-4096, one value each) on the real
// apiserver, then starts the controller and reports how long until all 1,000 Secrets exist
// (goal: at most 10 s).
func BenchmarkControllerUnseal1000(b *testing.B) {
	harness.Require(b, env)
	ctx := context.Background()
	k := benchKey(b)
	s, _ := sealing.NewSealer(k.Cert, time.Now(), rand.Reader)
	const n = 1000
	for i := 0; b.Loop(); i++ {
		ns := fmt.Sprintf("bench-unseal-%d", i)
		keyNS := ns + "-keys"
		storeKey(b, keyNS, k)
		if err := env.EnsureNamespace(ctx, ns); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 32)
		for j := 0; j < n; j++ {
			ss, err := s.Seal(secret(ns, fmt.Sprintf("s%04d", j), map[string]string{"password": fmt.Sprint("value-", j)}))
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(ss *ssv1alpha1.SealedSecret) {
				defer func() { <-sem; wg.Done() }()
				if err := env.Client.Create(ctx, ss); err != nil {
					errs <- err
				}
			}(ss)
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		start, cpu0 := time.Now(), cpuTime()
		startController(b, keyNS, nil)
		for {
			var l corev1.SecretList
			if err := env.Client.List(ctx, &l, client.InNamespace(ns)); err != nil {
				b.Fatal(err)
			}
			if len(l.Items) == n {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("only %d of %d Secrets after 5 minutes", len(l.Items), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		took := time.Since(start)
		// On a shared machine the wall time depends on the load; this process's CPU time does not
		// (the apiserver's and etcd's are not in it).
		b.ReportMetric((cpuTime() - cpu0).Seconds(), "cpu-s/1000-unsealed")
		b.ReportMetric(took.Seconds(), "s/1000-unsealed")
		b.ReportMetric(float64(n)/took.Seconds(), "unsealed/s")
	}
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
