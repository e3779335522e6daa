package segment

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"reflect"
	"testing"

	"writ.dev/writ/audit"
)

// fuzzSegment is a small valid segment body: three linked records.
func fuzzSegment() []byte {
	var b []byte
	seq, hash := uint64(0), ""
	for i := range 3 {
		e, _ := audit.Link(event(i), seq, hash)
		p, _ := json.Marshal(e)
		b = appendFrame(b, e.Seq, p)
		seq, hash = e.Seq, e.Hash
	}
	return b
}

// FuzzDecode feeds arbitrary bytes to the record decoders Open, Scan and Verify use. They must
// never panic, and must never return a record whose checksum does not match its bytes.
func FuzzDecode(f *testing.F) {
	good := fuzzSegment()
	f.Add(good)
	f.Add(good[:len(good)-5])
	f.Add(append(bytes.Clone(good), make([]byte, 40)...))
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		// The streaming reader, as recovery and Verify use it.
		fr := newFrameReader(bytes.NewReader(data), 0, -1, 16)
		var streamed []uint64
		for {
			off := fr.off
			seq, payload, err := fr.next(false)
			if err != nil {
				if err != io.EOF && !isFrameError(err) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			hdr := data[off : off+frameHeaderSize]
			if !bytes.Equal(payload, data[off+frameHeaderSize:fr.off]) || binary.LittleEndian.Uint64(hdr[8:]) != seq {
				t.Fatalf("frame at %d: payload or sequence does not come from the input", off)
			}
			c := crc32.New(crc32.MakeTable(crc32.Castagnoli))
			c.Write(hdr[0:4])
			c.Write(hdr[8:16])
			c.Write(payload)
			if c.Sum32() != binary.LittleEndian.Uint32(hdr[4:8]) {
				t.Fatalf("frame at %d returned with a bad checksum", off)
			}
			var e audit.Event
			_ = audit.DecodeEvent(payload, &e)
			streamed = append(streamed, seq)
		}
		// The in-memory parser agrees with the streaming reader.
		var parsed []uint64
		for p := 0; ; {
			seq, _, size, err := parseFrame(data[p:])
			if err != nil {
				break
			}
			parsed = append(parsed, seq)
			p += size
		}
		if !reflect.DeepEqual(streamed, parsed) {
			t.Fatalf("streaming reader found %v, parser %v", streamed, parsed)
		}
		validFrameAfter(data)
		parseSegmentHeader(data)
		parseSealedIndex(data)
		// Skipping payloads (Scan's seek) finds the same frames' sequences.
		fr = newFrameReader(bytes.NewReader(data), 0, int64(len(data)), 16)
		for _, want := range streamed {
			if seq, _, err := fr.next(true); err != nil || seq != want {
				t.Fatalf("skipping reader: %d, %v, want %d", seq, err, want)
			}
		}
	})
}
