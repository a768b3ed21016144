// Package midtranstest is a fake Midtrans Core API for tests and local
// demos: charge, status, cancel and expire, with signed HTTP notifications
// sent to lunas on demand — duplicated or out of order when asked — and
// switchable faults (HTTP 500, timeouts) on charges and status checks.
package midtranstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lunas-id/lunas/gateway/midtrans"
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
	OrderID       string         `json:"order_id"`
	TransactionID string         `json:"transaction_id"`
	PaymentType   string         `json:"payment_type"`
	GrossAmount   int64          `json:"gross_amount"`
	Status        string         `json:"transaction_status"`
	FraudStatus   string         `json:"fraud_status"`
	Bank          string         `json:"bank,omitempty"`
	VANumber      string         `json:"va_number,omitempty"`
	BillKey       string         `json:"bill_key,omitempty"`
	BillerCode    string         `json:"biller_code,omitempty"`
	Refunds       []Refund       `json:"refunds,omitempty"`
	TxTime        time.Time      `json:"-"`
	ExpiryTime    time.Time      `json:"-"`
	Request       map[string]any `json:"request"`
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
			Amount int64 `json:"amount"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		tx, ok := s.Tx(parts[1])
		if !ok {
			writeJSON(w, 404, map[string]string{"status_code": "404", "status_message": "Transaction doesn't exist."})
			return
		}
		if req.Amount == 0 {
			req.Amount = tx.GrossAmount
		}
		body, err := s.Refund(parts[1], req.Amount, "refund")
		if err != nil {
			writeJSON(w, 200, map[string]string{"status_code": "412", "status_message": err.Error()})
			return
		}
		_, _ = w.Write(body)
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
		writeJSON(w, 400, map[string]any{"status_code": "400", "status_message": "One or more parameters in the payload is invalid.",
			"validation_messages": []string{"transaction_details.gross_amount must be an integer"}})
		return
	}
	now := time.Now().In(s.wib)
	tx := &Tx{OrderID: orderID, TransactionID: randHex(4) + "-" + randHex(2) + "-" + randHex(2) + "-" + randHex(2) + "-" + randHex(6),
		PaymentType: fmt.Sprint(req["payment_type"]), GrossAmount: int64(gross), Status: "pending", FraudStatus: "accept",
		TxTime: now, ExpiryTime: now.Add(24 * time.Hour), Request: req}
	if ce, ok := req["custom_expiry"].(map[string]any); ok {
		start, err := time.Parse("2006-01-02 15:04:05 -0700", fmt.Sprint(ce["order_time"]))
		dur, _ := ce["expiry_duration"].(float64)
		unit := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[fmt.Sprint(ce["unit"])]
		if unit == 0 {
			unit = time.Minute
		}
		if err == nil {
			tx.ExpiryTime = start.Add(time.Duration(dur) * unit).In(s.wib)
		}
	}
	resp := map[string]any{"status_code": "201", "transaction_status": "pending", "fraud_status": "accept"}
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
	tx, ok := s.txs[id]
	var b map[string]any
	if ok {
		code := statusCodeFor(tx.Status, tx.FraudStatus)
		if tx.Status == "expire" {
			code = "407"
		}
		b = s.body(tx, code)
		b["status_message"] = "Success, transaction is found"
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
	tx, ok := s.txs[id]
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
		s.cancels = append(s.cancels, id)
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
// returns the signed notification.
func (s *Server) Refund(orderID string, amount int64, kind string) ([]byte, error) {
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
	}
	tx.Refunds = append(tx.Refunds, Refund{ID: len(tx.Refunds) + 1, Amount: amount, Key: randHex(6),
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

// testHook serves the demo hooks:
//
//	POST /_test/notify/{order_id}?status=settlement&fraud=accept&times=1 (send=false: move the state only)
//	POST /_test/refund/{order_id}?amount=…&kind=refund|chargeback&times=1
//	GET  /_test/tx/{order_id}
func (s *Server) testHook(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	switch {
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
