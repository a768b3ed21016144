package invoice

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/taxbook"
)

const maxNameLength = 200

// Attempts is what an order's actions need from its payment attempts;
// payment.Service provides it (payment.New sets it: payment depends on this
// package for the deadline rule and the card fee, so it cannot be passed in
// at construction).
type Attempts interface {
	// EndOpenAttempts ends the order's open gateway attempts at their
	// gateways before its price changes (outside any transaction); a
	// conflict when one cannot be ended (the customer may be paying it).
	EndOpenAttempts(ctx context.Context, orderID string) error
	// OpenAtGateway reports, in the caller's transaction, whether an
	// attempt of the order is still open at a gateway.
	OpenAtGateway(ctx context.Context, tx pgx.Tx, orderID string) (bool, error)
	// CancelPending cancels every pending attempt of the order in the
	// caller's transaction, voiding the gateway ones at their gateways.
	CancelPending(ctx context.Context, tx pgx.Tx, orderID string, now time.Time) error
}

// Service runs the app's actions on orders.
type Service struct {
	pool    *store.DB
	orders  *order.Service
	clock   clock.Clock
	catalog Catalog
	loc     *time.Location
	log     *slog.Logger
	// Attempts is set by payment.New; nil means no payment attempt can
	// exist (a wiring without payments).
	Attempts Attempts
}

// New returns a Service pricing with catalog, on the orders' clock and
// business zone.
func New(pool *store.DB, orders *order.Service, catalog Catalog, log *slog.Logger) *Service {
	return &Service{pool: pool, orders: orders, clock: orders.Clock(), catalog: catalog, loc: orders.Location(), log: log}
}

// Catalog returns the pricing rules in force.
func (s *Service) Catalog() Catalog { return s.catalog }

// CreateInput is the body of POST /v1/orders.
type CreateInput struct {
	AccountID string              `json:"account_id"`
	Requester order.Requester     `json:"requester"`
	Items     []order.ItemRequest `json:"items"`
	Locale    *string             `json:"locale"`
}

// CreateOrder prices and stores a draft order.
func (s *Service) CreateOrder(ctx context.Context, in CreateInput) (*order.Order, error) {
	var ve lunas.ValidationError
	if strings.TrimSpace(in.AccountID) == "" {
		ve.Add("account_id", "is required")
	}
	if strings.TrimSpace(in.Requester.Name) == "" {
		ve.Add("requester.name", "is required")
	} else if len(in.Requester.Name) > maxNameLength || strings.ContainsAny(in.Requester.Name, "\r\n") {
		ve.Add("requester.name", "must be one line of at most %d characters", maxNameLength)
	}
	if msg := account.CheckEmail(in.Requester.Email); msg != "" {
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
		exists, err := account.Exists(ctx, s.pool, in.AccountID)
		if err != nil {
			return nil, err
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
	d := order.Draft{ID: store.NewID("ord"), AccountID: in.AccountID, Requester: in.Requester, Locale: locale, Items: items,
		Subtotal: tot.Subtotal, VAT: tot.VAT, Total: tot.Total}
	l := s.catalog.Tax(tot.Subtotal)
	d.TaxBase, d.VATRate = l.TaxBase, l.VATRate
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error { return order.Create(ctx, tx, d, now) })
	if err != nil {
		return nil, err
	}
	return s.orders.GetOrder(ctx, d.ID)
}

// PatchOrder re-prices an order's items. Allowed in draft, and in rejected,
// where the corrected order goes back to in_review. A price never changes
// under an open payment: every open gateway attempt is ended at its gateway
// first (409 when one cannot be), and the UNPAID proforma of the old price
// is replaced.
func (s *Service) PatchOrder(ctx context.Context, id string, reqs []order.ItemRequest) (*order.Order, error) {
	items, tot, err := s.catalog.Price(reqs)
	if err != nil {
		return nil, err
	}
	o, err := s.orders.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.Status == order.StatusRejected && s.Attempts != nil {
		if err := s.Attempts.EndOpenAttempts(ctx, id); err != nil {
			return nil, err
		}
	}
	err = s.orders.InTx(ctx, id, func(tx pgx.Tx, o *order.Order, now time.Time) error {
		switch o.Status {
		case order.StatusDraft:
		case order.StatusRejected:
			if s.Attempts != nil {
				// An attempt opened at a gateway between the check above and
				// this lock would be paid at the old price: refuse.
				open, err := s.Attempts.OpenAtGateway(ctx, tx, id)
				if err != nil {
					return err
				}
				if open {
					return lunas.E(lunas.KindConflict, "cannot change items: order %s has an open gateway payment; try again", id)
				}
				// Manual attempts of the old price end here; the review of the
				// corrected order opens one at the new price.
				if err := s.Attempts.CancelPending(ctx, tx, id, now); err != nil {
					return err
				}
			}
			if err := order.ToReview(ctx, tx, id, now); err != nil {
				return err
			}
			// The stored UNPAID proforma shows the old price.
			if err := proforma.Discard(ctx, tx, id, proforma.KindUnpaid); err != nil {
				return err
			}
			if err := outbox.Enqueue(ctx, tx, task.Render(id, proforma.KindUnpaid, strconv.FormatInt(now.UnixNano(), 10))); err != nil {
				return err
			}
		default:
			return order.Conflict("change items", o)
		}
		l := s.catalog.Tax(tot.Subtotal)
		// A buyer that withholds still does on the corrected price: the
		// amount follows the subtotal, at the rate fixed at confirm.
		var w *order.Withholding
		if o.Withholding != nil {
			r := s.catalog.TaxRules()
			r.PPh23Rate = o.Withholding.Rate
			if x := r.Compute(tot.Subtotal, true).Withholding; x != nil {
				w = &order.Withholding{Kind: string(x.Kind), Rate: x.Rate, Base: x.Base, Amount: x.Amount}
			}
		}
		return order.Reprice(ctx, tx, id, order.Draft{Items: items, Subtotal: tot.Subtotal, VAT: tot.VAT, Total: tot.Total,
			TaxBase: l.TaxBase, VATRate: l.VATRate}, w, now)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("order re-priced", "order_id", id, "subtotal", tot.Subtotal, "total", tot.Total)
	return s.orders.GetOrder(ctx, id)
}

// Confirm issues the invoice: a gap-free number, issued now, payable until
// 23:59 on the next day in the business zone. Billing info is mailed to the
// requester, the UNPAID proforma is rendered, and the expiry is scheduled.
func (s *Service) Confirm(ctx context.Context, id string) (*order.Order, error) {
	err := s.orders.InTx(ctx, id, func(tx pgx.Tx, o *order.Order, now time.Time) error {
		if o.Status != order.StatusDraft {
			return order.Conflict("confirm", o)
		}
		if now.Sub(o.CreatedAt) >= order.DraftLifetime {
			return lunas.E(lunas.KindConflict, "cannot confirm: order %s is a draft older than 120 h and is being closed", o.ID)
		}
		expires := Deadline(now, s.loc)
		if err := s.number(ctx, tx, id, now, &expires); err != nil {
			return err
		}
		if err := order.Confirm(ctx, tx, id, now); err != nil {
			return err
		}
		if err := s.withhold(ctx, tx, o.ID, o.AccountID, o.Subtotal, now); err != nil {
			return err
		}
		o.Status = order.StatusAwaitingPayment
		if err := mail.Queue(ctx, tx, o, mail.KindBilling, "", now); err != nil {
			return err
		}
		return outbox.Enqueue(ctx, tx, task.Expire(id, expires), task.Render(id, proforma.KindUnpaid, ""))
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("order confirmed", "order_id", id, "to", order.StatusAwaitingPayment)
	return s.orders.GetOrder(ctx, id)
}

// withhold fixes the PPh 23 the buyer of order id withholds, when its
// account's tax identity says it does at the moment of issue: the amount
// is the catalog's rate on the subtotal (half-up), the order's payable is
// its total less it, and the slip is awaited from then on (taxbook).
func (s *Service) withhold(ctx context.Context, tx pgx.Tx, id, accountID string, subtotal int64, now time.Time) error {
	t, err := account.TaxIdentity(ctx, tx, accountID)
	if err != nil || t == nil || !t.WithholdsPPh23 {
		return err
	}
	w := s.catalog.TaxRules().Compute(subtotal, true).Withholding
	if w == nil {
		return nil // rounds to nothing: no slip to wait for
	}
	if err := order.SetWithholding(ctx, tx, id, order.Withholding{Kind: string(w.Kind), Rate: w.Rate, Base: w.Base, Amount: w.Amount}, now); err != nil {
		return err
	}
	return taxbook.AwaitSlip(ctx, tx, id, now)
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
	// A failure of this statement comes back from the commit (InTx).
	return store.LastWrite(ctx, tx, func(b *pgx.Batch) {
		b.Queue(`
			WITH c AS (
				INSERT INTO invoice_counters (period, last) VALUES ($1, 1)
				ON CONFLICT (period) DO UPDATE SET last = invoice_counters.last + 1
				RETURNING last)
			INSERT INTO invoices (number, order_id, issued_at, expires_at)
			SELECT 'INV-' || $1 || '-' || CASE WHEN c.last < 1000000 THEN lpad(c.last::text, 6, '0') ELSE c.last::text END, $2, $3, $4
			FROM c`, period, id, now, expires)
	})
}

// Cancel cancels an order the customer no longer wants: its scheduled
// expiry has nothing left to do, and its pending attempts are cancelled.
func (s *Service) Cancel(ctx context.Context, id string) (*order.Order, error) {
	err := s.orders.InTx(ctx, id, func(tx pgx.Tx, o *order.Order, now time.Time) error {
		switch o.Status {
		case order.StatusDraft, order.StatusAwaitingPayment, order.StatusRejected:
		default:
			return order.Conflict("cancel", o)
		}
		if err := order.Cancel(ctx, tx, id, now); err != nil {
			return err
		}
		if err := outbox.MarkDone(ctx, tx, task.ExpireID(id)); err != nil { // nothing left to expire
			return err
		}
		if s.Attempts == nil {
			return nil
		}
		return s.Attempts.CancelPending(ctx, tx, id, now)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("order cancelled", "order_id", id, "to", order.StatusCancelled)
	return s.orders.GetOrder(ctx, id)
}
