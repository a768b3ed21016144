package mail

import (
	"bytes"
	"io"
	"testing"

	gomail "github.com/wneessen/go-mail"

	"github.com/lunas-id/lunas/templates"
)

// BenchmarkBuild renders a confirmation from the templates into a message
// with a 40 KB PDF attached and writes it out, as a send does.
func BenchmarkBuild(b *testing.B) {
	tpl, err := templates.Parse()
	if err != nil {
		b.Fatal(err)
	}
	pdf := bytes.Repeat([]byte("%PDF-1.3 lunas "), 40<<10/15)
	d := templates.Sample()
	b.ReportAllocs()
	for b.Loop() {
		subject, text, html, err := tpl.Render("confirmation", "id", d)
		if err != nil {
			b.Fatal(err)
		}
		m := gomail.NewMsg()
		_ = m.From("lunas <billing@localhost>")
		_ = m.To("sari@acme.example")
		m.Subject(subject)
		m.SetBodyString(gomail.TypeTextPlain, text)
		m.AddAlternativeString(gomail.TypeTextHTML, html)
		if err := m.AttachReader("INV-2026-000001.pdf", bytes.NewReader(pdf)); err != nil {
			b.Fatal(err)
		}
		if _, err := m.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
