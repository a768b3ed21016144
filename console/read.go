package console

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
)

// Read-only views the domain packages have no call for. Nothing here
// writes: every change goes through the services (see the package doc).

// tiles are the overview's counts.
type tiles struct {
	PaidToday      int64
	PaidTodaySum   int64
	Awaiting       int64
	InReview       int64
	Flagged        int64
	LowBalances    int64
	DayStart       time.Time
	OldestInReview *time.Time
}

func (s *Server) readTiles(ctx context.Context, now time.Time) (tiles, error) {
	local := now.In(s.Location)
	t := tiles{DayStart: time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, s.Location)}
	err := s.Pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM orders WHERE paid_at >= $1 AND status = ANY($2)),
			(SELECT coalesce(sum(total), 0) FROM orders WHERE paid_at >= $1 AND status = ANY($2)),
			(SELECT count(*) FROM orders WHERE status = $3),
			(SELECT count(*) FROM orders WHERE status = $4),
			(SELECT count(*) FROM gateway_events WHERE flag IS NOT NULL AND resolved_at IS NULL),
			(SELECT count(*) FROM balances WHERE wa_alerted_at IS NOT NULL OR muv_alerted_at IS NOT NULL OR outstanding > 0),
			(SELECT min(review_since) FROM orders WHERE status = $4)`, t.DayStart, order.PaidStatuses(), order.StatusAwaitingPayment, order.StatusInReview).
		Scan(&t.PaidToday, &t.PaidTodaySum, &t.Awaiting, &t.InReview, &t.Flagged, &t.LowBalances, &t.OldestInReview)
	return t, store.Unavailable(err)
}

// paidRow is an order paid today.
type paidRow struct {
	ID, AccountID string
	Invoice       *string
	Total         int64
	PaidAt        time.Time
}

func (s *Server) readPaidSince(ctx context.Context, since time.Time, limit int) ([]paidRow, error) {
	rows, err := s.Pool.Query(ctx, `SELECT o.id, o.account_id, i.number, o.total, o.paid_at FROM orders o
		LEFT JOIN invoices i ON i.order_id = o.id
		WHERE o.paid_at >= $1 AND o.status = ANY($3) ORDER BY o.paid_at DESC LIMIT $2`, since, limit, order.PaidStatuses())
	if err != nil {
		return nil, store.Unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (paidRow, error) {
		var p paidRow
		return p, r.Scan(&p.ID, &p.AccountID, &p.Invoice, &p.Total, &p.PaidAt)
	})
	return out, store.Unavailable(err)
}

// accountRow is an account in a list.
type accountRow struct {
	ID, Name                    string
	WABalance, MUV, Outstanding int64
	WAAlerted, MUVAlerted       *time.Time
}

// readAccounts lists accounts: with low, only those with an alerted
// balance or something outstanding; q matches the id or name.
func (s *Server) readAccounts(ctx context.Context, q string, low bool, limit int) ([]accountRow, error) {
	rows, err := s.Pool.Query(ctx, `SELECT a.id, a.name, b.wa_balance, b.muv, b.outstanding, b.wa_alerted_at, b.muv_alerted_at
		FROM accounts a JOIN balances b ON b.account_id = a.id
		WHERE ($1 = '' OR a.id ILIKE '%' || $1 || '%' OR a.name ILIKE '%' || $1 || '%')
		  AND (NOT $2 OR b.wa_alerted_at IS NOT NULL OR b.muv_alerted_at IS NOT NULL OR b.outstanding > 0)
		ORDER BY b.outstanding DESC, a.id LIMIT $3`, q, low, limit)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (accountRow, error) {
		var a accountRow
		return a, r.Scan(&a.ID, &a.Name, &a.WABalance, &a.MUV, &a.Outstanding, &a.WAAlerted, &a.MUVAlerted)
	})
	return out, store.Unavailable(err)
}

// mailRow is a mail to an order's requester.
type mailRow struct {
	ID, Kind, To, Locale string
	Status               mail.Status
	Reason, LastError    *string
	Attempts             int
	CreatedAt            time.Time
	SentAt               *time.Time
}

func (s *Server) readMails(ctx context.Context, orderID string) ([]mailRow, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, kind, to_addr, locale, status, reason, last_error, attempts, created_at, sent_at
		FROM mails WHERE order_id = $1 ORDER BY created_at, id`, orderID)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mailRow, error) {
		var m mailRow
		return m, r.Scan(&m.ID, &m.Kind, &m.To, &m.Locale, &m.Status, &m.Reason, &m.LastError, &m.Attempts, &m.CreatedAt, &m.SentAt)
	})
	return out, store.Unavailable(err)
}

// decisionRow is a review decision on an order.
type decisionRow struct {
	Decision, Reason, Actor string
	DecidedAt               time.Time
}

func (s *Server) readDecisions(ctx context.Context, orderID string) ([]decisionRow, error) {
	rows, err := s.Pool.Query(ctx, `SELECT decision, coalesce(reason, ''), actor, decided_at FROM reviews WHERE order_id = $1 ORDER BY decided_at, id`, orderID)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (decisionRow, error) {
		var d decisionRow
		return d, r.Scan(&d.Decision, &d.Reason, &d.Actor, &d.DecidedAt)
	})
	return out, store.Unavailable(err)
}

// challengeRow is a card payment held by the gateway's fraud detection
// (Midtrans capture with fraud_status challenge): nothing is credited
// until the gateway accepts or denies it, so finance should know.
type challengeRow struct {
	AttemptID, OrderID, AccountID, Method string
	Amount                                int64
	UpdatedAt                             time.Time
}

func (s *Server) readChallenges(ctx context.Context, limit int) ([]challengeRow, error) {
	rows, err := s.Pool.Query(ctx, `SELECT p.id, p.order_id, o.account_id, p.method, p.amount, p.updated_at
		FROM payment_attempts p JOIN orders o ON o.id = p.order_id
		WHERE p.status = $2 AND p.details->>'fraud_status' = 'challenge' ORDER BY p.updated_at DESC LIMIT $1`, limit, order.AttemptPending)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (challengeRow, error) {
		var c challengeRow
		return c, r.Scan(&c.AttemptID, &c.OrderID, &c.AccountID, &c.Method, &c.Amount, &c.UpdatedAt)
	})
	return out, store.Unavailable(err)
}
