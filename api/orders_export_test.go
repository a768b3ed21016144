package api_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/lunas-id/lunas/internal/lunastest"
)

// Finance finds orders by invoice number, requester and invoice date, and
// exports what the filter shows as CSV and XLSX (the finish issue).
func TestOrdersSearchAndExport(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	if code, _, _ := do(t, srv, "PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Acme"}`)); code != 201 {
		t.Fatalf("put account: %d", code)
	}
	ids := map[string]string{}
	for _, who := range []string{"Sari Dewi|sari@acme.example", "Budi Santoso|budi@acme.example", "=HYPERLINK(1)|eve@acme.example"} {
		name, email, _ := strings.Cut(who, "|")
		body := fmt.Sprintf(`{"account_id":"acme","requester":{"name":%q,"email":%q},"items":[{"product":"wa_balance","quantity":1000000}]}`, name, email)
		code, b, _ := do(t, srv, "POST", "/v1/orders", appTok, []byte(body))
		if code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		var o struct{ ID string }
		_ = json.Unmarshal(b, &o)
		ids[email] = o.ID
	}
	code, b, _ := do(t, srv, "POST", "/v1/orders/"+ids["budi@acme.example"]+"/confirm", appTok, nil)
	if code != 200 {
		t.Fatalf("confirm: %d %s", code, b)
	}
	var confirmed struct {
		InvoiceNumber string `json:"invoice_number"`
	}
	_ = json.Unmarshal(b, &confirmed)

	list := func(query string) []string {
		t.Helper()
		code, b, _ := do(t, srv, "GET", "/v1/orders?"+query, finTok, nil)
		if code != 200 {
			t.Fatalf("list %s: %d %s", query, code, b)
		}
		var page struct {
			Data []struct{ ID string } `json:"data"`
		}
		_ = json.Unmarshal(b, &page)
		var out []string
		for _, o := range page.Data {
			out = append(out, o.ID)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"q=" + confirmed.InvoiceNumber[:9], []string{ids["budi@acme.example"]}}, // INV-2026-
		{"q=SARI", []string{ids["sari@acme.example"]}},
		{"q=budi%40acme", []string{ids["budi@acme.example"]}},
		{"q=%25", nil}, // a literal %, not a wildcard
		{"q=nobody", nil},
		{"from=2000-01-01&to=2000-01-31", nil},
		{"from=2000-01-01", []string{ids["eve@acme.example"], ids["budi@acme.example"], ids["sari@acme.example"]}}, // newest first
	} {
		if got := list(tc.query); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	code, b, _ = do(t, srv, "GET", "/v1/orders?from=yesterday&to=2026-13-01&status=lost", finTok, nil)
	if f := fields(t, b); code != 400 || f["from"] == "" || f["to"] == "" || f["status"] == "" {
		t.Errorf("bad filters: %d %v", code, f)
	}

	code, b, hdr := do(t, srv, "GET", "/v1/orders?q=acme.example", finTok, nil, "Accept", "text/csv")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", code, hdr.Get("Content-Type"))
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][0] != "invoice_number" {
		t.Fatalf("csv rows %v (%v)", rows, err)
	}
	csvText := string(b)
	if !strings.Contains(csvText, "'=HYPERLINK(1)") || !strings.Contains(csvText, confirmed.InvoiceNumber) || !strings.Contains(csvText, ",1110000,") {
		t.Errorf("csv lacks the neutralised name, the invoice number or the total:\n%s", csvText)
	}

	code, b, hdr = do(t, srv, "GET", "/v1/orders.xlsx?q=budi", finTok, nil)
	if code != 200 || !strings.Contains(hdr.Get("Content-Type"), "spreadsheetml") {
		t.Fatalf("xlsx: %d %s", code, hdr.Get("Content-Type"))
	}
	wb, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	xrows, err := wb.GetRows("Orders")
	if err != nil || len(xrows) != 2 || xrows[1][0] != confirmed.InvoiceNumber {
		t.Errorf("xlsx rows %v (%v)", xrows, err)
	}
}
