package sigstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-openapi/strfmt"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
)

// entryFinder looks up Rekor entries for signatures that embed none. It is an interface so
// that the online path can be exercised against a test server.
type entryFinder interface {
	// find returns the entries logged for a hashedrekord digest (sha256 of the CMS signed
	// attributes). Nothing it returns is trusted: every entry is verified like an embedded one.
	find(ctx context.Context, digest []byte) ([]*rekorpb.TransparencyLogEntry, error)
}

// Limits on what an online Rekor may make the verifier read.
const (
	maxOnlineEntries  = 8
	maxOnlineResponse = 1 << 20
)

// rekorClient queries a Rekor v1 REST API: POST /api/v1/index/retrieve by hash, then
// GET /api/v1/log/entries/{uuid} for each match.
type rekorClient struct {
	base *url.URL
	http *http.Client
}

func (c *rekorClient) find(ctx context.Context, digest []byte) ([]*rekorpb.TransparencyLogEntry, error) {
	query, err := json.Marshal(models.SearchIndex{Hash: "sha256:" + hex.EncodeToString(digest)})
	if err != nil {
		return nil, err
	}
	var uuids []string
	if err := c.call(ctx, http.MethodPost, "api/v1/index/retrieve", query, &uuids); err != nil {
		return nil, err
	}
	if len(uuids) > maxOnlineEntries {
		uuids = uuids[:maxOnlineEntries]
	}
	var out []*rekorpb.TransparencyLogEntry
	for _, id := range uuids {
		if id == "" || strings.ContainsAny(id, "/?#%") {
			return nil, fmt.Errorf("rekor returned a malformed entry id %q", id)
		}
		var le models.LogEntry
		if err := c.call(ctx, http.MethodGet, "api/v1/log/entries/"+id, nil, &le); err != nil {
			return nil, err
		}
		for _, anon := range le {
			tle, err := entryFromAnon(anon)
			if err != nil {
				return nil, fmt.Errorf("rekor entry %s: %w", id, err)
			}
			out = append(out, tle)
		}
	}
	return out, nil
}

// call sends one request and decodes a JSON answer of at most maxOnlineResponse bytes.
func (c *rekorClient) call(ctx context.Context, method, path string, body []byte, out any) error {
	u := c.base.JoinPath(path)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("rekor look-up: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxOnlineResponse+1))
	if err != nil {
		return fmt.Errorf("rekor look-up: reading %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("rekor look-up: %s %s: %s", method, u.Redacted(), resp.Status)
	}
	if len(data) > maxOnlineResponse {
		return fmt.Errorf("rekor look-up: %s answered more than %d bytes", u.Redacted(), maxOnlineResponse)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("rekor look-up: %s: not the expected JSON: %w", u.Redacted(), err)
	}
	return nil
}

// entryFromAnon converts a Rekor REST log entry to the protobuf form sigstore-go verifies.
func entryFromAnon(a models.LogEntryAnon) (*rekorpb.TransparencyLogEntry, error) {
	if err := a.Validate(strfmt.Default); err != nil {
		return nil, err
	}
	b64, ok := a.Body.(string)
	if !ok {
		return nil, errors.New("body is not a base64 string")
	}
	body, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kv); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	logID, err := hex.DecodeString(*a.LogID)
	if err != nil {
		return nil, fmt.Errorf("logID: %w", err)
	}
	tle := &rekorpb.TransparencyLogEntry{
		LogIndex:          *a.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &rekorpb.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    *a.IntegratedTime,
		CanonicalizedBody: body,
	}
	if a.Verification == nil {
		return tle, nil
	}
	if set := a.Verification.SignedEntryTimestamp; len(set) > 0 {
		tle.InclusionPromise = &rekorpb.InclusionPromise{SignedEntryTimestamp: set}
	}
	if p := a.Verification.InclusionProof; p != nil {
		rootHash, err := hex.DecodeString(*p.RootHash)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof root hash: %w", err)
		}
		proof := &rekorpb.InclusionProof{
			LogIndex:   *p.LogIndex,
			RootHash:   rootHash,
			TreeSize:   *p.TreeSize,
			Checkpoint: &rekorpb.Checkpoint{Envelope: *p.Checkpoint},
		}
		for _, h := range p.Hashes {
			b, err := hex.DecodeString(h)
			if err != nil {
				return nil, fmt.Errorf("inclusion proof hash: %w", err)
			}
			proof.Hashes = append(proof.Hashes, b)
		}
		tle.InclusionProof = proof
	}
	return tle, nil
}
