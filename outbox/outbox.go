package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// Signal is the store signal a transaction that wrote outbox rows raises:
// cmd/lunas wires it to this process's Relay.Kick (store.DB.OnCommit), so
// the relay moves the rows as soon as they are committed instead of at its
// next poll. Rows other processes write are found by the poll.
const Signal = "outbox"

// Enqueue records jobs in the outbox inside tx, the transaction of the
// change that implies them, and raises Signal for when it commits. A job
// whose id is already there is skipped: the intent was recorded before.
// Every package that implies work calls it (invoice, payment, mail,
// sending); with EnqueueIn it is the only writer of new rows.
func Enqueue(ctx context.Context, tx pgx.Tx, jobs ...task.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	if len(jobs) == 1 {
		j := jobs[0]
		if _, err := tx.Exec(ctx, enqueue, j.ID, j.Type, j.Payload, processAt(j)); err != nil {
			return fmt.Errorf("outbox: %s: %w", j.ID, err)
		}
	} else {
		// Several jobs (a confirm's expiry and render): one statement.
		ids, types, payloads, ats := make([]string, len(jobs)), make([]string, len(jobs)), make([][]byte, len(jobs)), make([]*time.Time, len(jobs))
		for i, j := range jobs {
			ids[i], types[i], payloads[i], ats[i] = j.ID, j.Type, j.Payload, processAt(j)
		}
		if _, err := tx.Exec(ctx, enqueueMany, ids, types, payloads, ats); err != nil {
			return fmt.Errorf("outbox: %s…: %w", ids[0], err)
		}
	}
	// No NOTIFY here: PostgreSQL serialises the commits of transactions
	// that NOTIFY on one global lock, which capped webhook ingest and
	// settlement under load. The relay polls, and is kicked in-process.
	store.Raise(tx, Signal)
	return nil
}

const (
	enqueue = `INSERT INTO outbox (id, task_type, payload, process_at) VALUES ($1, $2, $3, $4)
	ON CONFLICT (id) DO NOTHING`
	enqueueMany = `INSERT INTO outbox (id, task_type, payload, process_at)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[])
	ON CONFLICT (id) DO NOTHING`
)

// processAt is when j may run (nil: at once), in UTC.
func processAt(j task.Job) *time.Time {
	if j.ProcessAt.IsZero() {
		return nil
	}
	t := j.ProcessAt.UTC()
	return &t
}

// EnqueueIn is Enqueue for a pipelined transaction (store.Pipeline): it
// queues the jobs on the caller's batch, which commits them with the
// change that implies them, and raises Signal on the pipeline.
// payment.RecordEvent calls it for the webhook inbox.
func EnqueueIn(p *store.Pipeline, b *pgx.Batch, jobs ...task.Job) {
	for _, j := range jobs {
		b.Queue(enqueue, j.ID, j.Type, j.Payload, processAt(j))
	}
	if len(jobs) > 0 {
		p.Raise(Signal)
	}
}

// MarkDone records that the outbox job id has been carried out, in q (the
// transaction that did its work, when there is one). The task handlers
// call it: worker for renders and gateway cancels, payment for applied
// events and expiries, mail and sending for their own tasks. done_at is
// the database's time: it is bookkeeping of the relay's (Requeue compares
// relayed_at with it), not a business timestamp.
func MarkDone(ctx context.Context, q store.Querier, id string) error {
	if id == "" {
		return nil
	}
	_, err := q.Exec(ctx, markDone, id)
	return err
}

const markDone = `UPDATE outbox SET done_at = now() WHERE id = $1 AND done_at IS NULL`

// MarkDoneIn adds MarkDone of id to the caller's batch, so it commits with
// the batch's other statements in one round trip: mail records a mail sent
// and its job done in one implicit transaction right after the SMTP
// server's 250.
func MarkDoneIn(b *pgx.Batch, id string) {
	if id != "" {
		b.Queue(markDone, id)
	}
}
