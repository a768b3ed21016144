package invoice

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
)

// Products sold by lunas.
const (
	ProductWABalance = "wa_balance"
	ProductMUV       = "muv"
)

// Catalog holds the configurable pricing rules of DESIGN.md.
type Catalog struct {
	WAMinTopUp   int64           // minimum WhatsApp balance top-up, IDR
	WATopUpStep  int64           // when > 0, WhatsApp top-ups are rounded up to a multiple of it (LUNAS_WA_TOPUP_STEP)
	MUVPackSize  int64           // visitors per pack
	MUVPackPrice int64           // IDR per pack
	VATRate      decimal.Decimal // on the subtotal
	CardFeeRate  decimal.Decimal // on subtotal + VAT, card payments only
}

// DefaultCatalog is DESIGN.md's default catalog.
func DefaultCatalog() Catalog {
	return Catalog{
		WAMinTopUp: 1_000_000, MUVPackSize: 500, MUVPackPrice: 300_000,
		VATRate: decimal.RequireFromString("0.11"), CardFeeRate: decimal.RequireFromString("0.035"),
	}
}

// ItemRequest is one requested line.
type ItemRequest struct {
	Product  string `json:"product"`
	Quantity int64  `json:"quantity"`
}

// Item is one priced line.
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

// Totals is what an order costs.
type Totals struct {
	Subtotal int64
	VAT      int64
	Total    int64
}

// maxQuantity keeps every product of quantity and price far inside int64.
const maxQuantity = 1_000_000_000_000

// Price prices requested lines. Every bad line is reported at once, with the
// field named as items[i].product or items[i].quantity.
func (c Catalog) Price(reqs []ItemRequest) ([]Item, Totals, error) {
	var ve lunas.ValidationError
	if len(reqs) == 0 {
		ve.Add("items", "at least one item is required")
	}
	if len(reqs) > 50 {
		ve.Add("items", "at most 50 items")
	}
	items := make([]Item, 0, len(reqs))
	var subtotal int64
	for i, r := range reqs {
		field := fmt.Sprintf("items[%d]", i)
		if r.Quantity <= 0 {
			ve.Add(field+".quantity", "must be a positive whole number")
		} else if r.Quantity > maxQuantity {
			ve.Add(field+".quantity", "must be at most %d", int64(maxQuantity))
		}
		var it Item
		switch r.Product {
		case ProductWABalance:
			it = Item{Product: r.Product, Unit: "IDR", RequestedQuantity: r.Quantity, Quantity: r.Quantity}
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
		case ProductMUV:
			packs := (r.Quantity + c.MUVPackSize - 1) / c.MUVPackSize
			if packs < 1 {
				packs = 1
			}
			it = Item{Product: r.Product, Unit: "visitor", RequestedQuantity: r.Quantity, Quantity: packs * c.MUVPackSize, Amount: packs * c.MUVPackPrice}
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
	vat := RoundRupiah(decimal.NewFromInt(subtotal).Mul(c.VATRate))
	return items, Totals{Subtotal: subtotal, VAT: vat, Total: subtotal + vat}, nil
}

// CardFee is the card surcharge on an invoice total (subtotal + VAT).
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
