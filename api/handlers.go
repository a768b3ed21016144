package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/manual"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/review"
)

func (s *Server) putAccount(w http.ResponseWriter, r *http.Request) {
	var in account.Input
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, created, err := s.Accounts.Put(r.Context(), r.PathValue("account_id"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.writeAccount(w, r, status, a)
}

func (s *Server) accountView(a account.Account) map[string]any {
	v := map[string]any{"id": a.ID, "name": a.Name, "address": a.Address, "npwp": a.NPWP, "balances": a.Balances,
		"billing_email": a.BillingEmail,
		"wa_price_list": a.WAPriceList, "whatsapp_phone_number_ids": a.WhatsAppPhoneNumberIDs, "created_at": s.ts(a.CreatedAt), "updated_at": s.ts(a.UpdatedAt)}
	v["tax"] = a.Tax // the buyer's tax identity (issue 25); null when none
	return v
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.Accounts.Get(r.Context(), r.PathValue("account_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeAccount(w, r, http.StatusOK, a)
}

// page reads ?limit= (default 50, max 500).
func page(r *http.Request) (int, error) {
	l := r.URL.Query().Get("limit")
	if l == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > 500 {
		return 0, &lunas.ValidationError{Fields: fieldErr("limit", "must be a whole number from 1 to 500")}
	}
	return n, nil
}

// timePage reads a list's limit and (created_at, id) cursor, for the lists
// ordered newest first (orders, subscriptions), adding what is wrong to ve
// so every bad field is named at once.
func timePage(r *http.Request, ve *lunas.ValidationError) (int, *order.Cursor) {
	limit, err := page(r)
	var pve *lunas.ValidationError
	if errors.As(err, &pve) {
		ve.Fields = append(ve.Fields, pve.Fields...)
	}
	c := r.URL.Query().Get("cursor")
	if c == "" {
		return limit, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	ts, id, ok := strings.Cut(string(b), "|")
	t, terr := time.Parse(time.RFC3339Nano, ts)
	if err != nil || !ok || terr != nil {
		ve.Add("cursor", "is not a cursor this API returned")
		return limit, nil
	}
	return limit, &order.Cursor{CreatedAt: t, ID: id}
}

// encodeTimeCursor is the next_cursor of a newest-first list; nil on the
// last page.
func encodeTimeCursor(c *order.Cursor) *string {
	if c == nil {
		return nil
	}
	v := base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.Format(time.RFC3339Nano) + "|" + c.ID))
	return &v
}

// idCursor reads a numeric-id cursor.
// idPage reads a list's limit and id cursor, for the lists paged by a
// numeric id (ledger postings, gateway events, webhook deliveries).
func idPage(r *http.Request) (limit int, before int64, err error) {
	if limit, err = page(r); err != nil {
		return 0, 0, err
	}
	before, err = idCursor(r)
	return limit, before, err
}

func idCursor(r *http.Request) (int64, error) {
	c := r.URL.Query().Get("cursor")
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	n, err2 := strconv.ParseInt(string(b), 10, 64)
	if err != nil || err2 != nil || n <= 0 {
		return 0, &lunas.ValidationError{Fields: fieldErr("cursor", "is not a cursor this API returned")}
	}
	return n, nil
}

func encodeID(n int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(n, 10)))
}

func (s *Server) getLedger(w http.ResponseWriter, r *http.Request) {
	limit, before, err := idPage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ps, err := s.Accounts.Ledger(r.Context(), r.PathValue("account_id"), before, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var next *string
	if len(ps) == limit {
		c := encodeID(ps[len(ps)-1].ID)
		next = &c
	}
	data := make([]map[string]any, len(ps))
	for i, p := range ps {
		data[i] = map[string]any{"id": p.ID, "balance": p.Balance, "amount": p.Amount, "kind": p.Kind,
			"order_id": p.OrderID, "adjustment_id": p.AdjustmentID, "reversal_id": p.ReversalID, "usage_event_id": p.UsageEventID, "reconciliation_id": p.ReconciliationID, "memo": p.Memo, "created_at": s.ts(p.CreatedAt)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next_cursor": next})
}

func (s *Server) adjust(w http.ResponseWriter, r *http.Request) {
	var in account.AdjustmentInput
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	var adj account.Adjustment
	if s.Manual != nil {
		// Four eyes: above the threshold the request waits (202).
		res, err := s.Manual.Adjust(r.Context(), r.PathValue("account_id"), manual.Actor{Name: tokenActor(r), Addr: r.RemoteAddr}, in)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if res.Approval != nil {
			writeJSON(w, http.StatusAccepted, s.approvalView(*res.Approval))
			return
		}
		adj = *res.Adjustment
	} else {
		var err error
		if adj, err = s.Accounts.Adjust(r.Context(), r.PathValue("account_id"), callerOf(r).identity, in); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": adj.ID, "account_id": adj.AccountID, "product": adj.Product, "kind": adj.Kind,
		"amount": adj.Amount, "reason": adj.Reason, "actor": adj.Actor, "balances": adj.Balances, "created_at": s.ts(adj.CreatedAt)})
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) {
	var in invoice.CreateInput
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.Invoices.CreateOrder(r.Context(), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/orders/"+o.ID)
	writeJSON(w, http.StatusCreated, s.orderView(o))
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	s.orderResult(w, r, http.StatusOK)(s.Orders.GetOrder(r.Context(), r.PathValue("id")))
}

// orderResult answers an order or an error.
func (s *Server) orderResult(w http.ResponseWriter, r *http.Request, status int) func(*order.Order, error) {
	return func(o *order.Order, err error) {
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, status, s.orderView(o))
	}
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) {
	f, err := s.orderFilter(r, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/csv") {
		s.exportOrders(w, r, f, "csv")
		return
	}
	orders, next, err := s.Orders.ListOrders(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := make([]order.View, len(orders))
	for i, o := range orders {
		data[i] = s.orderView(o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next_cursor": encodeTimeCursor(next)})
}

func (s *Server) patchOrder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Items []order.ItemRequest `json:"items"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.orderResult(w, r, http.StatusOK)(s.Invoices.PatchOrder(r.Context(), r.PathValue("id"), in.Items))
}

func (s *Server) confirmOrder(w http.ResponseWriter, r *http.Request) {
	s.orderResult(w, r, http.StatusOK)(s.Invoices.Confirm(r.Context(), r.PathValue("id")))
}

func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request) {
	s.orderResult(w, r, http.StatusOK)(s.Invoices.Cancel(r.Context(), r.PathValue("id")))
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) {
	var in payment.PaymentInput
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.Payments.CreatePayment(r.Context(), r.PathValue("id"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.attemptView(a))
}

func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	var in review.ReviewInput
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.orderResult(w, r, http.StatusOK)(s.Reviews.Review(r.Context(), r.PathValue("id"), callerOf(r).identity, in))
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := payment.EventFilter{Flag: q.Get("flag")}
	var ve lunas.ValidationError
	if f.Flag != "" && !slices.Contains(payment.Flags(), f.Flag) {
		ve.Add("flag", "must be one of %s", strings.Join(payment.Flags(), ", "))
	}
	switch q.Get("resolved") {
	case "":
	case "true", "false":
		b := q.Get("resolved") == "true"
		f.Resolved = &b
	default:
		ve.Add("resolved", "must be true or false")
	}
	if err := ve.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, before, err := idPage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f.Before, f.Limit = before, limit
	evs, err := s.Payments.ListEvents(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var next *string
	if len(evs) == limit {
		c := encodeID(evs[len(evs)-1].ID)
		next = &c
	}
	if evs == nil {
		evs = []payment.Event{}
	}
	for i := range evs {
		s.localEvent(&evs[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": evs, "next_cursor": next})
}

// resolveEvent marks a flagged gateway event resolved (finance), with who
// did it and a note.
func (s *Server) resolveEvent(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, lunas.E(lunas.KindNotFound, "gateway event %q not found", r.PathValue("id")))
		return
	}
	var in struct {
		Note string `json:"note"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev, err := s.Payments.Resolve(r.Context(), id, callerOf(r).identity, in.Note)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.localEvent(&ev)
	writeJSON(w, http.StatusOK, ev)
}

// localEvent shows an inbox event's times in the business zone, as every
// time in the API is (RFC 3339 with its offset).
func (s *Server) localEvent(e *payment.Event) {
	e.ReceivedAt = e.ReceivedAt.In(s.Location)
	for _, t := range []**time.Time{&e.ProcessedAt, &e.ResolvedAt} {
		if *t != nil {
			v := (*t).In(s.Location)
			*t = &v
		}
	}
}

func (s *Server) proformaPDF(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	if q.Has("sig") || q.Has("expires") {
		if !s.Signer.Valid(id, q.Get("expires"), q.Get("sig")) {
			writeProblem(w, http.StatusForbidden, "the link is invalid or has expired", nil)
			return
		}
	} else if c, ok := s.authenticate(r); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lunas"`)
		writeProblem(w, http.StatusUnauthorized, "a valid bearer token or a signed link is required", nil)
		return
	} else if c.role != roleApp && c.role != roleFinance {
		writeProblem(w, http.StatusForbidden, "role "+c.role+" may not do this", nil)
		return
	}
	pdf, err := s.Documents.Current(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="proforma-`+id+`.pdf"`)
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	_, _ = w.Write(pdf)
}
