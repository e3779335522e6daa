package controller_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"writ.dev/writ/sealing"
	sealcontroller "writ.dev/writ/sealing/controller"
	"writ.dev/writ/sealing/sealingtest"
)

func post(t *testing.T, url string, body []byte, from string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("X-Forwarded-For", from)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHandler: the certificate, verify (200 / 409 / 400), rotate, and the per-client rate limit.
func TestHandler(t *testing.T) {
	a, b := sealingtest.Keys(t)
	var ring *sealing.KeyRing
	srv := httptest.NewServer(sealcontroller.Handler(sealcontroller.HandlerOptions{Rate: 1, Burst: 3, Ring: func(context.Context) (*sealing.KeyRing, error) {
		if ring == nil {
			return nil, errors.New("no keys")
		}
		return ring, nil
	}}))
	defer srv.Close()
	if resp, err := http.Get(srv.URL + sealing.CertPath); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("no key yet: %v %v", resp, err)
	}
	ring = sealing.NewKeyRing(a)
	resp, err := http.Get(srv.URL + sealing.CertPath)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-pem-file" {
		t.Fatalf("cert: %v %v", resp, err)
	}
	resp.Body.Close()

	ours, _ := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("shop", "db", map[string]string{"k": "v"}))
	theirs, _ := sealingtest.Sealer(t, b).Seal(sealingtest.Secret("shop", "db", map[string]string{"k": "v"}))
	var o, f bytes.Buffer
	_ = sealing.Encode(&o, "json", ours)
	_ = sealing.Encode(&f, "yaml", theirs)
	for _, tc := range []struct {
		body []byte
		want int
	}{{o.Bytes(), http.StatusOK}, {f.Bytes(), http.StatusConflict}, {[]byte("kind: ConfigMap"), http.StatusBadRequest}} {
		if got := post(t, srv.URL+sealing.VerifyPath, tc.body, "10.0.0.1"); got != tc.want {
			t.Errorf("verify %.40q: %d, want %d", tc.body, got, tc.want)
		}
	}
	if got := post(t, srv.URL+sealing.VerifyPath, o.Bytes(), "10.0.0.1"); got != http.StatusTooManyRequests {
		t.Errorf("a fourth request within the burst of 3: %d, want 429", got)
	}
	if got := post(t, srv.URL+sealing.RotatePath, o.Bytes(), "10.0.0.2"); got != http.StatusOK {
		t.Errorf("another client is not limited by the first: %d", got)
	}
	if got := post(t, srv.URL+sealing.VerifyPath, nil, "10.0.0.2"); got != http.StatusBadRequest {
		t.Errorf("empty body: %d", got)
	}
}

// failingRand is randomness that is never there.
type failingRand struct{}

func (failingRand) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// /v1/rotate re-seals with the randomness HandlerOptions give it, crypto/rand by default.
func TestRotateUsesTheGivenRandomness(t *testing.T) {
	a, _ := sealingtest.Keys(t)
	ss, _ := sealingtest.Sealer(t, a).Seal(sealingtest.Secret("shop", "db", map[string]string{"k": "v"}))
	var body bytes.Buffer
	_ = sealing.Encode(&body, "json", ss)
	for _, tc := range []struct {
		rnd  io.Reader
		want int
	}{{nil, http.StatusOK}, {rand.Reader, http.StatusOK}, {failingRand{}, http.StatusConflict}} {
		srv := httptest.NewServer(sealcontroller.Handler(sealcontroller.HandlerOptions{Rand: tc.rnd,
			Ring: func(context.Context) (*sealing.KeyRing, error) { return sealing.NewKeyRing(a), nil }}))
		if got := post(t, srv.URL+sealing.RotatePath, body.Bytes(), "10.0.0.1"); got != tc.want {
			t.Errorf("rotate with %T: %d, want %d", tc.rnd, got, tc.want)
		}
		srv.Close()
	}
}
