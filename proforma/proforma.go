// Package proforma renders the proforma invoice PDF that finance downloads
// and that the confirmation mail carries, stores it, and signs the
// expiring links to it that mails contain.
//
// The worker renders a document when an invoice is issued (UNPAID) and again
// when it is paid (PAID); the API serves the stored bytes. Rendering is
// deterministic: the same data always gives the same bytes.
package proforma

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// Line is one invoice line.
type Line struct {
	Description string
	Quantity    int64
	Unit        string
	Amount      int64
}

// Data is everything printed on a proforma invoice.
type Data struct {
	Locale        string // "id" or "en"
	SellerName    string
	SellerAddress string
	SellerNPWP    string
	InvoiceNumber string
	IssuedAt      time.Time
	ExpiresAt     time.Time
	Location      *time.Location // business zone; dates are printed in it
	AccountName   string
	AccountID     string
	AccountNPWP   string
	Requester     string
	RequesterMail string
	Lines         []Line
	Subtotal      int64
	VAT           int64
	VATRate       string // "11%"
	CardFee       int64  // 0 unless paid by card
	CardFeeRate   string
	Total         int64 // what was or is to be paid
	Paid          bool
	PaidAt        time.Time
	PaidMethod    string
	PaidReference string
	Instructions  []string // how to pay: VA number, bill key, bank account
}

type words struct {
	title, seller, npwp, number, issued, validUntil, billTo, account, requester, desc, qty, unit, amount,
	subtotal, vat, cardFee, total, status, unpaid, paid, paidAt, method, reference, howToPay, footer string
}

var dict = map[string]words{
	"id": {"PROFORMA INVOICE", "Penjual", "NPWP", "No. Invoice", "Tanggal terbit", "Berlaku sampai", "Ditagihkan kepada",
		"Akun", "Pemohon", "Deskripsi", "Jumlah", "Satuan", "Nilai", "Subtotal", "PPN", "Biaya kartu kredit", "Total",
		"Status", "BELUM DIBAYAR", "LUNAS", "Dibayar pada", "Metode", "Referensi", "Cara pembayaran",
		"Dokumen ini dibuat secara elektronik dan sah tanpa tanda tangan."},
	"en": {"PROFORMA INVOICE", "Seller", "Tax ID (NPWP)", "Invoice no.", "Issued", "Valid until", "Bill to",
		"Account", "Requester", "Description", "Quantity", "Unit", "Amount", "Subtotal", "VAT", "Credit card fee", "Total",
		"Status", "UNPAID", "PAID", "Paid at", "Method", "Reference", "How to pay",
		"This document is generated electronically and is valid without a signature."},
}

// Rupiah formats whole rupiah the Indonesian way: Rp1.776.000.
func Rupiah(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-Rp" + b.String()
	}
	return "Rp" + b.String()
}

// LocalTime formats t in the business zone the Indonesian way,
// "22-11-2026 10:15 WIB"; the zone is WIB for Asia/Jakarta, else its abbreviation.
func LocalTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("02-01-2006 15:04") + " " + zoneName(t, loc)
}

// ValidUntil formats an invoice deadline: its date and "23:59 WIB".
func ValidUntil(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("02-01-2006") + " 23:59 " + zoneName(t, loc)
}

func zoneName(t time.Time, loc *time.Location) string {
	if loc.String() == "Asia/Jakarta" {
		return "WIB"
	}
	return t.In(loc).Format("MST")
}

var productNames = map[string]map[string]string{
	"wa_balance": {"id": "Saldo percakapan WhatsApp", "en": "WhatsApp conversation balance"},
	"muv":        {"id": "Pengunjung unik bulanan", "en": "Monthly unique visitors"},
}

// ProductName is a product's display name in locale (id when unknown),
// the same on the PDF and in mail.
func ProductName(product, locale string) string {
	names, ok := productNames[product]
	if !ok {
		return product
	}
	if n, ok := names[locale]; ok {
		return n
	}
	return names["id"]
}

// Number formats a count with Indonesian thousands separators: 1.000.
func Number(n int64) string { return strings.TrimPrefix(Rupiah(n), "Rp") }

// fixedDate keeps PDF metadata constant so that the same data renders to the
// same bytes (golden tests, content hashes).
var fixedDate = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Renderer draws proforma invoices. Make one per process (NewRenderer
// prepares the fonts) and share it: Render is safe for concurrent use.
type Renderer struct {
	fast *fastFonts
}

// NewRenderer prepares the fonts.
func NewRenderer() (*Renderer, error) {
	ff, err := makeFastFonts()
	if err != nil {
		return nil, err
	}
	return &Renderer{fast: ff}, nil
}

// texts lists every variable string printed on the document.
func (d Data) texts() []string {
	out := []string{d.SellerName, d.SellerAddress, d.SellerNPWP, d.InvoiceNumber, d.AccountName, d.AccountID, d.AccountNPWP,
		d.Requester, d.RequesterMail, d.VATRate, d.CardFeeRate, d.PaidMethod, d.PaidReference}
	for _, l := range d.Lines {
		out = append(out, l.Description, l.Unit)
	}
	return append(out, d.Instructions...)
}

// Render draws the proforma invoice as an A4 PDF. Text that cp1252 can
// write (every Indonesian and Western European name) takes the fast path,
// the Go fonts in fpdf's pre-built single-byte form; anything else takes
// the general path, the same Go fonts embedded as UTF-8 TrueType.
func (r *Renderer) Render(d Data) ([]byte, error) {
	if r != nil && r.fast != nil && encodable(d.texts()...) {
		return render(d, func(pdf *fpdf.Fpdf) func(string) string {
			pdf.AddFontFromBytes("go", "", r.fast.regularJSON, r.fast.regularZ)
			pdf.AddFontFromBytes("go", "B", r.fast.boldJSON, r.fast.boldZ)
			// Page content uncompressed: a zlib writer costs about 1 MB of
			// allocation per document; the PDF grows by a few kilobytes.
			pdf.SetCompression(false)
			return r.fast.translate
		})
	}
	return RenderUTF8(d)
}

// RenderUTF8 draws the invoice with the Go fonts embedded as UTF-8 TrueType:
// any script the fonts cover, at several milliseconds per document.
func RenderUTF8(d Data) ([]byte, error) {
	return render(d, func(pdf *fpdf.Fpdf) func(string) string {
		pdf.AddUTF8FontFromBytes("go", "", goregular.TTF)
		pdf.AddUTF8FontFromBytes("go", "B", gobold.TTF)
		return func(s string) string { return s }
	})
}

func render(d Data, fonts func(*fpdf.Fpdf) func(string) string) ([]byte, error) {
	w, ok := dict[d.Locale]
	if !ok {
		w = dict["id"]
	}
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	when := func(t time.Time) string { return LocalTime(t, loc) }

	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(fixedDate)
	pdf.SetModificationDate(fixedDate)
	pdf.SetCatalogSort(true)
	pdf.SetCreator("lunas", true)
	pdf.SetProducer("lunas", true)
	pdf.SetTitle(w.title+" "+d.InvoiceNumber, true)
	tr := fonts(pdf)
	cell := func(wd, h float64, txt, border string, ln int, align string, fill bool) {
		pdf.CellFormat(wd, h, tr(txt), border, ln, align, fill, 0, "")
	}
	multi := func(wd, h float64, txt string) { pdf.MultiCell(wd, h, tr(txt), "", "L", false) }
	pdf.SetMargins(15, 15, 15)
	pdf.SetAutoPageBreak(true, 15)
	pdf.AddPage()

	pdf.SetFont("go", "B", 16)
	cell(110, 8, w.title, "", 0, "L", false)
	status := w.unpaid
	if d.Paid {
		status = w.paid
		pdf.SetTextColor(0, 128, 0)
	} else {
		pdf.SetTextColor(200, 0, 0)
	}
	cell(70, 8, status, "", 1, "R", false)
	pdf.SetTextColor(0, 0, 0)

	pdf.SetFont("go", "B", 10)
	cell(0, 6, d.SellerName, "", 1, "L", false)
	pdf.SetFont("go", "", 9)
	multi(110, 4.5, d.SellerAddress)
	cell(0, 4.5, w.npwp+": "+d.SellerNPWP, "", 1, "L", false)
	pdf.Ln(4)

	kv := func(k, v string) {
		pdf.SetFont("go", "", 9)
		cell(40, 5, k, "", 0, "L", false)
		pdf.SetFont("go", "B", 9)
		cell(0, 5, v, "", 1, "L", false)
	}
	kv(w.number, d.InvoiceNumber)
	kv(w.issued, when(d.IssuedAt))
	kv(w.validUntil, ValidUntil(d.ExpiresAt, loc))
	pdf.Ln(3)
	pdf.SetFont("go", "B", 10)
	cell(0, 6, w.billTo, "", 1, "L", false)
	kv(w.account, d.AccountName+" ("+d.AccountID+")")
	if d.AccountNPWP != "" {
		kv(w.npwp, d.AccountNPWP)
	}
	kv(w.requester, d.Requester+" <"+d.RequesterMail+">")
	pdf.Ln(4)

	pdf.SetFont("go", "B", 9)
	pdf.SetFillColor(235, 235, 235)
	cols := []float64{80, 30, 30, 40}
	for i, h := range []string{w.desc, w.qty, w.unit, w.amount} {
		align := "L"
		if i != 0 && i != 2 {
			align = "R"
		}
		cell(cols[i], 7, h, "1", 0, align, true)
	}
	pdf.Ln(-1)
	pdf.SetFont("go", "", 9)
	for _, l := range d.Lines {
		cell(cols[0], 7, l.Description, "1", 0, "L", false)
		cell(cols[1], 7, Number(l.Quantity), "1", 0, "R", false)
		cell(cols[2], 7, l.Unit, "1", 0, "L", false)
		cell(cols[3], 7, Rupiah(l.Amount), "1", 1, "R", false)
	}
	sum := func(k, v string, bold bool) {
		style := ""
		if bold {
			style = "B"
		}
		pdf.SetFont("go", style, 9)
		cell(140, 6, k, "", 0, "R", false)
		cell(40, 6, v, "", 1, "R", false)
	}
	sum(w.subtotal, Rupiah(d.Subtotal), false)
	sum(w.vat+" "+d.VATRate, Rupiah(d.VAT), false)
	if d.CardFee > 0 {
		sum(w.cardFee+" "+d.CardFeeRate, Rupiah(d.CardFee), false)
	}
	sum(w.total, Rupiah(d.Total), true)
	pdf.Ln(4)

	pdf.SetFont("go", "B", 10)
	cell(0, 6, w.status+": "+status, "", 1, "L", false)
	if d.Paid {
		kv(w.paidAt, when(d.PaidAt))
		kv(w.method, d.PaidMethod)
		if d.PaidReference != "" {
			kv(w.reference, d.PaidReference)
		}
	} else if len(d.Instructions) > 0 {
		pdf.SetFont("go", "B", 9)
		cell(0, 6, w.howToPay, "", 1, "L", false)
		pdf.SetFont("go", "", 9)
		for _, in := range d.Instructions {
			multi(0, 5, "• "+in)
		}
	}
	pdf.Ln(6)
	pdf.SetFont("go", "", 8)
	multi(0, 4, w.footer)

	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("proforma: render %s: %w", d.InvoiceNumber, err)
	}
	return buf.Bytes(), nil
}
