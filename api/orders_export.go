package api

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/report"
)

// exportLimit bounds an orders export: a month of a busy seller's orders,
// in one file; a wider filter is refused with the count to narrow it.
const exportLimit = 20_000

// orderFilter reads the orders list's filters: status, account_id, q
// (invoice number prefix, requester name or e-mail), from and to
// (YYYY-MM-DD, invoice dates in the business zone, to inclusive) and,
// for a page, limit and cursor. Every bad field is reported at once.
func (s *Server) orderFilter(r *http.Request, paged bool) (order.ListFilter, error) {
	q := r.URL.Query()
	f := order.ListFilter{Status: order.Status(q.Get("status")), AccountID: q.Get("account_id"), Search: q.Get("q")}
	var ve lunas.ValidationError
	if f.Status != "" && !f.Status.Valid() {
		ve.Add("status", "unknown status %q", f.Status)
	}
	if len(f.Search) > 200 {
		ve.Add("q", "is longer than 200 characters")
	}
	day := func(name string) time.Time {
		v := q.Get(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation(time.DateOnly, v, s.Location)
		if err != nil {
			ve.Add(name, "must be a date, YYYY-MM-DD")
		}
		return t
	}
	f.From = day("from")
	if to := day("to"); !to.IsZero() {
		f.To = to.AddDate(0, 0, 1) // inclusive of the day named
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		ve.Add("to", "is before from")
	}
	if paged {
		f.Limit, f.Cursor = timePage(r, &ve)
	}
	return f, ve.Err()
}

// exportOrdersXLSX answers GET /v1/orders.xlsx: what the list's filters
// select, as a workbook.
func (s *Server) exportOrdersXLSX(w http.ResponseWriter, r *http.Request) {
	f, err := s.orderFilter(r, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.exportOrders(w, r, f, "xlsx")
}

// exportOrders writes every order the filter selects (newest first, at
// most exportLimit) as CSV or XLSX: one row per order with its invoice,
// requester, amounts in rupiah and times in the business zone.
func (s *Server) exportOrders(w http.ResponseWriter, r *http.Request, f order.ListFilter, format string) {
	f.Limit, f.Cursor = exportLimit, nil
	orders, next, err := s.Orders.ListOrders(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if next != nil {
		s.writeError(w, r, lunas.E(lunas.KindInvalid, "more than %d orders match: narrow the filter (from, to, status, account_id)", exportLimit))
		return
	}
	t := report.OrdersTable(orders, s.Location)
	var b bytes.Buffer
	ctype, ext := "text/csv; charset=utf-8", "csv"
	if format == "xlsx" {
		ctype, ext = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
		err = t.WriteXLSX(&b)
	} else {
		err = t.WriteCSV(&b)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="orders.`+ext+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = w.Write(b.Bytes())
}
