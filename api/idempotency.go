package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/store"
)

// recorder keeps a copy of a response so it can be replayed.
type recorder struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.buf.Write(b)
	return r.ResponseWriter.Write(b)
}

// idempotent makes a creating POST safe to retry with an Idempotency-Key:
// the same key and body get the first answer again; the same key with
// another body gets 409. Keys are scoped to the caller's token. A 5xx answer
// is not kept, so the retry really retries; nor is a 400 (the request was
// refused by validation and did nothing), so the corrected body may reuse
// the key — as Stripe does.
//
// The request that takes a key holds it under a lease (idempotencyLease):
// while it runs, the same key gets 409 "in progress"; when it ends the key
// holds the answer (or is released on a 5xx or a panic); and when it never
// ends (the process was killed) the lease runs out and the next request with
// the same key and body takes the key over.
func (s *Server) idempotent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			h(w, r)
			return
		}
		if len(key) > 255 || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			writeProblem(w, http.StatusBadRequest, "the request has invalid fields", fieldErr("Idempotency-Key", "must be at most 255 printable ASCII characters"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
		hash := hex.EncodeToString(sum[:])
		ident := callerOf(r).identity
		pool := s.Pool
		ctx := r.Context()
		// Take the key: a new one, or one whose holder's lease ran out
		// without an answer (with the same request). The lease and the
		// key's age run on the database's clock: they are about a request
		// crashing in real time, which a test clock moved by days must not
		// fake.
		tag, err := pool.Exec(ctx, `
			INSERT INTO idempotency_keys (identity, key, request_hash, lease_until)
			VALUES ($1, $2, $3, now() + make_interval(secs => $4))
			ON CONFLICT (identity, key) DO UPDATE SET lease_until = EXCLUDED.lease_until, created_at = now()
			WHERE idempotency_keys.status IS NULL AND idempotency_keys.request_hash = EXCLUDED.request_hash
			  AND (idempotency_keys.lease_until IS NULL OR idempotency_keys.lease_until < now())`,
			ident, key, hash, s.idempotencyLease().Seconds())
		if err != nil {
			s.writeError(w, r, store.Unavailable(err))
			return
		}
		if tag.RowsAffected() == 0 {
			var prevHash string
			var status *int
			var resp []byte
			err := pool.QueryRow(ctx, `SELECT request_hash, status, response FROM idempotency_keys WHERE identity = $1 AND key = $2`, ident, key).
				Scan(&prevHash, &status, &resp)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				writeProblem(w, http.StatusConflict, "a request with this Idempotency-Key just failed; retry", nil)
			case err != nil:
				s.writeError(w, r, store.Unavailable(err))
			case prevHash != hash:
				writeProblem(w, http.StatusConflict, "this Idempotency-Key was used with a different request", nil)
			case status == nil:
				w.Header().Set("Retry-After", retryAfter)
				writeProblem(w, http.StatusConflict, "a request with this Idempotency-Key is still in progress", nil)
			default:
				ct := "application/json"
				if *status >= 400 {
					ct = "application/problem+json"
				}
				w.Header().Set("Content-Type", ct)
				w.Header().Set("Idempotent-Replayed", "true")
				w.WriteHeader(*status)
				_, _ = w.Write(resp)
			}
			return
		}
		// The outcome is written even when the client has gone, but within
		// a deadline of its own: a stalled database must not hold the
		// request (the lease covers what is not written).
		finish := func(write func(ctx context.Context) error) {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.dbDeadline())
			defer cancel()
			if err := write(wctx); err != nil {
				s.log.Error("idempotency key not updated; its lease will free it", "err", err)
			}
		}
		release := func() {
			finish(func(ctx context.Context) error {
				_, err := pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE identity = $1 AND key = $2 AND status IS NULL`, ident, key)
				return err
			})
		}
		rec := &recorder{ResponseWriter: w}
		completed := false
		defer func() {
			if !completed {
				release() // the handler panicked: free the key now
			}
		}()
		h(rec, r)
		completed = true
		if rec.status >= 500 || rec.status == 0 || rec.status == http.StatusBadRequest {
			release()
			return
		}
		finish(func(ctx context.Context) error {
			_, err := pool.Exec(ctx, `UPDATE idempotency_keys SET status = $3, response = $4, lease_until = NULL WHERE identity = $1 AND key = $2`,
				ident, key, rec.status, rec.buf.Bytes())
			return err
		})
	}
}

// idempotencyLease is how long a request holds its key: longer than any
// request may run (the gateway deadline), with room to spare.
func (s *Server) idempotencyLease() time.Duration {
	return 2 * s.gatewayDeadline()
}
