// Package clock provides the one clock that drives every deadline in lunas.
//
// Production uses the wall clock. With LUNAS_ENV=test the clock can be set
// through the API (a "test clock"): the setting is stored in PostgreSQL so
// every process that shares the database runs on the same instant, and the
// clock keeps running forward from the instant it was set to. Every Now
// reads the stored offset, so once PUT /v1/test/clock has answered no
// process acts on the old clock.
package clock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Clock tells the time. Callers take Now once per transaction.
type Clock interface {
	Now() time.Time
}

// Wall is the real clock.
type Wall struct{}

// Now returns the current wall time in UTC.
func (Wall) Now() time.Time { return time.Now().UTC() }

// Fixed is a clock that can be moved by hand; for unit tests.
type Fixed struct {
	mu sync.Mutex
	t  time.Time
}

// NewFixed returns a clock stopped at t.
func NewFixed(t time.Time) *Fixed { return &Fixed{t: t} }

// Now returns the clock's instant.
func (f *Fixed) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }

// Set moves the clock to t.
func (f *Fixed) Set(t time.Time) { f.mu.Lock(); f.t = t; f.mu.Unlock() }

// Test is the service-wide test clock: wall time plus an offset that is kept
// in the test_clock table. Set writes the offset; Now reads it from the
// database every time, so a change reaches every process before the PUT
// that made it answers. Callers take Now inside their transaction after
// locking the row they decide on (invoice does), so a decision is never
// taken on an offset older than the state it looks at.
//
// The reads go through a pool of the clock's own: Now is called inside
// transactions, and borrowing from their pool could leave every
// connection waiting for another. When the read fails (the database is
// restarting) Now falls back to the last offset read, which a background
// loop (Run) also keeps fresh.
type Test struct {
	pool   *pgxpool.Pool
	offset atomic.Int64 // nanoseconds added to the wall clock: the last read
}

// NewTest returns a test clock backed by pool (used by the clock alone),
// loaded once.
func NewTest(ctx context.Context, pool *pgxpool.Pool) (*Test, error) {
	c := &Test{pool: pool}
	if err := c.Refresh(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// readTimeout bounds one read of the offset.
const readTimeout = 2 * time.Second

// Now returns wall time shifted by the stored offset, read now.
func (c *Test) Now() time.Time {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	_ = c.Refresh(ctx) // on failure the last offset stands
	return time.Now().UTC().Add(time.Duration(c.offset.Load()))
}

// Refresh reloads the offset from the database.
func (c *Test) Refresh(ctx context.Context) error {
	var off int64
	err := c.pool.QueryRow(ctx, `SELECT offset_ns FROM test_clock WHERE id = 1`).Scan(&off)
	if err != nil && err != pgx.ErrNoRows {
		return fmt.Errorf("clock: load test clock: %w", err)
	}
	c.offset.Store(off)
	return nil
}

// MaxOffset is how far from the wall clock the test clock may be set. The
// offset is kept in nanoseconds (an int64, about ±292 years): beyond that
// it cannot be represented, and time.Until would quietly saturate
// (9999-12-31 became 2319). Two centuries leave room for every deadline
// computed from the clock.
const MaxOffset = 200 * 365 * 24 * time.Hour

// ErrOutOfRange is an instant the test clock cannot be set to.
var ErrOutOfRange = errors.New("clock: more than 200 years from today")

// Set moves the service-wide clock to now; it then runs forward from there.
// set_at records the database's time of the move, for whoever reads the
// table: the clock itself reads only the offset. An instant more than
// MaxOffset from the wall clock is refused (ErrOutOfRange) and changes
// nothing.
func (c *Test) Set(ctx context.Context, now time.Time) error {
	wall := time.Now()
	if now.Before(wall.Add(-MaxOffset)) || now.After(wall.Add(MaxOffset)) {
		return ErrOutOfRange
	}
	off := now.Sub(wall)
	_, err := c.pool.Exec(ctx, `
		INSERT INTO test_clock (id, offset_ns, set_to, set_at) VALUES (1, $1, $2, now())
		ON CONFLICT (id) DO UPDATE SET offset_ns = EXCLUDED.offset_ns, set_to = EXCLUDED.set_to, set_at = now()`,
		int64(off), now.UTC())
	if err != nil {
		return fmt.Errorf("clock: set test clock: %w", err)
	}
	c.offset.Store(int64(off))
	return nil
}

// Run refreshes the offset every interval until ctx ends; errors are
// transient (the database may be restarting) and are retried on the next tick.
func (c *Test) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = c.Refresh(ctx)
		}
	}
}
