package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"

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
// is not kept, so the retry really retries.
func (s *Server) idempotent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			h(w, r)
			return
		}
		if len(key) > 255 {
			writeProblem(w, http.StatusBadRequest, "the request has invalid fields", fieldErr("Idempotency-Key", "must be at most 255 characters"))
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
		pool := s.Orders.Pool()
		ctx := r.Context()
		tag, err := pool.Exec(ctx, `INSERT INTO idempotency_keys (identity, key, request_hash) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`, ident, key, hash)
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
		rec := &recorder{ResponseWriter: w}
		h(rec, r)
		wctx := context.WithoutCancel(ctx)
		if rec.status >= 500 || rec.status == 0 {
			_, _ = pool.Exec(wctx, `DELETE FROM idempotency_keys WHERE identity = $1 AND key = $2`, ident, key)
			return
		}
		if _, err := pool.Exec(wctx, `UPDATE idempotency_keys SET status = $3, response = $4 WHERE identity = $1 AND key = $2`,
			ident, key, rec.status, rec.buf.Bytes()); err != nil {
			s.log.Error("store idempotent response", "err", err)
		}
	}
}
