// Package order is the order machine of lunas: a sales order, its priced
// lines, and the typed transitions between its statuses (DESIGN.md,
// "Orders and invoices"). It owns the orders and order_items tables; every
// write of them is a method here that takes the caller's transaction
// (order.MarkPaid(ctx, tx, id, attemptID, now)), each transition an
// UPDATE conditional on the statuses it may leave, with the row count
// checked, and the order.* event to the app recorded in the same
// transaction.
//
// The order object the API and the events show carries its invoice's
// number and deadline and its payment attempts; order reads them (the
// invoices are package invoice's, the attempts package payment's) and
// renders the object (View). Who calls: invoice (create, re-price,
// confirm, cancel), payment (paid, expired, refunded), review (in review,
// rejected), subscription (issued invoices), and api, console, mail,
// proforma and sending read orders through Get and the Service.
package order

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/store"
)

// Status is where an order is in its machine.
type Status string

// Order statuses.
const (
	StatusDraft           Status = "draft"
	StatusAwaitingPayment Status = "awaiting_payment"
	StatusInReview        Status = "in_review"
	StatusPaid            Status = "paid"
	StatusExpired         Status = "expired"
	StatusCancelled       Status = "cancelled"
	StatusRejected        Status = "rejected"
	StatusClosed          Status = "closed"
	StatusRefunded        Status = "refunded" // the gateway took all of the payment back
)

// Statuses lists every order status, in the order of the machine: the
// set the API's filter accepts and the console offers.
func Statuses() []Status {
	return []Status{StatusDraft, StatusAwaitingPayment, StatusInReview, StatusPaid, StatusRejected, StatusExpired,
		StatusCancelled, StatusClosed, StatusRefunded}
}

// PaidStatuses are the statuses of an order that was paid: paid, or
// refunded since (its PAID proforma and confirmation still stand).
func PaidStatuses() []Status { return []Status{StatusPaid, StatusRefunded} }

// Valid reports whether s is an order status.
func (s Status) Valid() bool {
	for _, v := range Statuses() {
		if s == v {
			return true
		}
	}
	return false
}

// Products sold by lunas: what an order line buys.
const (
	ProductWABalance    = "wa_balance"
	ProductMUV          = "muv"
	ProductSubscription = "subscription" // the one line of a subscription invoice
)

// DraftLifetime is how long a draft may wait for its confirm (DESIGN.md).
const DraftLifetime = 120 * time.Hour

// Requester is the person who asked for the top-up: the only recipient of
// its mail.
type Requester struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// ItemRequest is one requested line, as the app sends it.
type ItemRequest struct {
	Product  string `json:"product"`
	Quantity int64  `json:"quantity"`
}

// Item is one priced line (invoice.Catalog prices them).
type Item struct {
	Product           string  `json:"product"`
	Unit              string  `json:"unit"`
	RequestedQuantity int64   `json:"requested_quantity"`
	Quantity          int64   `json:"quantity"`
	Amount            int64   `json:"amount"`
	Adjustment        *string `json:"adjustment"`
	// A subscription line names its plan and period; Description is the
	// plan's name at issue, printed instead of the product's name.
	PlanID      *string `json:"plan_id,omitempty"`
	Period      *string `json:"period,omitempty"`
	Description string  `json:"-"`
}

// Order is a sales order with its invoice and payment attempts.
type Order struct {
	ID            string
	AccountID     string
	Status        Status
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
	// The tax lines (issue 25). TaxBase and VATRate are tax.Rules.Compute's:
	// the DPP the VAT is on (11/12 of the subtotal under DPP nilai lain)
	// and its rate. Withholding is the PPh 23 the buyer withholds, fixed
	// at confirm (nil: none); Payable is Total less it: what every attempt
	// charges. TaxInvoiceNumber is the number Coretax assigned, recorded
	// by finance (nil until then).
	TaxBase          int64
	VATRate          decimal.Decimal
	Withholding      *Withholding
	Payable          int64
	TaxInvoiceNumber *string
}

// WithholdingStatus is where a withholding order's slip (bukti potong) is;
// its valid set is WithholdingStatuses.
type WithholdingStatus string

const (
	// WithholdingAwaitingSlip: the buyer has not sent its slip yet.
	WithholdingAwaitingSlip WithholdingStatus = "awaiting_slip"
	// WithholdingReceived: the slip is recorded; its number proves the
	// tax credit.
	WithholdingReceived WithholdingStatus = "received"
)

// WithholdingStatuses lists every WithholdingStatus.
func WithholdingStatuses() []WithholdingStatus {
	return []WithholdingStatus{WithholdingAwaitingSlip, WithholdingReceived}
}

// Valid reports whether s is one of WithholdingStatuses.
func (s WithholdingStatus) Valid() bool {
	for _, v := range WithholdingStatuses() {
		if s == v {
			return true
		}
	}
	return false
}

// Withholding is income tax the buyer deducts from what it pays and pays
// to the state for the seller (tax.Withholding, as the order stores it).
type Withholding struct {
	Kind   string            `json:"kind"`
	Rate   decimal.Decimal   `json:"rate"`
	Base   int64             `json:"base"`
	Amount int64             `json:"amount"`
	Status WithholdingStatus `json:"status"`
}

// Paid reports whether the order was paid: paid, or refunded since (its
// PAID proforma and confirmation still stand).
func (o *Order) Paid() bool { return o.Status == StatusPaid || o.Status == StatusRefunded }

// Conflict is the 409 for an illegal transition, naming the current status.
func Conflict(action string, o *Order) error {
	return lunas.E(lunas.KindConflict, "cannot %s: order %s is %s", action, o.ID, o.Status)
}

// Service reads orders for the API and runs the work on one order that
// needs its row lock (InTx).
type Service struct {
	pool  *store.DB
	clock clock.Clock
	loc   *time.Location
	log   *slog.Logger
}

// New returns a Service on the service clock and the business zone.
func New(pool *store.DB, c clock.Clock, loc *time.Location, log *slog.Logger) *Service {
	return &Service{pool: pool, clock: c, loc: loc, log: log}
}

// Clock is the service clock (invoice, payment and review take now from it too).
func (s *Service) Clock() clock.Clock { return s.clock }

// Location is the business time zone.
func (s *Service) Location() *time.Location { return s.loc }

// InTx runs fn in a transaction holding the order's row lock — the lock
// that serialises every state change of that order — with now taken once
// for the whole transaction, after the lock.
func (s *Service) InTx(ctx context.Context, id string, fn func(tx pgx.Tx, o *Order, now time.Time) error) error {
	return store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		o, err := Lock(ctx, tx, id)
		if err != nil {
			return err
		}
		return fn(tx, o, s.clock.Now())
	})
}

// GetOrder returns an order with its items and payment attempts.
func (s *Service) GetOrder(ctx context.Context, id string) (*Order, error) {
	return Get(ctx, s.pool, id)
}

const columns = `o.id, o.account_id, o.status, o.requester_name, o.requester_email, o.locale, o.currency,
	o.subtotal, o.vat, o.total, i.number, i.issued_at, i.expires_at, o.paid_at, o.paid_attempt_id, o.refunded_amount,
	o.status_reason, o.review_since, o.created_at, o.updated_at, o.subscription_id, o.period, to_char(o.due_date, 'YYYY-MM-DD'),
	o.tax_base, o.vat_rate, o.withholding_kind, o.withholding_rate, o.withholding_base, o.withholding_amount, o.payable, ws.status, ti.number`

// orderJoins are the tables columns reads besides orders: the invoice, and the
// withholding slip and tax-invoice number package taxbook keeps.
const orderJoins = ` LEFT JOIN invoices i ON i.order_id = o.id LEFT JOIN withholding_slips ws ON ws.order_id = o.id
	LEFT JOIN tax_invoices ti ON ti.order_id = o.id`

func scan(row pgx.Row) (*Order, error) {
	var o Order
	var wKind *string
	var wRate decimal.NullDecimal
	var wBase, wAmount *int64
	var wStatus *WithholdingStatus
	err := row.Scan(&o.ID, &o.AccountID, &o.Status, &o.Requester.Name, &o.Requester.Email, &o.Locale, &o.Currency,
		&o.Subtotal, &o.VAT, &o.Total, &o.InvoiceNumber, &o.IssuedAt, &o.ExpiresAt, &o.PaidAt, &o.PaidAttemptID, &o.RefundedAmount,
		&o.StatusReason, &o.ReviewSince, &o.CreatedAt, &o.UpdatedAt, &o.SubscriptionID, &o.Period, &o.DueDate,
		&o.TaxBase, &o.VATRate, &wKind, &wRate, &wBase, &wAmount, &o.Payable, &wStatus, &o.TaxInvoiceNumber)
	if err == nil && wKind != nil && wAmount != nil && wBase != nil {
		o.Withholding = &Withholding{Kind: *wKind, Rate: wRate.Decimal, Base: *wBase, Amount: *wAmount, Status: WithholdingAwaitingSlip}
		if wStatus != nil {
			o.Withholding.Status = *wStatus
		}
	}
	return &o, err
}

func notFound(id string, err error) (*Order, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lunas.E(lunas.KindNotFound, "order %q not found", id)
	}
	return nil, store.Unavailable(err)
}

// Lock reads an order (without its items and attempts) inside tx holding
// its row lock: the lock that serialises every state change of that order.
// payment and review take it through Service.InTx, or with Lock when they
// have claimed the order otherwise (SKIP LOCKED sweeps).
func Lock(ctx context.Context, tx pgx.Tx, id string) (*Order, error) {
	o, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM orders o`+orderJoins+` WHERE o.id = $1 FOR UPDATE OF o`, id))
	if err != nil {
		return notFound(id, err)
	}
	return o, nil
}

// batcher is a Querier that pipelines (the pool, a transaction).
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Get reads an order with its items and payment attempts in q: the three
// queries in one round trip when q pipelines (an order is read several
// times in its life — confirm, attempts, settlement, every mail — so the
// round trips add up under load).
func Get(ctx context.Context, q store.Querier, id string) (*Order, error) {
	if bq, ok := q.(batcher); ok {
		return getBatched(ctx, bq, id)
	}
	o, err := scan(q.QueryRow(ctx, `SELECT `+columns+` FROM orders o`+orderJoins+` WHERE o.id = $1`, id))
	if err != nil {
		return notFound(id, err)
	}
	if err := LoadItems(ctx, q, o); err != nil {
		return nil, store.Unavailable(err)
	}
	if o.Payments, err = loadAttempts(ctx, q, o.ID); err != nil {
		return nil, store.Unavailable(err)
	}
	return o, nil
}

func getBatched(ctx context.Context, q batcher, id string) (*Order, error) {
	ids := []string{id}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+columns+` FROM orders o`+orderJoins+` WHERE o.id = $1`, id)
	b.Queue(itemsOf, ids)
	b.Queue(attemptsOf, ids)
	br := q.SendBatch(ctx, b)
	o, err := scan(br.QueryRow())
	if err != nil {
		_ = br.Close()
		return notFound(id, err)
	}
	rows, err := br.Query()
	if err == nil {
		err = scanItems(rows, map[string]*Order{id: o})
	}
	if err == nil {
		if rows, err = br.Query(); err == nil {
			err = scanAttempts(rows, map[string]*Order{id: o})
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, store.Unavailable(err)
	}
	return o, nil
}

// LoadItems reads an order's items into o (a locked order has none yet).
func LoadItems(ctx context.Context, q store.Querier, o *Order) error {
	return loadItemsOf(ctx, q, []*Order{o})
}

// loadItemsOf reads the items of every order in one query (a list of 500
// orders is one round trip, not 500).
func loadItemsOf(ctx context.Context, q store.Querier, orders []*Order) error {
	byID := make(map[string]*Order, len(orders))
	ids := make([]string, len(orders))
	for i, o := range orders {
		byID[o.ID], ids[i] = o, o.ID
		o.Items = []Item{}
	}
	rows, err := q.Query(ctx, itemsOf, ids)
	if err != nil {
		return err
	}
	return scanItems(rows, byID)
}

const itemsOf = `SELECT order_id, product, unit, requested_quantity, quantity, amount, adjustment, plan_id, period, coalesce(description, '')
	FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, line`

// scanItems reads itemsOf's rows into the orders of byID (their Items
// set to empty lists first).
func scanItems(rows pgx.Rows, byID map[string]*Order) error {
	for _, o := range byID {
		o.Items = []Item{}
	}
	var orderID string
	var it Item
	_, err := pgx.ForEachRow(rows, []any{&orderID, &it.Product, &it.Unit, &it.RequestedQuantity, &it.Quantity, &it.Amount, &it.Adjustment, &it.PlanID, &it.Period, &it.Description}, func() error {
		o := byID[orderID]
		o.Items = append(o.Items, it)
		return nil
	})
	return err
}

// ListFilter selects orders for finance.
type ListFilter struct {
	Status    Status // "": every status
	AccountID string
	// Search matches the start of the invoice number (INV-2026-0001…) or a
	// part of the requester's name or e-mail, case-insensitively.
	Search string
	// From and To bound the invoice date (the creation for a draft):
	// From <= date < To; zero means unbounded.
	From, To time.Time
	Limit    int
	Cursor   *Cursor
}

// Cursor is a position in a newest-first list (orders, subscriptions).
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// likeEscape makes s a literal inside a LIKE pattern.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.TrimSpace(s))
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ListOrders lists orders newest first; next is the cursor of the next page.
func (s *Service) ListOrders(ctx context.Context, f ListFilter) ([]*Order, *Cursor, error) {
	after := f.Cursor != nil
	var at time.Time
	var id string
	if after {
		at, id = f.Cursor.CreatedAt, f.Cursor.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM orders o`+orderJoins+`
		WHERE ($1 = '' OR o.status = $1) AND ($2 = '' OR o.account_id = $2) AND (NOT $4 OR (o.created_at, o.id) < ($5, $6))
			AND ($7 = '' OR i.number ILIKE $7 || '%' OR o.requester_email ILIKE '%' || $7 || '%' OR o.requester_name ILIKE '%' || $7 || '%')
			AND ($8::timestamptz IS NULL OR coalesce(i.issued_at, o.created_at) >= $8)
			AND ($9::timestamptz IS NULL OR coalesce(i.issued_at, o.created_at) < $9)
		ORDER BY o.created_at DESC, o.id DESC LIMIT $3`, f.Status, f.AccountID, f.Limit+1, after, at, id,
		likeEscape(f.Search), nullTime(f.From), nullTime(f.To))
	if err != nil {
		return nil, nil, store.Unavailable(err)
	}
	orders, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Order, error) { return scan(r) })
	if err != nil {
		return nil, nil, store.Unavailable(err)
	}
	var next *Cursor
	if len(orders) > f.Limit {
		orders = orders[:f.Limit]
		last := orders[len(orders)-1]
		next = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	// Items and attempts of the whole page in two queries.
	if err := loadItemsOf(ctx, s.pool, orders); err != nil {
		return nil, nil, store.Unavailable(err)
	}
	if err := loadAttemptsOf(ctx, s.pool, orders); err != nil {
		return nil, nil, store.Unavailable(err)
	}
	return orders, next, nil
}
