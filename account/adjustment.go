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
	if err := ve.Err(); err != nil {
		return Adjustment{}, err
	}
	now := s.clock.Now()
	adj := Adjustment{ID: store.NewID("adj"), AccountID: accountID, Product: in.Product, Kind: in.Kind, Amount: in.Amount, Reason: in.Reason, Actor: actor, CreatedAt: now}
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		b, err := ledger.Adjust(ctx, tx, now, accountID, adj.ID, in.Kind, in.Amount, in.Reason)
		if err != nil {
			return err
		}
		adj.Balances = b
		return Record(ctx, tx, adj)
	})
	return adj, err
}

// Record stores adjustment a in tx, the transaction that posted its money:
// Adjust's, or usage's month-end reconciliation (which posts the
// difference with ledger.Reconcile). a.CreatedAt is that transaction's now.
func Record(ctx context.Context, tx pgx.Tx, a Adjustment) error {
	_, err := tx.Exec(ctx, `INSERT INTO adjustments (id, account_id, product, kind, amount, reason, actor, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, a.ID, a.AccountID, a.Product, a.Kind, a.Amount, a.Reason, a.Actor, a.CreatedAt)
	return err
}
