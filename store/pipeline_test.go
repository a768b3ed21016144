package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A pipelined transaction is one transaction: what its first batch wrote
// is invisible to other connections until Commit, a failing statement in
// the last batch rolls back the first batch's rows too, a pipeline closed
// without Commit keeps nothing, and a raised signal runs once, only after
// a commit.
func TestPipelineIsOneTransaction(t *testing.T) {
	t.Parallel()
	d := db(t)
	ctx := context.Background()
	signals := 0
	d.OnCommit("s", func() { signals++ })

	p, err := d.Pipeline(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO t (n) VALUES (1) RETURNING n`)
	br, err := p.Send(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := br.QueryRow().Scan(&n); err != nil || n != 1 {
		t.Fatalf("first batch: n %d, err %v", n, err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if got := count(t, d); got != 0 {
		t.Errorf("another connection sees %d rows before the commit, want 0", got)
	}
	p.Raise("s")
	p.Raise("s")
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO t (n) VALUES ($1)`, 2)
	if err := p.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	p.Close(ctx)
	if got := count(t, d); got != 2 || signals != 1 {
		t.Errorf("committed: %d rows, signal ran %d times; want 2 and 1", got, signals)
	}

	// A failing statement in the commit batch: nothing of either batch is kept.
	p, err = d.Pipeline(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO t (n) VALUES (3)`)
	if br, err = p.Send(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	p.Raise("s")
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO t (n) VALUES ('not a number')`)
	if err := p.Commit(ctx, b); err == nil {
		t.Error("a failing statement before COMMIT: Commit returned nil")
	}
	p.Close(ctx)
	if got := count(t, d); got != 2 || signals != 1 {
		t.Errorf("after a failed commit: %d rows, signal ran %d times; want 2 and 1", got, signals)
	}

	// Closed without Commit: rolled back, and the connection goes back
	// to the pool clean (the next transaction on it works).
	p, err = d.Pipeline(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO t (n) VALUES (4)`)
	if br, err = p.Send(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	p.Close(ctx)
	if got := count(t, d); got != 2 {
		t.Errorf("closed without commit: %d rows, want 2", got)
	}
	for i := 0; i < 3; i++ {
		p, err := d.Pipeline(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO t (n) VALUES (5)`)
		if err := p.Commit(ctx, b); err != nil {
			t.Fatalf("commit-only pipeline %d: %v", i, err)
		}
		p.Close(ctx)
	}
	if got := count(t, d); got != 5 {
		t.Errorf("three commit-only pipelines: %d rows, want 5", got)
	}
}
