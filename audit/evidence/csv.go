package evidence

import (
	"bufio"
	"encoding/csv"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"writ.dev/writ/audit"
)

var csvHeader = []string{"seq", "time", "in_period", "kind", "criteria", "user", "groups", "service_account",
	"submitter", "object", "operation", "repository", "commit", "signers", "approvers", "policy", "reason", "break_glass",
	"fields", "objects", "count", "prev_hash", "hash",
	// Added later, at the end so that readers of the columns before keep working.
	"manager", "object_uid", "resource_version", "since_resource_version"}

type csvWriter struct {
	bw  *bufio.Writer
	w   *csv.Writer
	hdr bool
}

func newCSV(out io.Writer) *csvWriter {
	bw := bufio.NewWriterSize(out, 1<<16)
	return &csvWriter{bw: bw, w: csv.NewWriter(bw)}
}

func (c *csvWriter) write(e audit.Event, period bool) error {
	if !c.hdr {
		c.hdr = true
		if err := c.w.Write(csvHeader); err != nil {
			return err
		}
	}
	crit := make([]string, len(e.Criteria))
	for i, x := range e.Criteria {
		crit[i] = string(x)
	}
	obj := ""
	if e.Object != (audit.ObjectRef{}) {
		obj = e.Object.String()
	}
	count := e.Count
	if count == 0 {
		count = 1
	}
	return c.w.Write([]string{
		strconv.FormatUint(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano), strconv.FormatBool(period), string(e.Kind),
		strings.Join(crit, ";"), csvSafe(e.Actor.User), csvSafe(strings.Join(e.Actor.Groups, ";")), csvSafe(e.Actor.ServiceAccount),
		csvSafe(e.Submitter.User), csvSafe(obj), csvSafe(e.Operation), csvSafe(e.Repository), csvSafe(e.Commit), csvSafe(strings.Join(e.Signers, ";")),
		csvSafe(strings.Join(e.Approvers, ";")), csvSafe(e.Policy), csvSafe(e.Reason), csvSafe(e.BreakGlass),
		csvSafe(strings.Join(e.Fields, ";")), objectsCell(e.Objects), strconv.Itoa(count), e.PrevHash, e.Hash,
		csvSafe(e.Manager), csvSafe(e.Object.UID), csvSafe(e.ResourceVersion), csvSafe(e.SinceResourceVersion),
	})
}

func objectsCell(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Itoa(m[k])
	}
	return strings.Join(parts, ";")
}

// csvSafe defuses spreadsheet formula injection: a cell an attacker controls (a user name, a
// reason) must not start with a formula character.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (c *csvWriter) flush() error {
	if !c.hdr {
		c.hdr = true
		if err := c.w.Write(csvHeader); err != nil {
			return err
		}
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return c.bw.Flush()
}
