package evidence

import (
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"writ.dev/writ/audit"
)

// maxRows caps each table in the HTML report; the full population is in events.csv.
const maxRows = 2000

type change struct {
	Time               time.Time
	Repository, Commit string
	// Signers and Approvers in the one signer form (signature.Signer.ID), one per line.
	Signers, Approvers               []string
	Created, Configured, Pruned, Seq int
}

type denial struct {
	User, Object, Reason, Kind string
	Count                      int
	First, Last                time.Time
}

type breakGlass struct {
	ID, Requester, Justification, Approver, Scope string
	Requested, Approved, Expired                  time.Time
	Uses                                          []string
}

type drift struct {
	Object, Fields, Manager string
	// UID and Since find the guard's record of the write (writers); ChangedBy is what it says.
	UID, Since, ChangedBy string
	Detected, Healed      time.Time
	Seq                   uint64
}

// unverifiedWrite is one UnverifiedAgentWrite: each listed, never aggregated.
type unverifiedWrite struct {
	Time                                                 time.Time
	User, Object, Operation, Field, Commit, Reason, Mode string
}

type criterion struct {
	ID, Name string
	Records  int
	Kinds    map[audit.Kind]int
}

// report accumulates what report.html shows, in one pass over the records.
type report struct {
	from, to    time.Time
	criteria    map[audit.Criterion]*criterion
	changes     []change
	changesMore int
	rejected    []audit.Event
	denials     map[string]*denial
	breakGlass  map[string]*breakGlass
	drift       []*drift
	openDrift   map[string]*drift
	// unverified lists every UnverifiedAgentWrite up to maxRows; unverifiedMore counts the rest.
	unverified     []unverifiedWrite
	unverifiedMore int
	submitters     map[string]int
	total          int
	timeline       *timeline
	writers        writers
}

var criterionNames = map[audit.Criterion]string{
	audit.CC6_1: "Logical access: only the GitOps agent changes protected resources",
	audit.CC7_2: "Monitoring: denied attempts and drift are detected",
	audit.CC8_1: "Change management: every change is a verified, approved commit",
}

func newReport(from, to time.Time) *report {
	r := &report{from: from, to: to, criteria: map[audit.Criterion]*criterion{}, denials: map[string]*denial{},
		breakGlass: map[string]*breakGlass{}, openDrift: map[string]*drift{}, submitters: map[string]int{},
		timeline: newTimeline(from, to), writers: writers{}}
	for _, c := range []audit.Criterion{audit.CC6_1, audit.CC7_2, audit.CC8_1} {
		r.criteria[c] = &criterion{ID: string(c), Name: criterionNames[c], Kinds: map[audit.Kind]int{}}
	}
	return r
}

func (r *report) add(e audit.Event) {
	r.total++
	r.timeline.add(e)
	r.submitters[e.Submitter.User]++
	crit := e.Criteria
	if len(crit) == 0 {
		crit = e.Kind.Criteria()
	}
	for _, c := range crit {
		if r.criteria[c] == nil {
			r.criteria[c] = &criterion{ID: string(c), Name: string(c), Kinds: map[audit.Kind]int{}}
		}
		r.criteria[c].Records++
		r.criteria[c].Kinds[e.Kind]++
	}
	switch e.Kind {
	case audit.SyncApplied:
		if len(r.changes) >= maxRows {
			r.changesMore++
			return
		}
		r.changes = append(r.changes, change{Time: e.Time, Repository: e.Repository, Commit: e.Commit,
			Signers: e.Signers, Approvers: e.Approvers,
			Created: e.Objects["created"], Configured: e.Objects["configured"], Pruned: e.Objects["pruned"], Seq: int(e.Seq)})
	case audit.CommitRejected, audit.CommitRevoked:
		if len(r.rejected) < maxRows {
			r.rejected = append(r.rejected, e)
		}
	case audit.MutationDenied, audit.MutationWarned:
		key := string(e.Kind) + "\x00" + e.Actor.User + "\x00" + e.Object.String() + "\x00" + e.Reason
		d := r.denials[key]
		if d == nil {
			if len(r.denials) >= maxRows {
				key = "\x00more"
				d = r.denials[key]
			}
			if d == nil {
				d = &denial{Kind: string(e.Kind), User: e.Actor.User, Object: e.Object.String(), Reason: e.Reason, First: e.Time}
				if key == "\x00more" {
					d.User, d.Object, d.Reason = "(other)", "(other)", "further distinct attempts: see events.csv"
				}
				r.denials[key] = d
			}
		}
		n := e.Count
		if n == 0 {
			n = 1
		}
		d.Count += n
		d.Last = e.Time
	case audit.BreakGlassRequested, audit.BreakGlassApproved, audit.BreakGlassUsed, audit.BreakGlassExpired:
		b := r.breakGlass[e.BreakGlass]
		if b == nil {
			b = &breakGlass{ID: e.BreakGlass}
			r.breakGlass[e.BreakGlass] = b
		}
		switch e.Kind {
		case audit.BreakGlassRequested:
			b.Requester, b.Justification, b.Requested, b.Scope = e.Actor.User, e.Reason, e.Time, strings.Join(e.Fields, ", ")
		case audit.BreakGlassApproved:
			b.Approver, b.Approved = e.Actor.User, e.Time
		case audit.BreakGlassUsed:
			if len(b.Uses) < 100 {
				b.Uses = append(b.Uses, e.Time.UTC().Format(time.RFC3339)+" "+e.Actor.User+" "+e.Operation+" "+e.Object.String())
			}
		case audit.BreakGlassExpired:
			b.Expired = e.Time
		}
	case audit.UnverifiedAgentWrite:
		if len(r.unverified) >= maxRows {
			r.unverifiedMore++
			return
		}
		r.unverified = append(r.unverified, unverifiedWrite{Time: e.Time, User: e.Actor.User, Object: e.Object.String(), Operation: e.Operation,
			Field: strings.Join(e.Fields, ", "), Commit: e.Commit, Reason: e.Reason, Mode: e.Policy})
	case audit.DriftDetected:
		if len(r.drift) >= maxRows {
			return
		}
		d := &drift{Object: e.Object.String(), Fields: strings.Join(e.Fields, ", "), Manager: driftManager(e), Detected: e.Time, Seq: e.Seq,
			UID: e.Object.UID, Since: e.SinceResourceVersion}
		r.drift = append(r.drift, d)
		r.openDrift[d.Object] = d
	case audit.DriftHealed:
		if d := r.openDrift[e.Object.String()]; d != nil {
			d.Healed = e.Time
			delete(r.openDrift, d.Object)
		}
	}
}

type reportData struct {
	M          Manifest
	Total      int
	Criteria   []*criterion
	Changes    []change
	More       int
	Rejected   []audit.Event
	Denials    []*denial
	BreakGlass []*breakGlass
	Drift      []*drift
	OpenDrift  int
	Unverified []unverifiedWrite
	// UnverifiedMore is how many UnverifiedAgentWrite records the report does not list.
	UnverifiedMore int
	Submitters     []submitter
	// Timeline is the inline SVG chart of records per hour by kind.
	Timeline template.HTML
	// Bucket names how long each of its bars is ("hour").
	Bucket string
}

type submitter struct {
	User    string
	Records int
}

func (r *report) render(w io.Writer, m Manifest) error {
	d := reportData{M: m, Total: r.total, Changes: r.changes, More: r.changesMore, Rejected: r.rejected, Drift: r.drift, OpenDrift: len(r.openDrift),
		Unverified: r.unverified, UnverifiedMore: r.unverifiedMore, Timeline: r.timeline.svg(), Bucket: r.timeline.label()}
	for _, c := range []audit.Criterion{audit.CC6_1, audit.CC7_2, audit.CC8_1} {
		d.Criteria = append(d.Criteria, r.criteria[c])
	}
	for _, x := range r.drift {
		x.ChangedBy = r.changedBy(x)
	}
	for _, x := range r.denials {
		d.Denials = append(d.Denials, x)
	}
	sort.Slice(d.Denials, func(i, j int) bool { return d.Denials[i].Count > d.Denials[j].Count })
	for _, b := range r.breakGlass {
		d.BreakGlass = append(d.BreakGlass, b)
	}
	sort.Slice(d.BreakGlass, func(i, j int) bool { return d.BreakGlass[i].Requested.Before(d.BreakGlass[j].Requested) })
	for u, n := range r.submitters {
		d.Submitters = append(d.Submitters, submitter{User: u, Records: n})
	}
	sort.Slice(d.Submitters, func(i, j int) bool { return d.Submitters[i].User < d.Submitters[j].User })
	return reportTemplate.Execute(w, d)
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func shortHash(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"ts": ts, "short": shortHash}).Parse(reportHTML))

// driftManager is the field manager of a drift record: Manager, or, on records stored before
// Manager existed, Actor.User, where the reconciler used to put it.
func driftManager(e audit.Event) string {
	if e.Manager != "" {
		return e.Manager
	}
	return e.Actor.User
}
