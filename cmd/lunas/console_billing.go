package main

import (
	"context"
	"io"
	"time"

	"github.com/lunas-id/lunas/console"
	"github.com/lunas-id/lunas/report"
	"github.com/lunas-id/lunas/sending"
	"github.com/lunas-id/lunas/subscription"
)

// The finance console declares what it needs from recurring billing as
// small interfaces (console.Subscriptions, console.OverdueReports,
// console.Sendings); these adapters give it the same services the API's
// handlers call, translating types only, so nothing is implemented twice.

type consoleSubscriptions struct{ s *subscription.Service }

func (c consoleSubscriptions) List(ctx context.Context, f console.SubscriptionFilter) ([]console.Subscription, error) {
	subs, _, err := c.s.List(ctx, subscription.Filter{AccountID: f.AccountID, PlanID: f.PlanID, Status: subscription.Status(f.Status), Limit: f.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]console.Subscription, len(subs))
	for i, s := range subs {
		out[i] = console.Subscription{ID: s.ID, AccountID: s.AccountID, PlanID: s.PlanID, Status: string(s.Status),
			CustomerName: s.Customer.Name, CustomerEmail: s.Customer.Email, CustomerPhone: deref(s.Customer.Phone),
			DueDay: s.DueDay, NextDueDate: s.NextDueDate.Format(time.DateOnly), NextIssueDate: s.NextIssueDate.Format(time.DateOnly)}
	}
	return out, nil
}

type consoleReports struct{ r *report.Service }

func (c consoleReports) filter(f console.OverdueFilter) (report.Filter, error) {
	rf := report.Filter{PlanID: f.PlanID, AccountID: f.AccountID, MinDays: f.MinDays, AsOf: c.r.Today()}
	if f.AsOf != "" {
		t, err := time.Parse(time.DateOnly, f.AsOf)
		if err != nil {
			return rf, err
		}
		rf.AsOf = t
	}
	return rf, nil
}

func (c consoleReports) run(ctx context.Context, f console.OverdueFilter) (report.Overdue, error) {
	rf, err := c.filter(f)
	if err != nil {
		return report.Overdue{}, err
	}
	return c.r.Overdue(ctx, rf)
}

func (c consoleReports) Overdue(ctx context.Context, f console.OverdueFilter) (console.OverdueReport, error) {
	rep, err := c.run(ctx, f)
	if err != nil {
		return console.OverdueReport{}, err
	}
	out := console.OverdueReport{AsOf: rep.AsOf.Format(time.DateOnly), Count: rep.Total.Count, Amount: rep.Total.Amount}
	for _, r := range rep.Rows {
		out.Rows = append(out.Rows, console.OverdueRow{InvoiceNumber: r.InvoiceNumber, OrderID: r.OrderID, SubscriptionID: r.SubscriptionID,
			AccountID: r.AccountID, Customer: r.Customer.Name, PlanID: r.PlanID, Period: r.Period,
			DueDate: r.DueDate.Format(time.DateOnly), Amount: r.Amount, DaysOverdue: r.DaysOverdue})
	}
	return out, nil
}

// WriteCSV and WriteXLSX write the files GET /v1/reports/overdue serves,
// with the same code.
func (c consoleReports) WriteCSV(ctx context.Context, w io.Writer, f console.OverdueFilter) error {
	rep, err := c.run(ctx, f)
	if err != nil {
		return err
	}
	return rep.WriteCSV(w)
}

func (c consoleReports) WriteXLSX(ctx context.Context, w io.Writer, f console.OverdueFilter) error {
	rep, err := c.run(ctx, f)
	if err != nil {
		return err
	}
	return rep.WriteXLSX(w)
}

type consoleSendings struct{ s *sending.Service }

func progress(p *sending.Progress) console.Sending {
	out := console.Sending{ID: p.ID, Status: p.Status, Total: p.Total, Sent: p.Sent, Failed: p.Failed, Skipped: p.Skipped,
		Channels: map[string]console.ChannelCounts{}, CreatedAt: p.Created}
	for ch, c := range p.Channels {
		out.Channels[ch] = console.ChannelCounts{Sent: c.Sent, Failed: c.Failed, Skipped: c.Skipped}
	}
	return out
}

func (c consoleSendings) Start(ctx context.Context, actor string, req console.SendingRequest) (console.Sending, error) {
	in := sending.Input{Channels: req.Channels, Message: req.Message}
	if req.Overdue {
		in.Filter.Overdue = &req.Overdue
	}
	if req.PlanID != "" {
		in.Filter.PlanID = &req.PlanID
	}
	if req.AccountID != "" {
		in.Filter.AccountID = &req.AccountID
	}
	if req.MinDays > 0 {
		in.Filter.MinDays = &req.MinDays
	}
	p, err := c.s.Submit(ctx, actor, in)
	if err != nil {
		return console.Sending{}, err
	}
	return progress(p), nil
}

func (c consoleSendings) Get(ctx context.Context, id string) (console.Sending, error) {
	p, err := c.s.Get(ctx, id)
	if err != nil {
		return console.Sending{}, err
	}
	return progress(p), nil
}

func (c consoleSendings) Recent(ctx context.Context, limit int) ([]console.Sending, error) {
	ps, err := c.s.Recent(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]console.Sending, len(ps))
	for i, p := range ps {
		out[i] = progress(p)
	}
	return out, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
