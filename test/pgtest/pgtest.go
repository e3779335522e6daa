package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDirEnv, when set, names the directory holding initdb and postgres, instead of the newest
// /usr/lib/postgresql/<version>/bin.
const BinDirEnv = "WRIT_PGTEST_BINDIR"

// debianBinGlob is where Debian's postgresql-<version> packages put the server binaries.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// ErrMissing reports that no PostgreSQL server binaries were found.
var ErrMissing = errors.New("the PostgreSQL server binaries (initdb, postgres) are not installed: run `make deps`, which installs Debian's postgresql package")

// Superuser is the name of the superuser role of every server pgtest starts.
const Superuser = "postgres"

// port only names the unix socket (.s.PGSQL.5432): servers listen on no TCP port.
const port = 5432

// Options configure a server.
type Options struct {
	// BinDir holds initdb and postgres; default $WRIT_PGTEST_BINDIR, else the newest Debian
	// version.
	BinDir string
	// Settings are extra postgres -c name=value settings, applied after pgtest's own.
	Settings map[string]string
}

// Server is a running throwaway PostgreSQL server.
type Server struct {
	// Dir holds the data directory (data/), the server log (postgres.log) and the socket.
	Dir string
	// Version is what the server reports, e.g. "15.18 (Debian 15.18-0+deb12u1)".
	Version string

	exited   chan struct{} // closed when the postmaster has exited
	waitErr  error         // the postmaster's exit status, valid once exited is closed
	proc     *os.Process
	stopOnce sync.Once
	stopErr  error
	dbs      atomic.Uint64
}

// LocateBinDir returns the directory holding initdb and postgres, or an error wrapping ErrMissing.
func LocateBinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		if !hasServerBinaries(d) {
			return "", fmt.Errorf("%w (%s=%s holds no initdb and postgres)", ErrMissing, BinDirEnv, d)
		}
		return d, nil
	}
	return locateIn(debianBinGlob)
}

func locateIn(glob string) (string, error) {
	dirs, _ := filepath.Glob(glob)
	// Newest major version first: /usr/lib/postgresql/15 before /usr/lib/postgresql/9.6.
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if hasServerBinaries(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w (looked in %s)", ErrMissing, glob)
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func hasServerBinaries(dir string) bool {
	for _, b := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// New initialises a data directory in a new temporary directory and starts a server on it. The
// caller must Stop it.
func New(o Options) (*Server, error) {
	bin := o.BinDir
	if bin == "" {
		var err error
		if bin, err = LocateBinDir(); err != nil {
			return nil, err
		}
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	// A short path: a unix socket's path must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: creating the server directory: %w", err)
	}
	s := &Server{Dir: dir, exited: make(chan struct{})}
	if err := s.start(bin, cred, o.Settings); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// serverCredential returns the user to run the server as: nil (this process's) unless this
// process is root, which PostgreSQL refuses to run as.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: PostgreSQL refuses to run as root and there is no postgres user to run it as: run `make deps` (Debian's postgresql package creates it): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: user postgres has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) start(bin string, cred *syscall.Credential, settings map[string]string) error {
	if cred != nil {
		if err := os.Chown(s.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: giving the server directory to user postgres: %w", err)
		}
	}
	logPath := filepath.Join(s.Dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: creating the server log: %w", err)
	}
	defer logFile.Close()

	data := filepath.Join(s.Dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", Superuser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Stdout, initdb.Stderr = logFile, logFile
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := initdb.Run(); err != nil {
		return fmt.Errorf("pgtest: initdb in %s failed (%v); it must be reachable by the server's user: %s", s.Dir, err, s.logTail())
	}

	args := []string{"-D", data, "-k", s.Dir, "-p", strconv.Itoa(port)}
	for _, kv := range mergeSettings(settings) {
		args = append(args, "-c", kv)
	}
	postgres := exec.Command(filepath.Join(bin, "postgres"), args...)
	postgres.Stdout, postgres.Stderr = logFile, logFile
	// SIGQUIT is an immediate shutdown, which also ends the server's backends.
	postgres.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits, not only the process:
		// keep this goroutine's thread alive for as long as the server runs.
		runtime.LockOSThread()
		if err := postgres.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		s.proc = postgres.Process
		started <- nil
		s.waitErr = postgres.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	return s.waitReady(30 * time.Second)
}

// mergeSettings returns pgtest's settings overridden by extra, as sorted name=value pairs.
func mergeSettings(extra map[string]string) []string {
	m := map[string]string{
		"listen_addresses":        "",
		"unix_socket_permissions": "0777",
		"fsync":                   "on",
		"synchronous_commit":      "on",
		"shared_buffers":          "256MB",
		"max_wal_size":            "4GB",
		"max_connections":         "200",
		"log_min_messages":        "warning",
	}
	for k, v := range extra {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			err = conn.QueryRow(ctx, "SHOW server_version").Scan(&s.Version)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("pgtest: postgres exited during start-up (%v): %s", s.waitErr, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres did not accept connections within %s (%v): %s", timeout, err, s.logTail())
		}
	}
}

// logTail returns the end of the server log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	if err != nil {
		return "(no server log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "server log:\n" + strings.TrimSpace(string(b))
}

// DSN returns a superuser connection string for database db, over the server's unix socket.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host='%s' port=%d user=%s dbname='%s' sslmode=disable", s.Dir, port, Superuser, db)
}

// CreateDatabase creates an empty database and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: connecting to the server: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: creating database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// NewDatabase creates an empty database named after t, dropped when t ends, and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("%s_%d", databaseName(t.Name()), s.dbs.Add(1))
	dsn, err := s.CreateDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err != nil {
			return // the server is gone, and the database with it
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return dsn
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// databaseName turns a test name into a short database name.
func databaseName(test string) string {
	n := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(n) > 40 {
		n = n[:40]
	}
	return "t_" + n
}

// Stop shuts the server down (a fast shutdown: sessions are ended, committed data is flushed),
// and removes its directory. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.proc != nil {
			s.stopErr = s.shutdown()
		}
		if err := os.RemoveAll(s.Dir); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("pgtest: removing %s: %w", s.Dir, err)
		}
	})
	return s.stopErr
}

func (s *Server) shutdown() error {
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, 20 * time.Second}, {syscall.SIGQUIT, 5 * time.Second}, {syscall.SIGKILL, 5 * time.Second}} {
		_ = s.proc.Signal(step.sig)
		select {
		case <-s.exited:
			if step.sig == syscall.SIGINT && s.waitErr != nil {
				return fmt.Errorf("pgtest: postgres exited with %v: %s", s.waitErr, s.logTail())
			}
			if step.sig != syscall.SIGINT {
				return fmt.Errorf("pgtest: postgres ignored a fast shutdown and was stopped with %v: %s", step.sig, s.logTail())
			}
			return nil
		case <-time.After(step.wait):
		}
	}
	return fmt.Errorf("pgtest: postgres (pid %d) does not stop: %s", s.proc.Pid, s.logTail())
}

// The server shared by a package's tests when its TestMain calls Main.
var shared struct {
	mu     sync.Mutex
	inMain bool
	srv    *Server
	err    error
}

// Main runs a package's tests, sharing one server (started by the first Start) between them, and
// stops it afterwards. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
		shared.srv = nil
	}
	return code
}

// Start returns the superuser DSN of a new, empty database, dropped when t ends. Under Main the
// database is on the package's shared server; otherwise on a server of t's own, stopped when t
// ends. It fails t, with the fix, when PostgreSQL is not installed.
func Start(t testing.TB) string {
	t.Helper()
	skipShort(t)
	s, err := server(t)
	if err != nil {
		t.Fatal(err)
	}
	return s.NewDatabase(t)
}

// Shared returns the package's shared server, starting it if needed; outside Main it starts a
// server for t alone. Use it for what needs the server itself, such as several databases.
func Shared(t testing.TB) *Server {
	t.Helper()
	skipShort(t)
	s, err := server(t)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func server(t testing.TB) (*Server, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		s, err := New(Options{})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() {
			if err := s.Stop(); err != nil {
				t.Error(err)
			}
		})
		return s, nil
	}
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = New(Options{})
	}
	return shared.srv, shared.err
}

// skipShort skips t in the unit-test run (-short, make test-unit): PostgreSQL tests are
// integration tests and run in make test.
func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL; run without -short (make test-integration)")
	}
}
