package invoice_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/gateway/midtrans/midtranstest"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/lunastest"
)

const serverKey = "SB-Mid-server-FAKE_TEST_KEY_123"

var jakarta = func() *time.Location { l, _ := time.LoadLocation("Asia/Jakarta"); return l }()

type env struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	clock *clock.Fixed
	svc   *invoice.Service
	fake  *midtranstest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool, _ := lunastest.Pool(t)
	fake := midtranstest.New(serverKey)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	mc, err := midtrans.New(serverKey, "sandbox", srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFixed(time.Date(2026, 11, 22, 10, 0, 0, 0, jakarta))
	svc := invoice.New(invoice.Options{
		Pool: pool, Clock: clk, Catalog: invoice.DefaultCatalog(), Location: jakarta, Logger: lunastest.Logger(),
		Gateways: map[string]invoice.Gateway{gateway.ProviderMidtrans: mc},
		Decoders: map[string]invoice.Decoder{gateway.ProviderMidtrans: midtrans.Decode},
		Bank:     invoice.BankAccount{Bank: "BCA", Number: "123", Holder: "PT Lunas"},
	})
	return &env{t: t, ctx: context.Background(), pool: pool, clock: clk, svc: svc, fake: fake}
}

func (e *env) account(id string) {
	e.t.Helper()
	if _, _, err := e.svc.PutAccount(e.ctx, id, invoice.AccountInput{Name: "Acme " + id}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) confirmed(account string, items ...invoice.ItemRequest) *invoice.Order {
	e.t.Helper()
	o, err := e.svc.CreateOrder(e.ctx, invoice.CreateInput{AccountID: account, Requester: invoice.Requester{Name: "Sari Dewi", Email: "sari@acme.example"}, Items: items})
	if err != nil {
		e.t.Fatal(err)
	}
	if o, err = e.svc.Confirm(e.ctx, o.ID); err != nil {
		e.t.Fatal(err)
	}
	return o
}

func (e *env) pay(orderID, method string) *invoice.Attempt {
	e.t.Helper()
	in := invoice.PaymentInput{Method: method}
	if method == gateway.MethodCreditCard {
		in.CardToken = "tok-3ds"
	}
	a, err := e.svc.CreatePayment(e.ctx, orderID, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// deliver records a notification for attempt with status and applies it,
// as the webhook handler and the worker would.
func (e *env) deliver(attemptID, status, fraud string, amount *int64) int64 {
	e.t.Helper()
	body, err := e.fake.Notification(attemptID, status, fraud, amount)
	if err != nil {
		e.t.Fatal(err)
	}
	ev, err := midtrans.Verify(body, serverKey)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := e.svc.RecordEvent(e.ctx, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	if id > 0 {
		if err := e.svc.ApplyEvent(e.ctx, id, fmt.Sprintf("apply:%d", id)); err != nil {
			e.t.Fatal(err)
		}
	}
	return id
}

func (e *env) order(id string) *invoice.Order {
	e.t.Helper()
	o, err := e.svc.GetOrder(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

func (e *env) balances(account string) (cached, derived ledger.Balances) {
	e.t.Helper()
	a, err := e.svc.GetAccount(e.ctx, account)
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := ledger.Derived(e.ctx, e.pool, account)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.Balances, d
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func wa(n int64) invoice.ItemRequest {
	return invoice.ItemRequest{Product: invoice.ProductWABalance, Quantity: n}
}
func muv(n int64) invoice.ItemRequest {
	return invoice.ItemRequest{Product: invoice.ProductMUV, Quantity: n}
}

func TestConfirmIssuesGapFreeNumbersAndDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("acme")
	var got []string
	for i := 0; i < 3; i++ {
		o := e.confirmed("acme", wa(999_000), muv(700))
		got = append(got, *o.InvoiceNumber)
		if want := time.Date(2026, 11, 23, 23, 59, 0, 0, jakarta); !o.ExpiresAt.Equal(want) {
			t.Errorf("expires_at = %s, want %s", o.ExpiresAt.In(jakarta), want)
		}
		if o.Status != invoice.StatusAwaitingPayment || o.Total != 1_776_000 {
			t.Errorf("order = %s %d", o.Status, o.Total)
		}
	}
	if fmt.Sprint(got) != "[INV-2026-000001 INV-2026-000002 INV-2026-000003]" {
		t.Errorf("numbers = %v", got)
	}
	_, err := e.svc.Confirm(e.ctx, e.order(mustLast(t, e)).ID)
	if lunas.KindOf(err) != lunas.KindConflict {
		t.Errorf("second confirm: %v, want conflict", err)
	}
	// Billing mail to the requester, UNPAID render and expiry queued, once per order.
	if n := e.count(`SELECT count(*) FROM mails WHERE kind = 'billing' AND to_addr = 'sari@acme.example'`); n != 3 {
		t.Errorf("billing mails = %d", n)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE task_type = 'invoice:expire' AND process_at IS NOT NULL`); n != 3 {
		t.Errorf("expiry jobs = %d", n)
	}
}

func mustLast(t *testing.T, e *env) string {
	var id string
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM orders ORDER BY created_at DESC, id DESC LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSettlementPaysOutstandingFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("acme")
	if _, err := e.svc.Adjust(e.ctx, "acme", "finance:test", invoice.AdjustmentInput{Product: "wa_balance", Kind: "charge", Amount: 5_000, Reason: "Meta invoice October"}); err != nil {
		t.Fatal(err)
	}
	o := e.confirmed("acme", wa(1_000_000))
	a := e.pay(o.ID, gateway.MethodBCAVA)
	tx, _ := e.fake.Tx(a.ID)
	if tx.GrossAmount != 1_110_000 {
		t.Errorf("gateway got gross_amount %d, want 1110000", tx.GrossAmount)
	}
	if !tx.ExpiryTime.Equal(*o.ExpiresAt) {
		t.Errorf("gateway expiry %s, want the order deadline %s", tx.ExpiryTime, o.ExpiresAt.In(jakarta))
	}
	if a.Details["va_number"] == nil || a.Details["bank"] != "bca" {
		t.Errorf("attempt details = %v", a.Details)
	}
	e.deliver(a.ID, "settlement", "", nil)
	if got := e.order(o.ID); got.Status != invoice.StatusPaid || got.PaidAt == nil {
		t.Fatalf("order %s", got.Status)
	}
	cached, derived := e.balances("acme")
	want := ledger.Balances{WABalance: 995_000, Outstanding: 0}
	if cached != want || derived != want {
		t.Errorf("balances cached %+v derived %+v, want %+v", cached, derived, want)
	}
	if n := e.count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'confirmation'`, o.ID); n != 1 {
		t.Errorf("confirmation mails = %d", n)
	}
}

func TestConcurrentDuplicateSettlementsCreditOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("acme")
	o := e.confirmed("acme", wa(1_000_000), muv(500))
	a := e.pay(o.ID, gateway.MethodBNIVA)
	body, err := e.fake.Notification(a.ID, "settlement", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := midtrans.Verify(body, serverKey)
			if err != nil {
				errs <- err
				return
			}
			id, err := e.svc.RecordEvent(e.ctx, ev)
			if err != nil {
				errs <- err
				return
			}
			// Every delivery applies the one inbox event, as redelivered tasks would.
			if id == 0 {
				_ = e.pool.QueryRow(e.ctx, `SELECT id FROM gateway_events LIMIT 1`).Scan(&id)
			}
			if err := e.svc.ApplyEvent(e.ctx, id, fmt.Sprintf("apply:%d", id)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.count(`SELECT count(*) FROM gateway_events`); n != 1 {
		t.Errorf("inbox events = %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM ledger_postings WHERE order_id = $1`, o.ID); n != 2 {
		t.Errorf("postings = %d, want 2 (wa + muv)", n)
	}
	cached, derived := e.balances("acme")
	if cached.WABalance != 1_000_000 || cached.MUV != 500 || cached != derived {
		t.Errorf("balances %+v derived %+v", cached, derived)
	}
	if n := e.count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'confirmation'`, o.ID); n != 1 {
		t.Errorf("confirmation mails = %d", n)
	}
}

func TestForwardOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("acme")
	for _, late := range []string{"pending", "expire", "deny", "cancel"} {
		o := e.confirmed("acme", wa(1_000_000))
		a := e.pay(o.ID, gateway.MethodBRIVA)
		e.deliver(a.ID, "settlement", "", nil)
		e.deliver(a.ID, late, "", nil)
		got := e.order(o.ID)
		if got.Status != invoice.StatusPaid || got.Payments[0].Status != invoice.AttemptSucceeded {
			t.Errorf("settlement then %s: order %s attempt %s", late, got.Status, got.Payments[0].Status)
		}
	}
	cached, derived := e.balances("acme")
	if cached.WABalance != 4_000_000 || cached != derived {
		t.Errorf("balances %+v derived %+v", cached, derived)
	}
}

func TestCardOutcomes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("acme")
	cases := []struct {
		status, fraud string
		order         string
		attempt       string
	}{
		{"capture", "accept", invoice.StatusPaid, invoice.AttemptSucceeded},
		{"capture", "challenge", invoice.StatusAwaitingPayment, invoice.AttemptPending},
		{"deny", "accept", invoice.StatusAwaitingPayment, invoice.AttemptFailed},
	}
	for _, tc := range cases {
		o := e.confirmed("acme", wa(1_000_000))
		a := e.pay(o.ID, gateway.MethodCreditCard)
		// Card fee: 3.5 % of 1,110,000 = 38,850 on top.
		if a.Fee != 38_850 || a.Amount != 1_148_850 || a.Details["redirect_url"] == nil {
			t.Fatalf("card attempt %+v", a)
		}
		if tx, _ := e.fake.Tx(a.ID); tx.GrossAmount != 1_148_850 {
			t.Errorf("gateway got %d", tx.GrossAmount)
		}
		e.deliver(a.ID, tc.status, tc.fraud, nil)
		got := e.order(o.ID)
		if got.Status != tc.order || got.Payments[0].Status != tc.attempt {
			t.Errorf("%s/%s: order %s attempt %s, want %s %s", tc.status, tc.fraud, got.Status, got.Payments[0].Status, tc.order, tc.attempt)
		}
		if tc.attempt == invoice.AttemptFailed {
			// Still payable: another attempt settles it.
			b := e.pay(o.ID, gateway.MethodBCAVA)
			e.deliver(b.ID, "settlement", "", nil)
			if got := e.order(o.ID); got.Status != invoice.StatusPaid {
				t.Errorf("after deny, VA payment: order %s", got.Status)
			}
		}
	}
	cached, _ := e.balances("acme")
	if cached.WABalance != 2_000_000 {
		t.Errorf("wa balance %d, want 2,000,000 (capture + VA after deny; challenge credits nothing)", cached.WABalance)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("acme")

	o := e.confirmed("acme", wa(1_000_000))
	a := e.pay(o.ID, gateway.MethodBCAVA)
	off := int64(1_109_999)
	e.deliver(a.ID, "settlement", "", &off)
	if got := e.order(o.ID); got.Status != invoice.StatusAwaitingPayment {
		t.Errorf("amount off by one: order %s", got.Status)
	}
	if n := e.count(`SELECT count(*) FROM gateway_events WHERE flag = 'amount_mismatch'`); n != 1 {
		t.Errorf("amount_mismatch flags = %d", n)
	}

	// A late payment: the order expired, the money came anyway.
	o2 := e.confirmed("acme", wa(1_000_000))
	a2 := e.pay(o2.ID, gateway.MethodPermataVA)
	e.clock.Set(o2.ExpiresAt.Add(time.Second))
	e.fake.SetFaults(midtranstest.FaultNone, midtranstest.Fault500) // status check fails: expire anyway
	if _, err := e.svc.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.order(o2.ID); got.Status != invoice.StatusExpired {
		t.Fatalf("order %s, want expired", got.Status)
	}
	e.fake.SetFaults(midtranstest.FaultNone, midtranstest.FaultNone)
	e.deliver(a2.ID, "settlement", "", nil)
	if got := e.order(o2.ID); got.Status != invoice.StatusPaid {
		t.Errorf("late settlement: order %s", got.Status)
	}
	if n := e.count(`SELECT count(*) FROM gateway_events WHERE flag = 'paid_late'`); n != 1 {
		t.Errorf("paid_late flags = %d", n)
	}
	// Unknown attempt: recorded and flagged for finance.
	ev := gateway.Event{Provider: gateway.ProviderMidtrans, DedupeKey: "midtrans:x:settlement:accept",
		Payload: []byte(`{"order_id":"pay_unknown","transaction_status":"settlement","transaction_id":"x","gross_amount":"10.00"}`)}
	id, err := e.svc.RecordEvent(e.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ApplyEvent(e.ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	evs, err := e.svc.ListEvents(e.ctx, invoice.FlagUnmatched, 0, 10)
	if err != nil || len(evs) != 1 {
		t.Errorf("unmatched events %v %v", evs, err)
	}
}

func TestExpiryAsksTheGatewayFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("acme")
	o := e.confirmed("acme", wa(1_000_000))
	a := e.pay(o.ID, gateway.MethodBCAVA)
	// Paid a second before 23:59; the notification has not arrived yet.
	if _, err := e.fake.Notification(a.ID, "settlement", "", nil); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(*o.ExpiresAt)
	if err := e.svc.Expire(e.ctx, o.ID, "expire:"+o.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.order(o.ID); got.Status != invoice.StatusPaid {
		t.Errorf("order %s, want paid (status check found the settlement)", got.Status)
	}
}

func TestSweepDeadlines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("acme")
	o := e.confirmed("acme", wa(1_000_000))
	draft, err := e.svc.CreateOrder(e.ctx, invoice.CreateInput{AccountID: "acme", Requester: invoice.Requester{Name: "A", Email: "a@acme.example"}, Items: []invoice.ItemRequest{wa(1)}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(time.Date(2026, 11, 23, 23, 58, 59, 0, jakarta))
	for i := 0; i < 2; i++ {
		if _, err := e.svc.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.order(o.ID); got.Status != invoice.StatusAwaitingPayment {
		t.Fatalf("at 23:58:59: %s", got.Status)
	}
	e.clock.Set(time.Date(2026, 11, 23, 23, 59, 0, 0, jakarta))
	var wg sync.WaitGroup
	var mu sync.Mutex
	expired := 0
	for i := 0; i < 4; i++ { // four sweepers at once: one transition
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.svc.Sweep(e.ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			expired += r.Expired
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got := e.order(o.ID); got.Status != invoice.StatusExpired {
		t.Fatalf("at 23:59:00: %s", got.Status)
	}
	if got := e.order(draft.ID); got.Status != invoice.StatusDraft {
		t.Errorf("draft at 37h59: %s", got.Status)
	}
	e.clock.Set(draft.CreatedAt.Add(invoice.DraftLifetime))
	r, err := e.svc.Sweep(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.order(draft.ID); got.Status != invoice.StatusClosed || r.Closed != 1 {
		t.Errorf("draft at 120 h: %s (closed %d)", got.Status, r.Closed)
	}
}

func TestIllegalTransitionsAre409(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("acme")
	o := e.confirmed("acme", wa(1_000_000))
	_, err := e.svc.PatchOrder(e.ctx, o.ID, []invoice.ItemRequest{wa(2_000_000)})
	var de *lunas.Error
	if !errors.As(err, &de) || de.Kind != lunas.KindConflict {
		t.Fatalf("patch awaiting_payment: %v", err)
	}
	if want := "awaiting_payment"; !contains(de.Message, want) {
		t.Errorf("detail %q does not name the status", de.Message)
	}
	if _, err := e.svc.Cancel(e.ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreatePayment(e.ctx, o.ID, invoice.PaymentInput{Method: gateway.MethodBCAVA}); lunas.KindOf(err) != lunas.KindConflict {
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
	e := newEnv(t)
	e.account("acme")
	o := e.confirmed("acme", wa(1_000_000))
	first := e.pay(o.ID, gateway.MethodBCAVA)
	second := e.pay(o.ID, gateway.MethodBNIVA)
	e.deliver(second.ID, "settlement", "", nil)
	status := map[string]string{}
	for _, a := range e.order(o.ID).Payments {
		status[a.ID] = a.Status
	}
	if status[first.ID] != invoice.AttemptCancelled || status[second.ID] != invoice.AttemptSucceeded {
		t.Fatalf("attempts: first %s, second %s", status[first.ID], status[second.ID])
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE id = $1 AND task_type = 'payment:cancel'`, "cancel:"+first.ID); n != 1 {
		t.Fatalf("cancel jobs = %d", n)
	}
	if err := e.svc.CancelAtGateway(e.ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, cancels := e.fake.Counts(); len(cancels) != 1 || cancels[0] != first.ID {
		t.Errorf("gateway cancels %v", cancels)
	}
	if tx, _ := e.fake.Tx(first.ID); tx.Status != "cancel" {
		t.Errorf("gateway transaction %s", tx.Status)
	}
	// The money of a late settlement on the cancelled attempt is still kept (double payment, flagged).
	e.deliver(first.ID, "settlement", "", nil)
	if n := e.count(`SELECT count(*) FROM gateway_events WHERE flag = 'double_payment'`); n != 1 {
		t.Errorf("double_payment flags = %d", n)
	}
	if n := e.count(`SELECT count(*) FROM ledger_postings WHERE order_id = $1`, o.ID); n != 1 {
		t.Errorf("postings = %d, want 1", n)
	}
}
