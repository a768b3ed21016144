package api

import (
	"net/http"

	"github.com/lunas-id/lunas/sending"
)

// Bulk sending (API.md "Bulk sending"): finance sends unpaid subscription
// invoices or reminders by mail and WhatsApp, and follows the progress.

func (s *Server) createSending(w http.ResponseWriter, r *http.Request) {
	var in sending.Input
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.Sendings.Submit(r.Context(), callerOf(r).identity, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/sendings/"+p.ID)
	writeJSON(w, http.StatusAccepted, s.sendingView(p))
}

func (s *Server) getSending(w http.ResponseWriter, r *http.Request) {
	p, err := s.Sendings.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.sendingView(p))
}

func (s *Server) sendingView(p *sending.Progress) map[string]any {
	return map[string]any{"id": p.ID, "status": p.Status, "message": p.Message, "business_day": p.Day, "total": p.Total,
		"sent": p.Sent, "failed": p.Failed, "skipped": p.Skipped, "channels": p.Channels, "created_at": s.ts(p.Created)}
}
