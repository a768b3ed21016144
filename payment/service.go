// Package payment moves the money of an order: it opens payment attempts
// at the gateways, keeps every gateway callback in the inbox, confirms each
// with the gateway before it acts (a callback is a hint), settles the
// order, reverses what the gateway takes back (refunds, chargebacks,
// voids), expires what was not paid, and runs the janitor that asks the
// gateways about attempts whose callback never came.
//
// The path of one payment: api records a verified callback (RecordEvent:
// inbox row + outbox row in one transaction) → outbox relays task
// payment:apply → worker calls ApplyEvent → Lookup at the gateway →
// settle / fail / reverse under the order's row lock, with the mail and
// render jobs in the same transaction.
//
// It owns payment_attempts, gateway_events (the inbox) and reversals.
// cmd/lunas wires it after invoice (whose orders it pays; New makes it the
// invoice service's Attempts) and before review (which settles accepted
// manual transfers through SettleTransfer).
package payment

import (
	"context"
	"log/slog"
	"time"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/paylink"
	"github.com/lunas-id/lunas/store"
)

// Gateway is what payment needs from one payment provider.
type Gateway interface {
	Charge(ctx context.Context, req gateway.ChargeRequest) (gateway.ChargeResult, error)
	// Status asks the gateway for the transaction's current state; nil
	// when the gateway does not know it.
	Status(ctx context.Context, ref gateway.Ref) (*gateway.Event, error)
	Cancel(ctx context.Context, attemptID string) error
}

// Decoder turns a stored raw callback of one provider back into an event.
// Its authenticity was checked when the callback was received.
type Decoder func(payload []byte) (gateway.Event, error)

// BankAccount is where manual transfers go.
type BankAccount struct {
	Bank   string `json:"bank"`
	Number string `json:"number"`
	Holder string `json:"holder"`
}

// Service is the payment path.
type Service struct {
	pool     *store.DB
	orders   *order.Service
	catalog  invoice.Catalog
	clock    clock.Clock
	loc      *time.Location
	log      *slog.Logger
	gateways map[string]Gateway // by provider
	decoders map[string]Decoder // by provider
	bank     BankAccount
	links    paylink.Links // the pay page a wallet app returns the payer to
	acquirer string        // of QRIS charges (LUNAS_QRIS_ACQUIRER)
	// reconcileAfter is how long after it opened a pending gateway attempt
	// is first asked at the gateway; each later check waits 4× longer.
	reconcileAfter time.Duration
	// reconcileBatch bounds how many attempts one janitor run asks about,
	// so a backlog never floods a gateway.
	reconcileBatch int

	// Settled is called with the lag from a gateway event's arrival to the
	// settlement it caused (metrics).
	Settled func(time.Duration)
	// Flagged is called once per event flagged for finance (metrics).
	Flagged func(flag string)
}

// Options configures a Service.
type Options struct {
	Pool           *store.DB
	Orders         *order.Service
	Invoices       *invoice.Service // its catalog prices the card fee; nil: no fee
	Logger         *slog.Logger
	Gateways       map[string]Gateway
	Decoders       map[string]Decoder
	Bank           BankAccount
	Links          paylink.Links // GoPay and ShopeePay return the payer to the pay page
	QRISAcquirer   string        // gopay (default) or airpay shopee
	ReconcileAfter time.Duration // default 15 min
	ReconcileBatch int           // default 100 attempts per run
}

// New returns a Service and makes it the invoice service's Attempts (its
// way to end and cancel an order's attempts).
func New(o Options) *Service {
	if o.Gateways == nil {
		o.Gateways = map[string]Gateway{}
	}
	if o.ReconcileAfter <= 0 {
		o.ReconcileAfter = 15 * time.Minute
	}
	if o.ReconcileBatch <= 0 {
		o.ReconcileBatch = 100
	}
	s := &Service{pool: o.Pool, orders: o.Orders, clock: o.Orders.Clock(), loc: o.Orders.Location(), log: o.Logger,
		gateways: o.Gateways, decoders: o.Decoders, bank: o.Bank, links: o.Links, acquirer: o.QRISAcquirer, reconcileAfter: o.ReconcileAfter, reconcileBatch: o.ReconcileBatch,
		Settled: func(time.Duration) {}, Flagged: func(string) {}}
	if o.Invoices != nil {
		s.catalog = o.Invoices.Catalog()
		o.Invoices.Attempts = s
	}
	return s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
