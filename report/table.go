package report

import (
	"io"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// Table is a list exported as finance opens it: named columns and one row
// of cells per line. A cell is a string, an int64 (rupiah or a count,
// written as a number), a time.Time (a date-time in the zone the caller
// chose) or nil (empty). The API's orders export writes one.
type Table struct {
	Sheet   string
	Columns []string
	Rows    [][]any
}

func cellString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case time.Time:
		return x.Format("2006-01-02 15:04")
	}
	return ""
}

// WriteCSV writes the table as CSV through NewCSV (formulas neutralised).
func (t Table) WriteCSV(w io.Writer) error {
	cw := NewCSV(w)
	if err := cw.Write(t.Columns); err != nil {
		return err
	}
	for _, row := range t.Rows {
		rec := make([]string, len(row))
		for i, v := range row {
			rec[i] = cellString(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	return cw.Flush()
}

// WriteXLSX writes the table as one sheet: a bold frozen header, numbers
// as numbers (#,##0), times as date-time cells, and an autofilter over
// the rows (set through the cell API, so it is in the sheet XML).
func (t Table) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer func() { _ = f.Close() }()
	sheet := t.Sheet
	if sheet == "" {
		sheet = "Sheet1"
	}
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	number, err := f.NewStyle(&excelize.Style{NumFmt: 3})
	if err != nil {
		return err
	}
	when, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("yyyy-mm-dd hh:mm")})
	if err != nil {
		return err
	}
	if err := f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	header := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c
	}
	if err := f.SetSheetRow(sheet, "A1", &header); err != nil {
		return err
	}
	lastCol, _ := excelize.ColumnNumberToName(max(len(t.Columns), 1))
	if err := f.SetCellStyle(sheet, "A1", lastCol+"1", bold); err != nil {
		return err
	}
	for i, row := range t.Rows {
		cells := make([]any, len(row))
		for j, v := range row {
			switch x := v.(type) {
			case time.Time:
				// Excel has no zones: the wall time of the zone given.
				cells[j] = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), 0, time.UTC)
			default:
				cells[j] = v
			}
		}
		r := strconv.Itoa(i + 2)
		if err := f.SetSheetRow(sheet, "A"+r, &cells); err != nil {
			return err
		}
		for j, v := range row {
			col, _ := excelize.ColumnNumberToName(j + 1)
			style := 0
			switch v.(type) {
			case int64, int:
				style = number
			case time.Time:
				style = when
			}
			if style != 0 {
				if err := f.SetCellStyle(sheet, col+r, col+r, style); err != nil {
					return err
				}
			}
		}
	}
	if err := f.AutoFilter(sheet, "A1:"+lastCol+strconv.Itoa(len(t.Rows)+1), nil); err != nil {
		return err
	}
	return f.Write(w)
}
