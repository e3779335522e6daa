package sigstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"writ.dev/writ/provenance/signature"
)

// FuzzVerify feeds arbitrary armored signatures through decoding and verification: nothing may
// panic, and every failure must wrap a signature sentinel. Seeds are the real corpus signatures
// and a VirtualSigstore one; testdata/fuzz/FuzzVerify holds hostile BER that once panicked inside
// smimesign. Run it with a bounded minimisation, or the large binary's coverage snapshots make
// minimising one input look like a hang:
//
//	go test ./provenance/sigstore -run '^$' -fuzz FuzzVerify -fuzztime 30s -fuzzminimizetime 2s
func FuzzVerify(f *testing.F) {
	vs := newVirtualSigstore(f)
	fixture := sign(f, vs, testPayload)
	f.Add(testPayload, fixture.armor(f))
	dir := corpusDir(f)
	files, _ := filepath.Glob(filepath.Join(dir, "*.commit"))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		payload, sig, _ := splitCommit(f, raw)
		if sig != nil {
			f.Add(payload, sig)
		}
	}
	verifiers := []*Verifier{
		testVerifier(f, vs),
		testVerifier(f, vs, func(o *Options) { o.RequireTransparencyLog = false }),
	}
	sentinels := []error{signature.ErrMalformed, signature.ErrUnsupported, signature.ErrBadSignature,
		signature.ErrUntrustedChain, signature.ErrExpired, signature.ErrIdentityMismatch, signature.ErrTransparencyLog}
	f.Fuzz(func(t *testing.T, payload, sig []byte) {
		for _, v := range verifiers {
			_, err := v.Verify(payload, sig, time.Time{})
			if err == nil {
				continue
			}
			wrapped := false
			for _, s := range sentinels {
				wrapped = wrapped || errors.Is(err, s)
			}
			if !wrapped {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
		}
	})
}
