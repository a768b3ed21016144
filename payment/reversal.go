package payment

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// reverse takes back the credit of attempt a in proportion to what the
// gateway reports taken back of it in total (refunds and chargebacks are
// cumulative at the gateway). Each balance is rounded half-up once, on the
// cumulative share, so partial refunds never drift from a full one. The
// attempt's refunded total moves conditionally and a reversal row is
// unique per (attempt, total): however many notifications say the same,
// the credit goes back once.
func (s *Service) reverse(ctx context.Context, tx pgx.Tx, o *order.Order, a order.Attempt, total int64, kind string, eventID int64, now time.Time, v verdict) (verdict, error) {
	total = min(total, a.Amount)
	if total <= a.Refunded {
		v.outcome = fmt.Sprintf("%s of %d already reversed (%d of %d taken back)", kind, total, a.Refunded, a.Amount)
		return v, nil
	}
	if err := setRefunded(ctx, tx, a.ID, a.Refunded, total, now); err != nil {
		return v, err
	}
	rev := store.NewID("rvs")
	if _, err := tx.Exec(ctx, `INSERT INTO reversals (id, order_id, attempt_id, event_id, kind, gateway_total, amount, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, rev, o.ID, a.ID, eventID, kind, total, total-a.Refunded, now); err != nil {
		return v, err
	}
	v.flag = FlagReversed
	if o.PaidAttemptID == nil || *o.PaidAttemptID != a.ID {
		// A double or superseded payment: it credited nothing, so nothing
		// comes off a balance.
		v.outcome = fmt.Sprintf("%s: %d of %d taken back of a payment that credited nothing", kind, total, a.Amount)
		return v, nil
	}
	if err := order.LoadItems(ctx, tx, o); err != nil {
		return v, err
	}
	wa, muv := credits(o)
	dWA := share(wa, total, a.Amount) - share(wa, a.Refunded, a.Amount)
	dMUV := share(muv, total, a.Amount) - share(muv, a.Refunded, a.Amount)
	memo := fmt.Sprintf("%s by the gateway: %d of %d", kind, total, a.Amount)
	b, err := ledger.Reverse(ctx, tx, now, o.AccountID, o.ID, rev, dWA, dMUV, memo)
	if err != nil {
		return v, err
	}
	// A partial reversal leaves the order paid (the app still learns of it).
	if err := order.Refund(ctx, tx, o, total, total >= a.Amount, now); err != nil {
		return v, err
	}
	if err := mail.Queue(ctx, tx, o, mail.KindRefund, rev, now); err != nil {
		return v, err
	}
	// The PAID proforma said LUNAS with no word of this: drop it and render
	// it again with what was taken back (a full reversal stamps it
	// refunded). The refund mail's link serves the new one.
	if err := proforma.Discard(ctx, tx, o.ID, proforma.KindPaid); err != nil {
		return v, err
	}
	if err := outbox.Enqueue(ctx, tx, task.Render(o.ID, proforma.KindPaid, rev)); err != nil {
		return v, err
	}
	v.outcome = fmt.Sprintf("%s: %d of %d taken back; reversed wa_balance %d, muv %d (now wa_balance %d, outstanding %d, muv %d)",
		kind, total, a.Amount, dWA, dMUV, b.WABalance, b.Outstanding, b.MUV)
	s.log.Info("credit reversed", "order_id", o.ID, "attempt_id", a.ID, "kind", kind, "gateway_total", total, "wa_balance", dWA, "muv", dMUV)
	return v, nil
}

// share is credit × part / whole rounded half-up, exactly (big integers:
// credit × part can pass int64).
func share(credit, part, whole int64) int64 {
	if credit == 0 || part == 0 || whole == 0 {
		return 0
	}
	n := new(big.Int).Mul(big.NewInt(credit), big.NewInt(part))
	n.Mul(n, big.NewInt(2))
	n.Add(n, big.NewInt(whole))
	n.Quo(n, big.NewInt(2*whole))
	return n.Int64()
}
