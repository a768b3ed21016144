package payment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// ErrPoison marks an inbox event that can never be applied (its payload no
// longer decodes); the worker archives its task instead of retrying.
var ErrPoison = errors.New("payment: event cannot be applied")

// verdict is what applying one event did, recorded on the inbox row.
type verdict struct {
	outcome, flag      string
	orderID, attemptID string
	truth              *gateway.Event // the gateway's answer, when it was asked
}

// ApplyEvent applies one inbox event. The callback is a hint: unless it
// matches no attempt of ours or contradicts itself, the gateway is asked
// for the transaction's state first (outside any transaction, so a slow
// gateway holds no lock), and what the gateway says is what happens. A
// gateway that cannot be reached is an error, so the task is retried;
// nothing is ever credited on a body alone.
//
// Idempotent: an event already processed is skipped; the order row lock
// serialises concurrent deliveries; attempt and order transitions are
// conditional in SQL; the ledger refuses a second credit and reversals
// are keyed by the gateway's cumulative total. outboxID is marked done in
// the same transaction. Called by the worker (payment:apply) and inline
// by CreatePayment, Expire and the janitor.
func (s *Service) ApplyEvent(ctx context.Context, eventID int64, outboxID string) error {
	var provider string
	var payload []byte
	var processed *time.Time
	var received time.Time
	err := s.pool.QueryRow(ctx, `SELECT provider, payload, processed_at, received_at FROM gateway_events WHERE id = $1`, eventID).
		Scan(&provider, &payload, &processed, &received)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: event %d does not exist", ErrPoison, eventID)
	}
	if err != nil {
		return store.Unavailable(err)
	}
	if processed != nil {
		return outbox.MarkDone(ctx, s.pool, outboxID)
	}
	dec := s.decoders[provider]
	if dec == nil {
		return fmt.Errorf("%w: no decoder for provider %q", ErrPoison, provider)
	}
	ev, err := dec(payload)
	if err != nil {
		return fmt.Errorf("%w: event %d: %v", ErrPoison, eventID, err)
	}
	a, found, err := s.findAttempt(ctx, ev)
	if err != nil {
		return err
	}
	var truth *gateway.Event
	if found && ev.Suspect == "" && ev.Status != gateway.StatusIgnored && a.Provider != gateway.ProviderManual {
		gw := s.gateways[a.Provider]
		if gw == nil {
			return fmt.Errorf("payment: event %d: gateway %s is not configured; cannot confirm", eventID, a.Provider)
		}
		truth, err = gw.Status(ctx, gateway.Ref{AttemptID: a.ID, TxID: firstNonEmpty(deref(a.GatewayRef), ev.TxID)})
		if err != nil {
			return fmt.Errorf("payment: confirm event %d with %s: %w", eventID, a.Provider, err)
		}
	}
	var v verdict
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT processed_at IS NOT NULL FROM gateway_events WHERE id = $1 FOR UPDATE`, eventID).Scan(&done); err != nil {
			return err
		}
		if done {
			return outbox.MarkDone(ctx, tx, outboxID)
		}
		now := s.clock.Now() // once, with the event locked; every write below uses it
		var err error
		v, err = s.apply(ctx, tx, eventID, ev, a, found, truth, now)
		if err != nil {
			return err
		}
		var cStatus *string
		var cAmount *int64
		paid := false
		if v.truth != nil {
			cStatus, cAmount = &v.truth.RawStatus, &v.truth.Amount
			paid = v.truth.AmountValid && (v.truth.Status == gateway.StatusSucceeded || v.truth.Status == gateway.StatusRefunded ||
				(v.truth.Status == gateway.StatusFailed && v.truth.ReversalKind != "" && v.flag == FlagReversed))
		}
		if _, err := tx.Exec(ctx, `UPDATE gateway_events SET processed_at = $9, outcome = $2, flag = $3, order_id = $4, attempt_id = $5,
			confirmed_status = $6, confirmed_amount = $7, confirmed_paid = $8 WHERE id = $1`,
			eventID, v.outcome, nullable(v.flag), nullable(v.orderID), nullable(v.attemptID), cStatus, cAmount, paid, now); err != nil {
			return err
		}
		if v.flag != "" {
			if err := s.emitFlagged(ctx, tx, eventID, now); err != nil {
				return err
			}
		}
		return outbox.MarkDone(ctx, tx, outboxID)
	})
	if err != nil {
		return err
	}
	if v.outcome == "settled" || v.flag == FlagPaidLate {
		s.Settled(s.clock.Now().Sub(received)) // received_at is the service clock's
	}
	if v.flag != "" {
		s.Flagged(v.flag)
		s.log.Warn("gateway event flagged", "event_id", eventID, "flag", v.flag, "order_id", v.orderID, "attempt_id", v.attemptID, "outcome", v.outcome)
	} else {
		s.log.Info("gateway event applied", "event_id", eventID, "provider", provider, "order_id", v.orderID, "attempt_id", v.attemptID, "outcome", v.outcome)
	}
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// findAttempt finds the attempt an event names: by our id, or, for events
// that carry only the gateway's id (Xendit's refund callback), by that.
func (s *Service) findAttempt(ctx context.Context, ev gateway.Event) (order.Attempt, bool, error) {
	var row pgx.Row
	switch {
	case ev.AttemptID != "":
		row = s.pool.QueryRow(ctx, `SELECT `+attemptColumns+` FROM payment_attempts WHERE id = $1 AND provider = $2`, ev.AttemptID, ev.Provider)
	case ev.TxID != "":
		row = s.pool.QueryRow(ctx, `SELECT `+attemptColumns+` FROM payment_attempts WHERE provider = $1 AND gateway_ref = $2`, ev.Provider, ev.TxID)
	default:
		return order.Attempt{}, false, nil
	}
	a, err := scanAttempt(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, store.Unavailable(err)
	}
	return a, true, nil
}

// apply decides what an event does, inside ApplyEvent's transaction.
func (s *Service) apply(ctx context.Context, tx pgx.Tx, eventID int64, ev gateway.Event, a order.Attempt, found bool, truth *gateway.Event, now time.Time) (verdict, error) {
	if !found {
		if ev.Status == gateway.StatusIgnored {
			return verdict{outcome: "ignored " + ev.Type + " " + ev.RawStatus + ": names no payment of ours"}, nil
		}
		return verdict{outcome: "no such payment attempt", flag: FlagUnmatched}, nil
	}
	o, err := order.Lock(ctx, tx, a.OrderID)
	if err != nil {
		return verdict{}, err
	}
	// Re-read the attempt under the order lock: it is what serialises them.
	if a, err = GetAttempt(ctx, tx, a.ID); err != nil {
		return verdict{}, err
	}
	v := verdict{orderID: o.ID, attemptID: a.ID, truth: truth}
	switch {
	case ev.Suspect != "":
		v.outcome, v.flag = "the callback contradicts itself ("+ev.Suspect+"): nothing changed", FlagUnconfirmed
		return v, nil
	case ev.Status == gateway.StatusIgnored:
		v.outcome = "ignored " + firstNonEmpty(ev.Type, "status") + " " + ev.RawStatus
		return v, nil
	case truth == nil:
		v.outcome, v.flag = "the gateway does not know this transaction: nothing changed", FlagUnconfirmed
		return v, nil
	case !consistent(ev, *truth):
		v.outcome = fmt.Sprintf("the callback says %s, the gateway says %s: nothing changed", ev.RawStatus, truth.RawStatus)
		v.flag = FlagUnconfirmed
		if truth.Status == gateway.StatusPending {
			// Perhaps only not yet: have the janitor ask again soon.
			return v, checkSoon(ctx, tx, a.ID, now.Add(min(s.reconcileAfter, time.Minute)))
		}
		return v, nil
	}
	if truth.TxID != "" && a.GatewayRef == nil {
		if err := learnRef(ctx, tx, a.ID, truth.TxID); err != nil {
			return v, err
		}
	}
	return s.act(ctx, tx, o, a, *truth, eventID, now, v)
}

// consistent reports whether the gateway's answer bears the callback out:
// the same state, or a later one the callback's state leads to (settled,
// then refunded). A pending callback is only a prompt to look.
func consistent(claim, truth gateway.Event) bool {
	if claim.Status == gateway.StatusPending {
		return true
	}
	if claim.AmountValid && truth.AmountValid && claim.Amount != truth.Amount {
		return false // the body's amount is not what the gateway holds
	}
	switch truth.Status {
	case claim.Status:
		return claim.Status != gateway.StatusRefunded || truth.Refunded >= claim.Refunded
	case gateway.StatusRefunded:
		return claim.Status == gateway.StatusSucceeded || claim.Status == gateway.StatusChallenge
	case gateway.StatusSucceeded, gateway.StatusFailed:
		return claim.Status == gateway.StatusChallenge || (claim.Status == gateway.StatusSucceeded && truth.ReversalKind != "")
	}
	return false
}

// act applies what the gateway says about an attempt.
func (s *Service) act(ctx context.Context, tx pgx.Tx, o *order.Order, a order.Attempt, truth gateway.Event, eventID int64, now time.Time, v verdict) (verdict, error) {
	switch truth.Status {
	case gateway.StatusPending:
		v.outcome = "pending: nothing to do"
	case gateway.StatusChallenge:
		v.outcome = "challenge: held by fraud detection, nothing credited"
		return v, markChallenge(ctx, tx, a.ID, now)
	case gateway.StatusFailed:
		switch {
		case a.Status == order.AttemptPending:
			code := firstNonEmpty(truth.FailureCode, truth.RawStatus)
			if err := attemptTransition(ctx, tx, a.ID, []order.AttemptStatus{order.AttemptPending}, order.AttemptFailed, now, code); err != nil {
				return v, err
			}
			v.outcome = "attempt failed: " + code
		case a.Status == order.AttemptSucceeded && truth.ReversalKind != "":
			// settlement → deny, capture → cancel, SUCCEEDED → VOIDED: all of it went back.
			return s.reverse(ctx, tx, o, a, a.Amount, truth.ReversalKind, eventID, now, v)
		default:
			v.outcome = truth.RawStatus + " after " + string(a.Status) + ": ignored (forward-only)"
		}
	case gateway.StatusSucceeded:
		return s.paid(ctx, tx, o, a, truth, now, v)
	case gateway.StatusRefunded:
		total := truth.Refunded
		if total <= 0 {
			// The gateway confirms the money went back but not how much
			// (a Midtrans refund or chargeback without refund_amount). A
			// whole refund is a refund of all that is left; a partial one
			// cannot be guessed, so finance is told. Never read as 0.
			if strings.HasPrefix(truth.RawStatus, "partial_") {
				v.outcome = "the gateway confirms a " + truth.RawStatus + " without its amount: nothing changed"
				v.flag = FlagUnconfirmed
				return v, nil
			}
			total = a.Amount
		}
		if a.Status != order.AttemptSucceeded {
			// The money came (its callback was lost or is late) and some
			// went back: settle first, then reverse.
			var err error
			if v, err = s.paid(ctx, tx, o, a, truth, now, v); err != nil || (v.flag != "" && v.flag != FlagPaidLate) {
				return v, err
			}
			if o, err = order.Lock(ctx, tx, o.ID); err != nil {
				return v, err
			}
			if a, err = GetAttempt(ctx, tx, a.ID); err != nil {
				return v, err
			}
		}
		return s.reverse(ctx, tx, o, a, total, truth.ReversalKind, eventID, now, v)
	default:
		v.outcome = "gateway status " + truth.RawStatus + ": nothing to do"
	}
	return v, nil
}

// paid handles money the gateway confirms arrived on attempt a.
func (s *Service) paid(ctx context.Context, tx pgx.Tx, o *order.Order, a order.Attempt, truth gateway.Event, now time.Time, v verdict) (verdict, error) {
	if !truth.AmountValid || truth.Amount != a.Amount || (truth.Currency != "" && truth.Currency != "IDR") {
		v.outcome = fmt.Sprintf("amount mismatch: paid %d %s, attempt is %d IDR", truth.Amount, truth.Currency, a.Amount)
		v.flag = FlagAmountMismatch
		return v, nil
	}
	if a.Status == order.AttemptSucceeded {
		v.outcome = "already settled"
		return v, nil
	}
	money := []order.AttemptStatus{order.AttemptPending, order.AttemptCancelled, order.AttemptExpired, order.AttemptFailed}
	if a.Amount-a.Fee != o.Payable {
		// The order was re-priced after this attempt opened: its money is
		// not what is owed now. Record it, credit nothing, let finance refund.
		if err := attemptTransition(ctx, tx, a.ID, money, order.AttemptSucceeded, now, ""); err != nil {
			return v, err
		}
		v.outcome = fmt.Sprintf("paid %d on an attempt for an old price (the order's payable is now %d): nothing credited", a.Amount, o.Payable)
		v.flag = FlagSuperseded
		return v, nil
	}
	if o.Status == order.StatusPaid || o.Status == order.StatusRefunded {
		// Paid twice through two attempts: record the money, credit nothing,
		// and let finance refund.
		if err := attemptTransition(ctx, tx, a.ID, money, order.AttemptSucceeded, now, ""); err != nil {
			return v, err
		}
		v.outcome, v.flag = "order already paid by "+deref(o.PaidAttemptID), FlagDoublePayment
		return v, nil
	}
	// A gateway payment also settles an order whose manual transfer is in
	// review or was rejected; money after expiry or cancel is credited late.
	late := o.Status != order.StatusAwaitingPayment && o.Status != order.StatusInReview && o.Status != order.StatusRejected
	was := o.Status
	if err := s.Settle(ctx, tx, o, a.ID, now); err != nil {
		return v, err
	}
	if late {
		v.outcome, v.flag = "settled after the order had "+pastTense(was)+": credited", FlagPaidLate
		return v, nil
	}
	v.outcome = "settled"
	return v, nil
}

func pastTense(status order.Status) string {
	switch status {
	case order.StatusExpired:
		return "expired"
	case order.StatusCancelled:
		return "been cancelled"
	}
	return "become " + string(status)
}

// Settle pays an order in the caller's transaction, which holds the
// order's row lock: order paid (conditionally), attempt succeeded, ledger
// credited (outstanding first), other open attempts closed, the scheduled
// expiry voided, and the confirmation mail queued. The mail's task renders
// and stores the PAID proforma it attaches. SettleTransfer calls it for a
// manual transfer finance accepted.
func (s *Service) Settle(ctx context.Context, tx pgx.Tx, o *order.Order, attemptID string, now time.Time) error {
	if err := order.LoadItems(ctx, tx, o); err != nil {
		return err
	}
	wa, muv := credits(o)
	if err := ledger.TopUp(ctx, tx, now, o.AccountID, o.ID, wa, muv); err != nil {
		return err // ErrAlreadyCredited cannot happen under the order lock with status checked; surface it if it does
	}
	if err := order.MarkPaid(ctx, tx, o.ID, attemptID, now); err != nil {
		return err
	}
	if err := attemptTransition(ctx, tx, attemptID,
		[]order.AttemptStatus{order.AttemptPending, order.AttemptCancelled, order.AttemptExpired, order.AttemptFailed},
		order.AttemptSucceeded, now, ""); err != nil {
		return err
	}
	if err := closePending(ctx, tx, o.ID, attemptID, order.AttemptCancelled, now); err != nil {
		return err
	}
	o.Status, o.PaidAttemptID = order.StatusPaid, &attemptID
	// The scheduled expiry has nothing left to do.
	if err := outbox.MarkDone(ctx, tx, task.ExpireID(o.ID)); err != nil {
		return err
	}
	s.log.Info("order paid", "order_id", o.ID, "account_id", o.AccountID, "attempt_id", attemptID, "wa_balance", wa, "muv", muv)
	return mail.Queue(ctx, tx, o, mail.KindConfirmation, "", now)
}

// credits are what a paid order credits: WhatsApp balance and visitors.
func credits(o *order.Order) (wa, muv int64) {
	for _, it := range o.Items {
		switch it.Product {
		case order.ProductWABalance:
			wa += it.Quantity
		case order.ProductMUV:
			muv += it.Quantity
		}
	}
	return wa, muv
}

// Expire ends an unpaid order at its deadline. Before it does, it asks the
// gateway about every pending attempt, so a payment that landed a second
// before 23:59 is settled rather than expired. Safe to call any number of
// times from any number of processes: the order is claimed with SKIP
// LOCKED (one busy elsewhere is left to that process) and the transition
// is conditional.
func (s *Service) Expire(ctx context.Context, orderID, outboxID string) error {
	o, err := s.orders.GetOrder(ctx, orderID)
	if err != nil {
		if lunas.KindOf(err) == lunas.KindNotFound {
			return outbox.MarkDone(ctx, s.pool, outboxID)
		}
		return err
	}
	now := s.clock.Now()
	if o.Status != order.StatusAwaitingPayment {
		return outbox.MarkDone(ctx, s.pool, outboxID)
	}
	if o.ExpiresAt == nil || now.Before(*o.ExpiresAt) {
		// Early (the asynq schedule runs on wall time, the deadline on the
		// service clock): the sweeper takes it when it is due.
		return nil
	}
	for _, a := range o.Payments {
		if a.Status != order.AttemptPending {
			continue
		}
		if err := s.ask(ctx, a); err != nil {
			// The gateway is down: expire anyway. Money that arrives later
			// is still credited (flagged paid_late), never dropped.
			s.log.Warn("status check before expiry failed", "order_id", orderID, "attempt_id", a.ID, "err", err)
		}
	}
	return store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var status order.Status
		err := tx.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1 FOR UPDATE SKIP LOCKED`, orderID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // another process holds it (paying or expiring it); it decides
		}
		if err != nil {
			return err
		}
		o, err := order.Lock(ctx, tx, orderID)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		if o.Status == order.StatusAwaitingPayment && o.ExpiresAt != nil && !now.Before(*o.ExpiresAt) {
			if err := order.MarkExpired(ctx, tx, orderID, now); err != nil {
				return err
			}
			if err := closePending(ctx, tx, orderID, "", order.AttemptExpired, now); err != nil {
				return err
			}
			s.log.Info("order expired", "order_id", orderID, "expires_at", o.ExpiresAt)
		}
		return outbox.MarkDone(ctx, tx, outboxID)
	})
}

// ask asks a gateway attempt's gateway what became of it and, when the
// answer is more than "pending", records it in the inbox and applies it
// exactly as a callback would be.
func (s *Service) ask(ctx context.Context, a order.Attempt) error {
	gw := s.gateways[a.Provider]
	if gw == nil || a.Provider == gateway.ProviderManual {
		return nil
	}
	truth, err := gw.Status(ctx, gateway.Ref{AttemptID: a.ID, TxID: deref(a.GatewayRef)})
	if err != nil || truth == nil || truth.Status == gateway.StatusPending {
		return err
	}
	if truth.AttemptID == "" {
		truth.AttemptID = a.ID
	}
	id, err := s.RecordEvent(ctx, *truth)
	if err != nil || id == 0 {
		return err
	}
	return s.ApplyEvent(ctx, id, task.ApplyID(id))
}
