package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"

	"writ.dev/writ/test/pgtest"
)

func TestSchemaLockKey(t *testing.T) {
	sum := sha256.Sum256([]byte("writ_audit_schema"))
	if want := int64(binary.BigEndian.Uint64(sum[:8])); schemaLockKey != want {
		t.Fatalf("schemaLockKey = %#x, want %#x", schemaLockKey, want)
	}
}

func TestMigrationsAreNumberedFromOne(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || SchemaVersion() != len(ms) {
		t.Fatalf("%d migrations, SchemaVersion %d", len(ms), SchemaVersion())
	}
}

func schemaRows(t *testing.T, dsn string) []string {
	t.Helper()
	rows, err := superuser(t, dsn).Query(context.Background(), "SELECT version || ' ' || name FROM writ_audit_schema ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	for range 3 {
		if err := Migrate(ctx, dsn); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, dsn, Options{})
	if _, err := s.Append(ctx, event(0)); err != nil {
		t.Fatal(err)
	}
	if rows := schemaRows(t, dsn); len(rows) != SchemaVersion() || rows[0] != "1 records" {
		t.Fatalf("writ_audit_schema = %q", rows)
	}
}

// Processes opening a fresh database at once each see the schema applied exactly once.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, dsn, Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	if rows := schemaRows(t, dsn); len(rows) != SchemaVersion() {
		t.Fatalf("writ_audit_schema = %q", rows)
	}
	for _, s := range stores {
		if _, err := s.Append(ctx, event(0)); err != nil {
			t.Fatal(err)
		}
	}
	if seq, _, err := stores[0].Verify(ctx); err != nil || seq != n {
		t.Fatalf("verify: %d %v", seq, err)
	}
}

func TestForeignSchemasAreRefused(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct{ sql, want string }{
		"newer":  {"INSERT INTO writ_audit_schema (version, name, sha256) VALUES (999, 'future', 'x')", "upgrade writ"},
		"edited": {"UPDATE writ_audit_schema SET sha256 = 'edited' WHERE version = 1", "changed by hand"},
	} {
		t.Run(name, func(t *testing.T) {
			dsn := pgtest.Start(t)
			if err := Migrate(ctx, dsn); err != nil {
				t.Fatal(err)
			}
			if _, err := superuser(t, dsn).Exec(ctx, tc.sql); err != nil {
				t.Fatal(err)
			}
			_, err := Open(ctx, dsn, Options{})
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want ErrSchema saying %q", err, tc.want)
			}
		})
	}
}

// With the grants the package documentation gives, the store runs as a role that can add
// records but can neither change them nor switch the triggers off.
func TestLeastPrivilegeRole(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	if err := Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	admin := superuser(t, dsn)
	for _, q := range []string{
		"CREATE ROLE writ_app LOGIN",
		"GRANT SELECT ON writ_audit_schema TO writ_app",
		"GRANT SELECT, INSERT, UPDATE ON writ_audit_chains TO writ_app",
		"GRANT SELECT, INSERT ON writ_audit_records, writ_audit_checkpoints TO writ_app",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP OWNED BY writ_app; DROP ROLE writ_app") })
	appDSN := dsn + " user=writ_app"
	s := open(t, appDSN, Options{})
	if _, err := s.Append(ctx, events(0, 3)...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	app := superuser(t, appDSN) // not a superuser: connected as writ_app
	for _, q := range []string{
		"ALTER TABLE writ_audit_records DISABLE TRIGGER writ_audit_records_append_only",
		"UPDATE writ_audit_records SET kind = 'x'",
		"DELETE FROM writ_audit_records",
		"TRUNCATE writ_audit_records",
		"DROP TABLE writ_audit_records",
	} {
		if _, err := app.Exec(ctx, q); err == nil {
			t.Errorf("writ_app may %s", q)
		}
	}
	if other, err := Open(ctx, appDSN, Options{Chain: "another-cluster"}); err != nil {
		t.Fatalf("the app role cannot open a new chain: %v", err)
	} else {
		other.Close()
	}
}
