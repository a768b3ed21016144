package invoice

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// ProductSubscription is the one line of a subscription invoice.
const ProductSubscription = "subscription"

// SubscriptionInvoice is what the subscription issuer asks for: one
// period of one subscription.
type SubscriptionInvoice struct {
	SubscriptionID string
	AccountID      string
	PlanID         string
	PlanName       string
	Period         string    // YYYY-MM of the due date
	DueDate        time.Time // a date in the business zone (its clock time is ignored)
	Amount         int64     // the plan's monthly price before VAT
	VAT            bool      // whether VAT is added
	Customer       Requester // the subscription's customer: the invoice's only recipient
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
	vat := int64(0)
	if in.VAT {
		vat = RoundRupiah(decimal.NewFromInt(in.Amount).Mul(s.catalog.VATRate))
	}
	id := store.NewID("ord")
	due := in.DueDate.Format(time.DateOnly)
	tag, err := tx.Exec(ctx, `
		INSERT INTO orders (id, account_id, status, requester_name, requester_email, locale, subtotal, vat, total, created_at, updated_at,
			subscription_id, period, due_date)
		VALUES ($1,$2,'awaiting_payment',$3,$4,$5,$6,$7,$8,$9,$9,$10,$11,$12)
		ON CONFLICT (subscription_id, period) WHERE subscription_id IS NOT NULL DO NOTHING`,
		id, in.AccountID, in.Customer.Name, in.Customer.Email, in.Locale, in.Amount, vat, in.Amount+vat, now,
		in.SubscriptionID, in.Period, due)
	if err != nil {
		return "", false, fmt.Errorf("invoice: subscription order: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return "", false, nil // this period was issued before
	}
	item := Item{Product: ProductSubscription, Unit: "month", RequestedQuantity: 1, Quantity: 1, Amount: in.Amount,
		PlanID: &in.PlanID, Period: &in.Period, Description: in.PlanName}
	if err := insertItems(ctx, tx, id, []Item{item}); err != nil {
		return "", false, err
	}
	if err := s.number(ctx, tx, id, now, nil); err != nil {
		return "", false, err
	}
	o := &Order{ID: id, AccountID: in.AccountID, Status: StatusAwaitingPayment, Requester: in.Customer, Locale: in.Locale}
	if err := QueueMail(ctx, tx, o, MailBilling, "", now); err != nil {
		return "", false, err
	}
	// No expiry is scheduled: a subscription invoice has no deadline.
	return id, true, outbox.Enqueue(ctx, tx, task.Render(id, "unpaid", ""))
}

// AttemptDeadline is when a payment attempt opened now on order o stops
// being payable at its gateway: the order's deadline, or for a
// subscription invoice 23:59 of its due date, or of the next day once it
// is overdue. nil when the order has neither.
func AttemptDeadline(o *Order, now time.Time, loc *time.Location) *time.Time {
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
