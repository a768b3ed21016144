package api

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/report"
)

// Reports (API.md "Reports"): the overdue report as JSON, CSV
// (Accept: text/csv) and an XLSX workbook, for finance.

func (s *Server) overdueFilter(r *http.Request) (report.Filter, error) {
	q := r.URL.Query()
	f := report.Filter{PlanID: q.Get("plan_id"), AccountID: q.Get("account_id")}
	var ve lunas.ValidationError
	if v := q.Get("as_of"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			ve.Add("as_of", "must be a date, YYYY-MM-DD")
		}
		f.AsOf = t
	}
	if v := q.Get("min_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3660 {
			ve.Add("min_days", "must be a whole number from 0 to 3660")
		}
		f.MinDays = n
	}
	return f, ve.Err()
}

func (s *Server) overdueReport(w http.ResponseWriter, r *http.Request) {
	f, err := s.overdueFilter(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rep, err := s.Reports.Overdue(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/csv") {
		var b bytes.Buffer
		if err := rep.WriteCSV(&b); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="overdue-`+rep.AsOf.Format(time.DateOnly)+`.csv"`)
		_, _ = w.Write(b.Bytes())
		return
	}
	type row struct {
		report.Row
		DueDate string `json:"due_date"`
	}
	rows := make([]row, len(rep.Rows))
	for i, x := range rep.Rows {
		rows[i] = row{Row: x, DueDate: x.DueDate.Format(time.DateOnly)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"as_of": rep.AsOf.Format(time.DateOnly), "rows": rows, "total": rep.Total})
}

func (s *Server) overdueXLSX(w http.ResponseWriter, r *http.Request) {
	f, err := s.overdueFilter(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rep, err := s.Reports.Overdue(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b bytes.Buffer
	if err := rep.WriteXLSX(&b); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="overdue-`+rep.AsOf.Format(time.DateOnly)+`.xlsx"`)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = w.Write(b.Bytes())
}
