// Package midtrans is lunas's adapter for the Midtrans Core API: charges for
// virtual accounts, Mandiri bill and cards through midtrans-go, status and
// cancel calls, and the HTTP notification's signature check and decoding.
//
// midtrans-go keeps package globals, logs the server key in sandbox mode and
// ignores contexts; this package builds a coreapi.Client per call with its
// logger silenced and an http.Client whose transport aims every request at
// MIDTRANS_BASE_URL and carries the caller's context and a real timeout.
package midtrans

import (
	"context"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	mt "github.com/midtrans/midtrans-go"
	"github.com/midtrans/midtrans-go/coreapi"

	"github.com/lunas-id/lunas/gateway"
)

// Client calls the Midtrans Core API.
type Client struct {
	serverKey string
	env       mt.EnvironmentType
	base      *url.URL
	timeout   time.Duration
	transport http.RoundTripper
	wib       *time.Location
}

// New returns a client for serverKey whose calls go to baseURL.
func New(serverKey, environment, baseURL string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("midtrans: bad base URL %q", baseURL)
	}
	env := mt.Sandbox
	if environment == "production" {
		env = mt.Production
	}
	return &Client{serverKey: serverKey, env: env, base: u, timeout: timeout,
		transport: http.DefaultTransport, wib: time.FixedZone("WIB", 7*3600)}, nil
}

// rewrite sends each request to the configured base with the caller's context.
type rewrite struct {
	ctx  context.Context
	base *url.URL
	next http.RoundTripper
}

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(r.ctx)
	req.URL.Scheme, req.URL.Host, req.Host = r.base.Scheme, r.base.Host, r.base.Host
	req.URL.Path = strings.TrimRight(r.base.Path, "/") + req.URL.Path
	return r.next.RoundTrip(req)
}

// sdk builds a coreapi client for one call.
func (c *Client) sdk(ctx context.Context) *coreapi.Client {
	var cl coreapi.Client
	cl.New(c.serverKey, c.env)
	cl.HttpClient = &mt.HttpClientImplementation{
		HttpClient: &http.Client{Timeout: c.timeout, Transport: rewrite{ctx: ctx, base: c.base, next: c.transport}},
		Logger:     &mt.LoggerImplementation{LogLevel: mt.NoLogging},
	}
	return &cl
}

// refused turns an SDK error into a gateway refusal with Midtrans's message.
func refused(e *mt.Error) error {
	msg := e.GetMessage()
	if r := e.GetRawApiResponse(); r != nil {
		var body struct {
			StatusMessage      string   `json:"status_message"`
			ValidationMessages []string `json:"validation_messages"`
		}
		if json.Unmarshal(r.RawBody, &body) == nil && body.StatusMessage != "" {
			msg = body.StatusMessage
			if len(body.ValidationMessages) > 0 {
				msg += ": " + strings.Join(body.ValidationMessages, "; ")
			}
		}
	}
	if e.StatusCode == 0 || e.StatusCode == 408 {
		msg = "Midtrans did not answer: " + firstLine(msg)
	}
	return &gateway.RefusedError{Message: msg, Code: "midtrans_" + strconv.Itoa(e.StatusCode), Err: e}
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

var banks = map[string]mt.Bank{
	gateway.MethodBCAVA: mt.BankBca, gateway.MethodBNIVA: mt.BankBni, gateway.MethodBRIVA: mt.BankBri,
	gateway.MethodCIMBVA: mt.BankCimb, gateway.MethodPermataVA: mt.BankPermata,
}

// Charge opens a Midtrans transaction for an attempt. VA and bill charges
// expire with the invoice (custom_expiry from now to ExpiresAt).
func (c *Client) Charge(ctx context.Context, r gateway.ChargeRequest) (gateway.ChargeResult, error) {
	req := &coreapi.ChargeReq{
		TransactionDetails: mt.TransactionDetails{OrderID: r.AttemptID, GrossAmt: r.Amount},
		CustomerDetails:    &mt.CustomerDetails{FName: r.CustomerName, Email: r.CustomerEmail},
		Items:              &[]mt.ItemDetails{{ID: r.InvoiceNumber, Name: "Invoice " + r.InvoiceNumber, Price: r.Amount, Qty: 1}},
	}
	switch r.Method {
	case gateway.MethodCreditCard:
		req.PaymentType = coreapi.PaymentTypeCreditCard
		req.CreditCard = &coreapi.CreditCardDetails{TokenID: r.CardToken, Authentication: true}
	case gateway.MethodMandiriBill:
		req.PaymentType = coreapi.PaymentTypeEChannel
		req.EChannel = &coreapi.EChannelDetail{BillInfo1: "Invoice:", BillInfo2: r.InvoiceNumber}
	default:
		bank, ok := banks[r.Method]
		if !ok {
			return gateway.ChargeResult{}, fmt.Errorf("midtrans: method %q not carried", r.Method)
		}
		req.PaymentType = coreapi.PaymentTypeBankTransfer
		req.BankTransfer = &coreapi.BankTransferDetails{Bank: bank}
	}
	if r.Method != gateway.MethodCreditCard {
		now := time.Now().In(c.wib).Truncate(time.Second)
		minutes := int(r.ExpiresAt.Sub(now) / time.Minute)
		if minutes < 1 {
			minutes = 1
		}
		// order_time is chosen so that order_time + duration is exactly the deadline.
		start := r.ExpiresAt.In(c.wib).Add(-time.Duration(minutes) * time.Minute)
		req.CustomExpiry = &coreapi.CustomExpiry{OrderTime: start.Format("2006-01-02 15:04:05 -0700"), ExpiryDuration: minutes, Unit: "minute"}
	}
	res, merr := c.sdk(ctx).ChargeTransaction(req)
	if merr != nil {
		return gateway.ChargeResult{}, refused(merr)
	}
	if res.StatusCode != "" && res.StatusCode != "200" && res.StatusCode != "201" {
		return gateway.ChargeResult{}, &gateway.RefusedError{Message: res.StatusMessage, Code: "midtrans_" + res.StatusCode}
	}
	out := gateway.ChargeResult{Ref: res.TransactionID, Details: map[string]any{}}
	switch {
	case len(res.VaNumbers) > 0:
		out.Details["bank"], out.Details["va_number"] = res.VaNumbers[0].Bank, res.VaNumbers[0].VANumber
	case res.PermataVaNumber != "":
		out.Details["bank"], out.Details["va_number"] = "permata", res.PermataVaNumber
	case res.BillKey != "":
		out.Details["biller_code"], out.Details["bill_key"] = res.BillerCode, res.BillKey
	}
	if res.RedirectURL != "" {
		out.Details["redirect_url"] = res.RedirectURL
	}
	if r.Method == gateway.MethodCreditCard && res.TransactionStatus != "" && res.TransactionStatus != "pending" {
		// Captured (or denied) at once, no 3-D Secure: the response is the event.
		body, _ := json.Marshal(res)
		ev, err := Decode(body)
		if err == nil {
			out.Event = &ev
		}
	}
	return out, nil
}

// Status asks Midtrans what became of an attempt.
func (c *Client) Status(ctx context.Context, attemptID string) (*gateway.Event, error) {
	res, merr := c.sdk(ctx).CheckTransaction(attemptID)
	if merr != nil {
		if merr.StatusCode == 404 {
			return nil, nil
		}
		return nil, refused(merr)
	}
	body, _ := json.Marshal(res)
	ev, err := Decode(body)
	if err != nil {
		return nil, err
	}
	return &ev, nil
}

// Cancel voids an open Midtrans transaction. One that cannot be cancelled
// any more (412, 404) needs nothing further.
func (c *Client) Cancel(ctx context.Context, attemptID string) error {
	_, merr := c.sdk(ctx).CancelTransaction(attemptID)
	if merr != nil && merr.StatusCode != 412 && merr.StatusCode != 404 && merr.StatusCode != 407 {
		return refused(merr)
	}
	return nil
}

// Notification is the part of a Midtrans HTTP notification lunas reads;
// other fields are kept in the raw payload.
type Notification struct {
	OrderID           string `json:"order_id"`
	StatusCode        string `json:"status_code"`
	GrossAmount       string `json:"gross_amount"`
	SignatureKey      string `json:"signature_key"`
	TransactionID     string `json:"transaction_id"`
	TransactionStatus string `json:"transaction_status"`
	FraudStatus       string `json:"fraud_status"`
	Currency          string `json:"currency"`
	PaymentType       string `json:"payment_type"`
}

// Signature is Midtrans's notification signature:
// hex(SHA-512(order_id + status_code + gross_amount + server key)).
func Signature(orderID, statusCode, grossAmount, serverKey string) string {
	h := sha512.New()
	h.Write([]byte(orderID))
	h.Write([]byte(statusCode))
	h.Write([]byte(grossAmount))
	h.Write([]byte(serverKey))
	return hex.EncodeToString(h.Sum(nil))
}

// Verify parses a notification body just enough to check its signature, in
// constant time, before anything else is done with it. It returns
// gateway.ErrMalformed for a body that is not a notification and
// gateway.ErrAuth for a wrong signature or an unset server key.
func Verify(body []byte, serverKey string) (gateway.Event, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return gateway.Event{}, fmt.Errorf("%w: %v", gateway.ErrMalformed, err)
	}
	if n.OrderID == "" || n.StatusCode == "" || n.GrossAmount == "" || n.SignatureKey == "" {
		return gateway.Event{}, fmt.Errorf("%w: order_id, status_code, gross_amount and signature_key are required", gateway.ErrMalformed)
	}
	want := Signature(n.OrderID, n.StatusCode, n.GrossAmount, serverKey)
	got := strings.ToLower(n.SignatureKey)
	if serverKey == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return gateway.Event{}, gateway.ErrAuth
	}
	if n.TransactionID == "" || n.TransactionStatus == "" {
		return gateway.Event{}, fmt.Errorf("%w: transaction_id and transaction_status are required", gateway.ErrMalformed)
	}
	return decode(n, body), nil
}

// Decode reads a stored notification (or a status or charge response) into
// an event, without checking its signature.
func Decode(body []byte) (gateway.Event, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return gateway.Event{}, fmt.Errorf("%w: %v", gateway.ErrMalformed, err)
	}
	if n.OrderID == "" || n.TransactionStatus == "" {
		return gateway.Event{}, fmt.Errorf("%w: order_id and transaction_status are required", gateway.ErrMalformed)
	}
	return decode(n, body), nil
}

func decode(n Notification, body []byte) gateway.Event {
	ev := gateway.Event{
		Provider: gateway.ProviderMidtrans, AttemptID: n.OrderID, TxID: n.TransactionID,
		RawStatus: n.TransactionStatus, Currency: n.Currency, Method: n.PaymentType, Payload: body,
		DedupeKey: "midtrans:" + n.TransactionID + ":" + n.TransactionStatus + ":" + n.FraudStatus,
	}
	if n.TransactionID == "" {
		ev.DedupeKey = "midtrans:" + n.OrderID + ":" + n.TransactionStatus + ":" + n.FraudStatus
	}
	ev.Amount, ev.AmountValid = parseAmount(n.GrossAmount)
	switch n.TransactionStatus {
	case "settlement":
		ev.Status = gateway.StatusSucceeded
		if n.FraudStatus != "" && n.FraudStatus != "accept" {
			ev.Status = gateway.StatusChallenge
		}
	case "capture":
		switch n.FraudStatus {
		case "accept", "":
			ev.Status = gateway.StatusSucceeded
		default:
			ev.Status = gateway.StatusChallenge
		}
	case "pending", "authorize":
		ev.Status = gateway.StatusPending
	case "deny", "cancel", "expire", "failure":
		ev.Status = gateway.StatusFailed
		ev.FailureCode = n.TransactionStatus
	default:
		ev.Status = gateway.StatusIgnored
	}
	return ev
}

// parseAmount reads Midtrans's "150000.00" as whole rupiah; anything with
// non-zero decimals or not a number is not valid.
func parseAmount(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if strings.Trim(frac, "0") != "" || whole == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
