package templates

import (
	"strings"
	"testing"
)

func TestParseChecksEveryTemplate(t *testing.T) {
	s, err := Parse()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds() {
		for _, l := range Locales() {
			subj, text, html, err := s.Render(k, l, Sample())
			if err != nil {
				t.Fatal(err)
			}
			want := "INV-2026-000001"
			switch k {
			case "low_balance": // an account mail: no invoice
				want = Sample().Remaining
			case "people_link": // a person's link: no invoice
				want = Sample().Link
			}
			if subj == "" || !strings.Contains(text, want) || !strings.Contains(html, want) {
				t.Errorf("%s.%s: subject %q, text %q", k, l, subj, text)
			}
		}
	}
}

func TestHTMLEscapesUserText(t *testing.T) {
	s, err := Parse()
	if err != nil {
		t.Fatal(err)
	}
	d := Sample()
	d.Reason = `<script>alert(1)</script>`
	_, _, html, err := s.Render("rejection", "en", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<script>") {
		t.Error("reason not escaped in HTML")
	}
}
