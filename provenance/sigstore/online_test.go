package sigstore

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"

	"writ.dev/writ/provenance/signature"
)

// fakeRekor serves Rekor v1's search and entry endpoints from a fixed set of entries.
type fakeRekor struct {
	byHash   map[string][]string       // "sha256:<hex>" -> uuids
	entries  map[string]map[string]any // uuid -> LogEntry JSON
	requests atomic.Int32
	fail     bool
}

func newFakeRekor(t *testing.T) (*fakeRekor, *httptest.Server) {
	f := &fakeRekor{byHash: map[string][]string{}, entries: map[string]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

// add serves tle, the log entry of body, under the hash of digest hash.
func (f *fakeRekor) add(uuid string, hash []byte, body []byte, tle *rekorpb.TransparencyLogEntry) {
	key := "sha256:" + hex.EncodeToString(hash)
	f.byHash[key] = append(f.byHash[key], uuid)
	anon := map[string]any{
		"body":           base64.StdEncoding.EncodeToString(body),
		"integratedTime": tle.IntegratedTime,
		"logID":          hex.EncodeToString(tle.LogId.KeyId),
		"logIndex":       tle.LogIndex,
	}
	verification := map[string]any{}
	if tle.InclusionPromise != nil {
		verification["signedEntryTimestamp"] = base64.StdEncoding.EncodeToString(tle.InclusionPromise.SignedEntryTimestamp)
	}
	if p := tle.InclusionProof; p != nil {
		hashes := []string{}
		for _, h := range p.Hashes {
			hashes = append(hashes, hex.EncodeToString(h))
		}
		verification["inclusionProof"] = map[string]any{
			"checkpoint": p.Checkpoint.Envelope, "hashes": hashes, "logIndex": p.LogIndex,
			"rootHash": hex.EncodeToString(p.RootHash), "treeSize": p.TreeSize,
		}
	}
	anon["verification"] = verification
	f.entries[uuid] = map[string]any{uuid: anon}
}

func (f *fakeRekor) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.fail {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/index/retrieve":
		var q struct{ Hash string }
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		uuids := f.byHash[q.Hash]
		if uuids == nil {
			uuids = []string{}
		}
		_ = json.NewEncoder(w).Encode(uuids)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/log/entries/"):
		e, ok := f.entries[strings.TrimPrefix(r.URL.Path, "/api/v1/log/entries/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(e)
	default:
		http.NotFound(w, r)
	}
}

// logged strips the embedded entry from s, as gitsign's online mode (and older gitsign) signs:
// the entry is only in Rekor, and s.entry keeps it for the fake to serve.
func logged(s *signed) *signed {
	s.signerInfo().UnsignedAttrs = nil
	return s
}

func attrsHash(t *testing.T, s *signed) []byte {
	t.Helper()
	env, err := decode(s.armor(t))
	if err != nil {
		t.Fatal(err)
	}
	return env.attrsDigest()
}

func TestVerifyOnline(t *testing.T) {
	vs := newVirtualSigstore(t)
	fake, srv := newFakeRekor(t)
	online := func(required bool) *Verifier {
		return testVerifier(t, vs, func(o *Options) { o.OnlineRekorURL = srv.URL; o.RequireTransparencyLog = required })
	}

	s := logged(sign(t, vs, testPayload))
	fake.add("24296fb24b8ad77a-good", attrsHash(t, s), s.body, s.entry)
	got, err := online(true).Verify(testPayload, s.armor(t), time.Time{})
	if err != nil {
		t.Fatalf("entry online: Verify: %v", err)
	}
	if got.TimeSource != signature.TimeTransparencyLog || got.LogIndex == nil || *got.LogIndex != s.logIndex ||
		!got.SigningTime.Equal(time.Unix(s.entry.IntegratedTime, 0)) {
		t.Errorf("entry online: %+v, want the log's time and index", got)
	}

	// An entry Rekor returns for this hash but logging another signature does not count.
	forged := logged(sign(t, vs, testPayload))
	victim := sign(t, vs, []byte("other commit\n"))
	fake.add("24296fb24b8ad77a-forged", attrsHash(t, forged), victim.body, victim.entry)
	if _, err := online(true).Verify(testPayload, forged.armor(t), time.Time{}); !errors.Is(err, signature.ErrTransparencyLog) || !strings.Contains(err.Error(), "does not vouch") {
		t.Errorf("forged online entry: Verify = %v, want ErrTransparencyLog", err)
	}

	absent := logged(sign(t, vs, testPayload))
	if _, err := online(true).Verify(testPayload, absent.armor(t), time.Time{}); !errors.Is(err, signature.ErrTransparencyLog) {
		t.Errorf("no entry online, required: Verify = %v, want ErrTransparencyLog", err)
	}
	if got, err := online(false).Verify(testPayload, absent.armor(t), time.Time{}); err != nil || got.TimeSource != signature.TimeSignature {
		t.Errorf("no entry online, optional: %+v, %v; want time source %q", got, err, signature.TimeSignature)
	}

	// An embedded entry is used without asking Rekor.
	before := fake.requests.Load()
	if _, err := online(true).Verify(testPayload, sign(t, vs, testPayload).armor(t), time.Time{}); err != nil {
		t.Errorf("embedded entry with online on: %v", err)
	}
	if n := fake.requests.Load() - before; n != 0 {
		t.Errorf("embedded entry: %d requests to Rekor, want 0", n)
	}

	// A signature in the unsupported 2023 layout is looked up online instead.
	legacy := logged(sign(t, vs, testPayload))
	fake.add("24296fb24b8ad77a-legacy", attrsHash(t, legacy), legacy.body, legacy.entry)
	addLegacyAttrs(t, legacy)
	if got, err := online(true).Verify(testPayload, legacy.armor(t), time.Time{}); err != nil || got.TimeSource != signature.TimeTransparencyLog {
		t.Errorf("2023 layout, online: %+v, %v; want the log's time", got, err)
	}

	fake.fail = true
	if _, err := online(true).Verify(testPayload, s.armor(t), time.Time{}); !errors.Is(err, signature.ErrTransparencyLog) || !strings.Contains(err.Error(), "503") {
		t.Errorf("Rekor down, required: Verify = %v, want ErrTransparencyLog naming the status", err)
	}
	if _, err := online(false).Verify(testPayload, s.armor(t), time.Time{}); err != nil {
		t.Errorf("Rekor down, optional: Verify = %v, want success without a log time", err)
	}
}
