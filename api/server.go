// Package api is lunas's HTTP surface: the REST API for accounts and orders,
// the gateway webhooks, the customer's pay page (/pay/{token}, its HTML and
// JSON routes; paypage.go), health, readiness, metrics and the test clock,
// as shared/API.md fixes them.
//
// Handlers are thin: decode → validate → one call into a domain package
// (account, order, invoice, payment, review, usage, …) → encode. Errors
// become RFC 9457 problems in one place (problem.go). api owns one table,
// idempotency_keys (idempotency.go).
package api

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/manual"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/paylink"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/report"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/sending"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/subscription"
	"github.com/lunas-id/lunas/taxbook"
	"github.com/lunas-id/lunas/token"
	"github.com/lunas-id/lunas/usage"
	"github.com/lunas-id/lunas/webhook"
)

// Pinger reports whether a dependency answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// TestClock is the settable service clock (LUNAS_ENV=test only).
type TestClock interface {
	Now() time.Time
	Set(ctx context.Context, now time.Time) error
}

// Options configures a Server.
type Options struct {
	Pool      *store.DB // the Idempotency-Key records
	Accounts  *account.Service
	Orders    *order.Service
	Invoices  *invoice.Service
	Payments  *payment.Service
	Reviews   *review.Service
	Documents *proforma.Documents
	Signer    proforma.Signer
	Tokens    map[string]string // token → role
	Location  *time.Location
	Logger    *slog.Logger
	Registry  *prometheus.Registry
	// PublicMetrics serves GET /metrics (Registry) on this handler, the
	// public listener: only outside production and without
	// LUNAS_METRICS_ADDR (cmd/lunas decides); otherwise an operator listener
	// of its own serves it (MetricsHandler).
	PublicMetrics    bool
	Database, Redis  Pinger
	TestClock        TestClock // nil outside LUNAS_ENV=test
	MidtransKey      string
	OVOCallbackToken string
	PublicURL        string
	// WAAppSecret checks X-Hub-Signature-256 of /webhooks/whatsapp and
	// WAVerifyToken answers Meta's handshake ("" secret: the route is 404).
	WAAppSecret, WAVerifyToken string
	// PayLinks signs the pay page and QR links (pay_url, qr_url); unset:
	// unsigned links under PublicURL that no token check accepts.
	PayLinks paylink.Links
	// SellerName heads the pay page (LUNAS_SELLER_NAME).
	SellerName string
	// Card on the pay page: Midtrans's card-tokenizing script (its URL, the
	// client key it runs with, sandbox or production). No script: the page
	// offers no card (the API still takes a card_token).
	CardScript, CardClientKey, CardEnv string
	Usage                              *usage.Service   // usage billing; nil: its routes answer 404
	Webhooks                           *webhook.Service // events to the app; nil: its routes answer 404
	Console                            http.Handler     // the finance console, served under /console/; nil: not mounted
	// Four eyes and the audit log (issue 26); nil: adjustments move money
	// at once and /v1/approvals, /v1/audit-log answer 404.
	Manual *manual.Service
	Audit  *people.AuditLog
	// DBDeadline bounds the database work of a request (default 2 s);
	// GatewayTimeout is what a gateway call may add (default 20 s).
	DBDeadline, GatewayTimeout time.Duration
	// Liveness says when PostgreSQL last answered (store.LivenessOf): a
	// request past its deadline while the server answers others waits on
	// (deadline.go). nil: the deadline is a plain timeout.
	Liveness interface{ LastAnswer() time.Time }
	// Recurring billing; nil: their routes answer 404.
	Subscriptions *subscription.Service
	Reports       *report.Service
	Sendings      *sending.Service
	// Tax paperwork (issue 25); nil: its routes answer 404.
	Tax *taxbook.Service
}

// Server serves the API.
type Server struct {
	Options
	log     *slog.Logger
	tokens  *token.Set
	metrics *metrics
	mux     *routeMux
	refused *limiter // log lines for refused webhook signatures and malformed bodies
	pay     *payPage // the pay page's templates and rate limits
}

// New returns a Server with its routes.
func New(o Options) *Server {
	if o.PayLinks.IsZero() {
		o.PayLinks = paylink.New("", o.PublicURL)
	}
	s := &Server{Options: o, log: o.Logger, mux: newRouteMux(), metrics: newMetrics(o.Registry), refused: newLimiter(10 * time.Second),
		tokens: token.NewSet(o.Tokens)}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler. Every API answer holds data of
// someone's (orders, names, balances), so none is cached and none is
// content-sniffed; a handler may relax caching (the OpenAPI document). The
// console sets its own headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/console/") {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
	}
	// A path or query parameter reaches SQL as a parameter: one that is
	// not text PostgreSQL stores (a NUL, bytes that are not UTF-8) is
	// refused here, for every route and the console, naming where it was.
	// No id holds such bytes, so a path with them names nothing: 404.
	if p := r.URL.Path; strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
		writeProblem(w, http.StatusNotFound, "no resource: the path "+textMessage, nil)
		return
	}
	if fields := urlTextErrors(r); fields != nil {
		writeProblem(w, http.StatusBadRequest, "the request has invalid fields", fields)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func urlTextErrors(r *http.Request) []lunas.FieldError {
	bad := func(v string) bool { return strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) }
	var fe []lunas.FieldError
	q := r.URL.Query()
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if bad(k) {
			fe = append(fe, lunas.FieldError{Field: "query", Message: textMessage})
			continue
		}
		if slices.ContainsFunc(q[k], bad) {
			fe = append(fe, lunas.FieldError{Field: k, Message: textMessage})
		}
	}
	return fe
}

// MetricsHandler serves reg's metrics for Prometheus, on the operator
// listener (LUNAS_METRICS_ADDR) or, outside production, the public one.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

const (
	roleApp     = token.RoleApp
	roleFinance = token.RoleFinance
)

// routes registers every route; who calls each is said beside it.
func (s *Server) routes() {
	app, fin := []string{roleApp, roleFinance}, []string{roleFinance}
	// The customer-facing application, on behalf of its users.
	s.handle("PUT /v1/accounts/{account_id}", app, s.putAccount)
	s.handle("GET /v1/accounts/{account_id}", app, s.getAccount)
	s.handle("GET /v1/accounts/{account_id}/ledger", app, s.getLedger)
	s.handle("POST /v1/orders", app, s.idempotent(s.createOrder))
	s.handle("GET /v1/orders/{id}", app, s.getOrder)
	s.handle("PATCH /v1/orders/{id}", app, s.patchOrder)
	s.handle("POST /v1/orders/{id}/confirm", app, s.confirmOrder)
	s.handle("POST /v1/orders/{id}/cancel", app, s.cancelOrder)
	s.handleWithin("POST /v1/orders/{id}/payments", app, s.gatewayDeadline(), s.idempotent(s.createPayment))
	s.handleWithin("POST /v1/orders/{id}/proof", app, 0, s.uploadProof) // its deadline starts after the upload
	if s.Usage != nil {
		s.handle("POST /v1/accounts/{account_id}/usage", app, s.postUsage)
		s.handle("GET /v1/accounts/{account_id}/usage", app, s.getUsage)
		s.handle("POST /v1/accounts/{account_id}/reconciliations", fin, s.reconcile)
	}
	if s.Subscriptions != nil {
		s.handle("POST /v1/subscriptions", app, s.idempotent(s.createSubscription))
		s.handle("GET /v1/subscriptions/{id}", app, s.getSubscription)
		s.handle("PATCH /v1/subscriptions/{id}", app, s.patchSubscription)
		s.handle("PUT /v1/plans/{plan_id}", fin, s.putPlan)
		s.handle("GET /v1/subscriptions", fin, s.listSubscriptions)
		s.handle("POST /v1/subscriptions/due-day", fin, s.moveDueDay)
	}
	if s.Reports != nil {
		s.handle("GET /v1/reports/overdue", fin, s.overdueReport)
		s.handle("GET /v1/reports/overdue.xlsx", fin, s.overdueXLSX)
	}
	if s.Sendings != nil {
		s.handle("POST /v1/sendings", fin, s.idempotent(s.createSending))
		s.handle("GET /v1/sendings/{id}", fin, s.getSending)
	}
	// Finance staff.
	s.handle("POST /v1/accounts/{account_id}/adjustments", fin, s.idempotent(s.adjust))
	s.handle("GET /v1/orders", fin, s.listOrders)
	s.handle("GET /v1/orders.xlsx", fin, s.exportOrdersXLSX)
	s.handle("GET /v1/orders/{id}/proof", fin, s.getProof)
	s.handle("POST /v1/orders/{id}/review", fin, s.review)
	s.handle("GET /v1/gateway-events", fin, s.listEvents)
	s.handle("POST /v1/gateway-events/{id}/resolve", fin, s.resolveEvent)
	if s.Webhooks != nil {
		s.handle("POST /v1/webhook-endpoints", fin, s.idempotent(s.createWebhookEndpoint))
		s.handle("GET /v1/webhook-endpoints", fin, s.listWebhookEndpoints)
		s.handle("DELETE /v1/webhook-endpoints/{id}", fin, s.deleteWebhookEndpoint)
		s.handle("GET /v1/webhook-endpoints/{id}/deliveries", fin, s.listWebhookDeliveries)
		s.handle("POST /v1/webhook-deliveries/{id}/retry", fin, s.retryWebhookDelivery)
	}
	if s.Tax != nil { // issue 25: PPh 23 slips, Coretax e-Faktur
		s.handle("POST /v1/orders/{id}/withholding-slip", app, s.postWithholdingSlip)
		s.handle("GET /v1/orders/{id}/withholding-slip", fin, s.getWithholdingSlip)
		s.handle("PUT /v1/orders/{id}/tax-invoice", fin, s.putTaxInvoice)
		s.handle("GET /v1/reports/withholding", fin, s.withholdingReport)
		s.handle("GET /v1/tax/efaktur.xml", fin, s.efaktur)
	}
	// Bearer token (app) or a signed link from a mail.
	s.mux.HandleFunc("GET /v1/orders/{id}/proforma.pdf", s.withDeadline(s.dbDeadline(), s.proformaPDF))
	// Gateways: no bearer token; authenticity is checked per provider.
	s.mux.HandleFunc("POST /webhooks/midtrans", s.withDeadline(s.dbDeadline(), s.webhookMidtrans))
	s.mux.HandleFunc("POST /webhooks/ovo", s.withDeadline(s.dbDeadline(), s.webhookOVO))
	// WhatsApp billing by message (API.md "Billing by message"): rate
	// cards for finance, Meta's status webhooks (signed, no bearer token).
	if s.Usage != nil {
		s.handle("PUT /v1/wa-rate-cards/{card_id}", fin, s.putRateCard)
		s.handle("GET /v1/wa-rate-cards", fin, s.listRateCards)
		s.handle("GET /v1/wa-statuses", fin, s.listFlaggedStatuses)
		if s.WAAppSecret != "" {
			s.mux.HandleFunc("POST /webhooks/whatsapp", s.withDeadline(s.dbDeadline(), s.webhookWhatsApp))
			s.mux.HandleFunc("GET /webhooks/whatsapp", s.whatsappHandshake)
		}
	}
	// The pay page: the signed token in its path is its only credential
	// (paypage.go).
	s.payRoutes()
	// Operations.
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /openapi.json", s.openAPI())
	if s.Registry != nil && s.PublicMetrics {
		s.mux.Handle("GET /metrics", MetricsHandler(s.Registry))
	}
	// Finance as named people: approvals and the audit log (read-only here).
	if s.Manual != nil {
		s.handle("GET /v1/approvals", fin, s.listApprovals)
	}
	if s.Audit != nil {
		s.handle("GET /v1/audit-log", fin, s.listAuditLog)
	}
	// Test clock: registered only with LUNAS_ENV=test, so 404 elsewhere.
	if s.TestClock != nil {
		s.handle("GET /v1/test/clock", app, s.getClock)
		s.handle("PUT /v1/test/clock", fin, s.putClock)
	}
	// Finance staff in a browser: its own sessions, CSRF and pages.
	if s.Console != nil {
		s.mux.Handle("/console/", s.Console)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path, nil)
	})
}

type ctxKey struct{}

// caller is who made a request.
type caller struct {
	role, identity string
}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(ctxKey{}).(caller)
	return c
}

// handle registers an authenticated route open to roles, with the database
// deadline.
func (s *Server) handle(pattern string, roles []string, h http.HandlerFunc) {
	s.handleWithin(pattern, roles, s.dbDeadline(), h)
}

// handleWithin registers an authenticated route whose context ends after d
// (0: the handler sets its own deadline).
func (s *Server) handleWithin(pattern string, roles []string, d time.Duration, h http.HandlerFunc) {
	if d > 0 {
		h = s.withDeadline(d, h)
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lunas"`)
			writeProblem(w, http.StatusUnauthorized, "a valid bearer token is required", nil)
			return
		}
		allowed := false
		for _, role := range roles {
			allowed = allowed || c.role == role
		}
		if !allowed {
			writeProblem(w, http.StatusForbidden, "role "+c.role+" may not do this", nil)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, c))
		if !s.auditsAfter(pattern, r, c) {
			h(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		s.auditCall(r, pattern, sw)
	})
}

// authenticate finds the bearer token's role (token.Set compares hashes in
// constant time).
func (s *Server) authenticate(r *http.Request) (caller, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return caller{}, false
	}
	c, ok := s.tokens.Lookup(tok)
	return caller{role: c.Role, identity: c.Identity}, ok
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{"postgres": "ok", "redis": "ok"}
	code := http.StatusOK
	if err := s.Database.Ping(ctx); err != nil {
		status["postgres"], code = "unreachable", http.StatusServiceUnavailable
	}
	if err := s.Redis.Ping(ctx); err != nil {
		status["redis"], code = "unreachable", http.StatusServiceUnavailable
	}
	if code != http.StatusOK {
		failed := []string{}
		for _, k := range []string{"postgres", "redis"} {
			if status[k] != "ok" {
				failed = append(failed, k)
			}
		}
		writeProblem(w, code, strings.Join(failed, " and ")+" not reachable", nil)
		return
	}
	writeJSON(w, code, status)
}

func (s *Server) getClock(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]string{"now": s.TestClock.Now().In(s.Location).Format(time.RFC3339)})
}

func (s *Server) putClock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Now string `json:"now"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := time.Parse(time.RFC3339, in.Now)
	if err != nil {
		writeProblem(w, 400, "the request has invalid fields", fieldErr("now", "must be an RFC 3339 time with offset"))
		return
	}
	if err := s.TestClock.Set(r.Context(), t); err != nil {
		if errors.Is(err, clock.ErrOutOfRange) {
			writeProblem(w, 400, "the request has invalid fields", fieldErr("now", "must be within 200 years of today: the test clock cannot represent it"))
			return
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]string{"now": s.TestClock.Now().In(s.Location).Format(time.RFC3339)})
}
