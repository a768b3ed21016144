package proforma

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/lunastest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var jakarta = func() *time.Location { l, _ := time.LoadLocation("Asia/Jakarta"); return l }()

func paidCard(locale string) Data {
	return Data{
		Locale: locale, SellerName: "PT Lunas Contoh Indonesia", SellerAddress: "Jl. Contoh No. 1, Jakarta 10110", SellerNPWP: "01.234.567.8-901.000",
		InvoiceNumber: "INV-2026-000042", IssuedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, jakarta), ExpiresAt: time.Date(2026, 11, 23, 23, 59, 0, 0, jakarta),
		Location: jakarta, AccountName: "Acme Nusantara", AccountID: "acme", Requester: "Siti Nurhaliza Ñuñez Øster", RequesterMail: "siti@acme.example",
		Lines:    []Line{{Description: "Saldo percakapan WhatsApp", Quantity: 1_000_000, Unit: "IDR", Amount: 1_000_000}},
		Subtotal: 1_000_000, VAT: 110_000, VATRate: "11%", CardFee: 38_850, CardFeeRate: "3.5%", Total: 1_148_850,
		Paid: true, PaidAt: time.Date(2026, 11, 22, 10, 15, 30, 0, jakarta), PaidMethod: "Credit card", PaidReference: "57d5293c-e65f-4a29-95e4-5959c3fa335b",
	}
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
	}{{"cp1252", r.Render}, {"utf8", RenderUTF8}} {
		for _, locale := range []string{"id", "en"} {
			t.Run(path.name+"/"+locale, func(t *testing.T) { golden(t, path.render, locale) })
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

// golden checks one render against testdata/paid_card_LOCALE.txt; both
// paths must print the same text.
func golden(t *testing.T, render func(Data) ([]byte, error), locale string) {
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
			for _, want := range []string{"INV-2026-000042", "Siti Nurhaliza Ñuñez Øster", "Rp1.000.000", "Rp110.000", "Rp38.850", "Rp1.148.850", "22-11-2026 10:15 WIB", "23-11-2026 23:59 WIB"} {
				if !strings.Contains(txt, want) {
					t.Errorf("text lacks %q", want)
				}
			}
			status := map[string]string{"id": "LUNAS", "en": "PAID"}[locale]
			if !strings.Contains(txt, status) {
				t.Errorf("text lacks %s", status)
			}
			golden := filepath.Join("testdata", "paid_card_"+locale+".txt")
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
	d := paidCard("en")
	d.Paid, d.CardFee, d.Total = false, 0, 1_110_000
	d.Instructions = []string{"BCA Virtual Account: 12345678901 (Rp1.110.000)"}
	pdf, err := renderer(t).Render(d)
	if err != nil {
		t.Fatal(err)
	}
	txt := pdftotext(t, pdf)
	for _, want := range []string{"UNPAID", "12345678901", "How to pay", "Rp1.110.000"} {
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
	s := NewSigner("secret")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	q := s.Query("ord_1", now.Add(time.Hour))
	exp, sig, _ := strings.Cut(strings.TrimPrefix(q, "expires="), "&sig=")
	if !s.Valid("ord_1", exp, sig, now) {
		t.Error("valid link refused")
	}
	if s.Valid("ord_2", exp, sig, now) {
		t.Error("link for another order accepted")
	}
	if s.Valid("ord_1", exp, sig[:len(sig)-1]+"0", now) && !strings.HasSuffix(sig, "0") {
		t.Error("tampered signature accepted")
	}
	if s.Valid("ord_1", exp, sig, now.Add(2*time.Hour)) {
		t.Error("expired link accepted")
	}
}

// BenchmarkRender is the proforma as lunas renders it (the cp1252 fast path).
func BenchmarkRender(b *testing.B) {
	r := renderer(b)
	d := paidCard("id")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderUTF8 is the general path, for names cp1252 cannot write.
func BenchmarkRenderUTF8(b *testing.B) {
	d := paidCard("id")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RenderUTF8(d); err != nil {
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
