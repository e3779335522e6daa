package segment

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// On-disk layout; doc.go describes it in prose.
const (
	segmentMagic      = "WRITSEG1"
	indexMagic        = "WRITIDX1"
	checkpointMagic   = "WRITCKP1"
	segmentHeaderSize = 96
	frameHeaderSize   = 16
	hashField         = 64 // a hex SHA-256, the width of Event.Hash
	segmentExt        = ".seg"
	indexExt          = ".idx"
	tmpExt            = ".tmp"
	checkpointFile    = "checkpoints"
	lockFile          = "LOCK"

	// MaxRecordSize is the largest encoded event Append accepts. Records name objects, paths and
	// digests, never contents, so real events are a few hundred bytes.
	MaxRecordSize = 4 << 20
	// minRecordSize is the smallest payload a writer produces ("{}"); shorter frames are corrupt.
	minRecordSize = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Frame errors: why the bytes at an offset are not a whole, valid record.
var (
	errIncomplete = errors.New("record is incomplete: the file ends inside it")
	errChecksum   = errors.New("checksum mismatch")
	errLength     = errors.New("record length out of range")
)

func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segmentExt) }
func indexName(base uint64) string   { return fmt.Sprintf("%020d%s", base, indexExt) }

// parseSegmentName returns the base sequence a segment file name carries.
func parseSegmentName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(s) != 20 {
		return 0, false
	}
	base, err := strconv.ParseUint(s, 10, 64)
	return base, err == nil && base > 0
}

// frameCRC is the checksum of a frame: CRC-32C over its length, sequence and payload.
func frameCRC(hdr, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, hdr[0:4])
	c = crc32.Update(c, castagnoli, hdr[8:16])
	return crc32.Update(c, castagnoli, payload)
}

// appendFrame appends the frame of one record to buf.
func appendFrame(buf []byte, seq uint64, payload []byte) []byte {
	var hdr [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(hdr[8:16], seq)
	binary.LittleEndian.PutUint32(hdr[4:8], frameCRC(hdr[:], payload))
	buf = append(buf, hdr[:]...)
	return append(buf, payload...)
}

// parseFrame decodes the frame at the start of b, returning its sequence, payload (aliasing b)
// and total size. errIncomplete means b ends inside the frame.
func parseFrame(b []byte) (seq uint64, payload []byte, size int, err error) {
	if len(b) < frameHeaderSize {
		return 0, nil, 0, errIncomplete
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n < minRecordSize || n > MaxRecordSize {
		return 0, nil, 0, errLength
	}
	size = frameHeaderSize + int(n)
	if len(b) < size {
		return 0, nil, 0, errIncomplete
	}
	if frameCRC(b, b[frameHeaderSize:size]) != binary.LittleEndian.Uint32(b[4:8]) {
		return 0, nil, 0, errChecksum
	}
	return binary.LittleEndian.Uint64(b[8:16]), b[frameHeaderSize:size], size, nil
}

// validFrameAfter reports whether any offset of b after the first byte starts a valid frame. It
// tells a torn tail (nothing valid after the damage) from damage in the middle of a file.
func validFrameAfter(b []byte) (int, bool) {
	for p := 1; p+frameHeaderSize <= len(b); p++ {
		if _, _, _, err := parseFrame(b[p:]); err == nil {
			return p, true
		}
	}
	return 0, false
}

// frameReader reads frames sequentially from a segment or checkpoint file.
type frameReader struct {
	r   *bufio.Reader
	off int64 // file offset of the next frame
	end int64 // stop here (the committed size); -1 reads to EOF
	hdr [frameHeaderSize]byte
	buf []byte
}

func newFrameReader(r io.Reader, off, end int64, bufSize int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, bufSize), off: off, end: end}
}

// next returns the next frame; its payload is valid until the following call. At the end it
// returns io.EOF; at bytes that are not a whole valid frame it returns a frame error and leaves
// off at the frame's start.
func (fr *frameReader) next(skipPayload bool) (seq uint64, payload []byte, err error) {
	if fr.end >= 0 && fr.off >= fr.end {
		return 0, nil, io.EOF
	}
	k, err := io.ReadFull(fr.r, fr.hdr[:])
	if err == io.EOF && fr.end < 0 {
		return 0, nil, io.EOF
	}
	if err == io.EOF {
		return 0, nil, errIncomplete // the file is shorter than its committed size
	}
	if err != nil && err != io.ErrUnexpectedEOF {
		return 0, nil, err
	}
	if k < frameHeaderSize || (fr.end >= 0 && fr.off+frameHeaderSize > fr.end) {
		return 0, nil, errIncomplete
	}
	n := binary.LittleEndian.Uint32(fr.hdr[0:4])
	if n < minRecordSize || n > MaxRecordSize {
		return 0, nil, errLength
	}
	size := frameHeaderSize + int64(n)
	if fr.end >= 0 && fr.off+size > fr.end {
		return 0, nil, errIncomplete
	}
	seq = binary.LittleEndian.Uint64(fr.hdr[8:16])
	if skipPayload {
		// Only the sequence is needed (seeking in Scan): the bytes were checked when the
		// segment was written or opened, and are checked again when read.
		if _, err := fr.r.Discard(int(n)); err != nil {
			return 0, nil, errIncomplete
		}
		fr.off += size
		return seq, nil, nil
	}
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n, max(int(n), 4096))
	}
	fr.buf = fr.buf[:n]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, nil, errIncomplete
		}
		return 0, nil, err
	}
	if frameCRC(fr.hdr[:], fr.buf) != binary.LittleEndian.Uint32(fr.hdr[4:8]) {
		return 0, nil, errChecksum
	}
	fr.off += size
	return seq, fr.buf, nil
}

func isFrameError(err error) bool {
	return errors.Is(err, errIncomplete) || errors.Is(err, errChecksum) || errors.Is(err, errLength)
}

// segmentHeader opens every segment file:
//
//	0  "WRITSEG1"   8  base seq (u64)   16 created (unix ns, i64)
//	24 previous record's hash (64 bytes of hex, zeros before record 1)
//	88 reserved (4 zero bytes)   92 CRC-32C of bytes 0..91
type segmentHeader struct {
	base     uint64
	created  time.Time
	prevHash string
}

func (h segmentHeader) marshal() ([]byte, error) {
	if len(h.prevHash) > hashField {
		return nil, fmt.Errorf("previous hash %q is longer than %d bytes", h.prevHash, hashField)
	}
	b := make([]byte, segmentHeaderSize)
	copy(b, segmentMagic)
	binary.LittleEndian.PutUint64(b[8:], h.base)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.created.UnixNano()))
	copy(b[24:24+hashField], h.prevHash)
	binary.LittleEndian.PutUint32(b[92:], crc32.Checksum(b[:92], castagnoli))
	return b, nil
}

func parseSegmentHeader(b []byte) (segmentHeader, error) {
	if len(b) < segmentHeaderSize {
		return segmentHeader{}, errors.New("segment header is incomplete")
	}
	if string(b[:8]) != segmentMagic {
		return segmentHeader{}, errors.New("not a writ audit segment (bad magic)")
	}
	if crc32.Checksum(b[:92], castagnoli) != binary.LittleEndian.Uint32(b[92:]) {
		return segmentHeader{}, errors.New("segment header checksum mismatch")
	}
	return segmentHeader{
		base:     binary.LittleEndian.Uint64(b[8:]),
		created:  time.Unix(0, int64(binary.LittleEndian.Uint64(b[16:]))).UTC(),
		prevHash: string(bytes.TrimRight(b[24:24+hashField], "\x00")),
	}, nil
}

func readSegmentHeader(f *os.File) (segmentHeader, error) {
	b := make([]byte, segmentHeaderSize)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, segmentHeaderSize), b); err != nil {
		return segmentHeader{}, errors.New("segment header is incomplete")
	}
	return parseSegmentHeader(b)
}

// indexEntry locates record seq at byte offset off of its segment.
type indexEntry struct {
	seq uint64
	off int64
}

// sealedIndex is the content of a sealed segment's .idx file:
//
//	0 "WRITIDX1"  8 base  16 last seq  24 last hash (64)  88 segment size  96 entry count (u32)
//	100 entries (seq u64, offset u64)...  then CRC-32C of everything before it
type sealedIndex struct {
	base, last uint64
	lastHash   string
	size       int64
	entries    []indexEntry
}

func (x sealedIndex) marshal() []byte {
	b := make([]byte, 100, 104+16*len(x.entries))
	copy(b, indexMagic)
	binary.LittleEndian.PutUint64(b[8:], x.base)
	binary.LittleEndian.PutUint64(b[16:], x.last)
	copy(b[24:24+hashField], x.lastHash)
	binary.LittleEndian.PutUint64(b[88:], uint64(x.size))
	binary.LittleEndian.PutUint32(b[96:], uint32(len(x.entries)))
	for _, e := range x.entries {
		b = binary.LittleEndian.AppendUint64(b, e.seq)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.off))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func parseSealedIndex(b []byte) (sealedIndex, error) {
	if len(b) < 104 || string(b[:8]) != indexMagic {
		return sealedIndex{}, errors.New("not a segment index")
	}
	n := int(binary.LittleEndian.Uint32(b[96:]))
	if len(b) != 104+16*n {
		return sealedIndex{}, errors.New("segment index has the wrong length")
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return sealedIndex{}, errors.New("segment index checksum mismatch")
	}
	x := sealedIndex{
		base:     binary.LittleEndian.Uint64(b[8:]),
		last:     binary.LittleEndian.Uint64(b[16:]),
		lastHash: string(bytes.TrimRight(b[24:24+hashField], "\x00")),
		size:     int64(binary.LittleEndian.Uint64(b[88:])),
		entries:  make([]indexEntry, n),
	}
	for i := range x.entries {
		p := b[100+16*i:]
		x.entries[i] = indexEntry{binary.LittleEndian.Uint64(p), int64(binary.LittleEndian.Uint64(p[8:]))}
	}
	return x, nil
}

// writeFileAtomic writes name in dir through a temporary file, fsyncs it, renames it into place
// and fsyncs dir, so name either keeps its old content or has all of data.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+tmpExt)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
