package evidence

import (
	"fmt"
	"strings"

	"writ.dev/writ/audit"
)

// writer is the guard's record of one admitted write, as a drift is joined with it.
type writer struct {
	actor      audit.Actor
	breakGlass string
	seq        uint64
}

// writers indexes the guard's records of admitted writes (MutationAllowed, MutationWarned,
// BreakGlassUsed) by the object's uid and the resourceVersion the write was made on. A drift
// record's sinceResourceVersion is the version the write that caused it was made on, so the
// record with the drift's uid and that version names who made it. Every record the export reads
// is indexed, in the period or not (from the checkpoint that anchors the bundle on): a write
// recorded before that checkpoint is not found.
type writers map[string]writer

func writerKey(uid, rv string) string { return uid + "\x00" + rv }

func (w writers) add(e audit.Event) {
	switch e.Kind {
	case audit.MutationAllowed, audit.MutationWarned, audit.BreakGlassUsed:
	default:
		return
	}
	if e.Object.UID == "" || e.ResourceVersion == "" {
		return
	}
	k := writerKey(e.Object.UID, e.ResourceVersion)
	if _, ok := w[k]; !ok { // the first write made on that version is the one that changed it
		w[k] = writer{actor: e.Actor, breakGlass: e.BreakGlass, seq: e.Seq}
	}
}

// changedBy says who made the write a drift came from: the actor of the guard's record of it,
// with the break-glass request (its justification and approver, where the export has them) or
// why it is unknown. It never guesses from the field manager.
func (r *report) changedBy(d *drift) string {
	switch {
	case d.UID == "":
		return "unknown (no object uid recorded)"
	case d.Since == "":
		return "unknown (the reconciler did not know the version before the change)"
	}
	w, ok := r.writers[writerKey(d.UID, d.Since)]
	if !ok {
		return "unknown (webhook unavailable)"
	}
	var b strings.Builder
	b.WriteString(w.actor.User)
	if len(w.actor.Groups) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(w.actor.Groups, ", "))
	}
	if w.breakGlass != "" {
		fmt.Fprintf(&b, ", break-glass %s", w.breakGlass)
		if g := r.breakGlass[w.breakGlass]; g != nil {
			if g.Justification != "" {
				fmt.Fprintf(&b, ": %q", g.Justification)
			}
			if g.Approver != "" {
				fmt.Fprintf(&b, ", approved by %s", g.Approver)
			}
		}
	}
	fmt.Fprintf(&b, " (record #%d)", w.seq)
	return b.String()
}
