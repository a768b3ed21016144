package tax

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// The expected values were worked out by hand (and checked with exact
// fractions), not by the code under test.
func TestComputeDPPNilaiLain(t *testing.T) {
	t.Parallel()
	r := DefaultRules()
	for _, c := range []struct {
		subtotal, taxBase, vat, pph23 int64
	}{
		{0, 0, 0, 0},
		{1, 1, 0, 0},     // 0.9167 → 1; 0.12 → 0
		{2, 2, 0, 0},     // 1.8333 → 2
		{5, 5, 1, 0},     // 4.5833 → 5; 0.60 → 1
		{6, 6, 1, 0},     // 5.5 exactly → 6 (half-up); 0.72 → 1
		{7, 6, 1, 0},     // 6.4167 → 6
		{11, 10, 1, 0},   // 10.0833 → 10; 1.20 → 1
		{12, 11, 1, 0},   // exact
		{18, 17, 2, 0},   // 16.5 → 17; 2.04 → 2
		{25, 23, 3, 1},   // pph 0.5 → 1 (half-up)
		{32, 29, 3, 1},   // 29.333 → 29; 3.48 → 3 (one-step 11 % gives 3.52 → 4)
		{77, 71, 9, 2},   // 70.583 → 71; 8.52 → 9 (one-step 8.47 → 8)
		{100, 92, 11, 2}, // 91.667 → 92; 11.04 → 11
		{100001, 91668, 11000, 2000},
		{999999, 916666, 110000, 20000},   // 916665.75 → 916666; 109999.92 → 110000
		{1000000, 916667, 110000, 20000},  // 916666.67 → 916667; 110000.04 → 110000
		{1600000, 1466667, 176000, 32000}, // 1466666.67 → 1466667; 176000.04 → 176000
		{1776000, 1628000, 195360, 35520}, // exact
		{1900000, 1741667, 209000, 38000}, // research notes' example invoice
		{2000077, 1833404, 220008, 40002}, // 1833403.92 → 1833404; 220008.48 → 220008
		{3000000, 2750000, 330000, 60000}, // exact
		{123456789, 113168723, 13580247, 2469136},
		{999999999977, 916666666646, 109999999998, 20000000000}, // one-step 11 % gives …997
	} {
		l := r.Compute(c.subtotal, true)
		if l.Subtotal != c.subtotal || l.TaxBase != c.taxBase || l.VAT != c.vat || !l.VATRate.Equal(decimal.RequireFromString("0.12")) {
			t.Errorf("%d: tax base %d vat %d rate %s, want %d %d 0.12", c.subtotal, l.TaxBase, l.VAT, l.VATRate, c.taxBase, c.vat)
		}
		if l.Total != c.subtotal+c.vat {
			t.Errorf("%d: total %d", c.subtotal, l.Total)
		}
		if c.pph23 == 0 {
			if l.Withholding != nil || l.Payable != l.Total {
				t.Errorf("%d: nothing to withhold, got %+v payable %d", c.subtotal, l.Withholding, l.Payable)
			}
		} else {
			w := l.Withholding
			if w == nil || w.Kind != PPh23 || w.Base != c.subtotal || w.Amount != c.pph23 || !w.Rate.Equal(decimal.RequireFromString("0.02")) {
				t.Errorf("%d: withholding %+v, want %d", c.subtotal, w, c.pph23)
			} else if l.Payable != l.Total-c.pph23 {
				t.Errorf("%d: payable %d", c.subtotal, l.Payable)
			}
		}
		// A buyer that does not withhold pays the total.
		if l := r.Compute(c.subtotal, false); l.Withholding != nil || l.Payable != l.Total || l.VAT != c.vat {
			t.Errorf("%d without withholding: %+v", c.subtotal, l)
		}
	}
	// The zero Rules are DPP nilai lain too (its rates are the law's).
	if l := (Rules{}).Compute(1000000, false); l.TaxBase != 916667 || l.VAT != 110000 {
		t.Errorf("zero rules: %+v", l)
	}
}

func TestComputeSimple(t *testing.T) {
	t.Parallel()
	r := DefaultRules()
	r.Mode = ModeSimple
	for _, c := range []struct{ subtotal, vat int64 }{
		{0, 0}, {1, 0}, {5, 1}, {32, 4}, {50, 6}, {77, 8}, {100001, 11000}, {1000000, 110000}, {1776000, 195360},
	} {
		l := r.Compute(c.subtotal, false)
		if l.TaxBase != c.subtotal || l.VAT != c.vat || !l.VATRate.Equal(decimal.RequireFromString("0.11")) || l.Total != c.subtotal+c.vat || l.Payable != l.Total {
			t.Errorf("simple %d: %+v, want vat %d", c.subtotal, l, c.vat)
		}
	}
	r.VATRate = decimal.RequireFromString("0.12")
	r.PPh23Rate = decimal.RequireFromString("0.04") // twice the rate, as for a payee without NPWP
	l := r.Compute(1000050, true)
	if l.VAT != 120006 || l.Withholding == nil || l.Withholding.Amount != 40002 || l.Payable != 1000050+120006-40002 {
		t.Errorf("simple 12 %%: %+v %+v", l, l.Withholding)
	}
}

// oneStep is lunas's VAT before this package: 11 % of the subtotal,
// rounded half-up once (invoice.Catalog.Price).
func oneStep(subtotal int64) int64 {
	return decimal.NewFromInt(subtotal).Mul(decimal.RequireFromString("0.11")).Round(0).IntPart()
}

// DPP nilai lain's VAT is today's 11 % wherever the law's two-step
// rounding gives the same amount, and never more than 1 rupiah from it.
func TestDPPNilaiLainAgainstOneStep(t *testing.T) {
	t.Parallel()
	r := DefaultRules()
	var diffs []string
	residues := map[int64]bool{}
	check := func(s int64) {
		got, old := r.Compute(s, false).VAT, oneStep(s)
		if got == old {
			return
		}
		if got-old > 1 || old-got > 1 {
			t.Errorf("subtotal %d: two-step VAT %d, one-step %d: more than 1 rupiah apart", s, got, old)
		}
		// 300 rupiah more adds exactly 275 to the tax base and 33 to both
		// VATs, so whether they differ depends on the subtotal mod 300 only.
		residues[s%300] = true
		diffs = append(diffs, fmt.Sprintf("%d:%+d", s, got-old))
	}
	for s := int64(0); s <= 200000; s++ {
		check(s)
	}
	t.Logf("0…200000: %d subtotals where the two-step VAT differs from 11 %% (subtotal:difference):", len(diffs))
	for i := 0; i < len(diffs); i += 20 {
		t.Log(strings.Join(diffs[i:min(i+20, len(diffs))], " "))
	}
	if len(diffs) == 0 {
		t.Error("no difference at all: the two-step rounding is not applied")
	}
	var rs []int64
	for r := range residues {
		rs = append(rs, r)
		if r%100 == 0 {
			t.Errorf("a multiple of 100 rupiah (residue %d mod 300) differs", r)
		}
	}
	slices.Sort(rs)
	t.Logf("they are the subtotals ≡ %v (mod 300); a subtotal in whole hundreds never differs", rs)
	diffs = diffs[:0]
	seed := uint64(20250101)
	rng := rand.New(rand.NewPCG(seed, seed))
	const samples = 200000
	for range samples {
		check(rng.Int64N(1_000_000_000_001))
	}
	if len(residues) != len(rs) {
		t.Errorf("the random sample differs at residues mod 300 the exhaustive range did not: %v", residues)
	}
	t.Logf("%d random subtotals up to 10^12 (seed %d): %d differ by 1 rupiah: %s", samples, seed, len(diffs), strings.Join(diffs[:min(20, len(diffs))], " "))
}

func TestRulesConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want Mode
		ok   bool
	}{{"", ModeDPPNilaiLain, true}, {"dpp_nilai_lain", ModeDPPNilaiLain, true}, {" simple ", ModeSimple, true}, {"Simple", "", false}, {"ppn12", "", false}} {
		m, err := ParseMode(c.in)
		if m != c.want || (err == nil) != c.ok {
			t.Errorf("ParseMode(%q) = %q, %v", c.in, m, err)
		}
	}
	if err := DefaultRules().Validate(); err != nil {
		t.Error(err)
	}
	bad := Rules{Mode: "x", VATRate: decimal.NewFromInt(1), PPh23Rate: decimal.RequireFromString("-0.02")}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "mode") || !strings.Contains(err.Error(), "VAT rate") || !strings.Contains(err.Error(), "PPh 23 rate") {
		t.Errorf("bad rules: %v", err)
	}
}
