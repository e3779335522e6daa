package evidence

const reportHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Writ audit evidence {{ts .M.From}} – {{ts .M.To}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#1b1f24;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-size:.9em}.num{text-align:right}.ok{color:#1a7f37}.bad{color:#cf222e}
.muted{color:#57606a}
td{overflow-wrap:anywhere}code{word-break:break-all}th,.num,.hash{overflow-wrap:normal;white-space:nowrap}
thead{display:table-header-group}tr{break-inside:avoid}h2{break-after:avoid}
@media print{body{margin:0;max-width:none}section:not(:first-of-type){break-before:page}}
</style></head><body>
<h1>Writ audit evidence</h1>
<p>Period <strong>{{ts .M.From}}</strong> to <strong>{{ts .M.To}}</strong> (end exclusive).
Records in the period: <strong id="total-records">{{.Total}}</strong> (sequence {{.M.PeriodFirstSeq}}–{{.M.PeriodLastSeq}}).
Bundle created {{ts .M.CreatedAt}}, signed by audit key <code id="key-id">{{.M.KeyID}}</code>.</p>
<p class="muted">Completeness: the records run without a gap from the signed checkpoint at record {{.M.AnchorSeq}}
to record {{.M.LastSeq}}, which a signed checkpoint covers. Run <code>writ audit verify</code> on this bundle to check every
hash link, checkpoint signature and file digest offline.</p>

<section id="timeline"><h2>Timeline</h2>
<p>Records per {{.Bucket}} over the period, by kind: <span style="color:#1a7f37">applied</span>,
<span style="color:#cf222e">denied</span>, <span style="color:#bf8700">drift</span>,
<span style="color:#8250df">break-glass</span>.</p>
{{.Timeline}}</section>

<section id="criteria"><h2>Summary per SOC 2 criterion</h2>
<table><thead><tr><th>Criterion</th><th>What it evidences</th><th class="num">Records</th><th>By kind</th></tr></thead>
{{range .Criteria}}<tr><td><strong>{{.ID}}</strong></td><td>{{.Name}}</td><td class="num" data-criterion="{{.ID}}">{{.Records}}</td>
<td>{{range $k, $n := .Kinds}}{{$k}}: {{$n}}<br>{{end}}</td></tr>{{end}}
</table></section>

<section id="submitters"><h2>Submitted by</h2>
<p>Who handed the records in, as the apiserver authenticated them when they were created (never as the records say):
Writ's own service accounts alone are accepted into the trail.</p>
<table><thead><tr><th>Submitter</th><th class="num">Records</th></tr></thead>
{{range .Submitters}}<tr><td>{{if .User}}{{.User}}{{else}}<span class="muted">not recorded (stored before Writ recorded submitters)</span>{{end}}</td><td class="num">{{.Records}}</td></tr>{{end}}
</table></section>

<section id="changes"><h2>Applied changes</h2>
<p>Every change applied to the cluster, with the verified commit it came from.</p>
<table><thead><tr><th>Time</th><th>Repository</th><th>Commit</th><th>Signers</th><th>Approvers</th><th class="num">Created</th><th class="num">Configured</th><th class="num">Pruned</th></tr></thead>
{{range .Changes}}<tr><td>{{ts .Time}}</td><td>{{.Repository}}</td><td class="hash"><code>{{short .Commit}}</code></td><td>{{range .Signers}}<div>{{.}}</div>{{end}}</td><td>{{range .Approvers}}<div>{{.}}</div>{{end}}</td><td class="num">{{.Created}}</td><td class="num">{{.Configured}}</td><td class="num">{{.Pruned}}</td></tr>
{{else}}<tr><td colspan="8" class="muted">No changes were applied in this period.</td></tr>{{end}}
</table>{{if .More}}<p class="muted">{{.More}} further changes: see events.csv.</p>{{end}}
{{if .Rejected}}<h3>Rejected and revoked commits</h3><table><thead><tr><th>Time</th><th>Commit</th><th>Reason</th></tr></thead>
{{range .Rejected}}<tr><td>{{ts .Time}}</td><td class="hash"><code>{{short .Commit}}</code></td><td class="bad">{{.Reason}}</td></tr>{{end}}</table>{{end}}
</section>

<section id="denied"><h2>Denied attempts</h2>
<p>Mutations of protected resources by anyone other than the GitOps agent (identical retries aggregated).</p>
<table><thead><tr><th>Decision</th><th>Who</th><th>Object</th><th>Reason</th><th class="num">Attempts</th><th>First</th><th>Last</th></tr></thead>
{{range .Denials}}<tr><td>{{.Kind}}</td><td>{{.User}}</td><td>{{.Object}}</td><td>{{.Reason}}</td><td class="num">{{.Count}}</td><td>{{ts .First}}</td><td>{{ts .Last}}</td></tr>
{{else}}<tr><td colspan="7" class="muted">No attempts were denied in this period.</td></tr>{{end}}
</table></section>

<section id="unverified"><h2>Unverified agent writes</h2>
<p>Writes made with the identity of Writ's own agent that no verified commit declares, each one listed (never aggregated):
denied in Enforce, allowed with a warning in Warn.</p>
<table><thead><tr><th>Time</th><th>Actor</th><th>Object</th><th>Operation</th><th>Field</th><th>Commit</th><th>Why</th><th>Mode</th></tr></thead>
{{range .Unverified}}<tr><td>{{ts .Time}}</td><td>{{.User}}</td><td>{{.Object}}</td><td>{{.Operation}}</td><td><code>{{.Field}}</code></td><td class="hash"><code>{{short .Commit}}</code></td><td class="bad">{{.Reason}}</td><td>{{.Mode}}</td></tr>
{{else}}<tr><td colspan="8" class="muted">No unverified agent writes in this period.</td></tr>{{end}}
</table>{{if .UnverifiedMore}}<p class="muted">{{.UnverifiedMore}} further unverified agent writes: see events.csv.</p>{{end}}
</section>

<section id="breakglass"><h2>Break-glass</h2>
<table><thead><tr><th>Request</th><th>Requester</th><th>Justification</th><th>Approver</th><th>Requested</th><th>Approved</th><th>Expired</th><th>What was changed</th></tr></thead>
{{range .BreakGlass}}<tr><td><code>{{.ID}}</code></td><td>{{.Requester}}</td><td>{{.Justification}}</td><td>{{.Approver}}</td><td>{{ts .Requested}}</td><td>{{ts .Approved}}</td><td>{{ts .Expired}}</td><td>{{range .Uses}}{{.}}<br>{{end}}</td></tr>
{{else}}<tr><td colspan="8" class="muted">No break-glass access in this period.</td></tr>{{end}}
</table></section>

<section id="drift"><h2>Drift</h2>
<p>Live objects that diverged from Git, who changed them, and how it ended. Open: <strong id="open-drift">{{.OpenDrift}}</strong>.</p>
<table><thead><tr><th>Object</th><th>Fields</th><th>Changed by</th><th>Detected</th><th>Outcome</th></tr></thead>
{{range .Drift}}<tr><td>{{.Object}}</td><td>{{.Fields}}</td><td>{{.ChangedBy}}{{if .Manager}} <span class="muted">via {{.Manager}}</span>{{end}}</td><td>{{ts .Detected}}</td><td>{{if .Healed.IsZero}}<span class="bad">not healed in the period</span>{{else}}<span class="ok">healed {{ts .Healed}}</span>{{end}}</td></tr>
{{else}}<tr><td colspan="5" class="muted">No drift in this period.</td></tr>{{end}}
</table></section>
</body></html>
`
