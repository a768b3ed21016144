package console

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lunas-id/lunas"
)

// Subscriptions, the overdue report and bulk sendings (API.md
// "Subscriptions and recurring invoices", "Reports", "Bulk sending") live
// in their own packages; the console needs only what these interfaces say,
// in the API's terms, and shows "not configured" for a nil one.

// SubscriptionFilter selects subscriptions (GET /v1/subscriptions filters).
type SubscriptionFilter struct {
	AccountID, PlanID, Status string
	Limit                     int
}

// Subscription is a subscription as the API shows it.
type Subscription struct {
	ID, AccountID, PlanID, Status              string
	CustomerName, CustomerEmail, CustomerPhone string
	DueDay                                     int
	NextDueDate, NextIssueDate                 string // YYYY-MM-DD
}

// Subscriptions lists subscriptions for finance.
type Subscriptions interface {
	List(ctx context.Context, f SubscriptionFilter) ([]Subscription, error)
}

// OverdueFilter is GET /v1/reports/overdue's query.
type OverdueFilter struct {
	AsOf              string // YYYY-MM-DD; "" is today (service clock)
	PlanID, AccountID string
	MinDays           int
}

// OverdueRow is one overdue subscription invoice.
type OverdueRow struct {
	InvoiceNumber, OrderID, SubscriptionID, AccountID, Customer, PlanID, Period, DueDate string
	Amount                                                                               int64
	DaysOverdue                                                                          int
}

// OverdueReport is the report with its totals.
type OverdueReport struct {
	AsOf   string
	Rows   []OverdueRow
	Count  int
	Amount int64
}

// OverdueReports renders the overdue report, as data and as the CSV and
// XLSX files the API serves (one implementation of each file).
type OverdueReports interface {
	Overdue(ctx context.Context, f OverdueFilter) (OverdueReport, error)
	WriteCSV(ctx context.Context, w io.Writer, f OverdueFilter) error
	WriteXLSX(ctx context.Context, w io.Writer, f OverdueFilter) error
}

// SendingRequest is POST /v1/sendings's body.
type SendingRequest struct {
	Overdue           bool
	PlanID, AccountID string
	MinDays           int
	Channels          []string // "email", "whatsapp"
	Message           string   // "invoice" or "reminder"
}

// ChannelCounts is one channel's progress.
type ChannelCounts struct{ Sent, Failed, Skipped int }

// Sending is a bulk sending and its progress (GET /v1/sendings/{id}).
type Sending struct {
	ID, Status                   string // "running" or "done"
	Total, Sent, Failed, Skipped int
	Channels                     map[string]ChannelCounts
	CreatedAt                    time.Time
}

// Sendings starts bulk sendings and reports their progress.
type Sendings interface {
	Start(ctx context.Context, actor string, req SendingRequest) (Sending, error)
	Get(ctx context.Context, id string) (Sending, error)
	Recent(ctx context.Context, limit int) ([]Sending, error)
}

func (s *Server) subscriptions(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := SubscriptionFilter{AccountID: strings.TrimSpace(q.Get("account_id")), PlanID: strings.TrimSpace(q.Get("plan_id")), Status: q.Get("status"), Limit: 200}
	if f.Status != "active" && f.Status != "paused" && f.Status != "ended" {
		f.Status = ""
	}
	data := map[string]any{"Configured": s.Subscriptions != nil, "Filter": f}
	if s.Subscriptions != nil {
		list, err := s.Subscriptions.List(r.Context(), f)
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		data["Subscriptions"] = list
	}
	s.render(w, v, http.StatusOK, "subscriptions", data)
}

func overdueFilter(r *http.Request) OverdueFilter {
	q := r.URL.Query()
	f := OverdueFilter{AsOf: strings.TrimSpace(q.Get("as_of")), PlanID: strings.TrimSpace(q.Get("plan_id")), AccountID: strings.TrimSpace(q.Get("account_id"))}
	if _, err := time.Parse("2006-01-02", f.AsOf); err != nil {
		f.AsOf = ""
	}
	if n, err := strconv.Atoi(q.Get("min_days")); err == nil && n > 0 {
		f.MinDays = n
	}
	return f
}

// query is the filter as a query string, for the download links.
func (f OverdueFilter) Query() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+urlQueryEscape(v))
		}
	}
	add("as_of", f.AsOf)
	add("plan_id", f.PlanID)
	add("account_id", f.AccountID)
	if f.MinDays > 0 {
		add("min_days", strconv.Itoa(f.MinDays))
	}
	return strings.Join(parts, "&")
}

func (s *Server) overdue(w http.ResponseWriter, r *http.Request, v *view) {
	f := overdueFilter(r)
	data := map[string]any{"Configured": s.Overdue != nil, "Filter": f}
	if s.Overdue != nil {
		rep, err := s.Overdue.Overdue(r.Context(), f)
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		data["Report"] = rep
	}
	v.Nav = "overdue"
	s.render(w, v, http.StatusOK, "overdue", data)
}

// overdueFile downloads the report as CSV or XLSX, written by the report
// implementation (the same files the API serves).
func (s *Server) overdueFile(format string) func(http.ResponseWriter, *http.Request, *view) {
	return func(w http.ResponseWriter, r *http.Request, v *view) {
		if s.Overdue == nil {
			s.fail(w, r, v, http.StatusNotFound, v.T("error.not_configured"))
			return
		}
		f := overdueFilter(r)
		var buf bytes.Buffer
		var err error
		ct := "text/csv; charset=utf-8"
		if format == "xlsx" {
			ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
			err = s.Overdue.WriteXLSX(r.Context(), &buf, f)
		} else {
			err = s.Overdue.WriteCSV(r.Context(), &buf, f)
		}
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		name := "overdue-" + s.Clock.Now().In(s.Location).Format("2006-01-02")
		if f.AsOf != "" {
			name = "overdue-" + f.AsOf
		}
		s.logAction(r.Context(), v, "report.overdue."+format, nil, "filter", f.Query())
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.`+format+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = buf.WriteTo(w)
	}
}

func (s *Server) sendings(w http.ResponseWriter, r *http.Request, v *view) {
	data := map[string]any{"Configured": s.Sendings != nil}
	if s.Sendings != nil {
		list, err := s.Sendings.Recent(r.Context(), 20)
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		data["Sendings"] = list
	}
	v.Nav = "subscriptions"
	s.render(w, v, http.StatusOK, "sendings", data)
}

// startSending starts a bulk sending (as POST /v1/sendings) and shows its
// progress.
func (s *Server) startSending(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Sendings == nil {
		s.fail(w, r, v, http.StatusNotFound, v.T("error.not_configured"))
		return
	}
	f := r.PostForm
	req := SendingRequest{Overdue: f.Get("overdue") == "1", PlanID: strings.TrimSpace(f.Get("plan_id")), AccountID: strings.TrimSpace(f.Get("account_id")),
		Channels: f["channels"], Message: f.Get("message")}
	var err error
	if md := strings.TrimSpace(f.Get("min_days")); md != "" {
		if req.MinDays, err = strconv.Atoi(md); err != nil || req.MinDays < 0 {
			err = &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "min_days", Message: "must be a whole number of days"}}}
		}
	}
	var sd Sending
	if err == nil {
		sd, err = s.Sendings.Start(r.Context(), v.Caller.Identity, req)
		if err == nil {
			s.audited(r.Context(), r, v, "sending.start", sd.ID, req)
		}
	}
	s.logAction(r.Context(), v, "sending.start", err, "sending_id", sd.ID, "message", req.Message, "channels", strings.Join(req.Channels, ","))
	s.done(w, r, v, "/console/sendings", err, "done.sending")
}

// sendingProgress is what the sendings page polls (console.js).
func (s *Server) sendingProgress(w http.ResponseWriter, r *http.Request, v *view) {
	if s.Sendings == nil {
		http.Error(w, "not configured", http.StatusNotFound)
		return
	}
	sd, err := s.Sendings.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		status, msg := s.explain(v, err)
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": sd.ID, "status": sd.Status, "total": sd.Total, "sent": sd.Sent,
		"failed": sd.Failed, "skipped": sd.Skipped, "done": sd.Sent + sd.Failed + sd.Skipped})
}
