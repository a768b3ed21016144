package invoice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/store"
)

// Decoder turns a stored raw callback of one provider back into an event.
// The signature was checked when the callback was received.
type Decoder func(payload []byte) (gateway.Event, error)

// ErrPoison marks an inbox event that can never be applied (its payload no
// longer decodes); the worker archives its task instead of retrying.
var ErrPoison = errors.New("invoice: event cannot be applied")

// ApplyEvent applies one inbox event: settle or fail its attempt, forward
// only. It is idempotent: an event already processed is skipped, the order
// row lock serialises concurrent deliveries, and the ledger refuses a second
// credit. outboxID is marked done in the same transaction.
func (s *Service) ApplyEvent(ctx context.Context, eventID int64, outboxID string) error {
	defer s.Kick()
	return store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var provider string
		var payload []byte
		var processed *time.Time
		var received time.Time
		err := tx.QueryRow(ctx, `SELECT provider, payload, processed_at, received_at FROM gateway_events WHERE id = $1 FOR UPDATE`, eventID).
			Scan(&provider, &payload, &processed, &received)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: event %d does not exist", ErrPoison, eventID)
		}
		if err != nil {
			return store.Unavailable(err)
		}
		if processed != nil {
			return store.MarkDone(ctx, tx, outboxID)
		}
		dec := s.decoders[provider]
		if dec == nil {
			return fmt.Errorf("%w: no decoder for provider %q", ErrPoison, provider)
		}
		ev, err := dec(payload)
		if err != nil {
			return fmt.Errorf("%w: event %d: %v", ErrPoison, eventID, err)
		}
		outcome, flag, orderID, attemptID, err := s.apply(ctx, tx, ev)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE gateway_events SET processed_at = now(), outcome = $2, flag = $3, order_id = $4, attempt_id = $5 WHERE id = $1`,
			eventID, outcome, nullable(flag), nullable(orderID), nullable(attemptID)); err != nil {
			return err
		}
		if outcome == "settled" || flag == FlagPaidLate {
			s.Settled(time.Since(received))
		}
		if flag != "" {
			s.log.Warn("gateway event flagged", "event_id", eventID, "flag", flag, "order_id", orderID, "attempt_id", attemptID, "outcome", outcome)
		}
		return store.MarkDone(ctx, tx, outboxID)
	})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// apply decides what an event does; it runs inside ApplyEvent's transaction.
func (s *Service) apply(ctx context.Context, tx pgx.Tx, ev gateway.Event) (outcome, flag, orderID, attemptID string, err error) {
	a, err := scanAttempt(tx.QueryRow(ctx, `SELECT `+attemptColumns+` FROM payment_attempts WHERE id = $1 AND provider = $2`, ev.AttemptID, ev.Provider))
	if errors.Is(err, pgx.ErrNoRows) {
		return "no such payment attempt", FlagUnmatched, "", "", nil
	}
	if err != nil {
		return "", "", "", "", err
	}
	o, err := loadOrder(ctx, tx, a.OrderID, true)
	if err != nil {
		return "", "", "", "", err
	}
	// Re-read the attempt under the order lock: it is what serialises them.
	if a, err = scanAttempt(tx.QueryRow(ctx, `SELECT `+attemptColumns+` FROM payment_attempts WHERE id = $1`, a.ID)); err != nil {
		return "", "", "", "", err
	}
	now := s.clock.Now()
	orderID, attemptID = o.ID, a.ID
	if ev.TxID != "" && a.GatewayRef == nil {
		if _, err := tx.Exec(ctx, `UPDATE payment_attempts SET gateway_ref = $2 WHERE id = $1`, a.ID, ev.TxID); err != nil {
			return "", "", "", "", err
		}
	}
	switch ev.Status {
	case gateway.StatusPending:
		return "pending: nothing to do", "", orderID, attemptID, nil
	case gateway.StatusIgnored:
		return "ignored status " + ev.RawStatus, "", orderID, attemptID, nil
	case gateway.StatusChallenge:
		_, err := tx.Exec(ctx, `UPDATE payment_attempts SET details = details || '{"fraud_status":"challenge"}', updated_at = $2 WHERE id = $1`, a.ID, now)
		return "challenge: held by fraud detection, nothing credited", "", orderID, attemptID, err
	case gateway.StatusFailed:
		if a.Status != AttemptPending {
			return "failure after " + a.Status + ": ignored (forward-only)", "", orderID, attemptID, nil
		}
		code := ev.FailureCode
		if code == "" {
			code = ev.RawStatus
		}
		_, err := tx.Exec(ctx, `UPDATE payment_attempts SET status = 'failed', failure_code = $2, updated_at = $3 WHERE id = $1`, a.ID, code, now)
		return "attempt failed: " + code, "", orderID, attemptID, err
	case gateway.StatusSucceeded:
	default:
		return "unknown status " + ev.RawStatus, "", orderID, attemptID, nil
	}

	// Money arrived.
	if !ev.AmountValid || ev.Amount != a.Amount || (ev.Currency != "" && ev.Currency != "IDR") {
		return fmt.Sprintf("amount mismatch: paid %d %s, attempt is %d IDR", ev.Amount, ev.Currency, a.Amount), FlagAmountMismatch, orderID, attemptID, nil
	}
	if a.Status == AttemptSucceeded {
		return "already settled", "", orderID, attemptID, nil
	}
	if o.Status == StatusPaid {
		// Paid twice through two attempts: record the money, credit nothing,
		// and let finance refund.
		_, err := tx.Exec(ctx, `UPDATE payment_attempts SET status = 'succeeded', updated_at = $2 WHERE id = $1`, a.ID, now)
		return "order already paid by " + deref(o.PaidAttemptID), FlagDoublePayment, orderID, attemptID, err
	}
	// A gateway payment also settles an order whose manual transfer is in
	// review or was rejected; money after expiry or cancel is credited late.
	late := o.Status != StatusAwaitingPayment && o.Status != StatusInReview && o.Status != StatusRejected
	if err := s.settle(ctx, tx, o, a.ID, now); err != nil {
		return "", "", "", "", err
	}
	if late {
		return "settled after the order was " + o.Status + ": credited", FlagPaidLate, orderID, attemptID, nil
	}
	return "settled", "", orderID, attemptID, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// settle pays an order in the caller's transaction: order paid, attempt
// succeeded, ledger credited (outstanding first), other open attempts
// closed, and the confirmation mail queued. The mail's task renders and
// stores the PAID proforma it attaches (a separate render task doubled the
// work per payment); GET proforma.pdf renders it on demand as well.
func (s *Service) settle(ctx context.Context, tx pgx.Tx, o *Order, attemptID string, now time.Time) error {
	if err := loadItems(ctx, tx, o); err != nil {
		return err
	}
	var wa, muv int64
	for _, it := range o.Items {
		switch it.Product {
		case ProductWABalance:
			wa += it.Quantity
		case ProductMUV:
			muv += it.Quantity
		}
	}
	if err := ledger.TopUp(ctx, tx, now, o.AccountID, o.ID, wa, muv); err != nil {
		return err // ErrAlreadyCredited cannot happen under the order lock with status checked; surface it if it does
	}
	if _, err := tx.Exec(ctx, `UPDATE orders SET status = 'paid', paid_at = $2, paid_attempt_id = $3, status_reason = NULL, updated_at = $2 WHERE id = $1`,
		o.ID, now, attemptID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE payment_attempts SET status = 'succeeded', updated_at = $2 WHERE id = $1`, attemptID, now); err != nil {
		return err
	}
	if err := s.closeAttempts(ctx, tx, o.ID, attemptID, AttemptCancelled, now); err != nil {
		return err
	}
	o.Status = StatusPaid
	// The scheduled expiry has nothing left to do.
	if err := store.MarkDone(ctx, tx, "expire:"+o.ID); err != nil {
		return err
	}
	return queueMail(ctx, tx, o, MailConfirmation, "", now)
}

// Expire ends an unpaid order at its deadline. Before it does, it asks the
// gateway about every pending attempt, so a payment that landed a second
// before 23:59 is settled rather than expired. Safe to call any number of
// times from any number of processes: the order lock and the status check
// make the transition happen once.
func (s *Service) Expire(ctx context.Context, orderID, outboxID string) error {
	o, err := loadOrder(ctx, s.pool, orderID, false)
	if err != nil {
		if lunas.KindOf(err) == lunas.KindNotFound {
			return store.MarkDone(ctx, s.pool, outboxID)
		}
		return err
	}
	now := s.clock.Now()
	if o.Status != StatusAwaitingPayment {
		return store.MarkDone(ctx, s.pool, outboxID)
	}
	if o.ExpiresAt == nil || now.Before(*o.ExpiresAt) {
		// Early (the asynq schedule runs on wall time, the deadline on the
		// service clock): the sweeper takes it when it is due.
		return nil
	}
	attempts, err := loadAttempts(ctx, s.pool, orderID)
	if err != nil {
		return store.Unavailable(err)
	}
	for _, a := range attempts {
		gw := s.gateways[a.Provider]
		if a.Status != AttemptPending || gw == nil || a.GatewayRef == nil {
			continue
		}
		ev, err := gw.Status(ctx, a.ID)
		if err != nil {
			// The gateway is down: expire anyway. Money that arrives later
			// is still credited (flagged paid_late), never dropped.
			s.log.Warn("status check before expiry failed", "order_id", orderID, "attempt_id", a.ID, "err", err)
			continue
		}
		if ev == nil || ev.Status != gateway.StatusSucceeded {
			continue
		}
		id, err := s.RecordEvent(ctx, *ev)
		if err != nil {
			return err
		}
		if id > 0 {
			if err := s.ApplyEvent(ctx, id, fmt.Sprintf("apply:%d", id)); err != nil {
				return err
			}
		}
	}
	return store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		o, err := loadOrder(ctx, tx, orderID, true)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		if o.Status == StatusAwaitingPayment && !now.Before(*o.ExpiresAt) {
			if _, err := tx.Exec(ctx, `UPDATE orders SET status = 'expired', status_reason = 'not paid before the deadline', updated_at = $2 WHERE id = $1`, orderID, now); err != nil {
				return err
			}
			if err := s.closeAttempts(ctx, tx, orderID, "", AttemptExpired, now); err != nil {
				return err
			}
			s.log.Info("order expired", "order_id", orderID, "expires_at", o.ExpiresAt)
		}
		return store.MarkDone(ctx, tx, outboxID)
	})
}

// SweepResult counts what one sweep changed.
type SweepResult struct {
	Expired, Closed, Rejected int
}

// Sweep is the safety net for deadlines: it expires every awaiting order past
// its deadline, closes drafts older than 120 h and rejects reviews older than
// 24 h. Many processes may sweep at once: rows are claimed with SKIP LOCKED
// and every transition rechecks its state under the row lock.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var r SweepResult
	now := s.clock.Now()
	rows, err := s.pool.Query(ctx, `
		SELECT o.id FROM orders o JOIN invoices i ON i.order_id = o.id
		WHERE o.status = 'awaiting_payment' AND i.expires_at <= $1 ORDER BY i.expires_at LIMIT 1000`, now)
	if err != nil {
		return r, store.Unavailable(err)
	}
	due, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return r, store.Unavailable(err)
	}
	for _, id := range due {
		if err := s.Expire(ctx, id, "expire:"+id); err != nil {
			return r, fmt.Errorf("sweep: expire %s: %w", id, err)
		}
		r.Expired++
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE orders SET status = 'closed', status_reason = 'not confirmed within 120 h', updated_at = $1
		WHERE status = 'draft' AND created_at <= $2`, now, now.Add(-DraftLifetime))
	if err != nil {
		return r, store.Unavailable(err)
	}
	r.Closed = int(tag.RowsAffected())
	for {
		var id string
		err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			err := tx.QueryRow(ctx, `SELECT id FROM orders WHERE status = 'in_review' AND review_since <= $1
				ORDER BY review_since LIMIT 1 FOR UPDATE SKIP LOCKED`, now.Add(-ReviewLifetime)).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				id = ""
				return nil
			}
			if err != nil {
				return err
			}
			o, err := loadOrder(ctx, tx, id, true)
			if err != nil {
				return err
			}
			return s.reject(ctx, tx, o, ReasonNotInTime, "system", now)
		})
		if err != nil {
			return r, store.Unavailable(err)
		}
		if id == "" {
			break
		}
		r.Rejected++
	}
	return r, nil
}
