package reconcile

import (
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

func set(conds *[]metav1.Condition, gen int64, typ string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: truncate(msg), ObservedGeneration: gen})
}

func truncate(s string) string {
	if len(s) > 1000 {
		return s[:1000] + "…"
	}
	return s
}
