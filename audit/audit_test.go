package audit_test

import (
	"strings"
	"testing"

	"github.com/lunas-id/lunas/audit"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/internal/paytest"
)

// books leaves a small but complete set of books: a paid VA order, a paid
// card order partly refunded, an adjustment, a flagged double payment.
func books(t *testing.T) *paytest.Env {
	e := paytest.New(t)
	e.Account("acme")
	e.Account("other")
	o := e.Confirmed("acme", paytest.WA(1_000_000), paytest.MUV(500))
	first := e.Pay(o.ID, gateway.MethodBCAVA)
	second := e.Pay(o.ID, gateway.MethodBNIVA)
	e.Deliver(first.ID, "settlement", "", nil)
	e.Deliver(second.ID, "settlement", "", nil) // double payment: no second credit
	o2 := e.Confirmed("other", paytest.WA(2_000_000))
	a2 := e.Pay(o2.ID, gateway.MethodMandiriBill)
	e.Deliver(a2.ID, "settlement", "", nil)
	body, err := e.Midtrans.Refund(a2.ID, 1_000_000, "refund")
	if err != nil {
		t.Fatal(err)
	}
	e.Receive(body)
	e.Adjust("other", "charge", 50_000, "Meta invoice October")
	return e
}

func TestTheBooksHold(t *testing.T) {
	t.Parallel()
	e := books(t)
	rep, err := audit.Run(e.Ctx, e.Pool)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.Print(&b)
	if !rep.OK() || !strings.Contains(b.String(), "audit: the books hold") {
		t.Fatalf("clean books:\n%s", b.String())
	}
	for _, c := range rep.Checks {
		if c.Checked == 0 {
			t.Errorf("check %s covered nothing", c.Name)
		}
	}
	t.Logf("\n%s", b.String())
}

// Each kind of corruption is found and named.
func TestCorruptionIsFound(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, sql, check, names string
	}{
		{"balance edited", `UPDATE balances SET wa_balance = wa_balance + 1 WHERE account_id = 'acme'`, "balances", "account=acme"},
		{"posting edited", `UPDATE ledger_postings SET amount = amount - 1 WHERE id = (SELECT min(id) FROM ledger_postings WHERE account_id = 'other')`, "balances", "account=other"},
		{"stray posting", `INSERT INTO ledger_postings (account_id, balance, amount, kind, memo, created_at) VALUES ('acme', 'muv', 5, 'gift', '', now());
			UPDATE balances SET muv = muv + 5 WHERE account_id = 'acme'`, "postings_have_a_source", "account=acme"},
		{"credited twice", `INSERT INTO ledger_postings (account_id, balance, amount, kind, order_id, memo, created_at)
			SELECT account_id, 'wa_balance', 7, 'topup_again', order_id, '', now() FROM ledger_postings WHERE kind = 'topup' AND account_id = 'acme' LIMIT 1;
			UPDATE balances SET wa_balance = wa_balance + 7 WHERE account_id = 'acme'`, "credited_once", "account=acme"},
		{"unconfirmed success", `UPDATE gateway_events SET confirmed_paid = false WHERE attempt_id IN (SELECT paid_attempt_id FROM orders WHERE account_id = 'other')`, "confirmed_payments", "account=other"},
		{"adjustment without its audit row", `INSERT INTO adjustments (id, account_id, product, kind, amount, reason, actor, created_at)
			VALUES ('adj_unaudited', 'acme', 'wa_balance', 'refund', 1, 'by hand', 'finance:x', now())`, "manual_postings_audited", "account=acme"},
		{"refund forgotten", `UPDATE orders SET refunded_amount = 0 WHERE account_id = 'other'`, "reversals", "account=other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := books(t)
			e.SkipAudit = true
			if _, err := e.Pool.Exec(e.Ctx, tc.sql); err != nil {
				t.Fatal(err)
			}
			rep, err := audit.Run(e.Ctx, e.Pool)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			rep.Print(&b)
			out := b.String()
			if rep.OK() || !strings.Contains(out, "discrepancy: "+tc.check) || !strings.Contains(out, tc.names) {
				t.Errorf("%s: want a %s discrepancy naming %s:\n%s", tc.name, tc.check, tc.names, out)
			}
		})
	}
}
