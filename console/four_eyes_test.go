package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	acc "github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/audit"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/webhook"
)

// api calls the API with the finance token.
func (e *env) api(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, e.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+financeToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// Four eyes: an adjustment above the threshold waits and moves nothing; a
// reviewer cannot decide (403), nor can the requester (403); another
// approver's approval moves the money; the finance token can request but
// not approve. The audit log lists each step with its actor.
func TestFourEyesOnAdjustments(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, _, err := e.accounts.Put(ctx, "acme", acc.Input{Name: "PT Acme"}); err != nil {
		t.Fatal(err)
	}
	// The app listens to the approvals' events.
	sealer, err := webhook.NewSealer("console-test-webhook-key")
	if err != nil {
		t.Fatal(err)
	}
	hooks := webhook.NewService(e.pool, e.clock, sealer, webhook.Policy{}, slogTo(&e.logs))
	if _, err := hooks.Create(ctx, webhook.EndpointInput{URL: "https://app.example.id/hooks", Events: []string{"approval.requested", "approval.decided"}}); err != nil {
		t.Fatal(err)
	}
	requester, second, reviewer := e.client(), e.client(), e.client()
	ann, bob, rev := e.person(people.RoleApprover), e.person(people.RoleApprover), e.person(people.RoleReviewer)
	requester.signInAs(ann)
	second.signInAs(bob)
	reviewer.signInAs(rev)

	// Below the threshold: at once, as before.
	res, _ := requester.post("/console/accounts/acme/adjustments", url.Values{"csrf": {requester.csrf("/console/accounts/acme")},
		"kind": {"refund"}, "amount": {"5.000.000"}, "reason": {"Meta invoice October"}})
	if res.StatusCode != http.StatusSeeOther || e.count(`SELECT count(*) FROM adjustments WHERE amount = 5000000 AND actor = $1`, ann.Email) != 1 {
		t.Fatalf("an adjustment at the threshold: %d, not made at once", res.StatusCode)
	}
	// Above: it waits.
	res, _ = requester.post("/console/accounts/acme/adjustments", url.Values{"csrf": {requester.csrf("/console/accounts/acme")},
		"kind": {"refund"}, "amount": {"7.500.000"}, "reason": {"Meta invoice November"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("request: %d", res.StatusCode)
	}
	var id string
	if err := e.pool.QueryRow(ctx, `SELECT id FROM approvals WHERE status = 'pending_approval' AND amount = 7500000 AND requested_by = $1`, ann.Email).Scan(&id); err != nil {
		t.Fatalf("no pending approval: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM adjustments WHERE amount = 7500000`); n != 0 {
		t.Fatal("a pending request moved money")
	}
	if _, body := second.get("/console/approvals"); !regexp.MustCompile(`id="approve-` + id + `"`).MatchString(body) {
		t.Error("the approvals page does not offer the second approver the request")
	}
	if _, body := requester.get("/console/approvals"); regexp.MustCompile(`id="approve-` + id + `"`).MatchString(body) {
		t.Error("the approvals page offers the requester their own request")
	}
	decide := func(c *client, d string) *http.Response {
		res, _ := c.post("/console/approvals/"+id, url.Values{"csrf": {c.csrf("/console/")}, "decision": {d}, "reason": {"checked"}})
		return res
	}
	if res := decide(reviewer, "approve"); res.StatusCode != http.StatusForbidden {
		t.Errorf("a reviewer's approval: %d, want 403", res.StatusCode)
	}
	if res := decide(requester, "approve"); res.StatusCode != http.StatusForbidden {
		t.Errorf("the requester's own approval: %d, want 403", res.StatusCode)
	}
	if n := e.count(`SELECT count(*) FROM approvals WHERE id = $1 AND status = 'pending_approval'`, id); n != 1 {
		t.Fatal("a refused decision changed the request")
	}
	if res := decide(second, "approve"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the second approver's approval: %d", res.StatusCode)
	}
	if n := e.count(`SELECT count(*) FROM adjustments WHERE amount = 7500000 AND kind = 'refund' AND actor = $1`, ann.Email); n != 1 {
		t.Error("the approval moved no money")
	}
	if res := decide(second, "approve"); res.StatusCode != http.StatusSeeOther || e.count(`SELECT count(*) FROM adjustments WHERE amount = 7500000`) != 1 {
		t.Error("a second approval moved the money again")
	}
	if n := e.count(`SELECT count(*) FROM webhook_events WHERE subject = $1 AND (type = 'approval.requested' AND snapshot->>'status' = 'pending_approval'
		OR type = 'approval.decided' AND snapshot->>'status' = 'approved' AND snapshot->>'decided_by' = $2)`, id, bob.Email); n != 2 {
		t.Errorf("%d events to the app about the request and its decision, want 2", n)
	}

	// The finance token requests (202) and cannot approve: no route does.
	code, body := e.api("POST", "/v1/accounts/acme/adjustments", map[string]any{"product": "wa_balance", "kind": "charge", "amount": 6000000, "reason": "by the API"})
	if code != http.StatusAccepted || body["status"] != "pending_approval" {
		t.Fatalf("API request above the threshold: %d %v", code, body)
	}
	if code, body := e.api("POST", "/v1/accounts/acme/adjustments", map[string]any{"product": "wa_balance", "kind": "charge", "amount": 1000, "reason": "small"}); code != http.StatusCreated {
		t.Errorf("API adjustment below the threshold: %d %v", code, body)
	}
	if code, _ := e.api("POST", "/v1/approvals/"+body["id"].(string), map[string]any{"decision": "approve"}); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("an API approval: %d, want no such route", code)
	}
	code, list := e.api("GET", "/v1/approvals?status=pending_approval", nil)
	if data, _ := list["data"].([]any); code != 200 || len(data) != 1 || data[0].(map[string]any)["requested_by"] != "token:"+tokenHex(financeToken) {
		t.Errorf("GET /v1/approvals: %d %v", code, list)
	}

	// The audit log has each step with its actor.
	code, log := e.api("GET", "/v1/audit-log?object="+id, nil)
	rows, _ := log["data"].([]any)
	var actions []string
	for _, r := range rows {
		m := r.(map[string]any)
		actions = append(actions, m["action"].(string)+" by "+m["actor"].(string))
	}
	want := []string{"approval.request by " + ann.Email, "approval.approve by " + bob.Email}
	if code != 200 || !sameSet(actions, want) {
		t.Errorf("GET /v1/audit-log?object=%s: %d %v, want %v", id, code, actions, want)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'adjustment.create' AND actor = $1`, bob.Email); n != 1 {
		t.Errorf("%d audit rows for the adjustment the approval made", n)
	}
	code, log = e.api("GET", "/v1/audit-log?actor=token:"+tokenHex(financeToken), nil)
	if rows, _ := log["data"].([]any); code != 200 || len(rows) != 2 {
		t.Errorf("the token's audit rows: %d %v", code, log)
	}
	rep, err := audit.Run(ctx, e.pool)
	if err != nil || !rep.OK() {
		t.Errorf("lunas audit: %v %+v", err, rep)
	}
}

// tokenHex is the 8 hex digits of a token's SHA-256 that name it.
func tokenHex(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:4])
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// A reconciliation whose difference is above the threshold waits, as an
// adjustment does; below it, it posts at once. The API answers 202 for one
// that waits.
func TestFourEyesOnReconciliations(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	for _, id := range []string{"acme", "globex"} {
		if _, _, err := e.accounts.Put(ctx, id, acc.Input{Name: "PT " + id}); err != nil {
			t.Fatal(err)
		}
	}
	period := e.clock.Now().In(jakarta).AddDate(0, -1, 0).Format("2006-01")
	ann, bob := e.person(people.RoleApprover), e.person(people.RoleApprover)
	requester, second := e.client(), e.client()
	requester.signInAs(ann)
	second.signInAs(bob)
	reconcile := func(account, billed string) {
		t.Helper()
		res, _ := requester.post("/console/accounts/"+account+"/reconciliations", url.Values{"csrf": {requester.csrf("/console/accounts/" + account)},
			"period": {period}, "billed": {billed}, "reference": {"META-" + period}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("reconcile %s: %d", account, res.StatusCode)
		}
	}
	reconcile("globex", "250.000")
	if n := e.count(`SELECT count(*) FROM reconciliations WHERE account_id = 'globex' AND difference = 250000 AND actor = $1`, ann.Email); n != 1 {
		t.Error("a reconciliation within the threshold is not made at once")
	}
	reconcile("acme", "6.000.000")
	var id string
	if err := e.pool.QueryRow(ctx, `SELECT id FROM approvals WHERE kind = 'reconciliation' AND amount = 6000000 AND status = 'pending_approval'`).Scan(&id); err != nil {
		t.Fatalf("no pending reconciliation: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM reconciliations WHERE account_id = 'acme'`); n != 0 {
		t.Fatal("a pending reconciliation was posted")
	}
	res, _ := second.post("/console/approvals/"+id, url.Values{"csrf": {second.csrf("/console/approvals")}, "decision": {"approve"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %d", res.StatusCode)
	}
	if n := e.count(`SELECT count(*) FROM reconciliations r JOIN adjustments a ON a.id = r.adjustment_id
		WHERE r.account_id = 'acme' AND r.difference = 6000000 AND r.actor = $1 AND a.amount = 6000000`, ann.Email); n != 1 {
		t.Error("the approved reconciliation was not posted")
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'reconciliation.create' AND actor = $1`, bob.Email); n != 1 {
		t.Errorf("%d audit rows of the approved reconciliation", n)
	}
	// The API: 202 with the approval for a difference above the threshold.
	code, body := e.api("POST", "/v1/accounts/globex/reconciliations", map[string]any{"period": e.clock.Now().In(jakarta).AddDate(0, -2, 0).Format("2006-01"), "billed": 9000000})
	if code != http.StatusAccepted || body["kind"] != "reconciliation" || body["status"] != "pending_approval" {
		t.Errorf("API reconciliation above the threshold: %d %v", code, body)
	}
	rep, err := audit.Run(ctx, e.pool)
	if err != nil || !rep.OK() {
		t.Errorf("lunas audit: %v %+v", err, rep)
	}
}
