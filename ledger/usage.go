package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/store"
)

// UsagePosting is one usage movement of one balance: a debit (Amount < 0)
// or a refund (Amount > 0) of wa_balance or muv, tied to the usage event
// that caused it; on outstanding, what a delivered message owes beyond the
// balance (Amount > 0) or the refund of it (Amount < 0).
type UsagePosting struct {
	Balance      string // BalanceWA or BalanceMUV
	Amount       int64
	Kind         string // "usage", "usage_outstanding" or "usage_refund"
	UsageEventID int64
	Memo         string
}

// ErrInsufficientFunds means a usage batch would take a balance below zero.
// The caller (usage) decides what may be charged under the account's row
// lock, so this is the last line of defence, not the normal path.
var ErrInsufficientFunds = errors.New("ledger: the balance does not cover the debit")

// Alerts is an account's low-balance alert state: per balance, the
// reference (the balance right after the last top-up credit; nil before
// the first) and when the alert for that reference went out (nil: armed).
type Alerts struct {
	WARef, MUVRef             *int64
	WAAlertedAt, MUVAlertedAt *time.Time
}

// Lock takes the account's row lock — the lock every money movement of the
// account takes, so usage batches, top-ups and adjustments of one account
// run one after another — and reads its balances and alert state.
// usage holds it for a whole batch: window look-ups and charges then see
// every earlier batch and no later one.
func Lock(ctx context.Context, tx pgx.Tx, accountID string) (Balances, Alerts, error) {
	var b Balances
	var a Alerts
	err := tx.QueryRow(ctx, `
		SELECT wa_balance, muv, outstanding, wa_alert_ref, wa_alerted_at, muv_alert_ref, muv_alerted_at
		FROM balances WHERE account_id = $1 FOR UPDATE`, accountID).
		Scan(&b.WABalance, &b.MUV, &b.Outstanding, &a.WARef, &a.WAAlertedAt, &a.MUVRef, &a.MUVAlertedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, a, lunas.E(lunas.KindNotFound, "account %q not found", accountID)
	}
	return b, a, err
}

// ReadAlerts reads an account's alert state without a lock (GET account).
func ReadAlerts(ctx context.Context, q store.Querier, accountID string) (Alerts, error) {
	var a Alerts
	err := q.QueryRow(ctx, `SELECT wa_alert_ref, wa_alerted_at, muv_alert_ref, muv_alerted_at FROM balances WHERE account_id = $1`, accountID).
		Scan(&a.WARef, &a.WAAlertedAt, &a.MUVRef, &a.MUVAlertedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, lunas.E(lunas.KindNotFound, "account %q not found", accountID)
	}
	return a, err
}

// PostUsage records a usage batch's postings (one COPY) and moves the
// cached balances by their sums in one UPDATE that refuses to take any
// balance below zero (and the balances table's CHECK constraints refuse it
// again). It returns the balances after the batch, or ErrInsufficientFunds
// and changes nothing the caller's transaction keeps.
func PostUsage(ctx context.Context, tx pgx.Tx, now time.Time, accountID string, ps []UsagePosting) (Balances, error) {
	var dWA, dMUV, dOut int64
	rows := make([][]any, 0, len(ps))
	for _, p := range ps {
		if p.Amount == 0 {
			continue
		}
		switch p.Balance {
		case BalanceWA:
			dWA += p.Amount
		case BalanceMUV:
			dMUV += p.Amount
		case BalanceOutstanding:
			// A delivered WhatsApp message owed beyond the balance (Meta's
			// status webhook), or the refund of such a debt.
			dOut += p.Amount
		default:
			return Balances{}, fmt.Errorf("ledger: usage posting on balance %q", p.Balance)
		}
		rows = append(rows, []any{accountID, p.Balance, p.Amount, p.Kind, p.UsageEventID, p.Memo, now})
	}
	var b Balances
	err := tx.QueryRow(ctx, `
		UPDATE balances SET wa_balance = wa_balance + $2, muv = muv + $3, outstanding = outstanding + $5, updated_at = $4
		WHERE account_id = $1 AND wa_balance + $2 >= 0 AND muv + $3 >= 0 AND outstanding + $5 >= 0
		RETURNING wa_balance, muv, outstanding`, accountID, dWA, dMUV, now, dOut).Scan(&b.WABalance, &b.MUV, &b.Outstanding)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrInsufficientFunds
	}
	if err != nil {
		return b, fmt.Errorf("ledger: usage balances of %s: %w", accountID, err)
	}
	if len(rows) == 0 {
		return b, nil
	}
	// COPY: a usage batch has up to 1,000 postings, and one round trip
	// for all of them is what lets a single account take thousands of
	// events a second (see usage's benchmark).
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_postings"},
		[]string{"account_id", "balance", "amount", "kind", "usage_event_id", "memo", "created_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		return b, fmt.Errorf("ledger: usage postings of %s: %w", accountID, err)
	}
	if int(n) != len(rows) {
		return b, fmt.Errorf("ledger: usage postings of %s: copied %d of %d", accountID, n, len(rows))
	}
	return b, nil
}

// MarkAlerted records that balance's low-balance alert went out, unless it
// had already: it reports whether this call is the one that did, so one
// crossing sends one mail even when two batches cross at once.
func MarkAlerted(ctx context.Context, tx pgx.Tx, accountID, balance string, now time.Time) (bool, error) {
	if balance != BalanceWA && balance != BalanceMUV {
		return false, fmt.Errorf("ledger: no alert for balance %q", balance)
	}
	tag, err := tx.Exec(ctx, `
		UPDATE balances SET
			wa_alerted_at = CASE WHEN $3 = 'wa_balance' THEN $2 ELSE wa_alerted_at END,
			muv_alerted_at = CASE WHEN $3 = 'muv' THEN $2 ELSE muv_alerted_at END
		WHERE account_id = $1 AND CASE WHEN $3 = 'wa_balance' THEN wa_alerted_at ELSE muv_alerted_at END IS NULL`,
		accountID, now, balance)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// rearm makes the balance right after a top-up credit the new alert
// reference and arms its alert again (API.md "Low-balance alerts").
func rearm(ctx context.Context, tx pgx.Tx, accountID string, wa, muv bool) error {
	if !wa && !muv {
		return nil
	}
	_, err := tx.Exec(ctx, `
		UPDATE balances SET
			wa_alert_ref = CASE WHEN $2 THEN wa_balance ELSE wa_alert_ref END,
			wa_alerted_at = CASE WHEN $2 THEN NULL ELSE wa_alerted_at END,
			muv_alert_ref = CASE WHEN $3 THEN muv ELSE muv_alert_ref END,
			muv_alerted_at = CASE WHEN $3 THEN NULL ELSE muv_alerted_at END
		WHERE account_id = $1`, accountID, wa, muv)
	if err != nil {
		return fmt.Errorf("ledger: alert reference of %s: %w", accountID, err)
	}
	return nil
}
