package tax

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
)

// MaxInvoicesPerFile is Coretax's limit of tax invoices in one bulk-import
// file (docs/tax.md gives the sources).
const MaxInvoicesPerFile = 1000

// maxLines bounds an invoice's goods/services lines, so that the sums of
// maxAmount-sized lines stay far inside int64. DJP publishes no line limit;
// a lunas order has at most 50 items.
const (
	maxLines  = 1000
	maxAmount = 1_000_000_000_000_000 // 10^15 rupiah per line
)

// Units of measure for a GoodService line (DJP's UM code list, as Odoo
// ships it in l10n_id_efaktur_coretax.uom.code.csv). DJP does not say which
// fits a prepaid service; these are lunas's choices.
const (
	UnitOther = "UM.0033" // "Lainnya": WhatsApp balance, unique-visitor packs
	UnitMonth = "UM.0024" // "Bulan": a monthly subscription
)

// The values lunas writes in every faktur. They are constants of the
// export, not choices of the caller: lunas sells non-luxury services under
// DPP nilai lain.
const (
	xmlDeclaration   = `<?xml version="1.0" encoding="utf-8"?>` + "\n"
	xsiNamespace     = "http://www.w3.org/2001/XMLSchema-instance"
	schemaLocation   = "TaxInvoice.xsd" // named by DJP's template, never published
	invoiceOptNormal = "Normal"         // a new faktur, not a replacement
	trxCode04        = "04"             // DPP nilai lain (PER-11/PJ/2025)
	countryIDN       = "IDN"            // ISO 3166 alpha-3
	optService       = "B"              // B = jasa (services); A = barang (goods)
	genericCode      = "000000"         // the generic goods/services code
	vatRatePercent   = "12"
	zero             = "0"
	noTIN            = "0000000000000000" // a buyer without an NPWP
	tinDocNumber     = "-"                // BuyerDocumentNumber of a TIN buyer, as DJP's sample
)

// Seller is who issues the tax invoices: lunas's operator.
type Seller struct {
	TIN   string // the seller's 16-digit NPWP
	IDTKU string // its 22-digit place of business (NITKU)
}

// NewSeller reads LUNAS_SELLER_NPWP and LUNAS_SELLER_NITKU: separators are
// removed, an old 15-digit NPWP gets its leading 0, and an empty NITKU is
// the head office's (NPWP + "000000"). It fails on anything that is not
// then a 16-digit NPWP and a 22-digit NITKU starting with it.
func NewSeller(npwp, nitku string) (Seller, error) {
	id := Identity{IDType: IDNPWP, ID: npwp, NITKU: nitku}.Normalize()
	s := Seller{TIN: id.ID, IDTKU: id.NITKU}
	switch {
	case len(s.TIN) != 16 || !allDigits(s.TIN) || strings.Trim(s.TIN, "0") == "":
		return Seller{}, fmt.Errorf("seller NPWP %q is not 16 digits (or an old 15-digit NPWP)", npwp)
	case len(s.IDTKU) != 22 || !allDigits(s.IDTKU) || !strings.HasPrefix(s.IDTKU, s.TIN):
		return Seller{}, fmt.Errorf("seller NITKU %q is not 22 digits starting with the NPWP %s", nitku, s.TIN)
	}
	return s, nil
}

// FakturItem is one line of a paid order, as the faktur lists it.
type FakturItem struct {
	Name      string
	UnitPrice int64 // rupiah, before PPN
	Qty       int64
	// Amount is the line's price before PPN (UnitPrice × Qty, no
	// discount): its TaxBase on the faktur.
	Amount int64
	// Unit is DJP's unit code (UnitOther when empty).
	Unit string
}

// FakturInvoice is one paid order to declare.
type FakturInvoice struct {
	InvoiceNumber string    // lunas's invoice number: the faktur's RefDesc
	PaidAt        time.Time // the payment: the faktur's date, in the business time zone
	Buyer         Identity
	Items         []FakturItem
	// TaxBase and VAT are the order's, as Rules.Compute gave them in DPP
	// nilai lain mode and as the buyer paid them.
	TaxBase int64
	VAT     int64
}

// Validate reports every reason f cannot be declared with transaction code
// 04, or nil; fields are named as "buyer.id", "items[0].amount", "tax_base".
// A caller that would rather skip such an order than fail the export asks
// this first.
func (f FakturInvoice) Validate() error {
	var ve lunas.ValidationError
	f.check(&ve, "")
	return ve.Err()
}

func (f FakturInvoice) check(ve *lunas.ValidationError, prefix string) {
	field := func(name string) string { return prefix + name }
	if strings.TrimSpace(f.InvoiceNumber) == "" {
		ve.Add(field("invoice_number"), "is required (it is the faktur's RefDesc)")
	} else if strings.IndexFunc(f.InvoiceNumber, notText) >= 0 {
		ve.Add(field("invoice_number"), "must not contain control characters")
	}
	if f.PaidAt.IsZero() {
		ve.Add(field("paid_at"), "is required (it is the faktur's date)")
	}
	f.Buyer.Check(ve, field("buyer"))
	switch {
	case len(f.Items) == 0:
		ve.Add(field("items"), "at least one item is required")
	case len(f.Items) > maxLines:
		ve.Add(field("items"), "at most %d items", maxLines)
	}
	itemsOK := len(f.Items) > 0 && len(f.Items) <= maxLines
	var subtotal int64
	for i, it := range f.Items {
		p := field(fmt.Sprintf("items[%d].", i))
		if xmlText(it.Name) == "" {
			ve.Add(p+"name", "is required")
		}
		if it.Unit != "" && !validUnit(it.Unit) {
			ve.Add(p+"unit", "must be a DJP unit code like %s", UnitOther)
		}
		bad := false
		if it.Qty <= 0 || it.Qty > maxAmount {
			ve.Add(p+"qty", "must be a whole number from 1 to %d", int64(maxAmount))
			bad = true
		}
		if it.UnitPrice < 0 || it.UnitPrice > maxAmount {
			ve.Add(p+"unit_price", "must be from 0 to %d rupiah", int64(maxAmount))
			bad = true
		}
		// Coretax refuses a negative line.
		if it.Amount < 0 || it.Amount > maxAmount {
			ve.Add(p+"amount", "must be from 0 to %d rupiah", int64(maxAmount))
			bad = true
		}
		if !bad && !decimal.NewFromInt(it.UnitPrice).Mul(decimal.NewFromInt(it.Qty)).Equal(decimal.NewFromInt(it.Amount)) {
			ve.Add(p+"amount", "%d is not unit price %d × qty %d (the faktur has no discount)", it.Amount, it.UnitPrice, it.Qty)
		}
		itemsOK = itemsOK && !bad
		subtotal += it.Amount
	}
	if !itemsOK {
		return // the sums below would mean nothing
	}
	// Transaction code 04 states that the tax base is 11/12 of the price and
	// the VAT 12 % of it: an order priced otherwise (simple mode) would be
	// declared with numbers it was not charged.
	want := DefaultRules().Compute(subtotal, false)
	if f.TaxBase != want.TaxBase {
		ve.Add(field("tax_base"), "%d is not 11/12 of the items' %d (%d): only an order priced under DPP nilai lain can be declared with transaction code 04", f.TaxBase, subtotal, want.TaxBase)
	} else if f.VAT != want.VAT {
		ve.Add(field("vat"), "%d is not 12 %% of the tax base %d (%d)", f.VAT, f.TaxBase, want.VAT)
	}
}

func validUnit(u string) bool {
	return len(u) == 7 && strings.HasPrefix(u, "UM.") && allDigits(u[3:])
}

// EFaktur is a month's tax invoices in DJP's Coretax bulk-import format
// (TaxInvoiceBulk), ready to write in parts of at most MaxInvoicesPerFile.
// It is built once from the caller's rows and changes nothing anywhere:
// exporting is repeatable.
//
// Each order's items become GoodService lines with TaxBase = the item's
// amount. OtherTaxBase and VAT are whole rupiah, allocated across the
// lines by largest remainder so that they add up exactly to the order's
// tax_base and vat: those are what the buyer was invoiced and paid, and
// what its input-VAT credit must match. Each line stays less than 1
// rupiah from 11/12 of its TaxBase and from 12 % of its OtherTaxBase.
// Coretax takes 2 decimals, and a faktur computed per line to the cent
// (as Odoo does) would add up to a VAT a few cents off the invoice; whole
// rupiah are valid values and keep the faktur equal to the invoice.
type EFaktur struct {
	seller   Seller
	invoices []xmlInvoice
}

// NewEFaktur builds the export of invoices, in the order given (the caller
// sorts them, e.g. by payment time then number, so part k is the same on
// every download). loc is the business time zone (LUNAS_TIMEZONE,
// Asia/Jakarta) in which a payment's date is the faktur's date.
//
// Every invoice is checked first (FakturInvoice.Validate, and no invoice
// number twice): any failure refuses the whole export with a
// lunas.KindConflict error whose message lists every problem, each named
// by its invoice ("invoices[INV/2026/000123].buyer.nitku: …"). It is not a
// *lunas.ValidationError on purpose: the request was fine, the stored
// orders are not, so the API answers 409 rather than 400.
func NewEFaktur(seller Seller, loc *time.Location, invoices []FakturInvoice) (*EFaktur, error) {
	s, err := NewSeller(seller.TIN, seller.IDTKU)
	if err != nil {
		return nil, err
	}
	if loc == nil {
		return nil, fmt.Errorf("tax: NewEFaktur needs the business time zone")
	}
	if ve := problems(invoices); ve != nil {
		msg := make([]string, len(ve.Fields))
		for i, f := range ve.Fields {
			msg[i] = f.Field + ": " + f.Message
		}
		return nil, lunas.E(lunas.KindConflict, "the e-Faktur export refuses %d problem(s) in these orders: %s", len(msg), strings.Join(msg, "; "))
	}
	e := &EFaktur{seller: s, invoices: make([]xmlInvoice, len(invoices))}
	for i, f := range invoices {
		e.invoices[i] = fakturXML(s, loc, f)
	}
	return e, nil
}

// problems checks every invoice and that none is listed twice, naming each
// field after its invoice.
func problems(invoices []FakturInvoice) *lunas.ValidationError {
	var ve lunas.ValidationError
	seen := make(map[string]bool, len(invoices))
	for i, f := range invoices {
		prefix := fmt.Sprintf("invoices[%d].", i)
		if n := strings.TrimSpace(f.InvoiceNumber); n != "" {
			prefix = "invoices[" + n + "]."
			if seen[n] {
				ve.Add(prefix+"invoice_number", "appears twice: an order is declared once")
			}
			seen[n] = true
		}
		f.check(&ve, prefix)
	}
	if len(ve.Fields) == 0 {
		return nil
	}
	return &ve
}

// Len is the number of invoices in the export.
func (e *EFaktur) Len() int { return len(e.invoices) }

// Parts is the number of files the export takes: Parts(e.Len()).
func (e *EFaktur) Parts() int { return Parts(len(e.invoices)) }

// Parts is the number of files n invoices take at MaxInvoicesPerFile a
// file. An empty export is one file with an empty ListOfTaxInvoice, so that
// part 1 always exists.
func Parts(n int) int {
	if n <= 0 {
		return 1
	}
	return (n + MaxInvoicesPerFile - 1) / MaxInvoicesPerFile
}

// Write writes part (1-based) of the export to w: invoices
// (part−1)×1000 … part×1000−1, as one TaxInvoiceBulk document. A part out
// of range is a lunas.KindNotFound error and writes nothing.
func (e *EFaktur) Write(w io.Writer, part int) error {
	if part < 1 || part > e.Parts() {
		return lunas.E(lunas.KindNotFound, "part %d does not exist: the export has %d part(s)", part, e.Parts())
	}
	lo := (part - 1) * MaxInvoicesPerFile
	hi := min(lo+MaxInvoicesPerFile, len(e.invoices))
	doc := xmlBulk{
		XSI: xsiNamespace, SchemaLocation: schemaLocation,
		TIN:  e.seller.TIN,
		List: xmlList{Invoices: e.invoices[lo:hi]},
	}
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(xmlDeclaration); err != nil {
		return err
	}
	enc := xml.NewEncoder(bw)
	enc.Indent("", "\t") // DJP's sample is tab-indented; Coretax ignores whitespace
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("tax: writing the e-Faktur XML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if err := bw.WriteByte('\n'); err != nil {
		return err
	}
	return bw.Flush()
}

// The document, field by field in the template's element order: encoding/xml
// writes struct fields in declaration order, and writes an empty string as
// an empty element, so every element is present even when it has no value.
type xmlBulk struct {
	XMLName        xml.Name `xml:"TaxInvoiceBulk"`
	XSI            string   `xml:"xmlns:xsi,attr"`
	SchemaLocation string   `xml:"xsi:noNamespaceSchemaLocation,attr"`
	TIN            string   `xml:"TIN"`
	List           xmlList  `xml:"ListOfTaxInvoice"`
}

type xmlList struct {
	Invoices []xmlInvoice `xml:"TaxInvoice"`
}

type xmlInvoice struct {
	TaxInvoiceDate      string
	TaxInvoiceOpt       string
	TrxCode             string
	AddInfo             string
	CustomDoc           string
	CustomDocMonthYear  string
	RefDesc             string
	FacilityStamp       string
	SellerIDTKU         string
	BuyerTin            string
	BuyerDocument       string
	BuyerCountry        string
	BuyerDocumentNumber string
	BuyerName           string
	BuyerAdress         string // [sic]: DJP's spelling
	BuyerEmail          string
	BuyerIDTKU          string
	Goods               xmlGoods `xml:"ListOfGoodService"`
}

type xmlGoods struct {
	Lines []xmlGood `xml:"GoodService"`
}

type xmlGood struct {
	Opt           string
	Code          string
	Name          string
	Unit          string
	Price         int64
	Qty           int64
	TotalDiscount string
	TaxBase       int64
	OtherTaxBase  int64
	VATRate       string
	VAT           int64
	STLGRate      string
	STLG          string
}

// fakturXML lays out one checked invoice.
func fakturXML(s Seller, loc *time.Location, f FakturInvoice) xmlInvoice {
	b := f.Buyer.Normalize()
	x := xmlInvoice{
		TaxInvoiceDate: f.PaidAt.In(loc).Format(time.DateOnly),
		TaxInvoiceOpt:  invoiceOptNormal,
		TrxCode:        trxCode04,
		RefDesc:        xmlText(f.InvoiceNumber),
		SellerIDTKU:    s.IDTKU,
		BuyerCountry:   countryIDN,
		BuyerName:      xmlText(b.Name),
		BuyerAdress:    xmlText(b.Address),
		BuyerEmail:     b.Email,
	}
	switch b.IDType {
	case IDNPWP:
		x.BuyerTin, x.BuyerDocument, x.BuyerDocumentNumber, x.BuyerIDTKU = b.ID, "TIN", tinDocNumber, b.NITKU
	case IDNIK:
		// Kring Pajak (7 Aug 2025): a buyer without an NPWP is "National ID"
		// with a TIN of zeros and the NIK as the document number. The IDTKU
		// must still be 22 digits; lunas sends NIK + 000000 (docs/tax.md).
		x.BuyerTin, x.BuyerDocument, x.BuyerDocumentNumber, x.BuyerIDTKU = noTIN, "National ID", b.ID, b.NITKU
	case IDPassport:
		x.BuyerTin, x.BuyerDocument, x.BuyerDocumentNumber, x.BuyerIDTKU = noTIN, "Passport", b.ID, noTIN+HeadOfficeTKU
	}
	amounts := make([]int64, len(f.Items))
	for i, it := range f.Items {
		amounts[i] = it.Amount
	}
	other := allocate(f.TaxBase, amounts, dppNumerator, dppDenominator)
	vat := allocate(f.VAT, other, dppVATPercent, 100)
	for i, it := range f.Items {
		unit := it.Unit
		if unit == "" {
			unit = UnitOther
		}
		x.Goods.Lines = append(x.Goods.Lines, xmlGood{
			Opt: optService, Code: genericCode, Name: xmlText(it.Name), Unit: unit,
			Price: it.UnitPrice, Qty: it.Qty, TotalDiscount: zero,
			TaxBase: it.Amount, OtherTaxBase: other[i],
			VATRate: vatRatePercent, VAT: vat[i],
			STLGRate: zero, STLG: zero,
		})
	}
	return x
}

// allocate splits target into whole shares of bases[i] × num/den by the
// largest-remainder method: each share is its exact value rounded down,
// then the rupiah still missing go one each to the shares with the largest
// remainders (the earlier line first on a tie). The shares add up to
// target. When target is the half-up rounding of the exact total (as
// FakturInvoice.check ensures), only shares with a remainder get a rupiah,
// so every share is less than 1 rupiah from its exact value.
func allocate(target int64, bases []int64, num, den int64) []int64 {
	shares := make([]int64, len(bases))
	rems := make([]int64, len(bases))
	missing := target
	for i, b := range bases {
		shares[i], rems[i] = b*num/den, b*num%den
		missing -= shares[i]
	}
	for ; missing > 0; missing-- {
		best := -1
		for i, r := range rems {
			if r > 0 && (best < 0 || r > rems[best]) {
				best = i
			}
		}
		if best < 0 {
			// Unreachable for a checked invoice (it has lines and a target
			// the exact shares round to); keep the sum right anyway.
			if len(shares) == 0 {
				break
			}
			best = 0
		}
		shares[best]++
		rems[best] = 0
	}
	return shares
}

// xmlText makes free text one clean line for the faktur: tabs and line
// breaks become spaces, other control characters, invalid UTF-8 and the
// non-characters XML 1.0 forbids are dropped. encoding/xml escapes
// < > & ' " itself. An identity's fields are refused at input when they
// hold such characters; this guards item names and older data.
func xmlText(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r) || notText(r):
			return -1
		}
		return r
	}, s))
}
