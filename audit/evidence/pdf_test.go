package evidence

import (
	"context"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReportPrintsToPDF prints report.html to PDF with headless Chromium, as an auditor's
// "Save as PDF" does, and reads the PDF back with poppler's pdftotext: its text holds every
// section's title, every section after the first starts on a page of its own, and a table that
// runs over a page repeats its header row on the next.
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
	report := exportedReport(t)
	if err := os.WriteFile(page, report, 0o644); err != nil {
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
	// The PDF's text holds every section's title, read off the report itself, and each section
	// but the first (which follows the report's title) opens a page.
	titles := regexp.MustCompile(`<h2>([^<]*)</h2>`).FindAllStringSubmatch(string(report), -1)
	if len(titles) < 8 {
		t.Fatalf("the report has %d section titles", len(titles))
	}
	for i, m := range titles {
		h := html.UnescapeString(m[1])
		if !strings.Contains(string(text), h) {
			t.Errorf("the PDF's text lacks the section title %q", h)
		}
		if i == 0 {
			continue
		}
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
