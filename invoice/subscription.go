package invoice

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tax"
	"github.com/lunas-id/lunas/webhook"
)

// SubscriptionInvoice is what the subscription issuer asks for: one
// period of one subscription.
type SubscriptionInvoice struct {
	SubscriptionID string
	AccountID      string
	PlanID         string
	PlanName       string
	Period         string          // YYYY-MM of the due date
	DueDate        time.Time       // a date in the business zone (its clock time is ignored)
	Amount         int64           // the plan's monthly price before VAT
	VAT            bool            // whether VAT is added
	Customer       order.Requester // the subscription's customer: the invoice's only recipient
	Locale         string
}

// IssueSubscriptionInvoice creates and issues a subscription invoice inside
// the issuer's transaction: an order with one subscription line, requested
// by the subscription's customer, issued now with the next invoice number
// and no deadline (it stays payable, then is overdue). The billing mail and
// the UNPAID proforma are queued with it. The unique key on (subscription,
// period) makes a second issue of the same period a no-op: issued is false
// and nothing else is written. Called by package subscription.
func (s *Service) IssueSubscriptionInvoice(ctx context.Context, tx pgx.Tx, in SubscriptionInvoice, now time.Time) (orderID string, issued bool, err error) {
	tot := tax.Lines{Subtotal: in.Amount, Total: in.Amount, TaxBase: in.Amount, VATRate: decimal.Zero}
	if in.VAT {
		tot = s.catalog.Tax(in.Amount)
	}
	d := order.Draft{ID: store.NewID("ord"), AccountID: in.AccountID, Requester: in.Customer, Locale: in.Locale,
		Items: []order.Item{{Product: order.ProductSubscription, Unit: "month", RequestedQuantity: 1, Quantity: 1, Amount: in.Amount,
			PlanID: &in.PlanID, Period: &in.Period, Description: in.PlanName}},
		Subtotal: tot.Subtotal, VAT: tot.VAT, Total: tot.Total, TaxBase: tot.TaxBase, VATRate: tot.VATRate}
	created, err := order.CreateIssued(ctx, tx, d, order.Period{SubscriptionID: in.SubscriptionID, Period: in.Period, DueDate: in.DueDate}, now)
	if err != nil || !created {
		return "", false, err // !created: this period was issued before
	}
	if err := s.number(ctx, tx, d.ID, now, nil); err != nil {
		return "", false, err
	}
	if err := s.withhold(ctx, tx, d.ID, in.AccountID, d.Subtotal, now); err != nil {
		return "", false, err
	}
	o := &order.Order{ID: d.ID, AccountID: in.AccountID, Status: order.StatusAwaitingPayment, Requester: in.Customer, Locale: in.Locale}
	if err := mail.Queue(ctx, tx, o, mail.KindBilling, "", now); err != nil {
		return "", false, err
	}
	// The app hears of it with the order as issued (the snapshot is taken
	// just before the commit, so it carries the invoice number).
	if err := order.EmitEvent(ctx, tx, d.ID, webhook.SubscriptionInvoiceIssued, now); err != nil {
		return "", false, err
	}
	// No expiry is scheduled: a subscription invoice has no deadline. No
	// render job either: the billing mail attaches the UNPAID proforma and
	// renders it (proforma.Load) and stores it with the record of the mail sent (proforma.StoreIn) — at month start a job of
	// its own cost thousands of tasks that only found it rendered or
	// rendered it a moment before the mail did.
	return d.ID, true, nil
}

// AttemptDeadline is when a payment attempt opened now on order o stops
// being payable at its gateway: the order's deadline, or for a
// subscription invoice 23:59 of its due date, or of the next day once it
// is overdue. nil when the order has neither.
func AttemptDeadline(o *order.Order, now time.Time, loc *time.Location) *time.Time {
	if o.DueDate == nil {
		return o.ExpiresAt
	}
	due, err := time.ParseInLocation(time.DateOnly, *o.DueDate, loc)
	if err != nil {
		return o.ExpiresAt
	}
	end := time.Date(due.Year(), due.Month(), due.Day(), 23, 59, 0, 0, loc).UTC()
	if now.Before(end) {
		return &end
	}
	d := Deadline(now, loc)
	return &d
}
