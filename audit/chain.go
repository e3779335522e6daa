package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The hash chain. Each record's Hash is
//
//	hex(SHA-256("writ-audit-v1\n" || canonical JSON of the record with Hash empty))
//
// and the canonical JSON includes Seq and PrevHash, the previous record's Hash ("" for the first
// record), so changing, removing or reordering any record breaks every hash after it. Go's
// encoding/json writes struct fields in declaration order and map keys sorted, which makes the
// encoding canonical for a given Event definition; new fields are only ever added with omitempty,
// so old records hash the same.

// ChainDomain prefixes the canonical bytes a record's hash covers. Stores that hash stored bytes
// directly use it.
const ChainDomain = "writ-audit-v1\n"

// ErrChain is wrapped by every chain verification error.
var ErrChain = errors.New("audit chain broken")

// Canonical returns the bytes a record's hash covers: its JSON encoding with Hash cleared.
func Canonical(e Event) ([]byte, error) {
	e.Hash = ""
	return json.Marshal(e)
}

// ComputeHash returns the chain hash of e (which must carry Seq and PrevHash).
func ComputeHash(e Event) (string, error) {
	b, err := Canonical(e)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(ChainDomain))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Link sets e's Seq, PrevHash and Hash to follow a record with sequence prevSeq and hash prevHash
// (0 and "" for the first record).
func Link(e Event, prevSeq uint64, prevHash string) (Event, error) {
	e.Seq, e.PrevHash, e.Hash = prevSeq+1, prevHash, ""
	h, err := ComputeHash(e)
	if err != nil {
		return e, err
	}
	e.Hash = h
	return e, nil
}

// ChainVerifier checks records one at a time, in order.
type ChainVerifier struct {
	seq  uint64
	hash string
	n    uint64
}

// NewChainVerifier starts verification after the record (seq, hash); (0, "") for the beginning.
func NewChainVerifier(seq uint64, hash string) *ChainVerifier {
	return &ChainVerifier{seq: seq, hash: hash}
}

// Next checks that e follows the previous record, and says exactly what is wrong if not.
func (v *ChainVerifier) Next(e Event) error {
	if e.Seq != v.seq+1 {
		if e.Seq <= v.seq {
			return fmt.Errorf("%w: record %d comes after record %d: records are out of order or repeated", ErrChain, e.Seq, v.seq)
		}
		return fmt.Errorf("%w: records %d to %d are missing (record %d follows %d)", ErrChain, v.seq+1, e.Seq-1, e.Seq, v.seq)
	}
	if e.PrevHash != v.hash {
		return fmt.Errorf("%w: record %d does not chain to record %d (prevHash %s, want %s)", ErrChain, e.Seq, v.seq, ShortHash(e.PrevHash), ShortHash(v.hash))
	}
	h, err := ComputeHash(e)
	if err != nil {
		return fmt.Errorf("%w: record %d: %v", ErrChain, e.Seq, err)
	}
	if h != e.Hash {
		return fmt.Errorf("%w: record %d was modified: its content hashes to %s, but it says %s", ErrChain, e.Seq, ShortHash(h), ShortHash(e.Hash))
	}
	v.seq, v.hash = e.Seq, e.Hash
	v.n++
	return nil
}

// Head returns the last verified record's sequence and hash.
func (v *ChainVerifier) Head() (uint64, string) { return v.seq, v.hash }

// ShortHash abbreviates a hash for messages (16 hex digits; `""` for none).
func ShortHash(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// Checkpoint is a signed statement of the chain's head at a time: an auditor who trusts the
// public key knows no record up to Seq can be changed without breaking Head.
type Checkpoint struct {
	Seq       uint64    `json:"seq"`
	Head      string    `json:"head"`
	Time      time.Time `json:"time"`
	KeyID     string    `json:"keyID"`
	Signature string    `json:"signature"` // base64-free hex of the ed25519 signature
}

const checkpointDomain = "writ-audit-checkpoint-v1\n"

// signedBytes is what a checkpoint's signature covers.
func (c Checkpoint) signedBytes() []byte {
	return []byte(checkpointDomain + strconv.FormatUint(c.Seq, 10) + "\n" + c.Head + "\n" + c.Time.UTC().Format(time.RFC3339Nano) + "\n" + c.KeyID + "\n")
}

// KeyID names an ed25519 public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SignCheckpoint signs the head (seq, head) at time t with key.
func SignCheckpoint(key ed25519.PrivateKey, seq uint64, head string, t time.Time) Checkpoint {
	c := Checkpoint{Seq: seq, Head: head, Time: t.UTC(), KeyID: KeyID(key.Public().(ed25519.PublicKey))}
	c.Signature = hex.EncodeToString(ed25519.Sign(key, c.signedBytes()))
	return c
}

// ErrCheckpoint is wrapped by checkpoint verification errors.
var ErrCheckpoint = errors.New("audit checkpoint invalid")

// Verify checks c's signature with pub.
func (c Checkpoint) Verify(pub ed25519.PublicKey) error {
	if c.KeyID != KeyID(pub) {
		return fmt.Errorf("%w: checkpoint at record %d is signed by key %s, not %s", ErrCheckpoint, c.Seq, c.KeyID, KeyID(pub))
	}
	sig, err := hex.DecodeString(c.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: checkpoint at record %d has a malformed signature", ErrCheckpoint, c.Seq)
	}
	if !ed25519.Verify(pub, c.signedBytes(), sig) {
		return fmt.Errorf("%w: checkpoint at record %d: signature does not verify", ErrCheckpoint, c.Seq)
	}
	return nil
}
