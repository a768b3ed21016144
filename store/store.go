// Package store owns lunas's PostgreSQL plumbing: opening the pool (DB),
// the embedded goose migrations (creating the database when it is
// missing), and transactions with their hooks: LastWrite and BeforeCommit
// run inside the transaction before it commits (the last writes in one
// batch with COMMIT), AfterCommit and the named signals (Raise,
// DB.OnCommit) after it has committed; and Pipeline, a transaction sent in
// two batches for the hottest path (the webhook inbox).
//
// store owns no table. Each table has one owning package, which writes it
// with its own SQL against the pgx.Tx that store.InTx hands it, always with
// parameters; the outbox belongs to package outbox.
package store

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/lunas-id/lunas"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the connection pool every package shares, with the handlers of the
// named signals its transactions raise (Raise): cmd/lunas wires each
// handler once (OnCommit), e.g. the outbox relay's kick, so a package that
// writes outbox rows never needs to know who relays them.
type DB struct {
	*pgxpool.Pool
	mu       sync.RWMutex
	handlers map[string][]func()
}

// OnCommit makes fn run after every commit of a transaction (InTx) that
// raised signal. fn runs on the committing goroutine: it must be quick and
// must not block (a kick of a channel, a counter).
func (db *DB) OnCommit(signal string, fn func()) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.handlers == nil {
		db.handlers = map[string][]func(){}
	}
	db.handlers[signal] = append(db.handlers[signal], fn)
}

func (db *DB) signal(name string) {
	db.mu.RLock()
	fns := db.handlers[name]
	db.mu.RUnlock()
	for _, fn := range fns {
		fn()
	}
}

// Open connects a pool to dsn and checks that the database answers.
func Open(ctx context.Context, dsn string, maxConns int32) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parse database URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.Tracer = &Liveness{}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open pool: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: ping %s: %w", redact(dsn), err)
	}
	return &DB{Pool: pool}, nil
}

// Migrate applies pending migrations, creating the database first when it
// does not exist and the role may create it. Several processes may call it
// at once: goose holds a PostgreSQL advisory lock while it works.
func Migrate(ctx context.Context, dsn string, log *slog.Logger) error {
	if err := createDatabase(ctx, dsn, log); err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("store: parse database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer func() { _ = db.Close() }()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range res {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

func createDatabase(ctx context.Context, dsn string, log *slog.Logger) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("store: parse database URL: %w", err)
	}
	name := cfg.Database
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("store: connect %s: %w", redact(dsn), err)
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	aconn, err := pgx.ConnectConfig(cctx, admin)
	if err != nil {
		return fmt.Errorf("store: database %q does not exist and the maintenance database is unreachable: %w", name, err)
	}
	defer aconn.Close(ctx)
	_, err = aconn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database: another process won
		return fmt.Errorf("store: create database %q: %w", name, err)
	}
	log.Info("database created", "database", name)
	return nil
}

// InTx runs fn in a transaction, committing when fn returns nil, then runs
// the transaction's after-commit work (AfterCommit, Raise). A
// serialization failure or deadlock is retried a few times, since both mean
// "another transaction won, try again", never "the request is wrong"; an
// attempt rolled back drops whatever it registered.
func InTx(ctx context.Context, db *DB, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		err = inTx(ctx, db, fn)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") {
			continue
		}
		return err
	}
	return err
}

func inTx(ctx context.Context, db *DB, fn func(pgx.Tx) error) error {
	raw, err := begin(ctx, db)
	if err != nil {
		return Unavailable(err)
	}
	defer raw.release(ctx)
	tx := &hookTx{Tx: raw}
	if err := fn(tx); err != nil {
		return err
	}
	// The reads of what the transaction leaves (BeforeCommit) need its
	// last writes done: then those go first, alone. Without such reads
	// the last writes go in one batch with COMMIT, so the hot row they
	// lock is held for the commit only.
	for len(tx.before) > 0 {
		if len(tx.last) > 0 {
			b := &pgx.Batch{}
			for _, q := range tx.last {
				q(b)
			}
			if err := sendBatch(ctx, raw, b); err != nil {
				return err
			}
			tx.last = nil
		}
		// Hooks may register hooks; run until none is left.
		for len(tx.before) > 0 {
			f := tx.before[0]
			tx.before = tx.before[1:]
			if err := f(ctx, tx); err != nil {
				return err
			}
		}
	}
	if err := raw.commitWith(ctx, tx.last); err != nil {
		return Unavailable(err)
	}
	for _, f := range tx.after {
		f()
	}
	for _, name := range tx.raised {
		db.signal(name)
	}
	return nil
}

// hookTx is the transaction InTx hands out: a pgx.Tx that can run work
// just before it commits and after it has committed.
type hookTx struct {
	pgx.Tx
	memo   map[string]any // Memo's values (the outermost transaction's)
	last   []func(*pgx.Batch)
	before []Hook
	after  []func()
	raised []string // signals, each once
	parent *hookTx  // for a savepoint: where its hooks go when it is released
}

// Begin starts a savepoint whose hooks join tx's when it is released
// (Commit) and are dropped with it when it is rolled back.
func (h *hookTx) Begin(ctx context.Context) (pgx.Tx, error) {
	sp, err := h.Tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &hookTx{Tx: sp, parent: h}, nil
}

// Commit releases a savepoint and hands its hooks to the enclosing
// transaction. (InTx commits the outermost transaction itself.)
func (h *hookTx) Commit(ctx context.Context) error {
	if err := h.Tx.Commit(ctx); err != nil {
		return err
	}
	if h.parent != nil {
		h.parent.last = append(h.parent.last, h.last...)
		h.parent.before = append(h.parent.before, h.before...)
		h.parent.after = append(h.parent.after, h.after...)
		for _, name := range h.raised {
			h.parent.raise(name)
		}
		h.last, h.before, h.after, h.raised = nil, nil, nil, nil
	}
	return nil
}

func (h *hookTx) raise(name string) {
	if !slices.Contains(h.raised, name) {
		h.raised = append(h.raised, name)
	}
}

// Hook is work a transaction runs just before it commits, in tx: the
// transaction InTx commits. A hook registered inside a savepoint runs
// after the savepoint was released, so it must use the tx it is given,
// never the savepoint it was registered in.
type Hook func(ctx context.Context, tx pgx.Tx) error

// LastWrite has queue put statements on a batch that runs inside tx after
// the caller's function has done every other change, sent together with
// COMMIT (or, when BeforeCommit hooks read what the transaction leaves,
// just before them); an error of theirs rolls the whole transaction back.
// A write that locks a row every transaction of its kind needs (the
// year's invoice counter) goes here, so that lock is held across the
// commit only — not across the whole transaction, nor a round trip to the
// client between the write and COMMIT. The owning package queues its own
// statements (invoice numbers its invoices). When tx was not begun by
// InTx, the batch is sent at once.
func LastWrite(ctx context.Context, tx pgx.Tx, queue func(b *pgx.Batch)) error {
	if h, ok := tx.(*hookTx); ok {
		h.last = append(h.last, queue)
		return nil
	}
	b := &pgx.Batch{}
	queue(b)
	return sendBatch(ctx, tx, b)
}

// BeforeCommit runs f inside tx after the caller's function has done
// every change and just before the commit; an error from f rolls the
// whole transaction back. It reports false, and does not keep f, when tx
// was not begun by InTx (the caller then runs f itself at once).
//
// order uses it to snapshot an order for its outbound event as the
// transaction leaves it (the settle path changes the order, then its
// attempts), so an event shows what was committed.
func BeforeCommit(tx pgx.Tx, f Hook) bool {
	h, ok := tx.(*hookTx)
	if ok {
		h.before = append(h.before, f)
	}
	return ok
}

// AfterCommit runs f once tx has committed, never when it rolls back. f
// registered inside a savepoint joins the enclosing transaction's when the
// savepoint is released (Commit) and is dropped with it when it is rolled
// back. It reports false, and does not keep f, when tx was not begun by
// InTx (whoever commits it then decides).
func AfterCommit(tx pgx.Tx, f func()) bool {
	h, ok := tx.(*hookTx)
	if ok {
		h.after = append(h.after, f)
	}
	return ok
}

// Memo returns the value kept in tx under key, computing it with f the
// first time: a read a transaction makes many times with one answer
// (webhook.Wanted, once per event type for a batch of 50 subscription
// invoices instead of once per invoice). A value computed in a savepoint
// is kept after it, so f must only read. A tx not begun by InTx computes
// every time.
func Memo[T any](tx pgx.Tx, key string, f func() (T, error)) (T, error) {
	h, ok := tx.(*hookTx)
	if !ok {
		return f()
	}
	for h.parent != nil {
		h = h.parent
	}
	if v, ok := h.memo[key].(T); ok {
		return v, nil
	}
	v, err := f()
	if err != nil {
		return v, err
	}
	if h.memo == nil {
		h.memo = map[string]any{}
	}
	h.memo[key] = v
	return v, nil
}

// Raise asks for the handlers of signal (DB.OnCommit) to run once tx has
// committed: once per transaction, however often it raises the signal,
// and never when it rolls back. A savepoint hands its signals up as
// AfterCommit does. outbox.Enqueue raises outbox.Signal, which cmd/lunas
// wires to the relay's kick. A tx not begun by InTx raises nothing.
func Raise(tx pgx.Tx, signal string) {
	if h, ok := tx.(*hookTx); ok {
		h.raise(signal)
	}
}

// Unavailable marks a failure to reach PostgreSQL as a dependency outage
// (503 at the edge, retried by tasks) rather than a bug.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !refusedForNow(pgErr.Code) {
		return err // the server answered: not an outage
	}
	return lunas.Wrap(lunas.KindUnavailable, err, "database unavailable")
}

// refusedForNow tells the server's answers that mean "not now" rather
// than "not this": out of connections or another resource (class 53),
// shutting down or starting up (57P01–57P03), a connection failure (class
// 08, but for a protocol violation, which a retry repeats). A request
// refused so is retried (503), never a 500.
func refusedForNow(code string) bool {
	return strings.HasPrefix(code, "53") || (strings.HasPrefix(code, "08") && code != "08P01") ||
		code == "57P01" || code == "57P02" || code == "57P03"
}

// Querier is what both a pool and a transaction provide.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// NewID returns a random, URL-safe identifier with prefix, e.g. "ord_…".
func NewID(prefix string) string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(database URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}
