package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/audit"
	auditv1 "writ.dev/writ/audit/api/v1alpha1"
)

// trail collects the audit records Writ's components write as AuditEvent objects, which the
// audit component stores in its hash chain and then deletes: a watch sees each as it is
// written, so a step can show the record it caused.
type trail struct {
	mu     sync.Mutex
	events []audit.Event
}

// watchAudit watches AuditEvents in Writ's namespace until ctx ends.
func (d *demo) watchAudit(ctx context.Context) error {
	wc, err := client.NewWithWatch(d.env.Config, client.Options{Scheme: d.env.Scheme})
	if err != nil {
		return err
	}
	w, err := wc.Watch(ctx, &auditv1.AuditEventList{}, client.InNamespace(writNS))
	if err != nil {
		return fmt.Errorf("watching AuditEvents: %w", err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			ae, ok := ev.Object.(*auditv1.AuditEvent)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			d.trail.mu.Lock()
			d.trail.events = append(d.trail.events, ae.Spec.Event())
			d.trail.mu.Unlock()
		}
	}()
	return nil
}

// match selects records; a zero field matches anything.
type match struct {
	object string // contained in the object's name, e.g. "ConfigMap shop/checkout"
	user   string
	commit string
	since  time.Time
}

func (m match) matches(e audit.Event) bool {
	return strings.Contains(e.Object.String(), m.object) && (m.user == "" || e.Actor.User == m.user) &&
		(m.commit == "" || e.Commit == m.commit) && !e.Time.Before(m.since)
}

// find returns the first record of kind that m matches.
func (t *trail) find(kind audit.Kind, m match) (audit.Event, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.events {
		if e.Kind == kind && m.matches(e) {
			return e, true
		}
	}
	return audit.Event{}, false
}

// records waits for a record of each kind that m matches and prints them.
func (d *demo) records(ctx context.Context, m match, kinds ...audit.Kind) error {
	var found []audit.Event
	err := d.until(ctx, fmt.Sprintf("audit records %v", kinds), time.Minute, func() (bool, string) {
		found = found[:0]
		for _, k := range kinds {
			e, ok := d.trail.find(k, m)
			if !ok {
				return false, "no " + string(k) + " record yet"
			}
			found = append(found, e)
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	d.s.cmd("kubectl get auditevents -n writ-system -w   # each record, as Writ writes it for the audit trail")
	for _, e := range found {
		d.s.evidence("%s", describeRecord(e))
	}
	return nil
}

// describeRecord is one line about a record: what, who, which object, why.
func describeRecord(e audit.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Time.UTC().Format("15:04:05.000"), e.Kind)
	if e.Actor.User != "" {
		fmt.Fprintf(&b, " by %s", e.Actor.User)
	}
	if e.Manager != "" {
		fmt.Fprintf(&b, " via %s", e.Manager)
	}
	if e.Object.Name != "" {
		fmt.Fprintf(&b, " on %s", e.Object)
	}
	if e.Operation != "" {
		fmt.Fprintf(&b, " (%s)", e.Operation)
	}
	if len(e.Fields) > 0 {
		fmt.Fprintf(&b, " fields %s", strings.Join(e.Fields, ","))
	}
	if e.BreakGlass != "" {
		fmt.Fprintf(&b, " break-glass %s", e.BreakGlass)
	}
	if e.Commit != "" {
		fmt.Fprintf(&b, " commit %.12s", e.Commit)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	return b.String()
}
