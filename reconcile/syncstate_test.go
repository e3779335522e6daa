package reconcile

import (
	"slices"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"writ.dev/writ/audit"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/reconcile/apply"
)

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

var epoch = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

func condition(t *testing.T, conds []metav1.Condition, typ string) metav1.Condition {
	t.Helper()
	c := apimeta.FindStatusCondition(conds, typ)
	if c == nil {
		t.Fatalf("no %s condition in %+v", typ, conds)
	}
	return *c
}

func wantCondition(t *testing.T, conds []metav1.Condition, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	if c := condition(t, conds, typ); c.Status != status || c.Reason != reason {
		t.Errorf("%s = %s %s (%q), want %s %s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
}

// Which commit a sync may apply is decided by its GitSource's status alone.
func TestSourceStateOf(t *testing.T) {
	revoked := func(commit string) *reconcilev1.Revocation {
		return &reconcilev1.Revocation{Commit: commit, Reason: "UnknownKey"}
	}
	for _, tc := range []struct {
		name       string
		status     reconcilev1.GitSourceStatus
		want       sourceState
		wantCommit string
	}{
		{"nothing verified yet", reconcilev1.GitSourceStatus{}, sourceWaiting, ""},
		{"a verified commit", reconcilev1.GitSourceStatus{LastVerifiedCommit: commitA}, sourceServes, commitA},
		{"the served commit revoked", reconcilev1.GitSourceStatus{LastVerifiedCommit: commitA, Revoked: revoked(commitA)}, sourceFrozen, commitA},
		{"an earlier commit revoked, a new one verified", reconcilev1.GitSourceStatus{LastVerifiedCommit: commitB, Revoked: revoked(commitA)}, sourceServes, commitB},
		{"a revocation without a served commit", reconcilev1.GitSourceStatus{Revoked: revoked("")}, sourceWaiting, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gs := &reconcilev1.GitSource{Status: tc.status}
			if got, commit := sourceStateOf(gs); got != tc.want || commit != tc.wantCommit {
				t.Fatalf("sourceStateOf = %d %q, want %d %q", got, commit, tc.want, tc.wantCommit)
			}
			if servable(gs) != (tc.want == sourceServes) {
				t.Errorf("servable = %t, want %t", servable(gs), tc.want == sourceServes)
			}
		})
	}
}

// The same commit at the same generation is a drift check; anything new is an apply.
func TestStepOf(t *testing.T) {
	for _, tc := range []struct {
		name       string
		applied    string
		gen, obs   int64
		drift      reconcilev1.DriftMode
		wantStep   step
		wantDrifts reconcilev1.DriftMode
	}{
		{"first apply", "", 1, 0, "", stepApply, reconcilev1.DriftHeal},
		{"a new commit", commitA, 1, 1, reconcilev1.DriftHeal, stepApply, reconcilev1.DriftHeal},
		{"a new generation of the same commit", commitB, 2, 1, reconcilev1.DriftWarn, stepApply, reconcilev1.DriftWarn},
		{"the same commit, Heal by default", commitB, 1, 1, "", stepCheckDrift, reconcilev1.DriftHeal},
		{"the same commit, Warn", commitB, 1, 1, reconcilev1.DriftWarn, stepCheckDrift, reconcilev1.DriftWarn},
		{"the same commit, Off", commitB, 1, 1, reconcilev1.DriftOff, stepNothing, reconcilev1.DriftOff},
		{"a new commit, Off", commitA, 1, 1, reconcilev1.DriftOff, stepApply, reconcilev1.DriftOff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Generation: tc.gen}, Spec: reconcilev1.SyncSpec{Drift: tc.drift},
				Status: reconcilev1.SyncStatus{LastAppliedCommit: tc.applied, ObservedGeneration: tc.obs}}
			if got := stepOf(s, commitB); got != tc.wantStep {
				t.Errorf("stepOf = %d, want %d", got, tc.wantStep)
			}
			if got := driftMode(s); got != tc.wantDrifts {
				t.Errorf("driftMode = %s, want %s", got, tc.wantDrifts)
			}
		})
	}
}

func TestSyncDefaults(t *testing.T) {
	no, yes := false, true
	for _, tc := range []struct {
		name         string
		spec         reconcilev1.SyncSpec
		wantInterval time.Duration
		wantWait     bool
		wantTimeout  time.Duration
	}{
		{"defaults", reconcilev1.SyncSpec{}, 10 * time.Minute, true, 5 * time.Minute},
		{"set", reconcilev1.SyncSpec{Interval: &metav1.Duration{Duration: time.Minute}, Wait: &yes, Timeout: &metav1.Duration{Duration: time.Second}}, time.Minute, true, time.Second},
		{"zero interval means the default", reconcilev1.SyncSpec{Interval: &metav1.Duration{}}, 10 * time.Minute, true, 5 * time.Minute},
		{"no wait", reconcilev1.SyncSpec{Wait: &no, Timeout: &metav1.Duration{Duration: time.Second}}, 10 * time.Minute, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &reconcilev1.Sync{Spec: tc.spec}
			if got := syncInterval(s); got != tc.wantInterval {
				t.Errorf("interval %s, want %s", got, tc.wantInterval)
			}
			if wait, timeout := healthWait(s); wait != tc.wantWait || timeout != tc.wantTimeout {
				t.Errorf("wait %t %s, want %t %s", wait, timeout, tc.wantWait, tc.wantTimeout)
			}
		})
	}
}

// A revoked source freezes the sync: the conditions say so, and the history says it once.
func TestMarkFrozen(t *testing.T) {
	gs := &reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Status: reconcilev1.GitSourceStatus{LastVerifiedCommit: commitA,
		Revoked: &reconcilev1.Revocation{Commit: commitA, Reason: "UnknownKey", Message: "key removed"}}}
	s := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	markServing(s, commitA) // the freeze replaces a sync that was applying
	for range 3 {
		markFrozen(s, gs, epoch)
	}
	wantCondition(t, s.Status.Conditions, Stalled, metav1.ConditionTrue, "SourceRevoked")
	wantCondition(t, s.Status.Conditions, Ready, metav1.ConditionFalse, "SourceRevoked")
	wantCondition(t, s.Status.Conditions, SourceVerified, metav1.ConditionFalse, "Revoked")
	wantCondition(t, s.Status.Conditions, Reconciling, metav1.ConditionFalse, "Frozen")
	if msg := condition(t, s.Status.Conditions, Ready).Message; !strings.Contains(msg, commitA) || !strings.Contains(msg, "key removed") || !strings.Contains(msg, "GitSource app") {
		t.Errorf("Ready message %q does not say which commit, why, and which source", msg)
	}
	if c := condition(t, s.Status.Conditions, Stalled); c.ObservedGeneration != 3 {
		t.Errorf("observedGeneration %d, want 3", c.ObservedGeneration)
	}
	if len(s.Status.History) != 1 || s.Status.History[0].Result != "Frozen" || s.Status.History[0].Commit != commitA {
		t.Fatalf("history %+v, want one Frozen entry for %s", s.Status.History, commitA)
	}

	// Lifted (the sync applied again) and frozen anew: a second entry.
	setCondition(&s.Status.Conditions, s.Generation, Stalled, false, "Applied", "")
	markFrozen(s, gs, epoch)
	if len(s.Status.History) != 2 {
		t.Fatalf("a new freeze after a lift is not in the history: %+v", s.Status.History)
	}
}

func TestMarkWaitingAndServing(t *testing.T) {
	s := &reconcilev1.Sync{}
	markWaiting(s, &reconcilev1.GitSource{})
	wantCondition(t, s.Status.Conditions, Ready, metav1.ConditionFalse, "NoVerifiedCommit")
	wantCondition(t, s.Status.Conditions, SourceVerified, metav1.ConditionFalse, "NoVerifiedCommit")
	if msg := condition(t, s.Status.Conditions, SourceVerified).Message; !strings.HasSuffix(msg, "not fetched yet") {
		t.Errorf("SourceVerified message %q", msg)
	}
	gs := &reconcilev1.GitSource{Status: reconcilev1.GitSourceStatus{Conditions: []metav1.Condition{{Type: SourceVerified, Status: metav1.ConditionFalse, Reason: "Unsigned", Message: "commit x is not signed"}}}}
	markWaiting(s, gs)
	if msg := condition(t, s.Status.Conditions, SourceVerified).Message; !strings.HasSuffix(msg, "commit x is not signed") {
		t.Errorf("SourceVerified message %q does not pass on the source's", msg)
	}
	markServing(s, commitA)
	wantCondition(t, s.Status.Conditions, SourceVerified, metav1.ConditionTrue, "Verified")
	wantCondition(t, s.Status.Conditions, Reconciling, metav1.ConditionTrue, "Applying")
}

// What an apply writes into status, and whether it is history (and a SyncApplied record).
func TestMarkApplied(t *testing.T) {
	cm := apply.Entry{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "a"}
	drift := apply.Drift{Entry: cm, Fields: []string{".data.k"}, Managers: []string{"kubectl-edit"}}
	signers := []reconcilev1.Signer{{Method: "ssh", Fingerprint: "SHA256:x"}}
	for _, tc := range []struct {
		name        string
		applied     string
		res         apply.Result
		healed      []apply.Drift
		healOnly    bool
		wantChanged bool
		wantDrifted string
	}{
		{"a new commit, nothing to change", commitA, apply.Result{Unchanged: []apply.Entry{cm}, Inventory: []apply.Entry{cm}}, nil, false, true, "InSync"},
		{"the same commit, an object configured", commitB, apply.Result{Configured: []apply.Entry{cm}, Inventory: []apply.Entry{cm}}, nil, false, true, "InSync"},
		{"the same commit, an object pruned", commitB, apply.Result{Pruned: []apply.Entry{cm}}, nil, false, true, "InSync"},
		{"the same commit, nothing changed", commitB, apply.Result{Unchanged: []apply.Entry{cm}, Inventory: []apply.Entry{cm}}, nil, false, false, "InSync"},
		{"a heal", commitB, apply.Result{Configured: []apply.Entry{cm}, Inventory: []apply.Entry{cm}}, []apply.Drift{drift}, true, false, "DriftHealed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &reconcilev1.Sync{Status: reconcilev1.SyncStatus{LastAppliedCommit: tc.applied}}
			gs := &reconcilev1.GitSource{Status: reconcilev1.GitSourceStatus{Signers: signers}}
			if got := markApplied(s, gs, commitB, &tc.res, tc.healed, tc.healOnly, epoch); got != tc.wantChanged {
				t.Errorf("changed = %t, want %t", got, tc.wantChanged)
			}
			wantCondition(t, s.Status.Conditions, Stalled, metav1.ConditionFalse, "Applied")
			wantCondition(t, s.Status.Conditions, Drifted, metav1.ConditionFalse, tc.wantDrifted)
			if s.Status.LastAppliedCommit != commitB || len(s.Status.LastAppliedSigners) != 1 || len(s.Status.Inventory) != len(tc.res.Inventory) {
				t.Errorf("status %+v", s.Status)
			}
			if got := len(s.Status.History); got != map[bool]int{true: 1}[tc.wantChanged] {
				t.Errorf("%d history entries, want one only when changed", got)
			}
		})
	}
}

func TestMarkDriftAndFailed(t *testing.T) {
	s := &reconcilev1.Sync{}
	d := apply.Drift{Entry: apply.Entry{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "a"}, Fields: []string{".data.k"}}
	markDrift(s, "not healed while frozen: ", []apply.Drift{d})
	wantCondition(t, s.Status.Conditions, Drifted, metav1.ConditionTrue, "DriftDetected")
	if msg := condition(t, s.Status.Conditions, Drifted).Message; !strings.HasPrefix(msg, "not healed while frozen: ConfigMap") {
		t.Errorf("Drifted message %q", msg)
	}
	markDrift(s, "", nil)
	wantCondition(t, s.Status.Conditions, Drifted, metav1.ConditionFalse, "InSync")
	markFailed(s, commitA, "ApplyFailed", errString("denied"), epoch)
	wantCondition(t, s.Status.Conditions, Ready, metav1.ConditionFalse, "ApplyFailed")
	if h := s.Status.History; len(h) != 1 || h[0].Result != "Failed" || h[0].Message != "denied" || !h[0].Time.Time.Equal(epoch) {
		t.Errorf("history %+v", h)
	}
	markReady(s, commitA, 3)
	if c := condition(t, s.Status.Conditions, Ready); c.Status != metav1.ConditionTrue || c.Message != "applied "+commitA+": 3 objects" {
		t.Errorf("Ready %+v", c)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// The history keeps the newest ten entries, newest first, with bounded messages.
func TestAddHistory(t *testing.T) {
	s := &reconcilev1.Sync{}
	for i := range 12 {
		addHistory(s, commitA, "Applied", strings.Repeat("x", 2000), epoch.Add(time.Duration(i)*time.Second))
	}
	if len(s.Status.History) != maxHistory {
		t.Fatalf("%d entries, want %d", len(s.Status.History), maxHistory)
	}
	if got := s.Status.History[0].Time.Time; !got.Equal(epoch.Add(11 * time.Second)) {
		t.Errorf("newest entry at %s, want the last added", got)
	}
	if got := s.Status.History[maxHistory-1].Time.Time; !got.Equal(epoch.Add(2 * time.Second)) {
		t.Errorf("oldest kept entry at %s, want the third added", got)
	}
	if n := len(s.Status.History[0].Message); n > maxMessage+len("…") {
		t.Errorf("message of %d bytes kept", n)
	}
}

// The SyncApplied record separates signers from approvers and names each in the one signer form
// (signature.Signer.ID): key and identity apart, a keyless signer with its issuer.
func TestAppliedEvent(t *testing.T) {
	s := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops", Name: "shop"}}
	gs := &reconcilev1.GitSource{Spec: reconcilev1.GitSourceSpec{URL: "https://git.example.com/shop"}, Status: reconcilev1.GitSourceStatus{Signers: []reconcilev1.Signer{
		{Method: "ssh", Fingerprint: "SHA256:v/FvuR4", Identity: "alice@example.com"},
		{Method: "keyless", Fingerprint: "c0ffee", Identity: "bob@example.com", Issuer: "https://accounts.google.com", Approval: true},
		{Method: "openpgp", Fingerprint: "4F1C9A2B", Approval: true, ID: "forged"}}}}
	e := appliedEvent(s, gs, commitA, &apply.Result{Created: []apply.Entry{{Kind: "ConfigMap"}}})
	if e.Kind != audit.SyncApplied || e.Commit != commitA || e.Repository != gs.Spec.URL || e.Object.Kind != "Sync" || e.Object.Name != "shop" || e.Object.Group != reconcilev1.GroupVersion.Group {
		t.Errorf("event %+v", e)
	}
	if !slices.Equal(e.Signers, []string{"ssh:SHA256:v/FvuR4 (alice@example.com)"}) ||
		!slices.Equal(e.Approvers, []string{"keyless:bob@example.com (https://accounts.google.com)", "openpgp:4F1C9A2B"}) {
		t.Errorf("signers %v approvers %v", e.Signers, e.Approvers)
	}
	if e.Objects["created"] != 1 {
		t.Errorf("counts %v", e.Objects)
	}
}

func TestDriftEventAndDescribe(t *testing.T) {
	s := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops", Name: "shop"}}
	cm := apply.Entry{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "a"}
	for _, tc := range []struct {
		name         string
		d            apply.Drift
		wantReason   string
		wantManager  string
		wantDescribe string
	}{
		{"edited", apply.Drift{Entry: cm, Fields: []string{".data.k", ".data.j"}, Managers: []string{"kubectl-edit", "helm"}, UID: "u-1", ResourceVersion: "12", Since: "10"},
			"sync gitops/shop", "kubectl-edit", "ConfigMap shop/a by kubectl-edit (.data.k, .data.j)"},
		{"deleted", apply.Drift{Entry: cm, Deleted: true}, "sync gitops/shop: the object was deleted", "", "ConfigMap shop/a (deleted)"},
		{"mutated", apply.Drift{Entry: cm, Fields: []string{".data.k"}, Mutated: true},
			"sync gitops/shop: the apiserver stored other values than Writ applied (an admission mutation)", "", "ConfigMap shop/a (.data.k)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := driftEvent(audit.DriftDetected, s, commitA, tc.d)
			if e.Kind != audit.DriftDetected || e.Commit != commitA || e.Reason != tc.wantReason || e.Manager != tc.wantManager || e.Actor.User != "" || e.Object.Name != "a" || e.Object.Version != "v1" ||
				e.Object.UID != tc.d.UID || e.ResourceVersion != tc.d.ResourceVersion || e.SinceResourceVersion != tc.d.Since {
				t.Errorf("event %+v", e)
			}
			if got := describe([]apply.Drift{tc.d}); got != tc.wantDescribe {
				t.Errorf("describe = %q, want %q", got, tc.wantDescribe)
			}
		})
	}
	two := describe([]apply.Drift{{Entry: cm, Deleted: true}, {Entry: cm, Deleted: true}})
	if two != "ConfigMap shop/a (deleted); ConfigMap shop/a (deleted)" {
		t.Errorf("describe of two = %q", two)
	}
}

func TestDriftedObjectsAndInventory(t *testing.T) {
	obj := func(kind, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind(kind)
		u.SetNamespace("shop")
		u.SetName(name)
		return u
	}
	objs := []*unstructured.Unstructured{obj("ConfigMap", "a"), obj("ConfigMap", "b"), obj("Secret", "a")}
	got := driftedObjects(objs, []apply.Drift{{Entry: apply.EntryOf(objs[2])}, {Entry: apply.Entry{Kind: "ConfigMap", Namespace: "other", Name: "a"}}})
	if len(got) != 1 || got[0] != objs[2] {
		t.Fatalf("driftedObjects = %v, want only the Secret", got)
	}
	entries := []apply.Entry{apply.EntryOf(objs[0]), apply.EntryOf(objs[2])}
	if back := fromInventory(toInventory(entries)); len(back) != 2 || back[0] != entries[0] || back[1] != entries[1] {
		t.Fatalf("inventory round trip: %v", back)
	}
	if len(toInventory(nil)) != 0 {
		t.Fatal("an empty inventory is not empty")
	}
}

// The writ.dev/source annotation names the repository and the path once each, without the
// double slash a joined URL would print ("…/shop//deploy").
func TestSourceOf(t *testing.T) {
	for _, c := range []struct{ url, path, want string }{
		{"https://git.example.com/shop", "deploy", "https://git.example.com/shop (path deploy)"},
		{"https://git.example.com/shop", "/deploy/", "https://git.example.com/shop (path deploy)"},
		{"https://git.example.com/shop", "", "https://git.example.com/shop"},
		{"git@example.com:shop.git", ".", "git@example.com:shop.git"},
	} {
		if got := apply.SourceOf(c.url, c.path); got != c.want {
			t.Errorf("apply.SourceOf(%q, %q) = %q, want %q", c.url, c.path, got, c.want)
		}
	}
	s := &reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "gitops", Name: "shop"}, Spec: reconcilev1.SyncSpec{Path: "deploy"}}
	gs := &reconcilev1.GitSource{Spec: reconcilev1.GitSourceSpec{URL: "https://git.example.com/shop"}}
	if st := stampOf(s, gs, commitA); st.SyncNamespace != "gitops" || st.SyncName != "shop" || st.Commit != commitA || st.Source != "https://git.example.com/shop (path deploy)" {
		t.Errorf("stamp %+v", st)
	}
}
