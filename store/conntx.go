package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// connTx is the transaction InTx runs on: a pooled connection on which
// it sent BEGIN itself, so that it can send COMMIT in one batch with the
// transaction's last writes (commitWith). pgx's own transaction sends
// COMMIT alone, one round trip after the last write: the row that write
// locks (the year's invoice counter, which every confirm takes) stayed
// locked across that round trip, and under a burst the confirms queue on
// it. Statements go to the connection as they would through pgx's Tx.
type connTx struct {
	*pgxConn // Exec, Query, QueryRow, SendBatch, CopyFrom, Prepare
	conn     *pgxpool.Conn
	closed   bool
	sp       int // savepoints begun, for their names
}

// pgxConn names the embedded connection apart from the Conn method
// pgx.Tx asks for.
type pgxConn = pgx.Conn

func begin(ctx context.Context, db *DB) (*connTx, error) {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		conn.Release()
		return nil, err
	}
	return &connTx{pgxConn: conn.Conn(), conn: conn}, nil
}

// release rolls back what did not commit and gives the connection back
// (the pool drops a connection still inside a transaction).
func (t *connTx) release(ctx context.Context) {
	if !t.closed {
		_ = t.Rollback(context.WithoutCancel(ctx))
	}
	t.conn.Release()
}

// Begin starts a savepoint.
func (t *connTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if t.closed {
		return nil, pgx.ErrTxClosed
	}
	t.sp++
	name := fmt.Sprintf("sp_%d", t.sp)
	if _, err := t.pgxConn.Exec(ctx, "SAVEPOINT "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, err
	}
	return &savepoint{connTx: t, name: name}, nil
}

// Commit sends COMMIT alone.
func (t *connTx) Commit(ctx context.Context) error { return t.commitWith(ctx, nil) }

// commitWith sends the queued statements and COMMIT in one batch: one
// round trip, and no wait on the client between the last write and the
// commit. The first error wins; PostgreSQL has then aborted the
// transaction and release rolls it back.
func (t *connTx) commitWith(ctx context.Context, last []func(*pgx.Batch)) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	b := &pgx.Batch{}
	for _, q := range last {
		q(b)
	}
	committed, err := sendCommit(ctx, t.pgxConn, b)
	if err != nil {
		return err
	}
	t.closed = true
	if !committed {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// sendCommit sends b's statements and COMMIT in one batch on c and reads
// every result: the first error wins (PostgreSQL has then aborted the
// transaction, which the caller rolls back); committed is false when
// COMMIT answered ROLLBACK. InTx's last writes and Pipeline.Commit use it.
func sendCommit(ctx context.Context, c *pgx.Conn, b *pgx.Batch) (committed bool, err error) {
	nb := &pgx.Batch{QueuedQueries: append([]*pgx.QueuedQuery(nil), b.QueuedQueries...)}
	nb.Queue("COMMIT")
	br := c.SendBatch(ctx, nb)
	var tag pgconn.CommandTag
	for i := range nb.QueuedQueries {
		ct, e := br.Exec()
		if e != nil && err == nil {
			err = e
		}
		if i == len(nb.QueuedQueries)-1 {
			tag = ct
		}
	}
	if e := br.Close(); e != nil && err == nil {
		err = e
	}
	return err == nil && tag.String() == "COMMIT", err
}

// Rollback sends ROLLBACK; a closed transaction is left alone.
func (t *connTx) Rollback(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	_, err := t.pgxConn.Exec(ctx, "ROLLBACK")
	t.closed = true
	if err != nil {
		// The connection's state is unknown: the pool must not reuse it.
		_ = t.pgxConn.Close(context.WithoutCancel(ctx))
	}
	return err
}

// LargeObjects is not supported (lunas stores no large objects): the
// value it returns has no transaction to work in.
func (t *connTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Conn is the connection the transaction runs on.
func (t *connTx) Conn() *pgx.Conn { return t.pgxConn }

// savepoint is a transaction nested in a connTx: Commit releases it,
// Rollback rolls back to it.
type savepoint struct {
	*connTx
	name   string
	closed bool
}

func (s *savepoint) Begin(ctx context.Context) (pgx.Tx, error) {
	if s.closed {
		return nil, pgx.ErrTxClosed
	}
	return s.connTx.Begin(ctx)
}

func (s *savepoint) Commit(ctx context.Context) error {
	if s.closed {
		return pgx.ErrTxClosed
	}
	name := s.name
	_, err := s.pgxConn.Exec(ctx, "RELEASE SAVEPOINT "+pgx.Identifier{name}.Sanitize())
	s.closed = true
	return err
}

func (s *savepoint) Rollback(ctx context.Context) error {
	if s.closed {
		return pgx.ErrTxClosed
	}
	name := s.name
	_, err := s.pgxConn.Exec(ctx, "ROLLBACK TO SAVEPOINT "+pgx.Identifier{name}.Sanitize())
	s.closed = true
	return err
}

// sendBatch sends b in tx and reads every result; the first error wins.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	br := tx.SendBatch(ctx, b)
	var first error
	for range b.QueuedQueries {
		if _, err := br.Exec(); err != nil && first == nil {
			first = err
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	return first
}
