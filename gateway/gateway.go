// Package gateway defines what lunas needs from a payment gateway and the
// normalised form of a gateway callback. The adapters live in
// gateway/midtrans (virtual accounts, Mandiri bill, cards, QRIS, GoPay,
// ShopeePay) and gateway/ovo (OVO through the Xendit e-wallet API).
package gateway

import (
	"cmp"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"
)

// Payment methods of the public API.
const (
	MethodBCAVA          = "bca_va"
	MethodBNIVA          = "bni_va"
	MethodBRIVA          = "bri_va"
	MethodCIMBVA         = "cimb_va"
	MethodPermataVA      = "permata_va"
	MethodMandiriBill    = "mandiri_bill"
	MethodCreditCard     = "credit_card"
	MethodOVO            = "ovo"
	MethodManualTransfer = "manual_transfer"
	// The QR and e-wallet methods of the Midtrans Core API: a QRIS code any
	// QRIS app pays, and the GoPay and ShopeePay apps opened by a deeplink
	// (GoPay also shows a QR).
	MethodQRIS      = "qris"
	MethodGoPay     = "gopay"
	MethodShopeePay = "shopeepay"
)

// QRIS acquirers Midtrans can route a QRIS charge through (its
// qris.acquirer; the acquirer's name is echoed in every answer).
const (
	AcquirerGoPay  = "gopay"
	AcquirerShopee = "airpay shopee"
)

// QRISAcquirer reads a configured acquirer (LUNAS_QRIS_ACQUIRER): "" is
// Midtrans's own default, gopay; anything but gopay and airpay shopee is
// not ok.
func QRISAcquirer(s string) (string, bool) {
	switch strings.ToLower(strings.Join(strings.Fields(s), " ")) {
	case "", AcquirerGoPay:
		return AcquirerGoPay, true
	case AcquirerShopee:
		return AcquirerShopee, true
	}
	return "", false
}

// Providers.
const (
	ProviderMidtrans = "midtrans"
	ProviderOVO      = "ovo"
	ProviderManual   = "manual"
)

// ProviderFor names the provider that carries method, or "" for an unknown method.
func ProviderFor(method string) string {
	switch method {
	case MethodBCAVA, MethodBNIVA, MethodBRIVA, MethodCIMBVA, MethodPermataVA, MethodMandiriBill, MethodCreditCard,
		MethodQRIS, MethodGoPay, MethodShopeePay:
		return ProviderMidtrans
	case MethodOVO:
		return ProviderOVO
	case MethodManualTransfer:
		return ProviderManual
	}
	return ""
}

// ChargeRequest asks a gateway to open a payment for one attempt.
type ChargeRequest struct {
	AttemptID     string // our reference; the gateway's order_id / reference_id
	InvoiceNumber string
	Method        string
	Amount        int64 // whole rupiah, fee included
	// ExpiresAt is the order's deadline: VA and bill expire with it; QRIS,
	// GoPay and ShopeePay never outlast it, and expire sooner when their
	// gateway allows less (ChargeResult.ExpiresAt says when).
	ExpiresAt time.Time
	// Now is when the attempt opened, on the caller's clock; the gateway
	// expiry is counted from it. Zero: the wall clock.
	Now           time.Time
	CardToken     string
	Phone         string // +628… for OVO
	CustomerName  string
	CustomerEmail string
	// CallbackURL is where the GoPay or ShopeePay app sends the payer back
	// after paying (the pay page). Midtrans appends order_id and result to
	// it for GoPay, so it must not carry a result parameter of its own;
	// empty: the Finish URL of the Midtrans dashboard.
	CallbackURL string
	// QRISAcquirer routes a QRIS charge: AcquirerGoPay (also for "") or
	// AcquirerShopee (LUNAS_QRIS_ACQUIRER, read with QRISAcquirer).
	QRISAcquirer string
}

// ChargeResult is what the gateway answered.
type ChargeResult struct {
	Ref string // the gateway's transaction id
	// Details are kept on the attempt: bank, va_number, biller_code,
	// bill_key, redirect_url; qr_string (QRIS), deeplink_url (GoPay,
	// ShopeePay), qr_image_url (the gateway's PNG of the QR: GoPay, QRIS),
	// acquirer (QRIS), expires_at (RFC 3339, UTC).
	Details map[string]any
	// ExpiresAt is when the gateway transaction expires, as the gateway
	// said or else as lunas asked: the order's deadline, or sooner when the
	// method allows less (QRIS, GoPay, ShopeePay). Zero for a card.
	ExpiresAt time.Time
	// Event is set when the charge response itself settles or fails the
	// attempt (a card captured without 3-D Secure); it is recorded in the
	// inbox like a callback, under the same dedupe key.
	Event *Event
}

// Status is what an event means for an attempt.
type Status string

const (
	StatusSucceeded Status = "succeeded" // money received
	StatusPending   Status = "pending"   // nothing yet
	StatusChallenge Status = "challenge" // card held by fraud detection: credit nothing
	StatusFailed    Status = "failed"    // deny, cancel, expire, failure; OVO FAILED, VOIDED
	StatusRefunded  Status = "refunded"  // money came and (some of) it was taken back: refund, chargeback
	StatusIgnored   Status = "ignored"   // a status or event type lunas does not act on
)

// Event is a verified gateway callback, or a gateway's answer to a status
// lookup, in normalised form. A callback is only a hint: the payment
// package asks the gateway (Lookup) and acts on the answer.
type Event struct {
	Provider    string
	DedupeKey   string // unique per provider event, built from signed or identifying fields
	AttemptID   string // our reference (Midtrans order_id, Xendit reference_id); empty when the event names only TxID
	TxID        string // the gateway's transaction id (Xendit charge id)
	Type        string // the envelope's event type (Xendit: ewallet.capture, ewallet.void, ewallet.refund)
	RawStatus   string // as the gateway said it
	StatusCode  string // Midtrans status_code, which its signature covers
	Status      Status
	Amount      int64 // whole rupiah; AmountValid false when not a whole number
	AmountValid bool
	Currency    string
	FailureCode string
	Method      string // payment_type or channel code; a GoPay charge paid by scanning its QR says qris
	// Acquirer and Issuer name who took a QRIS payment and the app it was
	// paid from (Midtrans acquirer, issuer: gopay, dana, ovo, airpay
	// shopee, …); empty for other methods and before payment.
	Acquirer string
	Issuer   string
	// Refunded is the gateway's cumulative total taken back of the
	// transaction (refunds and chargebacks), whole rupiah.
	Refunded int64
	// ReversalKind names what took money back: refund, chargeback, deny,
	// cancel, void.
	ReversalKind string
	// Suspect says why a callback contradicts itself (a Midtrans
	// status_code that does not fit its transaction_status): it is recorded
	// and flagged, never acted on.
	Suspect string
	Payload []byte // raw body as received
}

// Ref names a transaction at its gateway: our attempt id and, once known,
// the gateway's own id (Xendit looks charges up by theirs).
type Ref struct {
	AttemptID string
	TxID      string
}

// Errors returned by callback parsers; the webhook handler maps them to
// 401 and 400.
var (
	ErrAuth      = errors.New("gateway: authenticity check failed")
	ErrMalformed = errors.New("gateway: malformed callback")
)

// MalformedError is a callback body that is not what its gateway sends:
// which fields are at fault and what is wrong with them, in words fit to
// answer the sender with (never a Go type or a decoder's message). It is
// ErrMalformed.
type MalformedError struct {
	Fields  []string // JSON paths: order_id, data.status; "body" when it is not JSON
	Message string   // what is wrong with each: "is required", "must be a string"
}

func (e *MalformedError) Error() string {
	return "gateway: malformed callback: " + strings.Join(e.Fields, ", ") + " " + e.Message
}

// Is makes errors.Is(err, ErrMalformed) hold.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// Required is the MalformedError naming the required fields that are empty,
// or nil when none is. pairs is name, value, name, value, …
func Required(pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			missing = append(missing, pairs[i])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &MalformedError{Fields: missing, Message: "is required"}
}

// Undecodable is the MalformedError for a JSON decoding error of the body
// (or of the part of it under prefix, e.g. "data"): the field whose value
// has the wrong type, or the body when it is not JSON.
func Undecodable(err error, prefix string) error {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		field := ute.Field
		if prefix != "" {
			field = strings.TrimSuffix(prefix+"."+field, ".")
		}
		if field == "" {
			field = "body"
		}
		return &MalformedError{Fields: []string{field}, Message: "must be " + jsonKind(ute.Type.Kind())}
	}
	return &MalformedError{Fields: []string{cmp.Or(prefix, "body")}, Message: "must be a JSON object"}
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16,
		reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "an object"
}

// RefusedError is a gateway's refusal of a call (HTTP 4xx/5xx, an error
// status in the body, a timeout). Message is the gateway's own words, shown
// to the client in a 502 problem.
type RefusedError struct {
	Message string
	Code    string
	Err     error
}

func (e *RefusedError) Error() string { return "gateway refused: " + e.Message }
func (e *RefusedError) Unwrap() error { return e.Err }
