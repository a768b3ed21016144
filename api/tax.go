package api

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/report"
	"github.com/lunas-id/lunas/taxbook"
)

// Tax (API.md "Tax (PPN, e-Faktur, PPh 23)"): the withholding slip, the
// report of slips still missing, the Coretax e-Faktur export and the
// number Coretax assigned. The rules live in tax and taxbook; these
// handlers decode, validate, call and encode.

// postWithholdingSlip takes a slip as multipart/form-data: file (PDF, PNG
// or JPEG by content, ≤ 5 MiB), number, date. The client's file name and
// declared type are ignored.
func (s *Server) postWithholdingSlip(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, taxbook.MaxSlipSize+64<<10)
	in, err := parseSlip(r)
	if err != nil {
		s.writeUploadError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.dbDeadline())
	defer cancel()
	r = r.WithContext(ctx)
	s.orderResult(w, r, http.StatusOK)(s.Tax.RecordSlip(ctx, r.PathValue("id"), in))
}

// parseSlip reads the multipart form, naming every bad field at once.
func parseSlip(r *http.Request) (taxbook.SlipInput, error) {
	var in taxbook.SlipInput
	var ve lunas.ValidationError
	u, err := readUpload(r, taxbook.MaxSlipSize, []string{"number", "date"}, &ve)
	if err != nil {
		return in, err
	}
	in.File, in.Number, in.Date = u.file, u.values["number"], u.values["date"]
	in.Check(&ve)
	return in, ve.Err()
}

func (s *Server) getWithholdingSlip(w http.ResponseWriter, r *http.Request) {
	sl, err := s.Tax.GetSlip(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ext := map[string]string{"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}[sl.ContentType]
	w.Header().Set("Content-Type", sl.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", `attachment; filename="bukti-potong-`+sl.OrderID+`.`+ext+`"`)
	_, _ = w.Write(sl.Data)
}

func (s *Server) putTaxInvoice(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Number string `json:"number"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.orderResult(w, r, http.StatusOK)(s.Tax.RecordTaxInvoice(r.Context(), r.PathValue("id"), in.Number))
}

// withholdingReport is GET /v1/reports/withholding: the paid orders whose
// slip is still awaited (JSON, or CSV with Accept: text/csv).
func (s *Server) withholdingReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f taxbook.MissingFilter
	var ve lunas.ValidationError
	if v := q.Get("status"); v != "" {
		f.Status = order.WithholdingStatus(v)
		if !f.Status.Valid() {
			ve.Add("status", "must be awaiting_slip or received")
		}
	}
	if v := q.Get("older_than_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3660 {
			ve.Add("older_than_days", "must be a whole number from 0 to 3660")
		}
		f.OlderThanDays = n
	}
	if err := ve.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	rows, err := s.Tax.Missing(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/csv") {
		var b bytes.Buffer
		c := report.NewCSV(&b)
		_ = c.Write([]string{"invoice_number", "order_id", "account_id", "customer", "paid_at", "withheld", "status", "days_waiting"})
		for _, x := range rows {
			_ = c.Write([]string{x.InvoiceNumber, x.OrderID, x.AccountID, x.Customer, s.ts(x.PaidAt), strconv.FormatInt(x.Amount, 10),
				string(x.Status), strconv.Itoa(x.DaysWaiting)})
		}
		if err := c.Flush(); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="withholding.csv"`)
		_, _ = w.Write(b.Bytes())
		return
	}
	type row struct {
		taxbook.MissingRow
		PaidAt string `json:"paid_at"`
	}
	out := make([]row, len(rows))
	var total int64
	for i, x := range rows {
		out[i] = row{MissingRow: x, PaidAt: s.ts(x.PaidAt)}
		total += x.Amount
	}
	writeJSON(w, http.StatusOK, map[string]any{"rows": out, "total": map[string]int64{"count": int64(len(rows)), "amount": total}})
}

// efaktur is GET /v1/tax/efaktur.xml?period=YYYY-MM[&part=N]: DJP's
// bulk-import XML, at most 1,000 invoices a part; X-Total-Parts says how
// many parts, X-Lunas-Skipped how many paid orders were left out.
func (s *Server) efaktur(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ve lunas.ValidationError
	period := q.Get("period")
	if period == "" {
		ve.Add("period", "is required (YYYY-MM)")
	} else if _, err := time.Parse("2006-01", period); err != nil {
		ve.Add("period", "must be a month, YYYY-MM")
	}
	part := 1
	if v := q.Get("part"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			ve.Add("part", "must be a whole number from 1")
		}
		part = n
	}
	if err := ve.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	ex, err := s.Tax.EFaktur(r.Context(), period)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b bytes.Buffer
	if err := ex.EFaktur.Write(&b, part); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="efaktur-`+period+`-`+strconv.Itoa(part)+`.xml"`)
	w.Header().Set("X-Total-Parts", strconv.Itoa(ex.EFaktur.Parts()))
	w.Header().Set("X-Lunas-Skipped", strconv.Itoa(len(ex.Skipped)))
	_, _ = w.Write(b.Bytes())
}
