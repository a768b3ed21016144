// Package clock provides the one clock that drives every deadline in lunas.
//
// Production uses the wall clock. With LUNAS_ENV=test the clock can be set
// through the API (a "test clock"): the setting is stored in PostgreSQL so
// every process that shares the database runs on the same instant, and the
// clock keeps running forward from the instant it was set to.
package clock

import (
	"context"
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
// in the test_clock table. Set writes the offset; Refresh reads it, and a
// background loop refreshes it so that other processes see a change within
// the refresh interval (well inside one sweep interval).
type Test struct {
	pool   *pgxpool.Pool
	offset atomic.Int64 // nanoseconds added to the wall clock
}

// NewTest returns a test clock backed by pool, loaded once.
func NewTest(ctx context.Context, pool *pgxpool.Pool) (*Test, error) {
	c := &Test{pool: pool}
	if err := c.Refresh(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Now returns wall time shifted by the stored offset.
func (c *Test) Now() time.Time {
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

// Set moves the service-wide clock to now; it then runs forward from there.
func (c *Test) Set(ctx context.Context, now time.Time) error {
	off := time.Until(now)
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
