// Package report builds finance's reports from the database: today the
// overdue report of subscription invoices (API.md "Reports"), as data for
// JSON, and written as CSV or as an Excel workbook (XLSX, through
// github.com/xuri/excelize/v2: a real workbook with typed cells, a totals
// row and an autofilter, as finance opens it to decide whom to cut off).
//
// The api package calls Overdue and the writers; it only reads.
package report

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
)

// Service reads reports.
type Service struct {
	pool  *store.DB
	clock clock.Clock
	loc   *time.Location
}

// New returns a Service; dates are business dates in loc.
func New(pool *store.DB, c clock.Clock, loc *time.Location) *Service {
	return &Service{pool: pool, clock: c, loc: loc}
}

// Customer is the invoice's customer.
type Customer struct {
	Name  string  `json:"name"`
	Email string  `json:"email"`
	Phone *string `json:"phone"`
}

// Row is one overdue invoice.
type Row struct {
	InvoiceNumber  string    `json:"invoice_number"`
	OrderID        string    `json:"order_id"`
	SubscriptionID string    `json:"subscription_id"`
	AccountID      string    `json:"account_id"`
	Customer       Customer  `json:"customer"`
	PlanID         string    `json:"plan_id"`
	Period         string    `json:"period"`
	DueDate        time.Time `json:"-"` // a date (UTC midnight)
	Amount         int64     `json:"amount"`
	DaysOverdue    int       `json:"days_overdue"`
}

// Total sums the rows.
type Total struct {
	Count  int   `json:"count"`
	Amount int64 `json:"amount"`
}

// Overdue is the overdue report at a date.
type Overdue struct {
	AsOf  time.Time // a date (UTC midnight)
	Rows  []Row
	Total Total
}

// Filter selects the report's rows; AsOf zero means today (service clock).
type Filter struct {
	AsOf      time.Time
	PlanID    string
	AccountID string
	MinDays   int
}

// Today is the business date now, by the service clock.
func (s *Service) Today() time.Time {
	y, m, d := s.clock.Now().In(s.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Overdue lists the subscription invoices that were unpaid at the end of
// as_of's day and due before it, oldest due date first: issued by then,
// and not paid by then (still awaiting payment, in review or rejected, or
// paid only later). days_overdue is as_of − due date.
func (s *Service) Overdue(ctx context.Context, f Filter) (Overdue, error) {
	if f.AsOf.IsZero() {
		f.AsOf = s.Today()
	}
	end := time.Date(f.AsOf.Year(), f.AsOf.Month(), f.AsOf.Day()+1, 0, 0, 0, 0, s.loc) // the end of as_of's day
	minDays := max(f.MinDays, 1)
	rows, err := s.pool.Query(ctx, `
		SELECT i.number, o.id, o.subscription_id, o.account_id, o.requester_name, o.requester_email, sub.customer_phone,
			it.plan_id, o.period, o.due_date, o.total, ($1::date - o.due_date) AS days
		FROM orders o
		JOIN invoices i ON i.order_id = o.id
		JOIN subscriptions sub ON sub.id = o.subscription_id
		JOIN order_items it ON it.order_id = o.id AND it.line = 0
		WHERE o.subscription_id IS NOT NULL AND i.issued_at < $2
			AND ($1::date - o.due_date) >= $3
			AND (o.status = ANY($6) OR (o.status = ANY($7) AND o.paid_at >= $2))
			AND ($4 = '' OR it.plan_id = $4) AND ($5 = '' OR o.account_id = $5)
		ORDER BY o.due_date, i.number`, f.AsOf.Format(time.DateOnly), end, minDays, f.PlanID, f.AccountID,
		order.UnpaidStatuses(), order.PaidStatuses())
	if err != nil {
		return Overdue{}, store.Unavailable(err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
		var x Row
		err := r.Scan(&x.InvoiceNumber, &x.OrderID, &x.SubscriptionID, &x.AccountID, &x.Customer.Name, &x.Customer.Email, &x.Customer.Phone,
			&x.PlanID, &x.Period, &x.DueDate, &x.Amount, &x.DaysOverdue)
		return x, err
	})
	if err != nil {
		return Overdue{}, store.Unavailable(err)
	}
	rep := Overdue{AsOf: f.AsOf, Rows: list}
	if rep.Rows == nil {
		rep.Rows = []Row{}
	}
	for _, x := range list {
		rep.Total.Count++
		rep.Total.Amount += x.Amount
	}
	return rep, nil
}
