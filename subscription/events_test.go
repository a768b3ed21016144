package subscription_test

import (
	"testing"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/webhook"
)

// The app hears of a subscription invoice when it is issued (the order as
// issued, with its invoice number) and, once, when its due date has passed
// unpaid (invoice.overdue, the worker's sweep); a paid one is never
// overdue, and a second sweep tells nothing again.
func TestIssuedAndOverdueEvents(t *testing.T) {
	e, subs := setup(t)
	sealer, err := webhook.NewSealer("subscription test key")
	if err != nil {
		t.Fatal(err)
	}
	hooks := webhook.NewService(e.Pool, e.Clock, sealer, webhook.Policy{}, lunastest.Logger())
	if _, err := hooks.Create(e.Ctx, webhook.EndpointInput{URL: "http://127.0.0.1:9/hook", Events: []string{webhook.SubscriptionInvoiceIssued, webhook.InvoiceOverdue}}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(at(t, "2026-11-22 10:00:00"))
	unpaid := create(t, e, subs, "2026-12-20")
	paid := create(t, e, subs, "2026-12-20")
	if n := issue(t, e, subs, "2026-12-15 00:00:00"); n != 2 {
		t.Fatalf("issued %d, want 2", n)
	}
	var number, orderID string
	if err := e.Pool.QueryRow(e.Ctx, `SELECT ev.snapshot->>'InvoiceNumber', ev.subject FROM webhook_events ev JOIN orders o ON o.id = ev.subject
		WHERE ev.type = $1 AND o.subscription_id = $2`, webhook.SubscriptionInvoiceIssued, unpaid.ID).Scan(&number, &orderID); err != nil {
		t.Fatalf("no subscription.invoice_issued for the invoice: %v", err)
	}
	if number == "" {
		t.Error("subscription.invoice_issued carries no invoice number")
	}
	if n := e.Count(`SELECT count(*) FROM webhook_events WHERE type = $1`, webhook.SubscriptionInvoiceIssued); n != 2 {
		t.Errorf("%d subscription.invoice_issued events, want 2", n)
	}
	// The other invoice is paid by VA before its due date.
	var paidOrder string
	if err := e.Pool.QueryRow(e.Ctx, `SELECT id FROM orders WHERE subscription_id = $1`, paid.ID).Scan(&paidOrder); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(at(t, "2026-12-19 09:00:00"))
	e.Deliver(e.Pay(paidOrder, gateway.MethodBCAVA).ID, "settlement", "", nil)
	if s := e.Order(paidOrder).Status; s != order.StatusPaid {
		t.Fatalf("the paid invoice is %s", s)
	}
	overdue := func(now string) int {
		t.Helper()
		e.Clock.Set(at(t, now))
		n, err := e.Orders.NotifyOverdue(e.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := overdue("2026-12-20 23:59:59"); n != 0 {
		t.Errorf("told of %d overdue invoices on the due date itself, want 0", n)
	}
	if n := overdue("2026-12-21 00:00:00"); n != 1 {
		t.Errorf("told of %d overdue invoices the day after, want 1 (the unpaid one)", n)
	}
	if n := overdue("2026-12-22 08:00:00"); n != 0 {
		t.Errorf("told of %d more the next day, want none", n)
	}
	if n := e.Count(`SELECT count(*) FROM webhook_events WHERE type = $1 AND subject = $2`, webhook.InvoiceOverdue, orderID); n != 1 {
		t.Errorf("%d invoice.overdue events for the unpaid invoice, want 1", n)
	}
	if n := e.Count(`SELECT count(*) FROM webhook_events WHERE type = $1 AND subject = $2`, webhook.InvoiceOverdue, paidOrder); n != 0 {
		t.Errorf("%d invoice.overdue events for the paid one", n)
	}
	if s := e.Order(orderID).Status; s != order.StatusAwaitingPayment {
		t.Errorf("the overdue invoice is %s, want still awaiting payment", s)
	}
}
