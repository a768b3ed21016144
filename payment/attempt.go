package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/webhook"
)

// The payment_attempts table is payment's alone: every write of it is in
// this file, and other packages change attempts through the Service's
// methods (invoice through the invoice.Attempts it implements, review
// through SettleTransfer). order reads attempts for the order object.

const attemptColumns = `id, order_id, method, provider, status, amount, fee, refunded_amount, gateway_ref, details, failure_code, expires_at, created_at, updated_at`

func scanAttempt(r pgx.Row) (order.Attempt, error) {
	var a order.Attempt
	err := r.Scan(&a.ID, &a.OrderID, &a.Method, &a.Provider, &a.Status, &a.Amount, &a.Fee, &a.Refunded, &a.GatewayRef, &a.Details,
		&a.FailureCode, &a.ExpiresAt, &a.CreatedAt, &a.UpdatedAt)
	return a, err
}

// GetAttempt reads one attempt in q.
func GetAttempt(ctx context.Context, q store.Querier, id string) (order.Attempt, error) {
	a, err := scanAttempt(q.QueryRow(ctx, `SELECT `+attemptColumns+` FROM payment_attempts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, lunas.E(lunas.KindNotFound, "payment attempt %q not found", id)
	}
	return a, store.Unavailable(err)
}

// insertAttempt stores a new pending attempt; check is when the janitor
// first asks its gateway about it (nil for a manual transfer).
func insertAttempt(ctx context.Context, tx pgx.Tx, a order.Attempt, check *time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO payment_attempts (id, order_id, method, provider, status, amount, fee, details, expires_at, created_at, updated_at, next_check_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10,$11)`, a.ID, a.OrderID, a.Method, a.Provider, order.AttemptPending, a.Amount, a.Fee, a.Details,
		a.ExpiresAt, a.CreatedAt, check)
	return err
}

// recordRef stores what the gateway answered to a charge (or, for a
// manual transfer, the proof finance accepted): its reference and details.
func recordRef(ctx context.Context, tx pgx.Tx, id string, ref *string, details map[string]any) error {
	_, err := tx.Exec(ctx, `UPDATE payment_attempts SET gateway_ref = $2, details = details || $3 WHERE id = $1`, id, ref, details)
	return err
}

// setExpiry stores when the gateway said a pending attempt stops working
// (never later than the order's deadline, which it was opened with).
func setExpiry(ctx context.Context, tx pgx.Tx, id string, at time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE payment_attempts SET expires_at = $2 WHERE id = $1 AND status = $3 AND (expires_at IS NULL OR expires_at > $2)`,
		id, at, order.AttemptPending)
	return err
}

// learnRef stores the gateway's transaction id of an attempt that had none.
func learnRef(ctx context.Context, tx pgx.Tx, id, ref string) error {
	_, err := tx.Exec(ctx, `UPDATE payment_attempts SET gateway_ref = $2 WHERE id = $1 AND gateway_ref IS NULL`, id, ref)
	return err
}

// markChallenge records that the gateway's fraud detection holds the attempt.
func markChallenge(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE payment_attempts SET details = details || '{"fraud_status":"challenge"}', updated_at = $2 WHERE id = $1`, id, now)
	return err
}

// checkSoon brings a pending attempt's next janitor check forward to at.
func checkSoon(ctx context.Context, tx pgx.Tx, id string, at time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE payment_attempts SET next_check_at = $2 WHERE id = $1 AND status = $3 AND next_check_at > $2`,
		id, at, order.AttemptPending)
	return err
}

// failCharge fails a still-pending attempt its gateway refused, with the
// gateway's words, and tells the app (payment.failed). A callback may have
// settled it meanwhile: then nothing changes.
func failCharge(ctx context.Context, tx pgx.Tx, id, code, msg string, now time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE payment_attempts SET status = $5, failure_code = $2, details = details || $3, updated_at = $4
		WHERE id = $1 AND status = $6`, id, code, map[string]any{"gateway_message": msg}, now, order.AttemptFailed, order.AttemptPending)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	return emitAttemptEvent(ctx, tx, id, webhook.PaymentFailed, now)
}

// supersede cancels a pending attempt of an older price (failure code
// superseded); ok is false when it was not pending any more.
func supersede(ctx context.Context, q store.Querier, id string, now time.Time) (ok bool, err error) {
	tag, err := q.Exec(ctx, `UPDATE payment_attempts SET status = $3, failure_code = 'superseded', updated_at = $2
		WHERE id = $1 AND status = $4`, id, now, order.AttemptCancelled, order.AttemptPending)
	return tag.RowsAffected() == 1, err
}

// attemptTransition moves an attempt from one of from to to, conditionally
// in SQL, and checks that it did. failureCode is stored when set.
func attemptTransition(ctx context.Context, tx pgx.Tx, id string, from []order.AttemptStatus, to order.AttemptStatus, now time.Time, failureCode string) error {
	tag, err := tx.Exec(ctx, `UPDATE payment_attempts SET status = $2, updated_at = $3, failure_code = coalesce($4, failure_code)
		WHERE id = $1 AND status = ANY($5)`, id, to, now, nullable(failureCode), from)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("payment: attempt %s was not in %v (concurrent change); retry", id, from)
	}
	if to == order.AttemptFailed {
		return emitAttemptEvent(ctx, tx, id, webhook.PaymentFailed, now)
	}
	return nil
}

// setRefunded moves an attempt's refunded total from was to total,
// conditionally: a concurrent change is an error (the task retries).
func setRefunded(ctx context.Context, tx pgx.Tx, id string, was, total int64, now time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE payment_attempts SET refunded_amount = $2, updated_at = $4 WHERE id = $1 AND refunded_amount = $3`,
		id, total, was, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("payment: attempt %s refunded total changed concurrently; retry", id)
	}
	return nil
}

// closePending ends every pending attempt of an order but keep (the paying
// one) with status, conditionally in SQL, and queues the void at the
// gateway of those a gateway carries. Called inside the transaction that
// pays, cancels or expires the order.
func closePending(ctx context.Context, tx pgx.Tx, orderID, keep string, status order.AttemptStatus, now time.Time) error {
	rows, err := tx.Query(ctx, `
		UPDATE payment_attempts SET status = $3, updated_at = $4
		WHERE order_id = $1 AND id <> $2 AND status = $5 RETURNING id, provider`, orderID, keep, status, now, order.AttemptPending)
	if err != nil {
		return err
	}
	type ap struct{ id, provider string }
	closed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ap, error) {
		var a ap
		return a, r.Scan(&a.id, &a.provider)
	})
	if err != nil {
		return err
	}
	var jobs []task.Job
	for _, a := range closed {
		if a.provider != gateway.ProviderManual {
			jobs = append(jobs, task.Cancel(a.id))
		}
	}
	return outbox.Enqueue(ctx, tx, jobs...)
}

// CancelPending cancels every pending attempt of an order in the caller's
// transaction, voiding the gateway ones at their gateways (invoice.Cancel,
// and invoice.PatchOrder for the manual attempts of an old price).
func (s *Service) CancelPending(ctx context.Context, tx pgx.Tx, orderID string, now time.Time) error {
	return closePending(ctx, tx, orderID, "", order.AttemptCancelled, now)
}

// OpenAtGateway reports whether an attempt of the order is pending at a
// gateway (invoice.PatchOrder refuses a new price under one).
func (s *Service) OpenAtGateway(ctx context.Context, tx pgx.Tx, orderID string) (bool, error) {
	var open bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payment_attempts WHERE order_id = $1 AND status = $2 AND provider <> $3)`,
		orderID, order.AttemptPending, gateway.ProviderManual).Scan(&open)
	return open, err
}

// SettleTransfer pays order o with the manual transfer finance accepted
// (review.Review), in the caller's transaction, which holds o's row lock:
// through a manual_transfer attempt at the order's current total — the one
// the customer opened when its amount still is that, else a new one (an
// attempt's amount is never rewritten; one of an older price is
// cancelled) — carrying the proof and who accepted it, then Settle.
func (s *Service) SettleTransfer(ctx context.Context, tx pgx.Tx, o *order.Order, proofID *string, actor string, now time.Time) error {
	var attemptID string
	var amount int64
	err := tx.QueryRow(ctx, `SELECT id, amount FROM payment_attempts WHERE order_id = $1 AND method = $2 AND status = $3
		ORDER BY created_at DESC LIMIT 1`, o.ID, gateway.MethodManualTransfer, order.AttemptPending).Scan(&attemptID, &amount)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if err == nil && amount != o.Payable {
		ok, err := supersede(ctx, tx, attemptID, now)
		if err != nil {
			return err
		}
		if !ok {
			return lunas.E(lunas.KindConflict, "cannot accept: payment %s changed meanwhile; try again", attemptID)
		}
		attemptID = ""
	}
	if attemptID == "" {
		attemptID = store.NewID("pay")
		a := order.Attempt{ID: attemptID, OrderID: o.ID, Method: gateway.MethodManualTransfer, Provider: gateway.ProviderManual,
			Amount: o.Payable, Details: map[string]any{"bank_account": s.bank, "reference": deref(o.InvoiceNumber)}, ExpiresAt: o.ExpiresAt, CreatedAt: now}
		if err := insertAttempt(ctx, tx, a, nil); err != nil {
			return err
		}
	}
	if err := recordRef(ctx, tx, attemptID, proofID, map[string]any{"reviewed_by": actor}); err != nil {
		return err
	}
	return s.Settle(ctx, tx, o, attemptID, now)
}

// emitAttemptEvent records event typ (payment.failed) about attempt id
// in q, the transaction of the change, as the attempt stands now.
func emitAttemptEvent(ctx context.Context, q store.Querier, id, typ string, now time.Time) error {
	if ok, err := webhook.Wanted(ctx, q, typ); err != nil || !ok {
		return err
	}
	a, err := GetAttempt(ctx, q, id)
	if err != nil {
		return err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("payment: snapshot attempt %s: %w", id, err)
	}
	return webhook.Emit(ctx, q, webhook.Event{Type: typ, Kind: webhook.KindAttempt, Subject: id, Snapshot: b, At: now})
}
