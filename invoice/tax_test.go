package invoice

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/tax"
)

// Under DPP nilai lain (the default) an order's VAT is 12 % of a tax base
// of 11/12 of the subtotal, each rounded half-up once. Wherever the law
// gives the same amount as the old 11 % of the subtotal — every subtotal
// the catalog makes of whole hundreds of rupiah, and most others — the
// totals are today's; where the two roundings part, by 1 rupiah.
func TestPriceDPPNilaiLainEqualsTodaysTotals(t *testing.T) {
	t.Parallel()
	dpp, simple := DefaultCatalog(), DefaultCatalog()
	simple.TaxMode = tax.ModeSimple
	for _, c := range []struct {
		subtotal, taxBase, vat, simpleVAT int64
	}{
		{1_000_000, 916_667, 110_000, 110_000},               // 916,666.67 rounds up; 110,000.04 rounds down
		{1_600_000, 1_466_667, 176_000, 176_000},             // API.md's example order
		{1_234_567, 1_131_686, 135_802, 135_802},             // 1,131,686.08; 135,802.32
		{1_234_550, 1_131_671, 135_801, 135_801},             // 1,131,670.83; 135,800.52: both round up
		{2_000_077, 1_833_404, 220_008, 220_008},             // 1,833,403.92; 220,008.48
		{1_000_032, 916_696, 110_004, 110_004},               // 916,696 exactly
		{1_000_077, 916_737, 110_008, 110_008},               // one-step 110,008.47
		{999_999_977, 916_666_646, 109_999_998, 109_999_997}, // the two roundings part by 1
	} {
		l := dpp.Tax(c.subtotal)
		if l.TaxBase != c.taxBase || l.VAT != c.vat || !l.VATRate.Equal(decimal.New(12, -2)) || l.Total != c.subtotal+c.vat {
			t.Errorf("%d: tax base %d vat %d rate %s total %d, want %d %d 0.12", c.subtotal, l.TaxBase, l.VAT, l.VATRate, l.Total, c.taxBase, c.vat)
		}
		s := simple.Tax(c.subtotal)
		if s.TaxBase != c.subtotal || s.VAT != c.simpleVAT || !s.VATRate.Equal(decimal.New(11, -2)) {
			t.Errorf("%d simple: tax base %d vat %d rate %s, want the subtotal, %d, 0.11", c.subtotal, s.TaxBase, s.VAT, s.VATRate, c.simpleVAT)
		}
	}
	// Every order the catalog can price from whole packs and top-ups of
	// whole hundreds has today's total.
	for wa := int64(1_000_000); wa <= 3_000_000; wa += 100 {
		for packs := int64(0); packs <= 3; packs++ {
			reqs := []order.ItemRequest{{Product: order.ProductWABalance, Quantity: wa}}
			if packs > 0 {
				reqs = append(reqs, order.ItemRequest{Product: order.ProductMUV, Quantity: packs * 500})
			}
			_, a, err := dpp.Price(reqs)
			if err != nil {
				t.Fatal(err)
			}
			_, b, _ := simple.Price(reqs)
			if a != b {
				t.Fatalf("%v: dpp %+v, simple %+v", reqs, a, b)
			}
		}
	}
}
