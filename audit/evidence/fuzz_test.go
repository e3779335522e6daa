package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
	"time"
)

// FuzzVerify: a bundle is attacker-controlled input on an auditor's laptop. Reading any bytes
// must never panic, and nothing but an intact bundle may verify.
func FuzzVerify(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	s := &memStore{}
	fill(f, s, key)
	var buf bytes.Buffer
	if _, err := Export(context.Background(), s, &buf, ExportOptions{From: day, To: day.Add(48 * time.Hour), Key: key}); err != nil {
		f.Fatal(err)
	}
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Verify(bytes.NewReader(b), int64(len(b)), VerifyOptions{})
		if err == nil && !bytes.Equal(b, good) && res.Records > 0 {
			// Only re-zipped copies of the intact content may verify; check the digests held.
			if res.Manifest.Files[FileEvents] == "" {
				t.Fatal("verified a bundle without an events digest")
			}
		}
	})
}
