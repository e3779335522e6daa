package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"writ.dev/writ/audit"
)

// ErrTampered is wrapped by Verify's error when the bundle is not intact.
var ErrTampered = errors.New("evidence bundle failed verification")

// VerifyResult is what Verify established about a bundle.
type VerifyResult struct {
	Manifest    Manifest
	Records     uint64
	Checkpoints int
	// Problems lists everything wrong, most specific first (the first bad record leads).
	Problems []string
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// PublicKey, if set, is the audit key the bundle must be signed with (as published by the
	// cluster). Without it the key inside the bundle is used and reported by its id.
	PublicKey ed25519.PublicKey
	// Progress, if set, is called every few thousand records.
	Progress func(records uint64)
}

// Verify checks a bundle offline: every record's hash link from the anchoring checkpoint, no
// sequence gap, every checkpoint's signature and head, every file's digest, and the manifest's
// signature. The error wraps ErrTampered and names the first problem.
func Verify(r io.ReaderAt, size int64, o VerifyOptions) (*VerifyResult, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not an evidence bundle (a zip file written by writ audit export): %w", err)
	}
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			return nil, fmt.Errorf("%w: %s appears twice in the bundle", ErrTampered, f.Name)
		}
		files[f.Name] = f
	}
	res := &VerifyResult{}
	problem := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }

	mb, err := readAll(files, FileManifest)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(mb, &res.Manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest.json is not valid JSON: %v", ErrTampered, err)
	}
	m := res.Manifest
	if m.Format != FormatVersion && m.Format != formatV1 {
		return nil, fmt.Errorf("bundle format %q is not %q: use a writ release that reads it", m.Format, FormatVersion)
	}
	pubBytes, err := hex.DecodeString(m.PublicKey)
	if err != nil || len(pubBytes) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: manifest.json carries no valid ed25519 public key", ErrTampered)
	}
	pub := ed25519.PublicKey(pubBytes)
	if o.PublicKey != nil && !bytes.Equal(o.PublicKey, pub) {
		problem("the bundle is signed with key %s, not the expected key %s", audit.KeyID(pub), audit.KeyID(o.PublicKey))
	}

	// Records first, so the first bad record leads the problems.
	cps, err := readCheckpoints(files)
	if err != nil {
		problem("%v", err)
	}
	res.Checkpoints = len(cps)
	bySeq := map[uint64]audit.Checkpoint{}
	for _, c := range cps {
		if err := c.Verify(pub); err != nil {
			problem("%v", err)
			continue
		}
		bySeq[c.Seq] = c
	}
	if m.AnchorSeq > 0 {
		if c, ok := bySeq[m.AnchorSeq]; !ok || c.Head != m.AnchorHash {
			problem("the anchor checkpoint at record %d is missing or does not match the manifest", m.AnchorSeq)
		}
	}
	res.Records, err = verifyRecords(files, m, bySeq, o.Progress, problem)
	if err != nil {
		return nil, err
	}

	// Files and manifest signature.
	for _, name := range []string{FileEvents, FileCSV, FileCheckpoints, FileReport} {
		want, ok := m.Files[name]
		if !ok {
			problem("manifest.json lists no digest for %s", name)
			continue
		}
		got, err := digest(files, name)
		if err != nil {
			problem("%v", err)
		} else if got != want {
			problem("%s was modified: its SHA-256 is %s, the manifest says %s", name, audit.ShortHash(got), audit.ShortHash(want))
		}
	}
	sig, err := readAll(files, FileManifestSig)
	if err != nil {
		problem("%v", err)
	} else if s, err := hex.DecodeString(strings.TrimSpace(string(sig))); err != nil || !ed25519.Verify(pub, mb, s) {
		problem("manifest.json's signature does not verify with key %s", audit.KeyID(pub))
	}
	if len(res.Problems) > 0 {
		return res, fmt.Errorf("%w: %s", ErrTampered, res.Problems[0])
	}
	return res, nil
}

// verifyRecords walks events.jsonl: chain from the anchor, no gaps, period bounds, checkpoints.
func verifyRecords(files map[string]*zip.File, m Manifest, cps map[uint64]audit.Checkpoint, progress func(uint64), problem func(string, ...any)) (uint64, error) {
	f, ok := files[FileEvents]
	if !ok {
		problem("the bundle has no %s", FileEvents)
		return 0, nil
	}
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	cv := audit.NewChainVerifier(m.AnchorSeq, m.AnchorHash)
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 0, 1<<16), 16<<20)
	var n uint64
	line := 0
	for sc.Scan() {
		line++
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			seq, _ := cv.Head()
			problem("record %d (line %d of %s) is not valid JSON: it was modified (%v)", seq+1, line, FileEvents, err)
			return n, nil
		}
		if err := cv.Next(e); err != nil {
			problem("%v", err)
			return n, nil
		}
		if c, ok := cps[e.Seq]; ok && c.Head != e.Hash {
			problem("record %d does not match the signed checkpoint at that position", e.Seq)
			return n, nil
		}
		n++
		if progress != nil && n%5000 == 0 {
			progress(n)
		}
	}
	if err := sc.Err(); err != nil {
		problem("reading %s: %v", FileEvents, err)
		return n, nil
	}
	last, _ := cv.Head()
	switch {
	case n == 0 && m.LastSeq != 0:
		problem("%s holds no records but the manifest says %d–%d", FileEvents, m.FirstSeq, m.LastSeq)
	case n > 0 && last != m.LastSeq:
		problem("%s ends at record %d but the manifest says %d: records at the end were removed or added", FileEvents, last, m.LastSeq)
	case n > 0:
		if _, ok := cps[last]; !ok {
			problem("no signed checkpoint covers the last record %d: the tail of the period cannot be proven complete", last)
		}
	}
	return n, nil
}

func readCheckpoints(files map[string]*zip.File) ([]audit.Checkpoint, error) {
	b, err := readAll(files, FileCheckpoints)
	if err != nil {
		return nil, err
	}
	var cps []audit.Checkpoint
	if err := json.Unmarshal(b, &cps); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", FileCheckpoints, err)
	}
	return cps, nil
}

func readAll(files map[string]*zip.File, name string) ([]byte, error) {
	f, ok := files[name]
	if !ok {
		return nil, fmt.Errorf("%w: the bundle has no %s", ErrTampered, name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 64<<20))
}

func digest(files map[string]*zip.File, name string) (string, error) {
	f, ok := files[name]
	if !ok {
		return "", fmt.Errorf("the bundle has no %s", name)
	}
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("reading %s: %v", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
