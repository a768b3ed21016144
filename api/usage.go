package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/manual"
	"github.com/lunas-id/lunas/usage"
)

// Usage billing (API.md "Usage billing"): the app reports messaging events
// and visitors; finance reconciles each month against the provider's bill.

func (s *Server) postUsage(w http.ResponseWriter, r *http.Request) {
	var in usage.Input
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := s.Usage.Record(r.Context(), r.PathValue("account_id"), in)
	var ie *usage.InsufficientError
	if errors.As(err, &ie) {
		// A broadcast the balance does not cover: 402, nothing debited.
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusPaymentRequired)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"type": "https://lunas.dev/problems/insufficient-balance", "title": http.StatusText(http.StatusPaymentRequired),
			"status": http.StatusPaymentRequired, "detail": ie.Error(), "balance": ie.Balance,
			"required": ie.Required, "available": ie.Available,
		})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	results := make([]usageResult, len(b.Results))
	for i, res := range b.Results {
		results[i] = usageResult{ID: res.ID, Kind: res.Kind, Outcome: res.Outcome, Amount: res.Amount, WindowEndsAt: s.tsp(res.WindowEndsAt),
			Reason: res.Reason, Replayed: res.Replayed, PricingType: res.PricingType, EntryPointEndsAt: s.tsp(res.EntryPointEndsAt)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "balances": b.Balances})
}

// usageResult is one event's result; a struct, not a map: a batch answers
// up to 1,000 of them and encoding maps was a visible share of the CPU.
type usageResult struct {
	ID           string  `json:"id"`
	Kind         string  `json:"kind"`
	Outcome      string  `json:"outcome"`
	Amount       int64   `json:"amount"`
	WindowEndsAt *string `json:"window_ends_at,omitempty"`
	Reason       string  `json:"reason,omitempty"`
	Replayed     bool    `json:"replayed,omitempty"`
	// Under a message card (API.md "Billing by message").
	PricingType      string  `json:"pricing_type,omitempty"`
	EntryPointEndsAt *string `json:"entry_point_ends_at,omitempty"`
}

func (s *Server) getUsage(w http.ResponseWriter, r *http.Request) {
	from, to := s.Usage.DefaultPeriod()
	var ve lunas.ValidationError
	q := r.URL.Query()
	if v := q.Get("from"); v != "" {
		t, ok := s.Usage.ParseBound(v, false)
		if !ok {
			ve.Add("from", "must be RFC 3339 or YYYY-MM-DD")
		}
		from = t
	}
	if v := q.Get("to"); v != "" {
		t, ok := s.Usage.ParseBound(v, true)
		if !ok {
			ve.Add("to", "must be RFC 3339 or YYYY-MM-DD")
		}
		to = t
	}
	if len(ve.Fields) == 0 && !from.Before(to) {
		ve.Add("to", "must be after from")
	}
	if err := ve.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	sum, err := s.Usage.Summary(r.Context(), r.PathValue("account_id"), from, to)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": s.ts(sum.From), "to": s.ts(sum.To), "categories": sum.Categories, "visitors": sum.Visitors, "meta": sum.Meta})
}

func (s *Server) reconcile(w http.ResponseWriter, r *http.Request) {
	var in usage.ReconcileInput
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	var rec usage.Reconciliation
	var created bool
	var err error
	if s.Manual != nil {
		// Four eyes: a difference above the threshold waits (202).
		var res manual.ReconcileResult
		res, err = s.Manual.Reconcile(r.Context(), r.PathValue("account_id"), manual.Actor{Name: tokenActor(r), Addr: r.RemoteAddr}, in)
		if err == nil && res.Approval != nil {
			writeJSON(w, http.StatusAccepted, s.approvalView(*res.Approval))
			return
		}
		if err == nil {
			rec, created = *res.Reconciliation, res.Created
		}
	} else {
		rec, created, err = s.Usage.Reconcile(r.Context(), r.PathValue("account_id"), callerOf(r).identity, in)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"id": rec.ID, "account_id": rec.AccountID, "period": rec.Period, "reference": rec.Reference,
		"charged": rec.Charged, "billed": rec.Billed, "difference": rec.Difference, "adjustment": rec.Adjustment,
		"balances": rec.Balances, "created_at": s.ts(rec.CreatedAt)})
}

// writeAccount answers an account with its low-balance alert state
// (API.md "Low-balance alerts") when usage billing is wired.
func (s *Server) writeAccount(w http.ResponseWriter, r *http.Request, status int, a account.Account) {
	v := s.accountView(a)
	if s.Usage != nil {
		al, err := s.Usage.Alerts(r.Context(), a.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		view := map[string]any{}
		for balance, x := range al {
			view[balance] = map[string]any{"threshold": x.Threshold, "alerted_at": s.tsp(x.AlertedAt)}
		}
		v["alerts"] = view
	}
	writeJSON(w, status, v)
}
