package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded SQL file, migrations/<version>_<name>.sql.
type migration struct {
	version int
	name    string
	sql     string
	sum     string // hex SHA-256 of sql, recorded so an edited migration is noticed
}

// schemaLockKey is the advisory lock (pg_advisory_xact_lock) that serialises migrations between
// processes: the first 8 bytes of SHA-256("writ_audit_schema"), as a big-endian int64.
const schemaLockKey int64 = -0x664e051b09e9d085

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".sql")
		v, name, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(v)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s is not named <version>_<name>.sql", n)
		}
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, migration{version: version, name: name, sql: string(b), sum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration versions must run 1, 2, 3, ... without gaps: found %d at position %d", m.version, i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this package writes and reads.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// Migrate brings the database at dsn to the current schema version, as Open does. Run it with a
// role that owns the schema when the store itself runs with a role that may only read and add
// records (see the package documentation).
func Migrate(ctx context.Context, dsn string) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("parsing the PostgreSQL connection string: %w", err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// migrate applies the embedded migrations that the database has not recorded, all in one
// transaction holding an advisory lock, so that processes opening the store at once apply each
// migration exactly once and none sees a half-migrated schema.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	// Fast path, which needs no privilege to create anything: the schema is already current.
	applied, err := appliedMigrations(ctx, pool)
	if err != nil {
		return err
	}
	if len(applied) >= len(ms) {
		return checkApplied(applied, ms)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrating the audit schema: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLockKey); err != nil {
		return fmt.Errorf("migrating the audit schema: taking the schema lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS writ_audit_schema (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		sha256     text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrating the audit schema: creating writ_audit_schema (does this role own the schema? run Migrate as one that does): %w", err)
	}
	// Read again under the lock: another process may have migrated while we waited.
	if applied, err = readApplied(ctx, tx); err != nil {
		return err
	}
	if err := checkApplied(applied, ms); err != nil {
		return err
	}
	for _, m := range ms[len(applied):] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("applying audit schema migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO writ_audit_schema (version, name, sha256) VALUES ($1, $2, $3)", m.version, m.name, m.sum); err != nil {
			return fmt.Errorf("recording audit schema migration %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrating the audit schema: committing: %w", err)
	}
	return nil
}

// appliedMigrations returns the recorded migrations, or none when writ_audit_schema does not exist.
func appliedMigrations(ctx context.Context, pool *pgxpool.Pool) ([]migration, error) {
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('writ_audit_schema') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("reading the audit schema version: %w", err)
	}
	if !exists {
		return nil, nil
	}
	return readApplied(ctx, pool)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func readApplied(ctx context.Context, q querier) ([]migration, error) {
	rows, err := q.Query(ctx, "SELECT version, name, sha256 FROM writ_audit_schema ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("reading the audit schema version: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (migration, error) {
		var m migration
		err := r.Scan(&m.version, &m.name, &m.sum)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the audit schema version: %w", err)
	}
	return out, nil
}

// ErrSchema is wrapped by errors about a database schema this package cannot use.
var ErrSchema = errors.New("audit database schema mismatch")

// checkApplied checks that the recorded migrations are a prefix of ours, unedited.
func checkApplied(applied, ms []migration) error {
	for i, a := range applied {
		if i >= len(ms) {
			return fmt.Errorf("%w: the database is at schema version %d but this writ knows only up to %d: upgrade writ", ErrSchema, applied[len(applied)-1].version, len(ms))
		}
		if a.version != ms[i].version || a.sum != ms[i].sum {
			return fmt.Errorf("%w: recorded migration %d (%s, sha256 %.12s) is not this writ's migration %d (%s, sha256 %.12s): the schema was changed by hand or by another build", ErrSchema, a.version, a.name, a.sum, ms[i].version, ms[i].name, ms[i].sum)
		}
	}
	return nil
}
