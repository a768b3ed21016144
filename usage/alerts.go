package usage

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/webhook"
)

// Threshold is a balance's alert threshold: LUNAS_LOW_BALANCE_RATIO × its
// reference, rounded half-up to a whole unit once.
func (s *Service) threshold(ref int64) int64 {
	return decimal.NewFromInt(ref).Mul(s.ratio).Round(0).IntPart()
}

// checkAlerts queues the low-balance alert of each balance that this
// debit took from at least its threshold to below it, unless the alert for
// the current reference went out already (one mail per crossing; the next
// top-up re-arms it, see ledger.TopUp). Runs in the debit's transaction,
// under the account's row lock; returns the balances alerted.
func (s *Service) checkAlerts(ctx context.Context, tx pgx.Tx, accountID string, now time.Time, before, after ledger.Balances, st ledger.Alerts) ([]string, error) {
	var alerted []string
	for _, c := range []struct {
		balance       string
		ref           *int64
		at            *time.Time
		before, after int64
	}{
		{ledger.BalanceWA, st.WARef, st.WAAlertedAt, before.WABalance, after.WABalance},
		{ledger.BalanceMUV, st.MUVRef, st.MUVAlertedAt, before.MUV, after.MUV},
	} {
		if c.ref == nil || c.at != nil {
			continue
		}
		thr := s.threshold(*c.ref)
		if !(c.before >= thr && c.after < thr) {
			continue
		}
		won, err := ledger.MarkAlerted(ctx, tx, accountID, c.balance, now)
		if err != nil || !won {
			return alerted, err
		}
		// The app hears of the crossing once, as the mail does, whether or
		// not anybody can be mailed.
		if err := webhook.EmitJSON(ctx, tx, webhook.BalanceLow, accountID, LowBalanceEvent{AccountID: accountID, Balance: c.balance,
			Remaining: c.after, Threshold: thr, Reference: *c.ref, AlertedAt: now.In(s.loc).Format(time.RFC3339)}, now); err != nil {
			return alerted, err
		}
		to, err := mail.QueueLowBalance(ctx, tx, mail.LowBalance{AccountID: accountID, Balance: c.balance, Remaining: c.after,
			Threshold: thr, Reference: *c.ref}, now)
		if err != nil {
			return alerted, err
		}
		if to == "" {
			s.log.Warn("low balance but nobody to tell: the account has no billing_email and no paid order",
				"account_id", accountID, "balance", c.balance)
			continue
		}
		alerted = append(alerted, c.balance)
	}
	return alerted, nil
}

// OwedEvent is usage.owed's data: a delivered message charged beyond the
// balance made the account's outstanding grow by Owed to Outstanding.
type OwedEvent struct {
	AccountID   string `json:"account_id"`
	Owed        int64  `json:"owed"`
	Outstanding int64  `json:"outstanding"`
	At          string `json:"at"`
}

// LowBalanceEvent is the data of balance.low: which balance of which
// account went below its threshold, and by how much.
type LowBalanceEvent struct {
	AccountID string `json:"account_id"`
	Balance   string `json:"balance"`   // wa_balance or muv
	Remaining int64  `json:"remaining"` // the balance after the debit
	Threshold int64  `json:"threshold"`
	Reference int64  `json:"reference"` // the balance right after the last top-up
	AlertedAt string `json:"alerted_at"`
}

// Alert is one balance's alert state as GET /v1/accounts/{id} shows it.
type Alert struct {
	Threshold *int64     // nil before the first top-up
	AlertedAt *time.Time // nil while armed
}

// Alerts returns the account's alert state per balance.
func (s *Service) Alerts(ctx context.Context, accountID string) (map[string]Alert, error) {
	st, err := ledger.ReadAlerts(ctx, s.pool, accountID)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	thr := func(ref *int64) *int64 {
		if ref == nil {
			return nil
		}
		t := s.threshold(*ref)
		return &t
	}
	return map[string]Alert{
		ledger.BalanceWA:  {Threshold: thr(st.WARef), AlertedAt: st.WAAlertedAt},
		ledger.BalanceMUV: {Threshold: thr(st.MUVRef), AlertedAt: st.MUVAlertedAt},
	}, nil
}
