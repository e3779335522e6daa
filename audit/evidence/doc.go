// Package evidence exports a period of the audit trail as a SOC 2 evidence bundle, and verifies
// such a bundle offline, without the cluster.
//
// A bundle is a zip file an auditor can open anywhere:
//
//	manifest.json      period, record range, counts, the audit public key, and the SHA-256 of
//	                   every other file
//	manifest.sig       ed25519 signature of manifest.json by the audit key
//	events.jsonl       the records, one JSON object per line, with their chain fields
//	events.csv         the same records flattened for spreadsheets
//	checkpoints.json   the signed checkpoints that anchor the records
//	report.html        a self-contained report: a timeline of records per hour by kind (inline
//	                   SVG), a summary per SOC 2 criterion, the applied
//	                   changes with commit, signers and approvers, denied attempts, every
//	                   unverified agent write (one row each), break-glass use, and drift with
//	                   how it ended
//
// Completeness is provable, not asserted: events.jsonl starts right after a signed checkpoint (or
// at the first record ever) and runs, without a gap, past the period's end to a checkpoint
// covering its last record. Verify re-checks every hash link from the anchor, every checkpoint
// signature and head, every file digest and the manifest signature, and names the first bad
// record and what is wrong with it.
package evidence
