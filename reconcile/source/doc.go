// Package source owns the Git repositories a reconciler deploys from, on disk: a Cache holds,
// for each source, a bare repository fetched with go-git and checkouts of the commits the
// source's reconciler verified, behind one lock per source.
//
//	cache := source.NewCache("/var/cache/writ/sources")
//	key := source.Key{Namespace: "platform", Name: "config"}
//	a, err := cache.Fetch(ctx, key, source.Options{
//		URL:  "https://git.example.com/platform/config.git",
//		Ref:  source.Ref{Branch: "main"},
//		Auth: source.Auth{BearerToken: token},
//	})
//	// verify first: provenance.NewRepository(a.Repo), Request{Target: a.Ref, LastVerified: …}
//	// then, for a commit that verified:
//	tree, err := cache.Checkout(ctx, key, a.Commit)
//	defer tree.Close()
//	// render tree.Dir
//
// # Refs
//
// Exactly one of Ref's fields is set. Branch resolves to the branch tip; Tag to the commit a
// lightweight or annotated tag points at (the annotated tag object stays in Repo under
// Artifact.Ref for Tag-mode verification); SemVer to the highest tag in the range, counting only
// strict MAJOR.MINOR.PATCH tags with an optional "v" (pre-releases only when the range names
// one); Commit to a full hash reachable from a branch or tag of the remote.
//
// # Cache and updates
//
// A source's directory (<root>/<namespace>/<name>) holds a bare repository ("repo") and
// checkouts ("trees/<commit>"). The first Fetch clones, later ones fetch. Refs are force-updated
// and deleted ones pruned, so a force-push to an older commit is reported as that commit: Fetch
// does not judge history, the provenance verifier rejects the rollback (give it the last
// verified commit; objects are never pruned from the cache, so it stays readable). Tags are
// always fetched, since approval tags point at commits.
//
// Depth 0 fetches full history, which range verification and rollback checks need; Depth 1 only
// the tips. A cache is cloned afresh when it is shallow and Depth 0 is asked for, or when it
// cannot be opened; the last verified commit may then be missing, and the verifier fails closed.
//
// # Checkouts: verified commits only
//
// Fetch writes no files of what it fetched: a fetched head is not verified yet. Checkout writes a
// commit's files, and is given only commits the reconciler verified (a GitSource's
// status.lastVerifiedCommit, or the commit a sync last applied), so an unsigned or untrusted
// commit never reaches the disk as files a renderer could read. A checkout is written into a
// temporary directory and renamed to trees/<commit> when complete, so a half-written tree is never
// visible, and reused while it exists. Symlinks that resolve outside the checkout, and entries
// git would refuse (".." or ".git"), fail the checkout. Submodules are left empty and Git LFS files
// hold their pointers. Clean removes the checkouts other than the served commit's and those a
// Tree still holds open. Remove deletes a source's repository and checkouts when its GitSource is
// gone; a Tree open at that moment is removed when it is closed.
//
// Fetch, Repository, Checkout, Clean and Remove of one source take its lock in turn, so a checkout
// never reads the repository while a fetch writes it; different sources do not wait for each
// other. Use one Cache per root in a process.
//
// # Transports and credentials
//
// https:// takes basic or bearer credentials; http:// only sends them to a loopback host. ssh://
// and user@host:path take a private key and known_hosts lines: the host key is always checked
// against those lines alone (never ~/.ssh), and only the algorithms they hold keys for are
// offered. file:// takes none. Credentials are never accepted inside the URL, and errors never
// contain a password, token or private key.
//
// Options.Timeout and ctx bound the whole Fetch. go-git does not watch the context during an SSH
// handshake, so when the context ends first Fetch returns at once and leaves that connection
// behind; until the server ends it, the source stays locked and later calls for it wait (within
// their own context).
//
// Errors wrap ErrInvalidOptions (fix the Options), ErrRefNotFound, ErrTagName (a tag ref reaching
// an annotated tag of another name: a replay, refused in every mode), ErrAuth, ErrHostKey or the
// context's error, so a reconciler can tell stalling from transient failures.
package source
