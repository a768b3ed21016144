package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/langcheck"
	"github.com/lunas-id/lunas/internal/peopletest"
	"github.com/lunas-id/lunas/people"
)

// client is a browser without a browser: a cookie jar, no redirects
// followed (the tests look at each 303).
type client struct {
	t    *testing.T
	e    *env
	base string
	c    *http.Client
	hdr  http.Header
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, e: e, base: e.base, hdr: http.Header{},
		c: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (c *client) get(path string) (*http.Response, string) { return c.do("GET", path, nil) }

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	return c.do("POST", path, form)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token in the forms of page path.
func (c *client) csrf(path string) string {
	c.t.Helper()
	res, body := c.get(path)
	m := csrfField.FindStringSubmatch(body)
	if res.StatusCode != 200 || m == nil {
		c.t.Fatalf("GET %s: %d, no CSRF field:\n%s", path, res.StatusCode, tail(body, 2000))
	}
	return m[1]
}

// seeded counts the people seeded in this test binary, for unique e-mails.
var seeded atomic.Int64

// person seeds an active user of role (TOTP enrolled when the role needs
// it) with the peopletest helper.
func (e *env) person(role people.Role) peopletest.Person {
	e.t.Helper()
	return peopletest.Seed(e.t, e.pool, e.people, e.real, fmt.Sprintf("%s%d@lunas.test", role, seeded.Add(1)), role)
}

// signIn posts e-mail and password through the sign-in form and returns
// the answer.
func (c *client) signIn(email, password string) *http.Response {
	c.t.Helper()
	res, _ := c.post("/console/sign-in", url.Values{"csrf": {c.csrf("/console/sign-in")}, "email": {email}, "password": {password}})
	return res
}

// signInCode posts code on the TOTP step of the sign-in.
func (c *client) signInCode(code string) *http.Response {
	c.t.Helper()
	res, _ := c.post("/console/sign-in/totp", url.Values{"csrf": {c.csrf("/console/sign-in/totp")}, "code": {code}})
	return res
}

// signInAs signs p in through the forms (the code step when p has TOTP)
// and returns the last answer, which sets the session cookie.
func (c *client) signInAs(p peopletest.Person) *http.Response {
	c.t.Helper()
	res := c.signIn(p.Email, p.Password)
	if p.Secret != "" {
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/console/sign-in/totp") {
			c.t.Fatalf("password step of %s: %d → %q", p.Email, res.StatusCode, res.Header.Get("Location"))
		}
		res = c.signInCode(c.e.real.Code(c.t, p.Secret))
	}
	return res
}

// mustSignIn signs in a new admin (every action allowed) and returns them.
func (c *client) mustSignIn() peopletest.Person {
	c.t.Helper()
	p := c.e.person(people.RoleAdmin)
	if res := c.signInAs(p); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		c.t.Fatalf("sign-in: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	return p
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestNoSessionRedirectsToSignIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	for _, p := range []string{"/console/", "/console/orders", "/console/orders/ord_x", "/console/orders/ord_x/proof", "/console/orders/ord_x/proforma.pdf",
		"/console/reviews", "/console/events", "/console/accounts", "/console/accounts/acme", "/console/subscriptions",
		"/console/reports/overdue", "/console/reports/overdue.xlsx", "/console/sendings", "/console/nothing-here"} {
		res, _ := c.get(p)
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/sign-in") {
			t.Errorf("GET %s without a session: %d → %q, want 303 to the sign-in page", p, res.StatusCode, loc)
		}
	}
	if res, _ := c.get("/console/orders?status=paid"); res.Header.Get("Location") != "/console/sign-in?next=%2Fconsole%2Forders%3Fstatus%3Dpaid" {
		t.Errorf("the way back after sign-in: %q", res.Header.Get("Location"))
	}
	for _, p := range []string{"/console/sign-out", "/console/orders/ord_x/review", "/console/events/1/resolve", "/console/accounts/acme/adjustments",
		"/console/accounts/acme/reconciliations", "/console/sendings"} {
		res, _ := c.post(p, url.Values{"csrf": {"x"}})
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/console/sign-in") {
			t.Errorf("POST %s without a session: %d → %q, want 303 to sign-in", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	// The sign-in page and the static files need no session.
	for _, p := range []string{"/console/sign-in", "/console/static/console.css", "/console/static/console.js", "/console/static/favicon.svg"} {
		if res, _ := c.get(p); res.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
	}
}

func TestOnlyAPersonSignsIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	viewer := e.person(people.RoleViewer)
	// An API token, app or finance, in any field: no sign-in.
	for _, tok := range []string{appToken, financeToken} {
		res, _ := c.post("/console/sign-in", url.Values{"csrf": {c.csrf("/console/sign-in")}, "token": {tok}})
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("token field: %d, want 401", res.StatusCode)
		}
		if res := c.signIn(tok, tok); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("a token as e-mail and password: %d, want 401", res.StatusCode)
		}
	}
	res := c.signIn(viewer.Email, "not-the-password")
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", res.StatusCode)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "lunas_console" && ck.Value != "" {
			t.Errorf("a session cookie for a wrong password: %v", ck)
		}
	}
	if n := e.count(`SELECT count(*) FROM user_sessions`); n != 0 {
		t.Errorf("%d sessions after refused sign-ins", n)
	}
	if res, _ := c.get("/console/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after refused sign-ins the overview answers %d", res.StatusCode)
	}
	// Without the sign-in form's own CSRF pair (login CSRF), no sign-in.
	fresh := e.client()
	if res, _ := fresh.post("/console/sign-in", url.Values{"email": {viewer.Email}, "password": {viewer.Password}, "csrf": {"guess"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's CSRF pair: %d, want 403", res.StatusCode)
	}
	if res := c.signInAs(viewer); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Fatalf("viewer sign-in: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, body := c.get("/console/"); res.StatusCode != 200 || !strings.Contains(body, viewer.Email) || !strings.Contains(body, `id="role">pengamat<`) {
		t.Errorf("overview after sign-in: %d, the header shows neither %s nor the role", res.StatusCode, viewer.Email)
	}
}

func TestCookieFlags(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	res := c.signInAs(e.person(people.RoleViewer))
	var sess *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "lunas_console" {
			sess = ck
		}
	}
	if sess == nil {
		t.Fatal("no session cookie")
	}
	raw := res.Header.Values("Set-Cookie")
	t.Logf("Set-Cookie: %q", raw)
	if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/console/" || sess.Secure {
		t.Errorf("session cookie over plain HTTP: %+v, want HttpOnly, SameSite=Strict, Path=/console/, not Secure", sess)
	}
	if len(sess.Value) < 43 || e.count(`SELECT count(*) FROM user_sessions WHERE hash = sha256(convert_to($1, 'UTF8'))`, sess.Value) != 1 {
		t.Errorf("the cookie should be an opaque 256-bit id whose hash (only) is stored")
	}
	if e.count(`SELECT count(*) FROM user_sessions WHERE position(convert_to($1, 'UTF8') in hash) > 0 OR csrf = $1`, sess.Value) != 0 {
		t.Error("the session id is stored in clear")
	}
	// Behind a TLS-terminating proxy the cookie is Secure.
	p := e.client()
	p.hdr.Set("X-Forwarded-Proto", "https")
	for _, ck := range p.signInAs(e.person(people.RoleViewer)).Cookies() {
		if ck.Name == "lunas_console" && !ck.Secure {
			t.Errorf("behind HTTPS the session cookie is not Secure: %+v", ck)
		}
	}
	// And when the public URL is https, whatever the request says.
	h := newEnv(t, envOptions{dsn: e.dsn, publicURL: "https://billing.example.id"})
	for _, ck := range h.client().signInAs(e.person(people.RoleViewer)).Cookies() {
		if ck.Name == "lunas_console" && !ck.Secure {
			t.Errorf("LUNAS_PUBLIC_URL https: the session cookie is not Secure: %+v", ck)
		}
	}
}

func TestPostWithoutCSRFIsRefusedAndChangesNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	o := e.inReview("acme", "sari@acme.example", 1000000, receipt(t))
	c := e.client()
	admin := c.mustSignIn()
	other := e.client()
	other.mustSignIn()
	otherCSRF := other.csrf("/console/")
	for name, form := range map[string]url.Values{
		"no token":              {"decision": {"accept"}},
		"empty token":           {"decision": {"accept"}, "csrf": {""}},
		"another session's one": {"decision": {"accept"}, "csrf": {otherCSRF}},
	} {
		res, body := c.post("/console/orders/"+o.ID+"/review", form)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("review, %s: %d, want 403", name, res.StatusCode)
		}
	}
	res, _ := c.post("/console/accounts/acme/adjustments", url.Values{"kind": {"refund"}, "amount": {"50000"}, "reason": {"x"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("adjustment without CSRF: %d", res.StatusCode)
	}
	if res, _ := c.post("/console/sign-out", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without CSRF: %d", res.StatusCode)
	}
	got, _ := e.orders.GetOrder(context.Background(), o.ID)
	if got.Status != "in_review" || e.count(`SELECT count(*) FROM reviews`) != 0 || e.count(`SELECT count(*) FROM adjustments`) != 0 ||
		e.count(`SELECT count(*) FROM ledger_postings`) != 0 || e.count(`SELECT count(*) FROM user_sessions`) != 2 {
		t.Errorf("something changed: order %s", got.Status)
	}
	// With the token, the same review goes through, by the person.
	res, _ = c.post("/console/orders/"+o.ID+"/review", url.Values{"decision": {"reject"}, "reason": {"the amount is not on our statement"}, "csrf": {c.csrf("/console/reviews")}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("review with CSRF: %d", res.StatusCode)
	}
	if got, _ := e.orders.GetOrder(context.Background(), o.ID); got.Status != "rejected" {
		t.Errorf("after reject: %s", got.Status)
	}
	if e.count(`SELECT count(*) FROM reviews WHERE actor = $1`, admin.Email) != 1 {
		t.Error("the decision is not recorded with the person's e-mail")
	}
}

func TestASessionIsValidOnEveryServeProcess(t *testing.T) {
	a := newEnv(t, envOptions{})
	b := newEnv(t, envOptions{dsn: a.dsn, clock: a.clock})
	c := a.client()
	c.mustSignIn()
	// The same cookie, sent to the other process.
	u, _ := url.Parse(a.base + "/console/")
	v, _ := url.Parse(b.base + "/console/")
	c.c.Jar.SetCookies(v, c.c.Jar.Cookies(u))
	c.base = b.base
	if res, _ := c.get("/console/orders"); res.StatusCode != 200 {
		t.Fatalf("the session from process A on process B: %d", res.StatusCode)
	}
	// Sign-out on B ends it on A too.
	res, _ := c.post("/console/sign-out", url.Values{"csrf": {c.csrf("/console/")}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/sign-in" {
		t.Fatalf("sign-out: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	c.base = a.base
	c.c.Jar.SetCookies(u, c.c.Jar.Cookies(v)) // whatever B cleared
	if res, _ := c.get("/console/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out on B, A still answers %d", res.StatusCode)
	}
	if n := a.count(`SELECT count(*) FROM user_sessions`); n != 0 {
		t.Errorf("%d sessions left after sign-out", n)
	}
}

func TestIdleSessionsEnd(t *testing.T) {
	clk := clock.NewFixed(time.Date(2026, 11, 23, 9, 0, 0, 0, jakarta))
	e := newEnv(t, envOptions{clock: clk})
	c := e.client()
	c.mustSignIn()
	clk.Set(clk.Now().Add(29 * time.Minute))
	if res, _ := c.get("/console/"); res.StatusCode != 200 {
		t.Fatalf("after 29 idle minutes: %d", res.StatusCode)
	}
	clk.Set(clk.Now().Add(29 * time.Minute)) // 58 min after sign-in, 29 idle: still alive
	if res, _ := c.get("/console/"); res.StatusCode != 200 {
		t.Fatalf("a used session expired: %d", res.StatusCode)
	}
	clk.Set(clk.Now().Add(31 * time.Minute))
	if res, _ := c.get("/console/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after 31 idle minutes (service clock): %d, want 303", res.StatusCode)
	}
}

func TestADisabledPersonsSessionsEnd(t *testing.T) {
	a := newEnv(t, envOptions{})
	b := newEnv(t, envOptions{dsn: a.dsn, clock: a.clock})
	c := a.client()
	p := c.mustSignIn()
	if res, _ := c.get("/console/"); res.StatusCode != 200 {
		t.Fatalf("signed in: %d", res.StatusCode)
	}
	// Disabled by another admin on process B: the session ends on A at once.
	admin := b.client()
	admin.mustSignIn()
	res, _ := admin.post("/console/users/"+p.ID+"/disable", url.Values{"csrf": {admin.csrf("/console/users")}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", res.StatusCode)
	}
	if res, _ := c.get("/console/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a disabled person's session: %d, want 303", res.StatusCode)
	}
	if res := c.signIn(p.Email, p.Password); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a disabled person signs in: %d, want 401", res.StatusCode)
	}
	if n := a.count(`SELECT count(*) FROM audit_log WHERE action = 'user.disable' AND object = $1 AND actor LIKE 'admin%@lunas.test'`, p.ID); n != 1 {
		t.Errorf("%d audit rows of the disable", n)
	}
}

// Every page renders in both languages with every word translated, and
// Rupiah and WIB as Indonesians write them.
func TestEveryPageInBothLanguages(t *testing.T) {
	e := newEnv(t, envOptions{reports: true})
	o := e.inReview("acme", "sari@acme.example", 1000000, receipt(t))
	ev := e.flagged("globex")
	held := e.challenged("initech")
	c := e.client()
	c.mustSignIn()
	pages := []string{"/console/", "/console/orders", "/console/orders?status=in_review", "/console/orders/" + o.ID, "/console/reviews",
		"/console/events", "/console/events?state=all", "/console/accounts", "/console/accounts?low=1", "/console/accounts/acme",
		"/console/subscriptions", "/console/reports/overdue", "/console/sendings", "/console/orders/" + held.ID,
		"/console/users", "/console/audit", "/console/approvals", "/console/tax"}
	for _, lang := range []string{"id", "en"} {
		if res, _ := c.get("/console/lang?to=" + lang + "&next=/console/orders"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/orders" {
			t.Fatalf("language switch: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		for _, p := range pages {
			res, body := c.get(p)
			if res.StatusCode != 200 {
				t.Errorf("%s %s: %d\n%s", lang, p, res.StatusCode, tail(body, 1500))
				continue
			}
			if m := regexp.MustCompile(`⟦[^⟧]*⟧`).FindAllString(body, -1); m != nil {
				t.Errorf("%s %s: untranslated %v", lang, p, m)
			}
			// What a finance person reads, in their language (the finish
			// issue: "refund: 888000 of 1776000 taken back" on an
			// Indonesian page).
			for _, problem := range langcheck.Problems(lang, langcheck.Text(body)) {
				t.Errorf("%s %s: %s", lang, p, problem)
			}
			if !strings.Contains(body, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: not in %s", lang, p, lang)
			}
		}
	}
	_, body := c.get("/console/orders/" + o.ID)
	for _, want := range []string{"Rp1.110.000", "WIB", e.clock.Now().In(jakarta).Format("02-01-2006"), "/console/orders/" + o.ID + "/proof", "Sari Dewi", "Accept and mark paid", "/console/orders/" + o.ID + "/proforma.pdf"} {
		if !strings.Contains(body, want) {
			t.Errorf("order page lacks %q", want)
		}
	}
	_, body = c.get("/console/events")
	if !strings.Contains(body, `id="ev-`+strconv.FormatInt(ev, 10)+`"`) || !strings.Contains(body, "amount_mismatch") || !strings.Contains(body, "challenge") ||
		!strings.Contains(body, held.ID) {
		t.Errorf("events page lacks the flagged event or the challenge:\n%s", tail(body, 3000))
	}
	_, body = c.get("/console/reports/overdue")
	if !strings.Contains(body, "Rp333.000") || !strings.Contains(body, "overdue.xlsx") {
		t.Error("overdue report page lacks its row or the XLSX link")
	}
	if res, body := c.get("/console/reports/overdue.xlsx?plan_id=home-50"); res.StatusCode != 200 || body != string(fakeXLSX) ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("XLSX download: %d %q", res.StatusCode, res.Header.Get("Content-Disposition"))
	}
	if res, _ := c.get("/console/orders/" + o.ID + "/proof"); res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" {
		t.Errorf("proof: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res, body := c.get("/console/orders/" + o.ID + "/proforma.pdf"); res.StatusCode != 200 || !strings.HasPrefix(body, "%PDF-") {
		t.Errorf("proforma: %d", res.StatusCode)
	}
}
