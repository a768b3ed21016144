// Package midtrans is lunas's adapter for the Midtrans Core API: charges for
// virtual accounts, Mandiri bill, cards, QRIS, GoPay and ShopeePay through
// midtrans-go, status, cancel and refund calls, and the HTTP notification's
// signature check and decoding. The payment package calls it (Charge,
// Status, Cancel) and the webhook handler checks notifications with Verify.
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

// MaxExpiry is the longest gateway expiry Midtrans allows for a QRIS,
// GoPay or ShopeePay charge: 7 days for GoPay and for QRIS through the
// GoPay acquirer, 5 days for ShopeePay and QRIS through ShopeePay's
// (docs.midtrans.com reference/gopay-1 and reference/shopeepay-1). 0 for
// the other methods: lunas sets their expiry to the order's deadline.
func MaxExpiry(method, acquirer string) time.Duration {
	const day = 24 * time.Hour
	switch method {
	case gateway.MethodGoPay:
		return 7 * day
	case gateway.MethodShopeePay:
		return 5 * day
	case gateway.MethodQRIS:
		if acquirer == gateway.AcquirerShopee {
			return 5 * day
		}
		return 7 * day
	}
	return 0
}

// Charge opens a Midtrans transaction for an attempt. VA and bill charges
// expire with the invoice (custom_expiry from now to ExpiresAt); QRIS,
// GoPay and ShopeePay too, unless that is longer than Midtrans allows for
// the method (MaxExpiry): then they expire that long after Now.
func (c *Client) Charge(ctx context.Context, r gateway.ChargeRequest) (gateway.ChargeResult, error) {
	req := &coreapi.ChargeReq{
		TransactionDetails: mt.TransactionDetails{OrderID: r.AttemptID, GrossAmt: r.Amount},
		CustomerDetails:    &mt.CustomerDetails{FName: r.CustomerName, Email: r.CustomerEmail},
		Items:              &[]mt.ItemDetails{{ID: r.InvoiceNumber, Name: "Invoice " + r.InvoiceNumber, Price: r.Amount, Qty: 1}},
	}
	acquirer := ""
	switch r.Method {
	case gateway.MethodCreditCard:
		req.PaymentType = coreapi.PaymentTypeCreditCard
		req.CreditCard = &coreapi.CreditCardDetails{TokenID: r.CardToken, Authentication: true}
	case gateway.MethodMandiriBill:
		req.PaymentType = coreapi.PaymentTypeEChannel
		req.EChannel = &coreapi.EChannelDetail{BillInfo1: "Invoice:", BillInfo2: r.InvoiceNumber}
	case gateway.MethodQRIS:
		var ok bool
		if acquirer, ok = gateway.QRISAcquirer(r.QRISAcquirer); !ok {
			return gateway.ChargeResult{}, fmt.Errorf("midtrans: unknown QRIS acquirer %q (gopay, airpay shopee)", r.QRISAcquirer)
		}
		req.PaymentType = coreapi.PaymentTypeQris
		req.Qris = &coreapi.QrisDetails{Acquirer: acquirer}
	case gateway.MethodGoPay:
		req.PaymentType = coreapi.PaymentTypeGopay
		if r.CallbackURL != "" {
			// Without enable_callback the GoPay app ignores callback_url.
			req.Gopay = &coreapi.GopayDetails{EnableCallback: true, CallbackUrl: r.CallbackURL}
		}
	case gateway.MethodShopeePay:
		req.PaymentType = coreapi.PaymentTypeShopeepay
		// The reference marks the object required, even when it is empty.
		req.ShopeePay = &coreapi.ShopeePayDetails{CallbackUrl: r.CallbackURL}
	default:
		bank, ok := banks[r.Method]
		if !ok {
			return gateway.ChargeResult{}, fmt.Errorf("midtrans: method %q not carried", r.Method)
		}
		req.PaymentType = coreapi.PaymentTypeBankTransfer
		req.BankTransfer = &coreapi.BankTransferDetails{Bank: bank}
	}
	var asked time.Time // when lunas asked the transaction to expire
	if r.Method != gateway.MethodCreditCard {
		req.CustomExpiry, asked = c.expiry(r, acquirer)
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
	if err := ewallet(r.Method, res, out.Details); err != nil {
		return gateway.ChargeResult{}, err
	}
	if !asked.IsZero() {
		out.ExpiresAt = asked.UTC()
		// What Midtrans says wins: it is when the QR or the VA stops working.
		if t, err := time.ParseInLocation(timeLayout, res.ExpiryTime, c.wib); err == nil {
			out.ExpiresAt = t.UTC()
		}
		out.Details["expires_at"] = out.ExpiresAt.Format(time.RFC3339)
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

// timeLayout is Midtrans's timestamp (transaction_time, expiry_time, …),
// in WIB without an offset.
const timeLayout = "2006-01-02 15:04:05"

// expiry is the custom_expiry of a charge and the instant it names: the
// order's deadline, or Now + MaxExpiry when the method allows less.
// order_time is chosen so that order_time + a whole number of minutes is
// exactly that instant (to the second, which is all Midtrans reads).
func (c *Client) expiry(r gateway.ChargeRequest, acquirer string) (*coreapi.CustomExpiry, time.Time) {
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.In(c.wib).Truncate(time.Second)
	end := r.ExpiresAt
	if limit := MaxExpiry(r.Method, acquirer); limit > 0 && (end.IsZero() || end.Sub(now) > limit) {
		end = now.Add(limit)
	}
	minutes := int(end.Sub(now) / time.Minute)
	if minutes < 1 {
		minutes = 1
	}
	start := end.In(c.wib).Add(-time.Duration(minutes) * time.Minute)
	return &coreapi.CustomExpiry{OrderTime: start.Format("2006-01-02 15:04:05 -0700"), ExpiryDuration: minutes, Unit: "minute"},
		end.Truncate(time.Second)
}

// ewallet reads what a QRIS, GoPay or ShopeePay charge answered into
// details, and refuses an answer the payer could not pay from. The action
// URLs are kept: Midtrans hands them out in the charge response only.
func ewallet(method string, res *coreapi.ChargeResponse, details map[string]any) error {
	for _, a := range res.Actions {
		switch a.Name {
		case "deeplink-redirect":
			details["deeplink_url"] = a.URL
		case "generate-qr-code":
			details["qr_image_url"] = a.URL
		}
	}
	if res.QRString != "" {
		details["qr_string"] = res.QRString
	}
	if res.Acquirer != "" {
		details["acquirer"] = res.Acquirer
	}
	var missing string
	switch method {
	case gateway.MethodQRIS:
		if res.QRString == "" {
			missing = "qr_string"
		}
	case gateway.MethodGoPay:
		if details["deeplink_url"] == nil && details["qr_image_url"] == nil {
			missing = "deeplink-redirect and generate-qr-code actions"
		}
	case gateway.MethodShopeePay:
		if details["deeplink_url"] == nil {
			missing = "deeplink-redirect action"
		}
	}
	if missing != "" {
		return &gateway.RefusedError{Message: fmt.Sprintf("Midtrans opened the %s charge %s without its %s", method, res.TransactionID, missing),
			Code: "midtrans_incomplete"}
	}
	return nil
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

// Refund asks Midtrans to give back amount of a settled attempt (POST
// /v2/{order_id}/refund; 0: all of it) under key, which names the refund so
// that Midtrans can tell a retry from a second refund. lunas learns of the
// refund from Midtrans's notification, confirmed by Status like any other.
// A refusal is a *gateway.RefusedError in Midtrans's words: a transaction
// not settled (412), an amount it will not take back (414; ShopeePay and
// OVO refund only the whole amount). Nothing in lunas calls it yet:
// refunds are made in the Midtrans dashboard.
func (c *Client) Refund(ctx context.Context, attemptID, key string, amount int64, reason string) error {
	res, merr := c.sdk(ctx).RefundTransaction(attemptID, &coreapi.RefundReq{RefundKey: key, Amount: amount, Reason: reason})
	if merr != nil {
		return refused(merr)
	}
	// A direct refund the bank denies comes back 202 with the transaction
	// still settled.
	if res.StatusCode != "200" && res.StatusCode != "201" {
		return &gateway.RefusedError{Message: res.StatusMessage, Code: "midtrans_" + res.StatusCode}
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
	Acquirer          string `json:"acquirer"` // QRIS
	Issuer            string `json:"issuer"`   // QRIS, once paid
	// Refunds and chargebacks: refund_amount is the cumulative amount
	// (reference/get-transaction-status), refunds[] every one so far.
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
		return gateway.Event{}, gateway.Undecodable(err, "")
	}
	if err := gateway.Required("order_id", n.OrderID, "status_code", n.StatusCode, "gross_amount", n.GrossAmount,
		"signature_key", n.SignatureKey); err != nil {
		return gateway.Event{}, err
	}
	want := Signature(n.OrderID, n.StatusCode, n.GrossAmount, serverKey)
	got := strings.ToLower(n.SignatureKey)
	if serverKey == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return gateway.Event{}, gateway.ErrAuth
	}
	if err := gateway.Required("transaction_id", n.TransactionID, "transaction_status", n.TransactionStatus); err != nil {
		return gateway.Event{}, err
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
	status := lower(n.TransactionStatus)
	if want := statusCodes[status]; want != "" && !strings.Contains(want, ","+n.StatusCode+",") {
		ev.Suspect = fmt.Sprintf("status_code %s does not fit transaction_status %s", n.StatusCode, n.TransactionStatus)
	}
	if status == "capture" && lower(n.FraudStatus) == "challenge" && n.StatusCode != "201" {
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
		return n, gateway.Undecodable(err, "")
	}
	if err := gateway.Required("order_id", n.OrderID, "transaction_status", n.TransactionStatus); err != nil {
		return n, err
	}
	return n, nil
}

// lower is how statuses are compared: Midtrans's own samples write one in
// capitals (a ShopeePay "PENDING" in reference/get-transaction-status).
func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// decode maps a notification or status answer to an event. The attempt is
// named by order_id alone: a GoPay charge paid by scanning its QR is
// reported with payment_type qris, and it is still that attempt.
func decode(n Notification, body []byte) gateway.Event {
	ev := gateway.Event{
		Provider: gateway.ProviderMidtrans, AttemptID: n.OrderID, TxID: n.TransactionID,
		RawStatus: n.TransactionStatus, StatusCode: n.StatusCode, Currency: n.Currency, Method: n.PaymentType,
		Acquirer: n.Acquirer, Issuer: n.Issuer, Payload: body,
	}
	ev.Amount, ev.AmountValid = parseAmount(n.GrossAmount)
	status, fraud := lower(n.TransactionStatus), lower(n.FraudStatus)
	switch status {
	case "settlement":
		ev.Status = gateway.StatusSucceeded
		if fraud != "" && fraud != "accept" {
			ev.Status = gateway.StatusChallenge
		}
	case "capture":
		switch fraud {
		case "accept", "":
			ev.Status = gateway.StatusSucceeded
		default:
			ev.Status = gateway.StatusChallenge
		}
	case "pending", "authorize":
		ev.Status = gateway.StatusPending
	case "deny", "cancel", "expire", "failure":
		ev.Status = gateway.StatusFailed
		ev.FailureCode = status
		if status == "deny" || status == "cancel" {
			// After a settlement or capture these take the money back.
			ev.ReversalKind = status
		}
	case "refund", "partial_refund", "chargeback", "partial_chargeback":
		ev.Status = gateway.StatusRefunded
		ev.ReversalKind = strings.TrimPrefix(status, "partial_")
		ev.Refunded = refunded(n)
	default:
		ev.Status = gateway.StatusIgnored
	}
	// The dedupe key is built from what the signature covers (order_id,
	// status_code, gross_amount) plus the few values that tell one real
	// notification of a transaction from the next: a replayed body whose
	// unsigned fields are changed makes at most a handful of rows, each of
	// which the worker confirms with Midtrans before anything moves.
	ev.DedupeKey = fmt.Sprintf("midtrans:%s:%s:%s:%s:%s:%d", n.OrderID, n.StatusCode, n.GrossAmount, status, fraud, ev.Refunded)
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
