package api

import (
	"net/http"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/subscription"
)

// Subscriptions and recurring invoices (API.md): finance prices plans; the
// app subscribes its customers; finance lists them and moves due days.

func (s *Server) putPlan(w http.ResponseWriter, r *http.Request) {
	var in subscription.PlanInput
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, created, err := s.Subscriptions.PutPlan(r.Context(), r.PathValue("plan_id"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"id": p.ID, "name": p.Name, "amount": p.Amount, "vat": p.VAT, "lead_days": p.LeadDays,
		"currency": "IDR", "created_at": s.ts(p.CreatedAt), "updated_at": s.ts(p.UpdatedAt)})
}

// subscriptionView is the subscription object of API.md.
type subscriptionView struct {
	ID            string                `json:"id"`
	AccountID     string                `json:"account_id"`
	PlanID        string                `json:"plan_id"`
	Customer      subscription.Customer `json:"customer"`
	Locale        string                `json:"locale"`
	Status        subscription.Status   `json:"status"`
	DueDay        int                   `json:"due_day"`
	NextDueDate   string                `json:"next_due_date"`
	NextIssueDate string                `json:"next_issue_date"`
	CreatedAt     string                `json:"created_at"`
	UpdatedAt     string                `json:"updated_at"`
}

func (s *Server) subscriptionView(x *subscription.Subscription) subscriptionView {
	return subscriptionView{ID: x.ID, AccountID: x.AccountID, PlanID: x.PlanID, Customer: x.Customer, Locale: x.Locale, Status: x.Status,
		DueDay: x.DueDay, NextDueDate: x.NextDueDate.Format(time.DateOnly), NextIssueDate: x.NextIssueDate.Format(time.DateOnly),
		CreatedAt: s.ts(x.CreatedAt), UpdatedAt: s.ts(x.UpdatedAt)}
}

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request) {
	var in subscription.CreateInput
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	x, err := s.Subscriptions.Create(r.Context(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/subscriptions/"+x.ID)
	writeJSON(w, http.StatusCreated, s.subscriptionView(x))
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) {
	x, err := s.Subscriptions.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.subscriptionView(x))
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := subscription.Filter{AccountID: q.Get("account_id"), PlanID: q.Get("plan_id"), Status: subscription.Status(q.Get("status"))}
	var ve lunas.ValidationError
	if f.Status != "" && !f.Status.Valid() {
		ve.Add("status", "must be active, paused or ended")
	}
	f.Limit, f.Cursor = timePage(r, &ve)
	if err := ve.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	list, next, err := s.Subscriptions.List(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := make([]subscriptionView, len(list))
	for i, x := range list {
		data[i] = s.subscriptionView(x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next_cursor": encodeTimeCursor(next)})
}

func (s *Server) patchSubscription(w http.ResponseWriter, r *http.Request) {
	var in subscription.PatchInput
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	x, err := s.Subscriptions.Patch(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.subscriptionView(x))
}

func (s *Server) moveDueDay(w http.ResponseWriter, r *http.Request) {
	var in struct {
		IDs    []string `json:"ids"`
		DueDay int      `json:"due_day"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.Subscriptions.MoveDueDay(r.Context(), in.IDs, in.DueDay)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := make([]subscriptionView, len(list))
	for i, x := range list {
		data[i] = s.subscriptionView(x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}
