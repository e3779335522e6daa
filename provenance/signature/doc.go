// Package signature is the contract between the provenance verifier and its per-format
// verifiers (openpgp, sshsig, sigstore): the Signer a verified signature yields and the sentinel
// errors every format reports failures with, so callers can test any failure with errors.Is
// whatever the format. It imports nothing of Writ's.
package signature
