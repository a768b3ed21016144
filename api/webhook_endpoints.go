package api

import (
	"net/http"
	"strconv"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/webhook"
)

// Events to the app (API.md): finance registers endpoints, reads their
// delivery log and retries a delivery by hand.

func (s *Server) endpointView(e webhook.Endpoint) map[string]any {
	v := map[string]any{"id": e.ID, "url": e.URL, "events": e.Events, "description": e.Description, "status": e.Status,
		"disabled_reason": e.DisabledReason, "created_at": s.ts(e.CreatedAt), "updated_at": s.ts(e.UpdatedAt)}
	if e.Secret != "" {
		v["secret"] = e.Secret // only in the answer to POST: shown once
	}
	return v
}

func (s *Server) deliveryView(d webhook.Delivery) map[string]any {
	return map[string]any{"id": d.ID, "event_id": d.EventID, "event_type": d.EventType, "endpoint_id": d.EndpointID,
		"status": d.Status, "attempts": d.Attempts, "next_attempt_at": s.tsp(d.NextAttemptAt), "last_attempt_at": s.tsp(d.LastAttemptAt),
		"last_status_code": d.LastStatus, "last_error": d.LastError, "last_response": d.LastResponse,
		"delivered_at": s.tsp(d.DeliveredAt), "created_at": s.ts(d.CreatedAt)}
}

func (s *Server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	var in webhook.EndpointInput
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.Webhooks.Create(r.Context(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // the answer holds the secret
	writeJSON(w, http.StatusCreated, s.endpointView(e))
}

func (s *Server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) {
	eps, err := s.Webhooks.List(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := make([]map[string]any, len(eps))
	for i, e := range eps {
		data[i] = s.endpointView(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next_cursor": nil})
}

func (s *Server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := s.Webhooks.Delete(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	limit, before, err := idPage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ds, err := s.Webhooks.Deliveries(r.Context(), r.PathValue("id"), before, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := make([]map[string]any, len(ds))
	for i, d := range ds {
		data[i] = s.deliveryView(d)
	}
	var next *string
	if len(ds) == limit {
		c := encodeID(ds[len(ds)-1].ID)
		next = &c
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next_cursor": next})
}

func (s *Server) retryWebhookDelivery(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, lunas.E(lunas.KindNotFound, "webhook delivery %q not found", r.PathValue("id")))
		return
	}
	d, err := s.Webhooks.Retry(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, s.deliveryView(d))
}
