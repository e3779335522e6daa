package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/audit"
)

// TestReportListsEveryUnverifiedAgentWrite: each UnverifiedAgentWrite is its own row of the
// report's "Unverified agent writes" section, with actor, object, operation, field path and
// commit, never folded into the denied attempts; events.csv carries the same, one row each.
func TestReportListsEveryUnverifiedAgentWrite(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	agent := "system:serviceaccount:writ-system:writ-reconciler"
	obj := audit.ObjectRef{Kind: "ConfigMap", Namespace: "shop", Name: "settings"}
	b := exportEach(t, key, time.Minute, []audit.Event{
		{Kind: audit.UnverifiedAgentWrite, Actor: audit.Actor{User: agent}, Object: obj, Operation: "UPDATE", Fields: []string{".data.mode"},
			Commit: "0123456789abcdef0123456789abcdef01234567", Reason: "Mismatch", Policy: "Enforce"},
		{Kind: audit.UnverifiedAgentWrite, Actor: audit.Actor{User: agent}, Object: obj, Operation: "UPDATE", Fields: []string{".data.mode"},
			Commit: "0123456789abcdef0123456789abcdef01234567", Reason: "Mismatch", Policy: "Enforce"},
		{Kind: audit.UnverifiedAgentWrite, Actor: audit.Actor{User: agent}, Object: audit.ObjectRef{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding", Name: "pwn"},
			Operation: "CREATE", Reason: "Undeclared", Policy: "Warn"},
	})
	files := unzip(t, b)
	report := string(files[FileReport])
	section := report[strings.Index(report, `<section id="unverified">`):]
	section = section[:strings.Index(section, "</section>")]
	if !strings.Contains(section, "Unverified agent writes") {
		t.Fatalf("no section:\n%s", report)
	}
	if rows := strings.Count(section, "<tr><td>"); rows != 3 {
		t.Errorf("%d rows, want one per write (3):\n%s", rows, section)
	}
	for _, want := range []string{agent, "ConfigMap shop/settings", "UPDATE", "<code>.data.mode</code>", "<code>0123456789ab</code>", "Mismatch", "Enforce",
		"ClusterRoleBinding.rbac.authorization.k8s.io pwn", "Undeclared", "Warn"} {
		if !strings.Contains(section, want) {
			t.Errorf("the section lacks %q:\n%s", want, section)
		}
	}
	denied := report[strings.Index(report, `<section id="denied">`):]
	if denied = denied[:strings.Index(denied, "</section>")]; !strings.Contains(denied, "No attempts were denied") {
		t.Errorf("unverified agent writes counted among the denied attempts:\n%s", denied)
	}
	rows, err := csv.NewReader(bytes.NewReader(files[FileCSV])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows[1:] {
		if r[3] == string(audit.UnverifiedAgentWrite) {
			n++
			if r[20] != "1" || r[4] != "CC6.1;CC7.2;CC8.1" {
				t.Errorf("csv row %v: count %s, criteria %s", r, r[20], r[4])
			}
		}
	}
	if n != 3 {
		t.Errorf("%d UnverifiedAgentWrite rows in events.csv, want 3", n)
	}
}
