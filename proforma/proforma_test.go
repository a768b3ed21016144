package proforma

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var jakarta = func() *time.Location { l, _ := time.LoadLocation("Asia/Jakarta"); return l }()

func paidCard(locale string) Data {
	return Data{
		Locale: locale, SellerName: "PT Lunas Contoh Indonesia", SellerAddress: "Jl. Contoh No. 1, Jakarta 10110", SellerNPWP: "01.234.567.8-901.000",
		InvoiceNumber: "INV-2026-000042", IssuedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, jakarta), ExpiresAt: time.Date(2026, 11, 23, 23, 59, 0, 0, jakarta),
		Location: jakarta, AccountName: "Acme Nusantara", AccountID: "acme", AccountAddress: "Jl. Jenderal Sudirman Kav. 52-53, Jakarta Selatan 12190",
		AccountNPWP: "02.345.678.9-012.000", Requester: "Siti Nurhaliza Ñuñez Øster", RequesterMail: "siti@acme.example",
		Lines: []Line{{Description: ProductName("wa_balance", locale), Quantity: 1_000_000, Unit: UnitName("IDR", locale), Amount: 1_000_000},
			{Description: ProductName("muv", locale), Quantity: 1_000, Unit: UnitName("visitor", locale), Amount: 600_000}},
		Subtotal: 1_600_000, VAT: 176_000, VATRate: decimal.RequireFromString("0.11"), CardFee: 62_160, CardFeeRate: decimal.RequireFromString("0.035"), Total: 1_838_160,
		Paid: true, PaidAt: time.Date(2026, 11, 22, 10, 15, 30, 0, jakarta), PaidMethod: LocalMethodName("credit_card", locale), PaidReference: "57d5293c-e65f-4a29-95e4-5959c3fa335b",
	}
}

// unpaidVA is the same order before payment, with a VA open.
func unpaidVA(locale string) Data {
	d := paidCard(locale)
	d.Paid, d.PaidAt, d.PaidMethod, d.PaidReference, d.CardFee, d.Total = false, time.Time{}, "", "", 0, 1_776_000
	d.Instructions = []string{"BCA Virtual Account, " + map[string]string{"id": "nomor VA", "en": "VA number"}[locale] + " 12345678901 (Rp1.776.000)"}
	return d
}

func pdftotext(t *testing.T, pdf []byte) string { return lunastest.PDFText(t, pdf) }

func TestRupiah(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "Rp0", 999: "Rp999", 1000: "Rp1.000", 1_776_000: "Rp1.776.000", 1_148_850: "Rp1.148.850", -5000: "-Rp5.000"} {
		if got := Rupiah(n); got != want {
			t.Errorf("Rupiah(%d) = %s, want %s", n, got, want)
		}
	}
}

func renderer(t testing.TB) *Renderer {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPaidCardInvoiceGolden(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	for _, path := range []struct {
		name   string
		render func(Data) ([]byte, error)
	}{{"cp1252", r.Render}, {"utf8", r.RenderUTF8}} {
		for _, locale := range []string{"id", "en"} {
			t.Run(path.name+"/"+locale, func(t *testing.T) { golden(t, path.name, path.render, locale) })
		}
	}
}

// The fast path must not take text it cannot write: a name outside cp1252
// goes through the UTF-8 path and comes out whole.
func TestNamesOutsideCP1252(t *testing.T) {
	t.Parallel()
	d := paidCard("en")
	d.Requester = "Nguyễn Thị Minh Khai Ğ"
	pdf, err := renderer(t).Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if txt := pdftotext(t, pdf); !strings.Contains(txt, "Nguyễn Thị Minh Khai Ğ") {
		t.Errorf("name lost:\n%s", txt)
	}
}

// localWords must appear in the paid card invoice of each locale.
var localWords = map[string][]string{
	"id": {"FAKTUR PROFORMA", "LUNAS", "Kartu kredit", "pengunjung", "Biaya kartu kredit 3,5%", "PPN 11%",
		"Terbilang: Satu juta delapan ratus tiga puluh delapan ribu seratus enam puluh rupiah"},
	"en": {"PROFORMA INVOICE", "PAID", "Credit card", "visitors", "Credit card fee 3.5%", "VAT 11%",
		"In words: One million eight hundred thirty-eight thousand one hundred sixty rupiah"},
}

// English that must not appear on an Indonesian document (and the
// Indonesian decimal comma on an English one).
var foreignWords = map[string][]string{
	"id": {"Bank transfer", "visitor", "Credit card", "Invoice no.", "Issued", "Valid until", "Bill to", "Requester", "Amount",
		"Quantity", "Description", "VAT", "PAID", "UNPAID", "How to pay", "In words", "3.5%", "Paid", "Method", "Reference", "Address"},
	"en": {"Kartu kredit", "pengunjung", "Terbilang", "LUNAS", "Ditagihkan", "3,5%", "Alamat", "Pemohon", "FAKTUR"},
}

// Every label of a document is in its order's language.
func TestOneLanguagePerDocument(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	for _, locale := range []string{"id", "en"} {
		for _, d := range []Data{paidCard(locale), unpaidVA(locale)} {
			pdf, err := r.Render(d)
			if err != nil {
				t.Fatal(err)
			}
			txt := pdftotext(t, pdf)
			for _, bad := range foreignWords[locale] {
				if strings.Contains(txt, bad) {
					t.Errorf("%s document (paid %v) says %q:\n%s", locale, d.Paid, bad, txt)
				}
			}
		}
	}
}

// The PDF's own dates are the invoice's (a viewer's "created"), not a fixed
// or wall-clock date, and rendering stays deterministic.
func TestDocumentDates(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	for _, c := range []struct {
		d                  Data
		creation, modified string
	}{{paidCard("id"), "D:20261122030000", "D:20261122031530"}, {unpaidVA("en"), "D:20261122030000", "D:20261122030000"}} {
		pdf, err := r.Render(c.d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(pdf, []byte("/CreationDate ("+c.creation+")")) || !bytes.Contains(pdf, []byte("/ModDate ("+c.modified+")")) {
			i := bytes.Index(pdf, []byte("/CreationDate"))
			t.Errorf("want creation %s, modified %s; info: %q", c.creation, c.modified, pdf[i:min(len(pdf), i+80)])
		}
	}
}

func TestPercent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ rate, locale, want string }{
		{"0.035", "id", "3,5%"}, {"0.035", "en", "3.5%"}, {"0.11", "id", "11%"}, {"0.125", "id", "12,5%"}, {"0", "en", "0%"},
	} {
		if got := Percent(decimal.RequireFromString(c.rate), c.locale); got != c.want {
			t.Errorf("Percent(%s, %s) = %s, want %s", c.rate, c.locale, got, c.want)
		}
	}
}

// golden checks one render against testdata/paid_card_PATH_LOCALE.txt:
// both paths print the same words (checked here), laid out by their own
// font's widths (the fast path uses the PDF core font Helvetica, the
// UTF-8 path the embedded Go fonts).
func golden(t *testing.T, pathName string, render func(Data) ([]byte, error), locale string) {
	{
		{
			pdf, err := render(paidCard(locale))
			if err != nil {
				t.Fatal(err)
			}
			again, _ := render(paidCard(locale))
			if !bytes.Equal(pdf, again) {
				t.Error("two renders of the same data differ")
			}
			txt := pdftotext(t, pdf)
			for _, want := range append([]string{"INV-2026-000042", "Siti Nurhaliza Ñuñez Øster", "Rp1.000.000", "Rp176.000", "Rp62.160",
				"Rp1.838.160", "22-11-2026 10:15 WIB", "23-11-2026 23:59 WIB", "Jl. Jenderal Sudirman Kav. 52-53", "0023456789012000"},
				localWords[locale]...) {
				if !strings.Contains(txt, want) {
					t.Errorf("text lacks %q", want)
				}
			}
			golden := filepath.Join("testdata", "paid_card_"+pathName+"_"+locale+".txt")
			if *update {
				if err := os.WriteFile(golden, []byte(txt), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./proforma -update)", err)
			}
			if string(want) != txt {
				t.Errorf("text differs from %s (run with -update if the change is meant):\n%s", golden, txt)
			}
		}
	}
}

func TestUnpaidShowsInstructions(t *testing.T) {
	t.Parallel()
	pdf, err := renderer(t).Render(unpaidVA("en"))
	if err != nil {
		t.Fatal(err)
	}
	txt := pdftotext(t, pdf)
	for _, want := range []string{"UNPAID", "12345678901", "How to pay", "Rp1.776.000", "One million seven hundred seventy-six thousand rupiah"} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q:\n%s", want, txt)
		}
	}
	if strings.Contains(txt, "Credit card fee") {
		t.Error("card fee shown on a non-card invoice")
	}
}

func TestSignedLinks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFixed(now)
	s := NewSigner("secret", clk)
	q := s.For("ord_1", time.Hour)
	if q != s.Query("ord_1", now.Add(time.Hour)) {
		t.Errorf("For %q is not Query until the service clock's now + ttl", q)
	}
	exp, sig, _ := strings.Cut(strings.TrimPrefix(q, "expires="), "&sig=")
	if !s.Valid("ord_1", exp, sig) {
		t.Error("valid link refused")
	}
	if s.Valid("ord_2", exp, sig) {
		t.Error("link for another order accepted")
	}
	if s.Valid("ord_1", exp, sig[:len(sig)-1]+"0") && !strings.HasSuffix(sig, "0") {
		t.Error("tampered signature accepted")
	}
	clk.Set(now.Add(2 * time.Hour)) // the service clock moves on: the link has expired
	if s.Valid("ord_1", exp, sig) {
		t.Error("expired link accepted")
	}
}

// BenchmarkRender is the proforma as lunas renders it (the cp1252 fast path).
func BenchmarkRender(b *testing.B) {
	r := renderer(b)
	d := paidCard("id")
	b.ReportAllocs()
	var size int
	for b.Loop() {
		pdf, err := r.Render(d)
		if err != nil {
			b.Fatal(err)
		}
		size = len(pdf)
	}
	b.ReportMetric(float64(size), "bytes/pdf") // the proforma's size (issue 27: at most 40 KB)
}

// BenchmarkRenderUTF8 is the general path, for names cp1252 cannot write.
func BenchmarkRenderUTF8(b *testing.B) {
	d := paidCard("id")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (*Renderer)(nil).RenderUTF8(d); err != nil {
			b.Fatal(err)
		}
	}
}

// Renders run concurrently in the worker; under -race this shows they share nothing.
func TestConcurrentRenders(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	want, err := r.Render(paidCard("id"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := r.Render(paidCard("id"))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("concurrent render differs (err %v)", err)
			}
		}()
	}
	wg.Wait()
}

func testImage(w, h int, alpha uint8) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x), 128, uint8(y), alpha})
		}
	}
	return img
}

func encoded(t *testing.T, img image.Image, format string) []byte {
	var buf bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A logo goes on both paths, in a form fpdf embeds as it is: a PNG with
// alpha is flattened, a large image is scaled down, anything else refused.
func TestLogo(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		img      []byte
		kind     string
		maxSide  int
		sameData bool
	}{
		{"png with alpha", encoded(t, testImage(240, 100, 120), "png"), "png", 240, false},
		{"small jpeg kept", encoded(t, testImage(240, 100, 255), "jpeg"), "jpg", 240, true},
		{"large png scaled", encoded(t, testImage(2000, 500, 255), "png"), "png", logoMaxPx, false},
		{"large jpeg scaled", encoded(t, testImage(500, 1500, 255), "jpeg"), "jpg", logoMaxPx, false},
	} {
		r := renderer(t)
		if err := r.SetLogo(c.img); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.logo.kind != c.kind || max(r.logo.widthPx, r.logo.heightPx) != c.maxSide || bytes.Equal(r.logo.data, c.img) != c.sameData {
			t.Errorf("%s: kind %s, %dx%d, data kept %v", c.name, r.logo.kind, r.logo.widthPx, r.logo.heightPx, bytes.Equal(r.logo.data, c.img))
		}
		if c.kind == "png" {
			if cfg, err := png.DecodeConfig(bytes.NewReader(r.logo.data)); err != nil || cfg.ColorModel != color.RGBAModel {
				t.Errorf("%s: prepared PNG is not opaque RGB: %v %v", c.name, cfg.ColorModel, err)
			}
		}
		for _, render := range []func(Data) ([]byte, error){r.Render, r.RenderUTF8} {
			pdf, err := render(paidCard("id"))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !bytes.Contains(pdf, []byte("/Subtype /Image")) {
				t.Errorf("%s: no image in the PDF", c.name)
			}
			if again, _ := render(paidCard("id")); !bytes.Equal(pdf, again) {
				t.Errorf("%s: two renders differ", c.name)
			}
		}
	}
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	for _, bad := range [][]byte{nil, []byte("not an image"), gif} {
		if err := renderer(t).SetLogo(bad); err == nil {
			t.Errorf("SetLogo(%q) accepted", bad)
		}
	}
}

// BenchmarkRenderLogo is BenchmarkRender with a 480×200 logo.
func BenchmarkRenderLogo(b *testing.B) {
	r := renderer(b)
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(480, 200, 200)); err != nil {
		b.Fatal(err)
	}
	if err := r.SetLogo(buf.Bytes()); err != nil {
		b.Fatal(err)
	}
	d := paidCard("id")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(d); err != nil {
			b.Fatal(err)
		}
	}
}

// A proforma goes with every billing mail and is stored once per order:
// the fast path embeds no font, so it stays far under the performance
// issue's 40 KB (it was ~147 KB with the Go fonts embedded). The UTF-8
// path, for names outside cp1252, embeds subsets of the Go fonts.
func TestProformaSize(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	for _, locale := range []string{"id", "en"} {
		pdf, err := r.Render(paidCard(locale))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", locale, len(pdf))
		if len(pdf) > 40<<10 {
			t.Errorf("%s: the proforma is %d bytes; at most 40 KB", locale, len(pdf))
		}
		if bytes.Contains(pdf, []byte("/FontFile")) {
			t.Errorf("%s: a font is embedded on the fast path", locale)
		}
	}
}
