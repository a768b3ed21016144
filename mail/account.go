package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	gomail "github.com/wneessen/go-mail"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/templates"
)

// KindLowBalance is the low-balance alert: an account mail, not an order
// mail, sent to the account's billing_email or, when it has none, to the
// requester of its latest paid order (API.md "Low-balance alerts").
const KindLowBalance = "low_balance"

// LowBalance is what an alert mail says; it is kept on the mail row, so a
// retry renders the numbers of the crossing, not of a later balance.
type LowBalance struct {
	AccountID string `json:"account_id"`
	Balance   string `json:"balance"`   // wa_balance or muv
	Remaining int64  `json:"remaining"` // the balance right after the debit that crossed
	Threshold int64  `json:"threshold"`
	Reference int64  `json:"reference"` // the balance right after the last top-up
}

// QueueLowBalance records a low-balance alert mail inside tx (the debit's
// transaction, which holds the account's row lock) and queues its sending
// through the outbox, so the mail exists exactly when the crossing commits.
// It returns the recipient, or "" when the account has no billing_email
// and no paid order (nobody to tell; nothing is queued).
func QueueLowBalance(ctx context.Context, tx pgx.Tx, a LowBalance, now time.Time) (string, error) {
	var to, locale string
	err := tx.QueryRow(ctx, `
		SELECT coalesce(a.billing_email,
		                (SELECT requester_email FROM orders WHERE account_id = a.id AND status = $2
		                 ORDER BY paid_at DESC NULLS LAST, created_at DESC LIMIT 1), ''),
		       coalesce((SELECT locale FROM orders WHERE account_id = a.id ORDER BY created_at DESC, id DESC LIMIT 1), 'id')
		FROM accounts a WHERE a.id = $1`, a.AccountID, order.StatusPaid).Scan(&to, &locale)
	if err != nil {
		return "", fmt.Errorf("mail: alert recipient of %s: %w", a.AccountID, err)
	}
	if to == "" {
		return "", nil
	}
	data, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	id := store.NewID("mail_" + KindLowBalance)
	msgID := fmt.Sprintf("<%s.%d@lunas.billing>", id, now.Unix())
	if _, err := tx.Exec(ctx, `
		INSERT INTO mails (id, account_id, kind, to_addr, locale, status, message_id, data, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`, id, a.AccountID, KindLowBalance, to, locale, StatusQueued, msgID, data, now); err != nil {
		return "", fmt.Errorf("mail: queue alert for %s: %w", a.AccountID, err)
	}
	return to, outbox.Enqueue(ctx, tx, task.Mail(id))
}

// buildAccountMail renders an account mail (the low-balance alert) from the
// numbers recorded on its row.
func (s *Service) buildAccountMail(ctx context.Context, r row) (*gomail.Msg, error) {
	var raw []byte
	if err := s.pool.QueryRow(ctx, `SELECT data FROM mails WHERE id = $1`, r.id).Scan(&raw); err != nil {
		return nil, store.Unavailable(err)
	}
	var a LowBalance
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("%w: alert data of %s: %v", ErrPermanent, r.id, err)
	}
	acct, err := account.Get(ctx, s.pool, a.AccountID)
	if err != nil {
		return nil, err
	}
	d := templates.Data{SellerName: "lunas", RequesterName: acct.Name, AccountName: acct.Name}
	if n, err := gomailAddrName(s.from); err == nil && n != "" {
		d.SellerName = n
	}
	d.BalanceName = proforma.ProductName(a.Balance, r.locale)
	format := proforma.Rupiah
	if a.Balance != order.ProductWABalance {
		format = proforma.Number
	}
	d.Remaining, d.Threshold, d.Reference = format(a.Remaining), format(a.Threshold), format(a.Reference)
	// The one recipient recorded when the alert was queued.
	return s.message(r, d)
}
