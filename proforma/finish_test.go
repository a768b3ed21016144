package proforma

import (
	"strings"
	"testing"
)

// What a finance person missed on the proforma (the finish issue): a unit
// price per line, a way to pay on the UNPAID one (the pay page and the
// account to transfer to), the refund on a PAID one re-rendered after a
// reversal, and NPWPs in Coretax's 16 digits.
func TestProformaFinish(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	render := func(d Data) string {
		t.Helper()
		pdf, err := r.Render(d)
		if err != nil {
			t.Fatal(err)
		}
		return pdftotext(t, pdf)
	}
	paid := render(paidCard("id"))
	for _, want := range []string{"Harga satuan", "Rp1", "Rp600", "NPWP: 0012345678901000", "0023456789012000"} {
		if !strings.Contains(paid, want) {
			t.Errorf("PAID lacks %q:\n%s", want, paid)
		}
	}
	if strings.Contains(paid, "Dikembalikan") || strings.Contains(paid, "Bayar daring") {
		t.Errorf("a PAID proforma with nothing refunded shows a refund or a way to pay:\n%s", paid)
	}

	u := unpaidVA("id")
	u.Instructions = append(u.Instructions, "Transfer bank ke BCA 1234567890 a.n. PT Lunas Contoh Indonesia, berita INV-2026-000042 (Rp1.776.000)")
	u.PayURL = "https://billing.example.co.id/pay/ord_x.abc"
	unpaid := render(u)
	for _, want := range []string{"Cara pembayaran", "12345678901", "BCA 1234567890", "Bayar daring: https://billing.example.co.id/pay/ord_x.abc"} {
		if !strings.Contains(unpaid, want) {
			t.Errorf("UNPAID lacks %q:\n%s", want, unpaid)
		}
	}

	half := paidCard("id")
	half.Refunded = 888_000
	partly := render(half)
	for _, want := range []string{"Dikembalikan", "-Rp888.000", "dikembalikan sebagian Rp888.000", "LUNAS"} {
		if !strings.Contains(partly, want) {
			t.Errorf("a partly refunded PAID proforma lacks %q:\n%s", want, partly)
		}
	}
	all := paidCard("en")
	all.Refunded = all.Total
	whole := render(all)
	if !strings.Contains(whole, "REFUNDED") || !strings.Contains(whole, "-Rp1.838.160") {
		t.Errorf("a fully refunded PAID proforma is not stamped REFUNDED:\n%s", whole)
	}

	for _, tc := range []struct{ amount, qty int64 }{{600_000, 1_000}, {1_000_000, 1_000_000}, {1, 3}, {250_000, 1}} {
		t.Logf("%d / %d = %s", tc.amount, tc.qty, unitPrice(tc.amount, tc.qty, "id"))
	}
	if got := unitPrice(1, 3, "id"); got != "Rp0,33" {
		t.Errorf("unit price 1/3 = %q, want Rp0,33", got)
	}
	if got := unitPrice(600_000, 1_000, "en"); got != "Rp600" {
		t.Errorf("unit price 600,000/1,000 = %q", got)
	}
	if got := NPWP16("01.234.567.8-901.000"); got != "0012345678901000" {
		t.Errorf("NPWP16 = %q", got)
	}
}
