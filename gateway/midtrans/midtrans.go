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

// Status asks Midtrans what became of an attempt (GET /v2/{order_id}/status);
// nil when Midtrans does not know it. The payment package calls it before
// any callback moves money, and the janitor calls it for attempts whose
// callback never came.
func (c *Client) Status(ctx context.Context, ref gateway.Ref) (*gateway.Event, error) {
	res, merr := c.sdk(ctx).CheckTransaction(ref.AttemptID)
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
	// Refunds and chargebacks: refund_amount is the latest one's amount,
	// refunds[] every one so far.
	RefundAmount string `json:"refund_amount"`
	Refunds      []struct {
		RefundChargebackID json.Number `json:"refund_chargeback_id"`
		RefundAmount       string      `json:"refund_amount"`
	} `json:"refunds"`
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
	return callback(n, body), nil
}

// DecodeCallback reads a stored notification, as received, into an event;
// the worker decodes inbox rows with it. A status_code that does not fit
// the transaction_status (Midtrans signs the code, not the status) makes
// the event Suspect.
func DecodeCallback(body []byte) (gateway.Event, error) {
	n, err := parse(body)
	if err != nil {
		return gateway.Event{}, err
	}
	return callback(n, body), nil
}

func callback(n Notification, body []byte) gateway.Event {
	ev := decode(n, body)
	if want := statusCodes[n.TransactionStatus]; want != "" && !strings.Contains(want, ","+n.StatusCode+",") {
		ev.Suspect = fmt.Sprintf("status_code %s does not fit transaction_status %s", n.StatusCode, n.TransactionStatus)
	}
	if n.TransactionStatus == "capture" && n.FraudStatus == "challenge" && n.StatusCode != "201" {
		ev.Suspect = fmt.Sprintf("status_code %s does not fit a challenged capture", n.StatusCode)
	}
	return ev
}

// statusCodes are the status_code values Midtrans sends in a notification
// for each transaction_status (docs: status-code page; the reference's
// table 2.4), written ",a,b," for a contains test. Statuses not listed are
// not checked.
var statusCodes = map[string]string{
	"settlement": ",200,", "capture": ",200,201,", "pending": ",201,",
	"deny": ",202,", "expire": ",202,407,", "cancel": ",200,202,",
	"refund": ",200,", "partial_refund": ",200,",
}

// Decode reads a stored notification (or a status or charge response) into
// an event, without checking its signature.
func Decode(body []byte) (gateway.Event, error) {
	n, err := parse(body)
	if err != nil {
		return gateway.Event{}, err
	}
	return decode(n, body), nil
}

// parse reads the fields every decoder needs.
func parse(body []byte) (Notification, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return n, fmt.Errorf("%w: %v", gateway.ErrMalformed, err)
	}
	if n.OrderID == "" || n.TransactionStatus == "" {
		return n, fmt.Errorf("%w: order_id and transaction_status are required", gateway.ErrMalformed)
	}
	return n, nil
}

func decode(n Notification, body []byte) gateway.Event {
	ev := gateway.Event{
		Provider: gateway.ProviderMidtrans, AttemptID: n.OrderID, TxID: n.TransactionID,
		RawStatus: n.TransactionStatus, StatusCode: n.StatusCode, Currency: n.Currency, Method: n.PaymentType, Payload: body,
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
		if n.TransactionStatus == "deny" || n.TransactionStatus == "cancel" {
			// After a settlement or capture these take the money back.
			ev.ReversalKind = n.TransactionStatus
		}
	case "refund", "partial_refund", "chargeback", "partial_chargeback":
		ev.Status = gateway.StatusRefunded
		ev.ReversalKind = strings.TrimPrefix(n.TransactionStatus, "partial_")
		ev.Refunded = refunded(n)
	default:
		ev.Status = gateway.StatusIgnored
	}
	// The dedupe key is built from what the signature covers (order_id,
	// status_code, gross_amount) plus the few values that tell one real
	// notification of a transaction from the next: a replayed body whose
	// unsigned fields are changed makes at most a handful of rows, each of
	// which the worker confirms with Midtrans before anything moves.
	ev.DedupeKey = fmt.Sprintf("midtrans:%s:%s:%s:%s:%s:%d", n.OrderID, n.StatusCode, n.GrossAmount, n.TransactionStatus, n.FraudStatus, ev.Refunded)
	return ev
}

// refunded is the cumulative amount taken back: the sum of refunds[] when
// Midtrans lists them, else refund_amount.
func refunded(n Notification) int64 {
	var total int64
	for _, r := range n.Refunds {
		if a, ok := parseAmount(r.RefundAmount); ok {
			total += a
		}
	}
	if total == 0 {
		total, _ = parseAmount(n.RefundAmount)
	}
	return total
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
