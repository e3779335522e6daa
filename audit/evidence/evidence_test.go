package evidence

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"errors"
	"fmt"
	"html"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"writ.dev/writ/audit"
)

// memStore is a minimal in-memory audit.Store for the export logic; the real stores have their
// own tests and the CLI tests export from the embedded store.
type memStore struct {
	mu  sync.Mutex
	evs []audit.Event
	cps []audit.Checkpoint
}

func (s *memStore) Append(_ context.Context, events ...audit.Event) ([]audit.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []audit.Event
	for _, e := range events {
		seq, prev := uint64(len(s.evs)), ""
		if seq > 0 {
			prev = s.evs[seq-1].Hash
		}
		l, err := audit.Link(e, seq, prev)
		if err != nil {
			return nil, err
		}
		s.evs = append(s.evs, l)
		out = append(out, l)
	}
	return out, nil
}

func (s *memStore) Head(context.Context) (uint64, string, error) {
	if len(s.evs) == 0 {
		return 0, "", nil
	}
	return uint64(len(s.evs)), s.evs[len(s.evs)-1].Hash, nil
}

func (s *memStore) Scan(_ context.Context, from uint64, fn func(audit.Event) error) error {
	for i := from; i >= 1 && i <= uint64(len(s.evs)); i++ {
		if err := fn(s.evs[i-1]); err != nil {
			if errors.Is(err, audit.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (s *memStore) AddCheckpoint(_ context.Context, c audit.Checkpoint) error {
	s.cps = append(s.cps, c)
	return nil
}
func (s *memStore) Checkpoints(context.Context) ([]audit.Checkpoint, error) { return s.cps, nil }
func (s *memStore) Close() error                                            { return nil }

var day = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// Signers as reconcile names them (provenance/signature.Signer.ID): the evidence must carry the
// one form as recorded, key and identity apart, a keyless signer with its issuer.
const (
	aliceID      = "ssh:SHA256:v/FvuR4xq8m0n1GkqQmOa8mZ4bqI9aQ0d3xk0b2WZf8 (alice@example.com)"
	carolID      = "openpgp:4F1C9A2B7D3E5F60718293A4B5C6D7E8F9012345 (Carol <carol@example.com>)"
	bobKeylessID = "keyless:bob@example.com (https://accounts.google.com)"
)

// fill stores a month of varied records, one every hour, with a checkpoint every 100 records.
func fill(t testing.TB, s *memStore, key ed25519.PrivateKey) {
	t.Helper()
	kinds := []audit.Event{
		{Kind: audit.SyncApplied, Repository: "https://git.example.com/platform-infrastructure/production-clusters/eu-west-1/applications.git", Commit: "0123456789abcdef0123456789abcdef01234567", Signers: []string{aliceID}, Approvers: []string{carolID, bobKeylessID}, Objects: map[string]int{"created": 3, "configured": 1, "pruned": 1}},
		{Kind: audit.MutationDenied, Actor: audit.Actor{User: "bob", Groups: []string{"devs"}}, Object: audit.ObjectRef{Kind: "Deployment", Group: "apps", Namespace: "prod", Name: "web"}, Operation: "UPDATE", Reason: "only the GitOps agent may change prod", Count: 3},
		{Kind: audit.DriftDetected, Manager: "kubectl-edit", Object: audit.ObjectRef{Kind: "ConfigMap", Namespace: "prod", Name: "cfg", UID: "uid-cfg"}, ResourceVersion: "12", SinceResourceVersion: "10", Fields: []string{".data.mode"}},
		{Kind: audit.DriftHealed, Object: audit.ObjectRef{Kind: "ConfigMap", Namespace: "prod", Name: "cfg"}},
		{Kind: audit.BreakGlassRequested, Actor: audit.Actor{User: "oncall"}, BreakGlass: "bg-1", Reason: "INC-42: database failover"},
		{Kind: audit.BreakGlassApproved, Actor: audit.Actor{User: "lead"}, BreakGlass: "bg-1"},
		{Kind: audit.BreakGlassUsed, Actor: audit.Actor{User: "oncall"}, BreakGlass: "bg-1", Operation: "PATCH", Object: audit.ObjectRef{Kind: "Deployment", Namespace: "prod", Name: "db"}},
		{Kind: audit.CommitRejected, Commit: "fedcba9876543210fedcba9876543210fedcba98", Reason: "unknown key: SHA256:mallory"},
		{Kind: audit.MutationDenied, Actor: audit.Actor{User: "=cmd|' /C calc'!A0"}, Reason: "formula injection attempt"},
	}
	for i := 0; i < 24*31; i++ {
		e := kinds[i%len(kinds)]
		e.Time = day.Add(time.Duration(i) * time.Hour)
		e = e.WithDefaults(time.Now)
		stored, err := s.Append(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		if stored[0].Seq%100 == 0 {
			s.cps = append(s.cps, audit.SignCheckpoint(key, stored[0].Seq, stored[0].Hash, e.Time))
		}
	}
}

func export(t *testing.T, s audit.Store, key ed25519.PrivateKey, from, to time.Time) ([]byte, Summary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := Export(context.Background(), s, &buf, ExportOptions{From: from, To: to, Key: key, Now: func() time.Time { return day.AddDate(0, 2, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), sum
}

func TestExportAndVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	s := &memStore{}
	fill(t, s, key)
	from, to := day.AddDate(0, 0, 10), day.AddDate(0, 0, 20)
	b, sum := export(t, s, key, from, to)
	m := sum.Manifest
	if m.AnchorSeq == 0 || m.FirstSeq != m.AnchorSeq+1 || m.PeriodFirstSeq != 241 || m.PeriodLastSeq != 480 {
		t.Fatalf("manifest range %+v", m)
	}
	if m.LastSeq != 500 { // runs to the checkpoint covering the period's end
		t.Fatalf("last seq %d, want the covering checkpoint at 500", m.LastSeq)
	}
	total := 0
	for _, n := range m.Counts {
		total += n
	}
	if total != 240 {
		t.Fatalf("counts %v sum to %d, want 240", m.Counts, total)
	}
	res, err := Verify(bytes.NewReader(b), int64(len(b)), VerifyOptions{PublicKey: pub})
	if err != nil {
		t.Fatalf("intact bundle: %v", err)
	}
	if res.Records != sum.Records || res.Checkpoints < 2 {
		t.Fatalf("verify result %+v", res)
	}

	files := unzip(t, b)
	rows, err := csv.NewReader(bytes.NewReader(files[FileCSV])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != int(sum.Records)+1 || rows[0][0] != "seq" {
		t.Fatalf("csv has %d rows", len(rows))
	}
	if !strings.Contains(string(files[FileCSV]), "'=cmd") {
		t.Fatal("a formula-like cell was not defused")
	}
	// The signer form, unchanged, in the CSV's signers and approvers columns.
	var signed bool
	for _, r := range rows[1:] {
		if r[3] == string(audit.SyncApplied) {
			signed = true
			if r[13] != aliceID || r[14] != carolID+";"+bobKeylessID {
				t.Fatalf("csv names signers %q and approvers %q", r[13], r[14])
			}
		}
	}
	if !signed {
		t.Fatal("no SyncApplied row in the csv")
	}
	// A drift row names the field manager, the object's uid and both versions in their own columns.
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var drifted bool
	for _, r := range rows[1:] {
		if r[3] == string(audit.DriftDetected) {
			drifted = true
			if r[col["manager"]] != "kubectl-edit" || r[col["object_uid"]] != "uid-cfg" || r[col["resource_version"]] != "12" ||
				r[col["since_resource_version"]] != "10" || r[col["user"]] != "" {
				t.Fatalf("csv drift row %q", r)
			}
		}
	}
	if !drifted {
		t.Fatal("no DriftDetected row in the csv")
	}
	page := string(files[FileReport])
	for _, want := range []string{`id="criteria"`, `id="changes"`, `id="denied"`, `id="breakglass"`, `id="drift"`, "INC-42: database failover", `<strong id="total-records">240</strong>`, "=cmd|&#39; /C calc&#39;",
		html.EscapeString(aliceID), html.EscapeString(carolID), html.EscapeString(bobKeylessID)} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestExportSignsATailCheckpointWhenNoneCovers(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	s := &memStore{}
	fill(t, s, key)
	before := len(s.cps)
	b, sum := export(t, s, key, day.AddDate(0, 0, 30), day.AddDate(0, 1, 5))
	if len(s.cps) != before+1 || s.cps[len(s.cps)-1].Seq != sum.Manifest.LastSeq {
		t.Fatalf("no checkpoint stored for the tail: %d -> %d", before, len(s.cps))
	}
	if _, err := Verify(bytes.NewReader(b), int64(len(b)), VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestExportValidatesOptions(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	for name, o := range map[string]ExportOptions{
		"no period": {Key: key},
		"reversed":  {From: day, To: day.Add(-time.Hour), Key: key},
		"no key":    {From: day, To: day.Add(time.Hour)},
	} {
		if _, err := Export(context.Background(), &memStore{}, io.Discard, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func unzip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		out[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return out
}

func rezip(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{FileEvents, FileCSV, FileCheckpoints, FileReport, FileManifest, FileManifestSig} {
		w, _ := zw.Create(name)
		w.Write(files[name])
	}
	zw.Close()
	return buf.Bytes()
}

func lines(b []byte) []string { return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n") }

func TestVerifyLocatesTampering(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	s := &memStore{}
	fill(t, s, key)
	b, sum := export(t, s, key, day.AddDate(0, 0, 10), day.AddDate(0, 0, 20))
	first := sum.Manifest.FirstSeq
	edit := func(f func(map[string][]byte)) []byte {
		files := unzip(t, b)
		f(files)
		return rezip(t, files)
	}
	editEvents := func(f func([]string) []string) []byte {
		return edit(func(files map[string][]byte) {
			files[FileEvents] = []byte(strings.Join(f(lines(files[FileEvents])), ""))
		})
	}
	seq := func(i int) uint64 { return first + uint64(i) }
	tests := []struct {
		name   string
		bundle []byte
		want   string
	}{
		{"one byte flipped in a record", editEvents(func(l []string) []string {
			l[50] = strings.Replace(l[50], `"kind":"`, `"kind":"X`, 1)
			return l
		}), fmt.Sprintf("record %d was modified", seq(50))},
		{"one byte flipped into invalid JSON", editEvents(func(l []string) []string { l[60] = "{" + l[60][1:len(l[60])-2] + "\n"; return l }), fmt.Sprintf("record %d (line 61", seq(60))},
		{"a record deleted", editEvents(func(l []string) []string { return append(l[:70:70], l[71:]...) }), fmt.Sprintf("records %d to %d are missing", seq(70), seq(70))},
		{"two records reordered", editEvents(func(l []string) []string { l[80], l[81] = l[81], l[80]; return l }), fmt.Sprintf("records %d to %d are missing", seq(80), seq(80))},
		{"the middle truncated", editEvents(func(l []string) []string { return append(l[:100:100], l[150:]...) }), fmt.Sprintf("records %d to %d are missing", seq(100), seq(149))},
		{"the tail cut off", editEvents(func(l []string) []string { return l[:len(l)-5] }), "records at the end were removed"},
		{"a checkpoint signature replaced", edit(func(f map[string][]byte) {
			f[FileCheckpoints] = bytes.Replace(f[FileCheckpoints], []byte(`"signature": "`), []byte(`"signature": "00`), 1)
		}), "checkpoint at record 200"},
		{"csv edited", edit(func(f map[string][]byte) { f[FileCSV] = bytes.Replace(f[FileCSV], []byte("bob"), []byte("eve"), 1) }), "events.csv was modified"},
		{"report edited", edit(func(f map[string][]byte) {
			f[FileReport] = bytes.Replace(f[FileReport], []byte("Denied"), []byte("Allowed"), 1)
		}), "report.html was modified"},
		{"manifest edited", edit(func(f map[string][]byte) {
			f[FileManifest] = bytes.Replace(f[FileManifest], []byte(`"MutationDenied": `), []byte(`"MutationDenied": 1`), 1)
		}), "manifest.json's signature does not verify"},
	}
	for _, tt := range tests {
		_, err := Verify(bytes.NewReader(tt.bundle), int64(len(tt.bundle)), VerifyOptions{})
		if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v\nwant %q", tt.name, err, tt.want)
		}
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if _, err := Verify(bytes.NewReader(b), int64(len(b)), VerifyOptions{PublicKey: other}); !errors.Is(err, ErrTampered) {
		t.Errorf("bundle accepted under another pinned key: %v", err)
	}
	if _, err := Verify(bytes.NewReader([]byte("nope")), 4, VerifyOptions{}); err == nil {
		t.Error("garbage accepted")
	}
}

// The timeline counts the period's records per hour by kind (a denial's retries included) and is
// inline SVG, drawing nothing from outside the page.
func TestTimeline(t *testing.T) {
	tl := newTimeline(day, day.Add(3*time.Hour))
	for _, e := range []audit.Event{
		{Kind: audit.SyncApplied, Time: day},
		{Kind: audit.MutationDenied, Time: day.Add(90 * time.Minute), Count: 4},
		{Kind: audit.DriftDetected, Time: day.Add(2 * time.Hour)},
		{Kind: audit.BreakGlassUsed, Time: day.Add(2*time.Hour + time.Minute)},
		{Kind: audit.CommitVerified, Time: day},                 // not drawn
		{Kind: audit.SyncApplied, Time: day.Add(3 * time.Hour)}, // after the period
	} {
		tl.add(e)
	}
	if want := [][4]int{{1, 0, 0, 0}, {0, 4, 0, 0}, {0, 0, 1, 1}}; fmt.Sprint(tl.counts) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", tl.counts, want)
	}
	svg := string(tl.svg())
	if !strings.HasPrefix(svg, "<svg") || strings.Count(svg, `<rect class=`) != 4 || strings.Contains(svg, "href") || strings.Contains(svg, "<script") {
		t.Fatalf("svg %s", svg)
	}
	if long := newTimeline(day, day.AddDate(0, 3, 0)); len(long.counts) > maxBuckets || long.label() == "hour" {
		t.Fatalf("a quarter in %d buckets of %s", len(long.counts), long.label())
	}
}
