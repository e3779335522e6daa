package postgres

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"writ.dev/writ/audit"
	"writ.dev/writ/test/pgtest"
)

func TestTriggersRejectChanges(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	s := open(t, dsn, Options{})
	out, err := s.Append(ctx, events(0, 3)...)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	if err := s.AddCheckpoint(ctx, audit.SignCheckpoint(key, 3, out[2].Hash, t0)); err != nil {
		t.Fatal(err)
	}
	conn := superuser(t, dsn) // a superuser: the triggers bind even it
	for _, q := range []string{
		"UPDATE writ_audit_records SET kind = 'DriftHealed' WHERE seq = 2",
		"UPDATE writ_audit_records SET event = event",
		"DELETE FROM writ_audit_records WHERE seq = 3",
		"TRUNCATE writ_audit_records",
		"UPDATE writ_audit_checkpoints SET head = 'x'",
		"DELETE FROM writ_audit_checkpoints",
		"TRUNCATE writ_audit_checkpoints",
	} {
		_, err := conn.Exec(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only trigger's error", q, err)
		}
	}
	if seq, _, err := s.Verify(ctx); err != nil || seq != 3 {
		t.Fatalf("verify: %d %v", seq, err)
	}
}

// tamper runs statements as a superuser with the append-only triggers disabled, as an attacker
// with the table owner's rights would.
func tamper(t *testing.T, conn *pgx.Conn, chain string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	all := append([]string{"ALTER TABLE writ_audit_records DISABLE TRIGGER USER"}, stmts...)
	all = append(all, "ALTER TABLE writ_audit_records ENABLE TRIGGER USER")
	for _, q := range all {
		var args []any
		if strings.Contains(q, "$1") {
			args = []any{chain}
		}
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// rewrite edits record from with edit and, like a careful attacker, recomputes its hash and, when
// relinkTail, every later record's and the head, all in SQL.
func rewrite(t *testing.T, conn *pgx.Conn, s *Store, from uint64, edit func(*audit.Event), relinkTail bool) {
	t.Helper()
	recs := scanAll(t, s, from-1)
	prevSeq, prevHash := recs[0].Seq, recs[0].Hash
	var stmts []string
	for i, e := range recs[1:] {
		if i == 0 {
			edit(&e)
		} else if !relinkTail {
			break
		}
		linked, err := audit.Link(e, prevSeq, prevHash)
		if err != nil {
			t.Fatal(err)
		}
		canon, _ := audit.Canonical(linked)
		stmts = append(stmts, "UPDATE writ_audit_records SET event = '\\x"+hex.EncodeToString(canon)+"', prev_hash = '"+linked.PrevHash+"', hash = '"+linked.Hash+"' WHERE chain = $1 AND seq = "+strconv.FormatUint(linked.Seq, 10))
		prevSeq, prevHash = linked.Seq, linked.Hash
	}
	if relinkTail {
		stmts = append(stmts, "UPDATE writ_audit_chains SET head_hash = '"+prevHash+"' WHERE chain = $1")
	}
	tamper(t, conn, s.Chain(), stmts...)
}

func TestVerifyFindsTampering(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	conn := superuser(t, dsn)
	_, key, _ := ed25519.GenerateKey(nil)
	flip := func(seq int, old, new string) func(*testing.T, *Store) {
		return func(t *testing.T, s *Store) {
			var ev []byte
			if err := conn.QueryRow(ctx, "SELECT event FROM writ_audit_records WHERE chain = $1 AND seq = $2", s.Chain(), seq).Scan(&ev); err != nil {
				t.Fatal(err)
			}
			i := bytes.Index(ev, []byte(old))
			if i < 0 || len(old) != len(new) {
				t.Fatalf("record %d has no %q", seq, old)
			}
			copy(ev[i:], new) // the same length: one byte flipped
			tamper(t, conn, s.Chain(), "UPDATE writ_audit_records SET event = '\\x"+hex.EncodeToString(ev)+"' WHERE chain = $1 AND seq = "+strconv.Itoa(seq))
		}
	}
	tests := []struct {
		name    string
		tamper  func(*testing.T, *Store)
		want    string
		goodSeq uint64 // the last record Verify vouches for
	}{
		{"flip a byte of a value", flip(4, "reason 3", "reason 2"), "record 4 was modified: its stored bytes do not hash to its hash", 3},
		{"flip a key's case", flip(4, `"reason"`, `"Reason"`), "record 4 was modified: its stored bytes do not hash to its hash", 3},
		{"break the JSON", flip(4, `{"seq"`, `["seq"`), "record 4: stored event is not valid JSON", 3},
		{"delete one", func(t *testing.T, s *Store) {
			tamper(t, conn, s.Chain(), "DELETE FROM writ_audit_records WHERE chain = $1 AND seq = 5")
		}, "records 5 to 5 are missing", 4},
		{"delete the last", func(t *testing.T, s *Store) {
			tamper(t, conn, s.Chain(), "DELETE FROM writ_audit_records WHERE chain = $1 AND seq = 10")
		}, "records 10 to 10 are missing: the chain ends at 9 but its head row says 10", 9},
		{"swap two", func(t *testing.T, s *Store) {
			tamper(t, conn, s.Chain(), `UPDATE writ_audit_records r SET event = o.event, prev_hash = o.prev_hash, hash = o.hash, time = o.time, kind = o.kind
				FROM writ_audit_records o WHERE r.chain = $1 AND o.chain = $1 AND ((r.seq = 3 AND o.seq = 6) OR (r.seq = 6 AND o.seq = 3))`)
		}, "record 3 holds the content of record 6", 2},
		{"renumber two", func(t *testing.T, s *Store) {
			tamper(t, conn, s.Chain(),
				"UPDATE writ_audit_records SET seq = 1000 WHERE chain = $1 AND seq = 3",
				"UPDATE writ_audit_records SET seq = 3 WHERE chain = $1 AND seq = 4",
				"UPDATE writ_audit_records SET seq = 4 WHERE chain = $1 AND seq = 1000")
		}, "record 3 holds the content of record 4", 2},
		{"edit the time column", func(t *testing.T, s *Store) {
			tamper(t, conn, s.Chain(), "UPDATE writ_audit_records SET time = time + interval '1 day' WHERE chain = $1 AND seq = 2")
		}, "record 2 was altered: its time column", 1},
		{"edit and rehash one", func(t *testing.T, s *Store) {
			rewrite(t, conn, s, 4, func(e *audit.Event) { e.Actor.User = "mallory" }, false)
		}, "record 5 does not chain to record 4", 4},
		{"rewrite the tail and head, under a checkpoint", func(t *testing.T, s *Store) {
			rewrite(t, conn, s, 4, func(e *audit.Event) { e.Actor.User = "mallory" }, true)
		}, "checkpoint at record 8 (key", 2},
		{"cut the tail and move the head back", func(t *testing.T, s *Store) {
			var h string
			if err := conn.QueryRow(ctx, "SELECT hash FROM writ_audit_records WHERE chain = $1 AND seq = 7", s.Chain()).Scan(&h); err != nil {
				t.Fatal(err)
			}
			tamper(t, conn, s.Chain(), "DELETE FROM writ_audit_records WHERE chain = $1 AND seq > 7",
				"UPDATE writ_audit_chains SET head_seq = 7, head_hash = '"+h+"' WHERE chain = $1")
		}, "checkpoint at record 8 (key", 7},
		{"move the head back", func(t *testing.T, s *Store) {
			tamper(t, conn, s.Chain(), "UPDATE writ_audit_chains SET head_seq = 9 WHERE chain = $1")
		}, "the head row names record 9", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, dsn, Options{Chain: tt.name, PageSize: 3})
			out, err := s.Append(ctx, events(0, 10)...)
			if err != nil {
				t.Fatal(err)
			}
			for _, at := range []uint64{2, 8} {
				if err := s.AddCheckpoint(ctx, audit.SignCheckpoint(key, at, out[at-1].Hash, t0)); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := s.Verify(ctx); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			tt.tamper(t, s)
			seq, head, err := s.Verify(ctx)
			if !errors.Is(err, audit.ErrChain) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v\nwant ErrChain saying %q", err, tt.want)
			}
			var stored string // what Verify vouches for is the stored record, tampered or not
			if err := conn.QueryRow(ctx, "SELECT hash FROM writ_audit_records WHERE chain = $1 AND seq = $2", s.Chain(), tt.goodSeq).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if seq != tt.goodSeq || head != stored {
				t.Fatalf("Verify vouches for record %d (%.16s), want %d (%.16s)", seq, head, tt.goodSeq, stored)
			}
			t.Log(err)
		})
	}
}

func TestChainDomain(t *testing.T) {
	e, err := audit.Link(event(1), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	canon, _ := audit.Canonical(e)
	sum := sha256.Sum256(append([]byte(audit.ChainDomain), canon...))
	if hex.EncodeToString(sum[:]) != e.Hash {
		t.Fatal("audit.ChainDomain is not the prefix audit.ComputeHash uses")
	}
}
