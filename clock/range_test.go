package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
)

// An instant the offset cannot hold is refused and changes nothing;
// before, 9999-12-31T23:59:59Z was taken and the clock read 2319.
func TestTestClockRefusesWhatItCannotRepresent(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	ctx := context.Background()
	c, err := clock.NewTest(ctx, pool.Pool)
	if err != nil {
		t.Fatal(err)
	}
	good := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if err := c.Set(ctx, good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []time.Time{
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now().Add(clock.MaxOffset + time.Hour),
	} {
		if err := c.Set(ctx, bad); !errors.Is(err, clock.ErrOutOfRange) {
			t.Errorf("Set(%s) = %v, want ErrOutOfRange", bad, err)
		}
	}
	if got := c.Now(); got.Sub(good) < 0 || got.Sub(good) > time.Minute {
		t.Errorf("after refused sets the clock reads %s, want about %s", got, good)
	}
	far := time.Now().Add(clock.MaxOffset - 24*time.Hour)
	if err := c.Set(ctx, far); err != nil {
		t.Errorf("Set(%s) within range: %v", far, err)
	}
	if got := c.Now(); got.Year() != far.Year() {
		t.Errorf("clock reads %s, want the year %d", got, far.Year())
	}
}
