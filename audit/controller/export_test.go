package controller_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/controller"
	"writ.dev/writ/audit/evidence"
	"writ.dev/writ/audit/segment"
)

func TestExportHandlerServesVerifiableBundles(t *testing.T) {
	store, err := segment.Open(t.TempDir(), segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	at := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 50; i++ {
		if _, err := store.Append(context.Background(), audit.Event{Kind: audit.SyncApplied, Time: at.Add(time.Duration(i) * time.Minute), Commit: "abc"}); err != nil {
			t.Fatal(err)
		}
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	var loaded ed25519.PrivateKey
	srv := httptest.NewServer(controller.ExportHandler(store, func() ed25519.PrivateKey { return loaded }))
	defer srv.Close()
	get := func(q string) (*http.Response, []byte) {
		resp, err := http.Get(srv.URL + controller.ExportPath + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	period := "?from=2026-10-01T00:00:00Z&to=2026-10-02T00:00:00Z"
	if resp, _ := get(period); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the key is loaded: %d", resp.StatusCode)
	}
	loaded = key
	resp, b := get(period)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("export: %d %s", resp.StatusCode, b)
	}
	res, err := evidence.Verify(bytes.NewReader(b), int64(len(b)), evidence.VerifyOptions{PublicKey: pub})
	if err != nil || res.Records != 50 {
		t.Fatalf("served bundle: %v %+v", err, res)
	}
	for _, q := range []string{"", "?from=yesterday&to=2026-10-02T00:00:00Z", "?from=2026-10-02T00:00:00Z&to=2026-10-01T00:00:00Z"} {
		if resp, _ := get(q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %d", q, resp.StatusCode)
		}
	}
}
