package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/webhooktest"
)

// taxOrder is the order object's tax fields (API.md "Tax").
type taxOrder struct {
	order
	Subtotal    int64   `json:"subtotal"`
	VAT         int64   `json:"vat"`
	TaxBase     int64   `json:"tax_base"`
	VATRate     float64 `json:"vat_rate"`
	Payable     int64   `json:"payable"`
	Withholding *struct {
		Kind   string  `json:"kind"`
		Rate   float64 `json:"rate"`
		Base   int64   `json:"base"`
		Amount int64   `json:"amount"`
		Status string  `json:"status"`
	} `json:"withholding"`
	TaxInvoice struct {
		Number *string `json:"number"`
	} `json:"tax_invoice"`
}

// The efaktur XML as DJP's TaxInvoiceBulk names it, read back.
type bulkXML struct {
	XMLName  xml.Name `xml:"TaxInvoiceBulk"`
	TIN      string   `xml:"TIN"`
	Invoices []struct {
		TaxInvoiceDate string `xml:"TaxInvoiceDate"`
		TrxCode        string `xml:"TrxCode"`
		RefDesc        string `xml:"RefDesc"`
		BuyerTin       string `xml:"BuyerTin"`
		BuyerIDTKU     string `xml:"BuyerIDTKU"`
		Goods          []struct {
			TaxBase      string `xml:"TaxBase"`
			OtherTaxBase string `xml:"OtherTaxBase"`
			VATRate      string `xml:"VATRate"`
			VAT          string `xml:"VAT"`
		} `xml:"ListOfGoodService>GoodService"`
	} `xml:"ListOfTaxInvoice>TaxInvoice"`
}

func money(t *testing.T, s string) int64 {
	t.Helper()
	s = strings.TrimSuffix(strings.TrimSuffix(s, ".00"), ".0")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	return n
}

// A buyer that withholds PPh 23 pays payable (total − 2 % of the
// subtotal) through a VA and through a manual transfer, and each order is
// paid in full with no amount_mismatch; its slip is recorded once and the
// report lists the rest; the month's e-Faktur adds up to the orders'
// tax_base and vat and counts the order without a tax identity; the
// books hold (the stack's cleanup runs `lunas audit`).
func TestTaxWithholdingAndEFakturEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 1, env: map[string]string{"LUNAS_SELLER_NPWP": "01.234.567.8-901.000"}})
	s.setClock("2026-11-10T10:00:00+07:00")
	app := webhooktest.Start(t)
	app.SetSecret(s.webhookEndpoint(app.URL, "withholding.slip_missing", "withholding.slip_received").Secret)

	// The tax identity's field errors, all at once.
	var p problemBody
	code := s.call("PUT", "/v1/accounts/acme", appToken, map[string]any{"name": "Acme", "tax": map[string]any{
		"id_type": "npwp", "id": "12345", "nitku": "1", "name": "", "address": "Jl. Sudirman 1", "email": "not-mail", "withholds_pph23": true}}, &p)
	got := map[string]bool{}
	for _, e := range p.Errors {
		got[e.Field] = true
	}
	if code != 400 || !got["tax.id"] || !got["tax.nitku"] || !got["tax.name"] || !got["tax.email"] || len(p.Errors) != 4 {
		t.Fatalf("bad identity: %d %+v", code, p)
	}
	var acct struct {
		Tax map[string]any `json:"tax"`
	}
	// A 15-digit NPWP with separators is stored as 16 digits, its NITKU the head office's.
	if code := s.call("PUT", "/v1/accounts/acme", appToken, map[string]any{"name": "PT Acme", "tax": map[string]any{
		"id_type": "npwp", "id": "01.234.567.8-901.234", "name": "PT Acme Indonesia", "address": "Jl. Sudirman 1, Jakarta",
		"withholds_pph23": true}}, &acct); code != 201 || acct.Tax["id"] != "0012345678901234" || acct.Tax["nitku"] != "0012345678901234000000" {
		t.Fatalf("identity: %d %+v", code, acct.Tax)
	}
	s.account("plain") // no tax identity: skipped by the export

	var o1 taxOrder
	s.call("GET", "/v1/orders/"+s.confirmedOrder("acme", "sari@acme.example", 1_000_000).ID, appToken, nil, &o1)
	// DPP nilai lain: 11/12 of 1,000,000 = 916,666.67 → 916,667; 12 % → 110,000.04 → 110,000 (= today's 11 %).
	if o1.TaxBase != 916_667 || o1.VATRate != 0.12 || o1.VAT != 110_000 || o1.Total != 1_110_000 ||
		o1.Withholding == nil || o1.Withholding.Amount != 20_000 || o1.Withholding.Base != 1_000_000 || o1.Withholding.Rate != 0.02 ||
		o1.Withholding.Status != "awaiting_slip" || o1.Payable != 1_090_000 {
		t.Fatalf("withholding order: %+v withholding %+v", o1, o1.Withholding)
	}

	// Through a VA: the attempt and the gateway charge payable.
	var a attempt
	if code := s.call("POST", "/v1/orders/"+o1.ID+"/payments", appToken, map[string]string{"method": "bca_va"}, &a); code != 201 || a.Amount != 1_090_000 {
		t.Fatalf("VA attempt: %d %+v", code, a)
	}
	if tx, ok := s.midtrans.Tx(a.ID); !ok || tx.GrossAmount != 1_090_000 {
		t.Fatalf("gateway charge %+v", tx)
	}
	body, err := s.midtrans.Notification(a.ID, "settlement", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := s.midtrans.Send(context.Background(), body); err != nil || code != 200 {
		t.Fatalf("notification: %d %v", code, err)
	}
	lunastest.Eventually(t, 15*time.Second, "VA order paid", func() bool { return s.order(o1.ID).Status == "paid" })

	// Through a manual transfer of payable.
	s.setClock("2026-11-12T10:00:00+07:00")
	o2 := s.confirmedOrder("acme", "sari@acme.example", 2_000_000)
	var ma attempt
	if code := s.call("POST", "/v1/orders/"+o2.ID+"/payments", appToken, map[string]string{"method": "manual_transfer"}, &ma); code != 201 || ma.Amount != 2_180_000 {
		t.Fatalf("manual attempt: %d %+v (want 2,220,000 − 40,000)", code, ma)
	}
	png := lunastest.ProofPNG(t)
	if code, _ := s.upload("/v1/orders/"+o2.ID+"/proof", png, map[string]string{"amount": "2180000",
		"transferred_at": "2026-11-12T09:00:00+07:00", "sender_bank": "BCA", "sender_name": "PT Acme"}); code != 200 {
		t.Fatalf("proof: %d", code)
	}
	var paid order
	if code := s.call("POST", "/v1/orders/"+o2.ID+"/review", financeToken, map[string]string{"decision": "accept"}, &paid); code != 200 || paid.Status != "paid" {
		t.Fatalf("accept: %d %s", code, paid.Status)
	}

	// An order of an account without a tax identity, paid too.
	o3 := s.confirmedOrder("plain", "budi@plain.example", 1_000_000)
	s.call("POST", "/v1/orders/"+o3.ID+"/payments", appToken, map[string]string{"method": "bni_va"}, &a)
	body, _ = s.midtrans.Notification(a.ID, "settlement", "", nil)
	if code, err := s.midtrans.Send(context.Background(), body); err != nil || code != 200 {
		t.Fatalf("notification: %d %v", code, err)
	}
	lunastest.Eventually(t, 15*time.Second, "plain order paid", func() bool { return s.order(o3.ID).Status == "paid" })
	s.settled(20 * time.Second)

	if n := s.count(`SELECT count(*) FROM gateway_events WHERE flag IS NOT NULL`); n != 0 {
		t.Errorf("%d flagged gateway events, want none (no amount_mismatch)", n)
	}
	// Everything bought is credited: the withheld part is a tax payment, not a shortfall.
	if b := s.balances("acme"); b.Balances.WABalance != 3_000_000 {
		t.Errorf("acme balance %d, want 3,000,000", b.Balances.WABalance)
	}

	// The report lists both slips; one is recorded, once.
	type report struct {
		Rows []struct {
			OrderID string `json:"order_id"`
			Amount  int64  `json:"amount"`
		} `json:"rows"`
		Total struct{ Count, Amount int64 } `json:"total"`
	}
	var rep report
	if code := s.call("GET", "/v1/reports/withholding?status=awaiting_slip", financeToken, nil, &rep); code != 200 || rep.Total.Count != 2 || rep.Total.Amount != 60_000 {
		t.Fatalf("report: %d %+v", code, rep)
	}
	pdf := []byte("%PDF-1.4\n% bukti potong\n")
	if code, p := s.upload("/v1/orders/"+o1.ID+"/withholding-slip", []byte("<html>"), map[string]string{"number": "", "date": "11/20"}); code != 400 || len(p.Errors) != 3 {
		t.Errorf("bad slip: %d %+v", code, p)
	}
	if code, _ := s.upload("/v1/orders/"+o1.ID+"/withholding-slip", pdf, map[string]string{"number": "BP-2026/0001", "date": "2026-11-20"}); code != 200 {
		t.Fatalf("slip: %d", code)
	}
	if code, _ := s.upload("/v1/orders/"+o1.ID+"/withholding-slip", pdf, map[string]string{"number": "BP-2026/0002", "date": "2026-11-21"}); code != 409 {
		t.Errorf("second slip: %d, want 409", code)
	}
	if code, _ := s.upload("/v1/orders/"+o3.ID+"/withholding-slip", pdf, map[string]string{"number": "BP-1", "date": "2026-11-21"}); code != 409 {
		t.Errorf("slip for an order without withholding: %d, want 409", code)
	}
	var o1now taxOrder
	s.call("GET", "/v1/orders/"+o1.ID, appToken, nil, &o1now)
	if o1now.Withholding == nil || o1now.Withholding.Status != "received" {
		t.Errorf("after the slip: %+v", o1now.Withholding)
	}
	if code := s.call("GET", "/v1/reports/withholding", financeToken, nil, &rep); code != 200 || len(rep.Rows) != 1 || rep.Rows[0].OrderID != o2.ID {
		t.Errorf("report after the slip: %+v", rep)
	}
	res := s.fetch("/v1/reports/withholding", "text/csv")
	recs, err := csv.NewReader(res.body).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][1] != o2.ID || recs[1][5] != "40000" {
		t.Errorf("CSV report: %v %q", err, recs)
	}

	// 30 days after payment the app hears of the missing slip, once.
	s.setClock("2026-12-13T10:00:00+07:00")
	lunastest.Eventually(t, 15*time.Second, "slip_missing noticed", func() bool {
		return s.count(`SELECT count(*) FROM withholding_slips WHERE missing_notified_at IS NOT NULL`) == 1
	})
	if n := s.count(`SELECT count(*) FROM withholding_slips WHERE order_id = $1 AND missing_notified_at IS NOT NULL`, o2.ID); n != 1 {
		t.Errorf("the late slip noticed for %d rows of %s", n, o2.ID)
	}
	lunastest.Eventually(t, 20*time.Second, "withholding events delivered", func() bool {
		return len(byType(t, app, "withholding.slip_missing")) == 1 && len(byType(t, app, "withholding.slip_received")) == 1
	})
	for typ, id := range map[string]string{"withholding.slip_missing": o2.ID, "withholding.slip_received": o1.ID} {
		var e struct {
			Data struct {
				ID          string `json:"id"`
				Withholding struct {
					Amount int64  `json:"amount"`
					Status string `json:"status"`
				} `json:"withholding"`
			} `json:"data"`
		}
		if err := json.Unmarshal(byType(t, app, typ)[0].Body, &e); err != nil || e.Data.ID != id || e.Data.Withholding.Amount == 0 {
			t.Errorf("%s: %v %+v", typ, err, e.Data)
		}
	}

	// The month's e-Faktur, parsed back.
	res = s.fetch("/v1/tax/efaktur.xml?period=2026-11", "")
	if res.code != 200 || res.header.Get("X-Total-Parts") != "1" || res.header.Get("X-Lunas-Skipped") != "1" {
		t.Fatalf("efaktur: %d parts %q skipped %q", res.code, res.header.Get("X-Total-Parts"), res.header.Get("X-Lunas-Skipped"))
	}
	var doc bulkXML
	if err := xml.NewDecoder(res.body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.TIN != "0012345678901000" || len(doc.Invoices) != 2 {
		t.Fatalf("efaktur: TIN %s, %d invoices", doc.TIN, len(doc.Invoices))
	}
	want := map[string]taxOrder{}
	for _, id := range []string{o1.ID, o2.ID} {
		var o taxOrder
		s.call("GET", "/v1/orders/"+id, appToken, nil, &o)
		want[o.InvoiceNumber] = o
	}
	for _, inv := range doc.Invoices {
		o, ok := want[inv.RefDesc]
		if !ok || inv.TrxCode != "04" || inv.BuyerTin != "0012345678901234" || inv.BuyerIDTKU != "0012345678901234000000" {
			t.Errorf("invoice %+v", inv)
			continue
		}
		var base, other, vat int64
		for _, g := range inv.Goods {
			base += money(t, g.TaxBase)
			other += money(t, g.OtherTaxBase)
			vat += money(t, g.VAT)
		}
		if base != o.Subtotal || other != o.TaxBase || vat != o.VAT {
			t.Errorf("%s: TaxBase %d OtherTaxBase %d VAT %d; order subtotal %d tax_base %d vat %d", inv.RefDesc, base, other, vat, o.Subtotal, o.TaxBase, o.VAT)
		}
	}
	if res := s.fetch("/v1/tax/efaktur.xml?period=2026-11&part=2", ""); res.code != 404 {
		t.Errorf("part 2 of 1: %d", res.code)
	}
	if res := s.fetch("/v1/tax/efaktur.xml?period=11-2026", ""); res.code != 400 {
		t.Errorf("bad period: %d", res.code)
	}

	// Coretax's number, recorded by finance.
	var withNumber taxOrder
	if code := s.call("PUT", "/v1/orders/"+o1.ID+"/tax-invoice", financeToken, map[string]string{"number": "04002600000000123"}, &withNumber); code != 200 ||
		withNumber.TaxInvoice.Number == nil || *withNumber.TaxInvoice.Number != "04002600000000123" {
		t.Errorf("tax invoice: %d %+v", code, withNumber.TaxInvoice)
	}
	if code := s.call("PUT", "/v1/orders/"+o1.ID+"/tax-invoice", financeToken, map[string]string{"number": "123"}, nil); code != 400 {
		t.Errorf("short number: %d", code)
	}
}

type response struct {
	code   int
	header http.Header
	body   io.Reader
}

// fetch fetches path as finance, asking for accept ("" for any).
func (s *stack) fetch(path, accept string) response {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+financeToken)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{code: res.StatusCode, header: res.Header, body: bytes.NewReader(b)}
}

// upload posts a multipart form with file and fields as the app.
func (s *stack) upload(path string, file []byte, fields map[string]string) (int, problemBody) {
	s.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if file != nil {
		fw, _ := mw.CreateFormFile("file", "slip.pdf")
		fw.Write(file)
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", s.base+path, &buf)
	req.Header.Set("Authorization", "Bearer "+appToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var p problemBody
	b, _ := io.ReadAll(res.Body)
	_ = jsonUnmarshal(b, &p)
	return res.StatusCode, p
}
