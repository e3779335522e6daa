package evidence

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/audit"
)

// TestReportListsRevokedCommits: a commit that was applied and later revoked is listed in the
// report beside the refused ones, with the reason.
func TestReportListsRevokedCommits(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	b := exportEach(t, key, time.Hour, []audit.Event{
		{Kind: audit.SyncApplied, Commit: "0123456789abcdef0123456789abcdef01234567", Signers: []string{aliceID}},
		{Kind: audit.CommitRevoked, Commit: "0123456789abcdef0123456789abcdef01234567", Reason: "the served commit no longer verifies: alice was revoked"},
	})
	report := string(unzip(t, b)[FileReport])
	if !strings.Contains(report, "Rejected and revoked commits") || !strings.Contains(report, "alice was revoked") {
		t.Fatalf("the revoked commit is not in the report:\n%s", report)
	}
}
