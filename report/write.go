package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// columns of the overdue report in CSV and XLSX, in order.
var columns = []string{"invoice_number", "order_id", "subscription_id", "account_id", "customer", "customer_email", "customer_phone",
	"plan_id", "period", "due_date", "amount", "days_overdue"}

func (x Row) strings() []string {
	phone := ""
	if x.Customer.Phone != nil {
		phone = *x.Customer.Phone
	}
	return []string{x.InvoiceNumber, x.OrderID, x.SubscriptionID, x.AccountID, x.Customer.Name, x.Customer.Email, phone,
		x.PlanID, x.Period, x.DueDate.Format(time.DateOnly), strconv.FormatInt(x.Amount, 10), strconv.Itoa(x.DaysOverdue)}
}

// WriteCSV writes the report as CSV (RFC 4180): a header row, then one row
// per invoice; amounts are whole rupiah, dates YYYY-MM-DD. Every cell goes
// through NewCSV, so a customer named "=HYPERLINK(…)" stays text.
func (r Overdue) WriteCSV(w io.Writer) error {
	cw := NewCSV(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	for _, x := range r.Rows {
		if err := cw.Write(x.strings()); err != nil {
			return err
		}
	}
	return cw.Flush()
}

// CSV writes RFC 4180 CSV that a spreadsheet opens without running
// anything: a cell that starts with =, +, -, @, a tab or a carriage return
// would be read as a formula (OWASP "CSV Injection"), so it is written with
// a leading single quote, which spreadsheets show as text and hide.
// Every CSV lunas writes goes through it (the overdue report, the
// withholding-slip report, the orders export). A negative whole number
// (-250000) stays a number; a phone number +62… becomes text, which keeps
// its plus sign.
type CSV struct{ w *csv.Writer }

// NewCSV returns a CSV writing to w.
func NewCSV(w io.Writer) *CSV { return &CSV{w: csv.NewWriter(w)} }

// Write writes one record, neutralising formula-looking cells.
func (c *CSV) Write(record []string) error {
	out := make([]string, len(record))
	for i, v := range record {
		out[i] = CSVCell(v)
	}
	return c.w.Write(out)
}

// Flush writes what is buffered and reports the first error.
func (c *CSV) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

// CSVCell is v as a CSV cell safe to open in a spreadsheet: prefixed with
// a single quote when it starts with a character that makes a formula,
// unless it is a negative whole number.
func CSVCell(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '-':
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			return v // a negative whole number, not a formula
		}
		return "'" + v
	case '=', '+', '@', '\t', '\r':
		return "'" + v
	}
	return v
}

// Sheet is the overdue workbook's sheet.
const Sheet = "Overdue"

// WriteXLSX writes the report as an Excel workbook: sheet Overdue, a bold
// header row (frozen), amounts and days as numbers, due dates as dates, a
// totals row under the rows, and an autofilter over header and rows.
//
// It uses excelize's cell API, not its stream writer: an autofilter set
// after a stream writer's Flush reaches only the workbook's defined names,
// not the sheet's <autoFilter> element, and Excel then shows no filter
// buttons. The report is one row per overdue invoice (thousands, not
// millions), which the cell API holds easily.
func (r Overdue) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer func() { _ = f.Close() }()
	if err := f.SetSheetName("Sheet1", Sheet); err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	date, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("yyyy-mm-dd")})
	if err != nil {
		return err
	}
	money, err := f.NewStyle(&excelize.Style{NumFmt: 3}) // #,##0
	if err != nil {
		return err
	}
	moneyBold, err := f.NewStyle(&excelize.Style{NumFmt: 3, Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	if err := f.SetPanes(Sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	for i, width := range []float64{18, 34, 34, 16, 24, 28, 16, 14, 10, 12, 14, 12} {
		col, _ := excelize.ColumnNumberToName(i + 1)
		if err := f.SetColWidth(Sheet, col, col, width); err != nil {
			return err
		}
	}
	header := make([]any, len(columns))
	for i, c := range columns {
		header[i] = c
	}
	if err := f.SetSheetRow(Sheet, "A1", &header); err != nil {
		return err
	}
	for i, x := range r.Rows {
		s := x.strings()
		row := make([]any, len(s))
		for j, v := range s[:9] {
			row[j] = v
		}
		row[9] = x.DueDate
		row[10] = x.Amount
		row[11] = x.DaysOverdue
		if err := f.SetSheetRow(Sheet, "A"+strconv.Itoa(i+2), &row); err != nil {
			return err
		}
	}
	last := len(r.Rows) + 1
	totals := make([]any, len(columns))
	totals[0] = "Total"
	totals[1] = fmt.Sprintf("%d invoices", r.Total.Count)
	totals[10] = r.Total.Amount
	tr := strconv.Itoa(last + 1)
	if err := f.SetSheetRow(Sheet, "A"+tr, &totals); err != nil {
		return err
	}
	for _, st := range []struct {
		from, to string
		style    int
	}{
		{"A1", "L1", bold},
		{"J2", "J" + strconv.Itoa(last), date},
		{"K2", "K" + strconv.Itoa(last), money},
		{"A" + tr, "L" + tr, bold},
		{"K" + tr, "K" + tr, moneyBold},
	} {
		if err := f.SetCellStyle(Sheet, st.from, st.to, st.style); err != nil {
			return err
		}
	}
	if err := f.AutoFilter(Sheet, "A1:L"+strconv.Itoa(last), nil); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}

func ptr[T any](v T) *T { return &v }
