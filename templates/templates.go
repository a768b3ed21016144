// Package templates holds the mail templates (HTML and plain text, in
// Indonesian and English) embedded in the binary, parses them once at start
// and checks them against sample data, so a broken template stops start-up
// instead of a mail at 23:58.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

//go:embed mail/*.txt mail/*.html
var files embed.FS

// Kinds lists the mail kinds every set must have (a fresh slice).
func Kinds() []string {
	return []string{"billing", "confirmation", "rejection", "refund", "low_balance", "instructions", "reminder", "proof_received", "people_link"}
}

// Locales lists the languages every kind is written in.
func Locales() []string { return []string{"id", "en"} }

// Line is one order line as mailed.
type Line struct {
	Description, Quantity, Unit, Amount string
}

// Data is what a mail template sees. Amounts arrive formatted (Rp1.776.000).
type Data struct {
	SellerName    string
	RequesterName string
	AccountName   string
	InvoiceNumber string
	Lines         []Line
	Subtotal      string
	VAT           string
	CardFee       string
	Total         string
	ExpiresAt     string // "23-11-2026 23:59 WIB"
	Instructions  []string
	PDFLink       string
	PayURL        string // the order's pay page (unpaid orders' mails)
	// A received transfer proof: when it arrived, the amount the payer
	// declared, and the transfer's sender.
	ProofReceivedAt, ProofAmount, ProofSender string
	PaidAt                                    string
	Method                                    string
	Reason                                    string
	// A refund notice: this reversal's amount, the total returned so far
	// and what returned it (refund, chargeback, …).
	Refunded      string
	RefundedTotal string
	RefundKind    string
	// Low-balance alert: the balance's name and, formatted, what is left,
	// the alert threshold and the balance right after the last top-up.
	BalanceName string
	Remaining   string
	Threshold   string
	Reference   string
	// A subscription invoice: the plan's name, the period (YYYY-MM), the
	// due date ("20-12-2026"; empty for any other order) and, in a
	// reminder, how many days it is overdue (0: not yet).
	PlanName    string
	Period      string
	DueDate     string
	DaysOverdue int
	// A finance person's one-time welcome or reset link (kind
	// people_link): the link, the role, whether it resets, and whether the
	// page will enrol TOTP.
	Link      string
	Role      string
	LinkReset bool
	LinkTOTP  bool
}

// Sample is data that exercises every field; Parse executes every template with it.
func Sample() Data {
	return Data{SellerName: "PT Contoh", RequesterName: "Sari Dewi", AccountName: "Acme", InvoiceNumber: "INV-2026-000001",
		Lines: []Line{{"Saldo percakapan WhatsApp", "1.000.000", "IDR", "Rp1.000.000"}}, Subtotal: "Rp1.000.000", VAT: "Rp110.000",
		CardFee: "Rp38.850", Total: "Rp1.110.000", ExpiresAt: "23-11-2026 23:59 WIB", Instructions: []string{"BCA Virtual Account: 123"},
		PDFLink: "http://127.0.0.1:8080/v1/orders/x/proforma.pdf?sig=1", PayURL: "http://127.0.0.1:8080/pay/x.sig",
		ProofReceivedAt: "22-11-2026 10:05 WIB", ProofAmount: "Rp1.110.000", ProofSender: "Sari Dewi (BCA)", PaidAt: "22-11-2026 10:00 WIB", Method: "BCA Virtual Account", Reason: "amount differs",
		Refunded: "Rp555.000", RefundedTotal: "Rp555.000", RefundKind: "refund",
		BalanceName: "Saldo percakapan WhatsApp", Remaining: "Rp399.400", Threshold: "Rp400.000", Reference: "Rp1.000.000",
		PlanName: "Internet 20 Mbps", Period: "2026-12", DueDate: "20-12-2026", DaysOverdue: 3,
		Link: "https://billing.example.id/console/welcome/x", Role: "approver", LinkReset: true, LinkTOTP: true}
}

type pair struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// Set is the parsed templates.
type Set struct {
	t map[string]pair // kind.locale
}

// Parse parses the embedded templates and executes each with Sample data.
func Parse() (*Set, error) {
	s := &Set{t: map[string]pair{}}
	for _, k := range Kinds() {
		for _, l := range Locales() {
			name := k + "." + l
			tt, err := texttemplate.New(name+".txt").Option("missingkey=error").ParseFS(files, "mail/"+name+".txt")
			if err != nil {
				return nil, fmt.Errorf("templates: %s.txt: %w", name, err)
			}
			ht, err := htmltemplate.New(name+".html").Option("missingkey=error").ParseFS(files, "mail/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("templates: %s.html: %w", name, err)
			}
			if tt.Lookup("subject") == nil {
				return nil, fmt.Errorf("templates: %s.txt defines no subject", name)
			}
			s.t[name] = pair{tt, ht}
			if _, _, _, err := s.Render(k, l, Sample()); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Render executes the kind's templates in locale (falling back to id).
func (s *Set) Render(kind, locale string, d Data) (subject, text, html string, err error) {
	p, ok := s.t[kind+"."+locale]
	if !ok {
		if p, ok = s.t[kind+".id"]; !ok {
			return "", "", "", fmt.Errorf("templates: no template for %s", kind)
		}
	}
	var sb, tb, hb bytes.Buffer
	if err := p.text.ExecuteTemplate(&sb, "subject", d); err != nil {
		return "", "", "", fmt.Errorf("templates: %s subject: %w", kind, err)
	}
	if err := p.text.Execute(&tb, d); err != nil {
		return "", "", "", fmt.Errorf("templates: %s text: %w", kind, err)
	}
	if err := p.html.Execute(&hb, d); err != nil {
		return "", "", "", fmt.Errorf("templates: %s html: %w", kind, err)
	}
	return strings.TrimSpace(sb.String()), strings.TrimLeft(tb.String(), "\n"), hb.String(), nil
}
