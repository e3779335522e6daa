// Package segment is Writ's embedded audit store: a segmented, append-only, hash-chained log in
// one local directory (in the cluster, the controller's persistent volume). Log implements
// audit.Store.
//
// # Guarantees
//
//   - Durable acknowledgement. Append returns only after the records are written and fsynced; a
//     returned record survives a crash of the process or the machine. Concurrent appends are
//     group-committed: a single writer goroutine links every waiting append, writes them with
//     one write and makes them durable with one fsync, then acknowledges each caller.
//   - One chain. The store assigns Seq, PrevHash and Hash with audit.Link after the current head,
//     whatever the caller set. Invalid events (Event.Validate) are rejected before anything is
//     written; an append is all-or-nothing.
//   - Crash recovery. A crash can leave only the last, unacknowledged write incomplete. Open cuts
//     such a torn tail off and logs it. It refuses — changing nothing — a log with any other
//     damage: a bad record followed by a valid one, a sealed segment truncated or extended, a
//     missing segment, a broken chain in the last segment, or a checkpoint beyond the end.
//   - Tamper evidence. Verify walks the whole chain with audit.ChainVerifier and checks every
//     stored checkpoint against it. Errors are *CorruptError values naming the file, the byte
//     offset and the first record that cannot be trusted. What no chain can show is a log cut
//     short at a record boundary at its very end: signed checkpoints, kept here and elsewhere,
//     are the witness for that (Open refuses a log that ends before its last checkpoint).
//
// # Files
//
// The directory holds numbered segment files, their index files, a checkpoints file and a lock:
//
//	00000000000000000001.seg   records 1 … (name = first record's sequence, 20 digits)
//	00000000000000000001.idx   written when that segment is sealed
//	00000000000000140215.seg   the active segment: appends go here
//	checkpoints                signed checkpoints
//	LOCK                       flock'd while a process has the log open
//
// A segment starts with a 96-byte header: the magic "WRITSEG1", the first record's sequence
// (u64), the creation time (unix ns, i64), the previous record's hash (64 bytes of hex; zeros for
// the first segment), 4 reserved bytes and a CRC-32C of the header. Records follow, each framed
// as
//
//	u32 payload length | u32 CRC-32C | u64 sequence | payload
//
// little-endian, where the CRC (Castagnoli) covers the length, the sequence and the payload, and
// the payload is the record's JSON exactly as encoding/json writes the audit.Event (Hash
// included), so that any JSON tool can read a record. A record is at most MaxRecordSize bytes.
//
// When a segment would exceed Options.MaxSegmentSize (64 MiB by default) the writer fsyncs it,
// writes its index file and creates the next segment: header written to a temporary file,
// fsynced, renamed into place, and the directory fsynced. A sealed segment never changes again.
// Its index file holds the segment's first and last sequence, last hash and size, and a sparse
// index — the offset of the first record and of one record every Options.IndexInterval bytes
// (64 KiB) — all under a CRC-32C. The index is derived data: a missing or damaged one is rebuilt
// from the segment on Open. Scan finds its starting segment by name and its starting record
// through the sparse index, so it never reads a log from the beginning to reach its end.
//
// The checkpoints file is the magic "WRITCKP1" followed by one frame per checkpoint, framed like
// a record, with the checkpoint's Seq as sequence and its JSON as payload; AddCheckpoint appends
// and fsyncs, and checks that the checkpoint names an existing record by its actual hash and
// comes in sequence order.
//
// # What Open checks
//
// Open checks every segment's header, the sealed segments' sizes, first and last sequence
// numbers and the hashes at each boundary against their index files, and verifies every record
// of the active segment (checksum, sequence, chain). It then checks the last checkpoint against the log. This
// keeps Open fast on a large log; Options.VerifyOnOpen, or Verify, checks every record of every
// segment. A torn tail is recognised as damage at the end of the active segment (or of the
// checkpoints file) with no valid frame anywhere after it; it is cut off only after everything
// else has been checked. Were a file system ever to keep a later part of an unacknowledged write
// but lose an earlier part, Open would see damage followed by a valid record and refuse the log
// rather than guess; the error names the offset to inspect.
package segment
