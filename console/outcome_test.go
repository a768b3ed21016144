package console

import (
	"strings"
	"testing"

	"github.com/lunas-id/lunas/internal/langcheck"
)

// Each outcome line payment records reads in Indonesian with rupiah
// amounts (the finish issue: "refund: 888000 of 1776000 taken back…").
func TestOutcomesInTheirLanguage(t *testing.T) {
	for _, tc := range []struct{ line, id string }{
		{"settled", "dilunasi"},
		{"amount mismatch: paid 1100000 IDR, attempt is 1110000 IDR", "jumlah berbeda: dibayar Rp1.100.000, tagihan Rp1.110.000"},
		{"refund: 888000 of 1776000 taken back; reversed wa_balance 500000, muv 500 (now wa_balance 500000, outstanding 0, muv 500)",
			"pengembalian dana: Rp888.000 dari Rp1.776.000 ditarik kembali; saldo WhatsApp dikurangi Rp500.000, pengunjung 500 (kini saldo WhatsApp Rp500.000, utang Rp0, pengunjung 500)"},
		{"chargeback of 1776000 already reversed (888000 of 1776000 taken back)", "sanggahan kartu (chargeback) Rp1.776.000 sudah dicatat (Rp888.000 dari Rp1.776.000 ditarik kembali)"},
		{"settlement after paid: ignored (forward-only)", "settlement setelah paid: diabaikan (status tidak mundur)"},
		{"attempt failed: USER_DECLINED_PAYMENT", "percobaan bayar gagal: USER_DECLINED_PAYMENT"},
		{"something new", "something new"},
	} {
		if got := outcome("id", tc.line); got != tc.id {
			t.Errorf("%q:\n got %q\nwant %q", tc.line, got, tc.id)
		}
		if tc.line != "something new" && !strings.Contains(tc.line, " after ") {
			for _, p := range langcheck.Problems("id", outcome("id", tc.line)) {
				t.Errorf("%q: %s", tc.line, p)
			}
		}
	}
	if got := outcome("en", "amount mismatch: paid 1100000 IDR, attempt is 1110000 IDR"); got != "amount differs: paid Rp1.100.000, billed Rp1.110.000" {
		t.Errorf("en: %q", got)
	}
}

// Pricing's notes on an order line read in the page's language.
func TestAdjustmentsInTheirLanguage(t *testing.T) {
	for _, tc := range []struct{ note, id string }{
		{"raised to the minimum top-up of 1000000", "dinaikkan ke batas terendah isi saldo Rp1.000.000"},
		{"rounded up to 2 packs of 500", "dibulatkan ke 2 paket isi 500"},
		{"raised to the minimum top-up of 1000000, then rounded up to a multiple of 50000", "dinaikkan ke batas terendah isi saldo Rp1.000.000, lalu dibulatkan ke kelipatan Rp50.000"},
	} {
		if got := adjustment("id", tc.note); got != tc.id {
			t.Errorf("%q:\n got %q\nwant %q", tc.note, got, tc.id)
		}
		for _, p := range langcheck.Problems("id", adjustment("id", tc.note)) {
			t.Errorf("%q: %s", tc.note, p)
		}
	}
}
