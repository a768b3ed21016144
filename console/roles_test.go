package console_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	acc "github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/console"
	"github.com/lunas-id/lunas/manual"
	"github.com/lunas-id/lunas/people"
)

// publicRoutes are the only routes served without a session. A new route
// must be registered with a people.Action (console.Server.handle takes
// one); registering it as public fails this test until it is added here.
var publicRoutes = []string{
	"GET /console/static/", "GET /console/sign-in", "POST /console/sign-in", "GET /console/sign-in/totp", "POST /console/sign-in/totp",
	"GET /console/welcome/{token}", "POST /console/welcome/{token}", "GET /console/lang",
}

// TestEveryRouteEnforcesItsRole walks every route the console registers
// (Server.Routes, so a new route is covered the day it is added) for every
// role: a role that may take the route's action is not refused; a role
// that may not gets 403 and nothing in the database changes.
func TestEveryRouteEnforcesItsRole(t *testing.T) {
	e := newEnv(t, envOptions{reports: true})
	o := e.inReview("acme", "sari@acme.example", 1000000, receipt(t))
	ev := e.flagged("globex")
	target := e.person(people.RoleViewer) // the user the users-page actions aim at
	pending, err := e.manual.Adjust(t.Context(), "acme", manual.Actor{Name: "token:00000000"},
		acc.AdjustmentInput{Product: "wa_balance", Kind: "refund", Amount: approvalThreshold + 1, Reason: "waits"})
	if err != nil || pending.Approval == nil {
		t.Fatalf("a pending approval: %+v %v", pending, err)
	}
	clients := map[people.Role]*client{}
	for _, r := range people.Roles() {
		c := e.client()
		if res := c.signInAs(e.person(r)); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in %s: %d", r, res.StatusCode)
		}
		clients[r] = c
	}
	// What a refused request must leave alone: every table an action
	// writes, and the audit log (sign-ins aside).
	snapshot := func() string {
		var s string
		err := e.pool.QueryRow(t.Context(), `SELECT concat_ws(',',
			(SELECT count(*) FROM reviews), (SELECT status FROM orders WHERE id = $1),
			(SELECT count(*) FROM gateway_events WHERE resolved_at IS NOT NULL), (SELECT count(*) FROM adjustments),
			(SELECT count(*) FROM ledger_postings), (SELECT string_agg(status, '' ORDER BY id) FROM users),
			(SELECT count(*) FROM user_tokens), (SELECT count(*) FROM audit_log WHERE action NOT LIKE 'session.%'),
			(SELECT string_agg(status, '' ORDER BY seq) FROM approvals))`, o.ID).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ids := strings.NewReplacer("{$}", "")
	routes := e.console.Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes: the list is not the router's", len(routes))
	}
	// Sign-out last: it ends the session the other routes are tried with.
	slices.SortStableFunc(routes, func(a, b console.Route) int {
		return map[bool]int{true: 1, false: 0}[a.Pattern == "POST /console/sign-out"] - map[bool]int{true: 1, false: 0}[b.Pattern == "POST /console/sign-out"]
	})
	for _, rt := range routes {
		if rt.Public {
			if !slices.Contains(publicRoutes, rt.Pattern) {
				t.Errorf("route %q is served without a session: give it a people.Action, or add it to publicRoutes if it must be public", rt.Pattern)
			}
			continue
		}
		min, ok := rt.Action.MinRole()
		if !ok {
			t.Errorf("route %q: action %q has no role rule", rt.Pattern, rt.Action)
			continue
		}
		method, path, found := strings.Cut(rt.Pattern, " ")
		if !found { // the catch-all
			method, path = "GET", rt.Pattern+"nothing-here"
		}
		switch {
		case strings.Contains(path, "/orders/{id}"):
			path = strings.Replace(path, "{id}", o.ID, 1)
		case strings.Contains(path, "/events/{id}"):
			path = strings.Replace(path, "{id}", itoa(ev), 1)
		case strings.Contains(path, "/users/{id}"):
			path = strings.Replace(path, "{id}", target.ID, 1)
		case strings.Contains(path, "/sendings/{id}"):
			path = strings.Replace(path, "{id}", "snd_1", 1)
		case strings.Contains(path, "/approvals/{id}"):
			path = strings.Replace(path, "{id}", pending.Approval.ID, 1)
		case strings.Contains(path, "/accounts/{id}"):
			path = strings.Replace(path, "{id}", "acme", 1)
		case strings.Contains(ids.Replace(path), "{"):
			t.Fatalf("route %q: the test does not know what to put in its path; add a case", rt.Pattern)
		default:
			path = ids.Replace(path)
		}
		for _, role := range people.Roles() {
			c := clients[role]
			before := snapshot()
			var res *http.Response
			if method == http.MethodPost {
				// A form that a permitted role's call would refuse as
				// invalid (nothing is meant to change here), with the
				// session's CSRF token so only the role decides.
				res, _ = c.post(path, url.Values{"csrf": {c.csrf("/console/")}, "decision": {"nonsense"}, "amount": {"x"}, "billed": {"x"}, "email": {"x"}})
			} else {
				res, _ = c.get(path)
			}
			if rt.Pattern == "POST /console/sign-out" { // every role may; the session ends
				if res.StatusCode != http.StatusSeeOther {
					t.Errorf("sign-out as %s: %d", role, res.StatusCode)
				}
				if res, _ := c.get("/console/"); res.StatusCode != http.StatusSeeOther {
					t.Errorf("after sign-out as %s the overview answers %d", role, res.StatusCode)
				}
				continue
			}
			if role.AtLeast(min) {
				if res.StatusCode == http.StatusForbidden || strings.HasPrefix(res.Header.Get("Location"), "/console/sign-in") {
					t.Errorf("%s %s as %s (may %s): %d → %q", method, path, role, rt.Action, res.StatusCode, res.Header.Get("Location"))
				}
				continue
			}
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s as %s (needs %s for %s): %d, want 403", method, path, role, min, rt.Action, res.StatusCode)
			}
			if after := snapshot(); after != before {
				t.Errorf("%s %s as %s was refused but changed %s → %s", method, path, role, before, after)
			}
		}
	}
}

// A page offers only the forms the role may use (the routes refuse the
// others anyway).
func TestPagesOfferOnlyTheRolesForms(t *testing.T) {
	e := newEnv(t, envOptions{reports: true})
	o := e.inReview("acme", "sari@acme.example", 1000000, receipt(t))
	ev := e.flagged("globex")
	forms := map[string]people.Action{
		`id="accept-` + o.ID + `"`:      people.ActionReviewProofs,
		`id="resolve-` + itoa(ev) + `"`: people.ActionResolveEvents,
		`id="adjust-form"`:              people.ActionAdjust,
		`id="reconcile-form"`:           people.ActionReconcile,
		`id="sending-form"`:             people.ActionBulkSend,
	}
	pages := []string{"/console/reviews", "/console/events", "/console/accounts/acme", "/console/sendings"}
	for _, role := range people.Roles() {
		c := e.client()
		c.signInAs(e.person(role))
		var all strings.Builder
		for _, p := range pages {
			_, body := c.get(p)
			all.WriteString(body)
		}
		for form, a := range forms {
			if got, want := strings.Contains(all.String(), form), role.Can(a); got != want {
				t.Errorf("%s: form %s shown %t, want %t", role, form, got, want)
			}
		}
	}
}
