// Package pgtest starts throwaway PostgreSQL servers for tests, from the server binaries of
// Debian's postgresql package (/usr/lib/postgresql/<version>/bin, newest version first), so that
// code talking to PostgreSQL is tested against the real thing rather than a mock.
//
// A package shares one server between its tests and gives each test a fresh database:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Start(t) // a new, empty database; the connection is a superuser's
//		...
//	}
//
// Without Main, Start runs a server for that one test and stops it when the test ends. New gives
// direct control of a server's lifetime.
//
// Each server lives in its own temporary directory: initdb's data directory, the server log, and
// the unix socket the server listens on (it opens no TCP port, so parallel test binaries never
// collide). PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
// postgres user that the Debian package creates. The server keeps fsync and synchronous commit on,
// so a benchmark's figures are those of durable commits. The server receives SIGQUIT if the test
// process dies, and Stop shuts it down and removes its directory.
//
// When the binaries are missing, Start and Main fail with the fix — `make deps`, which installs
// Debian's postgresql package — rather than skipping: a skipped store test is a store nobody
// tested. Set WRIT_PGTEST_BINDIR to use PostgreSQL binaries installed elsewhere.
package pgtest
