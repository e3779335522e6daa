package controller

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"writ.dev/writ/sealing"
)

// maxBody bounds a SealedSecret posted to verify or rotate.
const maxBody = 2 << 20

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// Ring returns the current keys.
	Ring func(ctx context.Context) (*sealing.KeyRing, error)
	// Rate and Burst limit /v1/verify and /v1/rotate per client (X-Forwarded-For, which the API
	// server's proxy sets, else the peer address): each costs an RSA decryption per value.
	// Bitnami's defaults: 2 per second, burst 2.
	Rate  rate.Limit
	Burst int
	// Now and Rand are the clock and randomness that /v1/rotate re-seals with; default time.Now
	// and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
	Log  logr.Logger
}

// Handler serves the sealing certificate, verification and re-encryption:
//
//	GET  /v1/cert.pem  the newest key's certificate (PEM)
//	POST /v1/verify    a SealedSecret: 200 if this cluster can open it, 409 if not
//	POST /v1/rotate    a SealedSecret: the same, re-sealed with the newest key (JSON)
//
// It never returns plaintext: rotate re-seals without rendering spec.template.data.
func Handler(o HandlerOptions) http.Handler {
	if o.Rate == 0 {
		o.Rate, o.Burst = 2, 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	limit := &limiters{rate: o.Rate, burst: o.Burst, by: map[string]*rate.Limiter{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+sealing.CertPath, func(w http.ResponseWriter, r *http.Request) {
		ring, err := o.Ring(r.Context())
		if err != nil || ring.Latest() == nil {
			o.Log.Error(err, "no sealing certificate to serve")
			http.Error(w, "no sealing certificate yet: writ-controller makes one when it starts with --enable-sealing", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(sealing.CertPEM(ring.Latest().Cert))
	})
	mux.HandleFunc("POST "+sealing.VerifyPath, limited(limit, func(w http.ResponseWriter, r *http.Request) {
		ss, ring, ok := readSealed(w, r, o)
		if !ok {
			return
		}
		if _, _, err := sealing.UnsealWithoutTemplate(ss, ring); err != nil {
			http.Error(w, "this cluster cannot unseal it", http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	mux.HandleFunc("POST "+sealing.RotatePath, limited(limit, func(w http.ResponseWriter, r *http.Request) {
		ss, ring, ok := readSealed(w, r, o)
		if !ok {
			return
		}
		out, err := sealing.Reseal(ss, ring, o.Now(), o.Rand)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		b, err := json.Marshal(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	return mux
}

// limiters keep one token bucket per client; the map is dropped when it grows past maxClients.
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	by    map[string]*rate.Limiter
}

const maxClients = 10000

func (l *limiters) allow(r *http.Request) bool {
	client := r.Header.Get("X-Forwarded-For")
	if client == "" {
		client, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.by[client]
	if !ok {
		if len(l.by) >= maxClients {
			l.by = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.by[client] = lim
	}
	return lim.Allow()
}

func limited(l *limiters, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !l.allow(r) {
			http.Error(w, "rate limited: try again in a second", http.StatusTooManyRequests)
			return
		}
		h(w, r)
	}
}

func readSealed(w http.ResponseWriter, r *http.Request, o HandlerOptions) (*ssv1alpha1.SealedSecret, *sealing.KeyRing, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	ss, err := sealing.DecodeSealedSecret(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, nil, false
	}
	ring, err := o.Ring(r.Context())
	if err != nil {
		o.Log.Error(err, "reading the sealing keys")
		http.Error(w, "cannot read the sealing keys", http.StatusInternalServerError)
		return nil, nil, false
	}
	return ss, ring, true
}
