package payment

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
)

// OpenPayment is the pay page's way to pay: it returns the order's newest
// still-open attempt of the chosen method — pending, not past its expiry,
// at the order's current price, for OVO to the same phone — instead of
// opening another (a payer who taps "QRIS" twice scans one code), and
// otherwise opens one exactly as CreatePayment does. A card is always a
// new attempt: each token is used once.
func (s *Service) OpenPayment(ctx context.Context, orderID string, in PaymentInput) (a *order.Attempt, reused bool, err error) {
	if in.Method != gateway.MethodCreditCard && gateway.ProviderFor(in.Method) != "" {
		now := s.clock.Now()
		got, err := scanAttempt(s.pool.QueryRow(ctx, `SELECT `+prefixed(attemptColumns)+` FROM payment_attempts p JOIN orders o ON o.id = p.order_id
			WHERE p.order_id = $1 AND p.method = $2 AND p.status = $3 AND p.amount = o.total AND (p.expires_at IS NULL OR p.expires_at > $4)
			  AND (p.provider = $5 OR p.gateway_ref IS NOT NULL)
			ORDER BY p.created_at DESC LIMIT 1`, orderID, in.Method, order.AttemptPending, now, gateway.ProviderManual))
		switch {
		case err == nil:
			phone, _ := NormalizePhone(in.Phone)
			if in.Method != gateway.MethodOVO || got.Details["phone"] == phone {
				return &got, true, nil
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, false, store.Unavailable(err)
		}
	}
	a, err = s.CreatePayment(ctx, orderID, in)
	return a, false, err
}

// Methods lists the payment methods this server can open, in the order a
// pay page offers them: those whose gateway is configured, and manual
// transfer.
func (s *Service) Methods() []string {
	var out []string
	for _, m := range []string{gateway.MethodQRIS, gateway.MethodGoPay, gateway.MethodShopeePay, gateway.MethodBCAVA, gateway.MethodBNIVA,
		gateway.MethodBRIVA, gateway.MethodCIMBVA, gateway.MethodPermataVA, gateway.MethodMandiriBill, gateway.MethodOVO,
		gateway.MethodCreditCard, gateway.MethodManualTransfer} {
		if p := gateway.ProviderFor(m); p == gateway.ProviderManual || s.gateways[p] != nil {
			out = append(out, m)
		}
	}
	return out
}

// Attempt reads one attempt.
func (s *Service) Attempt(ctx context.Context, id string) (order.Attempt, error) {
	return GetAttempt(ctx, s.pool, id)
}

// Now is the service clock's now (the pay page compares deadlines with it).
func (s *Service) Now() time.Time { return s.clock.Now() }

// Bank is where manual transfers go.
func (s *Service) Bank() BankAccount { return s.bank }
