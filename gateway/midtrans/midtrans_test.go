package midtrans_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/gateway"
	. "github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/internal/midtranstest"
)

const key = "SB-Mid-server-FAKE_TEST_KEY_123"

// Example A and B of shared/reference/gateways.md §2.10, signatures checked there with sha512sum.
const (
	exampleA = `{"va_numbers":[{"va_number":"12345678901","bank":"bca"}],"transaction_time":"2024-03-20 11:10:25","transaction_status":"pending","transaction_id":"ecb79e2b-cf59-4e9e-b84d-480f4c77e6ce","status_message":"midtrans payment notification","status_code":"201","signature_key":"4ed856a7c7ade26f97a132fd625ec909d1931c1641290942ddca3e28981ea07c88341a36380c561e9317eaf0c1ac8d959fe283953cccd95c4b23db0c6c3073ac","payment_type":"bank_transfer","payment_amounts":[],"order_id":"ORD-20240320-0001","merchant_id":"G123456789","gross_amount":"150000.00","fraud_status":"accept","expiry_time":"2024-03-21 11:10:25","currency":"IDR"}`
	exampleB = `{"va_numbers":[{"va_number":"12345678901","bank":"bca"}],"transaction_time":"2024-03-20 11:10:25","transaction_status":"settlement","transaction_id":"ecb79e2b-cf59-4e9e-b84d-480f4c77e6ce","status_message":"midtrans payment notification","status_code":"200","signature_key":"1197d82a0c3a15a27afb98ace708c483d8d21058217ea082a597f6bb38602ada972f91ebfa342eb31a0ee01e6bbfb889d08d046adf6e93213a6e87488e4d368e","settlement_time":"2024-03-20 11:42:03","payment_type":"bank_transfer","payment_amounts":[],"order_id":"ORD-20240320-0001","merchant_id":"G123456789","gross_amount":"150000.00","fraud_status":"accept","expiry_time":"2024-03-21 11:10:25","currency":"IDR"}`
)

func TestVerifyDocumentedExamples(t *testing.T) {
	t.Parallel()
	a, err := Verify([]byte(exampleA), key)
	if err != nil || a.Status != gateway.StatusPending || a.AttemptID != "ORD-20240320-0001" {
		t.Errorf("A: %+v %v", a, err)
	}
	b, err := Verify([]byte(exampleB), key)
	if err != nil || b.Status != gateway.StatusSucceeded || b.Amount != 150000 || !b.AmountValid || b.DedupeKey == a.DedupeKey {
		t.Errorf("B: %+v %v", b, err)
	}
	if _, err := Verify([]byte(exampleB), "another-key"); !errors.Is(err, gateway.ErrAuth) {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := Verify([]byte(exampleB), ""); !errors.Is(err, gateway.ErrAuth) {
		t.Errorf("unset key: %v", err)
	}
	if _, err := Verify([]byte(`{"order_id":1}`), key); !errors.Is(err, gateway.ErrMalformed) {
		t.Errorf("malformed: %v", err)
	}
}

func TestStatusMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status, fraud string
		want          gateway.Status
	}{
		{"settlement", "accept", gateway.StatusSucceeded},
		{"settlement", "", gateway.StatusSucceeded},
		{"capture", "accept", gateway.StatusSucceeded},
		{"capture", "challenge", gateway.StatusChallenge},
		{"pending", "accept", gateway.StatusPending},
		{"deny", "accept", gateway.StatusFailed},
		{"cancel", "", gateway.StatusFailed},
		{"expire", "", gateway.StatusFailed},
		{"failure", "", gateway.StatusFailed},
		{"refund", "", gateway.StatusRefunded},
		{"partial_chargeback", "", gateway.StatusRefunded},
		{"authorize", "", gateway.StatusPending},
		{"something_new", "", gateway.StatusIgnored},
	}
	for _, tc := range cases {
		ev, err := Decode([]byte(`{"order_id":"p","transaction_id":"t","transaction_status":"` + tc.status + `","fraud_status":"` + tc.fraud + `","gross_amount":"10.00"}`))
		if err != nil || ev.Status != tc.want {
			t.Errorf("%s/%s: %s %v, want %s", tc.status, tc.fraud, ev.Status, err, tc.want)
		}
	}
	for s, ok := range map[string]bool{"150000.00": true, "150000": true, "150000.50": false, "abc": false, "-1.00": false, "": false} {
		ev, _ := Decode([]byte(`{"order_id":"p","transaction_status":"settlement","gross_amount":"` + s + `"}`))
		if ev.AmountValid != ok {
			t.Errorf("gross_amount %q valid = %v", s, ev.AmountValid)
		}
	}
}

func TestChargeGoesToTheBaseURLWithTheDeadline(t *testing.T) {
	t.Parallel()
	fake := midtranstest.New(key)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := New(key, "sandbox", srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Hour).Truncate(time.Minute).Add(59 * time.Second)
	res, err := c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_1", InvoiceNumber: "INV-1", Method: gateway.MethodPermataVA, Amount: 1_110_000, ExpiresAt: deadline})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := fake.Tx("pay_1")
	if tx.GrossAmount != 1_110_000 || !tx.ExpiryTime.Equal(deadline) || res.Details["va_number"] == nil || res.Ref != tx.TransactionID {
		t.Errorf("tx %+v expiry %s want %s; result %+v", tx, tx.ExpiryTime, deadline, res)
	}
	ev, err := c.Status(context.Background(), gateway.Ref{AttemptID: "pay_1"})
	if err != nil || ev.Status != gateway.StatusPending {
		t.Errorf("status: %+v %v", ev, err)
	}
	if ev, err := c.Status(context.Background(), gateway.Ref{AttemptID: "pay_unknown"}); err != nil || ev != nil {
		t.Errorf("unknown: %+v %v", ev, err)
	}
	fake.SetFaults(midtranstest.Fault500, midtranstest.FaultNone)
	_, err = c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_2", Method: gateway.MethodBCAVA, Amount: 10, ExpiresAt: deadline})
	var ref *gateway.RefusedError
	if !errors.As(err, &ref) {
		t.Errorf("500: %v", err)
	}
}

func TestTheSDKHonoursTheContext(t *testing.T) {
	t.Parallel()
	fake := midtranstest.New(key)
	fake.SetFaults(midtranstest.FaultTimeout, midtranstest.FaultTimeout)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, _ := New(key, "sandbox", srv.URL, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Status(ctx, gateway.Ref{AttemptID: "pay_1"})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("status against a hanging gateway: %v after %s", err, time.Since(start))
	}
}

func BenchmarkVerify(b *testing.B) {
	body := []byte(exampleB)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(body, key); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzVerify: no body makes Verify panic, and nothing is accepted unless
// its signature is right for its own fields.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(exampleA))
	f.Add([]byte(exampleB))
	f.Add([]byte(`{"order_id":"a","status_code":"200","gross_amount":"1.00","signature_key":"00"}`))
	f.Add([]byte(`{"order_id":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Verify(body, key)
		if err != nil {
			return
		}
		var n struct {
			OrderID      string `json:"order_id"`
			StatusCode   string `json:"status_code"`
			GrossAmount  string `json:"gross_amount"`
			SignatureKey string `json:"signature_key"`
		}
		_ = jsonUnmarshal(body, &n)
		if Signature(n.OrderID, n.StatusCode, n.GrossAmount, key) != strings.ToLower(n.SignatureKey) || ev.DedupeKey == "" || ev.AttemptID != n.OrderID {
			t.Fatalf("accepted %q as %+v", body, ev)
		}
		if _, err := Verify(body, key+"x"); err == nil {
			t.Fatalf("accepted under another key: %q", body)
		}
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Refunds and chargebacks carry the cumulative amount taken back; a
// relabelled body (a signed pending turned "settlement") is Suspect; the
// dedupe key covers what the signature covers plus the status.
func TestCallbackDecoding(t *testing.T) {
	t.Parallel()
	sign := func(order, code, gross string) string { return Signature(order, code, gross, "k") }
	refund := `{"order_id":"pay_1","status_code":"200","gross_amount":"1110000.00","transaction_id":"t1","transaction_status":"partial_refund",` +
		`"refund_amount":"10000.00","refunds":[{"refund_chargeback_id":1,"refund_amount":"100000.00"},{"refund_chargeback_id":2,"refund_amount":"10000.00"}],` +
		`"signature_key":"` + sign("pay_1", "200", "1110000.00") + `"}`
	ev, err := Verify([]byte(refund), "k")
	if err != nil || ev.Status != gateway.StatusRefunded || ev.Refunded != 110000 || ev.ReversalKind != "refund" || ev.Suspect != "" {
		t.Errorf("partial refund: %+v %v", ev, err)
	}
	cb := `{"order_id":"pay_1","status_code":"200","gross_amount":"1110000.00","transaction_id":"t1","transaction_status":"chargeback",` +
		`"refund_amount":"1110000.00","signature_key":"` + sign("pay_1", "200", "1110000.00") + `"}`
	if ev, err := Verify([]byte(cb), "k"); err != nil || ev.Status != gateway.StatusRefunded || ev.Refunded != 1110000 || ev.ReversalKind != "chargeback" {
		t.Errorf("chargeback: %+v %v", ev, err)
	}
	relabelled := `{"order_id":"pay_1","status_code":"201","gross_amount":"1110000.00","transaction_id":"t1","transaction_status":"settlement",` +
		`"signature_key":"` + sign("pay_1", "201", "1110000.00") + `"}`
	ev, err = Verify([]byte(relabelled), "k")
	if err != nil || ev.Suspect == "" {
		t.Errorf("relabelled pending: %+v %v", ev, err)
	}
	if ev2, _ := DecodeCallback([]byte(relabelled)); ev2.Suspect == "" || ev2.DedupeKey != ev.DedupeKey {
		t.Errorf("stored callback decodes differently: %+v", ev2)
	}
	if ev3, _ := Decode([]byte(relabelled)); ev3.Suspect != "" {
		t.Errorf("a status answer is not checked as a callback: %+v", ev3)
	}
	deny := `{"order_id":"pay_1","status_code":"202","gross_amount":"1110000.00","transaction_id":"t1","transaction_status":"deny",` +
		`"signature_key":"` + sign("pay_1", "202", "1110000.00") + `"}`
	if ev, err := Verify([]byte(deny), "k"); err != nil || ev.Status != gateway.StatusFailed || ev.ReversalKind != "deny" || ev.Suspect != "" {
		t.Errorf("deny: %+v %v", ev, err)
	}
}
