package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
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

// dumpDOM loads page in headless Chromium with a 1280 px wide window and returns the DOM after
// its scripts ran.
func dumpDOM(t *testing.T, browser, dir, page string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--window-size=1280,900", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+page)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

// TestReportFitsAt1280 measures report.html in Chromium at 1280 px: the page is no wider than
// the window (no horizontal scrollbar), long signer names and repository URLs wrap, and the
// Applied changes table's Created/Configured/Pruned columns lie inside the window. The report
// itself runs no script: the test measures a copy with one appended.
func TestReportFitsAt1280(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; runs in make test")
	}
	browser := chromium(t)
	report := string(exportedReport(t))
	if strings.Contains(report, "<script") {
		t.Fatal("report.html carries a script")
	}
	const measure = `<script>(function(){var d=document.documentElement,r=0;
document.querySelectorAll('#changes th').forEach(function(th){r=Math.max(r,th.getBoundingClientRect().right)});
document.body.setAttribute('data-fit',d.scrollWidth+' '+d.clientWidth+' '+Math.ceil(r));})()</script></body>`
	dir := t.TempDir()
	page := filepath.Join(dir, "measure.html")
	if err := os.WriteFile(page, []byte(strings.Replace(report, "</body>", measure, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := dumpDOM(t, browser, dir, page)
	i := strings.Index(dom, `data-fit="`)
	if i < 0 {
		t.Fatal("the measuring script did not run")
	}
	var scroll, client, right int
	if _, err := fmt.Sscanf(dom[i+len(`data-fit="`):], "%d %d %d", &scroll, &client, &right); err != nil {
		t.Fatalf("measurement: %v", err)
	}
	if client < 1200 || client > 1280 {
		t.Fatalf("window %d px wide, want 1280", client)
	}
	if scroll > client {
		t.Errorf("the page is %d px wide in a %d px window: it scrolls sideways", scroll, client)
	}
	if right > client {
		t.Errorf("the Applied changes table ends at %d px, past the %d px window: its last columns are cut off", right, client)
	}
}

// TestReportInBrowser opens report.html in a real headless browser and checks what a person
// would see: every section, and the figures of the period.
func TestReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; runs in make test")
	}
	browser := chromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, exportedReport(t), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := dumpDOM(t, browser, dir, page)
	for _, want := range []string{
		"<h1>Writ audit evidence</h1>",
		`<section id="timeline">`, `<svg id="timeline-chart"`, `<rect class="applied"`, `<rect class="denied"`, `<rect class="drift"`, `<rect class="break-glass"`,
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

// exportedReport is report.html of an export of ten of fill's days, signed with a new key.
func exportedReport(t *testing.T) []byte {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	s := &memStore{}
	fill(t, s, key)
	b, _ := export(t, s, key, day.AddDate(0, 0, 10), day.AddDate(0, 0, 20))
	return unzip(t, b)[FileReport]
}
