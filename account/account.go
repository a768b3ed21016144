// Package account keeps the customer accounts lunas bills: who they are
// (name, address, NPWP, the billing email of their alerts, the tax
// identity their tax invoices name, the WhatsApp price list and Meta
// phone-number ids that bill them — whatsapp.go) and the finance
// adjustments made to their balances. It owns the accounts,
// wa_phone_numbers and adjustments tables; the balances themselves are the
// ledger's (ledger.Open gives a new account its balances in the transaction
// that creates it).
//
// api and console call the Service (PUT/GET /v1/accounts/{id}, the ledger
// page, adjustments); usage records a month-end reconciliation's
// adjustment with Record; proforma and mail read an account with Get.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tax"
)

const (
	maxNameLength  = 200
	maxEmailLength = 254
	// maxAmount keeps every amount far inside int64.
	maxAmount = 1_000_000_000_000
)

// Service manages accounts.
type Service struct {
	pool  *store.DB
	clock clock.Clock
	log   *slog.Logger
}

// New returns a Service.
func New(pool *store.DB, c clock.Clock, log *slog.Logger) *Service {
	return &Service{pool: pool, clock: c, log: log}
}

// Account with its balances.
type Account struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Address   string          `json:"address"`
	NPWP      string          `json:"npwp"`
	Balances  ledger.Balances `json:"balances"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`

	// BillingEmail receives the low-balance alerts (nil: the requester of
	// the latest paid order does).
	BillingEmail *string `json:"billing_email"`

	WAPriceList            string   `json:"wa_price_list"`
	WhatsAppPhoneNumberIDs []string `json:"whatsapp_phone_number_ids"`
	// Tax is the buyer's tax identity (nil: none given): the tax invoices
	// name it, and its withholds_pph23 decides an order's withholding at
	// confirm.
	Tax *tax.Identity `json:"tax"`
}

// Input is the body of PUT /v1/accounts/{id}.
type Input struct {
	Name    string  `json:"name"`
	Address *string `json:"address"`
	NPWP    *string `json:"npwp"`

	// BillingEmail: absent keeps it, "" removes it.
	BillingEmail *string `json:"billing_email"`

	// WAPriceList names the price list of rate cards that prices the
	// account's WhatsApp messages: absent keeps it, "" is "default".
	WAPriceList *string `json:"wa_price_list"`
	// WhatsAppPhoneNumberIDs, when given, replaces the Meta phone-number
	// ids whose status webhooks bill this account.
	WhatsAppPhoneNumberIDs *[]string `json:"whatsapp_phone_number_ids"`
	// Tax: absent (or null) keeps it; otherwise it is validated field by
	// field ("tax.id", "tax.nitku"…) and stored normalised.
	Tax *tax.Identity `json:"tax"`
}

// Put creates or updates an account; created reports which. A new account
// gets its balances (ledger.Open) in the same transaction.
func (s *Service) Put(ctx context.Context, id string, in Input) (Account, bool, error) {
	var ve lunas.ValidationError
	if !ValidID(id) {
		ve.Add("account_id", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
	}
	if strings.TrimSpace(in.Name) == "" {
		ve.Add("name", "is required")
	} else if len(in.Name) > maxNameLength {
		ve.Add("name", "must be at most %d characters", maxNameLength)
	}
	if in.NPWP != nil && len(*in.NPWP) > 32 {
		ve.Add("npwp", "must be at most 32 characters")
	}
	if in.Address != nil && len(*in.Address) > 500 {
		ve.Add("address", "must be at most 500 characters")
	}
	if in.BillingEmail != nil && *in.BillingEmail != "" {
		if msg := CheckEmail(*in.BillingEmail); msg != "" {
			ve.Add("billing_email", "%s", msg)
		}
	}
	validWA(in, &ve)
	var taxID *tax.Identity
	if in.Tax != nil {
		in.Tax.Check(&ve, "tax")
		n := in.Tax.Normalize()
		taxID = &n
	}
	if err := ve.Err(); err != nil {
		return Account{}, false, err
	}
	now := s.clock.Now()
	var created bool
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `
			INSERT INTO accounts (id, name, address, npwp, billing_email, created_at, updated_at, tax)
			VALUES ($1, $2, coalesce($3, ''), coalesce($4, ''), nullif($6, ''), $5, $5, $7)
			ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
				address = coalesce($3, accounts.address), npwp = coalesce($4, accounts.npwp),
				billing_email = CASE WHEN $6::text IS NULL THEN accounts.billing_email ELSE nullif($6, '') END, updated_at = $5,
				tax = coalesce($7, accounts.tax)
			RETURNING (xmax = 0)`, id, in.Name, in.Address, in.NPWP, now, in.BillingEmail, taxID).Scan(&created); err != nil {
			return err
		}
		if err := putWA(ctx, tx, id, in, now); err != nil {
			return err
		}
		if !created {
			return nil
		}
		return ledger.Open(ctx, tx, id, now)
	})
	if err != nil {
		return Account{}, false, unavailable(err)
	}
	a, err := Get(ctx, s.pool, id)
	return a, created, err
}

// Get returns an account with its balances (GET /v1/accounts/{id}).
func (s *Service) Get(ctx context.Context, id string) (Account, error) { return Get(ctx, s.pool, id) }

// Get reads an account with its balances in q; proforma and mail read the
// account an order bills with it.
func Get(ctx context.Context, q store.Querier, id string) (Account, error) {
	var a Account
	// The balances are the ledger's; an account was last updated when its
	// identity or its balances last changed.
	// One statement with the WhatsApp settings (ReadWhatsApp's): every
	// mail and every proforma reads the account.
	err := q.QueryRow(ctx, `
		SELECT a.id, a.name, a.address, a.npwp, a.billing_email, b.wa_balance, b.muv, b.outstanding, a.created_at, greatest(a.updated_at, b.updated_at), a.tax,
			a.wa_price_list, coalesce((SELECT array_agg(p.phone_number_id ORDER BY p.phone_number_id) FROM wa_phone_numbers p WHERE p.account_id = a.id), '{}')
		FROM accounts a JOIN balances b ON b.account_id = a.id WHERE a.id = $1`, id).
		Scan(&a.ID, &a.Name, &a.Address, &a.NPWP, &a.BillingEmail, &a.Balances.WABalance, &a.Balances.MUV, &a.Balances.Outstanding, &a.CreatedAt, &a.UpdatedAt, &a.Tax,
			&a.WAPriceList, &a.WhatsAppPhoneNumberIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, lunas.E(lunas.KindNotFound, "account %q not found", id)
	}
	if err != nil {
		return a, store.Unavailable(err)
	}
	return a, nil
}

// unavailable marks a database failure as an outage but lets domain errors
// (a phone-number id of another account) through as they are.
func unavailable(err error) error {
	var le *lunas.Error
	if err == nil || errors.As(err, &le) {
		return err
	}
	return store.Unavailable(err)
}

// TaxIdentity reads account id's tax identity in q (nil: none given);
// invoice reads it at confirm, the e-Faktur export for each paid order.
func TaxIdentity(ctx context.Context, q store.Querier, id string) (*tax.Identity, error) {
	var t *tax.Identity
	err := q.QueryRow(ctx, `SELECT tax FROM accounts WHERE id = $1`, id).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lunas.E(lunas.KindNotFound, "account %q not found", id)
	}
	return t, store.Unavailable(err)
}

// Exists reports whether account id exists.
func Exists(ctx context.Context, q store.Querier, id string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, id).Scan(&ok)
	return ok, store.Unavailable(err)
}

// Ledger lists an account's postings, newest first.
func (s *Service) Ledger(ctx context.Context, accountID string, before int64, limit int) ([]ledger.Posting, error) {
	if _, err := s.Get(ctx, accountID); err != nil {
		return nil, err
	}
	return ledger.List(ctx, s.pool, accountID, before, limit)
}

// CheckEmail says what is wrong with an email address ("" when nothing):
// the rule every recipient lunas mails follows (billing emails, order
// requesters, subscription customers).
func CheckEmail(e string) string {
	if e == "" {
		return "is required"
	}
	if len(e) > maxEmailLength {
		return fmt.Sprintf("must be at most %d characters", maxEmailLength)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "is not a valid email address (want name@example.com)"
	}
	return ""
}

// ValidID reports whether id is 1-64 letters, digits, '-', '_' or '.': the
// rule for ids callers choose (accounts, plans).
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
