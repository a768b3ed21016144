// Package ovotest is a fake Xendit e-wallet API for OVO (channel ID_OVO),
// for tests and local demos: it takes charges and, on demand, sends
// ewallet.capture callbacks with the x-callback-token header to lunas.
package ovotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Charge is a charge the fake took.
type Charge struct {
	ID          string            `json:"id"`
	ReferenceID string            `json:"reference_id"`
	Status      string            `json:"status"`
	Currency    string            `json:"currency"`
	Amount      int64             `json:"charge_amount"`
	ChannelCode string            `json:"channel_code"`
	Props       map[string]string `json:"channel_properties"`
	FailureCode *string           `json:"failure_code"`
	Refunded    int64             `json:"refunded_amount"`
}

// Server is the fake Xendit.
type Server struct {
	SecretKey     string
	CallbackToken string
	CallbackURL   string
	Client        *http.Client

	mu      sync.Mutex
	charges map[string]*Charge // by reference_id
	lookups int
}

// Lookups counts GET charge calls (the confirmations lunas made).
func (s *Server) Lookups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

// New returns a fake Xendit.
func New(secretKey, callbackToken string) *Server {
	return &Server{SecretKey: secretKey, CallbackToken: callbackToken, charges: map[string]*Charge{}, Client: &http.Client{Timeout: 10 * time.Second}}
}

// Charge returns the charge for an attempt (reference id).
func (s *Server) Charge(ref string) (Charge, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.charges[ref]
	if !ok {
		return Charge{}, false
	}
	return *c, true
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_test/ovo/notify/") && r.Method == "POST" {
		ref := strings.TrimPrefix(r.URL.Path, "/_test/ovo/notify/")
		q := r.URL.Query()
		status := q.Get("status")
		if status == "" {
			status = "SUCCEEDED"
		}
		if err := s.Notify(r.Context(), ref, status, q.Get("failure_code"), 1); err != nil {
			writeJSON(w, 502, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, map[string]string{"sent": status})
		return
	}
	if strings.HasPrefix(r.URL.Path, "/_test/ovo/refund/") && r.Method == "POST" {
		ref := strings.TrimPrefix(r.URL.Path, "/_test/ovo/refund/")
		var amount int64
		_, _ = fmt.Sscan(r.URL.Query().Get("amount"), &amount)
		body, err := s.RefundCallback(ref, amount)
		if err == nil {
			err = s.deliver(r.Context(), body, 1)
		}
		if err != nil {
			writeJSON(w, 502, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, map[string]string{"sent": "ewallet.refund"})
		return
	}
	if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(s.SecretKey+":")) {
		writeJSON(w, 401, map[string]string{"error_code": "INVALID_API_KEY", "message": "API key is invalid"})
		return
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/ewallets/charges":
		var req struct {
			ReferenceID string            `json:"reference_id"`
			Currency    string            `json:"currency"`
			Amount      json.Number       `json:"amount"`
			ChannelCode string            `json:"channel_code"`
			Props       map[string]string `json:"channel_properties"`
		}
		d := json.NewDecoder(r.Body)
		d.UseNumber()
		if err := d.Decode(&req); err != nil {
			writeJSON(w, 400, map[string]string{"error_code": "API_VALIDATION_ERROR", "message": "malformed JSON"})
			return
		}
		amt, err := req.Amount.Int64()
		phone := req.Props["mobile_number"]
		switch {
		case err != nil || amt < 100 || amt > 20_000_000:
			writeJSON(w, 400, map[string]string{"error_code": "API_VALIDATION_ERROR", "message": "amount must be between 100 and 20000000"})
			return
		case req.ChannelCode != "ID_OVO" || !strings.HasPrefix(phone, "+628"):
			writeJSON(w, 400, map[string]string{"error_code": "API_VALIDATION_ERROR", "message": "channel_properties.mobile_number must be +628…"})
			return
		case amt == 10100:
			writeJSON(w, 403, map[string]string{"error_code": "CHANNEL_NOT_ACTIVATED", "message": "Payment channel is not activated"})
			return
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		c := &Charge{ID: "ewc_" + hex.EncodeToString(b), ReferenceID: req.ReferenceID, Status: "PENDING", Currency: req.Currency,
			Amount: amt, ChannelCode: req.ChannelCode, Props: req.Props}
		s.mu.Lock()
		s.charges[req.ReferenceID] = c
		s.mu.Unlock()
		writeJSON(w, 202, s.data(c))
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/ewallets/charges/"):
		id := strings.TrimPrefix(r.URL.Path, "/ewallets/charges/")
		s.mu.Lock()
		s.lookups++
		var found map[string]any
		for _, c := range s.charges {
			if c.ID == id {
				found = s.data(c)
			}
		}
		s.mu.Unlock()
		if found == nil {
			writeJSON(w, 404, map[string]string{"error_code": "DATA_NOT_FOUND", "message": "Charge not found"})
			return
		}
		writeJSON(w, 200, found)
	case r.Method == "GET" && r.URL.Path == "/ewallets/charges":
		ref := r.URL.Query().Get("reference_id")
		out := []map[string]any{}
		s.mu.Lock()
		if c, ok := s.charges[ref]; ok {
			out = append(out, s.data(c))
		}
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"data": out, "has_more": false})
	default:
		writeJSON(w, 404, map[string]string{"error_code": "NOT_FOUND", "message": "not found"})
	}
}

func (s *Server) data(c *Charge) map[string]any {
	var capture, refunded any
	if c.Status == "SUCCEEDED" || c.Status == "REFUNDED" || c.Status == "VOIDED" {
		capture = c.Amount
	}
	if c.Refunded > 0 {
		refunded = c.Refunded
	}
	return map[string]any{"id": c.ID, "business_id": "5f218745736e619164dc8608", "reference_id": c.ReferenceID, "status": c.Status,
		"currency": c.Currency, "charge_amount": c.Amount, "capture_amount": capture, "refunded_amount": refunded,
		"checkout_method": "ONE_TIME_PAYMENT", "channel_code": c.ChannelCode, "channel_properties": c.Props, "actions": nil,
		"is_redirect_required": false, "failure_code": c.FailureCode, "capture_now": true,
		"created": time.Now().UTC().Format(time.RFC3339Nano), "updated": time.Now().UTC().Format(time.RFC3339Nano)}
}

// Callback moves the charge to status and returns its callback body:
// ewallet.void for VOIDED, ewallet.capture otherwise.
func (s *Server) Callback(ref, status, failureCode string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.charges[ref]
	if !ok {
		return nil, fmt.Errorf("ovotest: no charge for %q", ref)
	}
	c.Status = status
	if failureCode != "" {
		c.FailureCode = &failureCode
	}
	event := "ewallet.capture"
	if status == "VOIDED" {
		event = "ewallet.void"
	}
	return s.envelope(event, s.data(c))
}

// Stale returns a callback for the charge with status without changing the
// charge: a forged or out-of-order body that lunas must confirm.
func (s *Server) Stale(ref, status string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.charges[ref]
	if !ok {
		return nil, fmt.Errorf("ovotest: no charge for %q", ref)
	}
	cp := *c
	cp.Status = status
	return s.envelope("ewallet.capture", s.data(&cp))
}

// RefundCallback refunds amount (all of it when 0) of a succeeded charge
// and returns the ewallet.refund callback, whose data is the refund object:
// it names the charge by charge_id and carries no reference_id.
func (s *Server) RefundCallback(ref string, amount int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.charges[ref]
	if !ok {
		return nil, fmt.Errorf("ovotest: no charge for %q", ref)
	}
	if amount == 0 {
		amount = c.Amount - c.Refunded
	}
	if (c.Status != "SUCCEEDED" && c.Status != "REFUNDED") || amount <= 0 || c.Refunded+amount > c.Amount {
		return nil, fmt.Errorf("ovotest: cannot refund %d of %s (%s, refunded %d)", amount, ref, c.Status, c.Refunded)
	}
	c.Refunded += amount
	if c.Refunded == c.Amount {
		c.Status = "REFUNDED"
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	return s.envelope("ewallet.refund", map[string]any{"id": "ewr_" + hex.EncodeToString(b), "charge_id": c.ID,
		"status": "SUCCEEDED", "currency": c.Currency, "channel_code": c.ChannelCode, "capture_amount": c.Amount,
		"refund_amount": amount, "failure_code": nil, "reason": "REQUESTED_BY_CUSTOMER", "refund_amount_type": map[bool]string{true: "FULL", false: "PARTIAL"}[amount == c.Amount],
		"created": now, "updated": now})
}

func (s *Server) envelope(event string, data any) ([]byte, error) {
	return json.Marshal(map[string]any{"event": event, "business_id": "5f218745736e619164dc8608",
		"created": time.Now().UTC().Format(time.RFC3339Nano), "data": data})
}

// Send posts a callback body with token and webhookID; it returns lunas's HTTP status.
func (s *Server) Send(ctx context.Context, body []byte, token, webhookID string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", s.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("x-callback-token", token)
	}
	if webhookID != "" {
		req.Header.Set("webhook-id", webhookID)
	}
	res, err := s.Client.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// Notify sets the charge's status and delivers the callback times times,
// with one webhook-id for all of them (they are the same event).
func (s *Server) Notify(ctx context.Context, ref, status, failureCode string, times int) error {
	body, err := s.Callback(ref, status, failureCode)
	if err != nil {
		return err
	}
	return s.deliver(ctx, body, times)
}

// deliver sends body times times with one webhook-id (the same event).
func (s *Server) deliver(ctx context.Context, body []byte, times int) error {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	for i := 0; i < max(times, 1); i++ {
		code, err := s.Send(ctx, body, s.CallbackToken, id)
		if err != nil {
			return err
		}
		if code/100 != 2 {
			return fmt.Errorf("ovotest: lunas answered %d", code)
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
