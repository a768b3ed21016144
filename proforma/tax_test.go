package proforma

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// paidWithholding is the paid card order priced under DPP nilai lain for a
// buyer that withholds PPh 23 and paid by VA: subtotal 1,600,000, DPP
// 1,466,667, PPN 12 % 176,000, total 1,776,000, PPh 23 2 % 32,000, paid
// 1,744,000.
func paidWithholding(locale string) Data {
	d := paidCard(locale)
	d.TaxBase, d.VATRate = 1_466_667, decimal.RequireFromString("0.12")
	d.CardFee, d.Total = 0, 1_776_000
	d.Withheld, d.WithholdingRate = 32_000, decimal.RequireFromString("0.02")
	d.PaidMethod, d.PaidReference = LocalMethodName("bca_va", locale), "ref-0001"
	return d
}

var taxLines = map[string][]string{
	"id": {"DPP Nilai Lain (11/12 × subtotal)", "Rp1.466.667", "PPN 12%", "Rp176.000", "Total", "Rp1.776.000",
		"PPh 23 (2%) dipotong pembeli", "-Rp32.000", "Jumlah yang harus dibayar", "Rp1.744.000",
		"Terbilang: Satu juta tujuh ratus empat puluh empat ribu rupiah"},
	"en": {"Other tax base (DPP nilai lain, 11/12 of subtotal)", "Rp1.466.667", "VAT 12%", "Rp176.000", "Total", "Rp1.776.000",
		"PPh 23 (2%) withheld by the buyer", "-Rp32.000", "Amount to pay", "Rp1.744.000",
		"In words: One million seven hundred forty-four thousand rupiah"},
}

// The proforma of a DPP nilai lain order with PPh 23 withheld shows the
// other tax base, PPN 12 %, the deduction and what the buyer pays, in the
// order's language, against testdata/paid_withholding_LOCALE.txt (run
// go test ./proforma -update to rewrite it).
func TestPaidWithholdingGolden(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	for _, locale := range []string{"id", "en"} {
		pdf, err := r.RenderUTF8(paidWithholding(locale))
		if err != nil {
			t.Fatal(err)
		}
		txt := pdftotext(t, pdf)
		for _, want := range taxLines[locale] {
			if !strings.Contains(txt, want) {
				t.Errorf("%s: text lacks %q:\n%s", locale, want, txt)
			}
		}
		for _, bad := range foreignWords[locale] {
			if strings.Contains(txt, bad) {
				t.Errorf("%s document says %q", locale, bad)
			}
		}
		golden := filepath.Join("testdata", "paid_withholding_"+locale+".txt")
		if *update {
			if err := os.WriteFile(golden, []byte(txt), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./proforma -update)", err)
		}
		if string(want) != txt {
			t.Errorf("text differs from %s (run with -update if the change is meant):\n%s", golden, txt)
		}
	}
}
