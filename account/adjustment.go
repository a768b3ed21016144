package account

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/store"
)

// AdjustmentInput is the body of POST /v1/accounts/{id}/adjustments.
type AdjustmentInput struct {
	Product string `json:"product"`
	Kind    string `json:"kind"`
	Amount  int64  `json:"amount"`
	Reason  string `json:"reason"`
}

// Adjustment is a recorded finance adjustment.
type Adjustment struct {
	ID        string          `json:"id"`
	AccountID string          `json:"account_id"`
	Product   string          `json:"product"`
	Kind      string          `json:"kind"`
	Amount    int64           `json:"amount"`
	Reason    string          `json:"reason"`
	Actor     string          `json:"actor"`
	Balances  ledger.Balances `json:"balances"`
	CreatedAt time.Time       `json:"created_at"`
}

// Adjust applies a finance adjustment (charge or refund) to an account's
// WhatsApp balance: the ledger moves the money, and the adjustment is
// recorded, in one transaction. api and console call it.
func (s *Service) Adjust(ctx context.Context, accountID, actor string, in AdjustmentInput) (Adjustment, error) {
	if err := ValidateAdjustment(in); err != nil {
		return Adjustment{}, err
	}
	var adj Adjustment
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		adj, err = s.AdjustTx(ctx, tx, s.clock.Now(), accountID, actor, in)
		return err
	})
	return adj, err
}

// ValidateAdjustment reports every field of in that Adjust would refuse,
// so a request held for approval is checked before it waits.
func ValidateAdjustment(in AdjustmentInput) error {
	var ve lunas.ValidationError
	if in.Product != ledger.BalanceWA { // the one balance an adjustment moves
		ve.Add("product", "must be wa_balance")
	}
	if in.Kind != ledger.AdjustCharge && in.Kind != ledger.AdjustRefund {
		ve.Add("kind", "must be charge or refund")
	}
	if in.Amount <= 0 || in.Amount > maxAmount {
		ve.Add("amount", "must be a positive whole number of rupiah")
	}
	if strings.TrimSpace(in.Reason) == "" {
		ve.Add("reason", "is required")
	}
	return ve.Err()
}

// AdjustTx posts the adjustment in the caller's transaction at now (the
// transaction's one reading of the clock): the four-eyes approval that
// moves the money in the transaction recording the decision, or the
// change recorded together with its audit row.
func (s *Service) AdjustTx(ctx context.Context, tx pgx.Tx, now time.Time, accountID, actor string, in AdjustmentInput) (Adjustment, error) {
	if err := ValidateAdjustment(in); err != nil {
		return Adjustment{}, err
	}
	adj := Adjustment{ID: store.NewID("adj"), AccountID: accountID, Product: in.Product, Kind: in.Kind, Amount: in.Amount, Reason: in.Reason, Actor: actor, CreatedAt: now}
	b, err := ledger.Adjust(ctx, tx, now, accountID, adj.ID, in.Kind, in.Amount, in.Reason)
	if err != nil {
		return Adjustment{}, err
	}
	adj.Balances = b
	return adj, Record(ctx, tx, adj)
}

// Record stores adjustment a in tx, the transaction that posted its money:
// Adjust's, or usage's month-end reconciliation (which posts the
// difference with ledger.Reconcile). a.CreatedAt is that transaction's now.
func Record(ctx context.Context, tx pgx.Tx, a Adjustment) error {
	_, err := tx.Exec(ctx, `INSERT INTO adjustments (id, account_id, product, kind, amount, reason, actor, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, a.ID, a.AccountID, a.Product, a.Kind, a.Amount, a.Reason, a.Actor, a.CreatedAt)
	return err
}
