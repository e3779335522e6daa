package app

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/auditkey"
	"writ.dev/writ/audit/postgres"
	"writ.dev/writ/audit/segment"
	"writ.dev/writ/test/pgtest"
)

// TestAuditExportAndVerify exports from a real embedded store through the CLI and verifies the
// bundle, then tampers with it.
func TestAuditExportAndVerify(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	if code, out, errOut := run(t, "audit", "keygen", "--out", keyFile); code != ExitOK || !strings.Contains(out, "key id") {
		t.Fatalf("keygen: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := run(t, "audit", "keygen", "--out", keyFile); code != ExitUsage || !strings.Contains(errOut, "never overwrites") {
		t.Fatalf("keygen over an existing key: %d %s", code, errOut)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	kb, _ := os.ReadFile(keyFile)
	key, err := auditkey.ParsePrivate(kb)
	if err != nil {
		t.Fatal(err)
	}

	storeDir := filepath.Join(dir, "store")
	s, err := segment.Open(storeDir, segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 300; i++ {
		e := audit.Event{Kind: audit.MutationDenied, Time: start.Add(time.Duration(i) * time.Hour), Actor: audit.Actor{User: "bob"}, Reason: "only Git may change prod"}
		if _, err := s.Append(context.Background(), e.WithDefaults(time.Now)); err != nil {
			t.Fatal(err)
		}
		if i == 99 {
			seq, head, _ := s.Head(context.Background())
			if err := s.AddCheckpoint(context.Background(), audit.SignCheckpoint(key, seq, head, start.Add(100*time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The store is still open here, as a running controller holds it: the export reads a copy.
	bundle := filepath.Join(dir, "evidence.zip")
	code, out, errOut := run(t, "audit", "export", "--store", storeDir, "--key", keyFile, "--from", "2026-10-06", "--to", "2026-10-10", "--out", bundle)
	if code != ExitOK || !strings.Contains(out, "96 records in the period") {
		t.Fatalf("export: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := s.Append(context.Background(), audit.Event{Kind: audit.DriftDetected, Time: start, Reason: "still writable"}.WithDefaults(time.Now)); err != nil {
		t.Fatalf("the store after an export from it: %v", err)
	}
	s.Close()
	pub := keyFile + ".pub"
	code, out, errOut = run(t, "audit", "verify", bundle, "--public-key", pub)
	if code != ExitOK || !strings.HasPrefix(out, "OK ") || !strings.Contains(out, "MutationDenied=96") {
		t.Fatalf("verify: %d\n%s\n%s", code, out, errOut)
	}

	// Flip one record's reason inside the bundle: verify names it and exits 1.
	tampered := filepath.Join(dir, "tampered.zip")
	rewrite(t, bundle, tampered, func(name string, b []byte) []byte {
		if name != "events.jsonl" {
			return b
		}
		lines := strings.SplitAfter(string(b), "\n")
		lines[10] = strings.Replace(lines[10], "only Git", "anyone", 1)
		return []byte(strings.Join(lines, ""))
	})
	code, out, _ = run(t, "audit", "verify", tampered)
	if code != ExitFail || !strings.Contains(out, "TAMPERED") || !strings.Contains(out, "was modified") {
		t.Fatalf("tampered: %d\n%s", code, out)
	}
	other, _ := auditkey.Generate(nil)
	otherPub, _ := auditkey.MarshalPublic(other.Public().(ed25519.PublicKey))
	os.WriteFile(filepath.Join(dir, "other.pub"), otherPub, 0o644)
	if code, out, _ := run(t, "audit", "verify", bundle, "--public-key", filepath.Join(dir, "other.pub")); code != ExitFail || !strings.Contains(out, "not the expected key") {
		t.Fatalf("wrong pinned key: %d %s", code, out)
	}
}

func TestAuditUsageErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	run(t, "audit", "keygen", "--out", key)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "export", "--to", "2026-01-02", "--out", "x", "--key", key, "--store", dir}, "--from is required"},
		{[]string{"audit", "export", "--from", "yesterday", "--to", "2026-01-02", "--out", "x", "--key", key, "--store", dir}, "is not a date"},
		{[]string{"audit", "export", "--from", "2026-01-03", "--to", "2026-01-02", "--out", "x", "--key", key, "--store", dir}, "must be before"},
		{[]string{"audit", "export", "--from", "2026-01-01", "--to", "2026-01-02", "--key", key, "--store", dir}, "--out is required"},
		{[]string{"audit", "export", "--from", "2026-01-01", "--to", "2026-01-02", "--out", "x", "--store", dir}, "--key is required"},
		{[]string{"audit", "export", "--from", "2026-01-01", "--to", "2026-01-02", "--out", "x", "--key", key + ".pub", "--store", dir}, "PRIVATE KEY"},
		{[]string{"audit", "export", "--from", "2026-01-01", "--to", "2026-01-02", "--out", "x", "--key", key}, "--key is for offline exports"},
		{[]string{"audit", "verify"}, "one bundle file"},
		{[]string{"audit", "verify", key}, "not an evidence bundle"},
	} {
		code, _, errOut := run(t, tt.args...)
		if code != ExitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q; want %q", tt.args[1:], code, errOut, tt.want)
		}
	}
}

func rewrite(t *testing.T, from, to string, f func(string, []byte) []byte) {
	t.Helper()
	zr, err := zip.OpenReader(from)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, file := range zr.File {
		rc, _ := file.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		w, _ := zw.Create(file.Name)
		w.Write(f(file.Name, b))
	}
	zw.Close()
	if err := os.WriteFile(to, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAuditExportFromPostgres exports a cluster's chain from a shared PostgreSQL store.
func TestAuditExportFromPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	if code, _, errOut := run(t, "audit", "keygen", "--out", keyFile); code != ExitOK {
		t.Fatal(errOut)
	}
	for _, chain := range []string{"prod-eu", "prod-us"} {
		s, err := postgres.Open(ctx, dsn, postgres.Options{Chain: chain})
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{"prod-eu": 5, "prod-us": 7}[chain]
		for i := 0; i < n; i++ {
			e := audit.Event{Kind: audit.SyncApplied, Time: time.Date(2026, 10, 2, i, 0, 0, 0, time.UTC), Commit: chain}
			if _, err := s.Append(ctx, e.WithDefaults(time.Now)); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
	}
	out := filepath.Join(dir, "us.zip")
	code, stdout, errOut := run(t, "audit", "export", "--postgres", dsn, "--chain", "prod-us", "--key", keyFile, "--from", "2026-10-01", "--to", "2026-10-03", "--out", out)
	if code != ExitOK || !strings.Contains(stdout, "7 records in the period") {
		t.Fatalf("export: %d %s %s", code, stdout, errOut)
	}
	if code, stdout, _ := run(t, "audit", "verify", out); code != ExitOK || !strings.Contains(stdout, "SyncApplied=7") {
		t.Fatalf("verify: %d %s", code, stdout)
	}
	if strings.Contains(errOut+stdout, "password") {
		t.Fatal("DSN leaked")
	}
}
