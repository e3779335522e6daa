package reconcile

import (
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A condition's transition time moves only when its status does.
func TestSetConditionTransitions(t *testing.T) {
	var conds []metav1.Condition
	setCondition(&conds, 1, Ready, false, "NoVerifiedCommit", "waiting")
	first := conds[0].LastTransitionTime
	first.Time = first.Add(-60e9) // as if set a minute ago
	conds[0].LastTransitionTime = first
	setCondition(&conds, 2, Ready, false, "RenderFailed", "broken")
	if c := conds[0]; c.LastTransitionTime != first || c.Reason != "RenderFailed" || c.Message != "broken" || c.ObservedGeneration != 2 {
		t.Fatalf("same status, new reason: %+v", c)
	}
	setCondition(&conds, 2, Ready, true, "Applied", "applied")
	if c := conds[0]; c.LastTransitionTime == first || c.Status != metav1.ConditionTrue {
		t.Fatalf("a new status kept the old transition time: %+v", c)
	}
	if len(conds) != 1 {
		t.Fatalf("%d conditions, want one per type", len(conds))
	}
	if got := conditionMessage(conds, Ready); got != "applied" {
		t.Errorf("conditionMessage = %q", got)
	}
	if got := conditionMessage(conds, SourceVerified); got != "not fetched yet" {
		t.Errorf("conditionMessage of a missing condition = %q", got)
	}
}

func TestCutMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int // bytes before the mark, -1 for unchanged
	}{
		{"short", "short", -1},
		{"at the limit", strings.Repeat("x", maxMessage), -1},
		{"over", strings.Repeat("x", maxMessage+1), maxMessage},
		{"a character across the limit", strings.Repeat("x", maxMessage-1) + "é" + "tail", maxMessage - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cutMessage(tc.in)
			if tc.want < 0 {
				if got != tc.in {
					t.Fatalf("changed a message within the limit")
				}
				return
			}
			if !strings.HasSuffix(got, "…") || len(got)-len("…") != tc.want || !utf8.ValidString(got) || !strings.HasPrefix(tc.in, strings.TrimSuffix(got, "…")) {
				t.Fatalf("cut to %d bytes (valid UTF-8: %t), want %d and the mark", len(got), utf8.ValidString(got), tc.want)
			}
		})
	}
}
