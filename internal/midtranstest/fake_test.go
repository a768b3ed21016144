package midtranstest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
)

const key = "SB-Mid-server-FAKE_TEST_KEY_123"

// receiver stands in for lunas's webhook: it keeps each notification.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, b)
	rc.mu.Unlock()
}

func (rc *receiver) got() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...)
}

type env struct {
	t    *testing.T
	fake *Server
	url  string
	rc   *receiver
}

func start(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, fake: New(key), rc: &receiver{}}
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	hook := httptest.NewServer(e.rc)
	t.Cleanup(hook.Close)
	e.url, e.fake.NotifyURL = srv.URL, hook.URL
	return e
}

// call sends a Core API request with the server key, as midtrans-go does.
func (e *env) call(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(key+":")))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func charge(orderID, paymentType string, gross int64, extra map[string]any) map[string]any {
	req := map[string]any{"payment_type": paymentType, "transaction_details": map[string]any{"order_id": orderID, "gross_amount": gross}}
	for k, v := range extra {
		req[k] = v
	}
	return req
}

func actions(resp map[string]any) map[string]string {
	out := map[string]string{}
	as, _ := resp["actions"].([]any)
	for _, a := range as {
		m := a.(map[string]any)
		out[m["name"].(string)] = m["method"].(string) + " " + m["url"].(string)
	}
	return out
}

// The CRC of tag 63 is CRC-16/CCITT-FALSE: Midtrans's documented sample
// payload (re-encoded for Rp150.000 in the research notes) ends in FB7B.
func TestQRISPayloadCRC(t *testing.T) {
	t.Parallel()
	sample := "00020101021226620014COM.GO-JEK.WWW011993600914312345678900210G1234567890303UKE51440014ID.CO.QRIS.WWW0215AID0607336128660303UKE5204341453033605802ID5904Test6007BANDUNG6105402845409150000.0062475036c032f87c-f773-4619-aefa-675e1f06f9210703A016304"
	if got := fmt.Sprintf("%04X", crc16(sample)); got != "FB7B" {
		t.Errorf("crc %s, want FB7B", got)
	}
	if got := fmt.Sprintf("%04X", crc16("123456789")); got != "29B1" { // the CRC catalogue's check value
		t.Errorf("check value %s", got)
	}
	p := QRISPayload("airpay shopee", 1_110_000, "c032f87c-f773-4619-aefa-675e1f06f921")
	if !strings.HasPrefix(p, "000201010212") || !strings.Contains(p, "0016ID.CO.SHOPEE.WWW") || !strings.Contains(p, "54101110000.00") ||
		p[len(p)-4:] != fmt.Sprintf("%04X", crc16(p[:len(p)-4])) {
		t.Errorf("payload %s", p)
	}
}

func TestQRISCharge(t *testing.T) {
	t.Parallel()
	e := start(t)
	code, resp := e.call("POST", "/v2/charge", charge("att-q1", "qris", 150000, map[string]any{
		"qris":          map[string]any{"acquirer": "gopay"},
		"custom_expiry": map[string]any{"order_time": "2026-11-22 10:00:00 +0700", "expiry_duration": 60, "unit": "minute"},
	}))
	if code != 200 || resp["status_code"] != "201" || resp["status_message"] != "QRIS transaction is created" || resp["transaction_status"] != "pending" ||
		resp["acquirer"] != "gopay" || resp["gross_amount"] != "150000.00" || resp["currency"] != "IDR" || resp["payment_type"] != "qris" ||
		resp["expiry_time"] != "2026-11-22 11:00:00" || resp["merchant_id"] == nil || resp["signature_key"] != nil {
		t.Errorf("answer %d %v", code, resp)
	}
	qrs, _ := resp["qr_string"].(string)
	if !strings.Contains(qrs, "COM.GO-JEK.WWW") || !strings.Contains(qrs, resp["transaction_id"].(string)) {
		t.Errorf("qr_string %q", qrs)
	}
	acts := actions(resp)
	if len(acts) != 2 || !strings.HasPrefix(acts["generate-qr-code"], "GET "+e.url+"/v2/qris/") || !strings.HasPrefix(acts["generate-qr-code-v2"], "GET "+e.url+"/v4/qris/gopay/") {
		t.Errorf("actions %v", acts)
	}
	// The QR image needs no key and shows the qr_string.
	for _, a := range acts {
		res, err := http.Get(strings.TrimPrefix(a, "GET "))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(res.Body)
		res.Body.Close()
		if err != nil || res.Header.Get("Content-Type") != "image/png" || img.Bounds().Dx() != 300 {
			t.Errorf("%s: %v", a, err)
		}
	}
	if res, _ := http.Get(e.url + "/v2/qris/nope/qr-code"); res.StatusCode != 404 {
		t.Errorf("unknown QR: %d", res.StatusCode)
	}

	// The default acquirer is gopay; airpay shopee is the other; nothing else.
	if _, resp := e.call("POST", "/v2/charge", charge("att-q2", "qris", 1000, nil)); resp["acquirer"] != "gopay" {
		t.Errorf("default acquirer %v", resp["acquirer"])
	}
	if code, resp := e.call("POST", "/v2/charge", charge("att-q3", "qris", 1000, map[string]any{"qris": map[string]any{"acquirer": "dana"}})); code != 400 || resp["status_code"] != "400" {
		t.Errorf("acquirer dana: %d %v", code, resp)
	}
	// Without custom_expiry a QR lives 15 minutes.
	tx, _ := e.fake.Tx("att-q2")
	if d := tx.ExpiryTime.Sub(tx.TxTime); d != 15*time.Minute {
		t.Errorf("default expiry %s", d)
	}
	// The generic hook settles a QRIS charge as paid from the acquirer's own app.
	if code, _ := e.call("POST", "/_test/notify/att-q2?status=settlement", nil); code != 200 {
		t.Fatalf("notify hook: %d", code)
	}
	var n map[string]any
	_ = json.Unmarshal(e.rc.got()[0], &n)
	if n["issuer"] != "gopay" || n["transaction_type"] != "on-us" || n["status_code"] != "200" || n["merchant_cross_reference_id"] == nil {
		t.Errorf("settled by the notify hook: %v", n)
	}
}

func TestWalletLimits(t *testing.T) {
	t.Parallel()
	e := start(t)
	exp := func(d int, unit string) map[string]any {
		return map[string]any{"custom_expiry": map[string]any{"order_time": "2026-11-22 10:00:00 +0700", "expiry_duration": d, "unit": unit}}
	}
	with := func(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }
	for i, tc := range []struct {
		typ   string
		gross int64
		extra map[string]any
		ok    bool
	}{
		{"gopay", 1000, exp(7, "day"), true},
		{"gopay", 1000, exp(7*24*60+1, "minute"), false},
		{"gopay", 1000, exp(19, "second"), false},
		{"qris", 1000, exp(7, "day"), true},
		{"qris", 1000, with(exp(6, "day"), "qris", map[string]any{"acquirer": "airpay shopee"}), false},
		{"qris", 1000, with(exp(5, "day"), "qris", map[string]any{"acquirer": "airpay shopee"}), true},
		{"shopeepay", 1000, exp(5, "day"), true},
		{"shopeepay", 1000, exp(121, "hour"), false},
		{"qris", 10_000_000, nil, true},
		{"qris", 10_000_001, nil, false},
		{"gopay", 20_000_001, nil, false},
		{"shopeepay", 20_000_000, nil, true},
		{"bank_transfer", 1000, with(exp(30, "day"), "bank_transfer", map[string]any{"bank": "bca"}), true}, // VA: no such limit
	} {
		code, resp := e.call("POST", "/v2/charge", charge(fmt.Sprintf("att-%d", i), tc.typ, tc.gross, tc.extra))
		if ok := code == 200 && resp["status_code"] == "201"; ok != tc.ok {
			t.Errorf("%s %d %v: %d %v", tc.typ, tc.gross, tc.extra, code, resp)
		}
	}
}

func TestGoPay(t *testing.T) {
	t.Parallel()
	e := start(t)
	_, resp := e.call("POST", "/v2/charge", charge("att-g1", "gopay", 150000, map[string]any{
		"gopay": map[string]any{"enable_callback": true, "callback_url": "https://lunas.example/pay/tok?lang=id"}}))
	if resp["status_code"] != "201" || resp["status_message"] != "GoPay transaction is created" || resp["qr_string"] != nil || resp["acquirer"] != nil ||
		resp["channel_response_code"] != "200" || resp["expiry_time"] == nil {
		t.Errorf("answer %v", resp)
	}
	txID := resp["transaction_id"].(string)
	acts := actions(resp)
	if acts["generate-qr-code"] != "GET "+e.url+"/v2/gopay/"+txID+"/qr-code" || acts["deeplink-redirect"] != "GET "+e.url+"/_test/app/att-g1" ||
		acts["get-status"] != "GET "+e.url+"/v2/"+txID+"/status" || acts["cancel"] != "POST "+e.url+"/v2/"+txID+"/cancel" {
		t.Errorf("actions %v", acts)
	}
	// The get-status action names the transaction by its id.
	if code, st := e.call("GET", "/v2/"+txID+"/status", nil); code != 200 || st["order_id"] != "att-g1" || st["transaction_status"] != "pending" {
		t.Errorf("status by transaction id: %d %v", code, st)
	}
	// The payer opens the deeplink and pays in the app: the notification
	// goes to lunas and the app sends the payer back with order_id and result.
	res, err := http.Get(e.url + "/_test/app/att-g1")
	if err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("app page: %v %v", res, err)
	}
	res.Body.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noFollow.PostForm(e.url+"/_test/app/att-g1", url.Values{"action": {"pay"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != 303 || loc != "https://lunas.example/pay/tok?lang=id&order_id=att-g1&result=success" {
		t.Errorf("back to %d %q", res.StatusCode, loc)
	}
	got := e.rc.got()
	if len(got) != 1 {
		t.Fatalf("%d notifications", len(got))
	}
	var n map[string]any
	_ = json.Unmarshal(got[0], &n)
	ev, err := midtrans.Verify(got[0], key)
	if err != nil || ev.Status != gateway.StatusSucceeded || n["payment_type"] != "gopay" || n["payment_option_type"] != "GOPAY_WALLET" || n["settlement_time"] == nil {
		t.Errorf("notification %v: %+v %v", n, ev, err)
	}
	// Paid: the page offers nothing more, and a second payment is refused.
	if _, err := e.fake.Approve("att-g1"); err == nil {
		t.Error("paid twice")
	}
	if code, resp := e.call("POST", "/_test/approve/att-g1", nil); code != 409 {
		t.Errorf("approve hook on a paid charge: %d %v", code, resp)
	}
}

// A GoPay QR scanned from another QRIS app: Midtrans reports the payment
// as qris, with acquirer gopay and the paying app as issuer.
func TestGoPayScannedAndQRISScanned(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.call("POST", "/v2/charge", charge("att-g1", "gopay", 150000, nil))
	e.call("POST", "/v2/charge", charge("att-q1", "qris", 150000, map[string]any{"qris": map[string]any{"acquirer": "airpay shopee"}}))
	if code, resp := e.call("POST", "/_test/scan/att-g1?issuer=dana&times=2", nil); code != 200 {
		t.Fatalf("scan hook: %d %v", code, resp)
	}
	got := e.rc.got()
	if len(got) != 2 || !bytes.Equal(got[0], got[1]) {
		t.Fatalf("want one notification twice, got %d", len(got))
	}
	var n map[string]any
	_ = json.Unmarshal(got[0], &n)
	if n["payment_type"] != "qris" || n["acquirer"] != "gopay" || n["issuer"] != "dana" || n["transaction_type"] != "off-us" ||
		n["status_code"] != "200" || n["transaction_status"] != "settlement" || n["merchant_cross_reference_id"] == nil {
		t.Errorf("notification %v", n)
	}
	if _, st := e.call("GET", "/v2/att-g1/status", nil); st["payment_type"] != "qris" || st["issuer"] != "dana" || st["transaction_status"] != "settlement" {
		t.Errorf("status %v", st)
	}
	if tx, _ := e.fake.Tx("att-g1"); tx.ChargeType != "gopay" || tx.PaymentType != "qris" {
		t.Errorf("tx %+v", tx)
	}

	// Scanned with ShopeePay's own app: on-us.
	body, err := e.fake.Scan("att-q1", "airpay shopee")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(body, &n)
	if n["transaction_type"] != "on-us" || n["shopeepay_reference_number"] == nil || n["payment_type"] != "qris" {
		t.Errorf("on-us %v", n)
	}
	if _, err := e.fake.Approve("att-q1"); err == nil {
		t.Error("a QRIS charge approved in an app")
	}
}

func TestShopeePay(t *testing.T) {
	t.Parallel()
	e := start(t)
	_, resp := e.call("POST", "/v2/charge", charge("att-s1", "shopeepay", 150000, map[string]any{"shopeepay": map[string]any{"callback_url": "https://lunas.example/pay/tok"}}))
	acts := actions(resp)
	if resp["status_message"] != "ShopeePay transaction is created" || resp["channel_response_code"] != "0" || len(acts) != 1 ||
		acts["deeplink-redirect"] != "GET "+e.url+"/_test/app/att-s1" || resp["qr_string"] != nil {
		t.Errorf("answer %v", resp)
	}
	// While pending, ShopeePay's status answer repeats the deeplink.
	if _, st := e.call("GET", "/v2/att-s1/status", nil); len(actions(st)) != 1 {
		t.Errorf("pending status %v", st)
	}
	if _, err := e.fake.Scan("att-s1", "dana"); err == nil {
		t.Error("a ShopeePay deeplink charge paid by QR")
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, _ := noFollow.PostForm(e.url+"/_test/app/att-s1", url.Values{"action": {"decline"}})
	res.Body.Close()
	if tx, _ := e.fake.Tx("att-s1"); res.StatusCode != 303 || res.Header.Get("Location") != "https://lunas.example/pay/tok" || tx.Status != "pending" || len(e.rc.got()) != 0 {
		t.Errorf("declined: %d %q %s", res.StatusCode, res.Header.Get("Location"), tx.Status)
	}
	if code, resp := e.call("POST", "/_test/approve/att-s1?send=false", nil); code != 200 || resp["moved"] != "settlement" || len(e.rc.got()) != 0 {
		t.Errorf("approve without sending: %d %v", code, resp)
	}
	_, st := e.call("GET", "/v2/att-s1/status", nil)
	if st["transaction_status"] != "settlement" || st["shopeepay_reference_number"] == nil || st["actions"] != nil {
		t.Errorf("settled status %v", st)
	}

	// No partial refund: refused as Midtrans refuses, the transaction untouched.
	_, rf := e.call("POST", "/v2/att-s1/refund", map[string]any{"refund_key": "rk-1", "amount": 50000, "reason": "x"})
	if rf["status_code"] != "414" {
		t.Errorf("partial refund: %v", rf)
	}
	if _, err := e.fake.Refund("att-s1", 50000, "refund"); err == nil {
		t.Error("Refund helper: partial ShopeePay refund accepted")
	}
	_, rf = e.call("POST", "/v2/att-s1/refund", map[string]any{"refund_key": "rk-2", "reason": "x"})
	if rf["status_code"] != "200" || rf["transaction_status"] != "refund" || rf["refund_amount"] != "150000.00" {
		t.Errorf("whole refund: %v", rf)
	}
	if tx, _ := e.fake.Tx("att-s1"); len(tx.Refunds) != 1 || tx.Refunds[0].Key != "rk-2" {
		t.Errorf("refunds %+v", tx.Refunds)
	}
}

// Expiry and cancel of a QR charge, and the existing VA path untouched.
func TestEndingAQR(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.call("POST", "/v2/charge", charge("att-q1", "qris", 1000, nil))
	e.call("POST", "/v2/charge", charge("att-q2", "qris", 1000, nil))
	if err := e.fake.Notify(context.Background(), "att-q1", "expire", "", 1); err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	_ = json.Unmarshal(e.rc.got()[0], &n)
	if n["transaction_status"] != "expire" || n["status_code"] != "202" || n["acquirer"] != "gopay" || n["issuer"] != nil {
		t.Errorf("expire notification %v", n)
	}
	if _, st := e.call("GET", "/v2/att-q1/status", nil); st["status_code"] != "407" {
		t.Errorf("expired status %v", st)
	}
	if _, err := e.fake.Scan("att-q1", ""); err == nil {
		t.Error("an expired QR paid")
	}
	if _, c := e.call("POST", "/v2/att-q2/cancel", nil); c["transaction_status"] != "cancel" {
		t.Errorf("cancel %v", c)
	}
	if code, _ := e.call("POST", "/_test/scan/att-q2", nil); code != 409 {
		t.Errorf("scan hook on a cancelled QR: %d", code)
	}
	_, va := e.call("POST", "/v2/charge", charge("att-va", "bank_transfer", 1000, map[string]any{"bank_transfer": map[string]any{"bank": "bca"}}))
	if va["actions"] != nil || va["acquirer"] != nil || va["va_numbers"] == nil {
		t.Errorf("VA answer %v", va)
	}
	if tx, _ := e.fake.Tx("att-va"); tx.ExpiryTime.Sub(tx.TxTime) != 24*time.Hour {
		t.Errorf("VA default expiry %s", tx.ExpiryTime.Sub(tx.TxTime))
	}
}
