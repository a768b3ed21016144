package store

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Liveness records when PostgreSQL last answered a statement on a pool
// (an answer with an error counts: the server is up). api's request
// deadline asks it to tell a stalled server, which answers nothing, from a
// busy one, where a request waits for a lock or a connection while other
// statements go on being answered: only the first is an outage (503).
// Open installs one on every pool as its query tracer.
type Liveness struct {
	last atomic.Int64 // wall-clock UnixNano of the last answer
}

// TraceQueryStart implements pgx.QueryTracer.
func (l *Liveness) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer: a statement that came back,
// with rows or with the server's error, is an answer.
func (l *Liveness) TraceQueryEnd(_ context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	l.answered(d.Err)
}

// TraceBatchStart implements pgx.BatchTracer (a Pipeline's batches).
func (l *Liveness) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer: each statement of a batch
// that came back is an answer.
func (l *Liveness) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	l.answered(d.Err)
}

// TraceBatchEnd implements pgx.BatchTracer.
func (l *Liveness) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (l *Liveness) answered(err error) {
	var pgErr *pgconn.PgError
	if err == nil || errors.As(err, &pgErr) || errors.Is(err, pgx.ErrNoRows) {
		l.last.Store(time.Now().UnixNano())
	}
}

// LastAnswer is when the server last answered a statement of the pool
// (the zero time before the first).
func (l *Liveness) LastAnswer() time.Time {
	n := l.last.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// LivenessOf returns the Liveness Open installed on db, or nil.
func LivenessOf(db *DB) *Liveness {
	l, _ := db.Config().ConnConfig.Tracer.(*Liveness)
	return l
}
