// Package proforma renders the proforma invoice PDF that finance downloads
// and that the confirmation mail carries, stores it, and signs the
// expiring links to it that mails contain.
//
// It owns the documents table. The worker renders a document when an
// invoice is issued (UNPAID) and the mail task when it is paid (PAID); the
// API serves the stored bytes; invoice discards the UNPAID one of an old
// price. Rendering is deterministic: the same data always gives the same
// bytes.
package proforma

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/shopspring/decimal"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/lunas-id/lunas/terbilang"
)

// Line is one invoice line.
type Line struct {
	Description string
	Quantity    int64
	Unit        string // as printed: UnitName of the item's unit
	Amount      int64
}

// Data is everything printed on a proforma invoice. Render writes every
// label, rate and method name in Locale; the caller passes names (products,
// units, methods, instructions) already in it (DataFor does).
type Data struct {
	Locale         string // "id" or "en"
	SellerName     string
	SellerAddress  string
	SellerNPWP     string
	InvoiceNumber  string
	IssuedAt       time.Time // also the PDF's creation date
	ExpiresAt      time.Time
	Location       *time.Location // business zone; dates are printed in it
	AccountName    string
	AccountID      string
	AccountAddress string
	AccountNPWP    string
	Requester      string
	RequesterMail  string
	Lines          []Line
	Subtotal       int64
	VAT            int64
	VATRate        decimal.Decimal // 0.11
	CardFee        int64           // 0 unless paid by card
	CardFeeRate    decimal.Decimal
	Total          int64 // the invoice's total: subtotal + VAT (+ the card fee)
	// TaxBase is the DPP the VAT is on: printed as "DPP Nilai Lain" when it
	// is not the subtotal (PMK 131/2024: 11/12 of it); 0 prints nothing.
	TaxBase int64
	// Withheld is the PPh 23 the buyer deducts at WithholdingRate (0:
	// none): printed as a deduction, then the amount to pay, Total less it,
	// which the words spell out.
	Withheld        int64
	WithholdingRate decimal.Decimal
	Paid            bool
	PaidAt          time.Time // also the PDF's modification date
	PaidMethod      string
	PaidReference   string
	Instructions    []string // how to pay: VA number, bill key, bank account
	// PayURL is the order's pay page, printed under how to pay on an
	// unpaid proforma ("" prints nothing).
	PayURL string
	// Refunded is what the gateway took back of the payment: a PAID
	// proforma re-rendered after a reversal prints it (and a full one
	// stamps REFUNDED instead of PAID).
	Refunded int64
	// A subscription invoice: the plan's name, the period (YYYY-MM) and the
	// due date, printed instead of a deadline (ExpiresAt is zero).
	Plan, Period string
	DueDate      time.Time
}

type words struct {
	title, npwp, number, issued, validUntil, billTo, account, address, requester, desc, qty, unit, amount,
	subtotal, vat, cardFee, total, inWords, status, unpaid, paid, paidAt, method, reference, howToPay, footer, lang string
}

// Tax labels (API.md "Tax"): the other tax base, PPh 23 withheld by the
// buyer, and what the buyer pays after it.
var taxWords = map[string][3]string{
	"id": {"DPP Nilai Lain (11/12 × subtotal)", "PPh 23 (%s) dipotong pembeli", "Jumlah yang harus dibayar"},
	"en": {"Other tax base (DPP nilai lain, 11/12 of subtotal)", "PPh 23 (%s) withheld by the buyer", "Amount to pay"},
}

// Labels of the finish issue: the unit-price column, the amount taken
// back, the stamp of a payment taken back whole, a partial one, the pay page.
var finishWords = map[string][5]string{
	"id": {"Harga satuan", "Dikembalikan", "DIKEMBALIKAN", "dikembalikan sebagian", "Bayar daring"},
	"en": {"Unit price", "Refunded", "REFUNDED", "partly refunded", "Pay online"},
}

// unitPrice is a line's amount per unit: whole rupiah when it divides,
// else to the cent in the locale's decimal mark (Rp0,60).
func unitPrice(amount, qty int64, locale string) string {
	if qty <= 0 {
		return ""
	}
	if amount%qty == 0 {
		return Rupiah(amount / qty)
	}
	d := decimal.NewFromInt(amount).DivRound(decimal.NewFromInt(qty), 2)
	whole := d.Truncate(0).IntPart()
	cents := d.Sub(decimal.NewFromInt(whole)).Mul(decimal.NewFromInt(100)).Abs().IntPart()
	mark := ","
	if locale == "en" {
		mark = "."
	}
	return fmt.Sprintf("%s%s%02d", Rupiah(whole), mark, cents)
}

// NPWP16 writes a tax id the way Coretax does since 2024: 16 digits, a
// 15-digit NPWP with a leading 0; anything else as given.
func NPWP16(s string) string {
	var digits []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == '.' || c == '-' || c == ' ':
		default:
			return s
		}
	}
	switch len(digits) {
	case 15:
		return "0" + string(digits)
	case 16:
		return string(digits)
	}
	return s
}

// Subscription labels: plan, period, due date.
var subscriptionWords = map[string][3]string{"id": {"Paket", "Periode", "Jatuh tempo"}, "en": {"Plan", "Period", "Due date"}}

var dict = map[string]words{
	"id": {"FAKTUR PROFORMA", "NPWP", "Nomor faktur", "Tanggal terbit", "Berlaku sampai", "Ditagihkan kepada",
		"Akun", "Alamat", "Pemohon", "Deskripsi", "Jumlah", "Satuan", "Nilai", "Subtotal", "PPN", "Biaya kartu kredit", "Total",
		"Terbilang", "Status", "BELUM DIBAYAR", "LUNAS", "Dibayar pada", "Metode", "Referensi", "Cara pembayaran",
		"Dokumen ini dibuat secara elektronik dan sah tanpa tanda tangan.", "id-ID"},
	"en": {"PROFORMA INVOICE", "Tax ID (NPWP)", "Invoice no.", "Issued", "Valid until", "Bill to",
		"Account", "Address", "Requester", "Description", "Quantity", "Unit", "Amount", "Subtotal", "VAT", "Credit card fee", "Total",
		"In words", "Status", "UNPAID", "PAID", "Paid at", "Method", "Reference", "How to pay",
		"This document is generated electronically and is valid without a signature.", "en-US"},
}

// wordsFor is the dictionary of locale; Indonesian when it is unknown.
func wordsFor(locale string) words {
	if w, ok := dict[locale]; ok {
		return w
	}
	return dict["id"]
}

// Percent writes a rate as a percentage in locale: 0.035 is "3,5%" in
// Indonesian, "3.5%" in English.
func Percent(rate decimal.Decimal, locale string) string {
	s := rate.Mul(decimal.NewFromInt(100)).String()
	if locale != "en" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + "%"
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
	"wa_balance":   {"id": "Saldo percakapan WhatsApp", "en": "WhatsApp conversation balance"},
	"muv":          {"id": "Pengunjung unik bulanan", "en": "Monthly unique visitors"},
	"subscription": {"id": "Langganan bulanan", "en": "Monthly subscription"},
}

// ProductName is a product's display name in locale (id when unknown),
// the same on the PDF and in mail.
func ProductName(product, locale string) string { return localName(productNames, product, locale) }

var unitNames = map[string]map[string]string{
	"visitor": {"id": "pengunjung", "en": "visitors"},
}

// UnitName is an item unit's display name in locale: "visitor" is
// "pengunjung" in Indonesian; "IDR" is the same in both.
func UnitName(unit, locale string) string { return localName(unitNames, unit, locale) }

func localName(names map[string]map[string]string, key, locale string) string {
	n, ok := names[key]
	if !ok {
		return key
	}
	if s, ok := n[locale]; ok {
		return s
	}
	return n["id"]
}

// Number formats a count with Indonesian thousands separators: 1.000.
func Number(n int64) string { return strings.TrimPrefix(Rupiah(n), "Rp") }

// Renderer draws proforma invoices. Make one per process (NewRenderer
// prepares the fonts, SetLogo the logo) and share it: Render is safe for
// concurrent use.
type Renderer struct {
	logo *logo
}

// NewRenderer returns a renderer without a logo. It cannot fail today; the
// error stays for the fonts or assets a renderer may prepare.
func NewRenderer() (*Renderer, error) {
	return &Renderer{}, nil
}

// texts lists every variable string printed on the document.
func (d Data) texts() []string {
	out := []string{d.SellerName, d.SellerAddress, d.SellerNPWP, d.InvoiceNumber, d.AccountName, d.AccountID, d.AccountAddress,
		d.AccountNPWP, d.Requester, d.RequesterMail, d.PaidMethod, d.PaidReference, d.Plan, d.Period}
	for _, l := range d.Lines {
		out = append(out, l.Description, l.Unit)
	}
	out = append(out, d.PayURL)
	return append(out, d.Instructions...)
}

// Render draws the proforma invoice as an A4 PDF. Text that cp1252 can
// write (every Indonesian and Western European name) takes the fast path,
// the Go fonts in fpdf's pre-built single-byte form; anything else takes
// the general path, the same Go fonts embedded as UTF-8 TrueType.
func (r *Renderer) Render(d Data) ([]byte, error) {
	if r == nil || !encodable(d.texts()...) {
		return r.RenderUTF8(d)
	}
	return render(d, r.logo, func(pdf *fpdf.Fpdf) (func(string) string, string) {
		// The PDF core font Helvetica in WinAnsiEncoding (cp1252): every
		// reader has it, so nothing is embedded and a proforma is a few
		// kilobytes instead of ~150 KB of embedded Go fonts in every mail
		// and every stored document (the performance issue's target is
		// 40 KB). Nothing is compressed either: fpdf makes a fresh zlib
		// writer (~1 MB of tables) per stream, which was 93 % of a
		// document's allocations and most of its time (0.59 → 0.13 ms,
		// 1.3 MB → 105 KB a document); the page is 7 KB instead of 3 KB,
		// and PostgreSQL compresses it when it stores it (TOAST).
		pdf.SetCompression(false)
		return toCP1252, "helvetica"
	})
}

// RenderUTF8 draws the invoice with the Go fonts embedded as UTF-8 TrueType:
// any script the fonts cover, at several milliseconds per document. r may
// be nil (no logo).
func (r *Renderer) RenderUTF8(d Data) ([]byte, error) {
	var lg *logo
	if r != nil {
		lg = r.logo
	}
	return render(d, lg, func(pdf *fpdf.Fpdf) (func(string) string, string) {
		pdf.AddUTF8FontFromBytes("go", "", goregular.TTF)
		pdf.AddUTF8FontFromBytes("go", "B", gobold.TTF)
		return func(s string) string { return s }, "go"
	})
}

// Page geometry, in millimetres (A4 portrait).
const (
	margin   = 15.0
	pageW    = 210.0
	contentW = pageW - 2*margin
	logoMaxW = 40.0
	logoMaxH = 20.0
	metaX    = 115.0 // the right-hand block: title, number, dates
)

func render(d Data, lg *logo, fonts func(*fpdf.Fpdf) (func(string) string, string)) ([]byte, error) {
	w := wordsFor(d.Locale)
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	when := func(t time.Time) string { return LocalTime(t, loc) }

	pdf := fpdf.New("P", "mm", "A4", "")
	// The document's dates are the invoice's: the same data renders to the
	// same bytes (golden tests, stored hashes), and a viewer's "created" is
	// the instant the invoice was issued. In UTC: fpdf writes no offset, and
	// readers take a date without one as UTC.
	pdf.SetCreationDate(d.IssuedAt.UTC())
	mod := d.IssuedAt
	if d.Paid {
		mod = d.PaidAt
	}
	pdf.SetModificationDate(mod.UTC())
	pdf.SetCatalogSort(true)
	pdf.SetCreator("lunas", true)
	pdf.SetProducer("lunas", true)
	pdf.SetAuthor(d.SellerName, true)
	pdf.SetTitle(w.title+" "+d.InvoiceNumber, true)
	pdf.SetLang(w.lang)
	tr, family := fonts(pdf)
	font := func(style string, size float64) { pdf.SetFont(family, style, size) }
	cell := func(wd, h float64, txt, border string, ln int, align string, fill bool) {
		pdf.CellFormat(wd, h, tr(txt), border, ln, align, fill, 0, "")
	}
	multi := func(wd, h float64, txt string) { pdf.MultiCell(wd, h, tr(txt), "", "L", false) }
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin)
	pdf.AddPage()

	// Left: the logo, and the seller beside it.
	sellerX := margin
	leftBottom := margin
	if lg != nil {
		lw, lh := lg.fit(logoMaxW, logoMaxH)
		pdf.RegisterImageOptionsReader("logo", fpdf.ImageOptions{ImageType: lg.kind}, bytes.NewReader(lg.data))
		pdf.ImageOptions("logo", margin, margin, lw, lh, false, fpdf.ImageOptions{ImageType: lg.kind}, 0, "")
		sellerX = margin + lw + 5
		leftBottom = margin + lh
	}
	sellerW := metaX - 5 - sellerX
	pdf.SetXY(sellerX, margin)
	font("B", 11)
	cell(sellerW, 6, d.SellerName, "", 2, "L", false)
	font("", 9)
	pdf.SetX(sellerX)
	multi(sellerW, 4.5, d.SellerAddress)
	pdf.SetX(sellerX)
	cell(sellerW, 4.5, w.npwp+": "+NPWP16(d.SellerNPWP), "", 2, "L", false)
	leftBottom = max(leftBottom, pdf.GetY())

	// Right: the title, the invoice number and its dates.
	pdf.SetXY(metaX, margin)
	font("B", 15)
	cell(pageW-margin-metaX, 8, w.title, "", 2, "R", false)
	meta := func(k, v string) {
		pdf.SetX(metaX)
		font("", 9)
		cell(30, 5, k, "", 0, "L", false)
		font("B", 9)
		cell(pageW-margin-metaX-30, 5, v, "", 2, "R", false)
	}
	meta(w.number, d.InvoiceNumber)
	meta(w.issued, when(d.IssuedAt))
	if !d.ExpiresAt.IsZero() {
		meta(w.validUntil, ValidUntil(d.ExpiresAt, loc))
	}
	if d.Plan != "" {
		// A subscription invoice has a due date, not a deadline.
		sw, ok := subscriptionWords[d.Locale]
		if !ok {
			sw = subscriptionWords["id"]
		}
		meta(sw[0], d.Plan)
		meta(sw[1], d.Period)
		meta(sw[2], d.DueDate.Format("02-01-2006"))
	}
	pdf.SetY(max(leftBottom, pdf.GetY()) + 3)
	pdf.SetDrawColor(160, 160, 160)
	pdf.Line(margin, pdf.GetY(), pageW-margin, pdf.GetY())
	pdf.SetDrawColor(0, 0, 0)
	pdf.Ln(4)

	kvWidth := contentW
	kv := func(k, v string) {
		font("", 9)
		cell(35, 5, k, "", 0, "L", false)
		font("B", 9)
		multi(kvWidth-35, 5, v)
	}
	font("B", 10)
	cell(0, 6, w.billTo, "", 1, "L", false)
	kv(w.account, d.AccountName+" ("+d.AccountID+")")
	if d.AccountAddress != "" {
		kv(w.address, d.AccountAddress)
	}
	if d.AccountNPWP != "" {
		kv(w.npwp, NPWP16(d.AccountNPWP))
	}
	kv(w.requester, d.Requester+" <"+d.RequesterMail+">")
	pdf.Ln(4)

	font("B", 9)
	pdf.SetFillColor(235, 235, 235)
	fw, ok := finishWords[d.Locale]
	if !ok {
		fw = finishWords["id"]
	}
	cols := []float64{66, 26, 26, 30, 32}
	for i, h := range []string{w.desc, w.qty, w.unit, fw[0], w.amount} {
		align := "L"
		if i != 0 && i != 2 {
			align = "R"
		}
		cell(cols[i], 7, h, "1", 0, align, true)
	}
	pdf.Ln(-1)
	font("", 9)
	for _, l := range d.Lines {
		cell(cols[0], 7, l.Description, "1", 0, "L", false)
		cell(cols[1], 7, Number(l.Quantity), "1", 0, "R", false)
		cell(cols[2], 7, l.Unit, "1", 0, "L", false)
		cell(cols[3], 7, unitPrice(l.Amount, l.Quantity, d.Locale), "1", 0, "R", false)
		cell(cols[4], 7, Rupiah(l.Amount), "1", 1, "R", false)
	}
	sum := func(k, v string, bold bool) {
		style := ""
		if bold {
			style = "B"
		}
		font(style, 9)
		cell(140, 6, k, "", 0, "R", false)
		cell(40, 6, v, "", 1, "R", false)
	}
	tw, ok := taxWords[d.Locale]
	if !ok {
		tw = taxWords["id"]
	}
	sum(w.subtotal, Rupiah(d.Subtotal), false)
	if d.TaxBase > 0 && d.TaxBase != d.Subtotal {
		sum(tw[0], Rupiah(d.TaxBase), false)
	}
	sum(w.vat+" "+Percent(d.VATRate, d.Locale), Rupiah(d.VAT), false)
	if d.CardFee > 0 {
		sum(w.cardFee+" "+Percent(d.CardFeeRate, d.Locale), Rupiah(d.CardFee), false)
	}
	toPay := d.Total
	if d.Withheld > 0 {
		sum(w.total, Rupiah(d.Total), false)
		sum(fmt.Sprintf(tw[1], Percent(d.WithholdingRate, d.Locale)), "-"+Rupiah(d.Withheld), false)
		toPay = d.Total - d.Withheld
		sum(tw[2], Rupiah(toPay), true)
	} else {
		sum(w.total, Rupiah(d.Total), true)
	}
	if d.Paid && d.Refunded > 0 {
		sum(fw[1], "-"+Rupiah(d.Refunded), true)
	}
	pdf.Ln(2)
	font("", 9)
	pdf.SetFillColor(245, 245, 245)
	pdf.MultiCell(contentW, 6, tr(w.inWords+": "+capitalize(terbilang.Rupiah(toPay, d.Locale))), "", "L", true)
	pdf.Ln(4)

	// The status on the left, its stamp on the right where a hand stamp
	// goes: the left column is kept narrow enough to leave it room.
	status := w.unpaid
	if d.Paid {
		status = w.paid
		if d.Refunded >= toPay {
			status = fw[2]
		}
	}
	statusTop, statusPage := pdf.GetY(), pdf.PageNo()
	kvWidth = stampLeft - margin - 5
	font("B", 10)
	label := status
	if d.Paid && d.Refunded > 0 && d.Refunded < toPay {
		label += " (" + fw[3] + " " + Rupiah(d.Refunded) + ")"
	}
	cell(kvWidth, 6, w.status+": "+label, "", 1, "L", false)
	if d.Paid {
		kv(w.paidAt, when(d.PaidAt))
		kv(w.method, d.PaidMethod)
		if d.PaidReference != "" {
			kv(w.reference, d.PaidReference)
		}
	} else if len(d.Instructions) > 0 || d.PayURL != "" {
		font("B", 9)
		cell(kvWidth, 6, w.howToPay, "", 1, "L", false)
		font("", 9)
		for _, in := range d.Instructions {
			multi(kvWidth, 5, "• "+in)
		}
		if d.PayURL != "" {
			multi(kvWidth, 5, "• "+fw[4]+": "+d.PayURL)
		}
	}
	date := ""
	if d.Paid {
		date = d.PaidAt.In(loc).Format("02-01-2006")
	}
	top := statusTop
	if pdf.PageNo() != statusPage { // the status block broke across a page
		top = margin
	}
	stampBottom := stamp(pdf, font, tr, status, date, d.Paid, top)
	pdf.SetY(max(pdf.GetY(), stampBottom) + 6)
	font("", 8)
	multi(0, 4, w.footer)

	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("proforma: render %s: %w", d.InvoiceNumber, err)
	}
	return buf.Bytes(), nil
}

// stampLeft is where the stamp's column starts; stampAngle its tilt in degrees.
const (
	stampLeft  = 125.0
	stampAngle = 10.0
)

// stamp draws status (and a date under it) in a double-ruled box, tilted
// as a hand stamp lands, in the right-hand column from top down: green for
// paid, red for unpaid. It returns the y where the tilted box ends.
func stamp(pdf *fpdf.Fpdf, font func(string, float64), tr func(string) string, status, date string, paid bool, top float64) float64 {
	r, g, b := 190, 30, 30
	if paid {
		r, g, b = 20, 125, 60
	}
	font("B", 20)
	w := pdf.GetStringWidth(tr(status)) + 10
	h := 13.0
	if date != "" {
		h = 18
	}
	sin, cos := math.Sincos(stampAngle * math.Pi / 180)
	halfW, halfH := (w*cos+h*sin)/2, (w*sin+h*cos)/2 // of the tilted box's bounds
	cx, cy := (stampLeft+pageW-margin)/2, top+halfH+1
	cx = min(cx, pageW-margin-halfW)
	x, y := cx-w/2, cy-h/2
	pdf.TransformBegin()
	pdf.TransformRotate(stampAngle, cx, cy)
	pdf.SetAlpha(0.85, "Normal")
	pdf.SetDrawColor(r, g, b)
	pdf.SetTextColor(r, g, b)
	pdf.SetLineWidth(0.8)
	pdf.Rect(x, y, w, h, "D")
	pdf.SetLineWidth(0.3)
	pdf.Rect(x+1.2, y+1.2, w-2.4, h-2.4, "D")
	pdf.SetXY(x, y+2)
	pdf.CellFormat(w, 9, tr(status), "", 2, "C", false, 0, "")
	if date != "" {
		font("B", 9)
		pdf.CellFormat(w, 4, tr(date), "", 0, "C", false, 0, "")
	}
	pdf.SetAlpha(1, "Normal")
	pdf.TransformEnd()
	pdf.SetDrawColor(0, 0, 0)
	pdf.SetTextColor(0, 0, 0)
	pdf.SetLineWidth(0.2)
	return cy + halfH
}

// capitalize upper-cases the first letter, as an amount in words starts a line.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
