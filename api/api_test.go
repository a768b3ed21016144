package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/api"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/openapitest"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/store"
)

const (
	appTok = "app-token-for-tests"
	finTok = "finance-token-for-tests"
	key    = "SB-Mid-server-FAKE_TEST_KEY_123"
)

type pinger struct{}

func (pinger) Ping(context.Context) error { return nil }

func newServer(t *testing.T, pool *store.DB) *httptest.Server {
	t.Helper()
	return newServerLogging(t, pool, lunastest.Logger())
}

// newServerLogging is newServer whose handlers log to log.
func newServerLogging(t *testing.T, pool *store.DB, log *slog.Logger) *httptest.Server {
	t.Helper()
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	orders := order.New(pool, clock.Wall{}, jkt, lunastest.Logger())
	svc := invoice.New(pool, orders, invoice.DefaultCatalog(), lunastest.Logger())
	pay := payment.New(payment.Options{Pool: pool, Orders: orders, Invoices: svc, Logger: lunastest.Logger(),
		Decoders: map[string]payment.Decoder{gateway.ProviderMidtrans: midtrans.DecodeCallback}})
	h := api.New(api.Options{Pool: pool, Accounts: account.New(pool, clock.Wall{}, lunastest.Logger()), Orders: orders, Invoices: svc, Payments: pay, Reviews: review.New(pool, orders, pay, lunastest.Logger()), Documents: proforma.NewDocuments(proforma.Options{Pool: pool, Clock: clock.Wall{}, Location: jkt}), Signer: proforma.NewSigner("k", clock.Wall{}),
		Tokens: map[string]string{appTok: "app", finTok: "finance"}, Location: jkt, Logger: log,
		Database: pinger{}, Redis: pinger{}, MidtransKey: key, OVOCallbackToken: "ovo-token", PublicURL: "http://lunas.test"})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	checked(t, srv)
	return srv
}

// checked makes every request through srv.Client() (which do uses) checked
// against the OpenAPI document: an undocumented field or status fails t.
func checked(t *testing.T, srv *httptest.Server) {
	srv.Client().Transport = openapitest.New(t).Transport(srv.Client().Transport)
}

type problem struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func do(t *testing.T, srv *httptest.Server, method, path, token string, body []byte, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

func fields(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var p problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("not a problem: %s", b)
	}
	out := map[string]string{}
	for _, e := range p.Errors {
		out[e.Field] = e.Message
	}
	return out
}

func TestOrderRequestsAreValidated(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	if code, _, _ := do(t, srv, "PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Acme"}`)); code != 201 {
		t.Fatalf("put account: %d", code)
	}
	good := `{"account_id":"acme","requester":{"name":"Sari","email":"sari@acme.example"},"items":[{"product":"wa_balance","quantity":999000},{"product":"muv","quantity":700}]}`
	big := `{"account_id":"acme","requester":{"name":"` + strings.Repeat("x", 2<<20) + `","email":"a@b.co"},"items":[]}`
	cases := []struct {
		name, token, body string
		status            int
		field             string
	}{
		{"unknown product", appTok, strings.Replace(good, `"muv"`, `"gold"`, 1), 400, "items[1].product"},
		{"quantity zero", appTok, strings.Replace(good, `700`, `0`, 1), 400, "items[1].quantity"},
		{"quantity negative", appTok, strings.Replace(good, `999000`, `-1`, 1), 400, "items[0].quantity"},
		{"quantity not a number", appTok, strings.Replace(good, `999000`, `"lots"`, 1), 400, "items.quantity"},
		{"bad email", appTok, strings.Replace(good, `sari@acme.example`, `sari@`, 1), 400, "requester.email"},
		{"unknown field", appTok, strings.Replace(good, `"account_id"`, `"colour":"red","account_id"`, 1), 400, "colour"},
		{"not JSON", appTok, `{"account_id":`, 400, "body"},
		{"2 MiB body", appTok, big, 413, ""},
		{"unknown account", appTok, strings.Replace(good, `"acme"`, `"nobody"`, 1), 404, ""},
		{"no token", "", good, 401, ""},
		{"wrong token", "nope", good, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, b, hdr := do(t, srv, "POST", "/v1/orders", tc.token, []byte(tc.body))
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, b)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			if tc.field != "" {
				if _, ok := fields(t, b)[tc.field]; !ok {
					t.Errorf("problem does not name %s: %s", tc.field, b)
				}
			}
		})
	}
	// Wrong role: finance-only routes refuse the app token.
	if code, _, _ := do(t, srv, "GET", "/v1/orders", appTok, nil); code != 403 {
		t.Errorf("app listing orders: %d, want 403", code)
	}
	if code, _, _ := do(t, srv, "POST", "/v1/accounts/acme/adjustments", appTok, []byte(`{}`)); code != 403 {
		t.Errorf("app adjusting: %d, want 403", code)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM orders`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d orders written by refused requests", n)
	}
	// Every bad field at once.
	code, b, _ := do(t, srv, "POST", "/v1/orders", appTok, []byte(`{"account_id":"acme","requester":{"name":"","email":"x"},"items":[{"product":"gold","quantity":0}]}`))
	f := fields(t, b)
	if code != 400 || len(f) != 4 {
		t.Errorf("%d %v, want 4 fields", code, f)
	}
	// The good one.
	code, b, _ = do(t, srv, "POST", "/v1/orders", appTok, []byte(good))
	var o struct {
		Subtotal, VAT, Total int64
		Items                []struct{ Adjustment *string }
	}
	_ = json.Unmarshal(b, &o)
	if code != 201 || o.Subtotal != 1_600_000 || o.VAT != 176_000 || o.Total != 1_776_000 || o.Items[0].Adjustment == nil || o.Items[1].Adjustment == nil {
		t.Errorf("create: %d %s", code, b)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	do(t, srv, "PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Acme"}`))
	body := []byte(`{"account_id":"acme","requester":{"name":"Sari","email":"sari@acme.example"},"items":[{"product":"wa_balance","quantity":1000000}]}`)
	c1, b1, _ := do(t, srv, "POST", "/v1/orders", appTok, body, "Idempotency-Key", "k1")
	c2, b2, h2 := do(t, srv, "POST", "/v1/orders", appTok, body, "Idempotency-Key", "k1")
	if c1 != 201 || c2 != 201 || !bytes.Equal(b1, b2) || h2.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %d equal=%v", c1, c2, bytes.Equal(b1, b2))
	}
	other := bytes.Replace(body, []byte("1000000"), []byte("2000000"), 1)
	if c, _, _ := do(t, srv, "POST", "/v1/orders", appTok, other, "Idempotency-Key", "k1"); c != 409 {
		t.Errorf("same key, other body: %d, want 409", c)
	}
	var n int
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM orders`).Scan(&n)
	if n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
}

func signed(orderID, status, gross string) []byte {
	sig := midtrans.Signature(orderID, status, gross, key)
	b, _ := json.Marshal(map[string]string{"order_id": orderID, "status_code": status, "gross_amount": gross, "signature_key": sig,
		"transaction_id": "tx-" + orderID, "transaction_status": "settlement", "fraud_status": "accept", "currency": "IDR"})
	return b
}

func TestMidtransWebhookAnswers(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	events := func() int {
		var n int
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM gateway_events`).Scan(&n)
		return n
	}
	bad := signed("pay_x", "200", "1110000.00")
	bad = bytes.Replace(bad, []byte(`"gross_amount":"1110000.00"`), []byte(`"gross_amount":"1.00"`), 1) // replayed with a changed amount
	cases := []struct {
		name   string
		body   []byte
		status int
		events int
	}{
		{"bad signature", bad, 401, 0},
		{"malformed JSON", []byte(`{"order_id":`), 400, 0},
		{"missing fields", []byte(`{"order_id":"x"}`), 400, 0},
		{"2 MiB", append([]byte(`{"order_id":"`), bytes.Repeat([]byte("x"), 2<<20)...), 413, 0},
		{"unknown order", signed("pay_unknown", "200", "1110000.00"), 200, 1},
		{"duplicate", signed("pay_unknown", "200", "1110000.00"), 200, 1},
	}
	for _, tc := range cases {
		code, b, _ := do(t, srv, "POST", "/webhooks/midtrans", "", tc.body)
		if code != tc.status || events() != tc.events {
			t.Errorf("%s: %d (%s), %d events; want %d, %d", tc.name, code, b, events(), tc.status, tc.events)
		}
	}
	var outbox int
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE task_type = 'payment:apply'`).Scan(&outbox)
	if outbox != 1 {
		t.Errorf("%d apply jobs, want 1 (the duplicate enqueues nothing)", outbox)
	}
	// OVO: a wrong or missing token records nothing.
	for _, tok := range []string{"", "wrong"} {
		code, _, _ := do(t, srv, "POST", "/webhooks/ovo", "", []byte(`{"event":"ewallet.capture","data":{"id":"ewc_1","reference_id":"pay_1","status":"SUCCEEDED"}}`), "x-callback-token", tok)
		if code != 401 || events() != 1 {
			t.Errorf("ovo token %q: %d", tok, code)
		}
	}
}

func TestWebhookAnswers503WhenTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	// A pool aimed at a port where nothing listens: every query is refused.
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+lunastest.FreeAddr(t)+"/lunas?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	srv := newServer(t, &store.DB{Pool: pool})
	code, b, _ := do(t, srv, "POST", "/webhooks/midtrans", "", signed("pay_1", "200", "10.00"))
	if code != 503 {
		t.Errorf("database down: %d %s, want 503 so the gateway retries", code, b)
	}
	if strings.Contains(string(b), "dial") || strings.Contains(string(b), "127.0.0.1") {
		t.Errorf("problem leaks internals: %s", b)
	}
}

func TestTestClockIsOffOutsideTestEnv(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	if code, _, _ := do(t, srv, "PUT", "/v1/test/clock", finTok, []byte(`{"now":"2026-11-22T10:00:00+07:00"}`)); code != 404 {
		t.Errorf("test clock outside test env: %d, want 404", code)
	}
}

// Tokens and keys never appear in logs or problem bodies, whatever the request.
func TestSecretsStayOutOfLogsAndProblems(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	var logs lunastest.SyncBuffer
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	orders := order.New(pool, clock.Wall{}, jkt, log)
	svc := invoice.New(pool, orders, invoice.DefaultCatalog(), log)
	pay := payment.New(payment.Options{Pool: pool, Orders: orders, Invoices: svc, Logger: log})
	h := api.New(api.Options{Pool: pool, Accounts: account.New(pool, clock.Wall{}, lunastest.Logger()), Orders: orders, Invoices: svc, Payments: pay, Reviews: review.New(pool, orders, pay, lunastest.Logger()), Documents: proforma.NewDocuments(proforma.Options{Pool: pool, Clock: clock.Wall{}, Location: jkt}), Signer: proforma.NewSigner("k", clock.Wall{}),
		Tokens: map[string]string{appTok: "app", finTok: "finance"}, Location: jkt, Logger: log,
		Database: pinger{}, Redis: pinger{}, MidtransKey: key, OVOCallbackToken: "ovo-token-SECRET", PublicURL: "http://lunas.test"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	checked(t, srv)
	var bodies []byte
	for _, r := range []struct {
		method, path, token string
		body                []byte
		hdr                 []string
	}{
		{"GET", "/v1/orders/nope", "guess-SECRET-token", nil, nil},
		{"GET", "/v1/orders/nope", appTok, nil, nil},
		{"GET", "/v1/orders", appTok, nil, nil},
		{"POST", "/v1/orders", finTok, []byte(`{"account_id":"x"}`), nil},
		{"POST", "/webhooks/midtrans", "", signed("pay_1", "200", "5.00"), nil},
		{"POST", "/webhooks/midtrans", "", bytes.Replace(signed("pay_1", "200", "5.00"), []byte("5.00"), []byte("6.00"), 1), nil},
		{"POST", "/webhooks/ovo", "", []byte(`{}`), []string{"x-callback-token", "wrong-SECRET"}},
	} {
		_, b, _ := do(t, srv, r.method, r.path, r.token, r.body, r.hdr...)
		bodies = append(bodies, b...)
	}
	for _, secret := range []string{appTok, finTok, key, "ovo-token-SECRET", "guess-SECRET-token", "wrong-SECRET"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs contain %q", secret)
		}
		if bytes.Contains(bodies, []byte(secret)) {
			t.Errorf("problem bodies contain %q", secret)
		}
	}
	if bytes.Contains(bodies, []byte("SELECT")) || bytes.Contains(bodies, []byte("goroutine")) {
		t.Errorf("problem bodies leak SQL or stacks: %s", bodies)
	}
}

// A signed notification whose body is not UTF-8 is kept as it was signed,
// and still listed as valid UTF-8 JSON.
func TestGatewayEventsListIsUTF8(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	sig := midtrans.Signature("ord-x", "200", "1000.00", key)
	body := []byte(`{"order_id":"ord-x","status_code":"200","gross_amount":"1000.00","signature_key":"` + sig +
		`","transaction_id":"tx-x","transaction_status":"settlement","fraud_status":"accept","currency":"IDR","status_message":"ok ` + "\xff\xfe\xc3" + `"}`)
	if c, b, _ := do(t, srv, "POST", "/webhooks/midtrans", "", body); c != 200 {
		t.Fatalf("webhook: %d %s", c, b)
	}
	if _, err := pool.Exec(context.Background(), `UPDATE gateway_events SET flag = 'unmatched', processed_at = now()`); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := pool.QueryRow(context.Background(), `SELECT payload FROM gateway_events`).Scan(&stored); err != nil || !bytes.Equal(stored, body) {
		t.Errorf("the inbox does not keep the body as signed (err %v)", err)
	}
	c, b, _ := do(t, srv, "GET", "/v1/gateway-events?flag=unmatched", finTok, nil)
	if c != 200 || !utf8.Valid(b) || !json.Valid(b) {
		t.Fatalf("list: %d, valid UTF-8 %v, valid JSON %v: %q", c, utf8.Valid(b), json.Valid(b), b)
	}
	var out struct {
		Data []struct {
			Payload map[string]string `json:"payload"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Data) != 1 || out.Data[0].Payload["status_message"] != "ok \uFFFD" {
		t.Errorf("listed %s (%v)", b, err)
	}
}

// A request that crashed while holding an Idempotency-Key leaves it "in
// progress" only until its lease ends; then the same request takes it over.
func TestIdempotencyKeyOfACrashedRequestIsReleased(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	do(t, srv, "PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Acme"}`))
	body := []byte(`{"account_id":"acme","requester":{"name":"Sari","email":"sari@acme.example"},"items":[{"product":"wa_balance","quantity":1000000}]}`)
	tok := sha256.Sum256([]byte(appTok))
	ident := "app:" + hex.EncodeToString(tok[:4])
	sum := sha256.Sum256(append([]byte("POST /v1/orders\n"), body...))
	hash := hex.EncodeToString(sum[:])
	// k-live: a request is running (its lease is on); k-dead: its process
	// died a while ago (the lease ran out); k-old: in progress from before
	// leases existed.
	for _, row := range []struct {
		key   string
		lease any
	}{{"k-live", time.Now().Add(time.Minute)}, {"k-dead", time.Now().Add(-time.Second)}, {"k-old", nil}} {
		if _, err := pool.Exec(context.Background(), `INSERT INTO idempotency_keys (identity, key, request_hash, lease_until) VALUES ($1,$2,$3,$4)`,
			ident, row.key, hash, row.lease); err != nil {
			t.Fatal(err)
		}
	}
	if c, _, h := do(t, srv, "POST", "/v1/orders", appTok, body, "Idempotency-Key", "k-live"); c != 409 || h.Get("Retry-After") == "" {
		t.Errorf("key held by a running request: %d (Retry-After %q), want 409 with Retry-After", c, h.Get("Retry-After"))
	}
	for _, k := range []string{"k-dead", "k-old"} {
		c1, b1, _ := do(t, srv, "POST", "/v1/orders", appTok, body, "Idempotency-Key", k)
		c2, b2, h2 := do(t, srv, "POST", "/v1/orders", appTok, body, "Idempotency-Key", k)
		if c1 != 201 || c2 != 201 || !bytes.Equal(b1, b2) || h2.Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s: %d then %d (replayed %q): want the key taken over, then replayed", k, c1, c2, h2.Get("Idempotent-Replayed"))
		}
	}
	other := bytes.Replace(body, []byte("1000000"), []byte("2000000"), 1)
	if _, err := pool.Exec(context.Background(), `INSERT INTO idempotency_keys (identity, key, request_hash) VALUES ($1,'k-other',$2)`, ident, hash); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := do(t, srv, "POST", "/v1/orders", appTok, other, "Idempotency-Key", "k-other"); c != 409 {
		t.Errorf("a crashed key with another body: %d, want 409", c)
	}
}
