package main

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/lunas-id/lunas/internal/lunastest"
)

// walletAttempt is an attempt with the QR and e-wallet fields.
type walletAttempt struct {
	attempt
	QRString    string `json:"qr_string"`
	QRURL       string `json:"qr_url"`
	DeeplinkURL string `json:"deeplink_url"`
}

type payOrder struct {
	order
	PayURL string `json:"pay_url"`
}

// get fetches an absolute URL without a bearer token, as a payer's phone.
func get(t *testing.T, u string) (int, http.Header, []byte) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// readQR decodes a PNG and reads the QR code back with an independent
// decoder (gozxing).
func readQR(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	// PURE_BARCODE: the PNG is a generated symbol, not a photo; without
	// the hint gozxing's finder misreads about 1 payload in 100 (a decoder
	// quirk: every one of 300 random QRIS payloads reads back with it).
	res, err := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("no QR code in the PNG: %v", err)
	}
	return res.GetText()
}

// QRIS through the pay page's JSON route: the charge Midtrans gets, the QR
// lunas draws, one attempt however often the payer taps, the settlement
// from a notification confirmed by Get Status, and a whole refund.
func TestQRISThroughThePayPageEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	var o payOrder
	body := map[string]any{"account_id": "acme", "requester": map[string]string{"name": "Sari Dewi", "email": "sari@acme.example"},
		"items": []map[string]any{{"product": "wa_balance", "quantity": 1_000_000}}}
	if code := s.call("POST", "/v1/orders", appToken, body, &o); code != 201 || o.PayURL != "" {
		t.Fatalf("create: %d, pay_url %q before confirm", code, o.PayURL)
	}
	if code := s.call("POST", "/v1/orders/"+o.ID+"/confirm", appToken, nil, &o); code != 200 || !strings.HasPrefix(o.PayURL, s.base+"/pay/") {
		t.Fatalf("confirm: %d, pay_url %q", code, o.PayURL)
	}
	path := strings.TrimPrefix(o.PayURL, s.base)
	// The billing mail links to the pay page.
	lunastest.Eventually(t, 20*time.Second, "the billing mail with the pay link", func() bool {
		for _, m := range s.sink.Messages() {
			if strings.Contains(mailText(t, m), o.PayURL) {
				return true
			}
		}
		return false
	})

	var a walletAttempt
	if code := s.call("POST", path+"/payments", "", map[string]string{"method": "qris"}, &a); code != 201 {
		t.Fatalf("qris: %d", code)
	}
	tx, ok := s.midtrans.Tx(a.ID)
	if !ok || tx.PaymentType != "qris" || tx.Acquirer != "gopay" || tx.GrossAmount != 1_110_000 || a.QRString != tx.QRString {
		t.Fatalf("gateway tx %+v; attempt %+v", tx, a)
	}
	// The order's deadline (23:59 tomorrow) is within the 7 days QRIS
	// through GoPay allows: the QR expires with the order.
	if a.ExpiresAt != o.ExpiresAt || !tx.ExpiryTime.Equal(mustTime(t, o.ExpiresAt)) {
		t.Errorf("QR expires %s (gateway %s), want the order's %s", a.ExpiresAt, tx.ExpiryTime, o.ExpiresAt)
	}
	if !strings.HasPrefix(a.QRURL, o.PayURL+"/qr/") {
		t.Errorf("qr_url %q is not under the pay page %q", a.QRURL, o.PayURL)
	}
	code, h, png := get(t, a.QRURL)
	if code != 200 || h.Get("Content-Type") != "image/png" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("QR: %d %v", code, h)
	}
	if got := readQR(t, png); got != a.QRString {
		t.Errorf("the QR reads %q, want the qr_string %q", got, a.QRString)
	}
	// Tapping QRIS again shows the same code.
	var again walletAttempt
	if code := s.call("POST", path+"/payments", "", map[string]string{"method": "qris"}, &again); code != 201 || again.ID != a.ID {
		t.Errorf("second qris: %d %s, want the open attempt %s", code, again.ID, a.ID)
	}
	// An altered token reaches nothing.
	bad := path[:len(path)-2] + "xx"
	if code := s.call("GET", bad+"/status", "", nil, nil); code != 404 {
		t.Errorf("tampered token: %d", code)
	}
	if code, _, _ := get(t, strings.Replace(a.QRURL, path, bad, 1)); code != 404 {
		t.Errorf("QR under a tampered token: %d", code)
	}

	paid, err := s.midtrans.Scan(a.ID, "dana")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.midtrans.Deliver(context.Background(), paid, 3); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Status   string          `json:"status"`
		PaidAt   *string         `json:"paid_at"`
		Payments []walletAttempt `json:"payments"`
	}
	lunastest.Eventually(t, 15*time.Second, "the pay page's status to say paid", func() bool {
		return s.call("GET", path+"/status", "", nil, &st) == 200 && st.Status == "paid"
	})
	if st.PaidAt == nil || len(st.Payments) != 1 || st.Payments[0].Status != "succeeded" {
		t.Errorf("status %+v", st)
	}
	if b := s.balances("acme").Balances; b.WABalance != 1_000_000 {
		t.Errorf("balance %d after paying by QRIS", b.WABalance)
	}
	if code := s.call("POST", path+"/payments", "", map[string]string{"method": "qris"}, nil); code != 409 {
		t.Errorf("paying a paid order: %d, want 409", code)
	}
	// QRIS refunds are whole or partial at Midtrans; a whole one takes the
	// order back.
	refund, err := s.midtrans.Refund(a.ID, 1_110_000, "refund")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.midtrans.Deliver(context.Background(), refund, 2); err != nil {
		t.Fatal(err)
	}
	lunastest.Eventually(t, 15*time.Second, "the order to be refunded", func() bool { return s.order(o.ID).Status == "refunded" })
	s.settled(20 * time.Second)
	if b := s.balances("acme").Balances; b.WABalance != 0 {
		t.Errorf("balance %d after the refund", b.WABalance)
	}
}

// GoPay and ShopeePay through the API: the deeplink, GoPay's QR served by
// lunas, the payer sent back to the pay page, an expired charge, and a
// payment approved in the app.
func TestGoPayAndShopeePayEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	var full payOrder
	s.call("GET", "/v1/orders/"+o.ID, appToken, nil, &full)

	var g walletAttempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "gopay"}, &g); code != 201 {
		t.Fatalf("gopay: %d", code)
	}
	tx, _ := s.midtrans.Tx(g.ID)
	gp, _ := tx.Request["gopay"].(map[string]any)
	if tx.PaymentType != "gopay" || g.DeeplinkURL != tx.Deeplink || g.DeeplinkURL == "" || gp["callback_url"] != full.PayURL || gp["enable_callback"] != true {
		t.Errorf("gopay charge %v, attempt %+v", tx.Request["gopay"], g)
	}
	if code, h, png := get(t, g.QRURL); code != 200 || h.Get("Content-Type") != "image/png" || readQR(t, png) == "" {
		t.Errorf("GoPay QR through lunas: %d", code)
	}
	// The GoPay charge expires at the gateway: the attempt fails, the
	// order still awaits payment.
	if err := s.midtrans.Notify(context.Background(), g.ID, "expire", "", 1); err != nil {
		t.Fatal(err)
	}
	lunastest.Eventually(t, 15*time.Second, "the GoPay attempt to fail as expired", func() bool {
		got := s.order(o.ID)
		return len(got.Payments) == 1 && got.Payments[0].Status == "failed" && got.Payments[0].FailureCode == "expire"
	})

	var sp walletAttempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "shopeepay"}, &sp); code != 201 {
		t.Fatalf("shopeepay: %d", code)
	}
	tx, _ = s.midtrans.Tx(sp.ID)
	if sp.DeeplinkURL == "" || sp.DeeplinkURL != tx.Deeplink || sp.QRURL != "" || sp.QRString != "" {
		t.Errorf("shopeepay attempt %+v", sp)
	}
	approved, err := s.midtrans.Approve(sp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.midtrans.Deliver(context.Background(), approved, 2); err != nil {
		t.Fatal(err)
	}
	lunastest.Eventually(t, 15*time.Second, "the order to be paid by ShopeePay", func() bool { return s.order(o.ID).Status == "paid" })
	s.settled(20 * time.Second)
	if b := s.balances("acme").Balances; b.WABalance != 1_000_000 {
		t.Errorf("balance %d", b.WABalance)
	}
}

// LUNAS_QRIS_ACQUIRER routes QRIS through ShopeePay's acquirer (at most 5
// days at Midtrans): an order's deadline within that stands.
func TestQRISThroughShopeePayAcquirer(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{env: map[string]string{"LUNAS_QRIS_ACQUIRER": "airpay shopee"}})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	var q walletAttempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "qris"}, &q); code != 201 {
		t.Fatalf("qris: %d", code)
	}
	tx, _ := s.midtrans.Tx(q.ID)
	if tx.Acquirer != "airpay shopee" || !strings.Contains(q.QRString, "ID.CO.SHOPEE.WWW") {
		t.Errorf("acquirer %q, qr %q", tx.Acquirer, q.QRString)
	}
	// The order's deadline is 23:59 tomorrow, inside 5 days: it stands.
	if q.ExpiresAt != o.ExpiresAt {
		t.Errorf("expires %s, want %s", q.ExpiresAt, o.ExpiresAt)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A GoPay charge paid by scanning its QR from another QRIS app, whose
// notification never came: the janitor asks Midtrans once
// LUNAS_RECONCILE_AFTER has passed, and Get Status (payment_type qris,
// issuer ovo) settles that GoPay attempt.
func TestWalletLostCallbackFoundByTheJanitor(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	var g walletAttempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "gopay"}, &g); code != 201 {
		t.Fatalf("gopay: %d", code)
	}
	if _, err := s.midtrans.Scan(g.ID, "ovo"); err != nil { // paid, not notified
		t.Fatal(err)
	}
	s.setClock("2026-11-22T10:14:00+07:00")
	if got := s.order(o.ID); got.Status != "awaiting_payment" {
		t.Fatalf("before LUNAS_RECONCILE_AFTER: %s", got.Status)
	}
	s.setClock("2026-11-22T10:15:01+07:00")
	lunastest.Eventually(t, 15*time.Second, "the janitor to find the payment", func() bool { return s.order(o.ID).Status == "paid" })
	s.settled(20 * time.Second)
	if got := s.order(o.ID); len(got.Payments) != 1 || got.Payments[0].ID != g.ID || got.Payments[0].Status != "succeeded" {
		t.Errorf("payments %+v", got.Payments)
	}
}

// Without JavaScript the page pays by VA: the method's form posts, lunas
// answers 303 back to the page (in the payer's language), which shows the
// VA number; a refused choice comes back as the page's error notice.
func TestPayPageWithoutJavaScript(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	s.account("acme")
	var o payOrder
	body := map[string]any{"account_id": "acme", "requester": map[string]string{"name": "Sari Dewi", "email": "sari@acme.example"},
		"items": []map[string]any{{"product": "wa_balance", "quantity": 1_000_000}}}
	s.call("POST", "/v1/orders", appToken, body, &o)
	s.call("POST", "/v1/orders/"+o.ID+"/confirm", appToken, nil, &o)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(form string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", o.PayURL+"/payments", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 303 {
			t.Fatalf("form post: %d", res.StatusCode)
		}
		return res.Header.Get("Location")
	}
	loc := post("method=bca_va&lang=en")
	path := strings.TrimPrefix(o.PayURL, s.base)
	if !strings.HasPrefix(loc, path+"?lang=en#pay-pay_") {
		t.Fatalf("back to %q", loc)
	}
	code, _, page := get(t, s.base+loc)
	got := s.order(o.ID)
	if code != 200 || len(got.Payments) != 1 || got.Payments[0].VANumber == "" || !strings.Contains(string(page), got.Payments[0].VANumber) ||
		!strings.Contains(string(page), `lang="en"`) || strings.Contains(string(page), "wa_balance") {
		t.Errorf("the page after choosing BCA VA: %d, payments %+v", code, got.Payments)
	}
	// OVO without a phone: refused, said on the page.
	loc = post("method=ovo&phone=&lang=id")
	if !strings.Contains(loc, "error=") || !strings.Contains(loc, "phone") {
		t.Errorf("OVO without a phone went back to %q", loc)
	}
	if _, _, page := get(t, s.base+loc); !strings.Contains(string(page), `class="error"`) {
		t.Error("the page does not show the refusal")
	}
}
