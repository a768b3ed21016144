// Package subscription bills monthly services (an ISP, an RT/RW-net, a
// SaaS plan): plans, the subscriptions to them, and the issuer that issues
// one invoice per subscription and period ahead of its due date (API.md
// "Subscriptions and recurring invoices").
//
// The invoice for due date D is issued at 00:00 (LUNAS_TIMEZONE) on
// D − lead_days by the service clock. Every work process runs IssueDue from
// its sweeper; the subscriptions due are claimed with FOR UPDATE SKIP
// LOCKED, issued and moved one month on in one transaction, and the unique
// key (subscription, period) on orders makes a second issue of a period
// impossible however many sweeps race. A subscription created (or resumed,
// or moved) after its issue moment gets its invoice in that same request.
//
// It owns the plans and subscriptions tables. The invoice itself is an
// order (invoice.IssueSubscriptionInvoice): it is
// paid through every method and the same webhook pipeline, and credits no
// balance. The api package calls the Service for requests; the worker's
// sweeper calls IssueDue.
package subscription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/store"
)

// Status is where a subscription is: active (its invoices are issued),
// paused, or ended for good.
type Status string

// Subscription statuses.
const (
	StatusActive Status = "active"
	StatusPaused Status = "paused"
	StatusEnded  Status = "ended"
)

// Statuses lists every subscription status.
func Statuses() []Status { return []Status{StatusActive, StatusPaused, StatusEnded} }

// Valid reports whether s is a subscription status.
func (s Status) Valid() bool { return s == StatusActive || s == StatusPaused || s == StatusEnded }

// Limits.
const (
	maxLeadDays = 28
	maxAmount   = 1_000_000_000_000
	// batch is how many subscriptions one issuer transaction claims.
	batch = 50
	// catchUp bounds how many overdue periods one subscription is issued
	// at once (created with a first due date long past).
	catchUp = 13
)

// Service manages plans and subscriptions and issues their invoices.
type Service struct {
	pool     *store.DB
	invoices *invoice.Service
	clock    clock.Clock
	loc      *time.Location
	log      *slog.Logger
}

// New returns a Service that issues through invoices, on the service
// clock and the business zone.
func New(pool *store.DB, invoices *invoice.Service, c clock.Clock, loc *time.Location, log *slog.Logger) *Service {
	return &Service{pool: pool, invoices: invoices, clock: c, loc: loc, log: log}
}

// ------------------------------------------------------------------ plans

// Plan is a monthly price.
type Plan struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Amount    int64     `json:"amount"`
	VAT       bool      `json:"vat"`
	LeadDays  int       `json:"lead_days"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PlanInput is the body of PUT /v1/plans/{plan_id}.
type PlanInput struct {
	Name     string `json:"name"`
	Amount   *int64 `json:"amount"`
	VAT      *bool  `json:"vat"`
	LeadDays *int   `json:"lead_days"`
}

// PutPlan creates or replaces a plan; created reports which. Invoices
// already issued keep the plan as it was.
func (s *Service) PutPlan(ctx context.Context, id string, in PlanInput) (Plan, bool, error) {
	var ve lunas.ValidationError
	if !account.ValidID(id) {
		ve.Add("plan_id", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
	}
	if strings.TrimSpace(in.Name) == "" {
		ve.Add("name", "is required")
	} else if len(in.Name) > 200 || strings.ContainsAny(in.Name, "\r\n") {
		ve.Add("name", "must be one line of at most 200 characters")
	}
	if in.Amount == nil {
		ve.Add("amount", "is required (whole rupiah before VAT)")
	} else if *in.Amount <= 0 || *in.Amount > maxAmount {
		ve.Add("amount", "must be a positive whole number of rupiah")
	}
	if in.VAT == nil {
		ve.Add("vat", "is required (true or false)")
	}
	if in.LeadDays == nil {
		ve.Add("lead_days", "is required (0-28)")
	} else if *in.LeadDays < 0 || *in.LeadDays > maxLeadDays {
		ve.Add("lead_days", "must be from 0 to 28")
	}
	if err := ve.Err(); err != nil {
		return Plan{}, false, err
	}
	now := s.clock.Now()
	var p Plan
	var created bool
	err := s.pool.QueryRow(ctx, `
		INSERT INTO plans (id, name, amount, vat, lead_days, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$6)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, amount = EXCLUDED.amount, vat = EXCLUDED.vat,
			lead_days = EXCLUDED.lead_days, updated_at = EXCLUDED.updated_at
		RETURNING id, name, amount, vat, lead_days, created_at, updated_at, (xmax = 0)`,
		id, in.Name, *in.Amount, *in.VAT, *in.LeadDays, now).
		Scan(&p.ID, &p.Name, &p.Amount, &p.VAT, &p.LeadDays, &p.CreatedAt, &p.UpdatedAt, &created)
	return p, created, store.Unavailable(err)
}

// ---------------------------------------------------------- subscriptions

// Customer is who a subscription bills: its invoices' requester, and the
// only recipient of their mail and WhatsApp messages.
type Customer struct {
	Name  string  `json:"name"`
	Email string  `json:"email"`
	Phone *string `json:"phone"`
}

// Subscription is one customer's subscription to a plan.
type Subscription struct {
	ID        string
	AccountID string
	PlanID    string
	Customer  Customer
	Locale    string
	Status    Status
	DueDay    int
	// NextDueDate is the due date of the next invoice not yet issued;
	// NextIssueDate is when it will be (NextDueDate − the plan's lead days).
	NextDueDate   time.Time
	NextIssueDate time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// CreateInput is the body of POST /v1/subscriptions.
type CreateInput struct {
	AccountID    string   `json:"account_id"`
	PlanID       string   `json:"plan_id"`
	Customer     Customer `json:"customer"`
	FirstDueDate string   `json:"first_due_date"`
	Locale       *string  `json:"locale"`
}

// Create starts a subscription. When the issue moment of its first due
// date has passed, that invoice (and any later one already due) is issued
// in the same transaction: a late subscription is invoiced at once.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Subscription, error) {
	var ve lunas.ValidationError
	now := s.clock.Now()
	today := s.today(now)
	if strings.TrimSpace(in.AccountID) == "" {
		ve.Add("account_id", "is required")
	}
	if strings.TrimSpace(in.PlanID) == "" {
		ve.Add("plan_id", "is required")
	}
	name := strings.TrimSpace(in.Customer.Name)
	if name == "" {
		ve.Add("customer.name", "is required")
	} else if len(name) > 200 || strings.ContainsAny(name, "\r\n") {
		ve.Add("customer.name", "must be one line of at most 200 characters")
	}
	if msg := account.CheckEmail(in.Customer.Email); msg != "" {
		ve.Add("customer.email", "%s", msg)
	}
	var phone *string
	if in.Customer.Phone != nil && strings.TrimSpace(*in.Customer.Phone) != "" {
		p, ok := payment.NormalizePhone(*in.Customer.Phone)
		if !ok {
			ve.Add("customer.phone", "must be an Indonesian mobile number, +628… or 08…")
		}
		phone = &p
	}
	locale := "id"
	if in.Locale != nil {
		locale = *in.Locale
		if locale != "id" && locale != "en" {
			ve.Add("locale", "must be id or en")
		}
	}
	first, err := time.Parse(time.DateOnly, in.FirstDueDate)
	switch {
	case in.FirstDueDate == "":
		ve.Add("first_due_date", "is required (YYYY-MM-DD)")
	case err != nil:
		ve.Add("first_due_date", "must be a date, YYYY-MM-DD")
	case first.Before(today.AddDate(-1, 0, 0)):
		ve.Add("first_due_date", "must be within the last year")
	case first.After(today.AddDate(5, 0, 0)):
		ve.Add("first_due_date", "must be within the next five years")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	id := store.NewID("sub")
	issued := 0
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var acct, plan bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1), EXISTS (SELECT 1 FROM plans WHERE id = $2)`,
			in.AccountID, in.PlanID).Scan(&acct, &plan); err != nil {
			return err
		}
		if !acct {
			ve.Add("account_id", "unknown account %q", in.AccountID)
		}
		if !plan {
			ve.Add("plan_id", "unknown plan %q (create it with PUT /v1/plans/%s)", in.PlanID, in.PlanID)
		}
		if err := ve.Err(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO subscriptions (id, account_id, plan_id, customer_name, customer_email, customer_phone, locale, status, due_day, next_due_date, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$11,$8,$9,$10,$10)`,
			id, in.AccountID, in.PlanID, name, in.Customer.Email, phone, locale, first.Day(), first.Format(time.DateOnly), now, StatusActive); err != nil {
			return err
		}
		var err error
		issued, err = s.issueFor(ctx, tx, id, today, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if issued > 0 {
		s.log.Info("subscription invoiced at creation", "subscription_id", id, "invoices", issued)
	}
	return s.Get(ctx, id)
}

const columns = `s.id, s.account_id, s.plan_id, s.customer_name, s.customer_email, s.customer_phone, s.locale, s.status, s.due_day,
	s.next_due_date, s.next_due_date - p.lead_days, s.created_at, s.updated_at`

func scan(r pgx.Row) (*Subscription, error) {
	var x Subscription
	err := r.Scan(&x.ID, &x.AccountID, &x.PlanID, &x.Customer.Name, &x.Customer.Email, &x.Customer.Phone, &x.Locale, &x.Status, &x.DueDay,
		&x.NextDueDate, &x.NextIssueDate, &x.CreatedAt, &x.UpdatedAt)
	return &x, err
}

// Get returns a subscription.
func (s *Service) Get(ctx context.Context, id string) (*Subscription, error) {
	return get(ctx, s.pool, id)
}

func get(ctx context.Context, q store.Querier, id string) (*Subscription, error) {
	x, err := scan(q.QueryRow(ctx, `SELECT `+columns+` FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lunas.E(lunas.KindNotFound, "subscription %q not found", id)
	}
	return x, store.Unavailable(err)
}

// Filter selects subscriptions for finance.
type Filter struct {
	AccountID, PlanID string
	Status            Status // "": every status
	Limit             int
	Cursor            *order.Cursor // a position in the newest-first list, as for orders
}

// List lists subscriptions newest first; next is the next page's cursor.
func (s *Service) List(ctx context.Context, f Filter) ([]*Subscription, *order.Cursor, error) {
	after := f.Cursor != nil
	var at time.Time
	var id string
	if after {
		at, id = f.Cursor.CreatedAt, f.Cursor.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM subscriptions s JOIN plans p ON p.id = s.plan_id
		WHERE ($1 = '' OR s.account_id = $1) AND ($2 = '' OR s.plan_id = $2) AND ($3 = '' OR s.status = $3)
			AND (NOT $5 OR (s.created_at, s.id) < ($6, $7))
		ORDER BY s.created_at DESC, s.id DESC LIMIT $4`, f.AccountID, f.PlanID, f.Status, f.Limit+1, after, at, id)
	if err != nil {
		return nil, nil, store.Unavailable(err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Subscription, error) { return scan(r) })
	if err != nil {
		return nil, nil, store.Unavailable(err)
	}
	var next *order.Cursor
	if len(list) > f.Limit {
		list = list[:f.Limit]
		last := list[len(list)-1]
		next = &order.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return list, next, nil
}

// PatchInput is the body of PATCH /v1/subscriptions/{id}.
type PatchInput struct {
	PlanID *string `json:"plan_id"`
	DueDay *int    `json:"due_day"`
	Status *Status `json:"status"`
}

// Patch changes a subscription's plan (for the invoices not yet issued),
// due day or status. Pausing stops issuing; resuming skips the due dates
// that passed while paused; an ended subscription changes no more (409).
func (s *Service) Patch(ctx context.Context, id string, in PatchInput) (*Subscription, error) {
	var ve lunas.ValidationError
	if in.PlanID != nil && strings.TrimSpace(*in.PlanID) == "" {
		ve.Add("plan_id", "must not be empty")
	}
	if in.DueDay != nil && (*in.DueDay < 1 || *in.DueDay > 31) {
		ve.Add("due_day", "must be from 1 to 31")
	}
	if in.Status != nil && !in.Status.Valid() {
		ve.Add("status", "must be active, paused or ended")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.clock.Now()
		today := s.today(now)
		x, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if x.Status == StatusEnded {
			return lunas.E(lunas.KindConflict, "subscription %s has ended", id)
		}
		if in.PlanID != nil {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM plans WHERE id = $1)`, *in.PlanID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "plan_id", Message: fmt.Sprintf("unknown plan %q", *in.PlanID)}}}
			}
			x.PlanID = *in.PlanID
		}
		if in.DueDay != nil {
			x.DueDay, x.NextDueDate = *in.DueDay, moveDueDay(x.NextDueDate, *in.DueDay, today)
		}
		if in.Status != nil {
			if x.Status == StatusPaused && *in.Status == StatusActive {
				// Resumed: the due dates that passed while paused are not billed.
				for x.NextDueDate.Before(today) {
					x.NextDueDate = NextDueDate(x.NextDueDate, x.DueDay)
				}
			}
			x.Status = *in.Status
		}
		if err := save(ctx, tx, x, now); err != nil {
			return err
		}
		_, err = s.issueFor(ctx, tx, id, today, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// MoveDueDay moves many subscriptions to one due day at once (finance's
// bulk edit, so that a whole customer base is billed on one day). Unknown
// or ended ones are refused, naming each, and nothing moves.
func (s *Service) MoveDueDay(ctx context.Context, ids []string, dueDay int) ([]*Subscription, error) {
	var ve lunas.ValidationError
	if len(ids) == 0 {
		ve.Add("ids", "at least one subscription id is required")
	} else if len(ids) > 1000 {
		ve.Add("ids", "at most 1000 per request")
	}
	if dueDay < 1 || dueDay > 31 {
		ve.Add("due_day", "must be from 1 to 31")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.clock.Now()
		today := s.today(now)
		var bad lunas.ValidationError
		var subs []*Subscription
		seen := map[string]bool{}
		for i, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			x, err := lock(ctx, tx, id)
			if lunas.KindOf(err) == lunas.KindNotFound {
				bad.Add(fmt.Sprintf("ids[%d]", i), "unknown subscription %q", id)
				continue
			}
			if err != nil {
				return err
			}
			if x.Status == StatusEnded {
				bad.Add(fmt.Sprintf("ids[%d]", i), "subscription %s has ended", id)
				continue
			}
			subs = append(subs, x)
		}
		if err := bad.Err(); err != nil {
			return err
		}
		for _, x := range subs {
			x.DueDay, x.NextDueDate = dueDay, moveDueDay(x.NextDueDate, dueDay, today)
			if err := save(ctx, tx, x, now); err != nil {
				return err
			}
			if _, err := s.issueFor(ctx, tx, x.ID, today, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Subscription, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		x, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func lock(ctx context.Context, tx pgx.Tx, id string) (*Subscription, error) {
	x, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.id = $1 FOR UPDATE OF s`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lunas.E(lunas.KindNotFound, "subscription %q not found", id)
	}
	return x, err
}

func save(ctx context.Context, tx pgx.Tx, x *Subscription, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE subscriptions SET plan_id = $2, due_day = $3, next_due_date = $4, status = $5, updated_at = $6 WHERE id = $1`,
		x.ID, x.PlanID, x.DueDay, x.NextDueDate.Format(time.DateOnly), x.Status, now)
	return err
}

// ------------------------------------------------------------------ dates

// NextDueDate is the due date one month after d on dueDay, on the month's
// last day when it is shorter: 31 January → 28 (29) February → 31 March.
func NextDueDate(d time.Time, dueDay int) time.Time {
	y, m, _ := d.Date()
	return onDay(y, m+1, dueDay)
}

// onDay is day of month m of year y (m may be 13: January of y+1), clamped
// to the month's last day.
func onDay(y int, m time.Month, day int) time.Time {
	first := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(day, last), 0, 0, 0, 0, time.UTC)
}

// moveDueDay puts the next (not yet issued) due date on day in the same
// month, so its period stays billed; a day already past becomes today, so
// a change of due day never makes an invoice overdue at once.
func moveDueDay(next time.Time, day int, today time.Time) time.Time {
	y, m, _ := next.Date()
	d := onDay(y, m, day)
	if d.Before(today) {
		d = today
	}
	return d
}

// today is the business date of now, as a UTC midnight like stored dates.
func (s *Service) today(now time.Time) time.Time {
	y, m, d := now.In(s.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
