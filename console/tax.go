package console

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/report"
	"github.com/lunas-id/lunas/taxbook"
)

// The tax page (API.md "Tax"): the month's Coretax e-Faktur parts to
// download with the paid orders it skipped, and the PPh 23 slips still
// awaited with their CSV. taxbook builds both, as the API serves them.

// taxPeriod is ?period=YYYY-MM, or the current month in the business zone.
func (s *Server) taxPeriod(r *http.Request) string {
	p := r.URL.Query().Get("period")
	if _, err := time.Parse("2006-01", p); err != nil {
		p = s.Clock.Now().In(s.Location).Format("2006-01")
	}
	return p
}

func (s *Server) taxPage(w http.ResponseWriter, r *http.Request, v *view) {
	data := map[string]any{"Configured": s.Tax != nil, "Period": s.taxPeriod(r)}
	if s.Tax != nil {
		ex, err := s.Tax.EFaktur(r.Context(), data["Period"].(string))
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		parts := make([]int, ex.EFaktur.Parts())
		for i := range parts {
			parts[i] = i + 1
		}
		data["Invoices"], data["Parts"], data["Skipped"] = ex.EFaktur.Len(), parts, ex.Skipped
		missing, err := s.Tax.Missing(r.Context(), taxbookFilter())
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		data["Missing"] = missing
	}
	s.render(w, v, http.StatusOK, "tax", data)
}

// taxEFaktur downloads one part of the month's e-Faktur, the same XML the
// API serves.
func (s *Server) taxEFaktur(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Tax == nil {
		s.fail(w, r, v, http.StatusNotFound, v.T("error.not_configured"))
		return
	}
	period := s.taxPeriod(r)
	part, err := strconv.Atoi(r.URL.Query().Get("part"))
	if err != nil || part < 1 {
		part = 1
	}
	ex, err := s.Tax.EFaktur(r.Context(), period)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	var buf bytes.Buffer
	if err := ex.EFaktur.Write(&buf, part); err != nil {
		s.failErr(w, r, v, err)
		return
	}
	s.logAction(r.Context(), v, "tax.efaktur", nil, "period", period, "part", strconv.Itoa(part))
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="efaktur-`+period+`-`+strconv.Itoa(part)+`.xml"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = buf.WriteTo(w)
}

// taxWithholdingCSV downloads the slips still awaited.
func (s *Server) taxWithholdingCSV(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Tax == nil {
		s.fail(w, r, v, http.StatusNotFound, v.T("error.not_configured"))
		return
	}
	rows, err := s.Tax.Missing(r.Context(), taxbookFilter())
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	var buf bytes.Buffer
	c := report.NewCSV(&buf)
	_ = c.Write([]string{"invoice_number", "order_id", "account_id", "customer", "paid_at", "withheld", "status", "days_waiting"})
	for _, x := range rows {
		_ = c.Write([]string{x.InvoiceNumber, x.OrderID, x.AccountID, x.Customer, x.PaidAt.In(s.Location).Format(time.RFC3339),
			strconv.FormatInt(x.Amount, 10), string(x.Status), strconv.Itoa(x.DaysWaiting)})
	}
	if err := c.Flush(); err != nil {
		s.failErr(w, r, v, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="withholding.csv"`)
	_, _ = buf.WriteTo(w)
}

// taxbookFilter is the slips still awaited on paid orders, however late.
func taxbookFilter() taxbook.MissingFilter {
	return taxbook.MissingFilter{Status: order.WithholdingAwaitingSlip}
}

// taxSlip downloads an order's received withholding slip.
func (s *Server) taxSlip(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Tax == nil {
		s.fail(w, r, v, http.StatusNotFound, v.T("error.not_configured"))
		return
	}
	sl, err := s.Tax.GetSlip(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	ext := map[string]string{"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}[sl.ContentType]
	w.Header().Set("Content-Type", sl.ContentType)
	w.Header().Set("Content-Disposition", `attachment; filename="bukti-potong-`+sl.OrderID+`.`+ext+`"`)
	_, _ = w.Write(sl.Data)
}
