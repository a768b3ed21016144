// Package ledger records every balance movement of an account as a posting
// and keeps the account's cached balances equal to the sum of its postings,
// in the same transaction. It owns ledger_postings and balances (the cached
// balances and the low-balance alert state of each account); account opens
// an account's balances with Open when it creates the account.
//
// payment calls TopUp when an order is paid and Reverse when the gateway
// takes a payment back; invoice calls Adjust for finance's month-end
// charges and refunds; usage calls PostUsage for conversation and visitor
// debits and refunds and Reconcile for month-end reconciliation; nothing
// else moves money.
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

// Balances that postings move.
const (
	BalanceWA          = "wa_balance"
	BalanceMUV         = "muv"
	BalanceOutstanding = "outstanding"
)

// Posting is one movement of one balance.
type Posting struct {
	ID           int64   `json:"id"`
	AccountID    string  `json:"account_id"`
	Balance      string  `json:"balance"`
	Amount       int64   `json:"amount"`
	Kind         string  `json:"kind"`
	OrderID      *string `json:"order_id"`
	AdjustmentID *string `json:"adjustment_id"`
	ReversalID   *string `json:"reversal_id"`
	// UsageEventID ties a usage debit or refund to its usage event;
	// ReconciliationID a reconciliation's charge or refund to it.
	UsageEventID     *int64    `json:"usage_event_id"`
	ReconciliationID *string   `json:"reconciliation_id"`
	Memo             string    `json:"memo"`
	CreatedAt        time.Time `json:"created_at"`
	// BalanceAfter is the posting's balance right after it: the running
	// balance finance reads down a statement. List fills it.
	BalanceAfter int64 `json:"balance_after"`
}

// Balances of an account.
type Balances struct {
	WABalance   int64 `json:"wa_balance"`
	MUV         int64 `json:"muv"`
	Outstanding int64 `json:"outstanding"`
}

// ErrAlreadyCredited means the order's postings exist: a retry, not new money.
var ErrAlreadyCredited = errors.New("ledger: order already credited")

// lock reads an account's balances under a row lock.
func lock(ctx context.Context, tx pgx.Tx, accountID string) (Balances, error) {
	var b Balances
	err := tx.QueryRow(ctx, `SELECT wa_balance, muv, outstanding FROM balances WHERE account_id = $1 FOR UPDATE`, accountID).
		Scan(&b.WABalance, &b.MUV, &b.Outstanding)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, lunas.E(lunas.KindNotFound, "account %q not found", accountID)
	}
	return b, err
}

func post(ctx context.Context, tx pgx.Tx, now time.Time, accountID string, ps []Posting) error {
	var dWA, dMUV, dOut int64
	for _, p := range ps {
		if p.Amount == 0 {
			continue
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO ledger_postings (account_id, balance, amount, kind, order_id, adjustment_id, reversal_id, usage_event_id, reconciliation_id, memo, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			accountID, p.Balance, p.Amount, p.Kind, p.OrderID, p.AdjustmentID, p.ReversalID, p.UsageEventID, p.ReconciliationID, p.Memo, now)
		if store.IsUniqueViolation(err) {
			return ErrAlreadyCredited
		}
		if err != nil {
			return fmt.Errorf("ledger: post %s %d: %w", p.Balance, p.Amount, err)
		}
		switch p.Balance {
		case BalanceWA:
			dWA += p.Amount
		case BalanceMUV:
			dMUV += p.Amount
		case BalanceOutstanding:
			dOut += p.Amount
		}
	}
	_, err := tx.Exec(ctx, `
		UPDATE balances SET wa_balance = wa_balance + $2, muv = muv + $3, outstanding = outstanding + $4, updated_at = $5
		WHERE account_id = $1`, accountID, dWA, dMUV, dOut, now)
	if err != nil {
		return fmt.Errorf("ledger: update balances of %s: %w", accountID, err)
	}
	return nil
}

// Open gives a new account its balances, all zero, in tx (the transaction
// that creates the account; account.Put calls it). Opening an account
// that has them already changes nothing.
func Open(ctx context.Context, tx pgx.Tx, accountID string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO balances (account_id, updated_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING`, accountID, now)
	if err != nil {
		return fmt.Errorf("ledger: open balances of %s: %w", accountID, err)
	}
	return nil
}

// TopUp credits a paid order: the WhatsApp top-up first pays off the
// outstanding amount and the rest is credited; visitors are credited as they
// are. It returns ErrAlreadyCredited when the order was credited before.
func TopUp(ctx context.Context, tx pgx.Tx, now time.Time, accountID, orderID string, wa, muv int64) error {
	b, err := lock(ctx, tx, accountID)
	if err != nil {
		return err
	}
	payOff := min(b.Outstanding, wa)
	oid := &orderID
	err = post(ctx, tx, now, accountID, []Posting{
		{Balance: BalanceOutstanding, Amount: -payOff, Kind: "topup_outstanding", OrderID: oid, Memo: "outstanding paid from top-up"},
		{Balance: BalanceWA, Amount: wa - payOff, Kind: "topup", OrderID: oid, Memo: "WhatsApp balance top-up"},
		{Balance: BalanceMUV, Amount: muv, Kind: "topup", OrderID: oid, Memo: "monthly unique visitors top-up"},
	})
	if err != nil {
		return err
	}
	return rearm(ctx, tx, accountID, wa > 0, muv > 0)
}

// Reverse takes back (part of) an order's credit after the gateway took
// the money back (payment's reversal): wa from the WhatsApp balance, and
// whatever the balance no longer holds becomes outstanding; muv from the
// visitor quota, down to 0 at most (visitors owed are not money). Each
// posting carries the reversal id, which a unique index makes once-only.
func Reverse(ctx context.Context, tx pgx.Tx, now time.Time, accountID, orderID, reversalID string, wa, muv int64, memo string) (Balances, error) {
	b, err := lock(ctx, tx, accountID)
	if err != nil {
		return b, err
	}
	take := min(b.WABalance, wa)
	muvTake := min(b.MUV, muv)
	oid, rid := &orderID, &reversalID
	err = post(ctx, tx, now, accountID, []Posting{
		{Balance: BalanceWA, Amount: -take, Kind: "reversal", OrderID: oid, ReversalID: rid, Memo: memo},
		{Balance: BalanceOutstanding, Amount: wa - take, Kind: "reversal_outstanding", OrderID: oid, ReversalID: rid, Memo: memo},
		{Balance: BalanceMUV, Amount: -muvTake, Kind: "reversal", OrderID: oid, ReversalID: rid, Memo: memo},
	})
	b.WABalance -= take
	b.Outstanding += wa - take
	b.MUV -= muvTake
	return b, err
}

// Adjustment kinds.
const (
	AdjustCharge = "charge"
	AdjustRefund = "refund"
)

// Adjust applies a finance adjustment to the WhatsApp balance. A charge takes
// from the balance and whatever the balance cannot cover becomes
// outstanding; a refund first reduces outstanding, then credits the balance.
func Adjust(ctx context.Context, tx pgx.Tx, now time.Time, accountID, adjustmentID, kind string, amount int64, reason string) (Balances, error) {
	return adjust(ctx, tx, now, accountID, adjustmentID, nil, kind, amount, reason)
}

// Reconcile posts a month-end reconciliation's difference as the adjustment
// adjustmentID (charge or refund, with Adjust's rules), its postings tied to
// the reconciliation too.
func Reconcile(ctx context.Context, tx pgx.Tx, now time.Time, accountID, reconciliationID, adjustmentID, kind string, amount int64, reason string) (Balances, error) {
	return adjust(ctx, tx, now, accountID, adjustmentID, &reconciliationID, kind, amount, reason)
}

func adjust(ctx context.Context, tx pgx.Tx, now time.Time, accountID, adjustmentID string, reconciliationID *string, kind string, amount int64, reason string) (Balances, error) {
	b, err := lock(ctx, tx, accountID)
	if err != nil {
		return b, err
	}
	aid := &adjustmentID
	var ps []Posting
	switch kind {
	case AdjustCharge:
		take := min(b.WABalance, amount)
		ps = []Posting{
			{Balance: BalanceWA, Amount: -take, Kind: "charge", AdjustmentID: aid, Memo: reason},
			{Balance: BalanceOutstanding, Amount: amount - take, Kind: "charge_outstanding", AdjustmentID: aid, Memo: reason},
		}
		b.WABalance -= take
		b.Outstanding += amount - take
	case AdjustRefund:
		payOff := min(b.Outstanding, amount)
		ps = []Posting{
			{Balance: BalanceOutstanding, Amount: -payOff, Kind: "refund_outstanding", AdjustmentID: aid, Memo: reason},
			{Balance: BalanceWA, Amount: amount - payOff, Kind: "refund", AdjustmentID: aid, Memo: reason},
		}
		b.Outstanding -= payOff
		b.WABalance += amount - payOff
	default:
		return b, lunas.E(lunas.KindInvalid, "unknown adjustment kind %q", kind)
	}
	for i := range ps {
		ps[i].ReconciliationID = reconciliationID
	}
	return b, post(ctx, tx, now, accountID, ps)
}

// List returns an account's postings, newest first, after the cursor id
// (0 for the first page), each with its balance right after it. The
// running balance is the cached balance less what the newer postings of
// that balance moved: one statement (one snapshot), summing only the
// postings newer than the page, so the first page costs its own rows.
func List(ctx context.Context, q store.Querier, accountID string, before int64, limit int) ([]Posting, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := q.Query(ctx, `
		WITH page AS (
			SELECT id, account_id, balance, amount, kind, order_id, adjustment_id, reversal_id, usage_event_id, reconciliation_id, memo, created_at
			FROM ledger_postings WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3),
		newer AS (
			SELECT balance, sum(amount) AS moved FROM ledger_postings
			WHERE account_id = $1 AND id > (SELECT coalesce(max(id), 0) FROM page) GROUP BY balance)
		SELECT p.id, p.account_id, p.balance, p.amount, p.kind, p.order_id, p.adjustment_id, p.reversal_id, p.usage_event_id,
			p.reconciliation_id, p.memo, p.created_at,
			CASE p.balance WHEN $4 THEN b.wa_balance WHEN $5 THEN b.muv ELSE b.outstanding END
				- coalesce(n.moved, 0)
				- coalesce(sum(p.amount) OVER (PARTITION BY p.balance ORDER BY p.id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
		FROM page p JOIN balances b ON b.account_id = p.account_id LEFT JOIN newer n ON n.balance = p.balance
		ORDER BY p.id DESC`, accountID, before, limit, BalanceWA, BalanceMUV)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Posting, error) {
		var p Posting
		err := r.Scan(&p.ID, &p.AccountID, &p.Balance, &p.Amount, &p.Kind, &p.OrderID, &p.AdjustmentID, &p.ReversalID, &p.UsageEventID, &p.ReconciliationID, &p.Memo, &p.CreatedAt,
			&p.BalanceAfter)
		return p, err
	})
}

// Derived recomputes an account's balances from its postings; tests and the
// fault suite compare it with the cached balances.
func Derived(ctx context.Context, q store.Querier, accountID string) (Balances, error) {
	var b Balances
	err := q.QueryRow(ctx, `
		SELECT coalesce(sum(amount) FILTER (WHERE balance = 'wa_balance'), 0),
		       coalesce(sum(amount) FILTER (WHERE balance = 'muv'), 0),
		       coalesce(sum(amount) FILTER (WHERE balance = 'outstanding'), 0)
		FROM ledger_postings WHERE account_id = $1`, accountID).Scan(&b.WABalance, &b.MUV, &b.Outstanding)
	return b, err
}
