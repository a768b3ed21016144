package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/store"
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

// selfAudited are the routes whose domain call records its own audit row
// in the transaction of the change (package manual).
var selfAudited = map[string]bool{
	"POST /v1/accounts/{account_id}/adjustments":     true,
	"POST /v1/accounts/{account_id}/reconciliations": true,
}

// auditsAfter reports whether a finance-token call to pattern is recorded
// in the audit log once it has succeeded: every call that can change
// something (not GET or HEAD), unless its domain call records its own row.
func (s *Server) auditsAfter(pattern string, r *http.Request, c caller) bool {
	return s.Audit != nil && c.role == roleFinance && r.Method != http.MethodGet && r.Method != http.MethodHead &&
		!(s.Manual != nil && selfAudited[pattern])
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pathObjects are the path parameters that name what a call changed.
var pathObjects = []string{"id", "account_id", "plan_id"}

// auditCall records a finance-token call that succeeded (2xx, not an
// idempotent replay) as one audit row: the token as the actor, the route
// as the action, its path parameter as the object, the answer's status as
// what came of it. The domain call has committed already (its own
// transaction), so the row follows it; a failure to record is logged.
func (s *Server) auditCall(r *http.Request, pattern string, w *statusWriter) {
	if w.code < 200 || w.code > 299 || w.Header().Get("Idempotent-Replayed") == "true" {
		return
	}
	object := r.URL.Path
	for _, p := range pathObjects {
		if v := r.PathValue(p); v != "" {
			object = v
			break
		}
	}
	after, _ := json.Marshal(map[string]any{"status": w.code})
	ctx := context.WithoutCancel(r.Context())
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		return s.Audit.Record(ctx, tx, people.AuditEntry{Actor: tokenActor(r), Addr: r.RemoteAddr, Action: pattern, Object: object, After: after})
	})
	if err != nil {
		s.log.ErrorContext(ctx, "audit row of an API call not recorded", "route", pattern, "object", object, "err", err)
	}
}
