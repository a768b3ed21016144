package payment

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// SweepResult counts what one sweep did.
type SweepResult struct {
	Expired, Asked int
}

// Sweep is the payment path's safety net, run by every work process each
// LUNAS_SWEEP_INTERVAL: it expires awaiting orders past their deadline and
// asks the gateways about pending attempts that are due (the janitor).
// One order or attempt that fails does not stop the others: every error
// is returned joined, after the rest were done.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var r SweepResult
	var errs []error
	now := s.clock.Now()
	rows, err := s.pool.Query(ctx, `
		SELECT o.id FROM orders o JOIN invoices i ON i.order_id = o.id
		WHERE o.status = $2 AND i.expires_at <= $1 ORDER BY i.expires_at LIMIT 1000`, now, order.StatusAwaitingPayment)
	if err != nil {
		return r, store.Unavailable(err)
	}
	due, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return r, store.Unavailable(err)
	}
	for _, id := range due {
		if err := s.Expire(ctx, id, task.ExpireID(id)); err != nil {
			errs = append(errs, fmt.Errorf("expire %s: %w", id, err))
			continue
		}
		r.Expired++
	}
	n, err := s.Reconcile(ctx)
	r.Asked = n
	if err != nil {
		errs = append(errs, err)
	}
	return r, errors.Join(errs...)
}

// Reconcile is the janitor: it claims pending gateway attempts whose check
// is due (LUNAS_RECONCILE_AFTER after they opened, then 4× the previous
// wait each time), at most reconcileBatch per run, moves their next check
// on in the same statement (so concurrent janitors never ask twice), and
// asks each one's gateway; an answer beyond "pending" is applied exactly as
// its lost callback would have been.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	now := s.clock.Now()
	rows, err := s.pool.Query(ctx, `
		UPDATE payment_attempts p SET checks = p.checks + 1,
			next_check_at = $1 + make_interval(secs => $2 * power(4, p.checks + 1))
		WHERE p.id IN (SELECT id FROM payment_attempts
			WHERE status = $4 AND next_check_at <= $1 ORDER BY next_check_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+prefixed(attemptColumns), now, s.reconcileAfter.Seconds(), s.reconcileBatch, order.AttemptPending)
	if err != nil {
		return 0, store.Unavailable(err)
	}
	due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (order.Attempt, error) { return scanAttempt(r) })
	if err != nil {
		return 0, store.Unavailable(err)
	}
	var errs []error
	for _, a := range due {
		if err := s.ask(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("reconcile %s: %w", a.ID, err))
		}
	}
	if len(due) > 0 {
		s.log.Info("janitor asked gateways about pending attempts", "count", len(due), "failed", len(errs))
	}
	return len(due), errors.Join(errs...)
}

// prefixed qualifies a column list with the alias p.
func prefixed(cols string) string { return "p." + strings.ReplaceAll(cols, ", ", ", p.") }
