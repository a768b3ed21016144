package api

import (
	"context"
	"net/http"
	"time"
)

// Every route has a database deadline (LUNAS_DB_DEADLINE, 2 s by default):
// the request's context ends then, so a PostgreSQL that stalls (frozen,
// failing over, out of connections) cannot hold a request, a gateway's
// webhook delivery or a server slot. pgx gives up on the statement and
// closes its connection, which rolls back an open transaction: nothing is
// half-written. The answer is 503 with Retry-After (writeError, writeProblem),
// which gateways retry.

const (
	defaultDBDeadline     = 2 * time.Second
	defaultGatewayTimeout = 20 * time.Second
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

// withDeadline runs h with its context ending after d.
func withDeadline(d time.Duration, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}

// retryAfter is what a 503 asks the client to wait, in seconds.
const retryAfter = "2"
