// Package paytest gives the payment path's tests one wiring of real
// services: a fresh PostgreSQL database, the account, order, invoice,
// payment and review services on a fixed clock, and fake Midtrans and Xendit servers over
// HTTP. Every Env audits the books when its test ends (audit.Run), so each
// test proves the books it leaves hold.
package paytest

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/audit"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/gateway/ovo"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/midtranstest"
	"github.com/lunas-id/lunas/internal/ovotest"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// Keys the fakes and the services share.
const (
	ServerKey     = "SB-Mid-server-FAKE_TEST_KEY_123"
	XenditKey     = "xnd_development_fake"
	CallbackToken = "ovo-callback-token-fake"
)

// Jakarta is the business zone.
var Jakarta = func() *time.Location { l, _ := time.LoadLocation("Asia/Jakarta"); return l }()

// Env is one test's payment path.
type Env struct {
	T        *testing.T
	Ctx      context.Context
	Pool     *store.DB
	Clock    *clock.Fixed
	Accounts *account.Service
	Orders   *order.Service
	Invoices *invoice.Service
	Payments *payment.Service
	Reviews  *review.Service
	Midtrans *midtranstest.Server
	Xendit   *ovotest.Server
	// SkipAudit turns off the audit at cleanup, for a test that corrupts
	// the books on purpose.
	SkipAudit bool
}

// New wires an Env at 2026-11-22 10:00 Jakarta time.
func New(t *testing.T) *Env {
	t.Helper()
	pool, _ := lunastest.Pool(t)
	mt := midtranstest.New(ServerKey)
	msrv := httptest.NewServer(mt)
	t.Cleanup(msrv.Close)
	mc, err := midtrans.New(ServerKey, "sandbox", msrv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	xd := ovotest.New(XenditKey, CallbackToken)
	xsrv := httptest.NewServer(xd)
	t.Cleanup(xsrv.Close)
	clk := clock.NewFixed(time.Date(2026, 11, 22, 10, 0, 0, 0, Jakarta))
	bank := payment.BankAccount{Bank: "BCA", Number: "123", Holder: "PT Lunas"}
	orders := order.New(pool, clk, Jakarta, lunastest.Logger())
	invoices := invoice.New(pool, orders, invoice.DefaultCatalog(), lunastest.Logger())
	payments := payment.New(payment.Options{
		Pool: pool, Orders: orders, Invoices: invoices, Logger: lunastest.Logger(), Bank: bank, ReconcileAfter: 15 * time.Minute,
		Gateways: map[string]payment.Gateway{gateway.ProviderMidtrans: mc, gateway.ProviderOVO: ovo.New(XenditKey, xsrv.URL, 5*time.Second)},
		Decoders: map[string]payment.Decoder{gateway.ProviderMidtrans: midtrans.DecodeCallback, gateway.ProviderOVO: ovo.Decode},
	})
	e := &Env{T: t, Ctx: context.Background(), Pool: pool, Clock: clk, Accounts: account.New(pool, clk, lunastest.Logger()),
		Orders: orders, Invoices: invoices, Payments: payments,
		Reviews: review.New(pool, orders, payments, lunastest.Logger()), Midtrans: mt, Xendit: xd}
	t.Cleanup(func() {
		if !e.SkipAudit && !t.Failed() {
			e.AuditOK()
		}
	})
	return e
}

// AuditOK fails the test unless the books hold.
func (e *Env) AuditOK() {
	e.T.Helper()
	rep, err := audit.Run(e.Ctx, e.Pool)
	if err != nil {
		e.T.Fatal(err)
	}
	if !rep.OK() {
		var b strings.Builder
		rep.Print(&b)
		e.T.Errorf("the books do not hold:\n%s", b.String())
	}
}

// Account creates an account.
func (e *Env) Account(id string) {
	e.T.Helper()
	if _, _, err := e.Accounts.Put(e.Ctx, id, account.Input{Name: "Acme " + id}); err != nil {
		e.T.Fatal(err)
	}
}

// Confirmed creates and confirms an order requested by Sari Dewi.
func (e *Env) Confirmed(account string, items ...order.ItemRequest) *order.Order {
	e.T.Helper()
	o, err := e.Invoices.CreateOrder(e.Ctx, invoice.CreateInput{AccountID: account, Requester: order.Requester{Name: "Sari Dewi", Email: "sari@acme.example"}, Items: items})
	if err != nil {
		e.T.Fatal(err)
	}
	if o, err = e.Invoices.Confirm(e.Ctx, o.ID); err != nil {
		e.T.Fatal(err)
	}
	return o
}

// Pay opens an attempt with method (a 3-D Secure card for credit_card, a
// fixed phone for ovo).
func (e *Env) Pay(orderID, method string) *order.Attempt {
	e.T.Helper()
	in := payment.PaymentInput{Method: method}
	switch method {
	case gateway.MethodCreditCard:
		in.CardToken = "tok-3ds"
	case gateway.MethodOVO:
		in.Phone = "08123456789"
	}
	a, err := e.Payments.CreatePayment(e.Ctx, orderID, in)
	if err != nil {
		e.T.Fatal(err)
	}
	return a
}

// Receive verifies a Midtrans notification body, records it and applies
// it, as the webhook handler and the worker would; it returns the event id
// (0 for a duplicate).
func (e *Env) Receive(body []byte) int64 {
	e.T.Helper()
	ev, err := midtrans.Verify(body, ServerKey)
	if err != nil {
		e.T.Fatal(err)
	}
	return e.record(ev)
}

// ReceiveOVO does the same for a Xendit callback body.
func (e *Env) ReceiveOVO(body []byte) int64 {
	e.T.Helper()
	ev, err := ovo.Verify(CallbackToken, CallbackToken, body)
	if err != nil {
		e.T.Fatal(err)
	}
	return e.record(ev)
}

// Record stores an event and applies it now (the worker's part, inline).
func (e *Env) Record(ev gateway.Event) int64 {
	e.T.Helper()
	return e.record(ev)
}

func (e *Env) record(ev gateway.Event) int64 {
	e.T.Helper()
	id, err := e.Payments.RecordEvent(e.Ctx, ev)
	if err != nil {
		e.T.Fatal(err)
	}
	if id > 0 {
		if err := e.Payments.ApplyEvent(e.Ctx, id, task.ApplyID(id)); err != nil {
			e.T.Fatal(err)
		}
	}
	return id
}

// Deliver moves the fake Midtrans transaction to status and receives its
// notification.
func (e *Env) Deliver(attemptID, status, fraud string, amount *int64) int64 {
	e.T.Helper()
	body, err := e.Midtrans.Notification(attemptID, status, fraud, amount)
	if err != nil {
		e.T.Fatal(err)
	}
	return e.Receive(body)
}

// Order reads an order.
func (e *Env) Order(id string) *order.Order {
	e.T.Helper()
	o, err := e.Orders.GetOrder(e.Ctx, id)
	if err != nil {
		e.T.Fatal(err)
	}
	return o
}

// Balances are an account's cached and derived balances.
func (e *Env) Balances(account string) (cached, derived ledger.Balances) {
	e.T.Helper()
	a, err := e.Accounts.Get(e.Ctx, account)
	if err != nil {
		e.T.Fatal(err)
	}
	d, err := ledger.Derived(e.Ctx, e.Pool, account)
	if err != nil {
		e.T.Fatal(err)
	}
	return a.Balances, d
}

// Count runs a count query.
func (e *Env) Count(sql string, args ...any) int {
	e.T.Helper()
	var n int
	if err := e.Pool.QueryRow(e.Ctx, sql, args...).Scan(&n); err != nil {
		e.T.Fatal(err)
	}
	return n
}

// Flag is the flag and outcome of inbox event id.
func (e *Env) Flag(id int64) (flag, outcome string) {
	e.T.Helper()
	var f, o *string
	if err := e.Pool.QueryRow(e.Ctx, `SELECT flag, outcome FROM gateway_events WHERE id = $1`, id).Scan(&f, &o); err != nil {
		e.T.Fatal(err)
	}
	if f != nil {
		flag = *f
	}
	if o != nil {
		outcome = *o
	}
	return flag, outcome
}

// WA and MUV are order lines.
func WA(n int64) order.ItemRequest {
	return order.ItemRequest{Product: order.ProductWABalance, Quantity: n}
}

// MUV is a unique-visitor order line.
func MUV(n int64) order.ItemRequest {
	return order.ItemRequest{Product: order.ProductMUV, Quantity: n}
}
