package taxbook_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/tax"
	"github.com/lunas-id/lunas/taxbook"
)

type bulk struct {
	TIN      string `xml:"TIN"`
	Invoices []struct {
		RefDesc string `xml:"RefDesc"`
		Goods   []struct {
			TaxBase      string `xml:"TaxBase"`
			OtherTaxBase string `xml:"OtherTaxBase"`
			VAT          string `xml:"VAT"`
		} `xml:"ListOfGoodService>GoodService"`
	} `xml:"ListOfTaxInvoice>TaxInvoice"`
}

func rupiah(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSuffix(s, ".00"), ".0"), 10, 64)
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	return n
}

// 1,001 paid orders of a month with a buyer identity make two parts (1,000
// and 1), each invoice's OtherTaxBase and VAT adding up to its order's
// tax_base and vat; the paid order without an identity, and one priced in
// simple mode, are skipped and counted; an order paid the next month is
// not in the export. Exporting twice gives the same bytes.
func TestEFakturFromPaidOrders(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	ctx := context.Background()
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	accounts := account.New(pool, clock.Wall{}, lunastest.Logger())
	if _, _, err := accounts.Put(ctx, "acme", account.Input{Name: "Acme", Tax: &tax.Identity{IDType: tax.IDNPWP, ID: "0012345678901234",
		Name: "PT Acme Indonesia", Address: "Jl. Sudirman 1, Jakarta"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := accounts.Put(ctx, "plain", account.Input{Name: "Plain"}); err != nil {
		t.Fatal(err)
	}
	rules := tax.DefaultRules()
	want := map[string][2]int64{} // invoice number → tax_base, vat
	var b pgx.Batch
	add := func(i int, acct string, subtotal int64, paid time.Time, simple bool) string {
		l := rules.Compute(subtotal, false)
		if simple {
			l = tax.Rules{Mode: tax.ModeSimple, VATRate: rules.VATRate}.Compute(subtotal, false)
		}
		id, number := fmt.Sprintf("ord_%05d", i), fmt.Sprintf("INV-2026-%06d", i)
		b.Queue(`INSERT INTO orders (id, account_id, status, requester_name, requester_email, locale, subtotal, vat, total,
				tax_base, vat_rate, paid_at, created_at, updated_at)
			VALUES ($1, $2, 'paid', 'Sari', 'sari@acme.example', 'id', $3, $4, $5, $6, $7, $8, $8, $8)`,
			id, acct, subtotal, l.VAT, l.Total, l.TaxBase, l.VATRate, paid)
		b.Queue(`INSERT INTO order_items (order_id, line, product, unit, requested_quantity, quantity, amount) VALUES ($1, 0, 'wa_balance', 'IDR', $2, $2, $2)`, id, subtotal-300_000)
		b.Queue(`INSERT INTO order_items (order_id, line, product, unit, requested_quantity, quantity, amount) VALUES ($1, 1, 'muv', 'visitor', 500, 500, 300000)`, id)
		b.Queue(`INSERT INTO invoices (number, order_id, issued_at, expires_at) VALUES ($1, $2, $3, $3)`, number, id, paid)
		if acct == "acme" && !simple {
			want[number] = [2]int64{l.TaxBase, l.VAT}
		}
		return number
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, jkt) // midnight in Jakarta: still October in UTC
	for i := 0; i < 1001; i++ {
		// Subtotals that round every way at 11/12 and at 12 %.
		add(i, "acme", 1_300_000+int64(i)*7, start.Add(time.Duration(i)*time.Minute), false)
	}
	add(2000, "plain", 1_300_000, start.Add(time.Hour), false)
	add(2001, "acme", 1_300_005, start.Add(2*time.Hour), true)
	delete(want, add(2002, "acme", 1_300_000, time.Date(2026, 12, 1, 0, 0, 0, 0, jkt), false)) // December's
	if err := pool.SendBatch(ctx, &b).Close(); err != nil {
		t.Fatal(err)
	}

	svc := taxbook.New(pool, clock.Wall{}, jkt, taxbook.Seller{NPWP: "01.234.567.8-901.000"}, lunastest.Logger())
	ex, err := svc.EFaktur(ctx, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if ex.EFaktur.Len() != 1001 || ex.EFaktur.Parts() != 2 || len(ex.Skipped) != 2 {
		t.Fatalf("export: %d invoices, %d parts, skipped %+v", ex.EFaktur.Len(), ex.EFaktur.Parts(), ex.Skipped)
	}
	if ex.Skipped[0].InvoiceNumber != "INV-2026-002000" || ex.Skipped[0].Reason != "the account has no tax identity" ||
		ex.Skipped[1].InvoiceNumber != "INV-2026-002001" || !strings.Contains(ex.Skipped[1].Reason, "tax_base") {
		t.Errorf("skipped: %+v", ex.Skipped)
	}
	seen := map[string]bool{}
	for part, n := range map[int]int{1: 1000, 2: 1} {
		var buf bytes.Buffer
		if err := ex.EFaktur.Write(&buf, part); err != nil {
			t.Fatal(err)
		}
		var doc bulk
		if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.TIN != "0012345678901000" || len(doc.Invoices) != n {
			t.Fatalf("part %d: TIN %s, %d invoices, want %d", part, doc.TIN, len(doc.Invoices), n)
		}
		for _, inv := range doc.Invoices {
			w, ok := want[inv.RefDesc]
			if !ok || seen[inv.RefDesc] {
				t.Fatalf("part %d: unexpected or repeated invoice %s", part, inv.RefDesc)
			}
			seen[inv.RefDesc] = true
			var other, vat int64
			for _, g := range inv.Goods {
				other += rupiah(t, g.OtherTaxBase)
				vat += rupiah(t, g.VAT)
			}
			if other != w[0] || vat != w[1] {
				t.Errorf("%s: OtherTaxBase %d VAT %d, order tax_base %d vat %d", inv.RefDesc, other, vat, w[0], w[1])
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d invoices exported, want %d", len(seen), len(want))
	}
	again, err := svc.EFaktur(ctx, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	var one, two bytes.Buffer
	if err := ex.EFaktur.Write(&one, 1); err != nil {
		t.Fatal(err)
	}
	if err := again.EFaktur.Write(&two, 1); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Error("two exports of the same month differ")
	}
	if _, err := svc.EFaktur(ctx, "2026-13"); err == nil {
		t.Error("month 13 accepted")
	}
}
