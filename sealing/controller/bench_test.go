package controller_test

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
	"writ.dev/writ/sealing/sealingtest"
	"writ.dev/writ/test/harness"
)

// BenchmarkControllerUnseal1000 creates 1,000 SealedSecrets (RSA-4096, one value each) on the real
// apiserver, then starts the controller and reports how long until all 1,000 Secrets exist
// (goal: at most 10 s).
func BenchmarkControllerUnseal1000(b *testing.B) {
	harness.Require(b, env)
	ctx := context.Background()
	k := sealingtest.Key4096(b)
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
			ss, err := s.Seal(sealingtest.Secret(ns, fmt.Sprintf("s%04d", j), map[string]string{"password": fmt.Sprint("value-", j)}))
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
