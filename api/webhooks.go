package api

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/gateway/ovo"
)

// Webhooks: cap the body, check authenticity in constant time before
// anything else, record the raw event with its outbox row in one transaction,
// answer. Everything heavy happens in the worker.

func (s *Server) readWebhook(w http.ResponseWriter, r *http.Request, provider string, start time.Time) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.metrics.webhook(provider, "too_large", start)
			writeProblem(w, http.StatusRequestEntityTooLarge, "body is larger than 1 MiB", nil)
			return nil, false
		}
		s.metrics.webhook(provider, "unreadable", start)
		writeProblem(w, http.StatusBadRequest, "could not read body", nil)
		return nil, false
	}
	return body, true
}

func (s *Server) record(w http.ResponseWriter, r *http.Request, ev gateway.Event, err error, start time.Time) {
	switch {
	case errors.Is(err, gateway.ErrAuth):
		s.metrics.webhook(ev.Provider, "unauthorized", start)
		// Rate-limited: a flood of forgeries must not flood the log.
		if n, ok := s.refused.allow(ev.Provider, time.Now()); ok {
			s.log.Warn("webhook refused: authenticity check failed", "provider", ev.Provider, "remote", r.RemoteAddr,
				"refused_since_last_line", n)
		}
		writeProblem(w, http.StatusUnauthorized, "authenticity check failed", nil)
		return
	case err != nil:
		s.metrics.webhook(ev.Provider, "malformed", start)
		// Rate-limited like forgeries: anyone can post 600 bad bodies.
		if n, ok := s.refused.allow(ev.Provider+" malformed", time.Now()); ok {
			s.log.Warn("webhook malformed", "provider", ev.Provider, "remote", r.RemoteAddr, "err", err.Error(),
				"malformed_since_last_line", n)
		}
		// The parsers' own words (gateway.MalformedError) name the fields;
		// anything else is answered without its text.
		var fields []lunas.FieldError
		var me *gateway.MalformedError
		if errors.As(err, &me) {
			for _, f := range me.Fields {
				fields = append(fields, lunas.FieldError{Field: f, Message: me.Message})
			}
		}
		writeProblem(w, http.StatusBadRequest, "the notification is malformed", fields)
		return
	}
	id, err := s.Payments.RecordEvent(r.Context(), ev)
	if err != nil {
		s.metrics.webhook(ev.Provider, "unavailable", start)
		s.log.Error("webhook not recorded", "provider", ev.Provider, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "the event could not be recorded; retry later", nil)
		return
	}
	outcome := "recorded"
	if id == 0 {
		outcome = "duplicate"
	}
	s.metrics.webhook(ev.Provider, outcome, start)
	s.log.Info("webhook received", "provider", ev.Provider, "event_id", id, "attempt_id", firstNonEmpty(ev.AttemptID, ev.TxID),
		"status", ev.RawStatus, "outcome", outcome, "latency_ms", time.Since(start).Milliseconds())
	writeJSON(w, http.StatusOK, map[string]string{"status": outcome})
}

func (s *Server) webhookMidtrans(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, ok := s.readWebhook(w, r, gateway.ProviderMidtrans, start)
	if !ok {
		return
	}
	ev, err := midtrans.Verify(body, s.MidtransKey)
	ev.Provider = gateway.ProviderMidtrans
	s.record(w, r, ev, err, start)
}

func (s *Server) webhookOVO(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, ok := s.readWebhook(w, r, gateway.ProviderOVO, start)
	if !ok {
		return
	}
	ev, err := ovo.Verify(r.Header.Get("x-callback-token"), s.OVOCallbackToken, body)
	ev.Provider = gateway.ProviderOVO
	s.record(w, r, ev, err, start)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// limiter lets one log line through per key per interval and counts what
// it held back, so an operator sees "refused 5,000 since the last line"
// rather than 5,000 lines.
type limiter struct {
	mu    sync.Mutex
	every time.Duration
	last  map[string]time.Time
	held  map[string]int
}

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, last: map[string]time.Time{}, held: map[string]int{}}
}

// allow reports whether a line for key may be written now, and how many
// were held back before it.
func (l *limiter) allow(key string, now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last[key]) < l.every {
		l.held[key]++
		return 0, false
	}
	n := l.held[key]
	l.last[key], l.held[key] = now, 0
	return n, true
}
