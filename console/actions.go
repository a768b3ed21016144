package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/manual"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/usage"
)

// Actions: each is the API's domain call with the signed-in identity as
// the actor, logged with it, then 303 back with a one-time message.

// review accepts or rejects an order in review (review.Review, as
// POST /v1/orders/{id}/review).
func (s *Server) review(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	in := review.ReviewInput{Decision: review.Decision(r.PostForm.Get("decision")), Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	_, err := s.Reviews.Review(r.Context(), id, v.Caller.Identity, in)
	s.logAction(r.Context(), v, "review."+string(in.Decision), err, "order_id", id)
	if err == nil {
		s.audited(r.Context(), r, v, "review."+string(in.Decision), id, in)
	}
	s.done(w, r, v, back(r, "/console/orders/"+pathEscape(id)), err, "done.review."+map[bool]string{true: "accept", false: "reject"}[in.Decision == review.Accept])
}

// resolve marks a flagged event resolved with a note (payment.Resolve, as
// POST /v1/gateway-events/{id}/resolve).
func (s *Server) resolve(w http.ResponseWriter, r *http.Request, v *view) {
	id, perr := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var err error
	if perr != nil || id <= 0 {
		err = lunas.E(lunas.KindNotFound, "gateway event %q not found", r.PathValue("id"))
	} else {
		_, err = s.Payments.Resolve(r.Context(), id, v.Caller.Identity, r.PostForm.Get("note"))
		if err == nil {
			s.audited(r.Context(), r, v, "event.resolve", r.PathValue("id"), map[string]string{"note": r.PostForm.Get("note")})
		}
	}
	s.logAction(r.Context(), v, "event.resolve", err, "event_id", r.PathValue("id"))
	s.done(w, r, v, back(r, "/console/events"), err, "done.resolve")
}

// adjust posts a finance adjustment (manual.Adjust, as
// POST /v1/accounts/{id}/adjustments): above the approval threshold it
// waits for another approver instead.
func (s *Server) adjust(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	in := account.AdjustmentInput{Product: order.ProductWABalance, Kind: r.PostForm.Get("kind"), Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	amount, err := parseRupiah("amount", r.PostForm.Get("amount"))
	okKey := "done.adjust"
	if err == nil {
		in.Amount = amount
		var res manual.Result
		res, err = s.Manual.Adjust(r.Context(), id, manual.Actor{Name: v.Caller.Identity, Addr: r.RemoteAddr}, in)
		switch {
		case res.Approval != nil:
			okKey = "done.adjust_pending"
			s.logAction(r.Context(), v, "account.adjust", err, "account_id", id, "kind", in.Kind, "amount", amount, "approval_id", res.Approval.ID)
		case res.Adjustment != nil:
			s.logAction(r.Context(), v, "account.adjust", err, "account_id", id, "kind", in.Kind, "amount", amount, "adjustment_id", res.Adjustment.ID)
		default:
			s.logAction(r.Context(), v, "account.adjust", err, "account_id", id, "kind", in.Kind, "amount", amount)
		}
	} else {
		s.logAction(r.Context(), v, "account.adjust", err, "account_id", id)
	}
	s.done(w, r, v, "/console/accounts/"+pathEscape(id), err, okKey)
}

// approvals lists the requests waiting for a second approver first, then
// those decided.
func (s *Server) approvals(w http.ResponseWriter, r *http.Request, v *view) {
	pending, err := s.Manual.List(r.Context(), people.ApprovalFilter{Status: people.ApprovalPending, Limit: 200})
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	all, err := s.Manual.List(r.Context(), people.ApprovalFilter{Limit: 100})
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	var decided []people.Approval
	for _, a := range all.Approvals {
		if a.Status != people.ApprovalPending {
			decided = append(decided, a)
		}
	}
	s.render(w, v, http.StatusOK, "approvals", map[string]any{"Pending": pending.Approvals, "Decided": decided,
		"Threshold": s.Manual.Threshold()})
}

// decide approves or rejects a request (manual.Decide: an approver other
// than the requester; a rejection needs a reason). A refusal by the rules
// is answered with its status (403 for one's own request), not a flash.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	d := people.Decision(r.PostForm.Get("decision"))
	_, err := s.Manual.Decide(r.Context(), id, v.sess.user, d, r.PostForm.Get("reason"), r.RemoteAddr)
	s.logAction(r.Context(), v, "approval."+string(d), err, "approval_id", id)
	if lunas.KindOf(err) == lunas.KindForbidden {
		s.failErr(w, r, v, err)
		return
	}
	s.done(w, r, v, "/console/approvals", err, "done.approval."+map[bool]string{true: "approve", false: "reject"}[d == people.Approve])
}

// reconcile posts a month-end reconciliation (manual.Reconcile, as
// POST /v1/accounts/{id}/reconciliations): a difference above the approval
// threshold waits for another approver instead.
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	if s.Usage == nil {
		s.fail(w, r, v, http.StatusNotFound, v.T("error.not_configured"))
		return
	}
	in := usage.ReconcileInput{Period: strings.TrimSpace(r.PostForm.Get("period")), Reference: strings.TrimSpace(r.PostForm.Get("reference"))}
	okKey := "done.reconcile"
	billed, err := parseRupiah("billed", r.PostForm.Get("billed"))
	if err == nil {
		in.Billed = &billed
		var res manual.ReconcileResult
		res, err = s.Manual.Reconcile(r.Context(), id, manual.Actor{Name: v.Caller.Identity, Addr: r.RemoteAddr}, in)
		var rec usage.Reconciliation
		if res.Reconciliation != nil {
			rec = *res.Reconciliation
		}
		if res.Approval != nil {
			okKey = "done.reconcile_pending"
		}
		s.logAction(r.Context(), v, "account.reconcile", err, "account_id", id, "period", in.Period, "billed", billed, "difference", rec.Difference)
	} else {
		s.logAction(r.Context(), v, "account.reconcile", err, "account_id", id)
	}
	s.done(w, r, v, "/console/accounts/"+pathEscape(id), err, okKey)
}

// parseRupiah reads a whole-rupiah amount as finance types it: "1776000",
// "1.776.000" or "Rp1.776.000" (no decimals: rupiah has none here).
func parseRupiah(field, in string) (int64, error) {
	t := strings.TrimSpace(in)
	t = strings.TrimPrefix(strings.TrimPrefix(t, "Rp"), "rp")
	t = strings.NewReplacer(".", "", " ", "", "\u00a0", "").Replace(strings.TrimSpace(t))
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, &lunas.ValidationError{Fields: []lunas.FieldError{{Field: field, Message: "must be a whole number of rupiah, e.g. 1.776.000"}}}
	}
	return n, nil
}

// back is the form's return page when it is a console path, else def.
func back(r *http.Request, def string) string {
	if b := r.PostForm.Get("back"); safeNext(b) {
		return b
	}
	return def
}
