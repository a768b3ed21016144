package report_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/report"
	"github.com/lunas-id/lunas/subscription"
)

func ptr[T any](v T) *T { return &v }

func TestOverdueReport(t *testing.T) {
	e := paytest.New(t)
	e.Account("isp")
	e.Account("rtrw")
	subs := subscription.New(e.Pool, e.Invoices, e.Clock, paytest.Jakarta, lunastest.Logger())
	for _, p := range []struct {
		id     string
		amount int64
	}{{"home-20", 250_000}, {"home-50", 400_000}} {
		if _, _, err := subs.PutPlan(e.Ctx, p.id, subscription.PlanInput{Name: p.id, Amount: &p.amount, VAT: ptr(false), LeadDays: ptr(7)}); err != nil {
			t.Fatal(err)
		}
	}
	e.Clock.Set(time.Date(2026, 12, 4, 9, 0, 0, 0, paytest.Jakarta))
	mk := func(acct, plan, due, email string) string {
		x, err := subs.Create(e.Ctx, subscription.CreateInput{AccountID: acct, PlanID: plan, FirstDueDate: due,
			Customer: subscription.Customer{Name: "Cust " + email, Email: email}})
		if err != nil {
			t.Fatal(err)
		}
		var id string
		if err := e.Pool.QueryRow(e.Ctx, `SELECT id FROM orders WHERE subscription_id = $1`, x.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	a := mk("isp", "home-20", "2026-12-03", "a@x.example")  // 7 days overdue at 12-10
	b := mk("isp", "home-50", "2026-12-05", "b@x.example")  // 5 days
	c := mk("rtrw", "home-20", "2026-12-08", "c@x.example") // paid on 12-09: not overdue at 12-10, overdue at 12-08? no: due 12-08
	d := mk("rtrw", "home-20", "2026-12-10", "d@x.example") // due at as_of: not overdue yet
	_ = d
	mk("isp", "home-20", "2026-12-02", "e@x.example")
	// e's invoice is paid on 12-12: overdue at 12-10 (paid later), not at 12-12.
	var eOrder string
	_ = e.Pool.QueryRow(e.Ctx, `SELECT id FROM orders WHERE requester_email = 'e@x.example'`).Scan(&eOrder)

	e.Clock.Set(time.Date(2026, 12, 9, 12, 0, 0, 0, paytest.Jakarta))
	pay := e.Pay(c, gateway.MethodBCAVA)
	e.Deliver(pay.ID, "settlement", "", nil)
	e.Clock.Set(time.Date(2026, 12, 12, 12, 0, 0, 0, paytest.Jakarta))
	pay = e.Pay(eOrder, gateway.MethodBCAVA)
	e.Deliver(pay.ID, "settlement", "", nil)

	rs := report.New(e.Pool, e.Clock, paytest.Jakarta)
	asOf := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	rep, err := rs.Overdue(e.Ctx, report.Filter{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		order string
		days  int
	}
	wants := []want{{eOrder, 8}, {a, 7}, {b, 5}}
	if len(rep.Rows) != len(wants) {
		t.Fatalf("rows %+v", rep.Rows)
	}
	for i, w := range wants {
		if rep.Rows[i].OrderID != w.order || rep.Rows[i].DaysOverdue != w.days {
			t.Errorf("row %d: %+v, want %+v", i, rep.Rows[i], w)
		}
	}
	if rep.Total.Count != 3 || rep.Total.Amount != 250_000+250_000+400_000 {
		t.Errorf("total %+v", rep.Total)
	}
	if rep.Rows[1].PlanID != "home-20" || rep.Rows[1].Period != "2026-12" || rep.Rows[1].Customer.Email != "a@x.example" || rep.Rows[1].InvoiceNumber == "" {
		t.Errorf("row %+v", rep.Rows[1])
	}
	// Filters.
	if r, _ := rs.Overdue(e.Ctx, report.Filter{AsOf: asOf, PlanID: "home-50"}); len(r.Rows) != 1 || r.Rows[0].OrderID != b {
		t.Errorf("plan filter %+v", r.Rows)
	}
	if r, _ := rs.Overdue(e.Ctx, report.Filter{AsOf: asOf, MinDays: 6}); len(r.Rows) != 2 {
		t.Errorf("min_days filter %+v", r.Rows)
	}
	if r, _ := rs.Overdue(e.Ctx, report.Filter{AsOf: asOf, AccountID: "rtrw"}); len(r.Rows) != 0 {
		t.Errorf("account filter %+v", r.Rows)
	}
	// Today (12-12): e is paid; c paid; a, b, d overdue.
	if r, _ := rs.Overdue(e.Ctx, report.Filter{}); len(r.Rows) != 3 || r.Rows[2].OrderID != d || r.Rows[2].DaysOverdue != 2 {
		t.Errorf("today %+v", r.Rows)
	}

	// CSV parses: header + rows.
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0][0] != "invoice_number" || recs[1][1] != eOrder || recs[1][9] != "2026-12-02" || recs[1][10] != "250000" || recs[1][11] != "8" {
		t.Errorf("csv %v", recs)
	}

	// XLSX: the sheet, typed cells, the totals row, the autofilter.
	buf.Reset()
	if err := rep.WriteXLSX(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if sheets := f.GetSheetList(); len(sheets) != 1 || sheets[0] != "Overdue" {
		t.Fatalf("sheets %v", sheets)
	}
	if v, _ := f.GetCellValue("Overdue", "A1"); v != "invoice_number" {
		t.Errorf("A1 %q", v)
	}
	for cell, typ := range map[string]excelize.CellType{"K2": excelize.CellTypeNumber, "L2": excelize.CellTypeNumber, "K5": excelize.CellTypeNumber, "A2": excelize.CellTypeSharedString} {
		got, err := f.GetCellType("Overdue", cell)
		// A number cell has no t attribute (unset) or t="n".
		ok := got == typ || (typ == excelize.CellTypeSharedString && got == excelize.CellTypeInlineString) ||
			(typ == excelize.CellTypeNumber && got == excelize.CellTypeUnset)
		if err != nil || !ok {
			t.Errorf("%s type %v, want %v (%v)", cell, got, typ, err)
		}
	}
	raw, _ := f.GetCellValue("Overdue", "K2", excelize.Options{RawCellValue: true})
	if raw != "250000" {
		t.Errorf("K2 raw %q", raw)
	}
	// A date: a serial number shown with a date format.
	rawDate, _ := f.GetCellValue("Overdue", "J2", excelize.Options{RawCellValue: true})
	shown, _ := f.GetCellValue("Overdue", "J2")
	if rawDate != "46358" || shown != "2026-12-02" {
		t.Errorf("J2 raw %q shown %q", rawDate, shown)
	}
	if v, _ := f.GetCellValue("Overdue", "A5"); v != "Total" {
		t.Errorf("A5 %q", v)
	}
	if v, _ := f.GetCellValue("Overdue", "K5", excelize.Options{RawCellValue: true}); v != "900000" {
		t.Errorf("total %q", v)
	}
	// The autofilter is a defined name _xlnm._FilterDatabase on the sheet.
	found := false
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm._FilterDatabase" && dn.Scope == "Overdue" {
			found = strings.ReplaceAll(dn.RefersTo, "'", "") == "Overdue!$A$1:$L$4"
			if !found {
				t.Errorf("autofilter refers to %s", dn.RefersTo)
			}
		}
	}
	if !found {
		t.Error("no autofilter")
	}
}
