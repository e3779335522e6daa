package evidence

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"writ.dev/writ/audit"
)

// timelineKinds are the series the timeline draws, bottom to top, with their colours.
var timelineKinds = []struct{ Name, Colour string }{
	{"applied", "#1a7f37"}, {"denied", "#cf222e"}, {"drift", "#bf8700"}, {"break-glass", "#8250df"},
}

// maxBuckets caps the timeline's bars: a period longer than 31 days is drawn in buckets of
// several hours, which the chart's caption says.
const maxBuckets = 31 * 24

// timeline counts the period's records per hour (or per bucket of hours) by series.
type timeline struct {
	from   time.Time
	bucket time.Duration
	counts [][4]int
}

func newTimeline(from, to time.Time) *timeline {
	hours := int((to.Sub(from) + time.Hour - 1) / time.Hour)
	per := (hours + maxBuckets - 1) / maxBuckets
	if per < 1 {
		per = 1
	}
	n := (hours + per - 1) / per
	if n < 1 {
		n = 1
	}
	return &timeline{from: from, bucket: time.Duration(per) * time.Hour, counts: make([][4]int, n)}
}

// label names a bucket: "hour", or "6 hours".
func (tl *timeline) label() string {
	if tl.bucket == time.Hour {
		return "hour"
	}
	return fmt.Sprintf("%d hours", tl.bucket/time.Hour)
}

// series returns which series a record belongs to, or -1.
func series(k audit.Kind) int {
	switch k {
	case audit.SyncApplied:
		return 0
	case audit.MutationDenied:
		return 1
	case audit.DriftDetected:
		return 2
	case audit.BreakGlassRequested, audit.BreakGlassApproved, audit.BreakGlassUsed, audit.BreakGlassExpired:
		return 3
	}
	return -1
}

func (tl *timeline) add(e audit.Event) {
	s := series(e.Kind)
	i := int(e.Time.Sub(tl.from) / tl.bucket)
	if s < 0 || i < 0 || i >= len(tl.counts) {
		return
	}
	n := e.Count
	if n == 0 {
		n = 1
	}
	tl.counts[i][s] += n
}

// svg draws the timeline as inline SVG: stacked bars, one per bucket, with a legend. No script,
// nothing fetched.
func (tl *timeline) svg() template.HTML {
	const w, h, top = 1000.0, 140.0, 20.0
	peak := 1
	for _, c := range tl.counts {
		if t := c[0] + c[1] + c[2] + c[3]; t > peak {
			peak = t
		}
	}
	bw := w / float64(len(tl.counts))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="timeline-chart" role="img" viewBox="0 0 %g %g" width="100%%" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">`, w, h+top)
	fmt.Fprintf(&b, `<title>Records per %s by kind, %s to %s; the tallest bar is %d records</title>`, tl.label(), ts(tl.from), ts(tl.from.Add(tl.bucket*time.Duration(len(tl.counts)))), peak)
	for i, c := range tl.counts {
		y := top + h
		for s, n := range c {
			if n == 0 {
				continue
			}
			bh := h * float64(n) / float64(peak)
			y -= bh
			fmt.Fprintf(&b, `<rect class="%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>%s: %d</title></rect>`,
				timelineKinds[s].Name, float64(i)*bw, y, bw, bh, timelineKinds[s].Colour, timelineKinds[s].Name, n)
		}
	}
	for s, k := range timelineKinds {
		fmt.Fprintf(&b, `<rect x="%d" y="4" width="10" height="10" fill="%s"/><text x="%d" y="13" font-size="11">%s</text>`, s*110, k.Colour, s*110+14, k.Name)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and fixed names only
}
