package evidence

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReportPrintsToPDF prints report.html to PDF with headless Chromium, as an auditor's
// "Save as PDF" does, and reads the PDF back with poppler's pdftotext: every section starts on
// a page of its own, and a table that runs over a page repeats its header row on the next.
func TestReportPrintsToPDF(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; runs in make test")
	}
	browser := chromium(t)
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("no pdftotext on this machine: run `make deps` (installs Debian's poppler-utils package)")
	}
	dir := t.TempDir()
	page, pdf := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.pdf")
	if err := os.WriteFile(page, exportedReport(t), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+page).CombinedOutput()
	if err != nil {
		t.Fatalf("chromium --print-to-pdf: %v\n%s", err, out)
	}
	text, err := exec.CommandContext(ctx, pdftotext, "-layout", pdf, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	pages := strings.Split(strings.TrimRight(string(text), "\f"), "\f")
	// Each section's heading opens a page (the first section follows the title).
	headings := []string{"Applied changes", "Denied attempts", "Break-glass", "Drift"}
	for _, h := range headings {
		found := false
		for _, p := range pages {
			if first := firstLine(p); strings.HasPrefix(first, h) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no page starts with the section %q; page openings: %q", h, openings(pages))
		}
	}
	// The applied changes run over more than one page, and each page of them repeats the header.
	header := 0
	for _, p := range pages {
		if strings.Contains(p, "Configured") && strings.Contains(p, "Pruned") && strings.Contains(p, "Signers") {
			header++
		}
	}
	if header < 2 {
		t.Errorf("the Applied changes header is on %d page(s) of %d: a table over several pages must repeat it", header, len(pages))
	}
}

func firstLine(page string) string {
	for _, l := range strings.Split(page, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func openings(pages []string) []string {
	out := make([]string, len(pages))
	for i, p := range pages {
		out[i] = firstLine(p)
	}
	return out
}
