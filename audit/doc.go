// Package audit records what happened to the cluster and who tried: denied and warned mutations,
// break-glass use, drift, verified and rejected commits, applied syncs, sealing keys and policy
// changes. Each record is an Event; components hand events to a Recorder, which never blocks or
// fails its caller.
//
// Records name objects, field paths and digests, never a Secret's value: Event.Validate rejects a
// record whose free-text fields look like they carry secret material, and callers must pass only
// references.
//
// The tamper-evident store (a hash-chained, signed, append-only log) and the SOC 2 evidence export
// build on these types; the chain fields of Event are filled in by the store, not by recorders'
// callers.
package audit
