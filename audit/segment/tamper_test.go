package segment

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"writ.dev/writ/audit"
)

// The tamper tests damage a log's files the way an attacker or a faulty disk would, and check
// that Open or Verify refuses it naming the exact first record that cannot be trusted — or, for a
// torn tail only, that Open repairs it without losing a record.

const (
	tamperRecords = 60
	tamperSegSize = 4 << 10 // about 8 records a segment
	sealedTarget  = 12      // a record in the second segment
)

var tamperOpts = Options{MaxSegmentSize: tamperSegSize, Logger: quiet}

// record locates one record in a log's files.
type record struct {
	path      string
	off, size int
}

// locate finds record seq by parsing the segment files.
func locate(t *testing.T, dir string, seq uint64) record {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for off := segmentHeaderSize; off < len(data); {
			s, _, size, err := parseFrame(data[off:])
			if err != nil {
				break
			}
			if s == seq {
				return record{p, off, size}
			}
			off += size
		}
	}
	t.Fatalf("record %d not found", seq)
	return record{}
}

func edit(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(data), 0o640); err != nil {
		t.Fatal(err)
	}
}

// reframe rewrites the checksum of the frame at off, as an attacker who knows the format would.
func reframe(data []byte, off int) {
	n := int(binary.LittleEndian.Uint32(data[off:]))
	binary.LittleEndian.PutUint32(data[off+4:], frameCRC(data[off:], data[off+frameHeaderSize:off+frameHeaderSize+n]))
}

func fixture(t *testing.T) (dir string, events []audit.Event, activeTarget uint64) {
	t.Helper()
	dir = t.TempDir()
	l := open(t, dir, tamperOpts)
	events = appendN(t, l, 0, tamperRecords)
	for s := l.Segments(); s[len(s)-1].LastSeq-s[len(s)-1].FirstSeq < 4; s = l.Segments() {
		events = append(events, appendN(t, l, len(events), 1)...)
	}
	segs := l.Segments()
	last := segs[len(segs)-1]
	if len(segs) < 5 || last.LastSeq-last.FirstSeq < 4 {
		t.Fatalf("fixture has %d segments, the last holding records %d to %d", len(segs), last.FirstSeq, last.LastSeq)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, events, last.FirstSeq + 2
}

func snapshotFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != lockFile {
			out[e.Name()], _ = os.ReadFile(filepath.Join(dir, e.Name()))
		}
	}
	return out
}

func wantCorrupt(t *testing.T, err error, seq uint64, kind error) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Seq != seq || !errors.Is(err, kind) {
		t.Fatalf("got %v, want a %v error naming record %d", err, kind, seq)
	}
	t.Logf("refused: %v", err)
}

func TestTamperingIsRefused(t *testing.T) {
	type tamper func(t *testing.T, dir string, active uint64) uint64 // returns the record to name
	flip := func(seq func(active uint64) uint64, fixCRC bool) tamper {
		return func(t *testing.T, dir string, active uint64) uint64 {
			s := seq(active)
			r := locate(t, dir, s)
			edit(t, r.path, func(b []byte) []byte {
				i := r.off + frameHeaderSize + bytes.Index(b[r.off+frameHeaderSize:r.off+r.size], []byte("GitOps"))
				b[i] ^= 0x20 // "GitOps" -> "gitOps"
				if fixCRC {
					reframe(b, r.off)
				}
				return b
			})
			return s
		}
	}
	del := func(seq func(active uint64) uint64) tamper {
		return func(t *testing.T, dir string, active uint64) uint64 {
			s := seq(active)
			r := locate(t, dir, s)
			edit(t, r.path, func(b []byte) []byte { return slices.Delete(b, r.off, r.off+r.size) })
			return s
		}
	}
	swap := func(seq func(active uint64) uint64) tamper {
		return func(t *testing.T, dir string, active uint64) uint64 {
			s := seq(active)
			a, b := locate(t, dir, s), locate(t, dir, s+1)
			edit(t, a.path, func(d []byte) []byte {
				out := slices.Clone(d[:a.off])
				out = append(out, d[b.off:b.off+b.size]...)
				out = append(out, d[a.off:a.off+a.size]...)
				return append(out, d[b.off+b.size:]...)
			})
			return s
		}
	}
	sealed := func(uint64) uint64 { return sealedTarget }
	active := func(a uint64) uint64 { return a }
	segmentOf := func(dir string, seq uint64) string {
		return locate(t, dir, seq).path
	}

	tests := []struct {
		name   string
		tamper tamper
		kind   error // wrapped by the error
		onOpen bool  // refused by Open; otherwise Open succeeds and Verify refuses
	}{
		{"flipped byte in a sealed segment", flip(sealed, false), ErrCorrupt, false},
		{"flipped byte in the active segment", flip(active, false), ErrCorrupt, true},
		{"edited record with its checksum fixed, sealed", flip(sealed, true), audit.ErrChain, false},
		{"edited record with its checksum fixed, active", flip(active, true), audit.ErrChain, true},
		{"deleted record, sealed", del(sealed), audit.ErrChain, true},
		{"deleted record, active", del(active), audit.ErrChain, true},
		{"swapped records, sealed", swap(sealed), audit.ErrChain, false},
		{"swapped records, active", swap(active), audit.ErrChain, true},
		{"sealed segment truncated inside a record", func(t *testing.T, dir string, _ uint64) uint64 {
			r := locate(t, dir, sealedTarget)
			if err := os.Truncate(r.path, int64(r.off+r.size/2)); err != nil {
				t.Fatal(err)
			}
			return sealedTarget
		}, ErrCorrupt, true},
		{"sealed segment truncated at a record boundary", func(t *testing.T, dir string, _ uint64) uint64 {
			r := locate(t, dir, sealedTarget)
			if err := os.Truncate(r.path, int64(r.off)); err != nil {
				t.Fatal(err)
			}
			return sealedTarget
		}, ErrCorrupt, true},
		{"garbage appended to a sealed segment", func(t *testing.T, dir string, _ uint64) uint64 {
			path := segmentOf(dir, sealedTarget)
			edit(t, path, func(b []byte) []byte { return append(b, "garbage"...) })
			r := locate(t, dir, sealedTarget)
			last := uint64(sealedTarget)
			for ; locate(t, dir, last+1).path == r.path; last++ {
			}
			return last + 1
		}, ErrCorrupt, true},
		{"segment file deleted", func(t *testing.T, dir string, _ uint64) uint64 {
			path := segmentOf(dir, sealedTarget)
			base, _ := parseSegmentName(filepath.Base(path))
			os.Remove(path)
			os.Remove(filepath.Join(dir, indexName(base)))
			return base
		}, audit.ErrChain, true},
		{"first segment file deleted", func(t *testing.T, dir string, _ uint64) uint64 {
			os.Remove(filepath.Join(dir, segmentName(1)))
			return 1
		}, ErrCorrupt, true},
		{"last segments deleted", func(t *testing.T, dir string, active uint64) uint64 {
			// Deleting the active segment alone looks like a crash during rollover; deleting
			// a sealed one with it leaves that one's index behind.
			r := locate(t, dir, active)
			prev := locate(t, dir, active-5)
			os.Remove(r.path)
			os.Remove(prev.path)
			base, _ := parseSegmentName(filepath.Base(prev.path))
			return base
		}, ErrCorrupt, true},
		{"corrupt length in a sealed segment", func(t *testing.T, dir string, _ uint64) uint64 {
			r := locate(t, dir, sealedTarget)
			edit(t, r.path, func(b []byte) []byte { b[r.off+1]++; return b })
			return sealedTarget
		}, ErrCorrupt, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _, activeTarget := fixture(t)
			seq := tt.tamper(t, dir, activeTarget)
			before := snapshotFiles(t, dir)
			l, err := Open(dir, tamperOpts)
			if tt.onOpen {
				if err == nil {
					l.Close()
				}
				wantCorrupt(t, err, seq, tt.kind)
				after := snapshotFiles(t, dir)
				for name := range before {
					if !bytes.Equal(before[name], after[name]) {
						t.Fatalf("refusing to open changed %s", name)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			verified, _, err := l.Verify(ctx)
			wantCorrupt(t, err, seq, tt.kind)
			if verified != seq-1 {
				t.Fatalf("Verify says records up to %d verified, want %d", verified, seq-1)
			}
			// With VerifyOnOpen the same damage stops Open.
			l.Close()
			o := tamperOpts
			o.VerifyOnOpen = true
			_, err = Open(dir, o)
			wantCorrupt(t, err, seq, tt.kind)
		})
	}
}

func TestTornTailIsRepaired(t *testing.T) {
	tests := []struct {
		name string
		tail func(frame []byte) []byte
	}{
		{"half a record", func(frame []byte) []byte { return frame[:len(frame)/2] }},
		{"half a header", func(frame []byte) []byte { return frame[:7] }},
		{"a record with a bad checksum", func(frame []byte) []byte { frame[len(frame)-3] ^= 1; return frame }},
		{"zeros", func(frame []byte) []byte { return make([]byte, 4096) }},
		{"half a record then garbage", func(frame []byte) []byte {
			g := make([]byte, 3000)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range g {
				g[i] = byte(r.Uint32())
			}
			return append(frame[:len(frame)/3], g...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, events, _ := fixture(t)
			head := events[len(events)-1]
			next, _ := audit.Link(event(99), head.Seq, head.Hash)
			payload, _ := json.Marshal(next)
			path := locate(t, dir, head.Seq).path
			edit(t, path, func(b []byte) []byte { return append(b, tt.tail(appendFrame(nil, next.Seq, payload))...) })

			l := open(t, dir, tamperOpts)
			seq, hash, _ := l.Head(ctx)
			if seq != head.Seq || hash != head.Hash {
				t.Fatalf("head after repair is %d, want %d", seq, head.Seq)
			}
			if got := scanAll(t, l, 1); len(got) != len(events) {
				t.Fatalf("%d records after repair, want %d", len(got), len(events))
			}
			if got := appendN(t, l, 100, 1); got[0].Seq != head.Seq+1 {
				t.Fatalf("appended %d after repair", got[0].Seq)
			}
			if _, _, err := l.Verify(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A torn write is only ever at the end: the same damage followed by a valid record is refused.
func TestDamageBeforeAValidRecordIsNotATornTail(t *testing.T) {
	dir, events, _ := fixture(t)
	head := events[len(events)-1]
	r := locate(t, dir, head.Seq-1)
	edit(t, r.path, func(b []byte) []byte { b[r.off+r.size/2] ^= 0xff; return b })
	_, err := Open(dir, tamperOpts)
	wantCorrupt(t, err, head.Seq-1, ErrCorrupt)
}

// An attacker who rewrites a record and rebuilds the whole chain after it defeats the hashes,
// but not a checkpoint signed before.
func TestRewrittenChainIsCaughtByACheckpoint(t *testing.T) {
	dir, events, _ := fixture(t)
	_, key, _ := ed25519.GenerateKey(nil)
	l := open(t, dir, tamperOpts)
	if err := l.AddCheckpoint(ctx, audit.SignCheckpoint(key, 40, events[39].Hash, epoch)); err != nil {
		t.Fatal(err)
	}
	l.Close()

	forged := t.TempDir()
	fl := open(t, forged, tamperOpts)
	for i := range events {
		e := event(i)
		if i == sealedTarget-1 {
			e.Reason = "nothing happened"
		}
		if _, err := fl.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	fl.Close()
	for _, pat := range []string{"*" + segmentExt, "*" + indexExt} {
		old, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range old {
			os.Remove(p)
		}
		files, _ := filepath.Glob(filepath.Join(forged, pat))
		for _, p := range files {
			data, _ := os.ReadFile(p)
			os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o640)
		}
	}
	if _, err := Open(dir, tamperOpts); !errors.Is(err, audit.ErrCheckpoint) {
		t.Fatalf("Open of a rewritten chain: %v", err)
	}
}

// Cutting off the end of the active segment looks like a shorter log, or a torn write; a
// checkpoint beyond the new end exposes it.
func TestTruncationBelowACheckpointIsRefused(t *testing.T) {
	for _, inside := range []bool{false, true} {
		dir, events, activeTarget := fixture(t)
		_, key, _ := ed25519.GenerateKey(nil)
		l := open(t, dir, tamperOpts)
		head := events[len(events)-1]
		if err := l.AddCheckpoint(ctx, audit.SignCheckpoint(key, head.Seq, head.Hash, epoch)); err != nil {
			t.Fatal(err)
		}
		l.Close()
		r := locate(t, dir, activeTarget)
		cut := r.off
		if inside {
			cut += r.size / 2
		}
		if err := os.Truncate(r.path, int64(cut)); err != nil {
			t.Fatal(err)
		}
		before := snapshotFiles(t, dir)
		_, err := Open(dir, tamperOpts)
		wantCorrupt(t, err, activeTarget, audit.ErrChain)
		if after := snapshotFiles(t, dir); !bytes.Equal(before[filepath.Base(r.path)], after[filepath.Base(r.path)]) {
			t.Fatal("refusing to open truncated a torn tail")
		}
	}
}

func TestCheckpointsFileDamage(t *testing.T) {
	setup := func(t *testing.T) (string, []audit.Checkpoint) {
		dir, events, _ := fixture(t)
		_, key, _ := ed25519.GenerateKey(nil)
		l := open(t, dir, tamperOpts)
		var cks []audit.Checkpoint
		for _, seq := range []uint64{10, 20, 30} {
			c := audit.SignCheckpoint(key, seq, events[seq-1].Hash, epoch)
			if err := l.AddCheckpoint(ctx, c); err != nil {
				t.Fatal(err)
			}
			cks = append(cks, c)
		}
		l.Close()
		return dir, cks
	}
	path := func(dir string) string { return filepath.Join(dir, checkpointFile) }

	t.Run("torn tail", func(t *testing.T) {
		dir, cks := setup(t)
		edit(t, path(dir), func(b []byte) []byte { return append(b, appendFrame(nil, 40, []byte(`{"seq":40}`))[:9]...) })
		l := open(t, dir, tamperOpts)
		got, _ := l.Checkpoints(ctx)
		if len(got) != len(cks) {
			t.Fatalf("%d checkpoints after repair", len(got))
		}
		if err := l.AddCheckpoint(ctx, cks[2]); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("damage in the middle", func(t *testing.T) {
		dir, _ := setup(t)
		edit(t, path(dir), func(b []byte) []byte { b[len(checkpointMagic)+frameHeaderSize+3] ^= 1; return b })
		_, err := Open(dir, tamperOpts)
		wantCorrupt(t, err, 0, ErrCorrupt)
	})
	t.Run("reordered", func(t *testing.T) {
		dir, cks := setup(t)
		edit(t, path(dir), func(b []byte) []byte {
			out := []byte(checkpointMagic)
			for _, i := range []int{1, 0, 2} {
				p, _ := json.Marshal(cks[i])
				out = appendFrame(out, cks[i].Seq, p)
			}
			return out
		})
		_, err := Open(dir, tamperOpts)
		wantCorrupt(t, err, 0, ErrCorrupt)
	})
}
