// Package console is the finance console under /console/ (API.md "Finance
// console"): server-rendered pages (html/template, embedded templates, one
// CSS file, one small script) where finance reviews transfer proofs, chases
// flagged gateway events, looks at orders and accounts, adjusts and
// reconciles balances, and reads the subscription reports.
//
// It is a second face of the same domain, never a second implementation:
// every action calls the service the API calls (review.Review,
// account.Adjust, payment.Resolve, usage.Reconcile), with the signed-in
// person's e-mail as the actor, and is logged and audited with it. Only read-only
// views the domain has no call for (the overview's counts, an order's
// mails, card challenges) are queries of its own (read.go).
//
// Security: finance signs in as named people (package people): e-mail and
// password, then a TOTP code for the roles that need one; no API token
// signs in. The session is an opaque token in an HttpOnly, SameSite=Strict
// cookie (Secure behind HTTPS); only its hash is stored, in PostgreSQL, so
// every serve process honours it, and it ends at once when the person is
// disabled. Every route carries the people.Action it needs (Routes), and
// a role that may not take it is answered 403 before anything is read or
// changed. Every form carries the session's synchronizer CSRF token; a
// POST without it is answered 403 and changes nothing. api mounts the
// Server under /console/; cmd/lunas wires it.
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/manual"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/taxbook"
	"github.com/lunas-id/lunas/usage"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures a Server. Subscriptions, Overdue and Sendings are
// optional: nil renders their pages as "not configured".
type Options struct {
	Pool      *store.DB // sessions and the read-only views
	Accounts  *account.Service
	Orders    *order.Service
	Payments  *payment.Service
	Reviews   *review.Service
	Documents *proforma.Documents
	Usage     *usage.Service // nil: no usage summary or reconciliation
	People    *people.Users  // who signs in, their sessions
	Audit     *people.AuditLog
	Manual    *manual.Service // adjustments under four eyes, approvals
	Clock     clock.Clock     // the service clock; default Orders.Clock()
	Location  *time.Location
	Logger    *slog.Logger
	// PublicURL: when https, cookies are Secure whatever the request says.
	PublicURL string

	Subscriptions Subscriptions
	Overdue       OverdueReports
	Sendings      Sendings
	// Tax is the tax paperwork (issue 25); nil renders its page as "not
	// configured".
	Tax *taxbook.Service
}

// Server serves /console/.
type Server struct {
	Options
	log       *slog.Logger
	pages     map[string]*template.Template
	mux       *http.ServeMux
	routeList []Route
}

// New returns a Server with its routes and parsed templates.
func New(o Options) (*Server, error) {
	if o.Clock == nil {
		o.Clock = o.Orders.Clock()
	}
	if o.Location == nil {
		o.Location = o.Orders.Location()
	}
	s := &Server{Options: o, log: o.Logger.With("component", "console"), mux: http.NewServeMux()}
	var err error
	if s.pages, err = parsePages(s.funcs()); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler; every answer is private and framed by
// nobody (the proof and PDF views relax the framing for the console itself).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; "+
		"frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	s.mux.ServeHTTP(w, r)
}

// Route is one console route and the people.Action it needs; Public
// routes (sign-in, the welcome link, static files) need no session.
type Route struct {
	Pattern string // as registered on the mux: "METHOD /console/…"
	Action  people.Action
	Public  bool
}

// Routes lists every route the console serves with its rule, in the order
// registered: the role test walks it, so a route added without a rule is
// caught (a route can only be added through handle, which takes one).
func (s *Server) Routes() []Route { return slices.Clone(s.routeList) }

// handle registers a route with its rule; public routes pass "".
func (s *Server) handle(pattern string, a people.Action, h http.HandlerFunc) {
	if _, ok := a.MinRole(); !ok && a != "" {
		panic("console: route " + pattern + " has an unknown action " + string(a))
	}
	s.routeList = append(s.routeList, Route{Pattern: pattern, Action: a, Public: a == ""})
	s.mux.HandleFunc(pattern, h)
}

// routes: the pages API.md names, the actions their forms post to, and the
// static files, each with who may (people.Role.Can of its action).
// Everyone reaches sign-in, the welcome link and static files; every other
// route needs a session and the role its action needs (403 otherwise,
// nothing changed), and a POST also its CSRF token.
func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/console/static/", http.FileServerFS(static))
	s.handle("GET /console/static/", "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
	s.handle("GET /console/sign-in", "", s.signInPage)
	s.handle("POST /console/sign-in", "", s.signIn)
	s.handle("GET /console/sign-in/totp", "", s.signInTOTPPage)
	s.handle("POST /console/sign-in/totp", "", s.signInTOTP)
	s.handle("GET /console/welcome/{token}", "", s.welcomePage)
	s.handle("POST /console/welcome/{token}", "", s.welcome)
	s.handle("GET /console/lang", "", s.setLang)
	s.handle("POST /console/sign-out", people.ActionView, s.action(people.ActionView, s.signOut))

	vw, pg := people.ActionView, s.page
	s.handle("GET /console/{$}", vw, pg(vw, s.overview))
	s.handle("GET /console/orders", vw, pg(vw, s.orders))
	s.handle("GET /console/orders.csv", vw, pg(vw, s.ordersFile("csv")))
	s.handle("GET /console/orders.xlsx", vw, pg(vw, s.ordersFile("xlsx")))
	s.handle("GET /console/orders/{id}", vw, pg(vw, s.order))
	s.handle("GET /console/orders/{id}/proof", vw, pg(vw, s.proof))
	s.handle("GET /console/orders/{id}/proforma.pdf", vw, pg(vw, s.proformaPDF))
	s.handle("POST /console/orders/{id}/review", people.ActionReviewProofs, s.action(people.ActionReviewProofs, s.review))
	s.handle("GET /console/reviews", vw, pg(vw, s.reviews))
	s.handle("GET /console/events", vw, pg(vw, s.events))
	s.handle("POST /console/events/{id}/resolve", people.ActionResolveEvents, s.action(people.ActionResolveEvents, s.resolve))
	s.handle("GET /console/accounts", vw, pg(vw, s.accounts))
	s.handle("GET /console/accounts/{id}", vw, pg(vw, s.account))
	s.handle("POST /console/accounts/{id}/adjustments", people.ActionAdjust, s.action(people.ActionAdjust, s.adjust))
	s.handle("POST /console/accounts/{id}/reconciliations", people.ActionReconcile, s.action(people.ActionReconcile, s.reconcile))
	s.handle("GET /console/subscriptions", vw, pg(vw, s.subscriptions))
	s.handle("GET /console/reports/overdue", vw, pg(vw, s.overdue))
	s.handle("GET /console/reports/overdue.csv", vw, pg(vw, s.overdueFile("csv")))
	s.handle("GET /console/reports/overdue.xlsx", vw, pg(vw, s.overdueFile("xlsx")))
	s.handle("GET /console/sendings", vw, pg(vw, s.sendings))
	s.handle("POST /console/sendings", people.ActionBulkSend, s.action(people.ActionBulkSend, s.startSending))
	s.handle("GET /console/sendings/{id}/progress", vw, pg(vw, s.sendingProgress))
	s.handle("GET /console/tax", vw, pg(vw, s.taxPage))
	s.handle("GET /console/tax/efaktur.xml", vw, pg(vw, s.taxEFaktur))
	s.handle("GET /console/tax/withholding.csv", vw, pg(vw, s.taxWithholdingCSV))
	s.handle("GET /console/orders/{id}/withholding-slip", vw, pg(vw, s.taxSlip))

	users := people.ActionManageUsers
	s.handle("GET /console/users", users, pg(users, s.usersPage))
	s.handle("POST /console/users", users, s.action(users, s.addUser))
	s.handle("POST /console/users/{id}/disable", users, s.action(users, s.disableUser))
	s.handle("POST /console/users/{id}/reset", users, s.action(users, s.resetUser))
	s.handle("GET /console/approvals", vw, pg(vw, s.approvals))
	s.handle("POST /console/approvals/{id}", people.ActionApprove, s.action(people.ActionApprove, s.decide))
	s.handle("GET /console/audit", people.ActionViewAudit, pg(people.ActionViewAudit, s.auditPage))

	s.handle("/console/", vw, pg(vw, func(w http.ResponseWriter, r *http.Request, v *view) {
		s.fail(w, r, v, http.StatusNotFound, v.T("error.not_found"))
	}))
}

// page serves a page to a signed-in user whose role may take a; without
// a session, 303 to the sign-in page (back here after it, for a GET).
func (s *Server) page(a people.Action, h func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.session(w, r)
		if !ok {
			s.toSignIn(w, r)
			return
		}
		v := s.newView(w, r, sess)
		if !s.allowed(w, r, v, a) {
			return
		}
		h(w, r, v)
	}
}

// action serves a state-changing POST: a session is required (303 to
// sign-in otherwise), the role must allow a (403 otherwise) and the
// form's CSRF token must be the session's (403 otherwise), all before
// anything is read or changed.
func (s *Server) action(a people.Action, h func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		sess, ok := s.session(w, r)
		if !ok {
			s.toSignIn(w, r)
			return
		}
		v := s.newView(w, r, sess)
		if !s.allowed(w, r, v, a) {
			return
		}
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, v, http.StatusBadRequest, v.T("error.bad_form"))
			return
		}
		if !sess.validCSRF(r.PostForm.Get("csrf")) {
			s.log.Warn("console: POST without a valid CSRF token refused", "path", r.URL.Path, "by", v.Caller.Identity)
			s.fail(w, r, v, http.StatusForbidden, v.T("error.csrf"))
			return
		}
		if err := formText(r.PostForm); err != nil {
			s.failErr(w, r, v, err)
			return
		}
		h(w, r, v)
	}
}

// formText refuses a form with a value that is not text PostgreSQL stores
// (a NUL, which it refuses with a 500, or bytes that are not UTF-8), naming
// each such field: checked once here for every action's form.
func formText(f url.Values) error {
	var ve lunas.ValidationError
	for _, k := range slices.Sorted(maps.Keys(f)) {
		for _, val := range f[k] {
			if strings.IndexByte(val, 0) >= 0 || !utf8.ValidString(val) || !utf8.ValidString(k) {
				ve.Add(strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", ""), "?"), "must be UTF-8 text without NUL characters")
				break
			}
		}
	}
	return ve.Err()
}

// allowed answers 403 when the signed-in role may not take a.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, v *view, a people.Action) bool {
	if v.Caller.Role.Can(a) {
		return true
	}
	s.log.Warn("console: refused by role", "path", r.URL.Path, "by", v.Caller.Identity, "role", v.Caller.Role, "action", a)
	s.fail(w, r, v, http.StatusForbidden, v.T("error.forbidden"))
	return false
}

func (s *Server) toSignIn(w http.ResponseWriter, r *http.Request) {
	target := "/console/sign-in"
	if r.Method == http.MethodGet && safeNext(r.URL.RequestURI()) {
		target += "?next=" + urlQueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext accepts only a console path on this host as a place to return
// to (never //host or a scheme: no open redirect).
func safeNext(p string) bool {
	return strings.HasPrefix(p, "/console/") && !strings.HasPrefix(p, "//") && !strings.ContainsAny(p, "\\\r\n") &&
		!strings.HasPrefix(p, "/console/sign-")
}

// logAction records who did what through the console, whatever came of it.
func (s *Server) logAction(ctx context.Context, v *view, action string, err error, attrs ...any) {
	attrs = append([]any{"action", action, "by", v.Caller.Identity}, attrs...)
	if err != nil {
		s.log.WarnContext(ctx, "console action refused", append(attrs, "err", err)...)
		return
	}
	s.log.InfoContext(ctx, "console action", attrs...)
}
