package reconcile

import (
	"unicode/utf8"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types.
const (
	Ready          = "Ready"
	Reconciling    = "Reconciling"
	Stalled        = "Stalled"
	SourceVerified = "SourceVerified"
	Drifted        = "Drifted"
)

// maxMessage bounds a message Writ writes into status or an audit record.
const maxMessage = 1000

// setCondition sets the condition typ (True when ok) for generation gen, with its message cut
// to maxMessage. The transition time moves only when the status changes.
func setCondition(conds *[]metav1.Condition, gen int64, typ string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: cutMessage(msg), ObservedGeneration: gen})
}

// cutMessage cuts s to maxMessage bytes (at a character boundary), marking the cut with "…".
func cutMessage(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	end := maxMessage
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "…"
}

// conditionMessage is the message of the condition typ, or "not fetched yet" when there is none.
func conditionMessage(conds []metav1.Condition, typ string) string {
	if c := apimeta.FindStatusCondition(conds, typ); c != nil {
		return c.Message
	}
	return "not fetched yet"
}
