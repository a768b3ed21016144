package sending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// WhatsApp is a Fonnte-compatible WhatsApp gateway client
// (LUNAS_WHATSAPP_URL, LUNAS_WHATSAPP_TOKEN): POST a form with target and
// message, header Authorization: <token>; the answer is {"status":true} or
// {"status":false,"reason":…}.
type WhatsApp struct {
	url, token string
	hc         *http.Client
}

// NewWhatsApp returns a client; timeout bounds each call.
func NewWhatsApp(url, token string, timeout time.Duration) *WhatsApp {
	return &WhatsApp{url: url, token: token, hc: &http.Client{Timeout: timeout}}
}

// GatewayError is a message the gateway did not take. Transient ones (no
// answer, 5xx, 429, a disconnected device) are retried.
type GatewayError struct {
	Reason    string
	Transient bool
}

func (e *GatewayError) Error() string { return "whatsapp: " + e.Reason }

// Send sends one message to target (digits, country code first: 62812…).
// nil means the gateway accepted it.
func (w *WhatsApp) Send(ctx context.Context, target, message string) error {
	form := url.Values{"target": {target}, "message": {message}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, strings.NewReader(form.Encode()))
	if err != nil {
		return &GatewayError{Reason: err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", w.token)
	res, err := w.hc.Do(req)
	if err != nil {
		return &GatewayError{Reason: "no answer: " + err.Error(), Transient: true}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
		return &GatewayError{Reason: fmt.Sprintf("HTTP %d", res.StatusCode), Transient: true}
	}
	var ans struct {
		Status bool   `json:"status"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		// A 200 may mean the message went out: never send it twice. Any
		// other unreadable refusal (a proxy's page) is ours to fix, except
		// a request timeout.
		return &GatewayError{Reason: fmt.Sprintf("HTTP %d, unreadable answer", res.StatusCode), Transient: res.StatusCode == http.StatusRequestTimeout}
	}
	if ans.Status {
		return nil
	}
	r := strings.ToLower(ans.Reason)
	transient := strings.Contains(r, "disconnect") || strings.Contains(r, "limit") || strings.Contains(r, "timeout") || strings.Contains(r, "busy")
	return &GatewayError{Reason: firstNonEmpty(ans.Reason, "refused"), Transient: transient}
}

func transient(err error) bool {
	var ge *GatewayError
	return errors.As(err, &ge) && ge.Transient
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
