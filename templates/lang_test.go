package templates_test

import (
	"testing"

	"github.com/lunas-id/lunas/internal/langcheck"
	"github.com/lunas-id/lunas/templates"
)

// Every mail, in both languages, as its reader sees it: no raw key, and no
// English word in the Indonesian one (the finish issue: "Payment gateway
// … (refund)" in an Indonesian refund mail).
func TestMailsSpeakTheirLanguage(t *testing.T) {
	set, err := templates.Parse()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range templates.Kinds() {
		for _, locale := range templates.Locales() {
			d := templates.Sample()
			if locale == "id" {
				// What a person typed (a rejection reason) is theirs.
				d.Reason = "jumlah transfer berbeda"
			}
			for _, refundKind := range []string{"refund", "chargeback"} {
				d.RefundKind = refundKind
				subject, text, html, err := set.Render(kind, locale, d)
				if err != nil {
					t.Fatal(err)
				}
				for part, s := range map[string]string{"subject": subject, "text": text, "html": langcheck.Text(html)} {
					for _, p := range langcheck.Problems(locale, s) {
						t.Errorf("%s.%s %s: %s", kind, locale, part, p)
					}
				}
			}
		}
	}
}
