package people_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/people"
)

// mover is a fake of the caller's executor that moves "money" in a table
// of the test's own, in the decision's transaction.
type mover struct {
	mu    sync.Mutex
	calls []people.Approval
	fail  error
}

func (m *mover) Execute(ctx context.Context, tx pgx.Tx, a people.Approval) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, a)
	if _, err := tx.Exec(ctx, `INSERT INTO moved (approval_id, amount) VALUES ($1, $2)`, a.ID, a.Amount); err != nil {
		return err
	}
	return m.fail
}

func (e *env) approvals(m people.Executor) *people.Approvals {
	e.t.Helper()
	if _, err := e.pool.Exec(e.ctx, `CREATE TABLE IF NOT EXISTS moved (approval_id text, amount bigint)`); err != nil {
		e.t.Fatal(err)
	}
	return people.NewApprovals(e.pool, e.clock, m)
}

func (e *env) moved(id string) int {
	var n int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM moved WHERE approval_id = $1`, id).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) request(p *people.Approvals, by string, amount int64) people.Approval {
	e.t.Helper()
	var a people.Approval
	if err := e.tx(func(tx pgx.Tx) error {
		var err error
		a, err = p.Request(e.ctx, tx, people.ApprovalRequest{Kind: people.KindAdjustment, AccountID: "acc_1", Amount: amount,
			Payload: json.RawMessage(`{"amount": 7000000, "note": "goodwill"}`), RequestedBy: by})
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) decide(p *people.Approvals, id string, u people.User, d people.Decision, reason string) (people.Approval, error) {
	var a people.Approval
	err := e.tx(func(tx pgx.Tx) error {
		var err error
		a, err = p.Decide(e.ctx, tx, id, u, d, reason)
		return err
	})
	return a, err
}

func TestFourEyes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := &mover{}
	p := e.approvals(m)
	ana, _, _ := e.active("ana@lunas.id", people.RoleApprover)
	budi, _, _ := e.active("budi@lunas.id", people.RoleApprover)
	admin, _, _ := e.active("cici@lunas.id", people.RoleAdmin)
	rev, _, _ := e.active("dodi@lunas.id", people.RoleReviewer)

	a := e.request(p, "Ana@lunas.id", 7_000_000)
	if a.Status != people.ApprovalPending || a.RequestedBy != "ana@lunas.id" || a.Kind != people.KindAdjustment ||
		!strings.HasPrefix(a.ID, "apr_") || !a.RequestedAt.Equal(e.clock.Now()) || a.DecidedBy != "" || e.moved(a.ID) != 0 {
		t.Fatalf("requested %+v", a)
	}
	// The requester cannot approve their own request, a reviewer cannot
	// decide, a rejection needs a reason, an unknown decision is invalid.
	if _, err := e.decide(p, a.ID, ana, people.Approve, ""); lunas.KindOf(err) != lunas.KindForbidden {
		t.Errorf("own approval: %v", err)
	}
	if _, err := e.decide(p, a.ID, rev, people.Approve, ""); lunas.KindOf(err) != lunas.KindForbidden {
		t.Errorf("reviewer's approval: %v", err)
	}
	if _, err := e.decide(p, a.ID, budi, people.Reject, "  "); fieldsOf(err) != "reason" {
		t.Errorf("rejection without a reason: %v", err)
	}
	if _, err := e.decide(p, a.ID, budi, "maybe", ""); fieldsOf(err) != "decision" {
		t.Errorf("unknown decision: %v", err)
	}
	gone := budi
	gone.Status = people.UserDisabled
	if _, err := e.decide(p, a.ID, gone, people.Approve, ""); lunas.KindOf(err) != lunas.KindForbidden {
		t.Errorf("a disabled approver decided: %v", err)
	}
	if got, _ := p.Get(e.ctx, a.ID); got.Status != people.ApprovalPending || len(m.calls) != 0 || e.moved(a.ID) != 0 {
		t.Fatalf("a refused decision changed something: %+v, %d calls", got, len(m.calls))
	}

	// The executor's failure rolls the approval back with the money.
	m.fail = lunas.E(lunas.KindConflict, "the balance changed")
	if _, err := e.decide(p, a.ID, budi, people.Approve, ""); lunas.KindOf(err) != lunas.KindConflict {
		t.Fatalf("executor failure: %v", err)
	}
	if got, _ := p.Get(e.ctx, a.ID); got.Status != people.ApprovalPending || got.DecidedBy != "" || e.moved(a.ID) != 0 {
		t.Fatalf("after a failed execution: %+v, moved %d", got, e.moved(a.ID))
	}
	m.fail, m.calls = nil, nil

	e.later(time.Hour)
	got, err := e.decide(p, a.ID, budi, people.Approve, "ok")
	if err != nil || got.Status != people.ApprovalApproved || got.DecidedBy != "budi@lunas.id" || got.DecidedAt == nil ||
		!got.DecidedAt.Equal(e.clock.Now()) || got.Reason != "ok" {
		t.Fatalf("approve: %+v %v", got, err)
	}
	if len(m.calls) != 1 || m.calls[0].ID != a.ID || m.calls[0].Status != people.ApprovalApproved ||
		string(m.calls[0].Payload) != `{"note": "goodwill", "amount": 7000000}` || e.moved(a.ID) != 1 {
		t.Fatalf("executor calls %+v, moved %d", m.calls, e.moved(a.ID))
	}
	// Decided once.
	for _, u := range []people.User{budi, admin} {
		for _, d := range []people.Decision{people.Approve, people.Reject} {
			if _, err := e.decide(p, a.ID, u, d, "again"); lunas.KindOf(err) != lunas.KindConflict {
				t.Errorf("second decision (%s by %s): %v", d, u.Email, err)
			}
		}
	}
	if len(m.calls) != 1 || e.moved(a.ID) != 1 {
		t.Fatal("a second decision executed again")
	}
	if _, err := e.decide(p, "apr_nope", budi, people.Approve, ""); lunas.KindOf(err) != lunas.KindNotFound {
		t.Errorf("unknown approval: %v", err)
	}

	// A rejection moves nothing; a token's request may be decided by any approver.
	b := e.request(p, people.TokenActor("dev-finance-token"), -9_000_000)
	rej, err := e.decide(p, b.ID, admin, people.Reject, "no proof of the transfer")
	if err != nil || rej.Status != people.ApprovalRejected || rej.Reason != "no proof of the transfer" || len(m.calls) != 1 || e.moved(b.ID) != 0 {
		t.Fatalf("reject: %+v %v", rej, err)
	}

	// Two approvers racing: one wins, the other gets a conflict, the money moves once.
	c := e.request(p, "cici@lunas.id", 6_000_000)
	errs := make(chan error, 2)
	for _, u := range []people.User{ana, budi} {
		go func() { _, err := e.decide(p, c.ID, u, people.Approve, ""); errs <- err }()
	}
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) || e.moved(c.ID) != 1 {
		t.Errorf("racing approvals: %v, %v, moved %d", e1, e2, e.moved(c.ID))
	}
	if err := errors.Join(e1, e2); lunas.KindOf(err) != lunas.KindConflict {
		t.Errorf("the loser's error: %v", err)
	}

	// Invalid requests name every bad field.
	err = e.tx(func(tx pgx.Tx) error {
		_, err := p.Request(e.ctx, tx, people.ApprovalRequest{Kind: "gift", Payload: json.RawMessage(`[1]`)})
		return err
	})
	if got := fieldsOf(err); got != "kind,account_id,payload,requested_by" {
		t.Errorf("invalid request: %q (%v)", got, err)
	}

	// The list, newest first, filtered and paged.
	page, err := p.List(e.ctx, people.ApprovalFilter{})
	if err != nil || len(page.Approvals) != 3 || page.Approvals[0].ID != c.ID || page.Approvals[2].ID != a.ID || page.NextCursor != "" {
		t.Fatalf("list: %+v %v", page, err)
	}
	page, _ = p.List(e.ctx, people.ApprovalFilter{Status: people.ApprovalRejected})
	if len(page.Approvals) != 1 || page.Approvals[0].ID != b.ID {
		t.Errorf("rejected: %+v", page.Approvals)
	}
	page, _ = p.List(e.ctx, people.ApprovalFilter{Limit: 2})
	if len(page.Approvals) != 2 || page.NextCursor == "" {
		t.Fatalf("page 1: %+v", page)
	}
	page, _ = p.List(e.ctx, people.ApprovalFilter{Limit: 2, Cursor: page.NextCursor})
	if len(page.Approvals) != 1 || page.Approvals[0].ID != a.ID || page.NextCursor != "" {
		t.Errorf("page 2: %+v", page)
	}
	if _, err := p.List(e.ctx, people.ApprovalFilter{Limit: 501, Cursor: "x", Status: "open", Kind: "gift"}); fieldsOf(err) != "limit,cursor,status,kind" {
		t.Errorf("bad list filter: %v", err)
	}
	js, _ := json.Marshal(rej)
	for _, k := range []string{`"id"`, `"kind":"adjustment"`, `"status":"rejected"`, `"amount":-9000000`, `"account_id":"acc_1"`,
		`"requested_by":"token:`, `"decided_by":"cici@lunas.id"`} {
		if !strings.Contains(string(js), k) {
			t.Errorf("approval JSON %s lacks %s", js, k)
		}
	}
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t0 := e.clock.Now()
	rec := func(en people.AuditEntry) error {
		return e.tx(func(tx pgx.Tx) error { return e.audit.Record(e.ctx, tx, en) })
	}
	tokActor := people.TokenActor("dev-finance-token")
	if err := rec(people.AuditEntry{Actor: "rina@lunas.id", Addr: "10.0.0.1:443", Action: "adjustment.create", Object: "acc_1",
		After: json.RawMessage(`{"amount": 100}`)}); err != nil {
		t.Fatal(err)
	}
	e.later(time.Hour)
	if err := rec(people.AuditEntry{Actor: tokActor, At: e.clock.Now(), Addr: "10.0.0.2", Action: "review.accept", Object: "ord_1",
		Before: json.RawMessage(`{"status": "in_review"}`), After: json.RawMessage(`{"status": "paid"}`)}); err != nil {
		t.Fatal(err)
	}
	e.later(time.Hour)
	if err := rec(people.AuditEntry{Actor: "rina@lunas.id", Addr: "10.0.0.1", Action: "adjustment.create", Object: "acc_2"}); err != nil {
		t.Fatal(err)
	}
	// A row recorded in a transaction that rolls back is not there.
	_ = e.tx(func(tx pgx.Tx) error {
		if err := e.audit.Record(e.ctx, tx, people.AuditEntry{Actor: "rina@lunas.id", Action: "x", Object: "acc_3"}); err != nil {
			t.Fatal(err)
		}
		return errors.New("roll back")
	})
	if err := rec(people.AuditEntry{Actor: "", Action: "x", Object: "y", After: json.RawMessage(`{`)}); err == nil {
		t.Error("an entry without actor and with bad JSON was recorded")
	}

	all, err := e.audit.List(e.ctx, people.AuditFilter{})
	if err != nil || len(all.Entries) != 3 {
		t.Fatalf("list: %+v %v", all, err)
	}
	first := all.Entries[2]
	if first.Actor != "rina@lunas.id" || first.Addr != "10.0.0.1" || !first.At.Equal(t0) || string(first.After) != `{"amount": 100}` || first.Before != nil {
		t.Errorf("first entry: %+v", first)
	}
	if mid := all.Entries[1]; mid.Actor != tokActor || string(mid.Before) != `{"status": "in_review"}` {
		t.Errorf("token entry: %+v", mid)
	}
	check := func(name string, f people.AuditFilter, want ...string) {
		t.Helper()
		page, err := e.audit.List(e.ctx, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, en := range page.Entries {
			got = append(got, en.Object)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	check("actor", people.AuditFilter{Actor: "rina@lunas.id"}, "acc_2", "acc_1")
	check("token actor", people.AuditFilter{Actor: tokActor}, "ord_1")
	check("object", people.AuditFilter{Object: "acc_1"}, "acc_1")
	check("from", people.AuditFilter{From: t0.Add(time.Hour)}, "acc_2", "ord_1")
	check("to", people.AuditFilter{To: t0.Add(time.Hour)}, "acc_1")
	check("from-to", people.AuditFilter{From: t0.Add(time.Minute), To: t0.Add(2 * time.Hour)}, "ord_1")
	page, _ := e.audit.List(e.ctx, people.AuditFilter{Limit: 2})
	if len(page.Entries) != 2 || page.NextCursor == "" {
		t.Fatalf("page 1: %+v", page)
	}
	check("page 2", people.AuditFilter{Limit: 2, Cursor: page.NextCursor}, "acc_1")
	if _, err := e.audit.List(e.ctx, people.AuditFilter{Limit: -1, Cursor: "abc", From: t0, To: t0}); fieldsOf(err) != "limit,cursor,to" {
		t.Errorf("bad filter: %v", err)
	}

	// Append-only: the database refuses to change or remove a row.
	for _, q := range []string{
		`UPDATE audit_log SET actor = 'someone@else.id'`,
		`DELETE FROM audit_log WHERE object = 'acc_1'`,
		`TRUNCATE audit_log`,
	} {
		if _, err := e.pool.Exec(e.ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", q, err)
		}
	}
	if again, _ := e.audit.List(e.ctx, people.AuditFilter{}); len(again.Entries) != 3 || again.Entries[2].Actor != "rina@lunas.id" {
		t.Errorf("the log changed: %+v", again.Entries)
	}
}
