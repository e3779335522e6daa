package sigstore_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"writ.dev/writ/provenance/sigstore"
)

// Verify a real gitsign commit offline against the embedded public-good root.
func ExampleVerifier_Verify() {
	v, err := sigstore.Compile(sigstore.Options{
		Identities: []sigstore.Identity{
			{Issuer: "https://accounts.google.com", SubjectRegExp: `[^@]+@chainguard\.dev`},
		},
		RequireTransparencyLog: true,
		RequireSCT:             true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "../../../shared/testdata/real-commits/gitsign/dc68e8ce155fe12ab8fd7c55de6ef336ce716ee8.commit"))
	if err != nil {
		fmt.Println(err)
		return
	}
	// The payload is the commit without its gpgsig header; the signature is that header's value.
	start := bytes.Index(raw, []byte("gpgsig "))
	end := bytes.Index(raw, []byte("-----END SIGNED MESSAGE-----\n")) + len("-----END SIGNED MESSAGE-----\n")
	payload := append(bytes.Clone(raw[:start]), raw[end:]...)
	sig := bytes.ReplaceAll(raw[start+len("gpgsig "):end], []byte("\n "), []byte("\n"))

	signer, err := v.Verify(payload, sig, time.Unix(1785939435, 0))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(signer.Identity, signer.Issuer)
	fmt.Println(signer.SigningTime.Format(time.RFC3339), signer.TimeSource, *signer.LogIndex)
	// Output:
	// billy@chainguard.dev https://accounts.google.com
	// 2026-08-05T14:17:17Z transparency-log 2345438208
}
