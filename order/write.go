package order

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/webhook"
)

// Draft is a new order as invoice prices it.
type Draft struct {
	ID        string
	AccountID string
	Requester Requester
	Locale    string
	Items     []Item
	Subtotal  int64
	VAT       int64
	Total     int64
	// TaxBase and VATRate are the tax lines the VAT was computed with.
	TaxBase int64
	VATRate decimal.Decimal
}

// Create stores draft d with its items in tx (invoice.CreateOrder's
// transaction), created now.
func Create(ctx context.Context, tx pgx.Tx, d Draft, now time.Time) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO orders (id, account_id, status, requester_name, requester_email, locale, subtotal, vat, total, created_at, updated_at,
			tax_base, vat_rate)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10,$11,$12)`,
		d.ID, d.AccountID, StatusDraft, d.Requester.Name, d.Requester.Email, d.Locale, d.Subtotal, d.VAT, d.Total, now, d.TaxBase, d.VATRate)
	if err != nil {
		return err
	}
	return putItems(ctx, tx, d.ID, d.Items)
}

// Period names the subscription period a subscription invoice bills.
type Period struct {
	SubscriptionID string
	Period         string    // YYYY-MM of the due date
	DueDate        time.Time // a date (its clock time is ignored)
}

// CreateIssued stores an order that is issued at once, awaiting payment
// without a draft (a subscription invoice for period p; invoice numbers
// it in the same transaction). The unique key on (subscription, period)
// makes a second one of the same period a no-op: created is false and
// nothing is written.
func CreateIssued(ctx context.Context, tx pgx.Tx, d Draft, p Period, now time.Time) (created bool, err error) {
	tag, err := tx.Exec(ctx, `
		INSERT INTO orders (id, account_id, status, requester_name, requester_email, locale, subtotal, vat, total, created_at, updated_at,
			subscription_id, period, due_date, tax_base, vat_rate)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10,$11,$12,$13,$14,$15)
		ON CONFLICT (subscription_id, period) WHERE subscription_id IS NOT NULL DO NOTHING`,
		d.ID, d.AccountID, StatusAwaitingPayment, d.Requester.Name, d.Requester.Email, d.Locale, d.Subtotal, d.VAT, d.Total, now,
		p.SubscriptionID, p.Period, p.DueDate.Format(time.DateOnly), d.TaxBase, d.VATRate)
	if err != nil {
		return false, fmt.Errorf("order: subscription order: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return true, insertItems(ctx, tx, d.ID, d.Items) // a new order: nothing to replace
}

// Reprice replaces order id's items and totals in tx. The caller holds the
// order's row lock and has checked that its status allows a new price
// (invoice.PatchOrder: draft, or rejected on its way back to review).
//
// A withholding fixed at confirm follows the new price (w: its amount on
// the new subtotal, at the rate of confirm); nil keeps none.
func Reprice(ctx context.Context, tx pgx.Tx, id string, d Draft, w *Withholding, now time.Time) error {
	var kind *string
	var rate decimal.NullDecimal
	var base, amount *int64
	if w != nil {
		kind, rate, base, amount = &w.Kind, decimal.NewNullDecimal(w.Rate), &w.Base, &w.Amount
	}
	if _, err := tx.Exec(ctx, `UPDATE orders SET subtotal = $2, vat = $3, total = $4, updated_at = $5, tax_base = $6, vat_rate = $7,
			withholding_kind = $8, withholding_rate = $9, withholding_base = $10, withholding_amount = $11 WHERE id = $1`,
		id, d.Subtotal, d.VAT, d.Total, now, d.TaxBase, d.VATRate, kind, rate, base, amount); err != nil {
		return err
	}
	return putItems(ctx, tx, id, d.Items)
}

// SetWithholding fixes the PPh 23 the buyer of order id withholds
// (invoice, at confirm or at a subscription invoice's issue, in the same
// transaction): from then on the order's payable is its total less w's
// amount. Only an order nobody can have paid yet (a draft being
// confirmed, an invoice being issued) takes one: a conflict otherwise.
func SetWithholding(ctx context.Context, tx pgx.Tx, id string, w Withholding, now time.Time) error {
	tag, err := tx.Exec(ctx, `
		UPDATE orders SET withholding_kind = $2, withholding_rate = $3, withholding_base = $4, withholding_amount = $5, updated_at = $6
		WHERE id = $1 AND status = ANY($7) AND paid_attempt_id IS NULL`,
		id, w.Kind, w.Rate, w.Base, w.Amount, now, []Status{StatusDraft, StatusAwaitingPayment})
	if err != nil {
		return fmt.Errorf("order: withholding: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return lunas.E(lunas.KindConflict, "order %s can no longer take a withholding", id)
	}
	return nil
}

func putItems(ctx context.Context, tx pgx.Tx, orderID string, items []Item) error {
	if _, err := tx.Exec(ctx, `DELETE FROM order_items WHERE order_id = $1`, orderID); err != nil {
		return err
	}
	return insertItems(ctx, tx, orderID, items)
}

func insertItems(ctx context.Context, tx pgx.Tx, orderID string, items []Item) error {
	for i, it := range items {
		_, err := tx.Exec(ctx, `
			INSERT INTO order_items (order_id, line, product, unit, requested_quantity, quantity, amount, adjustment, plan_id, period, description)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,nullif($11, ''))`, orderID, i, it.Product, it.Unit, it.RequestedQuantity, it.Quantity, it.Amount, it.Adjustment,
			it.PlanID, it.Period, it.Description)
		if err != nil {
			return err
		}
	}
	return nil
}

// The transitions. Each moves an order from the statuses it may leave to
// one status, conditionally in SQL: the UPDATE's row count proves the
// order was still in one of them (a conflict otherwise). A change of
// status records its order.* event to the app in the same transaction
// (EmitEvent). Callers hold the order's row lock and take now once per
// transaction.

// Confirm moves a draft to awaiting_payment (invoice.Confirm, which numbers
// its invoice in the same transaction).
func Confirm(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	return move(ctx, tx, id, []Status{StatusDraft}, StatusAwaitingPayment, now, change{})
}

// MarkPaid pays an order with attempt attemptID (payment.Settle): from
// awaiting payment, in review, rejected, or — money that came late —
// expired or cancelled.
func MarkPaid(ctx context.Context, tx pgx.Tx, id, attemptID string, now time.Time) error {
	return move(ctx, tx, id, []Status{StatusAwaitingPayment, StatusInReview, StatusRejected, StatusExpired, StatusCancelled},
		StatusPaid, now, change{paidBy: &attemptID, setReason: true})
}

// ReasonExpired is the status reason of an order expired at its deadline.
const ReasonExpired = "not paid before the deadline"

// MarkExpired ends an unpaid order at its deadline (payment.Expire).
func MarkExpired(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	reason := ReasonExpired
	return move(ctx, tx, id, []Status{StatusAwaitingPayment}, StatusExpired, now, change{setReason: true, reason: &reason})
}

// Cancel cancels an order the customer no longer wants (invoice.Cancel).
func Cancel(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	return move(ctx, tx, id, []Status{StatusDraft, StatusAwaitingPayment, StatusRejected}, StatusCancelled, now, change{})
}

// ToReview puts an order in finance's review from now: a proof uploaded
// while it awaits payment or after a rejection (review.SubmitProof), or a
// rejected order corrected (invoice.PatchOrder).
func ToReview(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	return move(ctx, tx, id, []Status{StatusAwaitingPayment, StatusRejected}, StatusInReview, now, change{review: true, setReason: true})
}

// Reject rejects an order in review with reason (review).
func Reject(ctx context.Context, tx pgx.Tx, id, reason string, now time.Time) error {
	return move(ctx, tx, id, []Status{StatusInReview}, StatusRejected, now, change{setReason: true, reason: &reason})
}

// Refund records that the gateway has taken total back of the paying
// attempt of o (payment's reversal, under o's row lock): a full reversal
// makes o refunded; a partial one leaves it paid, and the app still hears
// of it (order.refunded).
func Refund(ctx context.Context, tx pgx.Tx, o *Order, total int64, full bool, now time.Time) error {
	to := o.Status
	if full {
		to = StatusRefunded
	}
	if err := move(ctx, tx, o.ID, []Status{StatusPaid, StatusRefunded}, to, now, change{refunded: &total}); err != nil {
		return err
	}
	o.Status, o.RefundedAmount = to, total
	if to == StatusPaid {
		// No change of status for move to tell.
		return EmitEvent(ctx, tx, o.ID, webhook.OrderRefunded, now)
	}
	return nil
}

// CloseDrafts closes drafts older than DraftLifetime; the sweeper calls
// it. Many processes may run it at once: the UPDATE's condition makes each
// close happen once, with one order.closed event each.
func (s *Service) CloseDrafts(ctx context.Context) (int, error) {
	now := s.clock.Now()
	var closed []string
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			UPDATE orders SET status = $3, status_reason = 'not confirmed within 120 h', updated_at = $1
			WHERE status = $4 AND created_at <= $2 RETURNING id`, now, now.Add(-DraftLifetime), StatusClosed, StatusDraft)
		if err != nil {
			return err
		}
		if closed, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		for _, id := range closed {
			if err := EmitEvent(ctx, tx, id, webhook.OrderClosed, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, store.Unavailable(err)
	}
	if len(closed) > 0 {
		s.log.Info("drafts closed", "count", len(closed), "to", StatusClosed)
	}
	return len(closed), nil
}

// overdueBatch is how many overdue invoices one NotifyOverdue transaction
// tells of.
const overdueBatch = 500

// NotifyOverdue sends invoice.overdue once for each subscription invoice
// whose due date has passed (in the business zone, by the service clock)
// while it is unpaid — awaiting payment, in review or rejected, as the
// overdue report counts it (the worker's sweep). Many processes may run it
// at once: the invoices are claimed with SKIP LOCKED and marked in the
// transaction that records their events. It returns how many it told of.
func (s *Service) NotifyOverdue(ctx context.Context) (int, error) {
	total := 0
	for {
		now := s.clock.Now()
		y, m, d := now.In(s.loc).Date()
		today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		var ids []string
		err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `
				UPDATE orders SET overdue_notified_at = $1
				WHERE id IN (SELECT id FROM orders
					WHERE subscription_id IS NOT NULL AND overdue_notified_at IS NULL AND due_date < $2::date AND status = ANY($3)
					ORDER BY due_date, id LIMIT $4 FOR UPDATE SKIP LOCKED)
				RETURNING id`, now, today, UnpaidStatuses(), overdueBatch)
			if err != nil {
				return err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			for _, id := range ids {
				if err := EmitEvent(ctx, tx, id, webhook.InvoiceOverdue, now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, store.Unavailable(err)
		}
		total += len(ids)
		if len(ids) < overdueBatch {
			if total > 0 {
				s.log.Info("overdue invoices notified", "count", total, "event", webhook.InvoiceOverdue)
			}
			return total, nil
		}
	}
}

// UnpaidStatuses are the statuses in which an issued invoice is still
// owed: awaiting payment, a transfer in review, a transfer rejected.
func UnpaidStatuses() []Status {
	return []Status{StatusAwaitingPayment, StatusInReview, StatusRejected}
}

// change is what a transition sets besides the status and updated_at.
type change struct {
	paidBy    *string // paid now by this attempt
	setReason bool    // status_reason = reason (NULL when reason is nil)
	reason    *string
	review    bool   // in review from now
	refunded  *int64 // the refunded total
}

func move(ctx context.Context, tx pgx.Tx, id string, from []Status, to Status, now time.Time, c change) error {
	// prev reads the status being left (callers hold the order's row lock).
	var was Status
	err := tx.QueryRow(ctx, `
		UPDATE orders o SET status = $2, updated_at = $3,
			paid_at = CASE WHEN $5::text IS NULL THEN o.paid_at ELSE $3 END,
			paid_attempt_id = coalesce($5, o.paid_attempt_id),
			status_reason = CASE WHEN $6 THEN $7::text ELSE o.status_reason END,
			review_since = CASE WHEN $8 THEN $3 ELSE o.review_since END,
			refunded_amount = coalesce($9, o.refunded_amount)
		FROM (SELECT status AS was FROM orders WHERE id = $1) prev
		WHERE o.id = $1 AND o.status = ANY($4) RETURNING prev.was`,
		id, to, now, from, c.paidBy, c.setReason, c.reason, c.review, c.refunded).Scan(&was)
	if errors.Is(err, pgx.ErrNoRows) {
		names := make([]string, len(from))
		for i, f := range from {
			names[i] = string(f)
		}
		return lunas.E(lunas.KindConflict, "order %s is no longer %s", id, strings.Join(names, " or "))
	}
	if err != nil {
		return err
	}
	if typ := eventFor(to); typ != "" && was != to {
		return EmitEvent(ctx, tx, id, typ, now)
	}
	return nil
}
