package invoice_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/invoice"
)

func TestConfirmIssuesGapFreeNumbersAndDeadline(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	var got []string
	for i := 0; i < 3; i++ {
		o := e.Confirmed("acme", paytest.WA(999_000), paytest.MUV(700))
		got = append(got, *o.InvoiceNumber)
		if want := time.Date(2026, 11, 23, 23, 59, 0, 0, paytest.Jakarta); !o.ExpiresAt.Equal(want) {
			t.Errorf("expires_at = %s, want %s", o.ExpiresAt.In(paytest.Jakarta), want)
		}
		if o.Status != invoice.StatusAwaitingPayment || o.Total != 1_776_000 {
			t.Errorf("order = %s %d", o.Status, o.Total)
		}
	}
	if fmt.Sprint(got) != "[INV-2026-000001 INV-2026-000002 INV-2026-000003]" {
		t.Errorf("numbers = %v", got)
	}
	_, err := e.Orders.Confirm(e.Ctx, e.Order(mustLast(t, e)).ID)
	if lunas.KindOf(err) != lunas.KindConflict {
		t.Errorf("second confirm: %v, want conflict", err)
	}
	// Billing mail to the requester, UNPAID render and expiry queued, once per order.
	if n := e.Count(`SELECT count(*) FROM mails WHERE kind = 'billing' AND to_addr = 'sari@acme.example'`); n != 3 {
		t.Errorf("billing mails = %d", n)
	}
	if n := e.Count(`SELECT count(*) FROM outbox WHERE task_type = 'invoice:expire' AND process_at IS NOT NULL`); n != 3 {
		t.Errorf("expiry jobs = %d", n)
	}
}

func mustLast(t *testing.T, e *paytest.Env) string {
	var id string
	if err := e.Pool.QueryRow(e.Ctx, `SELECT id FROM orders ORDER BY created_at DESC, id DESC LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
