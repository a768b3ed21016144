package store_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/store"
)

// db is a migrated database with a scratch table t(n int) of its own.
func db(t *testing.T) *store.DB {
	t.Helper()
	d, _ := lunastest.Pool(t)
	if _, err := d.Exec(context.Background(), `CREATE TABLE t (n int)`); err != nil {
		t.Fatal(err)
	}
	return d
}

func count(t *testing.T, d *store.DB) int {
	t.Helper()
	var n int
	if err := d.QueryRow(context.Background(), `SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func insert(ctx context.Context, tx pgx.Tx, n int) error {
	_, err := tx.Exec(ctx, `INSERT INTO t (n) VALUES ($1)`, n)
	return err
}

// A transaction commits when its function returns nil and rolls back when
// it returns an error; the hooks run in their order around the commit:
// the last writes, then the before-commit reads, then (only after a
// commit, when another connection sees the rows) the after-commit work and
// the signals.
func TestInTxCommitsRollsBackAndRunsHooksInOrder(t *testing.T) {
	t.Parallel()
	d := db(t)
	ctx := context.Background()
	var order []string
	var seen int
	d.OnCommit("s", func() { order = append(order, "signal") })
	err := store.InTx(ctx, d, func(tx pgx.Tx) error {
		store.AfterCommit(tx, func() { seen = count(t, d); order = append(order, "after") })
		store.Raise(tx, "s")
		if !store.BeforeCommit(tx, func(ctx context.Context, tx pgx.Tx) error { order = append(order, "before"); return nil }) {
			t.Error("BeforeCommit did not keep its hook")
		}
		if !store.BeforeCommit(tx, func(ctx context.Context, tx pgx.Tx) error {
			// The last write is done by the time the reads run.
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM t WHERE n = 2`).Scan(&n); err != nil || n != 1 {
				t.Errorf("before-commit read saw %d rows of the last write (err %v), want 1", n, err)
			}
			return nil
		}) {
			t.Error("BeforeCommit did not keep its hook")
		}
		if err := store.LastWrite(ctx, tx, func(b *pgx.Batch) { b.Queue(`INSERT INTO t (n) VALUES ($1)`, 2) }); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM t WHERE n = 2`).Scan(&n); err != nil || n != 0 {
			t.Errorf("the last write ran before the function ended: %d rows (err %v)", n, err)
		}
		order = append(order, "fn")
		return insert(ctx, tx, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(order); got != 4 || order[0] != "fn" || order[1] != "before" || order[2] != "after" || order[3] != "signal" {
		t.Errorf("order %v, want fn before after signal", order)
	}
	if seen != 2 {
		t.Errorf("after-commit work saw %d rows from another connection, want the 2 committed", seen)
	}

	order = nil
	boom := errors.New("boom")
	err = store.InTx(ctx, d, func(tx pgx.Tx) error {
		store.AfterCommit(tx, func() { order = append(order, "after") })
		store.Raise(tx, "s")
		if err := insert(ctx, tx, 3); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || count(t, d) != 2 || len(order) != 0 {
		t.Errorf("rolled back: err %v, rows %d, hooks run %v; want boom, 2, none", err, count(t, d), order)
	}
}

// A savepoint hands its hooks and signals to the enclosing transaction
// when it is released, and drops them when it is rolled back; a hook
// registered in it runs on the transaction it is given (the savepoint is
// gone by then). A signal runs once per transaction however often raised.
func TestSavepointsHandHooksUpOrDropThem(t *testing.T) {
	t.Parallel()
	d := db(t)
	ctx := context.Background()
	var signals, kept, dropped atomic.Int32
	d.OnCommit("s", func() { signals.Add(1) })
	err := store.InTx(ctx, d, func(tx pgx.Tx) error {
		store.Raise(tx, "s")
		released, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		store.AfterCommit(released, func() { kept.Add(1) })
		store.Raise(released, "s")
		if err := store.LastWrite(ctx, released, func(b *pgx.Batch) { b.Queue(`INSERT INTO t (n) VALUES ($1)`, 1) }); err != nil {
			return err
		}
		if err := released.Commit(ctx); err != nil {
			return err
		}
		abandoned, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		store.AfterCommit(abandoned, func() { dropped.Add(1) })
		store.Raise(abandoned, "other")
		if err := insert(ctx, abandoned, 2); err != nil {
			return err
		}
		return abandoned.Rollback(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if kept.Load() != 1 || dropped.Load() != 0 || signals.Load() != 1 || count(t, d) != 1 {
		t.Errorf("kept %d dropped %d signals %d rows %d; want 1 0 1 1", kept.Load(), dropped.Load(), signals.Load(), count(t, d))
	}
}

// A serialization failure is retried with a fresh transaction; what the
// failed attempt registered is dropped with it.
func TestSerializationFailureIsRetried(t *testing.T) {
	t.Parallel()
	d := db(t)
	ctx := context.Background()
	attempts := 0
	var after atomic.Int32
	err := store.InTx(ctx, d, func(tx pgx.Tx) error {
		attempts++
		store.AfterCommit(tx, func() { after.Add(1) })
		if err := insert(ctx, tx, attempts); err != nil {
			return err
		}
		if attempts == 1 {
			return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
		}
		return nil
	})
	if err != nil || attempts != 2 || after.Load() != 1 || count(t, d) != 1 {
		t.Errorf("err %v attempts %d after-commit runs %d rows %d; want nil 2 1 1", err, attempts, after.Load(), count(t, d))
	}
}

// Outside InTx nothing is kept: the hooks say so, LastWrite runs at once.
func TestHooksOutsideInTx(t *testing.T) {
	t.Parallel()
	d := db(t)
	ctx := context.Background()
	tx, err := d.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	ran := false
	if store.AfterCommit(tx, func() {}) || store.BeforeCommit(tx, func(context.Context, pgx.Tx) error { return nil }) {
		t.Error("hooks kept on a transaction InTx did not begin")
	}
	store.Raise(tx, "s") // nothing to raise on: no panic
	if err := store.LastWrite(ctx, tx, func(b *pgx.Batch) { b.Queue(`INSERT INTO t (n) VALUES (7)`) }); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) = 1 FROM t WHERE n = 7`).Scan(&ran); err != nil || !ran {
		t.Errorf("LastWrite outside InTx: ran %v, err %v", ran, err)
	}
}

// Unavailable tells an outage from an answer.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	if store.Unavailable(nil) != nil {
		t.Error("nil became an error")
	}
	answered := &pgconn.PgError{Code: "23505"}
	if got := store.Unavailable(answered); got != error(answered) || !store.IsUniqueViolation(got) {
		t.Errorf("a server's answer was wrapped: %v", got)
	}
	if got := store.Unavailable(errors.New("dial tcp: refused")); got == nil || got.Error() == "dial tcp: refused" {
		t.Errorf("an outage was not marked: %v", got)
	}
	// "Not now" answers are outages too (503, retried), not bugs (500):
	// out of connections, shutting down.
	for _, code := range []string{"53300", "57P01", "57P03", "08006"} {
		notNow := &pgconn.PgError{Code: code}
		if got := store.Unavailable(notNow); got == error(notNow) || lunas.KindOf(got) != lunas.KindUnavailable {
			t.Errorf("%s: %v, want it marked unavailable", code, got)
		}
	}
}

// Without reads before the commit, the last write goes in one batch with
// COMMIT: the row it locks is held across the commit only. A failing
// last write rolls everything back, and the connection is clean for the
// next transaction. A savepoint's last write that was rolled back is
// dropped.
func TestLastWriteCommitsInOneBatch(t *testing.T) {
	t.Parallel()
	d := db(t)
	ctx := context.Background()
	if _, err := d.Exec(ctx, `CREATE TABLE c (k int PRIMARY KEY, v int); INSERT INTO c VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	err := store.InTx(ctx, d, func(tx pgx.Tx) error {
		if err := insert(ctx, tx, 1); err != nil {
			return err
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		if err := store.LastWrite(ctx, sp, func(b *pgx.Batch) { b.Queue(`UPDATE c SET v = v + 100 WHERE k = 1`) }); err != nil {
			return err
		}
		if err := sp.Rollback(ctx); err != nil {
			return err
		}
		return store.LastWrite(ctx, tx, func(b *pgx.Batch) { b.Queue(`UPDATE c SET v = v + 1 WHERE k = 1`) })
	})
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := d.QueryRow(ctx, `SELECT v FROM c`).Scan(&v); err != nil || v != 1 || count(t, d) != 1 {
		t.Fatalf("counter %d (err %v), rows %d; want 1 and 1", v, err, count(t, d))
	}
	err = store.InTx(ctx, d, func(tx pgx.Tx) error {
		if err := insert(ctx, tx, 2); err != nil {
			return err
		}
		if err := store.LastWrite(ctx, tx, func(b *pgx.Batch) { b.Queue(`UPDATE c SET v = v + 1 WHERE k = 1`) }); err != nil {
			return err
		}
		return store.LastWrite(ctx, tx, func(b *pgx.Batch) { b.Queue(`INSERT INTO c VALUES (1, 0)`) }) // a duplicate key
	})
	if !store.IsUniqueViolation(err) {
		t.Fatalf("a failing last write: %v, want the unique violation", err)
	}
	if err := d.QueryRow(ctx, `SELECT v FROM c`).Scan(&v); err != nil || v != 1 || count(t, d) != 1 {
		t.Errorf("after the failed commit: counter %d, rows %d; want 1 and 1 (nothing kept)", v, count(t, d))
	}
	for i := 0; i < 40; i++ { // more than the pool's connections: none was left inside a transaction
		if err := store.InTx(ctx, d, func(tx pgx.Tx) error {
			return store.LastWrite(ctx, tx, func(b *pgx.Batch) { b.Queue(`UPDATE c SET v = v + 1 WHERE k = 1`) })
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.QueryRow(ctx, `SELECT v FROM c`).Scan(&v); err != nil || v != 41 {
		t.Errorf("counter %d after 40 more, want 41", v)
	}
}

// Memo computes a value once per transaction (a savepoint shares its
// transaction's), and every time outside InTx.
func TestMemoOncePerTransaction(t *testing.T) {
	t.Parallel()
	d := db(t)
	ctx := context.Background()
	calls := 0
	f := func() (int, error) { calls++; return 7, nil }
	err := store.InTx(ctx, d, func(tx pgx.Tx) error {
		for range 3 {
			if v, err := store.Memo(tx, "k", f); err != nil || v != 7 {
				t.Errorf("memo %d, %v", v, err)
			}
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := store.Memo(sp, "k", f); err != nil {
			return err
		}
		return sp.Commit(ctx)
	})
	if err != nil || calls != 1 {
		t.Errorf("computed %d times in one transaction (err %v), want 1", calls, err)
	}
	if err := store.InTx(ctx, d, func(tx pgx.Tx) error { _, err := store.Memo(tx, "k", f); return err }); err != nil || calls != 2 {
		t.Errorf("a new transaction: computed %d times in all, want 2", calls)
	}
	tx, err := d.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	_, _ = store.Memo(tx, "k", f)
	_, _ = store.Memo(tx, "k", f)
	if calls != 4 {
		t.Errorf("outside InTx: computed %d times in all, want 4", calls)
	}
}
