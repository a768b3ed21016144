// Package ovo is lunas's adapter for OVO payments through the Xendit
// e-wallet charges API (channel ID_OVO): creating the charge, reading its
// status, and checking and decoding the ewallet.capture callback.
package ovo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas/gateway"
)

// Client calls the Xendit e-wallet API.
type Client struct {
	secretKey string
	baseURL   string
	http      *http.Client
}

// New returns a client for secretKey whose calls go to baseURL.
func New(secretKey, baseURL string, timeout time.Duration) *Client {
	return &Client{secretKey: secretKey, baseURL: strings.TrimRight(baseURL, "/"), http: &http.Client{Timeout: timeout}}
}

// Charge is the part of a Xendit e-wallet charge lunas reads.
type Charge struct {
	ID            string       `json:"id"`
	ReferenceID   string       `json:"reference_id"`
	Status        string       `json:"status"`
	Currency      string       `json:"currency"`
	ChargeAmount  *json.Number `json:"charge_amount"`
	CaptureAmount *json.Number `json:"capture_amount"`
	// RefundedAmount is what was refunded of the charge so far.
	RefundedAmount *json.Number      `json:"refunded_amount"`
	ChannelCode    string            `json:"channel_code"`
	FailureCode    *string           `json:"failure_code"`
	ChannelProps   map[string]string `json:"channel_properties"`
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.secretKey, "")
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return &gateway.RefusedError{Message: "Xendit did not answer: " + err.Error(), Code: "xendit_unreachable", Err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return &gateway.RefusedError{Message: "Xendit answer unreadable", Code: "xendit_unreadable", Err: err}
	}
	if res.StatusCode >= 300 {
		var e struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		if e.Message == "" {
			e.Message = fmt.Sprintf("Xendit answered HTTP %d", res.StatusCode)
		}
		if e.ErrorCode == "" {
			e.ErrorCode = fmt.Sprintf("HTTP_%d", res.StatusCode)
		}
		return &gateway.RefusedError{Message: e.Message, Code: e.ErrorCode}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &gateway.RefusedError{Message: "Xendit answer is not JSON", Code: "xendit_malformed", Err: err}
	}
	return nil
}

// Charge creates an OVO charge; the customer approves it in the OVO app and
// the result arrives as a callback.
func (c *Client) Charge(ctx context.Context, r gateway.ChargeRequest) (gateway.ChargeResult, error) {
	body := map[string]any{
		"reference_id":       r.AttemptID,
		"currency":           "IDR",
		"amount":             r.Amount,
		"checkout_method":    "ONE_TIME_PAYMENT",
		"channel_code":       "ID_OVO",
		"channel_properties": map[string]string{"mobile_number": r.Phone},
		"metadata":           map[string]string{"invoice_number": r.InvoiceNumber},
	}
	var ch Charge
	if err := c.do(ctx, http.MethodPost, "/ewallets/charges", body, &ch); err != nil {
		return gateway.ChargeResult{}, err
	}
	return gateway.ChargeResult{Ref: ch.ID, Details: map[string]any{"phone": r.Phone, "charge_id": ch.ID}}, nil
}

// Status reads a charge (GET /ewallets/charges/{id}) by the id lunas keeps
// as the attempt's gateway reference; before that id is known it falls back
// to listing by reference_id. nil when Xendit knows no such charge. The
// payment package calls it before a callback moves money, and the janitor
// for attempts whose callback never came.
func (c *Client) Status(ctx context.Context, ref gateway.Ref) (*gateway.Event, error) {
	var raw json.RawMessage
	if ref.TxID != "" {
		if err := c.do(ctx, http.MethodGet, "/ewallets/charges/"+url.PathEscape(ref.TxID), nil, &raw); err != nil {
			var r *gateway.RefusedError
			if errors.As(err, &r) && (r.Code == "DATA_NOT_FOUND" || r.Code == "HTTP_404") {
				return nil, nil
			}
			return nil, err
		}
	} else {
		var list struct {
			Data []json.RawMessage `json:"data"`
		}
		if err := c.do(ctx, http.MethodGet, "/ewallets/charges?reference_id="+url.QueryEscape(ref.AttemptID), nil, &list); err != nil {
			return nil, err
		}
		if len(list.Data) == 0 {
			return nil, nil
		}
		raw = list.Data[len(list.Data)-1]
	}
	var ch Charge
	if err := json.Unmarshal(raw, &ch); err != nil || ch.ID == "" || ch.Status == "" {
		return nil, &gateway.RefusedError{Message: "Xendit answered a charge without id or status", Code: "xendit_malformed"}
	}
	ev := chargeEvent("", ch, raw)
	return &ev, nil
}

// Cancel voids a charge. OVO charges cannot be voided before capture; a
// pending one simply expires at OVO, so there is nothing to call. Callers
// that must know it ended (re-pricing) ask Status afterwards.
func (c *Client) Cancel(ctx context.Context, attemptID string) error { return nil }

// Callback is the envelope of every Xendit e-wallet callback.
type Callback struct {
	Event      string          `json:"event"`
	BusinessID string          `json:"business_id"`
	Created    string          `json:"created"`
	Data       json.RawMessage `json:"data"`
}

// Refund is the data of an ewallet.refund callback: it names the charge by
// charge_id and has no reference_id.
type Refund struct {
	ID           string       `json:"id"`
	ChargeID     string       `json:"charge_id"`
	Status       string       `json:"status"`
	Currency     string       `json:"currency"`
	RefundAmount *json.Number `json:"refund_amount"`
	FailureCode  *string      `json:"failure_code"`
}

// Verify checks the x-callback-token header in constant time, then decodes
// the body. The legacy e-wallet callback carries no signature, so nothing
// in it is trusted beyond "Xendit sent it": the worker confirms every
// event with GET /ewallets/charges/{id}.
func Verify(token, expected string, body []byte) (gateway.Event, error) {
	if expected == "" || subtle.ConstantTimeCompare([]byte(token), []byte(expected)) != 1 {
		return gateway.Event{}, gateway.ErrAuth
	}
	return Decode(body)
}

// Decode reads a stored callback into an event. Every envelope with an
// event type decodes: types lunas does not act on become StatusIgnored, so
// the webhook answers 200 and Xendit does not retry them for a day.
func Decode(body []byte) (gateway.Event, error) {
	var cb Callback
	if err := json.Unmarshal(body, &cb); err != nil {
		return gateway.Event{}, gateway.Undecodable(err, "")
	}
	if err := gateway.Required("event", cb.Event, "data", string(cb.Data)); err != nil {
		return gateway.Event{}, err
	}
	switch cb.Event {
	case "ewallet.capture", "ewallet.void":
		var ch Charge
		if err := json.Unmarshal(cb.Data, &ch); err != nil {
			return gateway.Event{}, gateway.Undecodable(err, "data")
		}
		if err := gateway.Required("data.id", ch.ID, "data.reference_id", ch.ReferenceID, "data.status", ch.Status); err != nil {
			return gateway.Event{}, err
		}
		ev := chargeEvent(cb.Event, ch, body)
		return ev, nil
	case "ewallet.refund":
		var rf Refund
		if err := json.Unmarshal(cb.Data, &rf); err != nil {
			return gateway.Event{}, gateway.Undecodable(err, "data")
		}
		if err := gateway.Required("data.id", rf.ID, "data.charge_id", rf.ChargeID, "data.status", rf.Status); err != nil {
			return gateway.Event{}, err
		}
		ev := gateway.Event{Provider: gateway.ProviderOVO, TxID: rf.ChargeID, Type: cb.Event, RawStatus: "REFUND_" + rf.Status,
			Currency: rf.Currency, Payload: body, DedupeKey: "ovo:" + cb.Event + ":" + rf.ID + ":" + rf.Status, Status: gateway.StatusIgnored}
		if rf.Status == "SUCCEEDED" {
			ev.Status, ev.ReversalKind = gateway.StatusRefunded, "refund"
			ev.Refunded, _ = wholeRupiah(rf.RefundAmount)
		}
		return ev, nil
	}
	// A type lunas does not act on: kept, answered 200, changes nothing.
	var meta struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	_ = json.Unmarshal(cb.Data, &meta)
	key := meta.ID + ":" + meta.Status
	if meta.ID == "" {
		sum := sha256.Sum256(body)
		key = hex.EncodeToString(sum[:16])
	}
	return gateway.Event{Provider: gateway.ProviderOVO, Type: cb.Event, RawStatus: cb.Event, Status: gateway.StatusIgnored,
		Payload: body, DedupeKey: "ovo:" + cb.Event + ":" + key}, nil
}

// chargeEvent normalises a charge, from a callback (typ set) or a lookup.
func chargeEvent(typ string, d Charge, body []byte) gateway.Event {
	ev := gateway.Event{
		Provider: gateway.ProviderOVO, AttemptID: d.ReferenceID, TxID: d.ID, Type: typ, RawStatus: d.Status,
		Currency: d.Currency, Method: d.ChannelCode, Payload: body,
	}
	amt := d.CaptureAmount
	if amt == nil || *amt == "" {
		amt = d.ChargeAmount
	}
	ev.Amount, ev.AmountValid = wholeRupiah(amt)
	ev.Refunded, _ = wholeRupiah(d.RefundedAmount)
	if d.FailureCode != nil {
		ev.FailureCode = *d.FailureCode
	}
	switch d.Status {
	case "SUCCEEDED":
		ev.Status = gateway.StatusSucceeded
		if ev.Refunded > 0 {
			ev.Status, ev.ReversalKind = gateway.StatusRefunded, "refund"
		}
	case "REFUNDED":
		ev.Status, ev.ReversalKind = gateway.StatusRefunded, "refund"
		if ev.Refunded == 0 {
			ev.Refunded = ev.Amount
		}
	case "PENDING":
		ev.Status = gateway.StatusPending
	case "FAILED", "VOIDED":
		ev.Status = gateway.StatusFailed
		if ev.FailureCode == "" {
			ev.FailureCode = d.Status
		}
		if d.Status == "VOIDED" {
			ev.ReversalKind = "void" // after SUCCEEDED, the money went back
		}
	default:
		ev.Status = gateway.StatusIgnored
	}
	ev.DedupeKey = fmt.Sprintf("ovo:%s:%s:%s:%d", typ, d.ID, d.Status, ev.Refunded)
	return ev
}

// wholeRupiah reads a JSON number exactly (as a decimal, never through
// float64); ok is false for a missing, fractional or negative amount.
func wholeRupiah(n *json.Number) (int64, bool) {
	if n == nil || *n == "" {
		return 0, false
	}
	d, err := decimal.NewFromString(string(*n))
	if err != nil || !d.IsInteger() || d.IsNegative() || !d.LessThan(decimal.New(1, 15)) {
		return 0, false
	}
	return d.IntPart(), true
}
