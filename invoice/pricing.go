package invoice

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/tax"
)

// Catalog holds the configurable pricing rules of DESIGN.md.
type Catalog struct {
	WAMinTopUp   int64           // minimum WhatsApp balance top-up, IDR
	WATopUpStep  int64           // when > 0, WhatsApp top-ups are rounded up to a multiple of it (LUNAS_WA_TOPUP_STEP)
	MUVPackSize  int64           // visitors per pack
	MUVPackPrice int64           // IDR per pack
	VATRate      decimal.Decimal // on the subtotal, in simple tax mode
	CardFeeRate  decimal.Decimal // on what an attempt charges (subtotal + VAT, less any withholding), card payments only
	// TaxMode is LUNAS_TAX_INVOICE_MODE (zero: DPP nilai lain, the default).
	TaxMode tax.Mode
	// PPh23Rate is what a withholding buyer deducts from the subtotal
	// (LUNAS_PPH23_RATE; zero: tax.DefaultRules' 2 %).
	PPh23Rate decimal.Decimal
}

// TaxRules are the tax rules the catalog prices with.
func (c Catalog) TaxRules() tax.Rules {
	r := tax.DefaultRules()
	if c.TaxMode != "" {
		r.Mode = c.TaxMode
	}
	r.VATRate = c.VATRate
	if !c.PPh23Rate.IsZero() {
		r.PPh23Rate = c.PPh23Rate
	}
	return r
}

// DefaultCatalog is DESIGN.md's default catalog.
func DefaultCatalog() Catalog {
	return Catalog{
		WAMinTopUp: 1_000_000, MUVPackSize: 500, MUVPackPrice: 300_000,
		VATRate: decimal.RequireFromString("0.11"), CardFeeRate: decimal.RequireFromString("0.035"),
	}
}

// Totals is what an order costs.
type Totals struct {
	Subtotal int64
	VAT      int64
	Total    int64
}

// Tax gives the tax lines of a subtotal by the catalog's tax rules (no
// withholding: that is the buyer's, fixed at confirm). Under DPP nilai lain
// the VAT is 12 % of round(11/12 × subtotal): 11 % of the subtotal but for
// at most 1 rupiah on some subtotals (tax.Rules.Compute).
func (c Catalog) Tax(subtotal int64) tax.Lines {
	return c.TaxRules().Compute(subtotal, false)
}

// maxQuantity keeps every product of quantity and price far inside int64.
const maxQuantity = 1_000_000_000_000

// Price prices requested lines. Every bad line is reported at once, with the
// field named as items[i].product or items[i].quantity.
func (c Catalog) Price(reqs []order.ItemRequest) ([]order.Item, Totals, error) {
	var ve lunas.ValidationError
	if len(reqs) == 0 {
		ve.Add("items", "at least one item is required")
	}
	if len(reqs) > 50 {
		ve.Add("items", "at most 50 items")
	}
	items := make([]order.Item, 0, len(reqs))
	var subtotal int64
	for i, r := range reqs {
		field := fmt.Sprintf("items[%d]", i)
		if r.Quantity <= 0 {
			ve.Add(field+".quantity", "must be a positive whole number")
		} else if r.Quantity > maxQuantity {
			ve.Add(field+".quantity", "must be at most %d", int64(maxQuantity))
		}
		var it order.Item
		switch r.Product {
		case order.ProductWABalance:
			it = order.Item{Product: r.Product, Unit: "IDR", RequestedQuantity: r.Quantity, Quantity: r.Quantity}
			if r.Quantity < c.WAMinTopUp {
				it.Quantity = c.WAMinTopUp
				it.Adjustment = ptr(fmt.Sprintf("raised to the minimum top-up of %d", c.WAMinTopUp))
			}
			if step := c.WATopUpStep; step > 0 && it.Quantity%step != 0 {
				it.Quantity = (it.Quantity/step + 1) * step
				note := fmt.Sprintf("rounded up to a multiple of %d", step)
				if it.Adjustment != nil {
					note = *it.Adjustment + ", then " + note
				}
				it.Adjustment = &note
			}
			it.Amount = it.Quantity
		case order.ProductMUV:
			packs := (r.Quantity + c.MUVPackSize - 1) / c.MUVPackSize
			if packs < 1 {
				packs = 1
			}
			it = order.Item{Product: r.Product, Unit: "visitor", RequestedQuantity: r.Quantity, Quantity: packs * c.MUVPackSize, Amount: packs * c.MUVPackPrice}
			if it.Quantity != r.Quantity {
				noun := "packs"
				if packs == 1 {
					noun = "pack"
				}
				it.Adjustment = ptr(fmt.Sprintf("rounded up to %d %s of %d", packs, noun, c.MUVPackSize))
			}
		case "":
			ve.Add(field+".product", "is required (wa_balance or muv)")
		default:
			ve.Add(field+".product", "unknown product %q (wa_balance or muv)", r.Product)
		}
		items = append(items, it)
		subtotal += it.Amount
	}
	if err := ve.Err(); err != nil {
		return nil, Totals{}, err
	}
	l := c.Tax(subtotal)
	return items, Totals{Subtotal: subtotal, VAT: l.VAT, Total: l.Total}, nil
}

// CardFee is the card surcharge on what a card attempt charges: the
// invoice total (subtotal + VAT), less what the buyer withholds.
func (c Catalog) CardFee(total int64) int64 {
	return RoundRupiah(decimal.NewFromInt(total).Mul(c.CardFeeRate))
}

// RoundRupiah rounds half-up to whole rupiah. Amounts are never negative
// here, so shopspring's half-away-from-zero Round is half-up.
func RoundRupiah(d decimal.Decimal) int64 {
	return d.Round(0).IntPart()
}

// Deadline is when an invoice issued at issued stops being payable: 23:59:00
// on the next calendar day in loc, whatever the server's own zone. Returned
// in UTC, as stored.
func Deadline(issued time.Time, loc *time.Location) time.Time {
	l := issued.In(loc)
	y, m, d := l.Date()
	return time.Date(y, m, d+1, 23, 59, 0, 0, loc).UTC()
}

func ptr[T any](v T) *T { return &v }
