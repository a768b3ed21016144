package api

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/usage"
	"github.com/lunas-id/lunas/whatsapp"
)

// WhatsApp billing by message (API.md "Billing by message"): rate cards,
// and Meta's status webhooks — capped at whatsapp.MaxBody (Meta batches up
// to 1,000 statuses, ~3 MB), verified in constant time before parsing,
// parsed only to refuse a malformed body (Meta retries a 400), recorded in
// the inbox with its rating job, answered. The worker rates.

const providerWhatsApp = "whatsapp"

func (s *Server) webhookWhatsApp(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, whatsapp.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.metrics.webhook(providerWhatsApp, "too_large", start)
			writeProblem(w, http.StatusRequestEntityTooLarge, "body is larger than 4 MiB", nil)
			return
		}
		s.metrics.webhook(providerWhatsApp, "unreadable", start)
		writeProblem(w, http.StatusBadRequest, "could not read body", nil)
		return
	}
	if !whatsapp.Verify([]byte(s.WAAppSecret), body, r.Header.Get("X-Hub-Signature-256")) {
		s.metrics.webhook(providerWhatsApp, "unauthorized", start)
		if n, ok := s.refused.allow(providerWhatsApp, time.Now()); ok {
			s.log.Warn("webhook refused: authenticity check failed", "provider", providerWhatsApp, "remote", r.RemoteAddr, "refused_since_last_line", n)
		}
		writeProblem(w, http.StatusUnauthorized, "authenticity check failed", nil)
		return
	}
	if _, err := whatsapp.Parse(body); err != nil {
		s.metrics.webhook(providerWhatsApp, "malformed", start)
		writeProblem(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	id, err := s.Usage.RecordStatuses(r.Context(), body)
	if err != nil {
		s.metrics.webhook(providerWhatsApp, "unavailable", start)
		s.log.Error("webhook not recorded", "provider", providerWhatsApp, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, "the event could not be recorded; retry later", nil)
		return
	}
	s.metrics.webhook(providerWhatsApp, "recorded", start)
	s.log.Info("webhook received", "provider", providerWhatsApp, "inbox_id", id, "latency_ms", time.Since(start).Milliseconds())
	writeJSON(w, http.StatusOK, map[string]string{"status": "recorded"})
}

// whatsappHandshake answers Meta's subscription check with the challenge,
// as plain text, when the verify token matches.
func (s *Server) whatsappHandshake(w http.ResponseWriter, r *http.Request) {
	challenge, ok := whatsapp.Handshake(r.URL.Query(), s.WAVerifyToken)
	if !ok || s.WAVerifyToken == "" {
		writeProblem(w, http.StatusForbidden, "the verify token does not match", nil)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, challenge)
}

func (s *Server) putRateCard(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body is larger than 1 MiB", nil)
		return
	}
	c, created, err := s.Usage.PutCard(r.Context(), r.PathValue("card_id"), body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, s.cardView(c))
}

func (s *Server) listRateCards(w http.ResponseWriter, r *http.Request) {
	cs, err := s.Usage.Cards(r.Context(), r.URL.Query().Get("price_list"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		out[i] = s.cardView(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "next_cursor": nil})
}

// listFlaggedStatuses lists the WhatsApp statuses kept but charged to no
// one (unknown phone-number id) or not priced by any card, for finance.
func (s *Server) listFlaggedStatuses(w http.ResponseWriter, r *http.Request) {
	flag := r.URL.Query().Get("flag")
	if flag != "" && !slices.Contains(usage.Flags(), flag) {
		s.writeError(w, r, &lunas.ValidationError{Fields: fieldErr("flag", "must be one of "+strings.Join(usage.Flags(), ", "))})
		return
	}
	limit, before, err := idPage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sts, err := s.Usage.FlaggedStatuses(r.Context(), flag, before, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]map[string]any, len(sts))
	for i, x := range sts {
		out[i] = map[string]any{"message_id": x.MessageID, "status": x.Status, "phone_number_id": x.PhoneNumberID, "account_id": x.AccountID,
			"recipient_id": x.RecipientID, "timestamp": s.ts(x.At), "pricing_type": x.PricingType, "category": x.Category, "flag": x.Flag}
	}
	var next *string
	if len(sts) == limit {
		c := encodeID(sts[len(sts)-1].Seq)
		next = &c
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "next_cursor": next})
}

func (s *Server) cardView(c usage.StoredCard) map[string]any {
	return map[string]any{"id": c.ID, "price_list": c.PriceList, "effective_from": s.ts(c.EffectiveFrom), "model": c.Model,
		"rates": c.Rates, "free": c.Free, "priced": c.Priced, "created_at": s.ts(c.CreatedAt), "updated_at": s.ts(c.UpdatedAt)}
}
