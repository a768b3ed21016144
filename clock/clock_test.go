package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
)

func TestWallAndFixed(t *testing.T) {
	t.Parallel()
	if w := (clock.Wall{}).Now(); w.Location() != time.UTC || time.Since(w) > time.Second {
		t.Errorf("wall clock %v: not now in UTC", w)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f := clock.NewFixed(at)
	if first, again := f.Now(), f.Now(); !first.Equal(at) || !again.Equal(at) {
		t.Error("a fixed clock moved by itself")
	}
	f.Set(at.Add(48 * time.Hour))
	if !f.Now().Equal(at.Add(48 * time.Hour)) {
		t.Error("Set did not move the fixed clock")
	}
}

// The test clock is one clock for every process on the database: set
// through one, every other reads the new time at its next Now, and it runs
// on from there. When the database cannot be read, Now keeps the last
// offset it read.
func TestTestClockIsSharedAndRunsOn(t *testing.T) {
	t.Parallel()
	db, dsn := lunastest.Pool(t)
	ctx := context.Background()
	a, err := clock.NewTest(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	// Another process: a clock on a pool of its own, on the same database.
	bPool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer bPool.Close()
	b, err := clock.NewTest(ctx, bPool)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(a.Now()); d < -time.Second || d > time.Second {
		t.Errorf("an unset test clock is %s off the wall clock", d)
	}
	target := time.Date(2027, 1, 20, 23, 58, 0, 0, time.UTC)
	if err := a.Set(ctx, target); err != nil {
		t.Fatal(err)
	}
	got := b.Now()
	if d := got.Sub(target); d < 0 || d > 2*time.Second {
		t.Errorf("the other process reads %v, want %v and running on", got, target)
	}
	time.Sleep(50 * time.Millisecond)
	if !b.Now().After(got) {
		t.Error("the test clock stands still")
	}
	// Its database goes away: the last offset stands.
	bPool.Close()
	if d := b.Now().Sub(target); d < 0 || d > 5*time.Second {
		t.Errorf("with the database gone the clock reads %v, want about %v", b.Now(), target)
	}
	if err := b.Refresh(ctx); err == nil {
		t.Error("Refresh with the database gone reported no error")
	}
}
