package api

import (
	"context"
	"net/http"
	"time"
)

// Every route has a database deadline (LUNAS_DB_DEADLINE, 2 s by default)
// that tells a stalled PostgreSQL (frozen, failing over, unreachable) from
// a busy one. When it passes and the server has answered no statement of
// the pool for half of it, the request's context ends: pgx gives up
// on the statement and closes its connection, which rolls back an open
// transaction, and the answer is 503 with Retry-After (writeError), which
// gateways and clients retry. When the server is still answering other
// statements, the request is waiting its turn — for a row lock another
// confirm holds, or for a pooled connection in a burst — and that is not
// an outage: the deadline moves on by half of it at a time, while the
// answers keep coming, up to maxWait (or 10 deadlines, when longer).

const (
	defaultDBDeadline     = 2 * time.Second
	defaultGatewayTimeout = 20 * time.Second
	// maxWait bounds how long a request may wait on a server that keeps
	// answering others (a lock held by a transaction that never ends).
	maxWait = 30 * time.Second
)

// dbDeadline is the deadline of a request that only does database work.
func (s *Server) dbDeadline() time.Duration {
	if s.DBDeadline > 0 {
		return s.DBDeadline
	}
	return defaultDBDeadline
}

// gatewayDeadline is the deadline of a request that also calls a payment
// gateway (starting a payment): the database's share plus the gateway's.
func (s *Server) gatewayDeadline() time.Duration {
	gw := s.GatewayTimeout
	if gw <= 0 {
		gw = defaultGatewayTimeout
	}
	return 2*s.dbDeadline() + gw
}

// withDeadline runs h with its context ending after d unless the database
// is still answering (see above).
func (s *Server) withDeadline(d time.Duration, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, stop := s.deadlineContext(r.Context(), d)
		defer stop()
		h(w, r.WithContext(ctx))
	}
}

// deadlineContext returns a context that ends with DeadlineExceeded d after
// now, or later while the database keeps answering (s.Liveness).
func (s *Server) deadlineContext(parent context.Context, d time.Duration) (context.Context, func()) {
	if s.Liveness == nil {
		return context.WithTimeout(parent, d)
	}
	ctx, cancel := context.WithCancelCause(parent)
	start := time.Now()
	step, limit := d/2, max(maxWait, 10*d)
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if now.Sub(s.Liveness.LastAnswer()) < step && now.Sub(start)+step <= limit {
					t.Reset(step) // busy, not stalled: wait on
					continue
				}
				cancel(context.DeadlineExceeded)
				return
			}
		}
	}()
	return deadlineCtx{ctx}, func() { cancel(context.Canceled) }
}

// deadlineCtx reports a deadline that deadlineContext enforced as
// context.DeadlineExceeded (to pgx, to writeError and to contexts derived
// from it), like context.WithTimeout does.
type deadlineCtx struct{ context.Context }

func (c deadlineCtx) Err() error {
	err := c.Context.Err()
	if err != nil && context.Cause(c.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}

// retryAfter is what a 503 asks the client to wait, in seconds.
const retryAfter = "2"
