package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// Columns of the overdue report in CSV and XLSX, in order.
var Columns = []string{"invoice_number", "order_id", "subscription_id", "account_id", "customer", "customer_email", "customer_phone",
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
// per invoice; amounts are whole rupiah, dates YYYY-MM-DD.
func (r Overdue) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	for _, x := range r.Rows {
		if err := cw.Write(x.strings()); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Sheet is the overdue workbook's sheet.
const Sheet = "Overdue"

// WriteXLSX writes the report as an Excel workbook: sheet Overdue, a bold
// header row (frozen), amounts and days as numbers, due dates as dates, a
// totals row under the rows, and an autofilter over header and rows.
func (r Overdue) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
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
	sw, err := f.NewStreamWriter(Sheet)
	if err != nil {
		return err
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	for i, width := range []float64{18, 34, 34, 16, 24, 28, 16, 14, 10, 12, 14, 12} {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	header := make([]any, len(Columns))
	for i, c := range Columns {
		header[i] = excelize.Cell{Value: c, StyleID: bold}
	}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	for i, x := range r.Rows {
		s := x.strings()
		row := make([]any, len(s))
		for j, v := range s[:9] {
			row[j] = v
		}
		row[9] = excelize.Cell{Value: x.DueDate, StyleID: date}
		row[10] = excelize.Cell{Value: x.Amount, StyleID: money}
		row[11] = x.DaysOverdue
		if err := sw.SetRow("A"+strconv.Itoa(i+2), row); err != nil {
			return err
		}
	}
	last := len(r.Rows) + 1
	totals := make([]any, len(Columns))
	totals[0] = excelize.Cell{Value: "Total", StyleID: bold}
	totals[1] = excelize.Cell{Value: fmt.Sprintf("%d invoices", r.Total.Count), StyleID: bold}
	totals[10] = excelize.Cell{Value: r.Total.Amount, StyleID: moneyBold}
	if err := sw.SetRow("A"+strconv.Itoa(last+1), totals); err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if err := f.AutoFilter(Sheet, "A1:L"+strconv.Itoa(last), nil); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}

func ptr[T any](v T) *T { return &v }
