// Package webhook tells the app what happened: the endpoints finance
// registers, the events lunas commits with the changes that cause them, one
// delivery per event and matching endpoint, Standard Webhooks signatures,
// and the sender that posts deliveries with retries (API.md "Events to the
// app").
//
// The path of one event: a domain package (order, payment, usage) calls
// Emit inside the transaction of the change → an event row and one
// delivery row per matching endpoint commit with it (or roll back with it)
// → a Sender in a `work` process claims the due delivery with a lease,
// renders the body once, signs it and posts it → 2xx delivered; anything
// else is retried on the contract's schedule (service clock); 410 disables
// the endpoint.
//
// Emit sits below order (which calls it from every order transition), so
// this package never imports order: the sender renders orders through a
// Renderer that cmd/lunas wires (order.Views).
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/store"
)

// Event types (API.md).
const (
	OrderConfirmed            = "order.confirmed"
	OrderPaid                 = "order.paid"
	OrderExpired              = "order.expired"
	OrderCancelled            = "order.cancelled"
	OrderClosed               = "order.closed"
	OrderInReview             = "order.in_review"
	OrderRejected             = "order.rejected"
	OrderRefunded             = "order.refunded"
	PaymentFailed             = "payment.failed"
	BalanceLow                = "balance.low"
	SubscriptionInvoiceIssued = "subscription.invoice_issued"
	InvoiceOverdue            = "invoice.overdue"
	GatewayEventFlagged       = "gateway_event.flagged"
	// Wave 3, issue 25: a withholding order's slip (bukti potong).
	WithholdingSlipMissing  = "withholding.slip_missing" // 30 days after payment
	WithholdingSlipReceived = "withholding.slip_received"
	// Four eyes (issue 26): money moved by hand waits for an approver, and
	// the approver decided; the data is the approval as GET /v1/approvals
	// shows it.
	ApprovalRequested = "approval.requested"
	ApprovalDecided   = "approval.decided"
	// A transfer proof was uploaded (the order object; sent with
	// order.in_review, which a correction after a rejection also is).
	OrderProofReceived = "order.proof_received"
	// A delivered WhatsApp message was charged beyond the balance, so the
	// account's outstanding grew (data: usage.OwedEvent).
	UsageOwed = "usage.owed"
)

// Types lists every event type an endpoint may ask for ("*" is all of them);
// a fresh slice.
func Types() []string {
	return []string{OrderConfirmed, OrderPaid, OrderExpired, OrderCancelled, OrderClosed, OrderInReview, OrderRejected,
		OrderRefunded, PaymentFailed, BalanceLow, SubscriptionInvoiceIssued, InvoiceOverdue, GatewayEventFlagged,
		WithholdingSlipMissing, WithholdingSlipReceived, ApprovalRequested, ApprovalDecided, OrderProofReceived, UsageOwed}
}

// Snapshot kinds: how the sender turns an event's snapshot into its data.
const (
	KindJSON    = "json"    // the snapshot is the data, as the API shows it
	KindOrder   = "order"   // an order.Order; rendered as the order object
	KindAttempt = "attempt" // an order.Attempt; rendered as the attempt object with order_id
)

// Event is one thing that happened, as the emitting transaction saw it.
type Event struct {
	Type     string
	Kind     string
	Subject  string          // the id of what it is about (order, attempt, account, gateway event)
	Snapshot json.RawMessage // see Kind
	At       time.Time       // the service clock's now of the change
}

// Wanted reports whether any enabled endpoint wants events of typ, so an
// emitter can skip building a snapshot nobody will receive.
//
// In a transaction the answer is kept for the rest of it (store.Memo): a
// month-start batch asks once, not once per invoice.
func Wanted(ctx context.Context, q store.Querier, typ string) (bool, error) {
	ask := func() (bool, error) {
		var ok bool
		err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = $2 AND ($1 = ANY(events) OR '*' = ANY(events)))`,
			typ, EndpointEnabled).Scan(&ok)
		return ok, err
	}
	if tx, ok := q.(pgx.Tx); ok {
		return store.Memo(tx, "webhook.Wanted "+typ, ask)
	}
	return ask()
}

// Emit records e in q (the transaction of the change that causes it) with
// one pending delivery per enabled endpoint that wants its type; nothing
// when no endpoint does. Each call is one event: callers emit once per
// change (a conditional transition that moved exactly one row).
func Emit(ctx context.Context, q store.Querier, e Event) error {
	if e.Kind == "" {
		e.Kind = KindJSON
	}
	if !json.Valid(e.Snapshot) {
		return fmt.Errorf("webhook: event %s about %s: snapshot is not JSON", e.Type, e.Subject)
	}
	at := e.At.UTC()
	_, err := q.Exec(ctx, `
		WITH ev AS (
			INSERT INTO webhook_events (id, type, kind, subject, snapshot, created_at)
			SELECT $2, $1, $3, $4, $5, $6
			WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = $7 AND ($1 = ANY(events) OR '*' = ANY(events)))
			RETURNING id)
		INSERT INTO webhook_deliveries (event_id, endpoint_id, next_attempt_at, created_at)
		SELECT ev.id, e.id, $6, $6 FROM ev, webhook_endpoints e WHERE e.status = $7 AND ($1 = ANY(e.events) OR '*' = ANY(e.events))
		ORDER BY e.id`, e.Type, store.NewID("evt"), e.Kind, e.Subject, string(e.Snapshot), at, EndpointEnabled)
	if err != nil {
		return fmt.Errorf("webhook: emit %s about %s: %w", e.Type, e.Subject, err)
	}
	return nil
}

// EmitJSON emits an event whose data is v as it marshals (KindJSON),
// skipping the marshal when no endpoint wants typ.
func EmitJSON(ctx context.Context, q store.Querier, typ, subject string, v any, at time.Time) error {
	ok, err := Wanted(ctx, q, typ)
	if err != nil || !ok {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("webhook: %s data: %w", typ, err)
	}
	return Emit(ctx, q, Event{Type: typ, Kind: KindJSON, Subject: subject, Snapshot: b, At: at})
}
