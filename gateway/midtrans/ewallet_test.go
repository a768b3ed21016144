package midtrans_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/gateway"
	. "github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/internal/midtranstest"
)

// The QRIS, GoPay and ShopeePay bodies in testdata are Midtrans's own
// shapes (docs.midtrans.com reference/qris, reference/gopay-1,
// reference/shopeepay-1, docs/gopay-qris-pos-integration, and real 2024
// sandbox payloads, ids changed), the notifications signed with key and
// checked with sha512sum.
func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var wib = time.FixedZone("WIB", 7*3600)

// opened is when the attempts of these tests open, on the caller's clock:
// far from the wall clock on purpose, since the expiry must count from it.
var opened = time.Date(2026, 11, 22, 10, 0, 0, 0, wib)

func fakeClient(t *testing.T) (*midtranstest.Server, *Client) {
	t.Helper()
	fake := midtranstest.New(key)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	c, err := New(key, "sandbox", srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

// asked is the custom_expiry a charge sent, as the instant it names.
func asked(t *testing.T, tx midtranstest.Tx) (time.Time, time.Duration) {
	t.Helper()
	ce, _ := tx.Request["custom_expiry"].(map[string]any)
	start, err := time.Parse("2006-01-02 15:04:05 -0700", ce["order_time"].(string))
	if err != nil || ce["unit"] != "minute" {
		t.Fatalf("custom_expiry %v: %v", ce, err)
	}
	d := time.Duration(ce["expiry_duration"].(float64)) * time.Minute
	return start.Add(d), d
}

func TestChargeQRIS(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	deadline := opened.Add(26*time.Hour + 30*time.Second)
	res, err := c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_q1", InvoiceNumber: "INV-1", Method: gateway.MethodQRIS,
		Amount: 1_110_000, ExpiresAt: deadline, Now: opened})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := fake.Tx("pay_q1")
	if tx.PaymentType != "qris" || tx.Request["qris"].(map[string]any)["acquirer"] != "gopay" {
		t.Errorf("charged %s %v, want qris through gopay (Midtrans's default, sent explicitly)", tx.PaymentType, tx.Request["qris"])
	}
	if end, _ := asked(t, tx); !end.Equal(deadline) {
		t.Errorf("custom_expiry ends %s, want the order's deadline %s", end, deadline)
	}
	if !res.ExpiresAt.Equal(deadline) || res.ExpiresAt.Location() != time.UTC || res.Details["expires_at"] != deadline.UTC().Format(time.RFC3339) {
		t.Errorf("result expires %s / %v, want %s", res.ExpiresAt, res.Details["expires_at"], deadline)
	}
	if res.Details["qr_string"] != tx.QRString || !strings.HasPrefix(tx.QRString, "000201010212") || res.Details["acquirer"] != "gopay" ||
		!strings.HasSuffix(res.Details["qr_image_url"].(string), "/v2/qris/"+tx.TransactionID+"/qr-code") || res.Details["deeplink_url"] != nil {
		t.Errorf("details %v", res.Details)
	}
	// The QR image action is hot-linkable: no key.
	r, err := http.Get(res.Details["qr_image_url"].(string))
	if err != nil || r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Errorf("QR image: %v %v", r, err)
	}

	// ShopeePay as acquirer (LUNAS_QRIS_ACQUIRER): at most 5 days.
	far := opened.Add(30 * 24 * time.Hour)
	res, err = c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_q2", InvoiceNumber: "INV-1", Method: gateway.MethodQRIS,
		QRISAcquirer: "Airpay  Shopee", Amount: 150_000, ExpiresAt: far, Now: opened})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ = fake.Tx("pay_q2")
	end, d := asked(t, tx)
	if tx.Acquirer != gateway.AcquirerShopee || d != 5*24*time.Hour || !end.Equal(opened.Add(5*24*time.Hour)) || !res.ExpiresAt.Equal(end) {
		t.Errorf("acquirer %q, custom_expiry %s ending %s, result %s", tx.Acquirer, d, end, res.ExpiresAt)
	}
	if !strings.Contains(res.Details["qr_string"].(string), "ID.CO.SHOPEE.WWW") || res.Details["acquirer"] != gateway.AcquirerShopee {
		t.Errorf("details %v", res.Details)
	}
	// Through GoPay, a far deadline is cut to 7 days.
	res, _ = c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_q3", InvoiceNumber: "INV-1", Method: gateway.MethodQRIS,
		Amount: 150_000, ExpiresAt: far, Now: opened})
	if !res.ExpiresAt.Equal(opened.Add(7 * 24 * time.Hour)) {
		t.Errorf("QRIS through gopay expires %s", res.ExpiresAt)
	}
	if _, err := c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_q4", Method: gateway.MethodQRIS, QRISAcquirer: "dana",
		Amount: 1, ExpiresAt: far, Now: opened}); err == nil {
		t.Error("an unknown acquirer was charged")
	}
	// Midtrans's own limit (QRIS up to Rp10.000.000) comes back as its refusal.
	_, err = c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_q5", Method: gateway.MethodQRIS, Amount: 10_000_001, ExpiresAt: far, Now: opened})
	var ref *gateway.RefusedError
	if !errors.As(err, &ref) || !strings.Contains(ref.Message, "10000000") || ref.Code != "midtrans_400" {
		t.Errorf("over the QRIS limit: %v", err)
	}
}

func TestChargeGoPayAndShopeePay(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	back := "https://lunas.example/pay/tok123"
	deadline := opened.Add(72 * time.Hour)
	res, err := c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_g1", InvoiceNumber: "INV-1", Method: gateway.MethodGoPay,
		Amount: 1_110_000, ExpiresAt: deadline, Now: opened, CallbackURL: back})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := fake.Tx("pay_g1")
	g := tx.Request["gopay"].(map[string]any)
	if tx.PaymentType != "gopay" || g["enable_callback"] != true || g["callback_url"] != back {
		t.Errorf("charged %s %v", tx.PaymentType, g)
	}
	if res.Details["qr_string"] != nil || res.Details["acquirer"] != nil || res.Details["deeplink_url"] != tx.Deeplink ||
		!strings.HasSuffix(res.Details["qr_image_url"].(string), "/v2/gopay/"+tx.TransactionID+"/qr-code") || !res.ExpiresAt.Equal(deadline) {
		t.Errorf("details %v, expires %s", res.Details, res.ExpiresAt)
	}
	if res, _ := c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_g2", Method: gateway.MethodGoPay, Amount: 1,
		ExpiresAt: opened.Add(10 * 24 * time.Hour), Now: opened}); !res.ExpiresAt.Equal(opened.Add(7 * 24 * time.Hour)) {
		t.Errorf("GoPay expires %s, want 7 days", res.ExpiresAt)
	}
	if tx, _ := fake.Tx("pay_g2"); tx.Request["gopay"] != nil {
		t.Errorf("no callback: gopay object %v, want none (the dashboard's Finish URL)", tx.Request["gopay"])
	}

	res, err = c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_s1", InvoiceNumber: "INV-1", Method: gateway.MethodShopeePay,
		Amount: 1_110_000, ExpiresAt: opened.Add(6 * 24 * time.Hour), Now: opened, CallbackURL: back})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ = fake.Tx("pay_s1")
	if tx.PaymentType != "shopeepay" || tx.Request["shopeepay"].(map[string]any)["callback_url"] != back ||
		res.Details["deeplink_url"] != tx.Deeplink || res.Details["qr_image_url"] != nil || !res.ExpiresAt.Equal(opened.Add(5*24*time.Hour)) {
		t.Errorf("shopeepay: %v %v, expires %s", tx.Request["shopeepay"], res.Details, res.ExpiresAt)
	}
	// A deadline nearer than the limit stands, to the second.
	near := opened.Add(90*time.Second + 500*time.Millisecond)
	res, _ = c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_s2", Method: gateway.MethodShopeePay, Amount: 1, ExpiresAt: near, Now: opened})
	if want := near.Truncate(time.Second); !res.ExpiresAt.Equal(want) {
		t.Errorf("near deadline: expires %s, want %s", res.ExpiresAt, want)
	}
}

// The documented charge answers (not the fake's) parse, and an answer the
// payer could not pay from is refused.
func TestDocumentedChargeAnswers(t *testing.T) {
	t.Parallel()
	var answer []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(answer) }))
	defer srv.Close()
	c, _ := New(key, "sandbox", srv.URL, 5*time.Second)
	charge := func(method string) (gateway.ChargeResult, error) {
		return c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "att", Method: method, Amount: 150000,
			ExpiresAt: time.Date(2024, 3, 21, 11, 0, 0, 0, wib), Now: time.Date(2024, 3, 20, 11, 0, 0, 0, wib)})
	}
	answer = testdata(t, "qris-charge")
	res, err := charge(gateway.MethodQRIS)
	if err != nil || !strings.HasSuffix(res.Details["qr_string"].(string), "6304FB7B") || res.Details["acquirer"] != "gopay" ||
		res.Ref != "0d8178e1-c6c7-4ab4-81a6-893be9d924ab" || res.Details["qr_image_url"] != "https://api.sandbox.midtrans.com/v2/qris/0d8178e1-c6c7-4ab4-81a6-893be9d924ab/qr-code" {
		t.Errorf("qris: %+v %v", res, err)
	}
	// expiry_time is WIB without an offset; the gateway's word wins.
	if want := time.Date(2024, 3, 20, 11, 15, 0, 0, wib); !res.ExpiresAt.Equal(want) {
		t.Errorf("qris expires %s, want %s", res.ExpiresAt, want)
	}
	answer = testdata(t, "gopay-charge")
	res, err = charge(gateway.MethodGoPay)
	if err != nil || res.Details["deeplink_url"] != "https://simulator.sandbox.midtrans.com/gopay/partner/app/payment-pin?id=f87fd121-8b00-47dc-ac5a-22801064f216" ||
		res.Details["qr_image_url"] == nil || res.Details["qr_string"] != nil {
		t.Errorf("gopay: %+v %v", res, err)
	}
	answer = testdata(t, "shopeepay-charge")
	res, err = charge(gateway.MethodShopeePay)
	if err != nil || !strings.HasPrefix(res.Details["deeplink_url"].(string), "https://wsa.uat.wallet.airpay.co.id/universal-link/wallet/pay?") {
		t.Errorf("shopeepay: %+v %v", res, err)
	}
	// No expiry_time in this answer: what lunas asked for is the expiry.
	if want := time.Date(2024, 3, 21, 11, 0, 0, 0, wib); !res.ExpiresAt.Equal(want) {
		t.Errorf("shopeepay expires %s, want %s", res.ExpiresAt, want)
	}
	var ref *gateway.RefusedError
	answer = []byte(strings.Replace(string(testdata(t, "qris-charge")), `"qr_string"`, `"qr_strung"`, 1))
	if _, err := charge(gateway.MethodQRIS); !errors.As(err, &ref) || ref.Code != "midtrans_incomplete" {
		t.Errorf("QRIS without qr_string: %v", err)
	}
	answer = []byte(strings.Replace(string(testdata(t, "shopeepay-charge")), `deeplink-redirect`, `something-else`, 1))
	if _, err := charge(gateway.MethodShopeePay); !errors.As(err, &ref) {
		t.Errorf("ShopeePay without a deeplink: %v", err)
	}
}

func TestEwalletNotifications(t *testing.T) {
	t.Parallel()
	ev, err := Verify(testdata(t, "qris-settlement-dana"), key)
	if err != nil || ev.Status != gateway.StatusSucceeded || ev.Method != "qris" || ev.Acquirer != "gopay" || ev.Issuer != "dana" ||
		ev.AttemptID != "att-qris-0001" || ev.Amount != 150000 || ev.Suspect != "" {
		t.Errorf("QRIS settlement: %+v %v", ev, err)
	}
	ev, err = Verify(testdata(t, "gopay-settlement"), key)
	if err != nil || ev.Status != gateway.StatusSucceeded || ev.Method != "gopay" || ev.Issuer != "" || ev.Suspect != "" {
		t.Errorf("GoPay settlement: %+v %v", ev, err)
	}
	ev, err = Verify(testdata(t, "shopeepay-expire"), key)
	if err != nil || ev.Status != gateway.StatusFailed || ev.FailureCode != "expire" || ev.Method != "shopeepay" || ev.Suspect != "" {
		t.Errorf("ShopeePay expire: %+v %v", ev, err)
	}
	// Statuses are matched whatever their case (Midtrans's own ShopeePay
	// status sample reads "PENDING"), and the dedupe key does not care.
	sign := func(order, code, gross string) string { return Signature(order, code, gross, "k") }
	upper := `{"order_id":"pay_1","status_code":"200","gross_amount":"10.00","transaction_id":"t","transaction_status":"SETTLEMENT","fraud_status":"ACCEPT",` +
		`"payment_type":"shopeepay","signature_key":"` + sign("pay_1", "200", "10.00") + `"}`
	lowerBody := strings.NewReplacer("SETTLEMENT", "settlement", "ACCEPT", "accept").Replace(upper)
	ev, err = Verify([]byte(upper), "k")
	ev2, _ := Verify([]byte(lowerBody), "k")
	if err != nil || ev.Status != gateway.StatusSucceeded || ev.Suspect != "" || ev.RawStatus != "SETTLEMENT" || ev.DedupeKey != ev2.DedupeKey {
		t.Errorf("upper case: %+v %v", ev, err)
	}
	if ev, _ := Decode([]byte(`{"order_id":"p","transaction_status":"PENDING","status_code":"200","gross_amount":"10.00"}`)); ev.Status != gateway.StatusPending {
		t.Errorf("PENDING status answer: %s", ev.Status)
	}
	if ev, _ := Decode([]byte(`{"order_id":"p","transaction_status":"Expire","gross_amount":"10.00"}`)); ev.Status != gateway.StatusFailed || ev.FailureCode != "expire" {
		t.Errorf("Expire: %+v", ev)
	}
}

// A GoPay charge paid by scanning its QR from another app is reported as
// payment_type qris: still that attempt, succeeded, in the callback and in
// the status answer.
func TestGoPayPaidByQRIS(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	if _, err := c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_g1", Method: gateway.MethodGoPay, Amount: 150_000,
		ExpiresAt: opened.Add(time.Hour), Now: opened}); err != nil {
		t.Fatal(err)
	}
	body, err := fake.Scan("pay_g1", "ovo")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Verify(body, key)
	if err != nil || ev.AttemptID != "pay_g1" || ev.Status != gateway.StatusSucceeded || ev.Method != "qris" || ev.Acquirer != "gopay" ||
		ev.Issuer != "ovo" || ev.StatusCode != "200" || ev.Suspect != "" {
		t.Errorf("callback: %+v %v", ev, err)
	}
	st, err := c.Status(context.Background(), gateway.Ref{AttemptID: "pay_g1"})
	if err != nil || st.AttemptID != "pay_g1" || st.Status != gateway.StatusSucceeded || st.Method != "qris" || st.Issuer != "ovo" || st.Amount != 150_000 {
		t.Errorf("status: %+v %v", st, err)
	}
}

// Each method's life at the gateway as lunas sees it: paid in the app,
// expired, cancelled; refunded in part or whole, except ShopeePay, which
// takes back only the whole amount and says so.
func TestEwalletLifecycle(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	ctx := context.Background()
	charge := func(id, method string) {
		t.Helper()
		if _, err := c.Charge(ctx, gateway.ChargeRequest{AttemptID: id, Method: method, Amount: 100_000, ExpiresAt: opened.Add(time.Hour), Now: opened}); err != nil {
			t.Fatal(err)
		}
	}
	status := func(id string) *gateway.Event {
		t.Helper()
		ev, err := c.Status(ctx, gateway.Ref{AttemptID: id})
		if err != nil || ev == nil {
			t.Fatalf("status of %s: %v", id, err)
		}
		return ev
	}
	charge("pay_s1", gateway.MethodShopeePay)
	body, err := fake.Approve("pay_s1")
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := Verify(body, key); err != nil || ev.Status != gateway.StatusSucceeded || ev.Method != "shopeepay" {
		t.Errorf("approved: %+v %v", ev, err)
	}
	var ref *gateway.RefusedError
	if err := c.Refund(ctx, "pay_s1", "rk-1", 40_000, "goodwill"); !errors.As(err, &ref) || ref.Code != "midtrans_414" || !strings.Contains(ref.Message, "Partial refund") {
		t.Errorf("partial ShopeePay refund: %v", err)
	}
	if ev := status("pay_s1"); ev.Status != gateway.StatusSucceeded {
		t.Errorf("after a refused refund: %s", ev.Status)
	}
	if err := c.Refund(ctx, "pay_s1", "rk-2", 0, "cancelled order"); err != nil {
		t.Errorf("whole ShopeePay refund: %v", err)
	}
	if ev := status("pay_s1"); ev.Status != gateway.StatusRefunded || ev.Refunded != 100_000 || ev.ReversalKind != "refund" {
		t.Errorf("refunded: %+v", ev)
	}

	charge("pay_g1", gateway.MethodGoPay)
	if _, err := fake.Approve("pay_g1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Refund(ctx, "pay_g1", "rk-3", 40_000, "part"); err != nil {
		t.Errorf("partial GoPay refund: %v", err)
	}
	if ev := status("pay_g1"); ev.Status != gateway.StatusRefunded || ev.RawStatus != "partial_refund" || ev.Refunded != 40_000 {
		t.Errorf("partly refunded: %+v", ev)
	}

	charge("pay_q1", gateway.MethodQRIS)
	if err := c.Refund(ctx, "pay_q1", "rk-4", 0, "x"); !errors.As(err, &ref) || ref.Code != "midtrans_412" {
		t.Errorf("refund of an unpaid QRIS: %v", err)
	}
	body, err = fake.Notification("pay_q1", "expire", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := Verify(body, key); err != nil || ev.Status != gateway.StatusFailed || ev.StatusCode != "202" || ev.Suspect != "" {
		t.Errorf("expired: %+v %v", ev, err)
	}
	if ev := status("pay_q1"); ev.Status != gateway.StatusFailed || ev.StatusCode != "407" {
		t.Errorf("expired status: %+v", ev)
	}
	if _, err := fake.Scan("pay_q1", "dana"); err == nil {
		t.Error("an expired QR was paid")
	}

	charge("pay_g2", gateway.MethodGoPay)
	if err := c.Cancel(ctx, "pay_g2"); err != nil {
		t.Fatal(err)
	}
	if ev := status("pay_g2"); ev.Status != gateway.StatusFailed || ev.FailureCode != "cancel" {
		t.Errorf("cancelled: %+v", ev)
	}
	if _, _, cancels := fake.Counts(); len(cancels) != 1 || cancels[0] != "pay_g2" {
		t.Errorf("cancels %v", cancels)
	}
}

// The request bodies marshal as the research notes show them
// (midtrans-go's own structs).
func TestChargeBodies(t *testing.T) {
	t.Parallel()
	fake, c := fakeClient(t)
	for _, r := range []gateway.ChargeRequest{
		{AttemptID: "a-qris", Method: gateway.MethodQRIS, QRISAcquirer: gateway.AcquirerShopee},
		{AttemptID: "a-gopay", Method: gateway.MethodGoPay, CallbackURL: "https://lunas.example/pay/t"},
		{AttemptID: "a-spay", Method: gateway.MethodShopeePay},
	} {
		r.Amount, r.ExpiresAt, r.Now = 150000, opened.Add(15*time.Minute), opened
		if _, err := c.Charge(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{
		"a-qris":  `{"acquirer":"airpay shopee"}`,
		"a-gopay": `{"callback_url":"https://lunas.example/pay/t","enable_callback":true}`,
		"a-spay":  `{}`,
	}
	for id, w := range want {
		tx, _ := fake.Tx(id)
		got, _ := json.Marshal(tx.Request[tx.PaymentType])
		ce, _ := json.Marshal(tx.Request["custom_expiry"])
		if string(got) != w || string(ce) != `{"expiry_duration":15,"order_time":"2026-11-22 10:00:00 +0700","unit":"minute"}` {
			t.Errorf("%s: %s %s", id, got, ce)
		}
	}
}
