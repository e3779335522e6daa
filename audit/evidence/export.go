package evidence

import (
	"archive/zip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"writ.dev/writ/audit"
)

// ExportOptions say what to export and how to sign it.
type ExportOptions struct {
	// From and To bound the period; To is exclusive. Required, From before To.
	From, To time.Time
	// Key is the audit signing key: it signs the manifest and, when no stored checkpoint covers
	// the period's last record, a new checkpoint (which is also stored).
	Key ed25519.PrivateKey
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, if set, is called every few thousand records with the number written so far.
	Progress func(records uint64)
	// Skew is how far past To records are read to catch ones whose time is inside the period
	// but which were stored after later ones (default one minute).
	Skew time.Duration
}

// Summary describes a written bundle.
type Summary struct {
	Manifest Manifest
	Records  uint64 // records in events.jsonl (period plus anchoring lead-in and lead-out)
}

func (o *ExportOptions) validate() error {
	var errs []error
	if o.From.IsZero() || o.To.IsZero() {
		errs = append(errs, errors.New("the period needs both --from and --to"))
	} else if !o.From.Before(o.To) {
		errs = append(errs, fmt.Errorf("--from %s is not before --to %s", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339)))
	}
	if len(o.Key) != ed25519.PrivateKeySize {
		errs = append(errs, errors.New("an ed25519 audit signing key is required to sign the bundle"))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Skew == 0 {
		o.Skew = time.Minute
	}
	return errors.Join(errs...)
}

// Export writes the evidence bundle for the period to w (a zip file).
func Export(ctx context.Context, store audit.Store, w io.Writer, o ExportOptions) (Summary, error) {
	if err := o.validate(); err != nil {
		return Summary{}, err
	}
	cps, err := store.Checkpoints(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("reading checkpoints: %w", err)
	}
	headSeq, _, err := store.Head(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("reading the head: %w", err)
	}
	pub := o.Key.Public().(ed25519.PublicKey)
	m := Manifest{
		Format: FormatVersion, CreatedAt: o.Now().UTC(), From: o.From.UTC(), To: o.To.UTC(),
		Counts: map[audit.Kind]int{}, PublicKey: hex.EncodeToString(pub), KeyID: audit.KeyID(pub),
		Files: map[string]string{},
	}
	// Anchor: the latest checkpoint made before the period began.
	for _, c := range cps {
		if c.Time.Before(o.From) && c.Seq <= headSeq && c.KeyID == m.KeyID {
			m.AnchorSeq, m.AnchorHash = c.Seq, c.Head
		}
	}

	zw := zip.NewWriter(w)
	rep := newReport(o.From, o.To)
	var written uint64

	// Pass 1: events.jsonl, the report's figures, and where the records end.
	err = writeEntry(zw, FileEvents, m.Files, func(out io.Writer) error {
		enc := json.NewEncoder(out)
		var coveredBy uint64 // checkpoint seq that will anchor the tail, once past the period
		return store.Scan(ctx, m.AnchorSeq+1, func(e audit.Event) error {
			if coveredBy != 0 && e.Seq > coveredBy {
				return audit.ErrStop
			}
			if m.FirstSeq == 0 {
				m.FirstSeq = e.Seq
			}
			rep.writers.add(e)
			if inPeriod(e.Time, o.From, o.To) {
				if m.PeriodFirstSeq == 0 {
					m.PeriodFirstSeq = e.Seq
				}
				m.PeriodLastSeq = e.Seq
				m.Counts[e.Kind]++
				rep.add(e)
			}
			if err := enc.Encode(e); err != nil {
				return err
			}
			m.LastSeq = e.Seq
			written++
			if o.Progress != nil && written%5000 == 0 {
				o.Progress(written)
			}
			if coveredBy == 0 && !e.Time.Before(o.To.Add(o.Skew)) {
				coveredBy = firstCheckpointAtOrAfter(cps, m.LastSeq, m.KeyID)
				if coveredBy == m.LastSeq {
					return audit.ErrStop
				}
			}
			return ctx.Err()
		})
	})
	if err != nil {
		return Summary{}, fmt.Errorf("exporting records: %w", err)
	}
	if o.Progress != nil {
		o.Progress(written)
	}
	// The tail must be anchored by a checkpoint at the last record; sign one if none is stored.
	if m.LastSeq > 0 && firstCheckpointAtOrAfter(cps, m.LastSeq, m.KeyID) != m.LastSeq {
		var lastHash string
		if err := store.Scan(ctx, m.LastSeq, func(e audit.Event) error { lastHash = e.Hash; return audit.ErrStop }); err != nil {
			return Summary{}, err
		}
		c := audit.SignCheckpoint(o.Key, m.LastSeq, lastHash, o.Now())
		if err := store.AddCheckpoint(ctx, c); err != nil {
			return Summary{}, fmt.Errorf("storing the export checkpoint: %w", err)
		}
		cps = append(cps, c)
	}

	// Pass 2: the same records as CSV.
	if err := writeEntry(zw, FileCSV, m.Files, func(out io.Writer) error {
		cw := newCSV(out)
		if m.LastSeq == 0 {
			return cw.flush()
		}
		err := store.Scan(ctx, m.FirstSeq, func(e audit.Event) error {
			if e.Seq > m.LastSeq {
				return audit.ErrStop
			}
			return cw.write(e, inPeriod(e.Time, o.From, o.To))
		})
		if err != nil {
			return err
		}
		return cw.flush()
	}); err != nil {
		return Summary{}, fmt.Errorf("writing CSV: %w", err)
	}

	var used []audit.Checkpoint
	for _, c := range cps {
		if c.KeyID == m.KeyID && c.Seq >= m.AnchorSeq && (c.Seq <= m.LastSeq || m.LastSeq == 0) {
			used = append(used, c)
		}
	}
	if err := writeEntry(zw, FileCheckpoints, m.Files, func(out io.Writer) error {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(used)
	}); err != nil {
		return Summary{}, err
	}
	if err := writeEntry(zw, FileReport, m.Files, func(out io.Writer) error { return rep.render(out, m) }); err != nil {
		return Summary{}, fmt.Errorf("writing the report: %w", err)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Summary{}, err
	}
	if err := writeRaw(zw, FileManifest, mb); err != nil {
		return Summary{}, err
	}
	if err := writeRaw(zw, FileManifestSig, []byte(hex.EncodeToString(ed25519.Sign(o.Key, mb))+"\n")); err != nil {
		return Summary{}, err
	}
	if err := zw.Close(); err != nil {
		return Summary{}, err
	}
	return Summary{Manifest: m, Records: written}, nil
}

func inPeriod(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

func firstCheckpointAtOrAfter(cps []audit.Checkpoint, seq uint64, keyID string) uint64 {
	var best uint64
	for _, c := range cps {
		if c.KeyID == keyID && c.Seq >= seq && (best == 0 || c.Seq < best) {
			best = c.Seq
		}
	}
	return best
}

// writeEntry writes one zip entry through fill and records its digest.
func writeEntry(zw *zip.Writer, name string, digests map[string]string, fill func(io.Writer) error) error {
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Unix(0, 0).UTC()})
	if err != nil {
		return err
	}
	h := sha256.New()
	if err := fill(io.MultiWriter(f, h)); err != nil {
		return err
	}
	digests[name] = hex.EncodeToString(h.Sum(nil))
	return nil
}

func writeRaw(zw *zip.Writer, name string, b []byte) error {
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Unix(0, 0).UTC()})
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return err
}
