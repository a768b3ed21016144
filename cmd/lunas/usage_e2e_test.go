package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/lunastest"
)

// paidTopUp buys a WhatsApp balance top-up by BCA VA and settles it through
// the fake Midtrans, as a customer would.
func (s *stack) paidTopUp(accountID, email string, wa int64) {
	s.t.Helper()
	o := s.confirmedOrder(accountID, email, wa)
	var a attempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "bca_va"}, &a); code != 201 {
		s.t.Fatalf("payment: %d", code)
	}
	if err := s.midtrans.Notify(context.Background(), a.ID, "settlement", "", 1); err != nil {
		s.t.Fatal(err)
	}
	lunastest.Eventually(s.t, 15*time.Second, "top-up paid", func() bool { return s.order(o.ID).Status == "paid" })
}

type usageAnswer struct {
	Results []struct {
		ID, Outcome string
		Amount      int64
	} `json:"results"`
	Balances struct {
		WABalance int64 `json:"wa_balance"`
	} `json:"balances"`
	Required, Available int64
}

// broadcast reports n marketing sends to distinct recipients, numbered
// from first, in batches of at most 1,000.
func (s *stack) broadcast(accountID string, first, n int, aon bool) (int, usageAnswer) {
	s.t.Helper()
	var ans usageAnswer
	code := 0
	for done := 0; done < n; {
		size := min(1000, n-done)
		evs := make([]map[string]string, size)
		for i := range evs {
			k := first + done + i
			evs[i] = map[string]string{"id": fmt.Sprintf("wamid.%d", k), "kind": "send", "recipient": fmt.Sprintf("+62812%08d", k),
				"category": "marketing", "at": "2026-11-22T15:00:00+07:00"}
		}
		ans = usageAnswer{}
		code = s.call("POST", "/v1/accounts/"+accountID+"/usage", appToken, map[string]any{"events": evs, "all_or_nothing": aon}, &ans)
		if code != 200 {
			return code, ans
		}
		done += size
	}
	return code, ans
}

type accountAlerts struct {
	BillingEmail *string `json:"billing_email"`
	Balances     struct {
		WABalance int64 `json:"wa_balance"`
	} `json:"balances"`
	Alerts map[string]struct {
		Threshold *int64  `json:"threshold"`
		AlertedAt *string `json:"alerted_at"`
	} `json:"alerts"`
}

// TestLowBalanceAlertEndToEnd is acceptance 2: a paid top-up, spending
// across the 40 % line → exactly one alert mail, to the billing address
// only; none on further spending; one more after the next top-up.
func TestLowBalanceAlertEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 1})
	s.setClock("2026-11-22T10:00:00+07:00")
	if code := s.call("PUT", "/v1/accounts/acme", appToken, map[string]string{"name": "Acme", "billing_email": "not-an-address"}, nil); code != 400 {
		t.Errorf("a malformed billing_email: %d", code)
	}
	if code := s.call("PUT", "/v1/accounts/acme", appToken, map[string]string{"name": "Acme", "billing_email": "billing@acme.example"}, nil); code != 201 {
		t.Fatalf("put account: %d", code)
	}
	s.paidTopUp("acme", "sari@acme.example", 1_000_000)
	var acct accountAlerts
	s.call("GET", "/v1/accounts/acme", appToken, nil, &acct)
	wa := acct.Alerts["wa_balance"]
	if acct.Balances.WABalance != 1_000_000 || acct.BillingEmail == nil || *acct.BillingEmail != "billing@acme.example" ||
		wa.Threshold == nil || *wa.Threshold != 400_000 || wa.AlertedAt != nil {
		t.Fatalf("account after top-up: %+v", acct)
	}

	alertMails := func() (to []string) {
		for _, m := range s.sink.Messages() {
			p := parse(t, m)
			if strings.Contains(p.subject, "Saldo percakapan WhatsApp tinggal") || strings.Contains(p.subject, "is down to") {
				if len(p.cc)+len(p.bcc) != 0 {
					t.Errorf("alert mail with Cc/Bcc: %+v", p)
				}
				to = append(to, strings.Join(p.rcpt, ","))
			}
		}
		return to
	}
	// 1,000 sends of 600: 1,000,000 → 400,000, on the line, not below it.
	if code, ans := s.broadcast("acme", 0, 1000, false); code != 200 || ans.Balances.WABalance != 400_000 {
		t.Fatalf("spend to the line: %d %+v", code, ans.Balances)
	}
	s.settled(20 * time.Second)
	if got := alertMails(); len(got) != 0 {
		t.Fatalf("alert mails at the line: %v", got)
	}
	// One more crosses it; further spending sends nothing more.
	s.broadcast("acme", 1000, 1, false)
	s.broadcast("acme", 1001, 20, false)
	s.settled(20 * time.Second)
	if got := alertMails(); len(got) != 1 || got[0] != "billing@acme.example" {
		t.Fatalf("alert mails after crossing: %v, want one to billing@acme.example", got)
	}
	s.call("GET", "/v1/accounts/acme", appToken, nil, &acct)
	if acct.Alerts["wa_balance"].AlertedAt == nil {
		t.Errorf("alerted_at not shown: %+v", acct.Alerts)
	}
	s.broadcast("acme", 1021, 50, false)
	s.settled(20 * time.Second)
	if got := alertMails(); len(got) != 1 {
		t.Fatalf("alert mails after further spending: %v", got)
	}

	// The next top-up re-arms it: reference 387,400 + 1,000,000.
	s.paidTopUp("acme", "sari@acme.example", 1_000_000)
	s.call("GET", "/v1/accounts/acme", appToken, nil, &acct)
	if wa := acct.Alerts["wa_balance"]; acct.Balances.WABalance != 1_357_400 || wa.AlertedAt != nil || *wa.Threshold != 542_960 {
		t.Fatalf("after the second top-up: %+v", acct)
	}
	// Two broadcasts of 600,000 each (all or nothing): the first leaves
	// 757,400, the second crosses 542,960.
	for _, first := range []int{5000, 6000} {
		if code, ans := s.broadcast("acme", first, 1000, true); code != 200 {
			t.Fatalf("covered broadcast: %d %+v", code, ans)
		}
	}
	s.settled(20 * time.Second)
	if got := alertMails(); len(got) != 2 || got[1] != "billing@acme.example" {
		t.Fatalf("alert mails after the second crossing: %v", got)
	}
	// A broadcast the balance cannot cover: 402, nothing debited.
	code, ans := s.broadcast("acme", 7000, 1000, true)
	if code != 402 || ans.Required != 600_000 || ans.Available != 157_400 {
		t.Errorf("uncovered broadcast: %d required %d available %d", code, ans.Required, ans.Available)
	}
	s.call("GET", "/v1/accounts/acme", appToken, nil, &acct)
	if acct.Balances.WABalance != 157_400 {
		t.Errorf("balance after the refused broadcast: %d", acct.Balances.WABalance)
	}
	// Nobody but the billing address got an alert: the requester only got
	// her billing and confirmation mails.
	for _, m := range s.sink.Messages() {
		p := parse(t, m)
		if strings.Join(p.rcpt, ",") == "sari@acme.example" && (strings.Contains(p.subject, "tinggal") || strings.Contains(p.subject, "down to")) {
			t.Errorf("alert to the requester: %s", p.subject)
		}
	}
	res, err := s.client.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), `lunas_low_balance_alerts_total{balance="wa_balance"} 2`) {
		t.Errorf("metrics lack the alert counter at 2")
	}
	var sum struct {
		Categories map[string]struct{ Conversations, Amount int64 } `json:"categories"`
	}
	if code := s.call("GET", "/v1/accounts/acme/usage?from=2026-11-01&to=2026-11-30", appToken, nil, &sum); code != 200 ||
		sum.Categories["marketing"].Conversations != 3071 || sum.Categories["marketing"].Amount != 3071*600 {
		t.Errorf("usage summary: %d %+v", code, sum)
	}

	// A malformed event: 400 naming it, nothing applied.
	var prob struct {
		Errors []struct{ Field string } `json:"errors"`
	}
	code = s.call("POST", "/v1/accounts/acme/usage", appToken, `{"events":[
		{"id":"ok","kind":"send","recipient":"+6281234567890","category":"marketing","at":"2026-11-22T15:00:00+07:00"},
		{"id":"bad","kind":"send","recipient":"0812","category":"marketing","at":"2026-11-22T15:00:00+07:00"}]}`, &prob)
	if code != 400 || len(prob.Errors) != 1 || prob.Errors[0].Field != "events[1].recipient" {
		t.Errorf("malformed event: %d %+v", code, prob)
	}
	// Month-end reconciliation: 201, the same again 200, another body 409.
	s.setClock("2026-12-03T09:00:00+07:00")
	var rec struct {
		Charged, Billed, Difference int64
		Adjustment                  *struct {
			Kind   string
			Amount int64
		}
	}
	body := map[string]any{"period": "2026-11", "billed": 3071*600 + 1234, "reference": "META-INV-2026-11"}
	if code := s.call("POST", "/v1/accounts/acme/reconciliations", financeToken, body, &rec); code != 201 ||
		rec.Charged != 3071*600 || rec.Difference != 1234 || rec.Adjustment == nil || rec.Adjustment.Kind != "charge" {
		t.Errorf("reconciliation: %d %+v", code, rec)
	}
	if code := s.call("POST", "/v1/accounts/acme/reconciliations", financeToken, body, nil); code != 200 {
		t.Errorf("the same reconciliation again: %d", code)
	}
	body["billed"] = 1
	if code := s.call("POST", "/v1/accounts/acme/reconciliations", financeToken, body, nil); code != 409 {
		t.Errorf("another body: %d", code)
	}
	if code := s.call("POST", "/v1/accounts/acme/reconciliations", appToken, body, nil); code != 403 {
		t.Errorf("reconciliation by the app: %d", code)
	}
	s.call("GET", "/v1/accounts/acme", appToken, nil, &acct)
	if acct.Balances.WABalance != 157_400-1234 {
		t.Errorf("balance after the reconciliation charge: %d", acct.Balances.WABalance)
	}
}
