// Package console is the finance console under /console/ (API.md "Finance
// console"): server-rendered pages (html/template, embedded templates, one
// CSS file, one small script) where finance reviews transfer proofs, chases
// flagged gateway events, looks at orders and accounts, adjusts and
// reconciles balances, and reads the subscription reports.
//
// It is a second face of the same domain, never a second implementation:
// every action calls the service the API calls (review.Review,
// account.Adjust, payment.Resolve, usage.Reconcile), with the signed-in
// token's identity as the actor, and is logged with it. Only read-only
// views the domain has no call for (the overview's counts, an order's
// mails, card challenges) are queries of its own (read.go).
//
// Security: sign-in with a finance token (an app token cannot) gives an
// opaque session id in an HttpOnly, SameSite=Strict cookie (Secure behind
// HTTPS); only its hash is stored, in PostgreSQL, so every serve process
// honours it; it ends after IdleTimeout without a request (service clock).
// Every form carries the session's synchronizer CSRF token; a POST without
// it is answered 403 and changes nothing. api mounts the Server under
// /console/; cmd/lunas wires it.
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
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/token"
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
	Tokens    map[string]string
	Clock     clock.Clock // the service clock (idle expiry); default Orders.Clock()
	Location  *time.Location
	Logger    *slog.Logger
	// PublicURL: when https, cookies are Secure whatever the request says.
	PublicURL string
	// IdleTimeout ends a session this long after its last request
	// (default 30 min); MaxAge ends it anyway (default 12 h).
	IdleTimeout, MaxAge time.Duration

	Subscriptions Subscriptions
	Overdue       OverdueReports
	Sendings      Sendings
}

// Server serves /console/.
type Server struct {
	Options
	log    *slog.Logger
	tokens *token.Set
	pages  map[string]*template.Template
	mux    *http.ServeMux
}

// New returns a Server with its routes and parsed templates.
func New(o Options) (*Server, error) {
	if o.Clock == nil {
		o.Clock = o.Orders.Clock()
	}
	if o.Location == nil {
		o.Location = o.Orders.Location()
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 12 * time.Hour
	}
	s := &Server{Options: o, log: o.Logger.With("component", "console"), tokens: token.NewSet(o.Tokens), mux: http.NewServeMux()}
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

// routes: the pages API.md names, the actions their forms post to, and the
// static files. Who may: everyone reaches sign-in and static; every other
// route needs a session (page, action), and an action also its CSRF token.
func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/console/static/", http.FileServerFS(static))
	s.mux.Handle("GET /console/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	s.mux.HandleFunc("GET /console/sign-in", s.signInPage)
	s.mux.HandleFunc("POST /console/sign-in", s.signIn)
	s.mux.HandleFunc("GET /console/lang", s.setLang)
	s.mux.HandleFunc("POST /console/sign-out", s.action(s.signOut))

	s.mux.HandleFunc("GET /console/{$}", s.page(s.overview))
	s.mux.HandleFunc("GET /console/orders", s.page(s.orders))
	s.mux.HandleFunc("GET /console/orders/{id}", s.page(s.order))
	s.mux.HandleFunc("GET /console/orders/{id}/proof", s.page(s.proof))
	s.mux.HandleFunc("GET /console/orders/{id}/proforma.pdf", s.page(s.proformaPDF))
	s.mux.HandleFunc("POST /console/orders/{id}/review", s.action(s.review))
	s.mux.HandleFunc("GET /console/reviews", s.page(s.reviews))
	s.mux.HandleFunc("GET /console/events", s.page(s.events))
	s.mux.HandleFunc("POST /console/events/{id}/resolve", s.action(s.resolve))
	s.mux.HandleFunc("GET /console/accounts", s.page(s.accounts))
	s.mux.HandleFunc("GET /console/accounts/{id}", s.page(s.account))
	s.mux.HandleFunc("POST /console/accounts/{id}/adjustments", s.action(s.adjust))
	s.mux.HandleFunc("POST /console/accounts/{id}/reconciliations", s.action(s.reconcile))
	s.mux.HandleFunc("GET /console/subscriptions", s.page(s.subscriptions))
	s.mux.HandleFunc("GET /console/reports/overdue", s.page(s.overdue))
	s.mux.HandleFunc("GET /console/reports/overdue.csv", s.page(s.overdueFile("csv")))
	s.mux.HandleFunc("GET /console/reports/overdue.xlsx", s.page(s.overdueFile("xlsx")))
	s.mux.HandleFunc("GET /console/sendings", s.page(s.sendings))
	s.mux.HandleFunc("POST /console/sendings", s.action(s.startSending))
	s.mux.HandleFunc("GET /console/sendings/{id}/progress", s.page(s.sendingProgress))
	s.mux.HandleFunc("/console/", s.page(func(w http.ResponseWriter, r *http.Request, v *view) {
		s.fail(w, r, v, http.StatusNotFound, v.T("error.not_found"))
	}))
}

// page serves a page to a signed-in user; without a session, 303 to the
// sign-in page (back here after it, for a GET).
func (s *Server) page(h func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.session(w, r)
		if !ok {
			s.toSignIn(w, r)
			return
		}
		h(w, r, s.newView(w, r, sess))
	}
}

// action serves a state-changing POST: a session is required (303 to
// sign-in otherwise) and the form's CSRF token must be the session's
// (403 otherwise, before anything is read or changed).
func (s *Server) action(h func(http.ResponseWriter, *http.Request, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		sess, ok := s.session(w, r)
		if !ok {
			s.toSignIn(w, r)
			return
		}
		v := s.newView(w, r, sess)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, v, http.StatusBadRequest, v.T("error.bad_form"))
			return
		}
		if !sess.validCSRF(r.PostForm.Get("csrf")) {
			s.log.Warn("console: POST without a valid CSRF token refused", "path", r.URL.Path, "by", sess.caller.Identity)
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
