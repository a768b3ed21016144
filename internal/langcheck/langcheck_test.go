package langcheck

import (
	"strings"
	"testing"
)

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		locale, text string
		want         []string
	}{
		{"id", "Saldo dikembalikan Rp888.000 dari Rp1.776.000", nil},
		{"id", "refund: 888000 of 1776000 taken back", []string{"REFUND", "TAKEN BACK"}},
		{"id", "1.000 visitor", []string{"VISITOR"}},
		{"id", "⟦mail.instructions⟧", []string{"⟦mail.instructions⟧"}},
		{"en", "refund of 888,000 taken back", nil},
		{"en", "⟦mail.reminder⟧", []string{"⟦mail.reminder⟧"}},
		{"id", "/console/orders?status=paid INV-2026-000001 BCA Virtual Account", nil},
	} {
		got := Problems(tc.locale, tc.text)
		if len(got) != len(tc.want) {
			t.Errorf("%s %q: %v, want %v", tc.locale, tc.text, got, tc.want)
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s %q: %v, want %v", tc.locale, tc.text, got, tc.want)
			}
		}
	}
	if s := Text(`<p>Halo <b>Sari</b></p><script>var refund=1</script>`); strings.TrimSpace(s) != "Halo Sari" {
		t.Errorf("Text = %q", s)
	}
}
