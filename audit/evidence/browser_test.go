package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium finds Debian's Chromium, failing the test with the fix when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on this machine: run `make deps` (installs Debian's chromium package)")
	return ""
}

// TestReportInBrowser opens report.html in a real headless browser and checks what a person
// would see: every section, and the figures of the period.
func TestReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; runs in make test")
	}
	browser := chromium(t)
	_, key, _ := ed25519.GenerateKey(nil)
	s := &memStore{}
	fill(t, s, key)
	b, _ := export(t, s, key, day.AddDate(0, 0, 10), day.AddDate(0, 0, 20))
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, unzip(t, b)[FileReport], 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+page)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := stdout.String()
	for _, want := range []string{
		"<h1>Writ audit evidence</h1>",
		`<section id="criteria">`, `<section id="changes">`, `<section id="denied">`, `<section id="breakglass">`, `<section id="drift">`,
		`<strong id="total-records">240</strong>`,
		`data-criterion="CC8.1">`, "INC-42: database failover",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	// The break-glass row shows requester, approver and what was changed.
	if i := strings.Index(dom, "bg-1"); i < 0 || !strings.Contains(dom[i:], "lead") || !strings.Contains(dom[i:], "PATCH Deployment prod/db") {
		t.Error("break-glass row incomplete")
	}
}
