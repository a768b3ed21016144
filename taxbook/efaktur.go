package taxbook

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tax"
)

// Skipped is a paid order of the month left out of the e-Faktur export,
// with the reason finance must fix before Coretax can take it.
type Skipped struct {
	OrderID       string `json:"order_id"`
	InvoiceNumber string `json:"invoice_number"`
	AccountID     string `json:"account_id"`
	Reason        string `json:"reason"`
}

// Export is a month's e-Faktur: the document (written a part at a time)
// and the paid orders it could not declare.
type Export struct {
	Period  string
	EFaktur *tax.EFaktur
	Skipped []Skipped
}

// ParsePeriod reads ?period=YYYY-MM into the month's bounds in loc.
func ParsePeriod(period string, loc *time.Location) (from, to time.Time, err error) {
	m, err := time.ParseInLocation("2006-01", period, loc)
	if err != nil {
		return time.Time{}, time.Time{}, &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "period", Message: "must be a month, YYYY-MM"}}}
	}
	return m, m.AddDate(0, 1, 0), nil
}

// itemName is a GoodService line's name: what the order bought.
func itemName(it order.Item) string {
	switch {
	case it.Description != "":
		return it.Description
	case it.Product == order.ProductWABalance:
		return "Saldo WhatsApp (prabayar)"
	case it.Product == order.ProductMUV:
		return fmt.Sprintf("Paket pengunjung unik (%d pengunjung)", it.Quantity)
	}
	return it.Product
}

// EFaktur builds the month's export (GET /v1/tax/efaktur.xml): one tax
// invoice per order paid in period (YYYY-MM in the business zone) whose
// account has a tax identity, ordered by payment time then invoice
// number so that part k is the same on every download. Orders without an
// identity, and orders Coretax would refuse under transaction code 04 (an
// order priced in simple mode, an identity that no longer validates), are
// skipped and listed. It reads only: exporting is repeatable.
func (s *Service) EFaktur(ctx context.Context, period string) (*Export, error) {
	from, to, err := ParsePeriod(period, s.loc)
	if err != nil {
		return nil, err
	}
	seller, err := tax.NewSeller(s.seller.NPWP, s.seller.NITKU)
	if err != nil {
		return nil, lunas.E(lunas.KindConflict, "the e-Faktur export needs the seller's tax identity: %v", err)
	}
	ex := &Export{Period: period, Skipped: []Skipped{}}
	var invoices []tax.FakturInvoice
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT o.id FROM orders o JOIN invoices i ON i.order_id = o.id
			WHERE o.status = $1 AND o.paid_at >= $2 AND o.paid_at < $3
			ORDER BY o.paid_at, i.number`, order.StatusPaid, from, to)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range ids {
			o, err := order.Get(ctx, tx, id)
			if err != nil {
				return err
			}
			var buyer *tax.Identity
			if err := tx.QueryRow(ctx, `SELECT tax FROM accounts WHERE id = $1`, o.AccountID).Scan(&buyer); err != nil {
				return err
			}
			sk := Skipped{OrderID: o.ID, InvoiceNumber: deref(o.InvoiceNumber), AccountID: o.AccountID}
			if buyer == nil {
				sk.Reason = "the account has no tax identity"
				ex.Skipped = append(ex.Skipped, sk)
				continue
			}
			f := tax.FakturInvoice{InvoiceNumber: sk.InvoiceNumber, PaidAt: *o.PaidAt, Buyer: *buyer, TaxBase: o.TaxBase, VAT: o.VAT}
			for _, it := range o.Items {
				unit := tax.UnitOther
				if it.Product == order.ProductSubscription {
					unit = tax.UnitMonth
				}
				f.Items = append(f.Items, tax.FakturItem{Name: itemName(it), UnitPrice: it.Amount, Qty: 1, Amount: it.Amount, Unit: unit})
			}
			if err := f.Validate(); err != nil {
				sk.Reason = err.Error()
				ex.Skipped = append(ex.Skipped, sk)
				continue
			}
			invoices = append(invoices, f)
		}
		return nil
	})
	if err != nil {
		return nil, store.Unavailable(err)
	}
	if ex.EFaktur, err = tax.NewEFaktur(seller, s.loc, invoices); err != nil {
		return nil, err
	}
	return ex, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
