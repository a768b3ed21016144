package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/gateway/ovo"
)

// Webhooks: cap the body, check authenticity in constant time before
// anything else, record the raw event with its outbox row in one statement,
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
		writeProblem(w, http.StatusUnauthorized, "authenticity check failed", nil)
		return
	case err != nil:
		s.metrics.webhook(ev.Provider, "malformed", start)
		writeProblem(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	id, err := s.Orders.RecordEvent(r.Context(), ev)
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
	ev, err := ovo.Verify(r.Header.Get("x-callback-token"), s.OVOCallbackToken, r.Header.Get("webhook-id"), body)
	ev.Provider = gateway.ProviderOVO
	s.record(w, r, ev, err, start)
}
