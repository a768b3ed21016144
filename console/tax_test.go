package console_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	acc "github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/tax"
	"github.com/lunas-id/lunas/taxbook"
)

// The tax page shows the month's e-Faktur with its download and the paid
// orders it skipped, and the PPh 23 slips still awaited with their CSV,
// in both languages.
func TestTaxPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{tax: true})
	ctx := context.Background()
	if _, _, err := e.accounts.Put(ctx, "acme", acc.Input{Name: "PT Acme", Tax: &tax.Identity{IDType: tax.IDNPWP, ID: "0012345678901234",
		Name: "PT Acme Indonesia", Address: "Jl. Sudirman 1, Jakarta", WithholdsPPh23: true}}); err != nil {
		t.Fatal(err)
	}
	withheld := e.inReview("acme", "sari@acme.example", 1_000_000, receipt(t))
	plain := e.inReview("plain", "budi@plain.example", 1_000_000, receipt(t))
	for _, o := range []string{withheld.ID, plain.ID} {
		if _, err := e.reviews.Review(ctx, o, "finance:test", review.ReviewInput{Decision: review.Accept}); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client()
	c.mustSignIn()
	period := e.clock.Now().In(jakarta).Format("2006-01")
	for _, lang := range []string{"id", "en"} {
		c.get("/console/lang?to=" + lang + "&next=/console/tax")
		res, body := c.get("/console/tax")
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", lang, res.StatusCode, tail(body, 1500))
		}
		if m := regexp.MustCompile(`⟦[^⟧]*⟧`).FindAllString(body, -1); m != nil {
			t.Errorf("%s: untranslated %v", lang, m)
		}
		for _, want := range []string{"/console/tax/efaktur.xml?period=" + period + "&amp;part=1", *plain.InvoiceNumber, "/console/orders/" + withheld.ID,
			"Rp20.000", "/console/tax/withholding.csv"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: tax page lacks %q:\n%s", lang, want, tail(body, 3000))
			}
		}
	}
	res, body := c.get("/console/tax/withholding.csv")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, *withheld.InvoiceNumber+","+withheld.ID+",acme,PT Acme,") || strings.Count(body, "\n") != 2 {
		t.Errorf("withholding CSV: %d\n%s", res.StatusCode, body)
	}
	if _, body := c.get("/console/accounts/acme"); !strings.Contains(body, "0012345678901234000000") || !strings.Contains(body, "PPh 23") {
		t.Error("account page lacks the tax identity")
	}
	// The order page shows the withholding and, once received, the slip.
	_, body = c.get("/console/orders/" + withheld.ID)
	for _, want := range []string{"Rp1.090.000", "-Rp20.000", "slip not yet received", "DPP"} {
		if !strings.Contains(body, want) {
			t.Errorf("order page lacks %q", want)
		}
	}
	tb := taxbook.New(e.pool, e.clock, jakarta, taxbook.Seller{}, lunastest.Logger())
	pdf := []byte("%PDF-1.4\n% bukti potong\n")
	if _, err := tb.RecordSlip(ctx, withheld.ID, taxbook.SlipInput{File: pdf, Number: "BP-1", Date: "2026-11-20"}); err != nil {
		t.Fatal(err)
	}
	if _, body := c.get("/console/orders/" + withheld.ID); !strings.Contains(body, "/console/orders/"+withheld.ID+"/withholding-slip") {
		t.Error("order page lacks the slip download")
	}
	if res, body := c.get("/console/orders/" + withheld.ID + "/withholding-slip"); res.StatusCode != 200 || body != string(pdf) ||
		res.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("slip download: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	res, body = c.get("/console/tax/efaktur.xml?period=" + period + "&part=1")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/xml; charset=utf-8" ||
		!strings.Contains(body, "<RefDesc>"+*withheld.InvoiceNumber+"</RefDesc>") || strings.Contains(body, *plain.InvoiceNumber) {
		t.Errorf("e-Faktur download: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), tail(body, 2000))
	}
	res, body = c.get("/console/tax/withholding.csv")
	if res.StatusCode != http.StatusOK || strings.Count(body, "\n") != 1 {
		t.Errorf("withholding CSV after the slip: %d\n%s", res.StatusCode, body)
	}
}
