// Package outbox owns the outbox table: the work a state change implies,
// committed with it (Enqueue, in the change's transaction), moved into
// asynq by the Relay, and marked done by the task that did it (MarkDone).
// The row id becomes the asynq TaskID, so however many relays run and
// however often a row is relayed again (after a crash, or when Redis lost
// its data), a job is never doubled; and since the row is committed with
// the state change that implied it, a job is never lost.
//
// Every serve and work process runs a Relay (cmd/lunas wires it). The
// relay's own bookkeeping (relayed_at, done_at, the stale requeue) runs on
// the database's clock: it is about real time passing, which a test clock
// moved by days must not fake.
package outbox

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// Relay copies outbox rows into asynq.
type Relay struct {
	pool   *store.DB
	client *asynq.Client
	clock  clock.Clock
	log    *slog.Logger
	// Stale is how long a relayed row may stay undone before it is relayed
	// again (Redis may have lost the task).
	Stale time.Duration
	// Poll is the fallback polling interval when no notification arrives.
	Poll time.Duration
	// Relayed is called with each batch's count (metrics).
	Relayed func(int)
	// Inspector, when set, lets a relay re-drive a task that asynq archived
	// after its retries (PostgreSQL down for longer than they last) or that
	// completed without marking its row done: the TaskID would otherwise
	// block re-enqueueing it for as long as asynq keeps the old task.
	Inspector *asynq.Inspector
	// Redriven is called once per task re-driven that way (metrics).
	Redriven func(taskType string)
	kick     chan struct{}
}

// New returns a relay.
func New(pool *store.DB, client *asynq.Client, c clock.Clock, log *slog.Logger) *Relay {
	return &Relay{pool: pool, client: client, clock: c, log: log, Stale: 2 * time.Minute, Poll: 100 * time.Millisecond,
		Relayed: func(int) {}, Redriven: func(string) {}, kick: make(chan struct{}, 1)}
}

// Kick wakes the relay now: this process has just committed outbox rows
// (cmd/lunas wires it to Signal). Rows other processes write are found by
// the poll.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends, woken by Kick and by a poll.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.Poll)
	defer t.Stop()
	lastRequeue := time.Time{}
	for {
		if time.Since(lastRequeue) > r.Stale/4 {
			if n, err := r.Requeue(ctx); err != nil {
				r.log.Warn("outbox requeue", "err", err)
			} else if n > 0 {
				r.log.Info("outbox rows relayed again", "count", n)
			}
			lastRequeue = time.Now()
		}
		for {
			n, err := r.RelayOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("outbox relay", "err", err)
				}
				break
			}
			if n < batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-t.C:
		}
	}
}

const batch = 500

// RelayOnce relays one batch of unrelayed rows and returns how many it relayed.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, `SELECT id, task_type, payload, process_at FROM outbox
		WHERE relayed_at IS NULL ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED`, batch)
	if err != nil {
		return 0, err
	}
	type item struct {
		id, typ string
		payload []byte
		at      *time.Time
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (item, error) {
		var it item
		return it, row.Scan(&it.id, &it.typ, &it.payload, &it.at)
	})
	if err != nil || len(items) == 0 {
		return 0, err
	}
	now := r.clock.Now()
	done := make([]string, 0, len(items))
	var enqErr error
	for _, it := range items {
		opts := []asynq.Option{asynq.TaskID(it.id), asynq.Queue(task.QueueFor(it.typ)), asynq.MaxRetry(25), asynq.Retention(24 * time.Hour), asynq.Timeout(2 * time.Minute)}
		if it.at != nil {
			// Deadlines are in the service clock's time (which a test clock
			// may shift); asynq schedules on the wall clock.
			if d := it.at.Sub(now); d > 0 {
				opts = append(opts, asynq.ProcessIn(d))
			}
		}
		_, err := r.client.EnqueueContext(ctx, asynq.NewTask(it.typ, it.payload), opts...)
		if errors.Is(err, asynq.ErrTaskIDConflict) && r.Inspector != nil {
			err = r.redrive(ctx, it.id, it.typ, it.payload, opts)
		}
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			enqErr = err
			break
		}
		done = append(done, it.id)
	}
	if len(done) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE outbox SET relayed_at = now() WHERE id = ANY($1)`, done); err != nil {
			return 0, err
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, err
		}
		r.Relayed(len(done))
	}
	return len(done), enqErr
}

// redrive replaces a task that ended without doing its row's work
// (archived, or completed early) with a fresh one under the same TaskID.
// A task still pending, scheduled, retrying or active is left alone: it
// will do the work (the conflict stands, and the row counts as relayed).
func (r *Relay) redrive(ctx context.Context, id, typ string, payload []byte, opts []asynq.Option) error {
	queue := task.QueueFor(typ)
	info, err := r.Inspector.GetTaskInfo(queue, id)
	if err != nil || (info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted) {
		return asynq.ErrTaskIDConflict
	}
	if err := r.Inspector.DeleteTask(queue, id); err != nil {
		return asynq.ErrTaskIDConflict // it moved on meanwhile; the next requeue looks again
	}
	if _, err := r.client.EnqueueContext(ctx, asynq.NewTask(typ, payload), opts...); err != nil {
		return err
	}
	r.log.Warn("outbox task re-driven", "task_id", id, "type", typ, "was", info.State.String(), "last_err", info.LastErr)
	r.Redriven(typ)
	return nil
}

// Requeue marks rows relayed long ago but still not done, and due, for
// relaying again: their task may have been lost with Redis's data. A task
// still in Redis makes the new enqueue a TaskID conflict, so nothing doubles.
func (r *Relay) Requeue(ctx context.Context) (int64, error) {
	tag, err := r.pool.Exec(ctx, `UPDATE outbox SET relayed_at = NULL
		WHERE done_at IS NULL AND relayed_at < now() - make_interval(secs => $1) AND (process_at IS NULL OR process_at <= $2)`,
		r.Stale.Seconds(), r.clock.Now())
	return tag.RowsAffected(), err
}

// Lag is the age of the oldest unrelayed row (0 when none), for /metrics.
func Lag(ctx context.Context, pool *store.DB) (time.Duration, error) {
	var secs float64
	err := pool.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM outbox WHERE relayed_at IS NULL`).Scan(&secs)
	return time.Duration(secs * float64(time.Second)), err
}
