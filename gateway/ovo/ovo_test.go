package ovo

import (
	"errors"
	"testing"

	"github.com/lunas-id/lunas/gateway"
)

const failure = `{"event":"ewallet.capture","business_id":"5f218745736e619164dc8608","created":"2024-03-20T04:13:05.871Z","data":{"id":"ewc_0c1e7f0a","reference_id":"ORD-9","status":"FAILED","currency":"IDR","charge_amount":150000,"capture_amount":150000,"channel_code":"ID_OVO","failure_code":"USER_DECLINED_PAYMENT"}}`

func TestVerifyAndDecode(t *testing.T) {
	t.Parallel()
	if _, err := Verify("wrong", "tok", "", []byte(failure)); !errors.Is(err, gateway.ErrAuth) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := Verify("", "", "", []byte(failure)); !errors.Is(err, gateway.ErrAuth) {
		t.Errorf("unset token must refuse everything: %v", err)
	}
	ev, err := Verify("tok", "tok", "wh-1", []byte(failure))
	if err != nil || ev.Status != gateway.StatusFailed || ev.FailureCode != "USER_DECLINED_PAYMENT" || ev.DedupeKey != "ovo:webhook:wh-1" || ev.Amount != 150000 {
		t.Errorf("%+v %v", ev, err)
	}
	for body, valid := range map[string]bool{
		`{"data":{"id":"e","reference_id":"r","status":"SUCCEEDED","capture_amount":150000}}`:   true,
		`{"data":{"id":"e","reference_id":"r","status":"SUCCEEDED","capture_amount":150000.5}}`: false,
		`{"data":{"id":"e","reference_id":"r","status":"SUCCEEDED","capture_amount":1e400}}`:    false,
	} {
		ev, err := Decode([]byte(body))
		if err != nil || ev.AmountValid != valid {
			t.Errorf("%s: valid %v err %v", body, ev.AmountValid, err)
		}
	}
	if _, err := Decode([]byte(`{"data":{}}`)); !errors.Is(err, gateway.ErrMalformed) {
		t.Errorf("empty data: %v", err)
	}
}

// FuzzVerify: no callback makes the parser panic; a wrong token is always
// refused; an accepted callback names its charge, reference and status.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(failure), "tok", "wh-1")
	f.Add([]byte(`{"data":{"id":"e","reference_id":"r","status":"SUCCEEDED","capture_amount":1e400}}`), "tok", "")
	f.Add([]byte(`{"data":null}`), "", "")
	f.Fuzz(func(t *testing.T, body []byte, token, webhookID string) {
		ev, err := Verify(token, "tok", webhookID, body)
		if token != "tok" {
			if !errors.Is(err, gateway.ErrAuth) {
				t.Fatalf("token %q not refused: %v", token, err)
			}
			return
		}
		if err != nil {
			return
		}
		if ev.AttemptID == "" || ev.TxID == "" || ev.RawStatus == "" || ev.DedupeKey == "" || (ev.AmountValid && ev.Amount < 0) {
			t.Fatalf("accepted %q as %+v", body, ev)
		}
	})
}
