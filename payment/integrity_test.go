package payment_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/review"
)

// relabel rewrites a signed notification's transaction_status, leaving the
// signature (which does not cover it) as it was: the attack of issue 12.
func relabel(t *testing.T, body []byte, status string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["transaction_status"] = status
	out, _ := json.Marshal(m)
	return out
}

func TestARelabelledMidtransBodyCreditsNothing(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodBCAVA)
	pending, err := e.Midtrans.Stale(a.ID, "pending", "")
	if err != nil {
		t.Fatal(err)
	}
	// A correctly signed pending body (status_code 201) relabelled "settlement".
	id := e.Receive(relabel(t, pending, "settlement"))
	if flag, outcome := e.Flag(id); flag != payment.FlagUnconfirmed {
		t.Errorf("relabelled body: flag %q (%s), want unconfirmed", flag, outcome)
	}
	// The same body with the code relabelled too fails the signature: it
	// never reaches the inbox (the webhook answers 401).
	forged := strings.Replace(string(relabel(t, pending, "settlement")), `"status_code":"201"`, `"status_code":"200"`, 1)
	if _, err := verify([]byte(forged)); err == nil {
		t.Error("a body whose status_code was changed passed the signature check")
	}
	// A consistent body (settlement, 200) the gateway does not bear out: a
	// replay of another transaction's success, say.
	fake, _ := e.Midtrans.Stale(a.ID, "settlement", "")
	id = e.Receive(fake)
	if flag, outcome := e.Flag(id); flag != payment.FlagUnconfirmed || !strings.Contains(outcome, "gateway says pending") {
		t.Errorf("unconfirmed settlement: flag %q (%s)", flag, outcome)
	}
	if got := e.Order(o.ID); got.Status != order.StatusAwaitingPayment {
		t.Fatalf("order %s after forged bodies", got.Status)
	}
	if c, _ := e.Balances("acme"); c.WABalance != 0 {
		t.Fatalf("credited %d on forged bodies", c.WABalance)
	}
	// Replaying the one signed body any number of times makes no new rows.
	for i := 0; i < 20; i++ {
		e.Receive(relabel(t, pending, "settlement"))
	}
	if n := e.Count(`SELECT count(*) FROM gateway_events`); n != 2 {
		t.Errorf("inbox rows %d after replays, want 2", n)
	}
	// The real settlement credits.
	e.Deliver(a.ID, "settlement", "", nil)
	if got := e.Order(o.ID); got.Status != order.StatusPaid {
		t.Errorf("real settlement: order %s", got.Status)
	}
	if c, _ := e.Balances("acme"); c.WABalance != 1_000_000 {
		t.Errorf("balance %d", c.WABalance)
	}
}

func verify(body []byte) (gateway.Event, error) {
	return midtrans.Verify(body, paytest.ServerKey)
}

func TestAContradictedOVOCallbackCreditsNothing(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodOVO)
	// Anyone holding the static token could send this; the charge is still PENDING.
	body, err := e.Xendit.Stale(a.ID, "SUCCEEDED")
	if err != nil {
		t.Fatal(err)
	}
	id := e.ReceiveOVO(body)
	if flag, outcome := e.Flag(id); flag != payment.FlagUnconfirmed {
		t.Errorf("flag %q (%s), want unconfirmed", flag, outcome)
	}
	if got := e.Order(o.ID); got.Status != order.StatusAwaitingPayment {
		t.Fatalf("order %s", got.Status)
	}
	if e.Xendit.Lookups() == 0 {
		t.Error("the charge was not looked up at Xendit")
	}
	real, err := e.Xendit.Callback(a.ID, "SUCCEEDED", "")
	if err != nil {
		t.Fatal(err)
	}
	e.ReceiveOVO(real)
	if got := e.Order(o.ID); got.Status != order.StatusPaid {
		t.Errorf("real SUCCEEDED: order %s", got.Status)
	}
}

// storm delivers body n times at once, as the webhook and redelivered
// tasks would.
func storm(t *testing.T, e *paytest.Env, n int, receive func([]byte) int64, body []byte) {
	t.Helper()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); receive(body) }()
	}
	wg.Wait()
}

func TestRefundsAndChargebacksReverseOnce(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	// wa 1,000,000 and 1,000 visitors (600,000): total 1,776,000.
	o := e.Confirmed("acme", paytest.WA(1_000_000), paytest.MUV(1000))
	a := e.Pay(o.ID, gateway.MethodBCAVA)
	e.Deliver(a.ID, "settlement", "", nil)

	// A partial refund of half, delivered 50 times at once.
	body, err := e.Midtrans.Refund(a.ID, 888_000, "refund")
	if err != nil {
		t.Fatal(err)
	}
	storm(t, e, 50, e.Receive, body)
	c, d := e.Balances("acme")
	if want := (ledger.Balances{WABalance: 500_000, MUV: 500}); c != want || d != want {
		t.Fatalf("after half refunded ×50: cached %+v derived %+v, want %+v", c, d, want)
	}
	got := e.Order(o.ID)
	if got.Status != order.StatusPaid || got.RefundedAmount != 888_000 {
		t.Errorf("order %s refunded %d", got.Status, got.RefundedAmount)
	}
	// A second partial refund: cumulative 1,332,000 = ¾.
	body, _ = e.Midtrans.Refund(a.ID, 444_000, "refund")
	e.Receive(body)
	if c, _ := e.Balances("acme"); c.WABalance != 250_000 || c.MUV != 250 {
		t.Errorf("after ¾ refunded: %+v", c)
	}
	// Spend the balance, then a chargeback of the rest: what the balance
	// no longer holds becomes outstanding; visitors go down to 0 at most.
	e.Adjust("acme", "charge", 200_000, "usage")
	body, _ = e.Midtrans.Refund(a.ID, 444_000, "chargeback")
	storm(t, e, 10, e.Receive, body)
	c, d = e.Balances("acme")
	if want := (ledger.Balances{WABalance: 0, MUV: 0, Outstanding: 200_000}); c != want || d != want {
		t.Errorf("after the chargeback: cached %+v derived %+v, want %+v", c, d, want)
	}
	got = e.Order(o.ID)
	if got.Status != order.StatusRefunded || got.RefundedAmount != 1_776_000 {
		t.Errorf("fully taken back: order %s refunded %d", got.Status, got.RefundedAmount)
	}
	if n := e.Count(`SELECT count(*) FROM reversals WHERE order_id = $1`, o.ID); n != 3 {
		t.Errorf("reversals %d, want 3", n)
	}
	if n := e.Count(`SELECT count(*) FROM gateway_events WHERE flag = 'reversed'`); n != 3 {
		t.Errorf("reversed flags %d, want 3", n)
	}
	// One refund notice per reversal, to the requester only.
	if n := e.Count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'refund' AND to_addr = 'sari@acme.example'`, o.ID); n != 3 {
		t.Errorf("refund mails %d, want 3", n)
	}
	if n := e.Count(`SELECT count(*) FROM mails WHERE kind = 'refund' AND to_addr <> 'sari@acme.example'`); n != 0 {
		t.Errorf("refund mails to others: %d", n)
	}
}

// Rounding is half-up once per balance on the cumulative share: a refund
// of 1 rupiah of 1,776,000 takes 1 rupiah of WhatsApp balance (0.563) and
// no visitor (0.00056).
func TestReversalRoundsHalfUpOnce(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000), paytest.MUV(1000))
	a := e.Pay(o.ID, gateway.MethodBNIVA)
	e.Deliver(a.ID, "settlement", "", nil)
	body, _ := e.Midtrans.Refund(a.ID, 1, "refund")
	e.Receive(body)
	if c, _ := e.Balances("acme"); c.WABalance != 999_999 || c.MUV != 1000 {
		t.Errorf("after 1 rupiah: %+v", c)
	}
	body, _ = e.Midtrans.Refund(a.ID, 1_775_999, "refund")
	e.Receive(body)
	if c, _ := e.Balances("acme"); c.WABalance != 0 || c.MUV != 0 || c.Outstanding != 0 {
		t.Errorf("after the rest: %+v (a full refund must take back exactly the credit)", c)
	}
}

func TestSettlementThenDenyIsReversed(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodPermataVA)
	e.Deliver(a.ID, "settlement", "", nil)
	e.Deliver(a.ID, "deny", "", nil) // Permata and Mandiri bill may reverse a settlement
	got := e.Order(o.ID)
	if got.Status != order.StatusRefunded || got.RefundedAmount != 1_110_000 {
		t.Errorf("order %s refunded %d", got.Status, got.RefundedAmount)
	}
	if c, _ := e.Balances("acme"); c.WABalance != 0 {
		t.Errorf("balance %d", c.WABalance)
	}
	// Refunded before its confirmation went out (the fault suite found
	// this): the PAID proforma the confirmation attaches still renders.
	r, err := proforma.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	docs := proforma.NewDocuments(proforma.Options{Pool: e.Pool, Clock: e.Clock, Renderer: r, Seller: proforma.Seller{Name: "PT Lunas"}, Location: paytest.Jakarta})
	if _, err := docs.Ensure(e.Ctx, o.ID, proforma.KindPaid); err != nil {
		t.Errorf("PAID proforma of a refunded order: %v", err)
	}
}

func TestOVOVoidAndRefundAreReversed(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodOVO)
	body, _ := e.Xendit.Callback(a.ID, "SUCCEEDED", "")
	e.ReceiveOVO(body)
	// Xendit's refund callback names only the charge (charge_id).
	body, err := e.Xendit.RefundCallback(a.ID, 555_000)
	if err != nil {
		t.Fatal(err)
	}
	storm(t, e, 50, e.ReceiveOVO, body)
	if c, _ := e.Balances("acme"); c.WABalance != 500_000 {
		t.Errorf("after half refunded ×50: %d", c.WABalance)
	}
	if got := e.Order(o.ID); got.RefundedAmount != 555_000 || got.Status != order.StatusPaid {
		t.Errorf("order %s refunded %d", got.Status, got.RefundedAmount)
	}

	o2 := e.Confirmed("acme", paytest.WA(2_000_000))
	a2 := e.Pay(o2.ID, gateway.MethodOVO)
	body, _ = e.Xendit.Callback(a2.ID, "SUCCEEDED", "")
	e.ReceiveOVO(body)
	body, _ = e.Xendit.Callback(a2.ID, "VOIDED", "")
	storm(t, e, 10, e.ReceiveOVO, body)
	if got := e.Order(o2.ID); got.Status != order.StatusRefunded {
		t.Errorf("voided: order %s", got.Status)
	}
	if c, _ := e.Balances("acme"); c.WABalance != 500_000 {
		t.Errorf("after the void: %d", c.WABalance)
	}
	// Any other verified event type is kept and changes nothing.
	id := e.ReceiveOVO([]byte(`{"event":"payment_method.expired","business_id":"b","created":"2026-11-22T03:00:00Z","data":{"id":"pm_1","status":"EXPIRED"}}`))
	if flag, outcome := e.Flag(id); flag != "" || !strings.HasPrefix(outcome, "ignored") {
		t.Errorf("unknown event type: flag %q outcome %q", flag, outcome)
	}
}

// Issue 12's third failure: a VA stays open while the order is re-priced.
func TestAPriceNeverChangesUnderAnOpenPayment(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	va := e.Pay(o.ID, gateway.MethodBNIVA)
	e.Pay(o.ID, gateway.MethodManualTransfer)
	png := lunastest.ProofPNG(t)
	if _, err := e.Reviews.SubmitProof(e.Ctx, o.ID, review.ProofInput{File: png, Amount: 1_110_000,
		TransferredAt: e.Clock.Now().Add(-time.Minute), SenderBank: "BCA", SenderName: "Sari"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Reviews.Review(e.Ctx, o.ID, "finance:t", review.ReviewInput{Decision: "reject", Reason: "blurred"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Pool.Exec(e.Ctx, `INSERT INTO documents (order_id, kind, pdf, sha256, rendered_at) VALUES ($1, 'unpaid', 'old', 'x', now())`, o.ID); err != nil {
		t.Fatal(err)
	}
	patched, err := e.Invoices.PatchOrder(e.Ctx, o.ID, []order.ItemRequest{paytest.WA(50_000_000)})
	if err != nil {
		t.Fatal(err)
	}
	if patched.Status != order.StatusInReview || patched.Total != 55_500_000 {
		t.Fatalf("patched: %s %d", patched.Status, patched.Total)
	}
	if _, _, cancels := e.Midtrans.Counts(); len(cancels) != 1 || cancels[0] != va.ID {
		t.Errorf("gateway cancels %v, want the VA", cancels)
	}
	for _, p := range patched.Payments {
		if p.Status == order.AttemptPending {
			t.Errorf("attempt %s (%s) still pending after the re-price", p.ID, p.Method)
		}
		if p.ID == va.ID && p.Amount != 1_110_000 {
			t.Errorf("the VA's amount was rewritten to %d", p.Amount)
		}
	}
	if n := e.Count(`SELECT count(*) FROM documents WHERE order_id = $1 AND kind = 'unpaid'`, o.ID); n != 0 {
		t.Errorf("the UNPAID proforma of the old price is still stored")
	}
	if n := e.Count(`SELECT count(*) FROM outbox WHERE task_type = 'pdf:render' AND id LIKE 'pdf:' || $1 || ':unpaid%'`, o.ID); n != 2 {
		t.Errorf("render jobs %d, want 2 (confirm, re-price)", n)
	}
	// Money still arrives on the old VA (the bank was slow): nothing credited.
	id := e.Deliver(va.ID, "settlement", "", nil)
	if flag, outcome := e.Flag(id); flag != payment.FlagSuperseded {
		t.Errorf("late money on the old VA: flag %q (%s)", flag, outcome)
	}
	if c, _ := e.Balances("acme"); c.WABalance != 0 {
		t.Errorf("credited %d through a superseded attempt", c.WABalance)
	}
	if got := e.Order(o.ID); got.Status != order.StatusInReview {
		t.Errorf("order %s", got.Status)
	}
	// Accepting the corrected order pays the new price through a new attempt.
	got, err := e.Reviews.Review(e.Ctx, o.ID, "finance:t", review.ReviewInput{Decision: "accept"})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := e.Balances("acme"); got.Status != order.StatusPaid || c.WABalance != 50_000_000 {
		t.Errorf("accepted: %s balance %d", got.Status, c.WABalance)
	}
}

// An OVO push the customer may still approve cannot be cancelled: the
// re-price is refused and nothing changes.
func TestRePriceRefusedWhileAnOVOPushIsOpen(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	e.Pay(o.ID, gateway.MethodOVO)
	if _, err := e.Pool.Exec(e.Ctx, `UPDATE orders SET status = 'rejected' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.Invoices.PatchOrder(e.Ctx, o.ID, []order.ItemRequest{paytest.WA(9_000_000)})
	if lunas.KindOf(err) != lunas.KindConflict || !strings.Contains(err.Error(), "still open") {
		t.Fatalf("patch with an open OVO push: %v", err)
	}
	if got := e.Order(o.ID); got.Total != 1_110_000 || got.Status != order.StatusRejected {
		t.Errorf("order changed: %s %d", got.Status, got.Total)
	}
}

// Issue 12's fourth failure: a settlement whose callback never comes is
// found by the janitor once LUNAS_RECONCILE_AFTER has passed.
func TestTheJanitorFindsALostCallback(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodMandiriBill)
	still := e.Pay(o.ID, gateway.MethodBCAVA)
	// Paid at the gateway; the notification is lost.
	if _, err := e.Midtrans.Notification(a.ID, "settlement", "", nil); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(e.Clock.Now().Add(15*time.Minute - time.Second))
	if n, err := e.Payments.Reconcile(e.Ctx); err != nil || n != 0 {
		t.Fatalf("before LUNAS_RECONCILE_AFTER: asked %d (%v)", n, err)
	}
	e.Clock.Set(e.Clock.Now().Add(time.Second))
	if n, err := e.Payments.Reconcile(e.Ctx); err != nil || n != 2 {
		t.Fatalf("at LUNAS_RECONCILE_AFTER: asked %d (%v), want 2", n, err)
	}
	if got := e.Order(o.ID); got.Status != order.StatusPaid || *got.PaidAttemptID != a.ID {
		t.Fatalf("order %s", got.Status)
	}
	// The other attempt was cancelled by the settlement, so it is asked no more.
	var checks int
	var next *time.Time
	if err := e.Pool.QueryRow(e.Ctx, `SELECT checks, next_check_at FROM payment_attempts WHERE id = $1`, still.ID).Scan(&checks, &next); err != nil {
		t.Fatal(err)
	}
	if checks != 1 || !next.Equal(e.Clock.Now().Add(60*time.Minute)) {
		t.Errorf("next check of the pending one: checks %d at %v, want 1 at now + 4 × 15 min", checks, next)
	}
	if n, _ := e.Payments.Reconcile(e.Ctx); n != 0 {
		t.Errorf("asked again at once: %d", n)
	}
}

// Each VA, bill or manual-transfer attempt mails its instructions to the
// requester, once; cards and OVO do not (they are paid on the spot).
func TestPaymentInstructionsAreMailedOncePerAttempt(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	va := e.Pay(o.ID, gateway.MethodBCAVA)
	bill := e.Pay(o.ID, gateway.MethodMandiriBill)
	transfer := e.Pay(o.ID, gateway.MethodManualTransfer)
	e.Pay(o.ID, gateway.MethodCreditCard)
	e.Pay(o.ID, gateway.MethodOVO)
	for _, a := range []*order.Attempt{va, bill, transfer} {
		if n := e.Count(`SELECT count(*) FROM mails WHERE kind = 'instructions' AND reason = $1 AND to_addr = 'sari@acme.example'`, a.ID); n != 1 {
			t.Errorf("%s: %d instruction mails, want 1", a.Method, n)
		}
	}
	if n := e.Count(`SELECT count(*) FROM mails WHERE kind = 'instructions'`); n != 3 {
		t.Errorf("instruction mails %d, want 3 (none for card and OVO)", n)
	}
}
