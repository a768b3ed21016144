package order

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/paylink"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/webhook"
)

// eventFor names the event an order's move to status to sends the app;
// "" for none.
func eventFor(to Status) string {
	switch to {
	case StatusAwaitingPayment:
		return webhook.OrderConfirmed
	case StatusPaid:
		return webhook.OrderPaid
	case StatusExpired:
		return webhook.OrderExpired
	case StatusCancelled:
		return webhook.OrderCancelled
	case StatusClosed:
		return webhook.OrderClosed
	case StatusInReview:
		return webhook.OrderInReview
	case StatusRejected:
		return webhook.OrderRejected
	case StatusRefunded:
		return webhook.OrderRefunded
	}
	return ""
}

// EmitEvent records event typ about order id in tx, the transaction of
// the change that causes it. The order is read for the event when tx is
// about to commit (store.BeforeCommit), so the event shows the order as
// the transaction leaves it — the settle path moves the order and then its
// attempts. Every transition calls it for its change of status; Refund
// calls it for a partial refund, which changes no status.
func EmitEvent(ctx context.Context, tx pgx.Tx, id, typ string, now time.Time) error {
	if ok, err := webhook.Wanted(ctx, tx, typ); err != nil || !ok {
		return err
	}
	emit := func(ctx context.Context, tx pgx.Tx) error {
		o, err := Get(ctx, tx, id)
		if err != nil {
			return err
		}
		b, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("order: snapshot order %s: %w", id, err)
		}
		return webhook.Emit(ctx, tx, webhook.Event{Type: typ, Kind: webhook.KindOrder, Subject: id, Snapshot: b, At: now})
	}
	if store.BeforeCommit(tx, emit) {
		return nil
	}
	return emit(ctx, tx)
}

// Views renders event snapshots of orders and attempts (payment's
// payment.failed carries an Attempt) as the API shows them
// (webhook.Renderer); cmd/lunas hands it to the webhook sender.
type Views struct {
	Location *time.Location
	Links    paylink.Links // pay_url, qr_url and the proforma link's base
}

// AttemptEventView is a payment attempt's event data: the attempt object
// and the order it belongs to.
type AttemptEventView struct {
	AttemptView
	OrderID string `json:"order_id"`
}

// Render implements webhook.Renderer.
func (v Views) Render(kind string, snapshot json.RawMessage) (any, error) {
	switch kind {
	case webhook.KindOrder:
		var o Order
		if err := json.Unmarshal(snapshot, &o); err != nil {
			return nil, fmt.Errorf("order: order snapshot: %w", err)
		}
		return NewView(&o, v.Location, v.Links), nil
	case webhook.KindAttempt:
		var a Attempt
		if err := json.Unmarshal(snapshot, &a); err != nil {
			return nil, fmt.Errorf("order: attempt snapshot: %w", err)
		}
		return AttemptEventView{AttemptView: NewAttemptView(&a, v.Location, v.Links), OrderID: a.OrderID}, nil
	}
	return nil, fmt.Errorf("order: no view of %q snapshots", kind)
}
