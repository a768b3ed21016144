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
	// Two reads in one snapshot, whatever the month's size: the orders with
	// their buyers, then all their items.
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT o.id, i.number, o.account_id, o.paid_at, o.tax_base, o.vat, a.tax
			FROM orders o JOIN invoices i ON i.order_id = o.id JOIN accounts a ON a.id = o.account_id
			WHERE o.status = $1 AND o.paid_at >= $2 AND o.paid_at < $3
			ORDER BY o.paid_at, i.number`, order.StatusPaid, from, to)
		if err != nil {
			return err
		}
		type paid struct {
			sk    Skipped
			f     tax.FakturInvoice
			buyer *tax.Identity
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (paid, error) {
			var p paid
			err := r.Scan(&p.sk.OrderID, &p.sk.InvoiceNumber, &p.sk.AccountID, &p.f.PaidAt, &p.f.TaxBase, &p.f.VAT, &p.buyer)
			p.f.InvoiceNumber = p.sk.InvoiceNumber
			return p, err
		})
		if err != nil {
			return err
		}
		ids := make([]string, len(list))
		at := make(map[string]int, len(list))
		for i, p := range list {
			ids[i], at[p.sk.OrderID] = p.sk.OrderID, i
		}
		rows, err = tx.Query(ctx, `SELECT order_id, product, quantity, amount, coalesce(description, '')
			FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, line`, ids)
		if err != nil {
			return err
		}
		var it order.Item
		var id string
		_, err = pgx.ForEachRow(rows, []any{&id, &it.Product, &it.Quantity, &it.Amount, &it.Description}, func() error {
			unit := tax.UnitOther
			if it.Product == order.ProductSubscription {
				unit = tax.UnitMonth
			}
			f := &list[at[id]].f
			f.Items = append(f.Items, tax.FakturItem{Name: itemName(it), UnitPrice: it.Amount, Qty: 1, Amount: it.Amount, Unit: unit})
			return nil
		})
		if err != nil {
			return err
		}
		for _, p := range list {
			if p.buyer == nil {
				p.sk.Reason = "the account has no tax identity"
				ex.Skipped = append(ex.Skipped, p.sk)
				continue
			}
			p.f.Buyer = *p.buyer
			if err := p.f.Validate(); err != nil {
				p.sk.Reason = err.Error()
				ex.Skipped = append(ex.Skipped, p.sk)
				continue
			}
			invoices = append(invoices, p.f)
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
