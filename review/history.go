package review

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/store"
)

// LatestProofs returns the newest proof of each order in orderIDs (file
// included), in one query: the review queue shows up to a hundred.
func (s *Service) LatestProofs(ctx context.Context, orderIDs []string) (map[string]*Proof, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (order_id) id, order_id, content_type, size, sha256, data, amount, transferred_at,
		sender_bank, sender_name, created_at FROM proofs WHERE order_id = ANY($1) ORDER BY order_id, created_at DESC, id DESC`, orderIDs)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	out := map[string]*Proof{}
	var p Proof
	_, err = pgx.ForEachRow(rows, []any{&p.ID, &p.OrderID, &p.ContentType, &p.Size, &p.SHA256, &p.Data, &p.Amount, &p.TransferredAt,
		&p.SenderBank, &p.SenderName, &p.CreatedAt}, func() error {
		q := p
		out[p.OrderID] = &q
		return nil
	})
	return out, store.Unavailable(err)
}

// Earlier is one of an account's earlier transfers as finance decided it:
// the review queue shows them beside a new proof, so a customer who sent
// the right amount ten times is read differently from one rejected twice.
type Earlier struct {
	OrderID       string
	InvoiceNumber string
	Amount        int64 // declared on the proof
	Decision      Decision
	Reason        string
	DecidedAt     time.Time
}

// EarlierTransfers returns, for each account in accountIDs, its last n
// decided transfers (newest first), leaving out the orders in exclude (the
// ones in review now). One query.
func (s *Service) EarlierTransfers(ctx context.Context, accountIDs, exclude []string, n int) (map[string][]Earlier, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT account_id, order_id, number, amount, decision, reason, decided_at FROM (
			SELECT o.account_id, r.order_id, coalesce(i.number, '') AS number, coalesce(p.amount, 0) AS amount, r.decision, r.reason, r.decided_at,
				row_number() OVER (PARTITION BY o.account_id ORDER BY r.decided_at DESC, r.id DESC) AS k
			FROM reviews r JOIN orders o ON o.id = r.order_id
			LEFT JOIN proofs p ON p.id = r.proof_id
			LEFT JOIN invoices i ON i.order_id = r.order_id
			WHERE o.account_id = ANY($1) AND NOT (r.order_id = ANY($2))) x
		WHERE k <= $3 ORDER BY account_id, decided_at DESC`, accountIDs, exclude, n)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	out := map[string][]Earlier{}
	var account string
	var e Earlier
	_, err = pgx.ForEachRow(rows, []any{&account, &e.OrderID, &e.InvoiceNumber, &e.Amount, &e.Decision, &e.Reason, &e.DecidedAt}, func() error {
		out[account] = append(out[account], e)
		return nil
	})
	return out, store.Unavailable(err)
}
