package subscription

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
)

// due is one subscription whose next invoice is due, with its plan.
type due struct {
	id, accountID, planID, planName string
	amount                          int64
	vat                             bool
	customer                        order.Requester
	locale                          string
	dueDay                          int
	next                            time.Time
}

const dueColumns = `s.id, s.account_id, s.plan_id, p.name, p.amount, p.vat, s.customer_name, s.customer_email, s.locale, s.due_day, s.next_due_date`

func scanDue(r pgx.Row) (due, error) {
	var d due
	err := r.Scan(&d.id, &d.accountID, &d.planID, &d.planName, &d.amount, &d.vat, &d.customer.Name, &d.customer.Email, &d.locale, &d.dueDay, &d.next)
	return d, err
}

// IssueDue is the issuer, run by every work process's sweeper: it issues
// the invoice of every active subscription whose issue moment (00:00 on
// next due date − lead days, LUNAS_TIMEZONE, service clock) has come, and
// moves each on one month. Subscriptions are claimed with SKIP LOCKED in
// batches, so concurrent issuers split the work; the unique key per
// subscription and period makes a double issue impossible even so. One
// subscription that fails is logged and skipped (its savepoint rolled
// back); the others are issued. It returns how many invoices it issued.
//
// A subscription that failed is not claimed again in the same run: it
// would head every later batch (the oldest due date) and make each one
// fail once before its careful retry, and 50 of them would fill every
// batch for ever. The next sweep tries it again.
func (s *Service) IssueDue(ctx context.Context) (int, error) {
	total := 0
	failed := []string{}
	for {
		n, claimed, err := s.issueBatch(ctx, &failed)
		total += n
		if err != nil || claimed < batch {
			if total > 0 {
				s.log.Info("subscription invoices issued", "count", total)
			}
			return total, err
		}
	}
}

// errCareful rolls back a batch issued without savepoints in which one
// subscription failed; the batch is then issued again, a savepoint each.
var errCareful = errors.New("subscription: a batch failed; issuing it again a savepoint per subscription")

// issueBatch claims a batch and issues it in one transaction. The first
// try issues it without a savepoint per subscription (two statements each
// fewer: month-start issuing of thousands is bound by the database's work
// per statement); when one subscription fails, that try is rolled back
// and the batch is issued again with a savepoint each, so the failing one
// is logged and skipped and the others are issued.
func (s *Service) issueBatch(ctx context.Context, failed *[]string) (issued, claimed int, err error) {
	issued, claimed, err = s.issueBatchTx(ctx, false, failed)
	if errors.Is(err, errCareful) {
		issued, claimed, err = s.issueBatchTx(ctx, true, failed)
	}
	return issued, claimed, err
}

// issueBatchTx issues one batch, skipping the subscriptions in failed
// and, when careful, adding the ones that fail to it.
func (s *Service) issueBatchTx(ctx context.Context, careful bool, failed *[]string) (issued, claimed int, err error) {
	var failedNow []string
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		issued, claimed, failedNow = 0, 0, nil
		now := s.clock.Now()
		today := s.today(now)
		rows, err := tx.Query(ctx, `SELECT `+dueColumns+` FROM subscriptions s JOIN plans p ON p.id = s.plan_id
			WHERE s.status = $3 AND s.next_due_date - p.lead_days <= $1::date AND s.id <> ALL($4)
			ORDER BY s.next_due_date, s.id LIMIT $2 FOR UPDATE OF s SKIP LOCKED`, today.Format(time.DateOnly), batch, StatusActive, *failed)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) { return scanDue(r) })
		if err != nil {
			return err
		}
		claimed = len(list)
		for _, d := range list {
			if !careful {
				ok, err := s.issue(ctx, tx, d, now)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					// %w twice: a deadlock or serialization failure is retried
					// by InTx as it is, anything else goes careful.
					return fmt.Errorf("%w (subscription %s: %w)", errCareful, d.id, err)
				}
				if ok {
					issued++
				}
				continue
			}
			// A savepoint per subscription: one that cannot be issued does
			// not hold back the rest of the batch.
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			ok, err := s.issue(ctx, sp, d, now)
			if err != nil {
				_ = sp.Rollback(ctx)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.Error("subscription invoice not issued", "subscription_id", d.id, "due_date", d.next.Format(time.DateOnly), "err", err)
				failedNow = append(failedNow, d.id)
				continue
			}
			if err := sp.Commit(ctx); err != nil {
				return err
			}
			if ok {
				issued++
			}
		}
		return nil
	})
	if errors.Is(err, errCareful) {
		return 0, claimed, err
	}
	if err != nil {
		return 0, claimed, store.Unavailable(err)
	}
	*failed = append(*failed, failedNow...)
	return issued, claimed, nil
}

// issueFor issues, inside the caller's transaction (which holds the
// subscription's row lock), every invoice of subscription id whose issue
// moment has come: the late subscription's invoice at once.
func (s *Service) issueFor(ctx context.Context, tx pgx.Tx, id string, today, now time.Time) (int, error) {
	n := 0
	for range catchUp {
		d, err := scanDue(tx.QueryRow(ctx, `SELECT `+dueColumns+` FROM subscriptions s JOIN plans p ON p.id = s.plan_id
			WHERE s.id = $1 AND s.status = $3 AND s.next_due_date - p.lead_days <= $2::date`, id, today.Format(time.DateOnly), StatusActive))
		if err == pgx.ErrNoRows {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		ok, err := s.issue(ctx, tx, d, now)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// issue issues d's invoice for its next due date and moves the
// subscription one month on, in tx. ok is false when that period had been
// invoiced already (the unique key): the subscription still moves on.
func (s *Service) issue(ctx context.Context, tx pgx.Tx, d due, now time.Time) (bool, error) {
	_, ok, err := s.invoices.IssueSubscriptionInvoice(ctx, tx, invoice.SubscriptionInvoice{
		SubscriptionID: d.id, AccountID: d.accountID, PlanID: d.planID, PlanName: d.planName,
		Period: d.next.Format("2006-01"), DueDate: d.next, Amount: d.amount, VAT: d.vat, Customer: d.customer, Locale: d.locale,
	}, now)
	if err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `UPDATE subscriptions SET next_due_date = $3, updated_at = $4 WHERE id = $1 AND next_due_date = $2`,
		d.id, d.next.Format(time.DateOnly), NextDueDate(d.next, d.dueDay).Format(time.DateOnly), now)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() != 1 {
		return false, fmt.Errorf("subscription %s moved on under its lock", d.id)
	}
	return ok, nil
}
