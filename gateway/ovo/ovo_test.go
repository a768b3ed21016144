package ovo

import (
	"errors"
	"testing"

	"github.com/lunas-id/lunas/gateway"
)

const failure = `{"event":"ewallet.capture","business_id":"5f218745736e619164dc8608","created":"2024-03-20T04:13:05.871Z","data":{"id":"ewc_0c1e7f0a","reference_id":"ORD-9","status":"FAILED","currency":"IDR","charge_amount":150000,"capture_amount":150000,"channel_code":"ID_OVO","failure_code":"USER_DECLINED_PAYMENT"}}`

func TestVerifyAndDecode(t *testing.T) {
	t.Parallel()
	if _, err := Verify("wrong", "tok", []byte(failure)); !errors.Is(err, gateway.ErrAuth) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := Verify("", "", []byte(failure)); !errors.Is(err, gateway.ErrAuth) {
		t.Errorf("unset token must refuse everything: %v", err)
	}
	ev, err := Verify("tok", "tok", []byte(failure))
	if err != nil || ev.Status != gateway.StatusFailed || ev.FailureCode != "USER_DECLINED_PAYMENT" || ev.DedupeKey != "ovo:ewallet.capture:ewc_0c1e7f0a:FAILED:0" || ev.Amount != 150000 {
		t.Errorf("%+v %v", ev, err)
	}
	for body, valid := range map[string]bool{
		`{"event":"ewallet.capture","data":{"id":"e","reference_id":"r","status":"SUCCEEDED","capture_amount":150000}}`:   true,
		`{"event":"ewallet.capture","data":{"id":"e","reference_id":"r","status":"SUCCEEDED","capture_amount":150000.5}}`: false,
		`{"event":"ewallet.capture","data":{"id":"e","reference_id":"r","status":"SUCCEEDED","capture_amount":1e400}}`:    false,
	} {
		ev, err := Decode([]byte(body))
		if err != nil || ev.AmountValid != valid {
			t.Errorf("%s: valid %v err %v", body, ev.AmountValid, err)
		}
	}
	if _, err := Decode([]byte(`{"event":"ewallet.capture","data":{}}`)); !errors.Is(err, gateway.ErrMalformed) {
		t.Errorf("empty data: %v", err)
	}
	if _, err := Decode([]byte(`{"data":{"id":"e"}}`)); !errors.Is(err, gateway.ErrMalformed) {
		t.Errorf("no event type: %v", err)
	}
}

// Xendit's refund callback names the charge by charge_id only; a void
// after success and event types lunas does not act on decode too (the
// webhook answers 200, so Xendit does not retry them for a day).
func TestEventTypes(t *testing.T) {
	t.Parallel()
	refund := `{"event":"ewallet.refund","business_id":"5f21","created":"2024-03-21T04:13:05.871Z","data":{"id":"ewr_1","charge_id":"ewc_9","status":"SUCCEEDED","currency":"IDR","channel_code":"ID_OVO","capture_amount":150000,"refund_amount":50000,"reason":"REQUESTED_BY_CUSTOMER","refund_amount_type":"PARTIAL"}}`
	ev, err := Decode([]byte(refund))
	if err != nil || ev.Status != gateway.StatusRefunded || ev.TxID != "ewc_9" || ev.AttemptID != "" || ev.Refunded != 50000 || ev.ReversalKind != "refund" || ev.DedupeKey != "ovo:ewallet.refund:ewr_1:SUCCEEDED" {
		t.Errorf("refund: %+v %v", ev, err)
	}
	void := `{"event":"ewallet.void","data":{"id":"ewc_9","reference_id":"pay_1","status":"VOIDED","currency":"IDR","charge_amount":150000,"capture_amount":150000}}`
	if ev, err := Decode([]byte(void)); err != nil || ev.Status != gateway.StatusFailed || ev.ReversalKind != "void" || ev.Type != "ewallet.void" {
		t.Errorf("void: %+v %v", ev, err)
	}
	charge := `{"event":"ewallet.capture","data":{"id":"ewc_9","reference_id":"pay_1","status":"SUCCEEDED","currency":"IDR","charge_amount":150000,"capture_amount":150000,"refunded_amount":150000}}`
	if ev, err := Decode([]byte(charge)); err != nil || ev.Status != gateway.StatusRefunded || ev.Refunded != 150000 {
		t.Errorf("refunded charge: %+v %v", ev, err)
	}
	other := `{"event":"payment_method.activated","data":{"id":"pm_1","status":"ACTIVE"}}`
	if ev, err := Decode([]byte(other)); err != nil || ev.Status != gateway.StatusIgnored || ev.DedupeKey != "ovo:payment_method.activated:pm_1:ACTIVE" {
		t.Errorf("unknown type: %+v %v", ev, err)
	}
}

// FuzzVerify: no callback makes the parser panic; a wrong token is always
// refused; an accepted callback names its charge, reference and status.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(failure), "tok")
	f.Add([]byte(`{"event":"ewallet.capture","data":{"id":"e","reference_id":"r","status":"SUCCEEDED","capture_amount":1e400}}`), "tok")
	f.Add([]byte(`{"event":"ewallet.refund","data":{"id":"ewr","charge_id":"ewc","status":"SUCCEEDED","refund_amount":5}}`), "tok")
	f.Add([]byte(`{"data":null}`), "")
	f.Fuzz(func(t *testing.T, body []byte, token string) {
		ev, err := Verify(token, "tok", body)
		if token != "tok" {
			if !errors.Is(err, gateway.ErrAuth) {
				t.Fatalf("token %q not refused: %v", token, err)
			}
			return
		}
		if err != nil {
			return
		}
		if ev.Type == "" || ev.RawStatus == "" || ev.DedupeKey == "" || (ev.Status != gateway.StatusIgnored && ev.TxID == "") || (ev.AmountValid && ev.Amount < 0) || ev.Refunded < 0 {
			t.Fatalf("accepted %q as %+v", body, ev)
		}
	})
}
