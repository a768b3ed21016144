package invoice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/ledger"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/webhook"
)

// Order statuses.
const (
	StatusDraft           = "draft"
	StatusAwaitingPayment = "awaiting_payment"
	StatusInReview        = "in_review"
	StatusPaid            = "paid"
	StatusExpired         = "expired"
	StatusCancelled       = "cancelled"
	StatusRejected        = "rejected"
	StatusClosed          = "closed"
	StatusRefunded        = "refunded" // the gateway took all of the payment back
)

// Lifetimes from DESIGN.md.
const (
	DraftLifetime  = 120 * time.Hour
	maxNameLength  = 200
	maxEmailLength = 254
)

// BankAccount is where manual transfers go.
type BankAccount struct {
	Bank   string `json:"bank"`
	Number string `json:"number"`
	Holder string `json:"holder"`
}

// OpenAttempts ends an order's open gateway attempts at their gateways
// before its price changes; payment.Service provides it. It returns a
// conflict when one cannot be ended (the customer may be paying it).
type OpenAttempts interface {
	EndOpenAttempts(ctx context.Context, orderID string) error
}

// Service runs the order machine.
type Service struct {
	pool    *pgxpool.Pool
	clock   clock.Clock
	catalog Catalog
	loc     *time.Location
	log     *slog.Logger
	// Attempts is set by cmd/lunas once the payment service exists (it
	// depends on this one); nil means no gateway attempt can be open.
	Attempts OpenAttempts
}

// Options configures a Service.
type Options struct {
	Pool     *pgxpool.Pool
	Clock    clock.Clock
	Catalog  Catalog
	Location *time.Location
	Logger   *slog.Logger
}

// New returns a Service.
func New(o Options) *Service {
	return &Service{pool: o.Pool, clock: o.Clock, catalog: o.Catalog, loc: o.Location, log: o.Logger}
}

// Clock is the service clock (payment and review take now from it too).
func (s *Service) Clock() clock.Clock { return s.clock }

// Location is the business time zone.
func (s *Service) Location() *time.Location { return s.loc }

// Catalog returns the pricing rules in force.
func (s *Service) Catalog() Catalog { return s.catalog }

// ---------------------------------------------------------------- accounts

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
}

// AccountInput is the body of PUT /v1/accounts/{id}.
type AccountInput struct {
	Name    string  `json:"name"`
	Address *string `json:"address"`
	NPWP    *string `json:"npwp"`

	// BillingEmail: absent keeps it, "" removes it.
	BillingEmail *string `json:"billing_email"`
}

// PutAccount creates or updates an account; created reports which.
func (s *Service) PutAccount(ctx context.Context, id string, in AccountInput) (Account, bool, error) {
	var ve lunas.ValidationError
	if !validID(id) {
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
		if msg := checkEmail(*in.BillingEmail); msg != "" {
			ve.Add("billing_email", "%s", msg)
		}
	}
	if err := ve.Err(); err != nil {
		return Account{}, false, err
	}
	now := s.clock.Now()
	var created bool
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `
			INSERT INTO accounts (id, name, address, npwp, billing_email, created_at, updated_at)
			VALUES ($1, $2, coalesce($3, ''), coalesce($4, ''), nullif($6, ''), $5, $5)
			ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,
				address = coalesce($3, accounts.address), npwp = coalesce($4, accounts.npwp),
				billing_email = CASE WHEN $6::text IS NULL THEN accounts.billing_email ELSE nullif($6, '') END, updated_at = $5
			RETURNING (xmax = 0)`, id, in.Name, in.Address, in.NPWP, now, in.BillingEmail).Scan(&created); err != nil {
			return err
		}
		if !created {
			return nil
		}
		return ledger.Open(ctx, tx, id, now)
	})
	if err != nil {
		return Account{}, false, store.Unavailable(err)
	}
	a, err := s.GetAccount(ctx, id)
	return a, created, err
}

// GetAccount returns an account with its balances.
func (s *Service) GetAccount(ctx context.Context, id string) (Account, error) {
	var a Account
	// The balances are the ledger's; an account was last updated when its
	// identity or its balances last changed.
	err := s.pool.QueryRow(ctx, `
		SELECT a.id, a.name, a.address, a.npwp, a.billing_email, b.wa_balance, b.muv, b.outstanding, a.created_at, greatest(a.updated_at, b.updated_at)
		FROM accounts a JOIN balances b ON b.account_id = a.id WHERE a.id = $1`, id).
		Scan(&a.ID, &a.Name, &a.Address, &a.NPWP, &a.BillingEmail, &a.Balances.WABalance, &a.Balances.MUV, &a.Balances.Outstanding, &a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, lunas.E(lunas.KindNotFound, "account %q not found", id)
	}
	return a, store.Unavailable(err)
}

// Ledger lists an account's postings, newest first.
func (s *Service) Ledger(ctx context.Context, accountID string, before int64, limit int) ([]ledger.Posting, error) {
	if _, err := s.GetAccount(ctx, accountID); err != nil {
		return nil, err
	}
	return ledger.List(ctx, s.pool, accountID, before, limit)
}

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

// Adjust applies a finance adjustment (charge or refund) to an account.
func (s *Service) Adjust(ctx context.Context, accountID, actor string, in AdjustmentInput) (Adjustment, error) {
	var ve lunas.ValidationError
	if in.Product != ProductWABalance {
		ve.Add("product", "must be wa_balance")
	}
	if in.Kind != ledger.AdjustCharge && in.Kind != ledger.AdjustRefund {
		ve.Add("kind", "must be charge or refund")
	}
	if in.Amount <= 0 || in.Amount > maxQuantity {
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
		_, err = tx.Exec(ctx, `INSERT INTO adjustments (id, account_id, product, kind, amount, reason, actor, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, adj.ID, accountID, in.Product, in.Kind, in.Amount, in.Reason, actor, now)
		return err
	})
	return adj, err
}

// ------------------------------------------------------------------ orders

// Requester is the person who asked for the top-up: the only recipient of
// its mail.
type Requester struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Order is a sales order with its invoice and payment attempts.
type Order struct {
	ID            string
	AccountID     string
	Status        string
	Requester     Requester
	Locale        string
	Currency      string
	Items         []Item
	Subtotal      int64
	VAT           int64
	Total         int64
	InvoiceNumber *string
	IssuedAt      *time.Time
	ExpiresAt     *time.Time
	PaidAt        *time.Time
	PaidAttemptID *string
	// RefundedAmount is what the gateway took back of the paying attempt.
	RefundedAmount int64
	StatusReason   *string
	ReviewSince    *time.Time
	// A subscription invoice names its subscription, its period (YYYY-MM)
	// and its due date (YYYY-MM-DD); nil for every other order.
	SubscriptionID *string
	Period         *string
	DueDate        *string
	Payments       []Attempt
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Paid reports whether the order was paid: paid, or refunded since (its
// PAID proforma and confirmation still stand).
func (o *Order) Paid() bool { return o.Status == StatusPaid || o.Status == StatusRefunded }

// CreateInput is the body of POST /v1/orders.
type CreateInput struct {
	AccountID string        `json:"account_id"`
	Requester Requester     `json:"requester"`
	Items     []ItemRequest `json:"items"`
	Locale    *string       `json:"locale"`
}

// CreateOrder prices and stores a draft order.
func (s *Service) CreateOrder(ctx context.Context, in CreateInput) (*Order, error) {
	var ve lunas.ValidationError
	if strings.TrimSpace(in.AccountID) == "" {
		ve.Add("account_id", "is required")
	}
	if strings.TrimSpace(in.Requester.Name) == "" {
		ve.Add("requester.name", "is required")
	} else if len(in.Requester.Name) > maxNameLength || strings.ContainsAny(in.Requester.Name, "\r\n") {
		ve.Add("requester.name", "must be one line of at most %d characters", maxNameLength)
	}
	if msg := checkEmail(in.Requester.Email); msg != "" {
		ve.Add("requester.email", "%s", msg)
	}
	locale := "id"
	if in.Locale != nil {
		locale = *in.Locale
		if locale != "id" && locale != "en" {
			ve.Add("locale", "must be id or en")
		}
	}
	items, tot, err := s.catalog.Price(in.Items)
	var pve *lunas.ValidationError
	if errors.As(err, &pve) {
		ve.Fields = append(ve.Fields, pve.Fields...)
	} else if err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.AccountID) != "" {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, in.AccountID).Scan(&exists); err != nil {
			return nil, store.Unavailable(err)
		}
		if !exists {
			if len(ve.Fields) == 0 {
				return nil, lunas.E(lunas.KindNotFound, "account %q not found (create it with PUT /v1/accounts/%s)", in.AccountID, in.AccountID)
			}
			ve.Add("account_id", "unknown account %q", in.AccountID)
		}
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	id := store.NewID("ord")
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO orders (id, account_id, status, requester_name, requester_email, locale, subtotal, vat, total, created_at, updated_at)
			VALUES ($1,$2,'draft',$3,$4,$5,$6,$7,$8,$9,$9)`,
			id, in.AccountID, in.Requester.Name, in.Requester.Email, locale, tot.Subtotal, tot.VAT, tot.Total, now)
		if err != nil {
			return err
		}
		return insertItems(ctx, tx, id, items)
	})
	if err != nil {
		return nil, err
	}
	return s.GetOrder(ctx, id)
}

func insertItems(ctx context.Context, tx pgx.Tx, orderID string, items []Item) error {
	if _, err := tx.Exec(ctx, `DELETE FROM order_items WHERE order_id = $1`, orderID); err != nil {
		return err
	}
	for i, it := range items {
		_, err := tx.Exec(ctx, `
			INSERT INTO order_items (order_id, line, product, unit, requested_quantity, quantity, amount, adjustment, plan_id, period, description)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,nullif($11, ''))`, orderID, i, it.Product, it.Unit, it.RequestedQuantity, it.Quantity, it.Amount, it.Adjustment,
			it.PlanID, it.Period, it.Description)
		if err != nil {
			return err
		}
	}
	return nil
}

func checkEmail(e string) string {
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

func validID(id string) bool {
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

const orderColumns = `o.id, o.account_id, o.status, o.requester_name, o.requester_email, o.locale, o.currency,
	o.subtotal, o.vat, o.total, i.number, i.issued_at, i.expires_at, o.paid_at, o.paid_attempt_id, o.refunded_amount,
	o.status_reason, o.review_since, o.created_at, o.updated_at, o.subscription_id, o.period, to_char(o.due_date, 'YYYY-MM-DD')`

func scanOrder(row pgx.Row) (*Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.AccountID, &o.Status, &o.Requester.Name, &o.Requester.Email, &o.Locale, &o.Currency,
		&o.Subtotal, &o.VAT, &o.Total, &o.InvoiceNumber, &o.IssuedAt, &o.ExpiresAt, &o.PaidAt, &o.PaidAttemptID, &o.RefundedAmount,
		&o.StatusReason, &o.ReviewSince, &o.CreatedAt, &o.UpdatedAt, &o.SubscriptionID, &o.Period, &o.DueDate)
	return &o, err
}

// Lock reads an order inside tx holding its row lock: the lock that
// serialises every state change of that order (payment and review take it
// too).
func Lock(ctx context.Context, tx pgx.Tx, id string) (*Order, error) {
	return loadOrder(ctx, tx, id, true)
}

// LoadItems reads an order's items.
func LoadItems(ctx context.Context, q store.Querier, o *Order) error { return loadItems(ctx, q, o) }

// loadOrder reads an order; with lock it takes the row lock that serialises
// every state change of that order.
func loadOrder(ctx context.Context, q store.Querier, id string, lock bool) (*Order, error) {
	sql := `SELECT ` + orderColumns + ` FROM orders o LEFT JOIN invoices i ON i.order_id = o.id WHERE o.id = $1`
	if lock {
		sql += ` FOR UPDATE OF o`
	}
	o, err := scanOrder(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lunas.E(lunas.KindNotFound, "order %q not found", id)
	}
	if err != nil {
		return nil, store.Unavailable(err)
	}
	return o, nil
}

func loadItems(ctx context.Context, q store.Querier, o *Order) error {
	rows, err := q.Query(ctx, `SELECT product, unit, requested_quantity, quantity, amount, adjustment, plan_id, period, coalesce(description, '')
		FROM order_items WHERE order_id = $1 ORDER BY line`, o.ID)
	if err != nil {
		return err
	}
	o.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
		var it Item
		err := r.Scan(&it.Product, &it.Unit, &it.RequestedQuantity, &it.Quantity, &it.Amount, &it.Adjustment, &it.PlanID, &it.Period, &it.Description)
		return it, err
	})
	return err
}

// GetOrder returns an order with its items and payment attempts.
func (s *Service) GetOrder(ctx context.Context, id string) (*Order, error) {
	return getOrder(ctx, s.pool, id)
}

func getOrder(ctx context.Context, q store.Querier, id string) (*Order, error) {
	o, err := loadOrder(ctx, q, id, false)
	if err != nil {
		return nil, err
	}
	if err := loadItems(ctx, q, o); err != nil {
		return nil, store.Unavailable(err)
	}
	if o.Payments, err = loadAttempts(ctx, q, o.ID); err != nil {
		return nil, store.Unavailable(err)
	}
	return o, nil
}

// ListFilter selects orders for finance.
type ListFilter struct {
	Status    string
	AccountID string
	Limit     int
	Cursor    *Cursor
}

// Cursor is a position in the newest-first order list.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// ListOrders lists orders newest first; next is the cursor of the next page.
func (s *Service) ListOrders(ctx context.Context, f ListFilter) ([]*Order, *Cursor, error) {
	args := []any{f.Status, f.AccountID, f.Limit + 1}
	where := `($1 = '' OR o.status = $1) AND ($2 = '' OR o.account_id = $2)`
	if f.Cursor != nil {
		where += ` AND (o.created_at, o.id) < ($4, $5)`
		args = append(args, f.Cursor.CreatedAt, f.Cursor.ID)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+orderColumns+` FROM orders o LEFT JOIN invoices i ON i.order_id = o.id
		WHERE `+where+` ORDER BY o.created_at DESC, o.id DESC LIMIT $3`, args...)
	if err != nil {
		return nil, nil, store.Unavailable(err)
	}
	orders, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Order, error) { return scanOrder(r) })
	if err != nil {
		return nil, nil, store.Unavailable(err)
	}
	var next *Cursor
	if len(orders) > f.Limit {
		orders = orders[:f.Limit]
		last := orders[len(orders)-1]
		next = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	for _, o := range orders {
		if err := loadItems(ctx, s.pool, o); err != nil {
			return nil, nil, store.Unavailable(err)
		}
		if o.Payments, err = loadAttempts(ctx, s.pool, o.ID); err != nil {
			return nil, nil, store.Unavailable(err)
		}
	}
	return orders, next, nil
}

// conflict is the 409 for an illegal transition, naming the current status.
func conflict(action string, o *Order) error {
	return lunas.E(lunas.KindConflict, "cannot %s: order %s is %s", action, o.ID, o.Status)
}

// PatchOrder re-prices an order's items. Allowed in draft, and in rejected,
// where the corrected order goes back to in_review. A price never changes
// under an open payment: every open gateway attempt is ended at its gateway
// first (409 when one cannot be), and the UNPAID proforma of the old price
// is replaced.
func (s *Service) PatchOrder(ctx context.Context, id string, reqs []ItemRequest) (*Order, error) {
	items, tot, err := s.catalog.Price(reqs)
	if err != nil {
		return nil, err
	}
	o, err := s.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.Status == StatusRejected && s.Attempts != nil {
		if err := s.Attempts.EndOpenAttempts(ctx, id); err != nil {
			return nil, err
		}
	}
	err = s.InOrderTx(ctx, id, func(tx pgx.Tx, o *Order, now time.Time) error {
		switch o.Status {
		case StatusDraft:
		case StatusRejected:
			// An attempt opened at a gateway between the check above and
			// this lock would be paid at the old price: refuse.
			var open int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM payment_attempts WHERE order_id = $1 AND status = 'pending' AND provider <> 'manual'`, id).Scan(&open); err != nil {
				return err
			}
			if open > 0 {
				return lunas.E(lunas.KindConflict, "cannot change items: order %s has an open gateway payment; try again", id)
			}
			// Manual attempts of the old price end here; the review of the
			// corrected order opens one at the new price.
			if err := CloseAttempts(ctx, tx, id, "", AttemptCancelled, now); err != nil {
				return err
			}
			if err := transition(ctx, tx, id, []string{StatusRejected}, StatusInReview, now, `review_since = $4, status_reason = NULL`, now); err != nil {
				return err
			}
			// The stored UNPAID proforma shows the old price.
			if _, err := tx.Exec(ctx, `DELETE FROM documents WHERE order_id = $1 AND kind = 'unpaid'`, id); err != nil {
				return err
			}
			if err := outbox.Enqueue(ctx, tx, task.Render(id, "unpaid", strconv.FormatInt(now.UnixNano(), 10))); err != nil {
				return err
			}
		default:
			return conflict("change items", o)
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET subtotal = $2, vat = $3, total = $4, updated_at = $5 WHERE id = $1`,
			id, tot.Subtotal, tot.VAT, tot.Total, now); err != nil {
			return err
		}
		return insertItems(ctx, tx, id, items)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("order re-priced", "order_id", id, "subtotal", tot.Subtotal, "total", tot.Total)
	return s.GetOrder(ctx, id)
}

// Transition moves an order from one of from to to, conditionally in SQL:
// the row count proves the order was still in a from status. set adds
// assignments using $4… for extra args. Every order transition goes
// through it, and a change of status records its order.* event to the
// app in the same transaction (EmitOrderEvent).
func Transition(ctx context.Context, tx pgx.Tx, id string, from []string, to string, now time.Time, set string, args ...any) error {
	return transition(ctx, tx, id, from, to, now, set, args...)
}

func transition(ctx context.Context, tx pgx.Tx, id string, from []string, to string, now time.Time, set string, args ...any) error {
	sql := `UPDATE orders SET status = $2, updated_at = $3`
	if set != "" {
		sql += `, ` + set
	}
	// prev reads the status being left (callers hold the order's row lock).
	sql += fmt.Sprintf(` FROM (SELECT status AS was FROM orders WHERE id = $1) prev WHERE id = $1 AND status = ANY($%d) RETURNING prev.was`, 4+len(args))
	var was string
	err := tx.QueryRow(ctx, sql, append(append([]any{id, to, now}, args...), from)...).Scan(&was)
	if errors.Is(err, pgx.ErrNoRows) {
		return lunas.E(lunas.KindConflict, "order %s is no longer %s", id, strings.Join(from, " or "))
	}
	if err != nil {
		return err
	}
	if typ := eventFor(to); typ != "" && was != to {
		return EmitOrderEvent(ctx, tx, id, typ, now)
	}
	return nil
}

// InOrderTx runs fn in a transaction holding the order's row lock, with
// now taken once for the whole transaction.
func (s *Service) InOrderTx(ctx context.Context, id string, fn func(tx pgx.Tx, o *Order, now time.Time) error) error {
	return store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		o, err := loadOrder(ctx, tx, id, true)
		if err != nil {
			return err
		}
		return fn(tx, o, s.clock.Now())
	})
}

// Confirm issues the invoice: a gap-free number, issued now, payable until
// 23:59 on the next day in the business zone. Billing info is mailed to the
// requester, the UNPAID proforma is rendered, and the expiry is scheduled.
func (s *Service) Confirm(ctx context.Context, id string) (*Order, error) {
	err := s.InOrderTx(ctx, id, func(tx pgx.Tx, o *Order, now time.Time) error {
		if o.Status != StatusDraft {
			return conflict("confirm", o)
		}
		if now.Sub(o.CreatedAt) >= DraftLifetime {
			return lunas.E(lunas.KindConflict, "cannot confirm: order %s is a draft older than 120 h and is being closed", o.ID)
		}
		expires := Deadline(now, s.loc)
		if err := s.number(ctx, tx, id, now, &expires); err != nil {
			return err
		}
		if err := transition(ctx, tx, id, []string{StatusDraft}, StatusAwaitingPayment, now, ""); err != nil {
			return err
		}
		o.Status = StatusAwaitingPayment
		if err := QueueMail(ctx, tx, o, MailBilling, "", now); err != nil {
			return err
		}
		return outbox.Enqueue(ctx, tx, task.Expire(id, expires), task.Render(id, "unpaid", ""))
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("order confirmed", "order_id", id, "to", StatusAwaitingPayment)
	return s.GetOrder(ctx, id)
}

// number issues order id's invoice, issued now and payable until expires
// (nil: no deadline), with the next number of the year in the business
// zone: INV-2026-000001, INV-2026-000002, … Numbers are gap-free and
// unique per year, and follow the order in which confirms commit: the
// counter row is taken by the transaction's last write (store.LastWrite),
// so its lock is held across the commit only, never across the rest of the
// confirm, and a rolled-back transaction gives its number back.
// Subscription issuing shares the counter and the rule.
func (s *Service) number(ctx context.Context, tx pgx.Tx, id string, now time.Time, expires *time.Time) error {
	period := now.In(s.loc).Format("2006")
	return store.LastWrite(ctx, tx, func(ctx context.Context) error {
		_, err := tx.Exec(ctx, `
			WITH c AS (
				INSERT INTO invoice_counters (period, last) VALUES ($1, 1)
				ON CONFLICT (period) DO UPDATE SET last = invoice_counters.last + 1
				RETURNING last)
			INSERT INTO invoices (number, order_id, issued_at, expires_at)
			SELECT 'INV-' || $1 || '-' || CASE WHEN c.last < 1000000 THEN lpad(c.last::text, 6, '0') ELSE c.last::text END, $2, $3, $4
			FROM c`, period, id, now, expires)
		if err != nil {
			return fmt.Errorf("invoice: number: %w", err)
		}
		return nil
	})
}

// Cancel cancels an order the customer no longer wants.
func (s *Service) Cancel(ctx context.Context, id string) (*Order, error) {
	err := s.InOrderTx(ctx, id, func(tx pgx.Tx, o *Order, now time.Time) error {
		switch o.Status {
		case StatusDraft, StatusAwaitingPayment, StatusRejected:
		default:
			return conflict("cancel", o)
		}
		if err := transition(ctx, tx, id, []string{StatusDraft, StatusAwaitingPayment, StatusRejected}, StatusCancelled, now, ""); err != nil {
			return err
		}
		if err := outbox.MarkDone(ctx, tx, task.ExpireID(id)); err != nil { // nothing left to expire
			return err
		}
		return CloseAttempts(ctx, tx, id, "", AttemptCancelled, now)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("order cancelled", "order_id", id, "to", StatusCancelled)
	return s.GetOrder(ctx, id)
}

// CloseDrafts closes drafts older than 120 h; the sweeper calls it. Many
// processes may run it at once: the UPDATE's condition makes each close
// happen once.
func (s *Service) CloseDrafts(ctx context.Context) (int, error) {
	now := s.clock.Now()
	var closed []string
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			UPDATE orders SET status = 'closed', status_reason = 'not confirmed within 120 h', updated_at = $1
			WHERE status = 'draft' AND created_at <= $2 RETURNING id`, now, now.Add(-DraftLifetime))
		if err != nil {
			return err
		}
		if closed, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		for _, id := range closed { // each row moved once: one order.closed each
			if err := EmitOrderEvent(ctx, tx, id, webhook.OrderClosed, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, store.Unavailable(err)
	}
	if len(closed) > 0 {
		s.log.Info("drafts closed", "count", len(closed), "to", StatusClosed)
	}
	return len(closed), nil
}

// Pool is the service's database pool, for tasks that mark outbox rows done.
func (s *Service) Pool() *pgxpool.Pool { return s.pool }

// CheckEmail says what is wrong with an email address ("" when nothing):
// the rule every recipient lunas mails follows (subscription customers too).
func CheckEmail(e string) string { return checkEmail(e) }

// ValidID reports whether id is 1-64 letters, digits, '-', '_' or '.': the
// rule for ids callers choose (accounts, plans).
func ValidID(id string) bool { return validID(id) }
