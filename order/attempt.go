package order

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/store"
)

// AttemptStatus is where a payment attempt is in its machine; package
// payment moves it.
type AttemptStatus string

// Attempt statuses.
const (
	AttemptPending   AttemptStatus = "pending"
	AttemptSucceeded AttemptStatus = "succeeded"
	AttemptFailed    AttemptStatus = "failed"
	AttemptCancelled AttemptStatus = "cancelled"
	AttemptExpired   AttemptStatus = "expired"
)

// AttemptStatuses lists every attempt status.
func AttemptStatuses() []AttemptStatus {
	return []AttemptStatus{AttemptPending, AttemptSucceeded, AttemptFailed, AttemptCancelled, AttemptExpired}
}

// Attempt is one try at paying an order with one method, as part of the
// order object (the API and the order.* events show an order with its
// payments). Package payment owns the payment_attempts table: it opens
// attempts at the gateways, moves them on, and reads them with its own
// queries; the type lives here, below both, because the order object
// carries it.
type Attempt struct {
	ID          string
	OrderID     string
	Method      string
	Provider    string
	Status      AttemptStatus
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

// loadAttempts reads an order's attempts for the order object, oldest first.
func loadAttempts(ctx context.Context, q store.Querier, orderID string) ([]Attempt, error) {
	o := &Order{ID: orderID}
	err := loadAttemptsOf(ctx, q, []*Order{o})
	return o.Payments, err
}

// loadAttemptsOf reads the attempts of every order in one query, each
// order's oldest first.
func loadAttemptsOf(ctx context.Context, q store.Querier, orders []*Order) error {
	byID := make(map[string]*Order, len(orders))
	ids := make([]string, len(orders))
	for i, o := range orders {
		byID[o.ID], ids[i] = o, o.ID
		o.Payments = []Attempt{}
	}
	rows, err := q.Query(ctx, attemptsOf, ids)
	if err != nil {
		return err
	}
	return scanAttempts(rows, byID)
}

const attemptsOf = `SELECT id, order_id, method, provider, status, amount, fee, refunded_amount, gateway_ref, details,
	failure_code, expires_at, created_at, updated_at FROM payment_attempts WHERE order_id = ANY($1) ORDER BY order_id, created_at, id`

// scanAttempts reads attemptsOf's rows into the orders of byID (their
// Payments set to empty lists first).
func scanAttempts(rows pgx.Rows, byID map[string]*Order) error {
	for _, o := range byID {
		o.Payments = []Attempt{}
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		err := r.Scan(&a.ID, &a.OrderID, &a.Method, &a.Provider, &a.Status, &a.Amount, &a.Fee, &a.Refunded, &a.GatewayRef, &a.Details,
			&a.FailureCode, &a.ExpiresAt, &a.CreatedAt, &a.UpdatedAt)
		return a, err
	})
	if err != nil {
		return err
	}
	for _, a := range as {
		o := byID[a.OrderID]
		o.Payments = append(o.Payments, a)
	}
	return nil
}
