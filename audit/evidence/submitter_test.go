package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/audit"
)

// The submitter of each record (who handed it in, as the apiserver authenticated them) is in
// every view of the export: the records, the CSV and the report.
func TestExportShowsTheSubmitter(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	s := &memStore{}
	webhook := audit.Actor{User: "system:serviceaccount:writ-system:writ-webhook", ServiceAccount: "writ-system/writ-webhook"}
	for i, e := range []audit.Event{
		{Kind: audit.MutationDenied, Actor: audit.Actor{User: "bob"}, Submitter: webhook, Reason: "only the agent"},
		{Kind: audit.SyncApplied, Commit: "abc"}, // stored before submitters were recorded
	} {
		e.Time = day.Add(time.Duration(i) * time.Hour)
		if _, err := s.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := export(t, s, key, day, day.AddDate(0, 0, 1))
	if _, err := Verify(bytes.NewReader(b), int64(len(b)), VerifyOptions{PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	files := unzip(t, b)
	if !strings.Contains(string(files[FileEvents]), `"submitter":{"user":"system:serviceaccount:writ-system:writ-webhook","serviceAccount":"writ-system/writ-webhook"}`) {
		t.Errorf("events.jsonl lacks the submitter:\n%s", files[FileEvents])
	}
	rows, err := csv.NewReader(bytes.NewReader(files[FileCSV])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "submitter" {
			col = i
		}
	}
	if col < 0 || rows[1][col] != webhook.User || rows[2][col] != "" {
		t.Errorf("csv submitter column %d in %v", col, rows)
	}
	html := string(files[FileReport])
	for _, want := range []string{`id="submitters"`, webhook.User, "stored before Writ recorded submitters"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// Bundles of the format before submitters (v1) still verify; a format this release does not
// know is refused with what to do.
func TestVerifyReadsV1Bundles(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	s := &memStore{}
	fill(t, s, key)
	b, _ := export(t, s, key, day.AddDate(0, 0, 10), day.AddDate(0, 0, 11))
	for format, ok := range map[string]bool{formatV1: true, "writ.dev/evidence/v9": false} {
		files := unzip(t, b)
		files[FileManifest] = bytes.Replace(files[FileManifest], []byte(FormatVersion), []byte(format), 1)
		files[FileManifestSig] = []byte(hex.EncodeToString(ed25519.Sign(key, files[FileManifest])) + "\n")
		rb := rezip(t, files)
		_, err := Verify(bytes.NewReader(rb), int64(len(rb)), VerifyOptions{})
		if ok && err != nil {
			t.Errorf("%s bundle: %v", format, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "use a writ release that reads it")) {
			t.Errorf("%s bundle: %v", format, err)
		}
	}
}
