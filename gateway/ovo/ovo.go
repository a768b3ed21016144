// Package ovo is lunas's adapter for OVO payments through the Xendit
// e-wallet charges API (channel ID_OVO): creating the charge, reading its
// status, and checking and decoding the ewallet.capture callback.
package ovo

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	ID            string            `json:"id"`
	ReferenceID   string            `json:"reference_id"`
	Status        string            `json:"status"`
	Currency      string            `json:"currency"`
	ChargeAmount  *json.Number      `json:"charge_amount"`
	CaptureAmount *json.Number      `json:"capture_amount"`
	ChannelCode   string            `json:"channel_code"`
	FailureCode   *string           `json:"failure_code"`
	ChannelProps  map[string]string `json:"channel_properties"`
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

// Status reads a charge by its Xendit id; lunas keeps it as the attempt's
// gateway_ref, so Status takes the attempt id and looks the charge up by
// reference.
func (c *Client) Status(ctx context.Context, attemptID string) (*gateway.Event, error) {
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := c.do(ctx, http.MethodGet, "/ewallets/charges?reference_id="+attemptID, nil, &list); err != nil {
		return nil, err
	}
	if len(list.Data) == 0 {
		return nil, nil
	}
	raw := list.Data[len(list.Data)-1]
	body, _ := json.Marshal(map[string]any{"event": "ewallet.capture", "data": raw})
	ev, err := Decode(body)
	if err != nil {
		return nil, err
	}
	return &ev, nil
}

// Cancel voids a charge. OVO charges cannot be voided before capture; a
// pending one simply expires at OVO, so there is nothing to call.
func (c *Client) Cancel(ctx context.Context, attemptID string) error { return nil }

// Callback is the ewallet.capture callback body.
type Callback struct {
	Event string `json:"event"`
	Data  Charge `json:"data"`
}

// Verify checks the x-callback-token header in constant time, then decodes
// the body. webhookID (the webhook-id header) becomes the dedupe key when set.
func Verify(token, expected, webhookID string, body []byte) (gateway.Event, error) {
	if expected == "" || subtle.ConstantTimeCompare([]byte(token), []byte(expected)) != 1 {
		return gateway.Event{}, gateway.ErrAuth
	}
	ev, err := Decode(body)
	if err != nil {
		return ev, err
	}
	if webhookID != "" {
		ev.DedupeKey = "ovo:webhook:" + webhookID
	}
	return ev, nil
}

// Decode reads a stored callback into an event.
func Decode(body []byte) (gateway.Event, error) {
	var cb Callback
	if err := json.Unmarshal(body, &cb); err != nil {
		return gateway.Event{}, fmt.Errorf("%w: %v", gateway.ErrMalformed, err)
	}
	d := cb.Data
	if d.ID == "" || d.ReferenceID == "" || d.Status == "" {
		return gateway.Event{}, fmt.Errorf("%w: data.id, data.reference_id and data.status are required", gateway.ErrMalformed)
	}
	ev := gateway.Event{
		Provider: gateway.ProviderOVO, AttemptID: d.ReferenceID, TxID: d.ID, RawStatus: d.Status,
		Currency: d.Currency, Method: d.ChannelCode, Payload: body,
		DedupeKey: "ovo:" + d.ID + ":" + d.Status,
	}
	amt := d.CaptureAmount
	if amt == nil || *amt == "" {
		amt = d.ChargeAmount
	}
	if amt != nil {
		// Exact: a JSON number read as a decimal, never through float64.
		if d, err := decimal.NewFromString(string(*amt)); err == nil && d.IsInteger() && !d.IsNegative() && d.LessThan(decimal.New(1, 15)) {
			ev.Amount, ev.AmountValid = d.IntPart(), true
		}
	}
	if d.FailureCode != nil {
		ev.FailureCode = *d.FailureCode
	}
	switch d.Status {
	case "SUCCEEDED":
		ev.Status = gateway.StatusSucceeded
	case "PENDING":
		ev.Status = gateway.StatusPending
	case "FAILED", "VOIDED":
		ev.Status = gateway.StatusFailed
		if ev.FailureCode == "" {
			ev.FailureCode = d.Status
		}
	default:
		ev.Status = gateway.StatusIgnored
	}
	return ev, nil
}
