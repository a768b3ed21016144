// Package taxbook keeps the tax paperwork of paid orders that is not the
// order's price: the withholding slip (bukti potong) a PPh 23 buyer sends,
// the number Coretax assigned to an order's tax invoice, and the monthly
// e-Faktur export built from paid orders (tax.EFaktur). It owns the
// withholding_slips and tax_invoices tables; the tax lines themselves
// (tax_base, vat, withholding, payable) are the order's, fixed by invoice.
//
// invoice calls AwaitSlip when it fixes an order's withholding; api and
// console call the Service; the worker's sweep calls NotifyMissing, which
// sends withholding.slip_missing to the app for a slip 30 days late.
package taxbook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/webhook"
)

// MaxSlipSize bounds an uploaded slip, as a transfer proof (API.md: 5 MiB).
const MaxSlipSize = 5 << 20

// SlipLate is how long after payment a missing slip is reported to the app
// (withholding.slip_missing): the buyer files its e-Bupot monthly, so a
// slip a month after payment is late.
const SlipLate = 30 * 24 * time.Hour

// Service records slips and tax-invoice numbers and reads the reports.
type Service struct {
	pool   *store.DB
	clock  clock.Clock
	loc    *time.Location
	seller Seller
	log    *slog.Logger
}

// Seller is who issues the tax invoices (LUNAS_SELLER_NPWP, LUNAS_SELLER_NITKU).
type Seller struct {
	NPWP, NITKU string
}

// New returns a Service on the service clock and the business zone.
func New(pool *store.DB, c clock.Clock, loc *time.Location, seller Seller, log *slog.Logger) *Service {
	return &Service{pool: pool, clock: c, loc: loc, seller: seller, log: log}
}

// AwaitSlip starts waiting for order id's withholding slip, in the
// transaction that fixes its withholding (invoice). Idempotent.
func AwaitSlip(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO withholding_slips (order_id, status, created_at, updated_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (order_id) DO NOTHING`, id, order.WithholdingAwaitingSlip, now)
	if err != nil {
		return fmt.Errorf("taxbook: await slip: %w", err)
	}
	return nil
}

// SlipInput is POST /v1/orders/{id}/withholding-slip.
type SlipInput struct {
	File   []byte
	Number string // the bukti potong number
	Date   string // YYYY-MM-DD
}

// SniffSlip tells a slip's type by its content: PDF, PNG or JPEG; "" for
// anything else, whatever its name or declared type.
func SniffSlip(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "application/pdf"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	}
	return ""
}

var slipNumber = regexp.MustCompile(`^[A-Za-z0-9./-]{1,40}$`)

// Check adds every bad field of in to ve.
func (in SlipInput) Check(ve *lunas.ValidationError) {
	switch {
	case len(in.File) == 0:
		ve.Add("file", "is required")
	case len(in.File) > MaxSlipSize:
		ve.Add("file", "must be at most 5 MiB")
	case SniffSlip(in.File) == "":
		ve.Add("file", "must be a PDF, PNG or JPEG (checked by content)")
	}
	if n := strings.TrimSpace(in.Number); n == "" {
		ve.Add("number", "is required (the bukti potong number)")
	} else if !slipNumber.MatchString(n) {
		ve.Add("number", "must be 1-40 letters, digits, '.', '/' or '-'")
	}
	if in.Date == "" {
		ve.Add("date", "is required (YYYY-MM-DD)")
	} else if _, err := time.Parse(time.DateOnly, in.Date); err != nil {
		ve.Add("date", "must be a date YYYY-MM-DD")
	}
}

// RecordSlip records order id's withholding slip: awaiting_slip →
// received, once (a second slip → 409), only on a paid order that
// withholds. The app hears withholding.slip_received in the same
// transaction.
func (s *Service) RecordSlip(ctx context.Context, id string, in SlipInput) (*order.Order, error) {
	var ve lunas.ValidationError
	in.Check(&ve)
	if err := ve.Err(); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		o, err := order.Lock(ctx, tx, id)
		if err != nil {
			return err
		}
		switch {
		case o.Withholding == nil:
			return lunas.E(lunas.KindConflict, "order %s has no withholding: its buyer pays the full total", id)
		case !o.Paid():
			return lunas.E(lunas.KindConflict, "cannot record a slip: order %s is %s (a slip follows the payment)", id, o.Status)
		}
		tag, err := tx.Exec(ctx, `UPDATE withholding_slips SET status = $2, number = $3, slip_date = $4, content_type = $5, file = $6,
				received_at = $7, updated_at = $7
			WHERE order_id = $1 AND status = ANY($8)`,
			id, order.WithholdingReceived, strings.TrimSpace(in.Number), in.Date, SniffSlip(in.File), in.File, now,
			[]order.WithholdingStatus{order.WithholdingAwaitingSlip})
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return lunas.E(lunas.KindConflict, "order %s's withholding slip was already received", id)
		}
		return order.EmitEvent(ctx, tx, id, webhook.WithholdingSlipReceived, now)
	})
	if err != nil {
		return nil, txErr(err)
	}
	s.log.Info("withholding slip received", "order_id", id, "to", order.WithholdingReceived)
	return order.Get(ctx, s.pool, id)
}

// Slip is a received slip's file.
type Slip struct {
	OrderID, Number, Date, ContentType string
	Data                               []byte
}

// GetSlip returns order id's received slip (404 when none).
func (s *Service) GetSlip(ctx context.Context, id string) (*Slip, error) {
	sl := Slip{OrderID: id}
	err := s.pool.QueryRow(ctx, `SELECT number, to_char(slip_date, 'YYYY-MM-DD'), content_type, file FROM withholding_slips
		WHERE order_id = $1 AND status = $2`, id, order.WithholdingReceived).Scan(&sl.Number, &sl.Date, &sl.ContentType, &sl.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lunas.E(lunas.KindNotFound, "order %q has no withholding slip", id)
	}
	if err != nil {
		return nil, store.Unavailable(err)
	}
	return &sl, nil
}

// MissingRow is one paid order whose slip is still awaited.
type MissingRow struct {
	OrderID       string                  `json:"order_id"`
	InvoiceNumber string                  `json:"invoice_number"`
	AccountID     string                  `json:"account_id"`
	Customer      string                  `json:"customer"`
	PaidAt        time.Time               `json:"-"`
	Amount        int64                   `json:"amount"`
	Status        order.WithholdingStatus `json:"status"`
	DaysWaiting   int                     `json:"days_waiting"`
}

// MissingFilter is GET /v1/reports/withholding's query.
type MissingFilter struct {
	Status        order.WithholdingStatus // empty: awaiting_slip
	OlderThanDays int                     // paid at least this many days ago
}

// Missing lists paid withholding orders in status f.Status, oldest
// payment first.
func (s *Service) Missing(ctx context.Context, f MissingFilter) ([]MissingRow, error) {
	if f.Status == "" {
		f.Status = order.WithholdingAwaitingSlip
	}
	now := s.clock.Now()
	rows, err := s.pool.Query(ctx, `
		SELECT o.id, i.number, o.account_id, a.name, o.paid_at, o.withholding_amount, ws.status
		FROM withholding_slips ws JOIN orders o ON o.id = ws.order_id JOIN invoices i ON i.order_id = o.id
		JOIN accounts a ON a.id = o.account_id
		WHERE ws.status = $1 AND o.status = ANY($2) AND o.paid_at <= $3
		ORDER BY o.paid_at, o.id`, f.Status, waitingStatuses(), now.Add(-time.Duration(f.OlderThanDays)*24*time.Hour))
	if err != nil {
		return nil, store.Unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MissingRow, error) {
		var m MissingRow
		err := r.Scan(&m.OrderID, &m.InvoiceNumber, &m.AccountID, &m.Customer, &m.PaidAt, &m.Amount, &m.Status)
		m.DaysWaiting = int(now.Sub(m.PaidAt) / (24 * time.Hour))
		return m, err
	})
	return out, store.Unavailable(err)
}

// waitingStatuses are the order statuses whose slip is still owed: paid.
// A fully refunded order's buyer paid nothing in the end, so withheld
// nothing either.
func waitingStatuses() []order.Status { return []order.Status{order.StatusPaid} }

// NotifyMissing sends withholding.slip_missing once for each paid order
// whose slip is SlipLate overdue (the worker's sweep). Many processes may
// run it at once: the conditional UPDATE makes each notice happen once,
// committed with its event.
func (s *Service) NotifyMissing(ctx context.Context) (int, error) {
	now := s.clock.Now()
	var ids []string
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			UPDATE withholding_slips ws SET missing_notified_at = $1, updated_at = $1
			FROM orders o
			WHERE o.id = ws.order_id AND ws.status = $2 AND ws.missing_notified_at IS NULL
				AND o.status = ANY($3) AND o.paid_at <= $4
			RETURNING ws.order_id`, now, order.WithholdingAwaitingSlip, waitingStatuses(), now.Add(-SlipLate))
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		for _, id := range ids {
			if err := order.EmitEvent(ctx, tx, id, webhook.WithholdingSlipMissing, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, store.Unavailable(err)
	}
	if len(ids) > 0 {
		s.log.Info("withholding slips missing", "count", len(ids))
	}
	return len(ids), nil
}

var taxInvoiceNumber = regexp.MustCompile(`^[0-9]{17}$`)

// RecordTaxInvoice records the 17-digit number Coretax assigned to order
// id's tax invoice (PUT /v1/orders/{id}/tax-invoice): only on a paid
// order; a new number replaces a mistyped one.
func (s *Service) RecordTaxInvoice(ctx context.Context, id, number string) (*order.Order, error) {
	number = strings.TrimSpace(number)
	if !taxInvoiceNumber.MatchString(number) {
		return nil, &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "number", Message: "must be the 17-digit number Coretax assigned"}}}
	}
	now := s.clock.Now()
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		o, err := order.Lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if !o.Paid() {
			return lunas.E(lunas.KindConflict, "cannot record a tax invoice: order %s is %s", id, o.Status)
		}
		_, err = tx.Exec(ctx, `INSERT INTO tax_invoices (order_id, number, recorded_at) VALUES ($1, $2, $3)
			ON CONFLICT (order_id) DO UPDATE SET number = EXCLUDED.number, recorded_at = EXCLUDED.recorded_at`, id, number, now)
		return err
	})
	if err != nil {
		return nil, txErr(err)
	}
	s.log.Info("tax invoice recorded", "order_id", id)
	return order.Get(ctx, s.pool, id)
}

// txErr answers a transaction's failure: a domain error (a conflict, an
// unknown order) as it is, anything else as the database's.
func txErr(err error) error {
	var e *lunas.Error
	if errors.As(err, &e) {
		return err
	}
	return store.Unavailable(err)
}
