package gitobj

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseCommit(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpus(f), "*", "*.commit"))
	for _, p := range files[:min(len(files), 6)] {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(tree + who + "gpgsig x\n y\n\nm"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseCommit(raw)
		if err != nil {
			return
		}
		// The payload is the object minus signature headers: never longer, and re-parsing it
		// yields the same commit without a signature.
		if len(c.Payload) > len(raw) {
			t.Fatalf("payload longer than object")
		}
		c2, err := ParseCommit(c.Payload)
		if err != nil {
			t.Fatalf("payload does not re-parse: %v", err)
		}
		if c2.Signature != nil || c2.Tree != c.Tree || len(c2.Parents) != len(c.Parents) || !bytes.Equal(c2.Payload, c.Payload) {
			t.Fatalf("payload re-parse differs")
		}
	})
}

func FuzzParseTag(f *testing.F) {
	f.Add([]byte("object 1111111111111111111111111111111111111111\ntype commit\ntag v1\ntagger A <a@x> 1 +0000\n\nm\n-----BEGIN SSH SIGNATURE-----\nx\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tg, err := ParseTag(raw)
		if err != nil {
			return
		}
		if len(tg.Payload)+len(tg.Signature) > len(raw) {
			t.Fatalf("payload and signature overlap")
		}
	})
}
