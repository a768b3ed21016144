package payment_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/internal/midtranstest"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/task"
)

func TestSettlementPaysOutstandingFirst(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	e.Adjust("acme", "charge", 5_000, "Meta invoice October")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodBCAVA)
	tx, _ := e.Midtrans.Tx(a.ID)
	if tx.GrossAmount != 1_110_000 {
		t.Errorf("gateway got gross_amount %d, want 1110000", tx.GrossAmount)
	}
	if !tx.ExpiryTime.Equal(*o.ExpiresAt) {
		t.Errorf("gateway expiry %s, want the order deadline %s", tx.ExpiryTime, o.ExpiresAt.In(paytest.Jakarta))
	}
	if a.Details["va_number"] == nil || a.Details["bank"] != "bca" {
		t.Errorf("attempt details = %v", a.Details)
	}
	e.Deliver(a.ID, "settlement", "", nil)
	if got := e.Order(o.ID); got.Status != order.StatusPaid || got.PaidAt == nil {
		t.Fatalf("order %s", got.Status)
	}
	cached, derived := e.Balances("acme")
	want := ledger.Balances{WABalance: 995_000, Outstanding: 0}
	if cached != want || derived != want {
		t.Errorf("balances cached %+v derived %+v, want %+v", cached, derived, want)
	}
	if n := e.Count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'confirmation'`, o.ID); n != 1 {
		t.Errorf("confirmation mails = %d", n)
	}
}

func TestConcurrentDuplicateSettlementsCreditOnce(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000), paytest.MUV(500))
	a := e.Pay(o.ID, gateway.MethodBNIVA)
	body, err := e.Midtrans.Notification(a.ID, "settlement", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := midtrans.Verify(body, paytest.ServerKey)
			if err != nil {
				errs <- err
				return
			}
			id, err := e.Payments.RecordEvent(e.Ctx, ev)
			if err != nil {
				errs <- err
				return
			}
			// Every delivery applies the one inbox event, as redelivered tasks would.
			if id == 0 {
				_ = e.Pool.QueryRow(e.Ctx, `SELECT id FROM gateway_events LIMIT 1`).Scan(&id)
			}
			if err := e.Payments.ApplyEvent(e.Ctx, id, task.ApplyID(id)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.Count(`SELECT count(*) FROM gateway_events`); n != 1 {
		t.Errorf("inbox events = %d, want 1", n)
	}
	if n := e.Count(`SELECT count(*) FROM ledger_postings WHERE order_id = $1`, o.ID); n != 2 {
		t.Errorf("postings = %d, want 2 (wa + muv)", n)
	}
	cached, derived := e.Balances("acme")
	if cached.WABalance != 1_000_000 || cached.MUV != 500 || cached != derived {
		t.Errorf("balances %+v derived %+v", cached, derived)
	}
	if n := e.Count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'confirmation'`, o.ID); n != 1 {
		t.Errorf("confirmation mails = %d", n)
	}
}

// Out-of-order or replayed bodies after a settlement change nothing: the
// gateway still says settlement. A stale pending is only a prompt to look;
// a body claiming a failure the gateway does not report is flagged.
func TestForwardOnly(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	for _, late := range []string{"pending", "expire", "deny", "cancel"} {
		o := e.Confirmed("acme", paytest.WA(1_000_000))
		a := e.Pay(o.ID, gateway.MethodBRIVA)
		e.Deliver(a.ID, "settlement", "", nil)
		body, err := e.Midtrans.Stale(a.ID, late, "")
		if err != nil {
			t.Fatal(err)
		}
		id := e.Receive(body)
		got := e.Order(o.ID)
		if got.Status != order.StatusPaid || got.Payments[0].Status != order.AttemptSucceeded {
			t.Errorf("settlement then %s: order %s attempt %s", late, got.Status, got.Payments[0].Status)
		}
		flag, outcome := e.Flag(id)
		if want := map[bool]string{true: "", false: payment.FlagUnconfirmed}[late == "pending"]; flag != want {
			t.Errorf("stale %s: flag %q (%s), want %q", late, flag, outcome, want)
		}
	}
	cached, derived := e.Balances("acme")
	if cached.WABalance != 4_000_000 || cached != derived {
		t.Errorf("balances %+v derived %+v", cached, derived)
	}
}

func TestCardOutcomes(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	cases := []struct {
		status, fraud string
		order         order.Status
		attempt       order.AttemptStatus
	}{
		{"capture", "accept", order.StatusPaid, order.AttemptSucceeded},
		{"capture", "challenge", order.StatusAwaitingPayment, order.AttemptPending},
		{"deny", "accept", order.StatusAwaitingPayment, order.AttemptFailed},
	}
	for _, tc := range cases {
		o := e.Confirmed("acme", paytest.WA(1_000_000))
		a := e.Pay(o.ID, gateway.MethodCreditCard)
		// Card fee: 3.5 % of 1,110,000 = 38,850 on top.
		if a.Fee != 38_850 || a.Amount != 1_148_850 || a.Details["redirect_url"] == nil {
			t.Fatalf("card attempt %+v", a)
		}
		if tx, _ := e.Midtrans.Tx(a.ID); tx.GrossAmount != 1_148_850 {
			t.Errorf("gateway got %d", tx.GrossAmount)
		}
		e.Deliver(a.ID, tc.status, tc.fraud, nil)
		got := e.Order(o.ID)
		if got.Status != tc.order || got.Payments[0].Status != tc.attempt {
			t.Errorf("%s/%s: order %s attempt %s, want %s %s", tc.status, tc.fraud, got.Status, got.Payments[0].Status, tc.order, tc.attempt)
		}
		if tc.attempt == order.AttemptFailed {
			// Still payable: another attempt settles it.
			b := e.Pay(o.ID, gateway.MethodBCAVA)
			e.Deliver(b.ID, "settlement", "", nil)
			if got := e.Order(o.ID); got.Status != order.StatusPaid {
				t.Errorf("after deny, VA payment: order %s", got.Status)
			}
		}
	}
	cached, _ := e.Balances("acme")
	if cached.WABalance != 2_000_000 {
		t.Errorf("wa balance %d, want 2,000,000 (capture + VA after deny; challenge credits nothing)", cached.WABalance)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")

	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodBCAVA)
	off := int64(1_109_999)
	e.Deliver(a.ID, "settlement", "", &off)
	if got := e.Order(o.ID); got.Status != order.StatusAwaitingPayment {
		t.Errorf("amount off by one: order %s", got.Status)
	}
	if n := e.Count(`SELECT count(*) FROM gateway_events WHERE flag = 'amount_mismatch'`); n != 1 {
		t.Errorf("amount_mismatch flags = %d", n)
	}

	// A late payment: the order expired, the money came anyway.
	o2 := e.Confirmed("acme", paytest.WA(1_000_000))
	a2 := e.Pay(o2.ID, gateway.MethodPermataVA)
	e.Clock.Set(o2.ExpiresAt.Add(time.Second))
	e.Midtrans.SetFaults(midtranstest.FaultNone, midtranstest.Fault500) // status check fails: expire anyway
	if _, err := e.Payments.Sweep(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.Order(o2.ID); got.Status != order.StatusExpired {
		t.Fatalf("order %s, want expired", got.Status)
	}
	e.Midtrans.SetFaults(midtranstest.FaultNone, midtranstest.FaultNone)
	e.Deliver(a2.ID, "settlement", "", nil)
	if got := e.Order(o2.ID); got.Status != order.StatusPaid {
		t.Errorf("late settlement: order %s", got.Status)
	}
	if n := e.Count(`SELECT count(*) FROM gateway_events WHERE flag = 'paid_late'`); n != 1 {
		t.Errorf("paid_late flags = %d", n)
	}
	// Unknown attempt: recorded and flagged for finance.
	ev := gateway.Event{Provider: gateway.ProviderMidtrans, DedupeKey: "midtrans:x:settlement:accept",
		Payload: []byte(`{"order_id":"pay_unknown","transaction_status":"settlement","transaction_id":"x","gross_amount":"10.00"}`)}
	id, err := e.Payments.RecordEvent(e.Ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Payments.ApplyEvent(e.Ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	evs, err := e.Payments.ListEvents(e.Ctx, payment.EventFilter{Flag: payment.FlagUnmatched})
	if err != nil || len(evs) != 1 {
		t.Errorf("unmatched events %v %v", evs, err)
	}
}

func TestExpiryAsksTheGatewayFirst(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodBCAVA)
	// Paid a second before 23:59; the notification has not arrived yet.
	if _, err := e.Midtrans.Notification(a.ID, "settlement", "", nil); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(*o.ExpiresAt)
	if err := e.Payments.Expire(e.Ctx, o.ID, "expire:"+o.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.Order(o.ID); got.Status != order.StatusPaid {
		t.Errorf("order %s, want paid (status check found the settlement)", got.Status)
	}
}

func TestSweepDeadlines(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	draft, err := e.Invoices.CreateOrder(e.Ctx, invoice.CreateInput{AccountID: "acme", Requester: order.Requester{Name: "A", Email: "a@acme.example"}, Items: []order.ItemRequest{paytest.WA(1)}})
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(time.Date(2026, 11, 23, 23, 58, 59, 0, paytest.Jakarta))
	for i := 0; i < 2; i++ {
		if _, err := e.Payments.Sweep(e.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.Order(o.ID); got.Status != order.StatusAwaitingPayment {
		t.Fatalf("at 23:58:59: %s", got.Status)
	}
	e.Clock.Set(time.Date(2026, 11, 23, 23, 59, 0, 0, paytest.Jakarta))
	var wg sync.WaitGroup
	var mu sync.Mutex
	expired := 0
	for i := 0; i < 4; i++ { // four sweepers at once: one transition
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.Payments.Sweep(e.Ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			expired += r.Expired
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got := e.Order(o.ID); got.Status != order.StatusExpired {
		t.Fatalf("at 23:59:00: %s", got.Status)
	}
	if got := e.Order(draft.ID); got.Status != order.StatusDraft {
		t.Errorf("draft at 37h59: %s", got.Status)
	}
	e.Clock.Set(draft.CreatedAt.Add(order.DraftLifetime))
	closed, err := e.Orders.CloseDrafts(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Order(draft.ID); got.Status != order.StatusClosed || closed != 1 {
		t.Errorf("draft at 120 h: %s (closed %d)", got.Status, closed)
	}
}

func TestIllegalTransitionsAre409(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	_, err := e.Invoices.PatchOrder(e.Ctx, o.ID, []order.ItemRequest{paytest.WA(2_000_000)})
	var de *lunas.Error
	if !errors.As(err, &de) || de.Kind != lunas.KindConflict {
		t.Fatalf("patch awaiting_payment: %v", err)
	}
	if want := "awaiting_payment"; !contains(de.Message, want) {
		t.Errorf("detail %q does not name the status", de.Message)
	}
	if _, err := e.Invoices.Cancel(e.Ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Payments.CreatePayment(e.Ctx, o.ID, payment.PaymentInput{Method: gateway.MethodBCAVA}); lunas.KindOf(err) != lunas.KindConflict {
		t.Errorf("pay a cancelled order: %v", err)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

// The first settled attempt pays the order; the others are closed and
// cancelled at the gateway.
func TestOtherAttemptsAreCancelledAtTheGateway(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	first := e.Pay(o.ID, gateway.MethodBCAVA)
	second := e.Pay(o.ID, gateway.MethodBNIVA)
	e.Deliver(second.ID, "settlement", "", nil)
	status := map[string]order.AttemptStatus{}
	for _, a := range e.Order(o.ID).Payments {
		status[a.ID] = a.Status
	}
	if status[first.ID] != order.AttemptCancelled || status[second.ID] != order.AttemptSucceeded {
		t.Fatalf("attempts: first %s, second %s", status[first.ID], status[second.ID])
	}
	if n := e.Count(`SELECT count(*) FROM outbox WHERE id = $1 AND task_type = 'payment:cancel'`, "cancel:"+first.ID); n != 1 {
		t.Fatalf("cancel jobs = %d", n)
	}
	if err := e.Payments.CancelAtGateway(e.Ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, cancels := e.Midtrans.Counts(); len(cancels) != 1 || cancels[0] != first.ID {
		t.Errorf("gateway cancels %v", cancels)
	}
	if tx, _ := e.Midtrans.Tx(first.ID); tx.Status != "cancel" {
		t.Errorf("gateway transaction %s", tx.Status)
	}
	// The money of a late settlement on the cancelled attempt is still kept (double payment, flagged).
	e.Deliver(first.ID, "settlement", "", nil)
	if n := e.Count(`SELECT count(*) FROM gateway_events WHERE flag = 'double_payment'`); n != 1 {
		t.Errorf("double_payment flags = %d", n)
	}
	if n := e.Count(`SELECT count(*) FROM ledger_postings WHERE order_id = $1`, o.ID); n != 1 {
		t.Errorf("postings = %d, want 1", n)
	}
}

// A refund the gateway confirms without saying how much (a Midtrans
// refund with no refund_amount, at the callback and at the status
// lookup) is a refund of all that is left of the payment, never read as
// 0 and ignored; a partial one without its amount is flagged for finance
// and changes nothing.
func TestRefundWithoutAmount(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodBCAVA)
	e.Deliver(a.ID, "settlement", "", nil)
	if got := e.Order(o.ID); got.Status != order.StatusPaid {
		t.Fatalf("order %s, want paid", got.Status)
	}
	id := e.Deliver(a.ID, "refund", "", nil)
	flag, outcome := e.Flag(id)
	got := e.Order(o.ID)
	if got.Status != order.StatusRefunded || got.RefundedAmount != a.Amount || flag != payment.FlagReversed {
		t.Errorf("after a refund without amount: order %s refunded %d, event %q %q; want refunded %d, flagged reversed",
			got.Status, got.RefundedAmount, flag, outcome, a.Amount)
	}
	if n := e.Count(`SELECT count(*) FROM reversals WHERE attempt_id = $1 AND gateway_total = $2`, a.ID, a.Amount); n != 1 {
		t.Errorf("reversals of the whole payment: %d, want 1", n)
	}
	if c, d := e.Balances("acme"); c.WABalance != 0 || c != d {
		t.Errorf("balances after the refund: cached %+v, derived %+v; want nothing left", c, d)
	}
	// The same again changes nothing more.
	e.Deliver(a.ID, "refund", "", nil)
	if n := e.Count(`SELECT count(*) FROM reversals WHERE attempt_id = $1`, a.ID); n != 1 {
		t.Errorf("reversals after a repeat: %d, want 1", n)
	}

	o2 := e.Confirmed("acme", paytest.WA(1_000_000))
	a2 := e.Pay(o2.ID, gateway.MethodBNIVA)
	e.Deliver(a2.ID, "settlement", "", nil)
	id = e.Deliver(a2.ID, "partial_refund", "", nil)
	if flag, outcome := e.Flag(id); flag != payment.FlagUnconfirmed || !strings.Contains(outcome, "without its amount") {
		t.Errorf("a partial refund without amount: %q %q, want flagged unconfirmed", flag, outcome)
	}
	if got := e.Order(o2.ID); got.Status != order.StatusPaid || got.RefundedAmount != 0 {
		t.Errorf("order after an unknown partial refund: %s refunded %d, want paid, nothing taken back", got.Status, got.RefundedAmount)
	}
}
