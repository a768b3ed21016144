package tax

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func jakarta(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func testSeller(t *testing.T) Seller {
	t.Helper()
	s, err := NewSeller("01.234.567.8-901.000", "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// order builds a paid order's faktur from its items, with the tax the way
// the order package stores it (Rules.Compute in the default mode).
func order(number string, paidAt time.Time, buyer Identity, items ...FakturItem) FakturInvoice {
	var subtotal int64
	for _, it := range items {
		subtotal += it.Amount
	}
	l := DefaultRules().Compute(subtotal, buyer.WithholdsPPh23)
	return FakturInvoice{InvoiceNumber: number, PaidAt: paidAt, Buyer: buyer, Items: items, TaxBase: l.TaxBase, VAT: l.VAT}
}

func waBalance(amount int64) FakturItem {
	return FakturItem{Name: "WhatsApp conversation balance top-up", UnitPrice: amount, Qty: 1, Amount: amount, Unit: UnitOther}
}

func muvPacks(packs int64) FakturItem {
	return FakturItem{Name: "Monthly unique visitors, pack of 500", UnitPrice: 300000, Qty: packs, Amount: 300000 * packs}
}

// randomOrders makes n paid orders of 1 to 6 lines with amounts whose
// 11/12 and 12 % rarely come out whole, bought by rotating kinds of buyer.
func randomOrders(n int, seed uint64, loc *time.Location) []FakturInvoice {
	rng := rand.New(rand.NewPCG(seed, seed))
	buyers := []Identity{
		company(),
		{IDType: IDNIK, ID: "3171012345678901", Name: "Budi Santoso", Address: "Depok"},
		{IDType: IDPassport, ID: "X1234567", Name: "Jane Doe", Address: "Singapore"},
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, loc)
	out := make([]FakturInvoice, n)
	for i := range out {
		var items []FakturItem
		for range 1 + rng.IntN(6) {
			switch rng.IntN(3) {
			case 0:
				items = append(items, waBalance(1_000_000+rng.Int64N(50_000_000)))
			case 1:
				items = append(items, muvPacks(1+rng.Int64N(40)))
			default:
				p, q := 1+rng.Int64N(2_000_000), 1+rng.Int64N(12)
				items = append(items, FakturItem{Name: "Langganan Pro", UnitPrice: p, Qty: q, Amount: p * q, Unit: UnitMonth})
			}
		}
		paid := start.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
		out[i] = order(fmt.Sprintf("INV/2026/%06d", i+1), paid, buyers[i%len(buyers)], items...)
	}
	return out
}

func write(t *testing.T, e *EFaktur, part int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.Write(&b, part); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// What a reader of the file sees, parsed with encoding/xml into types of
// the test's own (not the writer's).
type parsedBulk struct {
	XMLName  xml.Name        `xml:"TaxInvoiceBulk"`
	TIN      string          `xml:"TIN"`
	Invoices []parsedInvoice `xml:"ListOfTaxInvoice>TaxInvoice"`
}

type parsedInvoice struct {
	TaxInvoiceDate, TaxInvoiceOpt, TrxCode, AddInfo, CustomDoc, CustomDocMonthYear, RefDesc, FacilityStamp string
	SellerIDTKU, BuyerTin, BuyerDocument, BuyerCountry, BuyerDocumentNumber                                string
	BuyerName, BuyerAdress, BuyerEmail, BuyerIDTKU                                                         string
	Goods                                                                                                  []parsedGood `xml:"ListOfGoodService>GoodService"`
}

type parsedGood struct {
	Opt, Code, Name, Unit                                     string
	Price, Qty, TotalDiscount, TaxBase, OtherTaxBase, VATRate int64
	VAT, STLGRate, STLG                                       int64
}

func parse(t *testing.T, doc []byte) parsedBulk {
	t.Helper()
	var p parsedBulk
	if err := xml.Unmarshal(doc, &p); err != nil {
		t.Fatalf("the export does not parse: %v\n%s", err, doc)
	}
	return p
}

// node is an element of the template or of a written document.
type node struct {
	name     string
	repeat   bool              // template: occurs 1..n times
	attrs    map[string]string // prefix:local → value
	children []*node
	text     string
}

// loadTemplate reads testdata/taxinvoicebulk.template (format described
// in the file).
func loadTemplate(t *testing.T) *node {
	t.Helper()
	f, err := os.Open("testdata/taxinvoicebulk.template")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stack []*node
	var root *node
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if indent%2 != 0 {
			t.Fatalf("template: odd indent: %q", line)
		}
		depth := indent / 2
		words := strings.Fields(line)
		n := &node{name: words[0], attrs: map[string]string{}}
		for _, w := range words[1:] {
			switch {
			case w == "+":
				n.repeat = true
			case strings.HasPrefix(w, "@"):
				k, v, _ := strings.Cut(w[1:], "=")
				n.attrs[k] = v
			default:
				t.Fatalf("template: %q", line)
			}
		}
		if depth == 0 {
			root = n
		} else {
			if depth > len(stack) {
				t.Fatalf("template: %q is too deep", line)
			}
			parent := stack[depth-1]
			parent.children = append(parent.children, n)
		}
		stack = append(stack[:depth], n)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return root
}

// tree reads a document's elements with their raw prefixes.
func tree(t *testing.T, doc []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var stack []*node
	var root *node
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attrs: map[string]string{}}
			if tok.Name.Space != "" {
				t.Errorf("element %s:%s has a prefix", tok.Name.Space, tok.Name.Local)
			}
			for _, a := range tok.Attr {
				k := a.Name.Local
				if a.Name.Space != "" {
					k = a.Name.Space + ":" + k
				}
				n.attrs[k] = a.Value
			}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	return root
}

// conform reports where doc departs from the template: another element
// name, an element missing, out of order or unexpected, another attribute.
func conform(tmpl, doc *node, path string) []string {
	path += "/" + doc.name
	var bad []string
	if tmpl.name != doc.name {
		return []string{fmt.Sprintf("%s: want %s", path, tmpl.name)}
	}
	if len(tmpl.attrs) > 0 || len(doc.attrs) > 0 {
		if fmt.Sprint(tmpl.attrs) != fmt.Sprint(doc.attrs) {
			bad = append(bad, fmt.Sprintf("%s: attributes %v, want %v", path, doc.attrs, tmpl.attrs))
		}
	}
	if len(tmpl.children) == 0 {
		if len(doc.children) > 0 {
			bad = append(bad, fmt.Sprintf("%s: a value element holds elements", path))
		}
		return bad
	}
	i := 0
	for _, tc := range tmpl.children {
		n := 0
		for i < len(doc.children) && doc.children[i].name == tc.name {
			bad = append(bad, conform(tc, doc.children[i], path)...)
			i++
			n++
			if !tc.repeat {
				break
			}
		}
		if n == 0 {
			got := "the end"
			if i < len(doc.children) {
				got = doc.children[i].name
			}
			bad = append(bad, fmt.Sprintf("%s: missing %s (found %s)", path, tc.name, got))
		}
	}
	for ; i < len(doc.children); i++ {
		bad = append(bad, fmt.Sprintf("%s: unexpected %s", path, doc.children[i].name))
	}
	return bad
}

// The template check itself catches the mistakes it is there for.
func TestConformCatchesDepartures(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	e, err := NewEFaktur(testSeller(t), loc, randomOrders(2, 1, loc))
	if err != nil {
		t.Fatal(err)
	}
	doc := write(t, e, 1)
	tmpl := loadTemplate(t)
	if bad := conform(tmpl, tree(t, doc), ""); len(bad) > 0 {
		t.Fatalf("the export departs from the template: %v", bad)
	}
	email := "<BuyerEmail>finance@contoh.co.id</BuyerEmail>"
	idtku := "<BuyerIDTKU>0987654321098000000000</BuyerIDTKU>"
	for _, c := range []struct{ name, from, to string }{
		{"BuyerIDTKU before BuyerEmail", email + "\n\t\t\t" + idtku, idtku + "\n\t\t\t" + email},
		{"an empty element left out", "<CustomDocMonthYear></CustomDocMonthYear>", ""},
		{"a name corrected", "<BuyerAdress>Jl. Sudirman No. 1, Jakarta</BuyerAdress>", "<BuyerAddress>Jl. Sudirman No. 1, Jakarta</BuyerAddress>"},
		{"another schema", `xsi:noNamespaceSchemaLocation="TaxInvoice.xsd"`, `xsi:noNamespaceSchemaLocation="Other.xsd"`},
		{"an extra element", "<TrxCode>04</TrxCode>", "<TrxCode>04</TrxCode><Extra></Extra>"},
		{"no goods", "<ListOfGoodService>", "<ListOfGoodService></ListOfGoodService><Old>"},
	} {
		if !strings.Contains(string(doc), c.from) {
			t.Fatalf("%s: %q is not in the document", c.name, c.from)
		}
		mutated := strings.Replace(string(doc), c.from, c.to, 1)
		if c.name == "no goods" {
			mutated = strings.Replace(mutated, "</ListOfGoodService>\n", "</Old>\n", 2)
		}
		if bad := conform(tmpl, tree(t, []byte(mutated)), ""); len(bad) == 0 {
			t.Errorf("%s: not caught", c.name)
		}
	}
}

// A month of varied orders: every part conforms to DJP's template, every
// faktur adds up to its order's tax_base and vat, and every line is within
// 1 rupiah of the rule.
func TestEFakturStructureAndSums(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	orders := randomOrders(600, 7, loc)
	e, err := NewEFaktur(testSeller(t), loc, orders)
	if err != nil {
		t.Fatal(err)
	}
	if e.Len() != 600 || e.Parts() != 1 {
		t.Fatalf("len %d parts %d", e.Len(), e.Parts())
	}
	doc := write(t, e, 1)
	if !bytes.HasPrefix(doc, []byte(`<?xml version="1.0" encoding="utf-8"?>`+"\n<TaxInvoiceBulk ")) {
		t.Errorf("declaration: %.80s", doc)
	}
	if bad := conform(loadTemplate(t), tree(t, doc), ""); len(bad) > 0 {
		t.Fatalf("the export departs from the template (%d): %v", len(bad), bad[:min(10, len(bad))])
	}
	p := parse(t, doc)
	if p.TIN != "0012345678901000" || len(p.Invoices) != len(orders) {
		t.Fatalf("TIN %q, %d invoices", p.TIN, len(p.Invoices))
	}
	lines, roundedUp := 0, 0
	for i, inv := range p.Invoices {
		o := orders[i]
		if inv.RefDesc != o.InvoiceNumber {
			t.Fatalf("invoice %d is %s, want %s", i, inv.RefDesc, o.InvoiceNumber)
		}
		fixed := []string{inv.TaxInvoiceOpt, inv.TrxCode, inv.BuyerCountry, inv.SellerIDTKU, inv.AddInfo, inv.CustomDoc, inv.CustomDocMonthYear, inv.FacilityStamp}
		if want := []string{"Normal", "04", "IDN", "0012345678901000000000", "", "", "", ""}; !slices.Equal(fixed, want) {
			t.Errorf("%s: fixed fields %q", inv.RefDesc, fixed)
		}
		if inv.TaxInvoiceDate != o.PaidAt.In(loc).Format("2006-01-02") {
			t.Errorf("%s: date %s", inv.RefDesc, inv.TaxInvoiceDate)
		}
		if len(inv.Goods) != len(o.Items) {
			t.Fatalf("%s: %d lines, want %d", inv.RefDesc, len(inv.Goods), len(o.Items))
		}
		var sumOther, sumVAT int64
		for j, g := range inv.Goods {
			it := o.Items[j]
			lines++
			if g.Opt != "B" || g.Code != "000000" || g.TotalDiscount != 0 || g.VATRate != 12 || g.STLGRate != 0 || g.STLG != 0 {
				t.Errorf("%s line %d: fixed fields %+v", inv.RefDesc, j, g)
			}
			if g.Name != it.Name || g.Price != it.UnitPrice || g.Qty != it.Qty || g.TaxBase != it.Amount || g.Price*g.Qty != g.TaxBase {
				t.Errorf("%s line %d: %+v for %+v", inv.RefDesc, j, g, it)
			}
			if want := it.Unit; want != "" && g.Unit != want || want == "" && g.Unit != "UM.0033" {
				t.Errorf("%s line %d: unit %s", inv.RefDesc, j, g.Unit)
			}
			// |OtherTaxBase − 11/12 × TaxBase| < 1 and |VAT − 12 % × OtherTaxBase| < 1.
			if d := 12*g.OtherTaxBase - 11*g.TaxBase; d <= -12 || d >= 12 {
				t.Errorf("%s line %d: OtherTaxBase %d for TaxBase %d", inv.RefDesc, j, g.OtherTaxBase, g.TaxBase)
			} else if d > 0 {
				roundedUp++
			}
			if d := 100*g.VAT - 12*g.OtherTaxBase; d <= -100 || d >= 100 {
				t.Errorf("%s line %d: VAT %d for OtherTaxBase %d", inv.RefDesc, j, g.VAT, g.OtherTaxBase)
			}
			sumOther += g.OtherTaxBase
			sumVAT += g.VAT
		}
		if sumOther != o.TaxBase || sumVAT != o.VAT {
			t.Errorf("%s: lines add up to %d / %d, the order's tax_base and vat are %d / %d", inv.RefDesc, sumOther, sumVAT, o.TaxBase, o.VAT)
		}
	}
	t.Logf("%d invoices, %d lines, %d lines allotted a rupiah above their exact 11/12", len(p.Invoices), lines, roundedUp)
}

// The research notes' example invoice, whole rupiah: two lines whose
// OtherTaxBase are 916,666.67 and 825,000 exactly.
func TestEFakturResearchExample(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	o := order("INV/2025/07/000123", time.Date(2025, 7, 15, 3, 0, 0, 0, time.UTC), company(), waBalance(1000000), muvPacks(3))
	if o.TaxBase != 1741667 || o.VAT != 209000 {
		t.Fatalf("order %d / %d", o.TaxBase, o.VAT)
	}
	e, err := NewEFaktur(testSeller(t), loc, []FakturInvoice{o})
	if err != nil {
		t.Fatal(err)
	}
	g := parse(t, write(t, e, 1)).Invoices[0].Goods
	if g[0].OtherTaxBase != 916667 || g[1].OtherTaxBase != 825000 || g[0].VAT != 110000 || g[1].VAT != 99000 {
		t.Errorf("lines %+v", g)
	}
}

// A single line carries the order's numbers unchanged; the line 100,001 of
// the research's open point 3 is the order's 91,668 and 11,000.
func TestEFakturSingleLine(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	e, err := NewEFaktur(testSeller(t), loc, []FakturInvoice{order("INV/1", time.Now(), company(), waBalance(100001))})
	if err != nil {
		t.Fatal(err)
	}
	g := parse(t, write(t, e, 1)).Invoices[0].Goods[0]
	if g.TaxBase != 100001 || g.OtherTaxBase != 91668 || g.VAT != 11000 {
		t.Errorf("%+v", g)
	}
}

func TestEFakturParts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, parts int }{{0, 1}, {1, 1}, {999, 1}, {1000, 1}, {1001, 2}, {2000, 2}, {2345, 3}} {
		if got := Parts(c.n); got != c.parts {
			t.Errorf("Parts(%d) = %d, want %d", c.n, got, c.parts)
		}
	}
	loc := jakarta(t)
	orders := randomOrders(2345, 3, loc)
	e, err := NewEFaktur(testSeller(t), loc, orders)
	if err != nil {
		t.Fatal(err)
	}
	if e.Parts() != 3 {
		t.Fatalf("%d parts", e.Parts())
	}
	tmpl := loadTemplate(t)
	var refs []string
	for part, want := range map[int]int{1: 1000, 2: 1000, 3: 345} {
		doc := write(t, e, part)
		if bad := conform(tmpl, tree(t, doc), ""); len(bad) > 0 {
			t.Errorf("part %d departs from the template: %v", part, bad[:min(5, len(bad))])
		}
		p := parse(t, doc)
		if len(p.Invoices) != want {
			t.Errorf("part %d has %d invoices, want %d", part, len(p.Invoices), want)
		}
		for _, inv := range p.Invoices {
			refs = append(refs, inv.RefDesc)
		}
	}
	// Together the parts are every order once, each part a stable slice.
	var all []string
	for _, o := range orders {
		all = append(all, o.InvoiceNumber)
	}
	slices.Sort(refs)
	if !slices.Equal(refs, all) {
		t.Error("the parts are not every order exactly once")
	}
	if p := parse(t, write(t, e, 2)); p.Invoices[0].RefDesc != "INV/2026/001001" || p.Invoices[999].RefDesc != "INV/2026/002000" {
		t.Errorf("part 2 runs %s … %s", p.Invoices[0].RefDesc, p.Invoices[999].RefDesc)
	}
	for _, part := range []int{0, 4, -1} {
		var b bytes.Buffer
		err := e.Write(&b, part)
		if lunas.KindOf(err) != lunas.KindNotFound || b.Len() != 0 {
			t.Errorf("part %d: %v, wrote %d bytes", part, err, b.Len())
		}
	}
	// An empty month is one file with an empty list.
	empty, err := NewEFaktur(testSeller(t), loc, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := write(t, empty, 1)
	if p := parse(t, doc); len(p.Invoices) != 0 || !bytes.Contains(doc, []byte("<ListOfTaxInvoice></ListOfTaxInvoice>")) {
		t.Errorf("empty export:\n%s", doc)
	}
}

// Names that would break naive XML come back from a parser exactly as
// they were; control characters in item names are stripped, in a buyer's
// identity refused.
func TestEFakturEscaping(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	buyer := company()
	buyer.Name = `PT "A&B" <Tbk> 'Jaya' ]]> &amp;`
	buyer.Address = `Jl. <script>alert(1)</script> & Co`
	item := waBalance(1500000)
	item.Name = "Top-up \x00bal\x1bance\tfor <\"Q4\">\r\n&\u0085 \xff"
	e, err := NewEFaktur(testSeller(t), loc, []FakturInvoice{order(`INV/2026/<&>`, time.Now(), buyer, item)})
	if err != nil {
		t.Fatal(err)
	}
	doc := write(t, e, 1)
	if bad := conform(loadTemplate(t), tree(t, doc), ""); len(bad) > 0 {
		t.Fatalf("%v\n%s", bad, doc)
	}
	inv := parse(t, doc).Invoices[0]
	if inv.BuyerName != buyer.Name || inv.BuyerAdress != buyer.Address || inv.RefDesc != `INV/2026/<&>` {
		t.Errorf("round trip: %q %q %q", inv.BuyerName, inv.BuyerAdress, inv.RefDesc)
	}
	if want := `Top-up balance for <"Q4">  &`; inv.Goods[0].Name != want {
		t.Errorf("item name %q, want %q", inv.Goods[0].Name, want)
	}
	for _, c := range []byte{0, 0x1b, '\r', 0xff} {
		if bytes.IndexByte(doc, c) >= 0 {
			t.Errorf("raw byte %#x in the document", c)
		}
	}
	if bytes.Contains(doc, []byte("<script>")) || bytes.Contains(doc, []byte(`<Tbk>`)) {
		t.Error("markup in a name was not escaped")
	}

	// A buyer whose stored identity holds a control character, or an
	// invoice number that does, refuses the export and names the invoice.
	bad := company()
	bad.Name = "PT Nul\x00"
	refused(t, loc, []FakturInvoice{
		order("INV/OK", time.Now(), company(), waBalance(1000000)),
		order("INV/BAD", time.Now(), bad, waBalance(1000000)),
		order("INV/\x07", time.Now(), company(), waBalance(1000000)),
	}, "invoices[INV/BAD].buyer.name", "invoices[INV/\a].invoice_number")
}

// refused checks that NewEFaktur refuses invoices as a conflict that names
// exactly the fields given, in order, in its client-safe message.
func refused(t *testing.T, loc *time.Location, invoices []FakturInvoice, fields ...string) {
	t.Helper()
	ve := problems(invoices)
	var got []string
	if ve != nil {
		for _, f := range ve.Fields {
			got = append(got, f.Field)
		}
	}
	if !slices.Equal(got, fields) {
		t.Errorf("fields\n%q\nwant\n%q", got, fields)
	}
	_, err := NewEFaktur(testSeller(t), loc, invoices)
	var de *lunas.Error
	var notVE *lunas.ValidationError
	if lunas.KindOf(err) != lunas.KindConflict || !errors.As(err, &de) || errors.As(err, &notVE) {
		t.Fatalf("refusal: %v", err)
	}
	for _, f := range fields {
		if !strings.Contains(de.Message, f+": ") {
			t.Errorf("the message does not name %s: %s", f, de.Message)
		}
	}
	t.Logf("%v", err)
}

// The faktur's date is the payment's date in Jakarta, not in UTC.
func TestEFakturDatesInJakarta(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	for _, c := range []struct {
		paid time.Time
		want string
	}{
		{time.Date(2026, 11, 30, 16, 59, 59, 0, time.UTC), "2026-11-30"}, // 23:59:59 WIB
		{time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC), "2026-12-01"},   // 00:00 WIB: December's faktur
		{time.Date(2026, 12, 31, 18, 30, 0, 0, time.UTC), "2027-01-01"},
		{time.Date(2026, 12, 1, 6, 0, 0, 0, time.FixedZone("PST", -8*3600)), "2026-12-01"}, // 21:00 WIB
	} {
		e, err := NewEFaktur(testSeller(t), loc, []FakturInvoice{order("INV/1", c.paid, company(), waBalance(1000000))})
		if err != nil {
			t.Fatal(err)
		}
		if got := parse(t, write(t, e, 1)).Invoices[0].TaxInvoiceDate; got != c.want {
			t.Errorf("paid %s: date %s, want %s", c.paid, got, c.want)
		}
	}
}

// How each kind of buyer is written (docs/tax.md).
func TestEFakturBuyers(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	old := company()
	old.ID, old.NITKU = "09.876.543.2-109.800", ""
	nik := Identity{IDType: IDNIK, ID: "3171012345678901", Name: "Budi", Address: "Depok"}
	pass := Identity{IDType: IDPassport, ID: "x1234567", Name: "Jane", Address: "Singapore", Email: "jane@example.com"}
	paid := time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)
	e, err := NewEFaktur(testSeller(t), loc, []FakturInvoice{
		order("A", paid, company(), waBalance(1000000)),
		order("B", paid, old, waBalance(1000000)),
		order("C", paid, nik, waBalance(1000000)),
		order("D", paid, pass, waBalance(1000000)),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, write(t, e, 1))
	for i, want := range [][5]string{
		{"0987654321098000", "TIN", "-", "0987654321098000000000", "finance@contoh.co.id"},
		{"0098765432109800", "TIN", "-", "0098765432109800000000", "finance@contoh.co.id"},
		{"0000000000000000", "National ID", "3171012345678901", "3171012345678901000000", ""},
		{"0000000000000000", "Passport", "X1234567", "0000000000000000000000", "jane@example.com"},
	} {
		inv := p.Invoices[i]
		if got := [5]string{inv.BuyerTin, inv.BuyerDocument, inv.BuyerDocumentNumber, inv.BuyerIDTKU, inv.BuyerEmail}; got != want {
			t.Errorf("%s: %q, want %q", inv.RefDesc, got, want)
		}
	}
}

// Orders the export cannot declare as code 04 are refused, every reason
// at once and named per invoice; FakturInvoice.Validate says so up front.
func TestEFakturRefuses(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	paid := time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)
	simple := order("SIMPLE", paid, company(), waBalance(1000000))
	simple.TaxBase, simple.VAT = 1000000, 110000 // priced in simple mode
	vat := order("VAT", paid, company(), waBalance(1000000))
	vat.VAT++
	mismatch := order("MISMATCH", paid, company(), FakturItem{Name: "x", UnitPrice: 300000, Qty: 3, Amount: 800000})
	negative := order("NEGATIVE", paid, company(), waBalance(1000000), FakturItem{Name: "refund", UnitPrice: -5000, Qty: 1, Amount: -5000})
	empty := FakturInvoice{InvoiceNumber: "EMPTY", PaidAt: paid, Buyer: company()}
	noBuyer := order("NOBUYER", paid, Identity{}, FakturItem{Name: "\x00", UnitPrice: 1, Qty: 1, Amount: 1, Unit: "pcs"})
	unpaid := order("UNPAID", time.Time{}, company(), waBalance(1000000))
	dup := order("VAT", paid, company(), waBalance(2000000))
	refused(t, loc, []FakturInvoice{simple, vat, mismatch, negative, empty, noBuyer, unpaid, dup, order("", paid, company(), waBalance(1000000))},
		"invoices[SIMPLE].tax_base",
		"invoices[VAT].vat",
		"invoices[MISMATCH].items[0].amount",
		"invoices[NEGATIVE].items[1].unit_price", "invoices[NEGATIVE].items[1].amount",
		"invoices[EMPTY].items",
		"invoices[NOBUYER].buyer.id_type", "invoices[NOBUYER].buyer.name", "invoices[NOBUYER].buyer.address",
		"invoices[NOBUYER].items[0].name", "invoices[NOBUYER].items[0].unit",
		"invoices[UNPAID].paid_at",
		"invoices[VAT].invoice_number",
		"invoices[8].invoice_number",
	)
	if err := simple.Validate(); err == nil || !strings.Contains(err.Error(), "tax_base: 1000000 is not 11/12") {
		t.Errorf("Validate: %v", err)
	}
	if err := order("OK", paid, company(), waBalance(1000000)).Validate(); err != nil {
		t.Error(err)
	}

	// The seller and the time zone are checked too.
	if _, err := NewEFaktur(Seller{TIN: "123"}, loc, nil); err == nil {
		t.Error("bad seller accepted")
	}
	if _, err := NewEFaktur(testSeller(t), nil, nil); err == nil {
		t.Error("no time zone accepted")
	}
}

func TestNewSeller(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ npwp, nitku, tin, idtku string }{
		{"0012345678901000", "", "0012345678901000", "0012345678901000000000"},
		{"01.234.567.8-901.000", "", "0012345678901000", "0012345678901000000000"},
		{"0012345678901000", "0012345678901000000007", "0012345678901000", "0012345678901000000007"},
		{"012345678901000", "012345678901000000007", "0012345678901000", "0012345678901000000007"},
	} {
		s, err := NewSeller(c.npwp, c.nitku)
		if err != nil || s.TIN != c.tin || s.IDTKU != c.idtku {
			t.Errorf("NewSeller(%q, %q) = %+v, %v", c.npwp, c.nitku, s, err)
		}
	}
	for _, c := range [][2]string{{"", ""}, {"00.000.000.0-000.000", ""}, {"12345", ""}, {"0012345678901000", "0099999999999999000000"}, {"0012345678901000", "00123456789010000000"}} {
		if _, err := NewSeller(c[0], c[1]); err == nil {
			t.Errorf("NewSeller(%q, %q) accepted", c[0], c[1])
		}
	}
}

// The golden file shows a reviewer what finance uploads: one company, one
// NIK and one passport buyer, with hostile text.
func TestEFakturGolden(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	paid := time.Date(2026, 11, 14, 2, 30, 0, 0, time.UTC)
	buyer := company()
	buyer.Name = `PT "Maju & Jaya" <Tbk>`
	e, err := NewEFaktur(testSeller(t), loc, []FakturInvoice{
		order("INV/2026/000123", paid, buyer, waBalance(1000000), muvPacks(3)),
		order("INV/2026/000124", paid.Add(15*time.Hour), Identity{IDType: IDNIK, ID: "3171012345678901", Name: "Budi Santoso", Address: "Jl. Margonda Raya 1, Depok"},
			FakturItem{Name: "Langganan Pro, November 2026", UnitPrice: 100001, Qty: 1, Amount: 100001, Unit: UnitMonth}),
		order("INV/2026/000125", paid.Add(20*time.Hour), Identity{IDType: IDPassport, ID: "E1234567", Name: "Jane Doe", Address: "1 Raffles Place, Singapore", Email: "jane@example.com"},
			waBalance(1000077), muvPacks(1), FakturItem{Name: "Langganan Basic", UnitPrice: 49999, Qty: 3, Amount: 149997, Unit: UnitMonth}),
	})
	if err != nil {
		t.Fatal(err)
	}
	doc := write(t, e, 1)
	const golden = "testdata/efaktur.golden.xml"
	if *update {
		if err := os.WriteFile(golden, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./tax -update)", err)
	}
	if !bytes.Equal(doc, want) {
		t.Errorf("the export differs from %s (run with -update if the change is meant):\n%s", golden, doc)
	}
	if bad := conform(loadTemplate(t), tree(t, doc), ""); len(bad) > 0 {
		t.Error(bad)
	}
}

// Every small order of up to three lines (amounts 0…30, where remainders
// and ties are densest) allocates to the order's numbers within the bounds.
func TestAllocateSmallOrders(t *testing.T) {
	t.Parallel()
	loc := jakarta(t)
	s := testSeller(t)
	n := 0
	for a := int64(0); a <= 30; a++ {
		for b := int64(-1); b <= 30; b++ {
			for c := int64(-1); c <= 30; c++ {
				items := []FakturItem{{Name: "a", UnitPrice: a, Qty: 1, Amount: a}}
				if b >= 0 {
					items = append(items, FakturItem{Name: "b", UnitPrice: b, Qty: 1, Amount: b})
				}
				if c >= 0 {
					items = append(items, FakturItem{Name: "c", UnitPrice: c, Qty: 1, Amount: c})
				}
				o := order("X", time.Now(), company(), items...)
				if err := o.Validate(); err != nil {
					t.Fatal(err)
				}
				x := fakturXML(s, loc, o)
				var sumO, sumV int64
				for _, g := range x.Goods.Lines {
					if d := 12*g.OtherTaxBase - 11*g.TaxBase; d <= -12 || d >= 12 || g.OtherTaxBase < 0 {
						t.Fatalf("%d %d %d: OtherTaxBase %d for %d", a, b, c, g.OtherTaxBase, g.TaxBase)
					}
					if d := 100*g.VAT - 12*g.OtherTaxBase; d <= -100 || d >= 100 || g.VAT < 0 {
						t.Fatalf("%d %d %d: VAT %d for %d", a, b, c, g.VAT, g.OtherTaxBase)
					}
					sumO += g.OtherTaxBase
					sumV += g.VAT
				}
				if sumO != o.TaxBase || sumV != o.VAT {
					t.Fatalf("%d %d %d: sums %d %d, order %d %d", a, b, c, sumO, sumV, o.TaxBase, o.VAT)
				}
				n++
			}
		}
	}
	// Twelve 1-rupiah lines: eleven get the tax base's 11 rupiah.
	items := slices.Repeat([]FakturItem{{Name: "r", UnitPrice: 1, Qty: 1, Amount: 1}}, 12)
	x := fakturXML(s, loc, order("Y", time.Now(), company(), items...))
	var others []int64
	for _, g := range x.Goods.Lines {
		others = append(others, g.OtherTaxBase)
	}
	if want := []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}; !slices.Equal(others, want) {
		t.Errorf("twelve 1-rupiah lines: %v", others)
	}
	t.Logf("%d small orders", n)
}
