package invoice

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// Attempt statuses.
const (
	AttemptPending   = "pending"
	AttemptSucceeded = "succeeded"
	AttemptFailed    = "failed"
	AttemptCancelled = "cancelled"
	AttemptExpired   = "expired"
)

// Attempt is one try at paying an order with one method. The order owns
// the record (it is part of the order object the API shows); the payment
// package opens attempts at gateways and moves them on.
type Attempt struct {
	ID          string
	OrderID     string
	Method      string
	Provider    string
	Status      string
	Amount      int64 // fee included; never rewritten once the attempt exists
	Fee         int64
	Refunded    int64 // what the gateway has taken back so far
	GatewayRef  *string
	Details     map[string]any
	FailureCode *string
	ExpiresAt   *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// AttemptColumns are the columns ScanAttempt reads, in order.
const AttemptColumns = `id, order_id, method, provider, status, amount, fee, refunded_amount, gateway_ref, details, failure_code, expires_at, created_at, updated_at`

// ScanAttempt reads one row of AttemptColumns.
func ScanAttempt(r pgx.Row) (Attempt, error) {
	var a Attempt
	err := r.Scan(&a.ID, &a.OrderID, &a.Method, &a.Provider, &a.Status, &a.Amount, &a.Fee, &a.Refunded, &a.GatewayRef, &a.Details,
		&a.FailureCode, &a.ExpiresAt, &a.CreatedAt, &a.UpdatedAt)
	return a, err
}

func loadAttempts(ctx context.Context, q store.Querier, orderID string) ([]Attempt, error) {
	rows, err := q.Query(ctx, `SELECT `+AttemptColumns+` FROM payment_attempts WHERE order_id = $1 ORDER BY created_at, id`, orderID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) { return ScanAttempt(r) })
}

// GetAttempt reads one attempt.
func GetAttempt(ctx context.Context, q store.Querier, id string) (Attempt, error) {
	a, err := ScanAttempt(q.QueryRow(ctx, `SELECT `+AttemptColumns+` FROM payment_attempts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, lunas.E(lunas.KindNotFound, "payment attempt %q not found", id)
	}
	return a, store.Unavailable(err)
}

// CloseAttempts ends every pending attempt of an order but keep (the paying
// one) with status, conditionally in SQL, and queues the void at the
// gateway of those a gateway carries. Called inside the transaction that
// pays, cancels or expires the order.
func CloseAttempts(ctx context.Context, tx pgx.Tx, orderID, keep, status string, now time.Time) error {
	rows, err := tx.Query(ctx, `
		UPDATE payment_attempts SET status = $3, updated_at = $4
		WHERE order_id = $1 AND id <> $2 AND status = 'pending' RETURNING id, provider`, orderID, keep, status, now)
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
