package invoice

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/order"
)

func TestPriceIssueExample(t *testing.T) {
	t.Parallel()
	items, tot, err := DefaultCatalog().Price([]order.ItemRequest{{Product: order.ProductWABalance, Quantity: 999_000}, {Product: order.ProductMUV, Quantity: 700}})
	if err != nil {
		t.Fatal(err)
	}
	if items[0].Quantity != 1_000_000 || items[0].Amount != 1_000_000 || items[0].Adjustment == nil {
		t.Errorf("wa line = %+v", items[0])
	}
	if items[1].Quantity != 1000 || items[1].Amount != 600_000 || *items[1].Adjustment != "rounded up to 2 packs of 500" {
		t.Errorf("muv line = %+v", items[1])
	}
	if tot != (Totals{Subtotal: 1_600_000, VAT: 176_000, Total: 1_776_000}) {
		t.Errorf("totals = %+v", tot)
	}
}

func TestPriceLines(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		req         order.ItemRequest
		qty, amount int64
		adjusted    bool
	}{
		{"wa exactly minimum", order.ItemRequest{Product: order.ProductWABalance, Quantity: 1_000_000}, 1_000_000, 1_000_000, false},
		{"wa below minimum", order.ItemRequest{Product: order.ProductWABalance, Quantity: 1}, 1_000_000, 1_000_000, true},
		{"wa above minimum", order.ItemRequest{Product: order.ProductWABalance, Quantity: 1_234_567}, 1_234_567, 1_234_567, false},
		{"muv one visitor", order.ItemRequest{Product: order.ProductMUV, Quantity: 1}, 500, 300_000, true},
		{"muv one pack", order.ItemRequest{Product: order.ProductMUV, Quantity: 500}, 500, 300_000, false},
		{"muv 501", order.ItemRequest{Product: order.ProductMUV, Quantity: 501}, 1000, 600_000, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			items, _, err := DefaultCatalog().Price([]order.ItemRequest{tc.req})
			if err != nil {
				t.Fatal(err)
			}
			it := items[0]
			if it.Quantity != tc.qty || it.Amount != tc.amount || (it.Adjustment != nil) != tc.adjusted {
				t.Errorf("got %+v", it)
			}
		})
	}
}

func TestPriceVATRoundsHalfUpOnce(t *testing.T) {
	t.Parallel()
	c := DefaultCatalog()
	// 1,234,567 × 0.11 = 135,802.37 → 135,802; 1,234,550 × 0.11 = 135,800.5 → 135,801 (half-up).
	for _, tc := range []struct{ sub, vat int64 }{{1_234_567, 135_802}, {1_234_550, 135_801}} {
		_, tot, err := c.Price([]order.ItemRequest{{Product: order.ProductWABalance, Quantity: tc.sub}})
		if err != nil {
			t.Fatal(err)
		}
		if tot.VAT != tc.vat || tot.Total != tc.sub+tc.vat {
			t.Errorf("sub %d: %+v, want VAT %d", tc.sub, tot, tc.vat)
		}
	}
	// Card fee: 3.5 % of 1,110,000 = 38,850 → total 1,148,850.
	if fee := c.CardFee(1_110_000); fee != 38_850 {
		t.Errorf("card fee = %d", fee)
	}
	// half-up at .5: 0.035 × 100 = 3.5 → 4.
	if fee := c.CardFee(100); fee != 4 {
		t.Errorf("card fee(100) = %d, want 4", fee)
	}
	if RoundRupiah(decimal.RequireFromString("2.5")) != 3 {
		t.Error("RoundRupiah(2.5) != 3")
	}
}

func TestPriceReportsEveryBadField(t *testing.T) {
	t.Parallel()
	_, _, err := DefaultCatalog().Price([]order.ItemRequest{{Product: "gold", Quantity: 1}, {Product: order.ProductMUV, Quantity: 0}, {Product: order.ProductWABalance, Quantity: -5}})
	var ve *lunas.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := map[string]bool{"items[0].product": true, "items[1].quantity": true, "items[2].quantity": true}
	if len(ve.Fields) != len(want) {
		t.Fatalf("fields = %+v", ve.Fields)
	}
	for _, f := range ve.Fields {
		if !want[f.Field] {
			t.Errorf("unexpected field %q", f.Field)
		}
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	jkt, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	cases := []struct {
		name, issued, want string
	}{
		{"issue example", "2026-11-22T10:00:00+07:00", "2026-11-23T23:59:00+07:00"},
		{"local midnight", "2026-11-22T00:00:00+07:00", "2026-11-23T23:59:00+07:00"},
		{"last second of day", "2026-11-22T23:59:59+07:00", "2026-11-23T23:59:00+07:00"},
		{"end of month", "2026-11-30T15:00:00+07:00", "2026-12-01T23:59:00+07:00"},
		{"end of february leap", "2028-02-28T08:00:00+07:00", "2028-02-29T23:59:00+07:00"},
		{"end of year", "2026-12-31T23:00:00+07:00", "2027-01-01T23:59:00+07:00"},
		{"UTC evening is next day in Jakarta", "2026-11-22T18:30:00Z", "2026-11-24T23:59:00+07:00"},
		{"given in New York time", "2026-11-22T08:00:00-05:00", "2026-11-23T23:59:00+07:00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			issued, _ := time.Parse(time.RFC3339, tc.issued)
			want, _ := time.Parse(time.RFC3339, tc.want)
			// The server's own zone must not matter: feed the instant in several zones.
			for _, in := range []*time.Location{time.UTC, ny, jkt, time.Local} {
				got := Deadline(issued.In(in), jkt)
				if !got.Equal(want) {
					t.Errorf("issued %s (as %s): got %s, want %s", tc.issued, in, got.In(jkt).Format(time.RFC3339), tc.want)
				}
			}
		})
	}
}

func BenchmarkPrice(b *testing.B) {
	c := DefaultCatalog()
	reqs := []order.ItemRequest{{Product: order.ProductWABalance, Quantity: 999_000}, {Product: order.ProductMUV, Quantity: 700}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Price(reqs); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPriceWATopUpStep(t *testing.T) {
	t.Parallel()
	c := DefaultCatalog()
	c.WATopUpStep = 500_000
	for _, tc := range []struct {
		req, want int64
		note      string
	}{
		{1_000_000, 1_000_000, ""},
		{1_200_000, 1_500_000, "rounded up to a multiple of 500000"},
		{2_500_000, 2_500_000, ""},
		{2_500_001, 3_000_000, "rounded up to a multiple of 500000"},
		{1, 1_000_000, "raised to the minimum top-up of 1000000"},
	} {
		items, _, err := c.Price([]order.ItemRequest{{Product: order.ProductWABalance, Quantity: tc.req}})
		if err != nil {
			t.Fatal(err)
		}
		it := items[0]
		got := ""
		if it.Adjustment != nil {
			got = *it.Adjustment
		}
		if it.Quantity != tc.want || it.Amount != tc.want || got != tc.note {
			t.Errorf("%d: quantity %d amount %d adjustment %q; want %d %q", tc.req, it.Quantity, it.Amount, got, tc.want, tc.note)
		}
	}
	c.WAMinTopUp = 700_000 // a minimum that is not a multiple of the step
	items, _, _ := c.Price([]order.ItemRequest{{Product: order.ProductWABalance, Quantity: 10}})
	if items[0].Quantity != 1_000_000 || *items[0].Adjustment != "raised to the minimum top-up of 700000, then rounded up to a multiple of 500000" {
		t.Errorf("minimum then step: %+v %s", items[0], *items[0].Adjustment)
	}
}
