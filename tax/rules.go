package tax

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Mode is how PPN is computed on an order (LUNAS_TAX_INVOICE_MODE).
type Mode string

const (
	// ModeDPPNilaiLain is PMK 131/2024 for non-luxury goods and services
	// from 2025-01-01: PPN 12 % on a tax base ("DPP nilai lain") of 11/12
	// of the price, invoiced with transaction code 04. The default.
	ModeDPPNilaiLain Mode = "dpp_nilai_lain"
	// ModeSimple is PPN at a flat rate (LUNAS_VAT_RATE) on the whole
	// subtotal: lunas's rule before the tax base was shown.
	ModeSimple Mode = "simple"
)

// Modes is the set of valid Mode values; the first is the default.
func Modes() []Mode { return []Mode{ModeDPPNilaiLain, ModeSimple} }

// ParseMode reads LUNAS_TAX_INVOICE_MODE: empty is the default.
func ParseMode(s string) (Mode, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Modes()[0], nil
	}
	for _, m := range Modes() {
		if Mode(s) == m {
			return m, nil
		}
	}
	var names []string
	for _, m := range Modes() {
		names = append(names, string(m))
	}
	return "", fmt.Errorf("unknown tax invoice mode %q (want %s)", s, strings.Join(names, " or "))
}

// WithholdingKind names the income tax a buyer withholds.
type WithholdingKind string

// PPh23 is income tax article 23, withheld by the buyer on a service fee
// (PMK 141/2015 "jasa lain": 2 % of the gross amount before PPN).
const PPh23 WithholdingKind = "pph23"

// Rules are the tax rates lunas is configured with.
type Rules struct {
	Mode Mode
	// VATRate is simple mode's PPN rate on the subtotal (LUNAS_VAT_RATE).
	// DPP nilai lain ignores it: 11/12 and 12 % are the law's.
	VATRate decimal.Decimal
	// PPh23Rate is what a withholding buyer deducts from the subtotal
	// (LUNAS_PPH23_RATE).
	PPh23Rate decimal.Decimal
}

// DefaultRules are API.md's defaults: DPP nilai lain, a simple-mode VAT of
// 11 %, PPh 23 at 2 %.
func DefaultRules() Rules {
	return Rules{Mode: ModeDPPNilaiLain, VATRate: decimal.New(11, -2), PPh23Rate: decimal.New(2, -2)}
}

// Validate reports a configuration that cannot price an order, for
// startup to refuse with a clear message.
func (r Rules) Validate() error {
	var bad []string
	if _, err := ParseMode(string(r.Mode)); err != nil {
		bad = append(bad, err.Error())
	}
	one := decimal.NewFromInt(1)
	if r.VATRate.IsNegative() || r.VATRate.GreaterThanOrEqual(one) {
		bad = append(bad, fmt.Sprintf("VAT rate %s is not in [0, 1)", r.VATRate))
	}
	if r.PPh23Rate.IsNegative() || r.PPh23Rate.GreaterThanOrEqual(one) {
		bad = append(bad, fmt.Sprintf("PPh 23 rate %s is not in [0, 1)", r.PPh23Rate))
	}
	if len(bad) > 0 {
		return fmt.Errorf("tax rules: %s", strings.Join(bad, "; "))
	}
	return nil
}

// The law's numbers for DPP nilai lain (PMK 131/2024): 12 % on 11/12.
const (
	dppNumerator   = 11
	dppDenominator = 12
	dppVATPercent  = 12
)

// Lines are an order's tax lines, as API.md's order object shows them.
type Lines struct {
	Subtotal int64
	// TaxBase is the DPP the VAT is computed on: 11/12 of the subtotal in
	// DPP nilai lain mode, the subtotal in simple mode.
	TaxBase int64
	VATRate decimal.Decimal // 0.12 in DPP nilai lain mode
	VAT     int64
	// Withholding is nil unless the buyer withholds and something is
	// withheld.
	Withholding *Withholding
	// Total is subtotal + VAT: the invoice amount (a card fee comes on top
	// on card attempts, computed by the caller on Total).
	Total int64
	// Payable is what the buyer pays: Total less the withholding.
	Payable int64
}

// Withholding is income tax the buyer deducts from its payment and pays to
// the state for the seller, proven by the slip it sends.
type Withholding struct {
	Kind   WithholdingKind
	Rate   decimal.Decimal
	Base   int64 // the subtotal: PPh 23 is on the fee before PPN
	Amount int64
}

// Compute gives an order's tax lines for a subtotal (whole rupiah, never
// negative) and whether the buyer withholds PPh 23. Each amount is
// rounded half-up to whole rupiah once, at the line where it arises:
//
//	DPP nilai lain: TaxBase = round(subtotal × 11/12), VAT = round(TaxBase × 12 %)
//	simple:         TaxBase = subtotal,                VAT = round(subtotal × VATRate)
//	withholding:    Amount  = round(subtotal × PPh23Rate)
//
// The two-step rounding of DPP nilai lain is the law's (the faktur shows
// the tax base, and the VAT must be 12 % of what it shows); it differs from
// a one-step 11 % by at most 1 rupiah, and only for some subtotals.
// A zero Mode is DPP nilai lain. When withholds is true but the amount
// rounds to 0 (a subtotal under 25 at 2 %) Withholding is nil: there is no
// slip to wait for.
func (r Rules) Compute(subtotal int64, withholds bool) Lines {
	l := Lines{Subtotal: subtotal}
	s := decimal.NewFromInt(subtotal)
	if r.Mode == ModeSimple {
		l.TaxBase = subtotal
		l.VATRate = r.VATRate
		l.VAT = halfUp(s.Mul(r.VATRate))
	} else {
		l.TaxBase = halfUpRatio(s.Mul(decimal.NewFromInt(dppNumerator)), decimal.NewFromInt(dppDenominator))
		l.VATRate = decimal.New(dppVATPercent, -2)
		l.VAT = halfUp(decimal.NewFromInt(l.TaxBase).Mul(l.VATRate))
	}
	l.Total = subtotal + l.VAT
	l.Payable = l.Total
	if withholds {
		if amount := halfUp(s.Mul(r.PPh23Rate)); amount != 0 {
			l.Withholding = &Withholding{Kind: PPh23, Rate: r.PPh23Rate, Base: subtotal, Amount: amount}
			l.Payable -= amount
		}
	}
	return l
}

// halfUp rounds x half-up (towards +∞ at exactly .5) to a whole number.
func halfUp(x decimal.Decimal) int64 {
	return x.Add(decimal.New(5, -1)).Floor().IntPart()
}

// halfUpRatio rounds num/den half-up to a whole number, exactly: a plain
// decimal division would first round the quotient to 16 places.
func halfUpRatio(num, den decimal.Decimal) int64 {
	q, r := num.QuoRem(den, 0)
	// QuoRem truncates towards zero; make q the floor (den > 0).
	if r.IsNegative() {
		q, r = q.Sub(decimal.NewFromInt(1)), r.Add(den)
	}
	if r.Mul(decimal.NewFromInt(2)).GreaterThanOrEqual(den) {
		q = q.Add(decimal.NewFromInt(1))
	}
	return q.IntPart()
}
