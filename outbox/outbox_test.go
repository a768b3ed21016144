package outbox_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

func count(t *testing.T, db *store.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A job is recorded once however often it is enqueued, only with the
// transaction that implies it, and the commit raises outbox.Signal once.
func TestEnqueueRecordsOnceWithItsTransaction(t *testing.T) {
	t.Parallel()
	db, _ := lunastest.Pool(t)
	ctx := context.Background()
	var kicks atomic.Int32
	db.OnCommit(outbox.Signal, func() { kicks.Add(1) })
	err := store.InTx(ctx, db, func(tx pgx.Tx) error {
		if err := outbox.Enqueue(ctx, tx, task.Mail("m1"), task.Mail("m1")); err != nil {
			return err
		}
		return outbox.Enqueue(ctx, tx, task.Mail("m1"), task.Expire("ord_1", time.Date(2026, 11, 23, 16, 59, 0, 0, time.UTC)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox`); n != 2 || kicks.Load() != 1 {
		t.Errorf("rows %d, kicks %d; want 2 rows and one kick", n, kicks.Load())
	}
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE id = 'expire:ord_1' AND process_at = '2026-11-23 16:59:00+00'`); n != 1 {
		t.Errorf("the expiry's process_at was not kept")
	}
	_ = store.InTx(ctx, db, func(tx pgx.Tx) error {
		if err := outbox.Enqueue(ctx, tx, task.Mail("m2")); err != nil {
			return err
		}
		return context.Canceled // rolled back
	})
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE id = 'mail:m2'`); n != 0 || kicks.Load() != 1 {
		t.Errorf("a rolled-back job: rows %d, kicks %d; want none", n, kicks.Load())
	}
	if err := outbox.MarkDone(ctx, db, "mail:m1"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE done_at IS NOT NULL`); n != 1 {
		t.Errorf("done rows %d, want 1", n)
	}
}

func relay(t *testing.T, db *store.DB) (*outbox.Relay, *asynq.Inspector) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(lunastest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	r := outbox.New(db, client, clock.Wall{}, lunastest.Logger())
	return r, insp
}

// The relay moves a row into asynq under the row's id as TaskID, on the
// task's queue; relaying it again (after a lost relay record, or the stale
// requeue) never makes a second task.
func TestRelayMovesRowsIntoAsynqOnce(t *testing.T) {
	t.Parallel()
	db, _ := lunastest.Pool(t)
	ctx := context.Background()
	r, insp := relay(t, db)
	if err := store.InTx(ctx, db, func(tx pgx.Tx) error { return outbox.Enqueue(ctx, tx, task.Apply(7)) }); err != nil {
		t.Fatal(err)
	}
	if n, err := r.RelayOnce(ctx); err != nil || n != 1 {
		t.Fatalf("relayed %d (%v), want 1", n, err)
	}
	if n, err := r.RelayOnce(ctx); err != nil || n != 0 {
		t.Fatalf("relayed again %d (%v), want 0", n, err)
	}
	info, err := insp.GetTaskInfo(task.QueueCritical, task.ApplyID(7))
	if err != nil || info.Type != task.PaymentApply {
		t.Fatalf("task in asynq: %+v %v", info, err)
	}
	// Requeue: relayed long ago and not done, so relayed again — as the
	// same task.
	r.Stale = time.Millisecond
	time.Sleep(10 * time.Millisecond)
	if n, err := r.Requeue(ctx); err != nil || n != 1 {
		t.Fatalf("requeued %d (%v), want 1", n, err)
	}
	if n, err := r.RelayOnce(ctx); err != nil || n != 1 {
		t.Fatalf("relayed after the requeue %d (%v), want 1 (a TaskID conflict counts as relayed)", n, err)
	}
	q, err := insp.GetQueueInfo(task.QueueCritical)
	if err != nil || q.Size != 1 {
		t.Errorf("tasks in the queue: %+v %v, want 1", q, err)
	}
	// Done rows are never requeued.
	if err := outbox.MarkDone(ctx, db, task.ApplyID(7)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if n, err := r.Requeue(ctx); err != nil || n != 0 {
		t.Errorf("requeued a done row: %d (%v)", n, err)
	}
}

// A commit that wrote outbox rows kicks the relay of this process: with
// its poll an hour away, the row is relayed at once.
func TestACommitKicksTheRelay(t *testing.T) {
	t.Parallel()
	db, _ := lunastest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, _ := relay(t, db)
	r.Poll = time.Hour
	db.OnCommit(outbox.Signal, r.Kick)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(200 * time.Millisecond) // past the first round, now waiting for a kick
	if err := store.InTx(ctx, db, func(tx pgx.Tx) error { return outbox.Enqueue(ctx, tx, task.Mail("kicked")) }); err != nil {
		t.Fatal(err)
	}
	lunastest.Eventually(t, 5*time.Second, "the row relayed by the kick", func() bool {
		return count(t, db, `SELECT count(*) FROM outbox WHERE id = 'mail:kicked' AND relayed_at IS NOT NULL`) == 1
	})
	if lag, err := outbox.Lag(ctx, db); err != nil || lag != 0 {
		t.Errorf("lag %s (%v), want 0 with nothing unrelayed", lag, err)
	}
}
