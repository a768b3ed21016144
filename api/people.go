package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/people"
)

// Finance as named people, seen from the API (API.md "People, roles and
// approvals"): the finance token may request money moved by hand (the
// adjustment handler, through manual.Adjust) and read the approvals and
// the audit log; it never approves (there is no route for it).

// tokenActor is the audit actor of the request's token: "token:" and the
// same 8 hex digits as its identity ("finance:7314d607" → "token:7314d607").
func tokenActor(r *http.Request) string {
	_, hex, _ := strings.Cut(callerOf(r).identity, ":")
	return "token:" + hex
}

// approvalView is an approval as the API shows it, in the API's times.
func (s *Server) approvalView(a people.Approval) map[string]any {
	v := map[string]any{"id": a.ID, "kind": a.Kind, "status": a.Status, "amount": a.Amount, "account_id": a.AccountID,
		"payload": a.Payload, "requested_by": a.RequestedBy, "requested_at": s.ts(a.RequestedAt)}
	if a.DecidedBy != "" {
		v["decided_by"], v["decided_at"], v["reason"] = a.DecidedBy, s.tsp(a.DecidedAt), a.Reason
	}
	return v
}

// listApprovals is GET /v1/approvals?status=&kind=&account_id=&limit=&cursor=.
func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := page(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := people.ApprovalFilter{Status: people.ApprovalStatus(q.Get("status")), Kind: people.ApprovalKind(q.Get("kind")),
		AccountID: q.Get("account_id"), Limit: limit, Cursor: q.Get("cursor")}
	p, err := s.Manual.List(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := make([]map[string]any, 0, len(p.Approvals))
	for _, a := range p.Approvals {
		data = append(data, s.approvalView(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next_cursor": nullIfEmpty(p.NextCursor)})
}

// listAuditLog is GET /v1/audit-log?actor=&object=&from=&to=&limit=&cursor=
// (from and to are RFC 3339 times; from inclusive, to exclusive).
func (s *Server) listAuditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ve lunas.ValidationError
	limit, err := page(r)
	if err != nil {
		ve.Add("limit", "must be a whole number from 1 to 500")
	}
	f := people.AuditFilter{Actor: q.Get("actor"), Object: q.Get("object"), Limit: limit, Cursor: q.Get("cursor")}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				ve.Add(p.name, "must be an RFC 3339 time with offset")
			}
			*p.to = t
		}
	}
	if err := ve.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.Audit.List(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := make([]map[string]any, 0, len(p.Entries))
	for _, e := range p.Entries {
		data = append(data, map[string]any{"id": e.ID, "at": s.ts(e.At), "actor": e.Actor, "addr": e.Addr, "action": e.Action,
			"object": e.Object, "before": e.Before, "after": e.After})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "next_cursor": nullIfEmpty(p.NextCursor)})
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
