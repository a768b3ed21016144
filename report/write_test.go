package report

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

func sample() Overdue {
	due := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	rows := []Row{
		{InvoiceNumber: "INV-2026-000001", OrderID: "ord_1", AccountID: "acme", Customer: Customer{Name: `=cmd|' /C calc'!A0`, Email: "a@acme.example"}, PlanID: "home", Period: "2026-12", DueDate: due, Amount: 250000, DaysOverdue: 8},
		{InvoiceNumber: "INV-2026-000002", OrderID: "ord_2", AccountID: "acme", Customer: Customer{Name: "+62 Warung", Email: "b@acme.example"}, PlanID: "home", Period: "2026-12", DueDate: due, Amount: 300000, DaysOverdue: 8},
		{InvoiceNumber: "INV-2026-000003", OrderID: "ord_3", AccountID: "acme", Customer: Customer{Name: "@SUM(1+1)", Email: "c@acme.example"}, PlanID: "home", Period: "2026-12", DueDate: due, Amount: 350000, DaysOverdue: 8},
	}
	return Overdue{AsOf: due, Rows: rows, Total: Total{Count: 3, Amount: 900000}}
}

// The workbook Excel opens has its filter buttons: the <autoFilter>
// element is in the sheet's own XML, not only a defined name (what
// excelize's stream writer left after Flush).
func TestXLSXAutofilterIsInTheSheetXML(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sample().WriteXLSX(&buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var sheet string
	for _, f := range zr.File {
		if f.Name == "xl/worksheets/sheet1.xml" {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			sheet = string(b)
		}
	}
	if !regexp.MustCompile(`<autoFilter ref="\$?A\$?1:\$?L\$?4"`).MatchString(sheet) {
		t.Errorf("sheet XML has no <autoFilter ref=\"A1:L4\">: %.400s…", sheet)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.GetCellValue(Sheet, "E2"); v != `=cmd|' /C calc'!A0` {
		t.Errorf("E2 = %q: the XLSX keeps the name as text", v)
	}
	if formula, _ := f.GetCellFormula(Sheet, "E2"); formula != "" {
		t.Errorf("E2 is a formula: %q", formula)
	}
}

// OWASP's CSV-injection rule: a cell starting with = + - @ tab or CR is
// written with a leading quote, so a spreadsheet shows it as text.
func TestCSVNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sample().WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`'=cmd|' /C calc'!A0`, "'+62 Warung", "'@SUM(1+1)"} {
		if got := recs[i+1][4]; got != want {
			t.Errorf("row %d customer = %q, want %q", i+1, got, want)
		}
	}
	for in, want := range map[string]string{
		"-1": "-1", "-": "'-", "\tx": "'\tx", "\rx": "'\rx", "plain": "plain", "": "", "+628123": "'+628123",
		"=1+2": "'=1+2", "a=b": "a=b", "-12abc": "'-12abc",
	} {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
	if strings.Contains(buf.String(), "\n=") {
		t.Error("a line starts with =")
	}
}
