package evidence

import (
	"context"
	"crypto/ed25519"
	"html"
	"strings"
	"testing"
	"time"

	"writ.dev/writ/audit"
)

// TestDriftNamesWhoChangedIt: the report's drift table names the person behind each drift from
// the guard's record of the write made on the drift's sinceResourceVersion of the same object
// (uid), with a break-glass request's justification and approver; the field manager apart. No
// record: "unknown (webhook unavailable)"; a recreated object of the same name (another uid)
// or another version does not match.
func TestDriftNamesWhoChangedIt(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	cm := func(name, uid string) audit.ObjectRef {
		return audit.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: name, UID: uid}
	}
	drift := func(name, uid, since string) audit.Event {
		return audit.Event{Kind: audit.DriftDetected, Object: cm(name, uid), Fields: []string{".data.mode"}, Manager: "kubectl-edit",
			ResourceVersion: since + "1", SinceResourceVersion: since}
	}
	ann := audit.Actor{User: "ann", Groups: []string{"oncall"}}
	records := []audit.Event{
		{Kind: audit.MutationAllowed, Actor: audit.Actor{User: "rotator"}, Object: cm("early", "u-early"), Operation: "UPDATE", ResourceVersion: "7", Manager: "rotator"},
		{Kind: audit.BreakGlassRequested, Actor: ann, BreakGlass: "bg-1", Reason: "INC-7: the database is down"},
		{Kind: audit.BreakGlassApproved, Actor: audit.Actor{User: "lea"}, BreakGlass: "bg-1"},
		{Kind: audit.BreakGlassUsed, Actor: ann, BreakGlass: "bg-1", Object: cm("fixed", "u-fixed"), Operation: "UPDATE", ResourceVersion: "10", Manager: "kubectl-edit"},
		{Kind: audit.MutationWarned, Actor: audit.Actor{User: "bob"}, Object: cm("other", "u-old"), Operation: "UPDATE", ResourceVersion: "20"},
		drift("fixed", "u-fixed", "10"), // ann, under bg-1
		drift("early", "u-early", "7"),  // the rotator, recorded before the period
		drift("other", "u-new", "20"),   // recreated: bob wrote the old object, not this one
		drift("lost", "u-lost", "30"),   // written while the webhook was down
		drift("fixed", "u-fixed", "11"), // a later version nobody recorded a write on
		drift("legacy", "u-legacy", ""), // the reconciler did not know the version
	}
	b := exportEach(t, key, time.Minute, records)
	report := string(unzip(t, b)[FileReport])
	section := report[strings.Index(report, `<section id="drift">`):]
	section = html.UnescapeString(section[:strings.Index(section, "</section>")])
	rows := strings.Split(section, "<tr><td>")[1:]
	want := []string{
		`ConfigMap shop/fixed</td><td>.data.mode</td><td>ann (oncall), break-glass bg-1: "INC-7: the database is down", approved by lea (record #4) <span class="muted">via kubectl-edit</span>`,
		`ConfigMap shop/early</td><td>.data.mode</td><td>rotator (record #1) <span class="muted">via kubectl-edit</span>`,
		`ConfigMap shop/other</td><td>.data.mode</td><td>unknown (webhook unavailable)`,
		`ConfigMap shop/lost</td><td>.data.mode</td><td>unknown (webhook unavailable)`,
		`ConfigMap shop/fixed</td><td>.data.mode</td><td>unknown (webhook unavailable)`,
		`ConfigMap shop/legacy</td><td>.data.mode</td><td>unknown (the reconciler did not know the version before the change)`,
	}
	if len(rows) != len(want) {
		t.Fatalf("%d drift rows, want %d:\n%s", len(rows), len(want), section)
	}
	for i, w := range want {
		if !strings.HasPrefix(rows[i], w) {
			t.Errorf("row %d:\n%s\nwant it to start with\n%s", i, rows[i], w)
		}
	}
}

// exportEach stores records one step apart from the start of day, each followed by a
// checkpoint, and exports that day.
func exportEach(t *testing.T, key ed25519.PrivateKey, step time.Duration, records []audit.Event) []byte {
	t.Helper()
	s := &memStore{}
	for i, e := range records {
		e.Time = day.Add(time.Duration(i+1) * step)
		stored, err := s.Append(context.Background(), e.WithDefaults(time.Now))
		if err != nil {
			t.Fatal(err)
		}
		s.cps = append(s.cps, audit.SignCheckpoint(key, stored[0].Seq, stored[0].Hash, e.Time))
	}
	b, _ := export(t, s, key, day, day.AddDate(0, 0, 1))
	return b
}
