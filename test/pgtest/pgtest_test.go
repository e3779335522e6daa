package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartGivesEachTestAnEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	a := connect(t, Start(t))
	if _, err := a.Exec(ctx, "CREATE TABLE mine (x int)"); err != nil {
		t.Fatal(err)
	}
	var super bool
	if err := a.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || !super {
		t.Fatalf("connected as a superuser: %v, %v", super, err)
	}
	b := connect(t, Start(t))
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'mine'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the second database sees the first's table: %d, %v", n, err)
	}
	var fsync, commit string
	if err := b.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &commit); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" || commit != "on" {
		t.Errorf("fsync=%s synchronous_commit=%s: benchmarks would not measure durable commits", fsync, commit)
	}
	t.Logf("PostgreSQL %s in %s", Shared(t).Version, Shared(t).Dir)
}

func TestServerDoesNotRunAsRoot(t *testing.T) {
	s := Shared(t)
	pid, err := os.ReadFile(filepath.Join(s.Dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join("/proc", strings.SplitN(string(pid), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	uid := fi.Sys().(*syscall.Stat_t).Uid
	if uid == 0 {
		t.Fatal("postgres runs as root")
	}
	if os.Geteuid() != 0 && uid != uint32(os.Geteuid()) {
		t.Fatalf("postgres runs as uid %d, not as this process's user %d", uid, os.Geteuid())
	}
}

func TestMissingBinariesFailWithTheFix(t *testing.T) {
	empty := t.TempDir()
	if _, err := locateIn(filepath.Join(empty, "*", "bin")); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "make deps") {
		t.Errorf("locate in an empty tree: %v", err)
	}
	t.Setenv(BinDirEnv, empty)
	_, err := New(Options{})
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "make deps") || !strings.Contains(err.Error(), "postgresql package") {
		t.Errorf("New with no binaries: %v, want the make deps fix", err)
	}
}

func TestLocatePrefersTheNewestVersion(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "13"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{"initdb", "postgres"} {
			if err := os.WriteFile(filepath.Join(bin, b), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := locateIn(filepath.Join(root, "*", "bin"))
	if err != nil || got != filepath.Join(root, "15", "bin") {
		t.Fatalf("locate = %s, %v; want version 15", got, err)
	}
}

func TestStopEndsTheServerAndRemovesItsDirectory(t *testing.T) {
	s, err := New(Options{Settings: map[string]string{"shared_buffers": "16MB"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDatabase(context.Background(), "scratch"); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	default:
		t.Fatal("postgres still running after Stop")
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("server directory left behind: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestDatabaseName(t *testing.T) {
	for in, want := range map[string]string{
		"TestAppend":                  "t_testappend",
		"TestScan/from_the_middle#01": "t_testscan_from_the_middle_01",
		strings.Repeat("x", 60):       "t_" + strings.Repeat("x", 40),
	} {
		if got := databaseName(in); got != want {
			t.Errorf("databaseName(%q) = %q, want %q", in, got, want)
		}
	}
}
