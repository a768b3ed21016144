// Package api is lunas's HTTP surface: the REST API for accounts and orders,
// the gateway webhooks, health, readiness, metrics and the test clock, as
// shared/API.md fixes them.
//
// Handlers are thin: decode → validate → one call into invoice or proforma →
// encode. Errors become RFC 9457 problems in one place (problem.go).
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/proforma"
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
	Orders           *invoice.Service
	Documents        *proforma.Documents
	Signer           proforma.Signer
	Tokens           map[string]string // token → role
	Location         *time.Location
	Logger           *slog.Logger
	Registry         *prometheus.Registry
	Database, Redis  Pinger
	TestClock        TestClock // nil outside LUNAS_ENV=test
	MidtransKey      string
	OVOCallbackToken string
	PublicURL        string
}

// Server serves the API.
type Server struct {
	Options
	log     *slog.Logger
	tokens  []tokenEntry
	metrics *metrics
	mux     *http.ServeMux
}

type tokenEntry struct {
	hash     [32]byte
	role     string
	identity string
}

// New returns a Server with its routes.
func New(o Options) *Server {
	s := &Server{Options: o, log: o.Logger, mux: http.NewServeMux(), metrics: newMetrics(o.Registry)}
	for tok, role := range o.Tokens {
		h := sha256.Sum256([]byte(tok))
		s.tokens = append(s.tokens, tokenEntry{hash: h, role: role, identity: role + ":" + hex.EncodeToString(h[:4])})
	}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

const (
	roleApp     = "app"
	roleFinance = "finance"
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
	s.handle("POST /v1/orders/{id}/payments", app, s.idempotent(s.createPayment))
	s.handle("POST /v1/orders/{id}/proof", app, s.uploadProof)
	// Finance staff.
	s.handle("POST /v1/accounts/{account_id}/adjustments", fin, s.idempotent(s.adjust))
	s.handle("GET /v1/orders", fin, s.listOrders)
	s.handle("GET /v1/orders/{id}/proof", fin, s.getProof)
	s.handle("POST /v1/orders/{id}/review", fin, s.review)
	s.handle("GET /v1/gateway-events", fin, s.listEvents)
	// Bearer token (app) or a signed link from a mail.
	s.mux.HandleFunc("GET /v1/orders/{id}/proforma.pdf", s.proformaPDF)
	// Gateways: no bearer token; authenticity is checked per provider.
	s.mux.HandleFunc("POST /webhooks/midtrans", s.webhookMidtrans)
	s.mux.HandleFunc("POST /webhooks/ovo", s.webhookOVO)
	// Operations.
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if s.Registry != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	}
	// Test clock: registered only with LUNAS_ENV=test, so 404 elsewhere.
	if s.TestClock != nil {
		s.handle("GET /v1/test/clock", app, s.getClock)
		s.handle("PUT /v1/test/clock", fin, s.putClock)
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

// handle registers an authenticated route open to roles.
func (s *Server) handle(pattern string, roles []string, h http.HandlerFunc) {
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
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

// authenticate compares the bearer token's hash with every known token's
// hash in constant time, so timing reveals nothing about any token.
func (s *Server) authenticate(r *http.Request) (caller, bool) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return caller{}, false
	}
	h := sha256.Sum256([]byte(tok))
	var found caller
	matched := 0
	for _, t := range s.tokens {
		if subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1 {
			found, matched = caller{role: t.role, identity: t.identity}, 1
		}
	}
	return found, matched == 1
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
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]string{"now": s.TestClock.Now().In(s.Location).Format(time.RFC3339)})
}
