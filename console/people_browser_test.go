package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lunas-id/lunas/audit"
	"github.com/lunas-id/lunas/people"
)

// signIn fills the sign-in form and waits for sel (the next page's mark).
func (b *tab) signIn(base, email, password, sel string) {
	b.t.Helper()
	b.do("sign in as "+email, chromedp.Navigate(base+"/console/sign-in"), chromedp.WaitVisible(chromedp.ID("#email")),
		chromedp.SendKeys(chromedp.ID("#email"), email), chromedp.SendKeys(chromedp.ID("#password"), password+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(sel)))
}

// code answers the sign-in's code step and waits for the overview.
func (b *tab) code(code string) {
	b.t.Helper()
	b.do("the code", chromedp.WaitVisible(chromedp.ID("#code")), chromedp.SendKeys(chromedp.ID("#code"), code+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))
}

// postForm submits a form the page does not offer (as a person could
// craft one), with the session's CSRF token, and returns the status the
// error page shows ("" when the answer was not an error page).
func (b *tab) postForm(path string, fields map[string]string) string {
	b.t.Helper()
	f, _ := json.Marshal(fields)
	js := fmt.Sprintf(`(() => { const f = document.createElement('form'); f.method = 'post'; f.action = %q;
		const add = (k, v) => { const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); };
		add('csrf', document.querySelector('input[name=csrf]').value);
		for (const [k, v] of Object.entries(%s)) add(k, v);
		document.body.appendChild(f); f.submit(); return true; })()`, path, f)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
		b.t.Fatalf("post %s: %v", path, err)
	}
	b.do("the answer to "+path, chromedp.WaitVisible(chromedp.ID("#error-status")))
	return b.text("#error-status")
}

// forget drops the console errors seen so far: the failed loads of the
// refusals a step provokes on purpose (401, 403).
func (b *tab) forget() {
	time.Sleep(50 * time.Millisecond)
	b.mu.Lock()
	b.errs = nil
	b.mu.Unlock()
}

// Finance as named people, in a real browser: an admin adds an approver,
// who enrols TOTP from the welcome page's secret and signs in with a code
// and once with a recovery code; a reviewer signs in and reviews; a wrong
// password and the lock-out; four eyes (a reviewer's approval and the
// requester's own refused, a second approver's moves the money); a
// disabled reviewer's session ends; an API token signs no one in. Then
// GET /v1/audit-log lists it all with the right actors.
func TestPeopleInTheBrowser(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	paying := e.inReview("acme", "sari@acme.example", 1000000, receipt(t))
	admin := e.person(people.RoleAdmin)
	reviewer := e.person(people.RoleReviewer)
	locked := e.person(people.RoleViewer)
	bob := e.person(people.RoleApprover)
	base := e.base
	adm, rev, other := newTab(t), newTab(t), newTab(t)
	var annEmail, annPassword = "ann.approver@lunas.test", "Teh-tarik-Medan-2026!"
	var annSecret string
	var annCodes []string

	t.Run("an API token cannot sign in", func(t *testing.T) {
		other.t = t
		other.signIn(base, "finance@lunas.test", financeToken, ".flash.error")
		if loc := other.location(); !strings.HasPrefix(loc, base+"/console/sign-in") {
			t.Errorf("after a token as password the browser is at %s", loc)
		}
		other.forget()
		if n := e.count(`SELECT count(*) FROM user_sessions`); n != 0 {
			t.Errorf("%d sessions", n)
		}
	})

	t.Run("a reviewer signs in and reviews", func(t *testing.T) {
		rev.t = t
		rev.signIn(base, reviewer.Email, reviewer.Password, ".tiles")
		if got := rev.text("#role"); got != "peninjau" {
			t.Errorf("the header's role: %q", got)
		}
		rev.do("accept the proof", chromedp.Navigate(base+"/console/reviews"), chromedp.WaitVisible(chromedp.CSS("#review-"+paying.ID)),
			chromedp.Click(chromedp.ID("#accept-"+paying.ID)), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
		if n := e.count(`SELECT count(*) FROM reviews WHERE order_id = $1 AND decision = 'accept' AND actor = $2`, paying.ID, reviewer.Email); n != 1 {
			t.Error("the review is not recorded as the reviewer's")
		}
		rev.clean("review")
	})

	t.Run("a wrong password, then the lock-out", func(t *testing.T) {
		other.t = t
		for i := range people.MaxEmailFailure {
			other.signIn(base, locked.Email, fmt.Sprintf("wrong-password-%d", i), ".flash.error")
		}
		// The right password now fails the same way, for 15 minutes.
		other.signIn(base, locked.Email, locked.Password, ".flash.error")
		if got := other.text(".flash.error"); !strings.Contains(got, "salah") {
			t.Errorf("the refusal: %q", got)
		}
		other.forget()
		if n := e.count(`SELECT count(*) FROM user_sessions WHERE user_id = $1`, locked.ID); n != 0 {
			t.Error("a locked-out person got a session")
		}
		e.clock.Set(e.clock.Now().Add(people.LockOut + time.Minute))
		other.signIn(base, locked.Email, locked.Password, ".tiles")
		other.do("sign out", chromedp.Click(chromedp.ID("#sign-out")), chromedp.WaitVisible(chromedp.ID("#email")))
		other.clean("lock-out")
	})

	t.Run("an admin adds an approver, who enrols TOTP from the page", func(t *testing.T) {
		adm.t = t
		adm.signIn(base, admin.Email, admin.Password, "#code")
		adm.code(e.real.Code(t, admin.Secret))
		adm.do("add Ann", chromedp.Navigate(base+"/console/users"), chromedp.WaitVisible(chromedp.ID("#add-user-form")),
			chromedp.SendKeys(chromedp.ID("#u-email"), annEmail), chromedp.SendKeys(chromedp.ID("#u-name"), "Ann Approver"),
			chromedp.SetValue(chromedp.ID("#u-role"), "approver"), chromedp.Click(chromedp.ID("#add-user")),
			chromedp.WaitVisible(chromedp.ID("#welcome-link")))
		link := adm.text("#welcome-link")
		if !strings.HasPrefix(link, base+"/console/welcome/") {
			t.Fatalf("the link: %q", link)
		}
		adm.clean("add a user")

		other.t = t
		other.do("open the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("#totp-qr")))
		annSecret = other.text("#totp-secret")
		other.shot("welcome-totp")
		other.do("set the password and the first code", chromedp.SendKeys(chromedp.ID("#password"), annPassword),
			chromedp.SendKeys(chromedp.ID("#password_confirm"), annPassword),
			chromedp.SendKeys(chromedp.ID("#code"), e.real.Code(t, annSecret)), chromedp.Click(chromedp.ID("#welcome-submit")),
			chromedp.WaitVisible(chromedp.ID("#recovery-codes")))
		codes, err := chromedp.Run(other.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#recovery-codes li')].map(li => li.textContent)`))
		if err != nil || len(codes) != people.RecoveryCodes {
			t.Fatalf("recovery codes: %v %v", codes, err)
		}
		annCodes = codes
		other.clean("welcome")

		other.signIn(base, annEmail, annPassword, "#code")
		other.code(e.real.Code(t, annSecret))
		other.do("sign out", chromedp.Click(chromedp.ID("#sign-out")), chromedp.WaitVisible(chromedp.ID("#email")))
		other.signIn(base, annEmail, annPassword, "#code")
		other.code(annCodes[3])
		// The recovery code works once.
		other.do("sign out", chromedp.Click(chromedp.ID("#sign-out")), chromedp.WaitVisible(chromedp.ID("#email")))
		other.signIn(base, annEmail, annPassword, "#code")
		other.do("the used recovery code", chromedp.SendKeys(chromedp.ID("#code"), annCodes[3]+kb.Enter), chromedp.WaitVisible(chromedp.CSS(".flash.error")))
		other.forget()
		other.code(annCodes[4])
		other.clean("sign in with TOTP and a recovery code")
	})

	var approvalID string
	t.Run("four eyes", func(t *testing.T) {
		other.t = t
		before, err := e.accounts.Get(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		other.do("Ann asks for a refund above the threshold", chromedp.Navigate(base+"/console/accounts/acme"), chromedp.WaitVisible(chromedp.ID("#adjust-form")),
			chromedp.SetValue(chromedp.ID("#adj-kind"), "refund"), chromedp.SendKeys(chromedp.ID("#adj-amount"), "7.500.000"),
			chromedp.SendKeys(chromedp.ID("#adj-reason"), "Kompensasi gangguan November"),
			chromedp.Click(chromedp.ID("#adjust-submit")), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
		if err := e.pool.QueryRow(ctx, `SELECT id FROM approvals WHERE requested_by = $1 AND status = 'pending_approval'`, annEmail).Scan(&approvalID); err != nil {
			t.Fatalf("no pending approval: %v", err)
		}
		if a, _ := e.accounts.Get(ctx, "acme"); a.Balances != before.Balances {
			t.Errorf("a pending request moved money: %+v → %+v", before.Balances, a.Balances)
		}
		other.do("Ann's approvals page", chromedp.Navigate(base+"/console/approvals"), chromedp.WaitVisible(chromedp.ID("#approval-"+approvalID)))
		if got := other.postForm("/console/approvals/"+approvalID, map[string]string{"decision": "approve"}); got != "HTTP 403" {
			t.Errorf("Ann's own approval: %q, want HTTP 403", got)
		}
		other.forget()

		rev.t = t
		rev.do("the reviewer's approvals page", chromedp.Navigate(base+"/console/approvals"), chromedp.WaitVisible(chromedp.ID("#approval-"+approvalID)))
		if got := rev.postForm("/console/approvals/"+approvalID, map[string]string{"decision": "approve"}); got != "HTTP 403" {
			t.Errorf("a reviewer's approval: %q, want HTTP 403", got)
		}
		rev.forget()
		if n := e.count(`SELECT count(*) FROM approvals WHERE id = $1 AND status = 'pending_approval'`, approvalID); n != 1 {
			t.Fatal("a refused approval changed the request")
		}

		other.do("sign Ann out", chromedp.Navigate(base+"/console/"), chromedp.Click(chromedp.ID("#sign-out")), chromedp.WaitVisible(chromedp.ID("#email")))
		other.signIn(base, bob.Email, bob.Password, "#code")
		other.code(e.real.Code(t, bob.Secret))
		other.do("Bob approves", chromedp.Navigate(base+"/console/approvals"), chromedp.Click(chromedp.ID("#approve-"+approvalID)),
			chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
		after, _ := e.accounts.Get(ctx, "acme")
		if got := after.Balances.WABalance + (before.Balances.Outstanding - after.Balances.Outstanding) - before.Balances.WABalance; got != 7_500_000 {
			t.Errorf("the approved refund moved %d: %+v → %+v", got, before.Balances, after.Balances)
		}
		other.shot("approvals-decided")
		other.clean("four eyes")
	})

	t.Run("a disabled reviewer's session ends", func(t *testing.T) {
		adm.t = t
		adm.do("disable the reviewer", chromedp.Navigate(base+"/console/users"),
			chromedp.Click(chromedp.CSS("#user-"+reviewer.ID+" button.danger")), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
		adm.clean("disable")
		rev.t = t
		rev.do("the reviewer's next page", chromedp.Navigate(base+"/console/orders"), chromedp.WaitVisible(chromedp.ID("#email")))
		if loc := rev.location(); !strings.HasPrefix(loc, base+"/console/sign-in") {
			t.Errorf("a disabled reviewer is at %s", loc)
		}
	})

	t.Run("the audit log has it all, with the right actors", func(t *testing.T) {
		want := map[string]string{
			"review.accept " + paying.ID:     reviewer.Email,
			"approval.request " + approvalID: annEmail,
			"approval.approve " + approvalID: bob.Email,
			"user.disable " + reviewer.ID:    admin.Email,
		}
		for key, actor := range want {
			action, object, _ := strings.Cut(key, " ")
			code, body := e.api("GET", "/v1/audit-log?object="+url.QueryEscape(object)+"&actor="+url.QueryEscape(actor), nil)
			rows, _ := body["data"].([]any)
			found := false
			for _, r := range rows {
				found = found || r.(map[string]any)["action"] == action
			}
			if code != 200 || !found {
				t.Errorf("GET /v1/audit-log: no %s of %s by %s (%d %v)", action, object, actor, code, body)
			}
		}
		var annID string
		if err := e.pool.QueryRow(ctx, `SELECT id FROM users WHERE email = $1`, annEmail).Scan(&annID); err != nil {
			t.Fatal(err)
		}
		code, body := e.api("GET", "/v1/audit-log?actor="+url.QueryEscape(annEmail)+"&object="+annID, nil)
		var methods []string
		for _, r := range body["data"].([]any) {
			m := r.(map[string]any)
			if m["action"] == "session.sign_in" {
				after, _ := m["after"].(map[string]any)
				methods = append(methods, fmt.Sprint(after["method"]))
			}
		}
		if code != 200 || strings.Count(strings.Join(methods, ","), "recovery_code") != 2 || strings.Count(strings.Join(methods, ","), "totp") != 1 {
			t.Errorf("Ann's sign-ins: %v", methods)
		}
		if code, body := e.api("GET", "/v1/audit-log?actor="+url.QueryEscape(admin.Email)+"&object="+annID, nil); code != 200 || len(body["data"].([]any)) != 1 {
			t.Errorf("the admin's user.add row: %d %v", code, body)
		}
		rep, err := audit.Run(ctx, e.pool)
		if err != nil || !rep.OK() {
			t.Errorf("lunas audit: %v %+v", err, rep)
		}
	})
}
