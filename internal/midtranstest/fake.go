// Package midtranstest is a fake Midtrans Core API for tests and local
// demos: charge, status, cancel, expire and refund, with signed HTTP
// notifications sent to lunas on demand — duplicated or out of order when
// asked — and switchable faults (HTTP 500, timeouts) on charges and status
// checks. It speaks virtual accounts, Mandiri bill, cards, and QRIS, GoPay
// and ShopeePay: their QR payloads, QR images, deeplinks, the wallet app a
// deeplink opens (a page with a Pay button), and helpers that play the
// payer scanning a QR (Scan) or approving in the app (Approve).
//
// Every test of the payment path, cmd/fakegw and `make run` use it.
package midtranstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/qr"
)

// Fault makes the fake misbehave on purpose.
type Fault string

const (
	FaultNone    Fault = ""
	Fault500     Fault = "500"
	FaultTimeout Fault = "timeout" // hang until the client gives up
)

// Tx is a transaction the fake knows.
type Tx struct {
	OrderID       string `json:"order_id"`
	TransactionID string `json:"transaction_id"`
	// PaymentType is what Midtrans reports: as charged, except for a GoPay
	// charge paid by scanning its QR, which is reported as qris.
	PaymentType string         `json:"payment_type"`
	ChargeType  string         `json:"charge_type"` // payment_type as charged
	GrossAmount int64          `json:"gross_amount"`
	Status      string         `json:"transaction_status"`
	FraudStatus string         `json:"fraud_status"`
	Bank        string         `json:"bank,omitempty"`
	VANumber    string         `json:"va_number,omitempty"`
	BillKey     string         `json:"bill_key,omitempty"`
	BillerCode  string         `json:"biller_code,omitempty"`
	Acquirer    string         `json:"acquirer,omitempty"`     // QRIS, and a GoPay charge paid by QR
	Issuer      string         `json:"issuer,omitempty"`       // the QRIS app that paid
	QRString    string         `json:"qr_string,omitempty"`    // the payload of the QR (QRIS; GoPay's, shown only as an image)
	Deeplink    string         `json:"deeplink_url,omitempty"` // GoPay, ShopeePay: the wallet app's page
	CallbackURL string         `json:"callback_url,omitempty"` // where the wallet app sends the payer back
	PaymentRef  string         `json:"payment_ref,omitempty"`  // the wallet's reference, once paid
	Refunds     []Refund       `json:"refunds,omitempty"`
	TxTime      time.Time      `json:"-"`
	ExpiryTime  time.Time      `json:"-"`
	Request     map[string]any `json:"request"`
}

// Refund is one refund or chargeback of a transaction, as Midtrans lists
// them in refunds[].
type Refund struct {
	ID        int    `json:"refund_chargeback_id"`
	Amount    int64  `json:"-"`
	Key       string `json:"refund_key"`
	CreatedAt string `json:"created_at"`
}

// Server is the fake. Set NotifyURL before asking for notifications.
type Server struct {
	ServerKey string
	NotifyURL string
	Client    *http.Client

	mu          sync.Mutex
	txs         map[string]*Tx
	chargeFault Fault
	statusFault Fault
	charges     int
	statusCalls int
	cancels     []string
	wib         *time.Location
}

// New returns a fake that checks requests against serverKey.
func New(serverKey string) *Server {
	return &Server{ServerKey: serverKey, txs: map[string]*Tx{}, wib: time.FixedZone("WIB", 7*3600),
		Client: &http.Client{Timeout: 10 * time.Second}}
}

// SetFaults switches faults on charges and status checks.
func (s *Server) SetFaults(charge, status Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chargeFault, s.statusFault = charge, status
}

// Tx returns a copy of the transaction for orderID.
func (s *Server) Tx(orderID string) (Tx, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.txs[orderID]
	if !ok {
		return Tx{}, false
	}
	return *t, true
}

// find returns the transaction that id names: its order_id or, as Midtrans
// also accepts, its transaction_id (the action URLs use that).
func (s *Server) find(id string) (Tx, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.lookup(id)
	if !ok {
		return Tx{}, false
	}
	return *t, true
}

// lookup is find under s.mu.
func (s *Server) lookup(id string) (*Tx, bool) {
	if t, ok := s.txs[id]; ok {
		return t, true
	}
	for _, t := range s.txs {
		if t.TransactionID == id {
			return t, true
		}
	}
	return nil, false
}

// Counts reports how many charges and status checks arrived, and which ids were cancelled.
func (s *Server) Counts() (charges, status int, cancels []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.charges, s.statusCalls, append([]string(nil), s.cancels...)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	if len(parts) >= 2 && parts[0] == "_test" {
		s.testHook(w, r, parts[1:])
		return
	}
	if r.Method == "GET" && path == cardScriptPath {
		// Midtrans's card-tokenizing script is public (a page loads it).
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = io.WriteString(w, cardScript)
		return
	}
	if r.Method == "GET" && parts[len(parts)-1] == "qr-code" {
		// The QR image URLs of the charge actions are hot-linked by pages
		// (an <img src>): no key.
		s.qrImage(w, r, parts)
		return
	}
	if !s.authorised(r) {
		writeJSON(w, 401, map[string]string{"status_code": "401", "status_message": "Access denied due to unauthorized transaction, please check client or server key"})
		return
	}
	switch {
	case r.Method == "POST" && path == "v2/charge":
		s.charge(w, r)
	case r.Method == "GET" && len(parts) == 3 && parts[0] == "v2" && parts[2] == "status":
		s.status(w, r, parts[1])
	case r.Method == "POST" && len(parts) == 3 && parts[0] == "v2" && (parts[2] == "cancel" || parts[2] == "expire"):
		s.end(w, parts[1], parts[2])
	case r.Method == "POST" && len(parts) == 3 && parts[0] == "v2" && parts[2] == "refund":
		var req struct {
			Amount    int64  `json:"amount"`
			RefundKey string `json:"refund_key"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		tx, ok := s.find(parts[1])
		if !ok {
			writeJSON(w, 404, map[string]string{"status_code": "404", "status_message": "Transaction doesn't exist."})
			return
		}
		if req.Amount == 0 {
			req.Amount = tx.GrossAmount
		}
		body, err := s.refund(tx.OrderID, req.Amount, "refund", req.RefundKey)
		if err != nil {
			code := "412"
			var ref *refusal
			if errors.As(err, &ref) {
				code = ref.code
			}
			writeJSON(w, 200, map[string]string{"status_code": code, "status_message": err.Error()})
			return
		}
		// The answer is the transaction's state, as in reference/refund-transaction.
		var resp map[string]any
		_ = json.Unmarshal(body, &resp)
		tx, _ = s.find(tx.OrderID)
		last := tx.Refunds[len(tx.Refunds)-1]
		delete(resp, "signature_key")
		resp["status_message"], resp["refund_chargeback_id"], resp["refund_key"] = "Success, refund request is approved", last.ID, last.Key
		resp["refund_amount"] = strconv.FormatInt(last.Amount, 10) + ".00"
		writeJSON(w, 200, resp)
	default:
		writeJSON(w, 404, map[string]string{"status_code": "404", "status_message": "not found"})
	}
}

func (s *Server) authorised(r *http.Request) bool {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.ServerKey+":"))
	return r.Header.Get("Authorization") == want
}

func (s *Server) fault(f Fault, w http.ResponseWriter, r *http.Request) bool {
	switch f {
	case Fault500:
		writeJSON(w, 500, map[string]string{"status_code": "500", "status_message": "Sorry, an unexpected error occurred"})
		return true
	case FaultTimeout:
		select {
		case <-r.Context().Done():
		case <-time.After(60 * time.Second):
		}
		return true
	}
	return false
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

func (s *Server) charge(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.charges++
	f := s.chargeFault
	s.mu.Unlock()
	if s.fault(f, w, r) {
		return
	}
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, map[string]string{"status_code": "400", "status_message": "malformed JSON"})
		return
	}
	td, _ := req["transaction_details"].(map[string]any)
	orderID, _ := td["order_id"].(string)
	gross, isNum := td["gross_amount"].(float64)
	if orderID == "" || !isNum || gross != float64(int64(gross)) || gross <= 0 {
		invalid(w, "transaction_details.gross_amount must be an integer")
		return
	}
	now := time.Now().In(s.wib)
	tx := &Tx{OrderID: orderID, TransactionID: randHex(4) + "-" + randHex(2) + "-" + randHex(2) + "-" + randHex(2) + "-" + randHex(6),
		PaymentType: fmt.Sprint(req["payment_type"]), GrossAmount: int64(gross), Status: "pending", FraudStatus: "accept",
		TxTime: now, ExpiryTime: now.Add(24 * time.Hour), Request: req}
	tx.ChargeType = tx.PaymentType
	wallet, isWallet := walletOf(tx.PaymentType)
	if isWallet {
		// QRIS, GoPay and ShopeePay live 15 minutes unless told otherwise.
		tx.ExpiryTime = now.Add(15 * time.Minute)
	}
	if ce, ok := req["custom_expiry"].(map[string]any); ok {
		start, err := time.Parse("2006-01-02 15:04:05 -0700", fmt.Sprint(ce["order_time"]))
		if ce["order_time"] == nil {
			// Without order_time Midtrans counts from the transaction time.
			start, err = now, nil
		}
		dur, _ := ce["expiry_duration"].(float64)
		unit := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[fmt.Sprint(ce["unit"])]
		if unit == 0 {
			unit = time.Minute
		}
		d := time.Duration(dur) * unit
		if isWallet {
			limit := wallet.maxExpiry
			if q, _ := req["qris"].(map[string]any); q != nil && q["acquirer"] == "airpay shopee" {
				limit = 5 * 24 * time.Hour
			}
			// The limits are documented; the answer to a request past them is
			// not (a 400 validation error is presumed).
			if d > limit || d < 20*time.Second {
				invalid(w, fmt.Sprintf("custom_expiry.expiry_duration must be between 20 seconds and %d days for %s", limit/(24*time.Hour), tx.PaymentType))
				return
			}
		}
		if err == nil {
			tx.ExpiryTime = start.Add(d).In(s.wib)
		}
	}
	if isWallet && tx.GrossAmount > wallet.maxAmount {
		invalid(w, fmt.Sprintf("transaction_details.gross_amount must be at most %d for %s", wallet.maxAmount, tx.PaymentType))
		return
	}
	resp := map[string]any{"status_code": "201", "transaction_status": "pending", "fraud_status": "accept"}
	base := "http://" + r.Host
	if r.TLS != nil {
		base = "https://" + r.Host
	}
	switch tx.PaymentType {
	case "bank_transfer":
		bt, _ := req["bank_transfer"].(map[string]any)
		tx.Bank, tx.VANumber = fmt.Sprint(bt["bank"]), randDigits(11)
		resp["status_message"] = "Success, Bank Transfer transaction is created"
		if tx.Bank == "permata" {
			resp["permata_va_number"] = tx.VANumber
		} else {
			resp["va_numbers"] = []map[string]string{{"bank": tx.Bank, "va_number": tx.VANumber}}
		}
	case "echannel":
		tx.BillerCode, tx.BillKey = "70012", randDigits(12)
		resp["status_message"], resp["biller_code"], resp["bill_key"] = "OK, Mandiri Bill transaction is successful", tx.BillerCode, tx.BillKey
	case "credit_card":
		cc, _ := req["credit_card"].(map[string]any)
		switch fmt.Sprint(cc["token_id"]) {
		case "tok-capture":
			tx.Status = "capture"
			resp["status_code"], resp["transaction_status"], resp["status_message"] = "200", "capture", "Success, Credit Card transaction is successful"
		case "tok-refuse":
			writeJSON(w, 200, map[string]any{"status_code": "411", "status_message": "Token id is missing, invalid, or timed out"})
			return
		default:
			resp["status_message"] = "Success, Credit Card transaction is created"
			resp["redirect_url"] = "http://127.0.0.1/fake-3ds/" + tx.TransactionID
		}
	case "qris":
		q, _ := req["qris"].(map[string]any)
		tx.Acquirer, _ = q["acquirer"].(string)
		if tx.Acquirer == "" {
			tx.Acquirer = "gopay" // Midtrans's default
		}
		if tx.Acquirer != "gopay" && tx.Acquirer != "airpay shopee" {
			invalid(w, "qris.acquirer must be one of gopay, airpay shopee")
			return
		}
		tx.QRString = QRISPayload(tx.Acquirer, tx.GrossAmount, tx.TransactionID)
		resp["status_message"], resp["acquirer"], resp["qr_string"] = "QRIS transaction is created", tx.Acquirer, tx.QRString
		resp["actions"] = []map[string]any{
			{"name": "generate-qr-code", "method": "GET", "url": base + "/v2/qris/" + tx.TransactionID + "/qr-code"},
			{"name": "generate-qr-code-v2", "method": "GET", "url": base + "/v4/qris/" + slug(tx.Acquirer) + "/" + tx.TransactionID + "/qr-code"},
		}
	case "gopay":
		g, _ := req["gopay"].(map[string]any)
		if on, _ := g["enable_callback"].(bool); on {
			tx.CallbackURL, _ = g["callback_url"].(string)
		}
		// A GoPay QR is a QRIS code (acquirer gopay); only its image is handed out.
		tx.QRString = QRISPayload("gopay", tx.GrossAmount, tx.TransactionID)
		tx.Deeplink = base + "/_test/app/" + url.PathEscape(tx.OrderID)
		resp["status_message"], resp["channel_response_code"], resp["channel_response_message"] = "GoPay transaction is created", "200", "Success"
		resp["actions"] = []map[string]any{
			{"name": "generate-qr-code", "method": "GET", "url": base + "/v2/gopay/" + tx.TransactionID + "/qr-code"},
			{"name": "generate-qr-code-v2", "method": "GET", "url": base + "/v4/qris/gopay/" + tx.TransactionID + "/qr-code"},
			{"name": "deeplink-redirect", "method": "GET", "url": tx.Deeplink},
			{"name": "get-status", "method": "GET", "url": base + "/v2/" + tx.TransactionID + "/status"},
			{"name": "cancel", "method": "POST", "url": base + "/v2/" + tx.TransactionID + "/cancel", "fields": []string{}},
		}
	case "shopeepay":
		sp, _ := req["shopeepay"].(map[string]any)
		tx.CallbackURL, _ = sp["callback_url"].(string)
		tx.Deeplink = base + "/_test/app/" + url.PathEscape(tx.OrderID)
		resp["status_message"], resp["channel_response_code"], resp["channel_response_message"] = "ShopeePay transaction is created", "0", "success"
		resp["actions"] = []map[string]any{{"name": "deeplink-redirect", "method": "GET", "url": tx.Deeplink}}
	default:
		writeJSON(w, 200, map[string]any{"status_code": "402", "status_message": "Payment type is not activated"})
		return
	}
	s.mu.Lock()
	if _, dup := s.txs[orderID]; dup {
		s.mu.Unlock()
		writeJSON(w, 200, map[string]string{"status_code": "406", "status_message": "The request could not be processed due to duplicate order_id"})
		return
	}
	s.txs[orderID] = tx
	s.mu.Unlock()
	for k, v := range s.body(tx, resp["status_code"].(string)) {
		if _, set := resp[k]; !set && k != "signature_key" {
			resp[k] = v
		}
	}
	writeJSON(w, 200, resp)
}

// wallet is what Midtrans allows a QRIS, GoPay or ShopeePay charge: the
// longest custom_expiry (GoPay and QRIS through GoPay 7 days, ShopeePay and
// QRIS through ShopeePay 5) and the largest amount (QRIS Rp10.000.000, the
// apps Rp20.000.000 for a verified user). Sources: docs.midtrans.com
// reference/gopay-1, reference/shopeepay-1 and the FAQ on minimum and
// maximum amounts.
type wallet struct {
	maxExpiry time.Duration
	maxAmount int64
}

func walletOf(paymentType string) (wallet, bool) {
	const day = 24 * time.Hour
	switch paymentType {
	case "qris":
		return wallet{7 * day, 10_000_000}, true
	case "gopay":
		return wallet{7 * day, 20_000_000}, true
	case "shopeepay":
		return wallet{5 * day, 20_000_000}, true
	}
	return wallet{}, false
}

// invalid answers a request Midtrans validates and refuses.
func invalid(w http.ResponseWriter, msg string) {
	writeJSON(w, 400, map[string]any{"status_code": "400", "status_message": "One or more parameters in the payload is invalid.",
		"validation_messages": []string{msg}})
}

// slug is an acquirer as a URL path segment.
func slug(acquirer string) string {
	if acquirer == "airpay shopee" {
		return "shopeepay"
	}
	return acquirer
}

// body is the notification / status body of tx with statusCode, signed.
func (s *Server) body(tx *Tx, statusCode string) map[string]any {
	gross := strconv.FormatInt(tx.GrossAmount, 10) + ".00"
	b := map[string]any{
		"transaction_time": tx.TxTime.Format("2006-01-02 15:04:05"), "transaction_status": tx.Status, "transaction_id": tx.TransactionID,
		"status_message": "midtrans payment notification", "status_code": statusCode, "payment_type": tx.PaymentType,
		"order_id": tx.OrderID, "merchant_id": "G000FAKE", "gross_amount": gross, "fraud_status": tx.FraudStatus, "currency": "IDR",
		"expiry_time":   tx.ExpiryTime.Format("2006-01-02 15:04:05"),
		"signature_key": midtrans.Signature(tx.OrderID, statusCode, gross, s.ServerKey),
	}
	if tx.VANumber != "" {
		if tx.Bank == "permata" {
			b["permata_va_number"] = tx.VANumber
		} else {
			b["va_numbers"] = []map[string]string{{"va_number": tx.VANumber, "bank": tx.Bank}}
		}
	}
	if tx.BillKey != "" {
		b["biller_code"], b["bill_key"] = tx.BillerCode, tx.BillKey
	}
	if tx.Status == "settlement" {
		b["settlement_time"] = time.Now().In(s.wib).Format("2006-01-02 15:04:05")
		if tx.PaymentType == "bank_transfer" {
			b["payment_amounts"] = []map[string]string{{"paid_at": b["settlement_time"].(string), "amount": gross}}
		}
	}
	s.walletFields(tx, b)
	if len(tx.Refunds) > 0 {
		var rs []map[string]any
		for _, r := range tx.Refunds {
			rs = append(rs, map[string]any{"refund_chargeback_id": r.ID, "refund_amount": strconv.FormatInt(r.Amount, 10) + ".00",
				"created_at": r.CreatedAt, "reason": "fake refund", "refund_key": r.Key, "refund_method": ""})
		}
		b["refunds"] = rs
		b["refund_amount"] = strconv.FormatInt(tx.Refunds[len(tx.Refunds)-1].Amount, 10) + ".00"
	}
	return b
}

// walletFields adds what QRIS, GoPay and ShopeePay notifications and status
// answers carry (docs.midtrans.com reference/qris, reference/gopay-1,
// reference/shopeepay-1; the research notes' real payloads).
func (s *Server) walletFields(tx *Tx, b map[string]any) {
	paid := tx.PaymentRef != "" // set when the payer paid: settled, or refunded since
	switch tx.PaymentType {
	case "qris":
		b["acquirer"] = tx.Acquirer
		if tx.Issuer != "" {
			b["issuer"] = tx.Issuer
			b["transaction_type"] = "off-us"
			if tx.Issuer == tx.Acquirer {
				b["transaction_type"] = "on-us"
			}
		}
		if paid && tx.Acquirer == "gopay" {
			b["merchant_cross_reference_id"] = tx.PaymentRef
		}
		if paid && tx.Acquirer == "airpay shopee" {
			b["shopeepay_reference_number"], b["reference_id"] = tx.PaymentRef, tx.PaymentRef
		}
	case "gopay":
		if paid {
			b["payment_option_type"] = "GOPAY_WALLET"
		}
	case "shopeepay":
		if paid {
			b["shopeepay_reference_number"], b["reference_id"] = tx.PaymentRef, tx.PaymentRef
		}
	}
}

func statusCodeFor(status, fraud string) string {
	switch status {
	case "settlement", "refund", "partial_refund", "chargeback", "partial_chargeback":
		return "200"
	case "capture":
		if fraud == "challenge" {
			return "201"
		}
		return "200"
	case "pending":
		return "201"
	}
	return "202"
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	s.statusCalls++
	f := s.statusFault
	tx, ok := s.lookup(id)
	var b map[string]any
	if ok {
		code := statusCodeFor(tx.Status, tx.FraudStatus)
		if tx.Status == "expire" {
			code = "407"
		}
		b = s.body(tx, code)
		b["status_message"] = "Success, transaction is found"
		if tx.PaymentType == "shopeepay" && tx.Status == "pending" {
			// ShopeePay's status answer hands the deeplink out again.
			b["actions"] = []map[string]any{{"name": "deeplink-redirect", "method": "GET", "url": tx.Deeplink}}
		}
	}
	s.mu.Unlock()
	if f != FaultNone {
		s.fault(f, w, r)
		return
	}
	if !ok {
		writeJSON(w, 404, map[string]string{"status_code": "404", "status_message": "Transaction doesn't exist."})
		return
	}
	writeJSON(w, 200, b)
}

func (s *Server) end(w http.ResponseWriter, id, action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, ok := s.lookup(id)
	if !ok {
		writeJSON(w, 404, map[string]string{"status_code": "404", "status_message": "Transaction doesn't exist."})
		return
	}
	if tx.Status != "pending" && !(action == "cancel" && tx.Status == "capture") {
		writeJSON(w, 200, map[string]string{"status_code": "412", "status_message": "Merchant cannot modify the status of the transaction"})
		return
	}
	if action == "cancel" {
		tx.Status = "cancel"
		s.cancels = append(s.cancels, tx.OrderID)
		writeJSON(w, 200, s.body(tx, "200"))
		return
	}
	tx.Status = "expire"
	writeJSON(w, 200, s.body(tx, "407"))
}

// Notification moves the transaction to status (with fraud for cards) and
// returns the signed notification body; amount, when not nil, is what the
// gateway records as paid (a real mismatch, as with Midtrans's automatic
// fee imposition: its status endpoint says the same).
func (s *Server) Notification(orderID, status, fraud string, amount *int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, ok := s.txs[orderID]
	if !ok {
		return nil, fmt.Errorf("midtranstest: no transaction %q", orderID)
	}
	if fraud == "" {
		fraud = "accept"
	}
	tx.Status, tx.FraudStatus = status, fraud
	if amount != nil {
		tx.GrossAmount = *amount
	}
	if _, isWallet := walletOf(tx.ChargeType); isWallet && status == "settlement" {
		// Paid as Scan and Approve pay: a QRIS code from the acquirer's own app.
		if tx.PaymentRef == "" {
			tx.PaymentRef = randDigits(12)
		}
		if tx.PaymentType == "qris" && tx.Issuer == "" {
			tx.Issuer = tx.Acquirer
		}
	}
	return json.Marshal(s.body(tx, statusCodeFor(status, fraud)))
}

// Stale returns a signed notification of orderID with status, as Midtrans
// would have sent it earlier, without changing the transaction: an
// out-of-order delivery, or a replayed body.
func (s *Server) Stale(orderID, status, fraud string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, ok := s.txs[orderID]
	if !ok {
		return nil, fmt.Errorf("midtranstest: no transaction %q", orderID)
	}
	if fraud == "" {
		fraud = "accept"
	}
	cp := *tx
	cp.Status, cp.FraudStatus, cp.Refunds = status, fraud, nil
	return json.Marshal(s.body(&cp, statusCodeFor(status, fraud)))
}

// Refund takes amount back from a settled or captured transaction as a
// refund or a chargeback (kind "refund" or "chargeback"); the status
// becomes refund/chargeback when all of it is back, partial_… before. It
// returns the signed notification. ShopeePay refunds only the whole amount
// (reference/direct-refund-transaction): a partial refund of a ShopeePay
// charge is refused, as the refund endpoint refuses it.
func (s *Server) Refund(orderID string, amount int64, kind string) ([]byte, error) {
	return s.refund(orderID, amount, kind, "")
}

// refusal is a refund Midtrans refuses, with the status_code it answers.
type refusal struct{ code, msg string }

func (r *refusal) Error() string { return r.msg }

func (s *Server) refund(orderID string, amount int64, kind, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, ok := s.txs[orderID]
	if !ok {
		return nil, fmt.Errorf("midtranstest: no transaction %q", orderID)
	}
	var done int64
	for _, r := range tx.Refunds {
		done += r.Amount
	}
	switch {
	case tx.Status != "settlement" && tx.Status != "capture" && !strings.Contains(tx.Status, "refund") && !strings.Contains(tx.Status, "chargeback"):
		return nil, fmt.Errorf("midtranstest: %s is %s, not settled", orderID, tx.Status)
	case amount <= 0 || done+amount > tx.GrossAmount:
		return nil, fmt.Errorf("midtranstest: refund %d of %d (already %d)", amount, tx.GrossAmount, done)
	case kind == "refund" && tx.ChargeType == "shopeepay" && (done > 0 || amount != tx.GrossAmount):
		// The documents say so; the code and words of the refusal are
		// presumed (414: the amount is not one Midtrans refunds).
		return nil, &refusal{code: "414", msg: fmt.Sprintf("Partial refund is not supported for shopeepay: refund %d of %d", amount, tx.GrossAmount)}
	}
	if key == "" {
		key = randHex(6)
	}
	tx.Refunds = append(tx.Refunds, Refund{ID: len(tx.Refunds) + 1, Amount: amount, Key: key,
		CreatedAt: time.Now().In(s.wib).Format("2006-01-02 15:04:05")})
	tx.Status = kind
	if done+amount < tx.GrossAmount {
		tx.Status = "partial_" + kind
	}
	return json.Marshal(s.body(tx, statusCodeFor(tx.Status, tx.FraudStatus)))
}

// Send posts a notification body to NotifyURL as Midtrans does and returns
// the HTTP status lunas answered.
func (s *Server) Send(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", s.NotifyURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Veritrans")
	res, err := s.Client.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// Notify sets a transaction's status and delivers its notification times
// times (duplicates), retrying each delivery a few times on a non-2xx
// answer as Midtrans would (compressed in time).
func (s *Server) Notify(ctx context.Context, orderID, status, fraud string, times int) error {
	body, err := s.Notification(orderID, status, fraud, nil)
	if err != nil {
		return err
	}
	return s.Deliver(ctx, body, times)
}

// Deliver posts a notification body to NotifyURL times times (at least
// once), retrying each delivery a few times on a non-2xx answer as
// Midtrans would (compressed in time).
func (s *Server) Deliver(ctx context.Context, body []byte, times int) error {
	var err error
	for i := 0; i < max(times, 1); i++ {
		var code int
		for try := 0; try < 5; try++ {
			code, err = s.Send(ctx, body)
			if err == nil && code/100 == 2 {
				break
			}
			time.Sleep(time.Duration(100*(try+1)) * time.Millisecond)
		}
		if err != nil {
			return err
		}
		if code/100 != 2 {
			return fmt.Errorf("midtranstest: lunas answered %d", code)
		}
	}
	return nil
}

// Scan is a payer paying the QR of a pending QRIS or GoPay charge from a
// QRIS app; issuer names the app (gopay, dana, ovo, linkaja, airpay
// shopee, …; "" is the acquirer's own). The transaction settles and is
// reported, as Midtrans reports it, with payment_type qris, its acquirer
// and issuer: a GoPay charge too (docs.midtrans.com
// coreapi-e-money-integration, "Payment via QRIS"). It returns the signed
// settlement notification; Deliver sends it. Like every transaction of the
// fake, a QR expires only when told to (Notify with "expire", POST
// /v2/{id}/expire): the fake keeps no clock, so tests on a clock of their
// own are not surprised.
func (s *Server) Scan(orderID, issuer string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.payable(orderID, "qris", "gopay")
	if err != nil {
		return nil, err
	}
	if tx.ChargeType == "gopay" {
		tx.PaymentType, tx.Acquirer = "qris", "gopay"
	}
	if issuer == "" {
		issuer = tx.Acquirer
	}
	tx.Issuer, tx.Status, tx.PaymentRef = issuer, "settlement", randDigits(12)
	return json.Marshal(s.body(tx, "200"))
}

// Approve is a payer approving a pending GoPay or ShopeePay charge in the
// wallet app its deeplink opened. The transaction settles as that payment
// type; it returns the signed settlement notification (Deliver sends it).
func (s *Server) Approve(orderID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.payable(orderID, "gopay", "shopeepay")
	if err != nil {
		return nil, err
	}
	tx.Status, tx.PaymentRef = "settlement", randDigits(12)
	return json.Marshal(s.body(tx, "200"))
}

// payable is orderID's transaction if it was charged as one of types and
// is still pending: an expired or cancelled QR or deeplink pays nothing.
func (s *Server) payable(orderID string, types ...string) (*Tx, error) {
	tx, ok := s.txs[orderID]
	switch {
	case !ok:
		return nil, fmt.Errorf("midtranstest: no transaction %q", orderID)
	case tx.ChargeType != types[0] && tx.ChargeType != types[1]:
		return nil, fmt.Errorf("midtranstest: %s is a %s charge, not %s", orderID, tx.ChargeType, strings.Join(types, " or "))
	case tx.Status != "pending":
		return nil, fmt.Errorf("midtranstest: %s is %s, not pending", orderID, tx.Status)
	}
	return tx, nil
}

// QRISPayload is the EMVCo merchant-presented QR payload (the QRIS
// standard) of a dynamic QR for amount through acquirer, as Midtrans's
// qr_string looks (the sample of docs.midtrans.com
// gopay-qris-pos-integration): payload format, point of initiation 12
// (dynamic), the acquirer's merchant account (26), the QRIS national
// merchant id (51), category, currency 360, amount, country, merchant name
// and city, ref in the additional data (62), and the CRC-16/CCITT-FALSE
// (63). It is well-formed, not payable.
func QRISPayload(acquirer string, amount int64, ref string) string {
	guid, pan := "COM.GO-JEK.WWW", "936009140000000001"
	if acquirer == "airpay shopee" {
		guid, pan = "ID.CO.SHOPEE.WWW", "936009180000000001"
	}
	p := tlv("00", "01") + tlv("01", "12") +
		tlv("26", tlv("00", guid)+tlv("01", pan)+tlv("02", "G000FAKE")+tlv("03", "UKE")) +
		tlv("51", tlv("00", "ID.CO.QRIS.WWW")+tlv("02", "ID1026000000001")+tlv("03", "UKE")) +
		tlv("52", "5734") + tlv("53", "360") + tlv("54", strconv.FormatInt(amount, 10)+".00") + tlv("58", "ID") +
		tlv("59", "LUNAS FAKE MERCHANT") + tlv("60", "JAKARTA") + tlv("61", "10110") +
		tlv("62", tlv("50", ref)+tlv("07", "A01")) + "6304"
	return p + fmt.Sprintf("%04X", crc16(p))
}

// tlv is one EMVCo data object: id, two-digit length, value.
func tlv(id, value string) string { return fmt.Sprintf("%s%02d%s", id, len(value), value) }

// crc16 is CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), which
// EMVCo's tag 63 carries over the whole payload up to and including "6304".
func crc16(s string) uint16 {
	crc := uint16(0xFFFF)
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// qrImage serves the PNG of a charge's generate-qr-code actions:
// /v2/qris/{transaction_id}/qr-code, /v2/gopay/{transaction_id}/qr-code and
// /v4/qris/{acquirer}/{transaction_id}/qr-code.
func (s *Server) qrImage(w http.ResponseWriter, r *http.Request, parts []string) {
	var id string
	switch {
	case len(parts) == 4 && parts[0] == "v2" && (parts[1] == "qris" || parts[1] == "gopay"):
		id = parts[2]
	case len(parts) == 5 && parts[0] == "v4" && parts[1] == "qris":
		id = parts[3]
	}
	tx, ok := s.find(id)
	if id == "" || !ok || tx.QRString == "" {
		writeJSON(w, 404, map[string]string{"status_code": "404", "status_message": "Transaction doesn't exist."})
		return
	}
	img, err := qr.PNG(tx.QRString, 300)
	if err != nil {
		writeJSON(w, 500, map[string]string{"status_code": "500", "status_message": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(img)
}

// appPage is the wallet app a GoPay or ShopeePay deeplink opens (on the
// real sandbox, Midtrans's simulator): it asks the payer to pay.
const appPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.App}} (fake)</title></head>
<body><main>
<h1>{{.App}} (fake wallet app)</h1>
<p>Pay <strong>Rp{{.Amount}}</strong> to G000FAKE, order {{.OrderID}}.</p>
{{if eq .Status "pending"}}<form method="post">
<button type="submit" name="action" value="pay">Pay</button>
<button type="submit" name="action" value="decline">Cancel</button>
</form>{{else}}<p>This payment is {{.Status}}.</p>{{end}}
</main></body></html>
`

// app serves the wallet app page: GET shows it; POST action=pay approves
// the charge (Approve), delivers the notification and sends the payer back
// to the charge's callback_url (GoPay: with order_id and result, as the
// Gojek app does); action=decline leaves it pending and sends the payer
// back with result=failure.
func (s *Server) app(w http.ResponseWriter, r *http.Request, orderID string) {
	tx, ok := s.find(orderID)
	if !ok || (tx.ChargeType != "gopay" && tx.ChargeType != "shopeepay") {
		http.NotFound(w, r)
		return
	}
	if r.Method != "POST" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		app := map[string]string{"gopay": "GoPay", "shopeepay": "ShopeePay"}[tx.ChargeType]
		page := template.Must(template.New("app").Parse(appPage))
		_ = page.Execute(w, map[string]any{"App": app, "Amount": tx.GrossAmount, "OrderID": tx.OrderID, "Status": tx.Status})
		return
	}
	result := "failure"
	if r.FormValue("action") == "pay" {
		body, err := s.Approve(tx.OrderID)
		if err == nil {
			err = s.Deliver(r.Context(), body, 1)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		result = "success"
	}
	back, err := url.Parse(tx.CallbackURL)
	if tx.CallbackURL == "" || err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s: %s (no callback_url to return to)\n", tx.OrderID, result)
		return
	}
	if tx.ChargeType == "gopay" {
		q := back.Query()
		q.Set("order_id", tx.OrderID)
		q.Set("result", result)
		back.RawQuery = q.Encode()
	}
	http.Redirect(w, r, back.String(), http.StatusSeeOther)
}

// testHook serves the demo hooks:
//
//	POST /_test/notify/{order_id}?status=settlement&fraud=accept&times=1 (send=false: move the state only)
//	POST /_test/scan/{order_id}?issuer=dana&times=1 (send=false: pay without notifying)
//	POST /_test/approve/{order_id}?times=1 (send=false: pay without notifying)
//	GET  /_test/app/{order_id} (the wallet app a GoPay/ShopeePay deeplink opens; POST action=pay|decline)
//	POST /_test/refund/{order_id}?amount=…&kind=refund|chargeback&times=1
//	GET  /_test/tx/{order_id}
func (s *Server) testHook(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	switch {
	case parts[0] == "app":
		s.app(w, r, parts[1])
	case (parts[0] == "scan" || parts[0] == "approve") && r.Method == "POST":
		q := r.URL.Query()
		var body []byte
		var err error
		if parts[0] == "scan" {
			body, err = s.Scan(parts[1], q.Get("issuer"))
		} else {
			body, err = s.Approve(parts[1])
		}
		if err != nil {
			writeJSON(w, 409, map[string]string{"error": err.Error()})
			return
		}
		if q.Get("send") == "false" {
			writeJSON(w, 200, map[string]string{"moved": "settlement"})
			return
		}
		times, _ := strconv.Atoi(q.Get("times"))
		if err := s.Deliver(r.Context(), body, times); err != nil {
			writeJSON(w, 502, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, map[string]string{"sent": "settlement"})
	case parts[0] == "notify" && r.Method == "POST":
		q := r.URL.Query()
		status := q.Get("status")
		if status == "" {
			status = "settlement"
		}
		times, _ := strconv.Atoi(q.Get("times"))
		if q.Get("send") == "false" {
			// Paid at the gateway, the notification lost: only the state moves.
			if _, err := s.Notification(parts[1], status, q.Get("fraud"), nil); err != nil {
				writeJSON(w, 404, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, 200, map[string]string{"moved": status})
			return
		}
		if err := s.Notify(r.Context(), parts[1], status, q.Get("fraud"), times); err != nil {
			writeJSON(w, 502, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, map[string]string{"sent": status})
	case parts[0] == "refund" && r.Method == "POST":
		q := r.URL.Query()
		amount, _ := strconv.ParseInt(q.Get("amount"), 10, 64)
		kind := q.Get("kind")
		if kind == "" {
			kind = "refund"
		}
		if amount == 0 {
			if tx, ok := s.Tx(parts[1]); ok {
				amount = tx.GrossAmount
			}
		}
		body, err := s.Refund(parts[1], amount, kind)
		if err == nil {
			times, _ := strconv.Atoi(q.Get("times"))
			for i := 0; i < max(times, 1) && err == nil; i++ {
				_, err = s.Send(r.Context(), body)
			}
		}
		if err != nil {
			writeJSON(w, 502, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, map[string]string{"sent": kind})
	case parts[0] == "tx" && r.Method == "GET":
		tx, ok := s.Tx(parts[1])
		if !ok {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, 200, map[string]any{"tx": tx, "expiry_time": tx.ExpiryTime.Format("2006-01-02 15:04:05")})
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// cardScriptPath is where Midtrans serves its card-tokenizing script
// (docs.midtrans.com: the Core API card integration loads
// /v2/assets/js/midtrans-new-3ds.min.js from the API host).
const cardScriptPath = "v2/assets/js/midtrans-new-3ds.min.js"

// cardScript is the fake's stand-in for that script: the same
// MidtransNew3ds.getCardToken and authenticate calls, with the sandbox's
// test cards mapped to the fake's tokens: 4811 1111 1111 1114 captures at
// once (tok-capture), 4911 1111 1111 1113 asks for 3-D Secure, and any
// other number is refused by the "script", as a bad card number is. The
// client key must be set on the script tag, as Midtrans requires.
const cardScript = `(function () {
  "use strict";
  var tag = document.getElementById("midtrans-script");
  window.MidtransNew3ds = {
    getCardToken: function (card, cb) {
      setTimeout(function () {
        if (!tag || !tag.getAttribute("data-client-key")) {
          cb.onFailure({ status_code: "401", status_message: "client key is not set" });
          return;
        }
        var n = String(card.card_number || "").replace(/\D/g, "");
        if (n === "4811111111111114") { cb.onSuccess({ status_code: "200", token_id: "tok-capture" }); return; }
        if (n === "4911111111111113") { cb.onSuccess({ status_code: "200", token_id: "tok-3ds-" + n.slice(-4) }); return; }
        cb.onFailure({ status_code: "400", status_message: "card_number is invalid" });
      }, 10);
    },
    authenticate: function (url) { window.location.assign(url); }
  };
})();
`
