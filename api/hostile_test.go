package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lunas-id/lunas/api"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/internal/lunastest"
)

// deepSigned is a genuinely signed Midtrans notification carrying an extra
// field nested levels deep: Midtrans signs only order_id, status_code and
// gross_amount, so anyone who saw one notification can send this.
func deepSigned(orderID string, levels int) []byte {
	sig := midtrans.Signature(orderID, "200", "1000.00", key)
	return []byte(`{"order_id":"` + orderID + `","status_code":"200","gross_amount":"1000.00","signature_key":"` + sig +
		`","transaction_id":"tx-` + orderID + `","transaction_status":"settlement","fraud_status":"accept","currency":"IDR","extra":` +
		strings.Repeat(`{"a":`, levels) + `1` + strings.Repeat(`}`, levels) + `}`)
}

// nesting is how deeply a JSON text nests.
func nesting(b []byte) int {
	d, most, in := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == '{' || c == '['):
			d++
			most = max(most, d)
		case !in && (c == '}' || c == ']'):
			d--
		}
	}
	return most
}

// A signed body with a field nested 9,990 levels deep is kept byte for
// byte, but GET /v1/gateway-events shows a bounded view of it: small,
// shallow JSON any client parses, with the signed fields still there.
func TestGatewayEventsOfADeepBodyAreBounded(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	body := deepSigned("ord-deep", 9990)
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
	start := time.Now()
	c, b, _ := do(t, srv, "GET", "/v1/gateway-events?flag=unmatched", finTok, nil)
	took := time.Since(start)
	if c != 200 || !json.Valid(b) {
		t.Fatalf("list: %d, valid JSON %v", c, json.Valid(b))
	}
	if len(b) > 8<<10 || nesting(b) > 20 || took > 2*time.Second {
		t.Errorf("list of one 20 KB event: %d bytes, nested %d deep, in %v", len(b), nesting(b), took)
	}
	var out struct {
		Data []struct {
			Payload map[string]any `json:"payload"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Data) != 1 || out.Data[0].Payload["order_id"] != "ord-deep" {
		t.Errorf("listed %.500s (%v)", b, err)
	}
}

// A NUL, or bytes that are not UTF-8, in any text field is a 400 naming
// the field (PostgreSQL refuses U+0000 in text: it was a 500), and nothing
// is stored.
func TestTextFieldsRefuseNUL(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	if c, b, _ := do(t, srv, "PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Acme"}`)); c != 201 && c != 200 {
		t.Fatalf("account: %d %s", c, b)
	}
	if c, b, _ := do(t, srv, "POST", "/webhooks/midtrans", "", signed("pay_nul", "200", "10.00")); c != 200 {
		t.Fatalf("webhook: %d %s", c, b)
	}
	var ev int64
	if err := pool.QueryRow(context.Background(), `UPDATE gateway_events SET flag = 'unmatched', processed_at = now() RETURNING id`).Scan(&ev); err != nil {
		t.Fatal(err)
	}
	order := func(name string) []byte {
		return []byte(`{"account_id":"acme","requester":{"name":"` + name + `","email":"sari@acme.example"},"items":[{"product":"wa_balance","quantity":1000000}]}`)
	}
	for _, tc := range []struct {
		method, path, token string
		body                []byte
		fields              []string
	}{
		{"PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Ac\u0000me"}`), []string{"name"}},
		{"PUT", "/v1/accounts/acme", appTok, []byte("{\"name\":\"Ac\xffme\"}"), []string{"name"}},
		{"POST", "/v1/orders", appTok, order(`Sari\u0000`), []string{"requester.name"}},
		{"POST", "/v1/orders", appTok, order("Sari \xc3\x28"), []string{"requester.name"}},
		{"POST", "/v1/gateway-events/" + strconv.FormatInt(ev, 10) + "/resolve", finTok, []byte(`{"note":"ok\u0000"}`), []string{"note"}},
	} {
		c, b, _ := do(t, srv, tc.method, tc.path, tc.token, tc.body)
		if c != 400 {
			t.Errorf("%s %s %q: %d %s, want 400", tc.method, tc.path, tc.body, c, b)
			continue
		}
		var p problem
		_ = json.Unmarshal(b, &p)
		var got []string
		for _, f := range p.Errors {
			got = append(got, f.Field)
		}
		if !slices.Equal(got, tc.fields) {
			t.Errorf("%s %s %q: fields %v, want %v", tc.method, tc.path, tc.body, got, tc.fields)
		}
	}
	var names, orders, resolved int
	_ = pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM accounts WHERE name <> 'Acme'), (SELECT count(*) FROM orders),
		(SELECT count(*) FROM gateway_events WHERE resolved_at IS NOT NULL)`).Scan(&names, &orders, &resolved)
	if names+orders+resolved != 0 {
		t.Errorf("stored: %d renamed accounts, %d orders, %d resolved events", names, orders, resolved)
	}
}

// A malformed notification is answered with a plain problem naming the
// field (no Go type, no decoder's words), and a flood of them writes a
// log line now and then, not one each.
func TestMalformedWebhooksNameTheFieldAndLogRarely(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	var logs lunastest.SyncBuffer
	srv := newServerLogging(t, pool, slog.New(slog.NewJSONHandler(&logs, nil)))
	for _, tc := range []struct {
		path, token string
		body        string
		fields      []string
	}{
		{"/webhooks/midtrans", "", `{"order_id":1,"status_code":"200"}`, []string{"order_id"}},
		{"/webhooks/midtrans", "", `{"order_id":"x","status_code":"200"}`, []string{"gross_amount", "signature_key"}},
		{"/webhooks/midtrans", "", `[1,2]`, []string{"body"}},
		{"/webhooks/midtrans", "", `{"order_id":`, []string{"body"}},
		{"/webhooks/ovo", "ovo-token", `{"event":"ewallet.capture","data":{"id":5}}`, []string{"data.id"}},
		{"/webhooks/ovo", "ovo-token", `{"event":"ewallet.capture","data":{"id":"ewc_1"}}`, []string{"data.reference_id", "data.status"}},
		{"/webhooks/ovo", "ovo-token", `{"event":["x"]}`, []string{"event"}},
	} {
		c, b, _ := do(t, srv, "POST", tc.path, "", []byte(tc.body), "x-callback-token", tc.token)
		var p problem
		_ = json.Unmarshal(b, &p)
		var got []string
		for _, f := range p.Errors {
			got = append(got, f.Field)
		}
		if c != 400 || !slices.Equal(got, tc.fields) {
			t.Errorf("%s %s: %d %s; want 400 naming %v", tc.path, tc.body, c, b, tc.fields)
		}
		for _, internal := range []string{"json:", "Go ", "struct", "Notification", "Callback", "unmarshal", "gateway:"} {
			if bytes.Contains(b, []byte(internal)) {
				t.Errorf("%s %s: the answer shows %q: %s", tc.path, tc.body, internal, b)
			}
		}
	}
	for range 600 {
		if c, _, _ := do(t, srv, "POST", "/webhooks/midtrans", "", []byte(`{"order_id":1}`)); c != 400 {
			t.Fatalf("malformed: %d", c)
		}
	}
	if n := strings.Count(logs.String(), `"webhook malformed"`); n > 4 {
		t.Errorf("%d log lines for 607 malformed bodies", n)
	}
}

// A request refused by validation (400) does not use up its
// Idempotency-Key: the corrected body under the same key succeeds, and is
// then replayed as usual.
func TestIdempotencyKeyOfARefusedRequestIsFree(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	do(t, srv, "PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Acme"}`))
	bad := []byte(`{"account_id":"acme","requester":{"name":"Sari","email":"not-an-email"},"items":[{"product":"wa_balance","quantity":1000000}]}`)
	good := []byte(`{"account_id":"acme","requester":{"name":"Sari","email":"sari@acme.example"},"items":[{"product":"wa_balance","quantity":1000000}]}`)
	if c, b, _ := do(t, srv, "POST", "/v1/orders", appTok, bad, "Idempotency-Key", "k-fix"); c != 400 {
		t.Fatalf("bad body: %d %s", c, b)
	}
	c1, b1, _ := do(t, srv, "POST", "/v1/orders", appTok, good, "Idempotency-Key", "k-fix")
	c2, b2, h2 := do(t, srv, "POST", "/v1/orders", appTok, good, "Idempotency-Key", "k-fix")
	if c1 != 201 || c2 != 201 || !bytes.Equal(b1, b2) || h2.Get("Idempotent-Replayed") != "true" {
		t.Errorf("corrected body under the same key: %d %s; replay %d", c1, b1, c2)
	}
	if c, _, _ := do(t, srv, "POST", "/v1/orders", appTok, bad, "Idempotency-Key", "k-fix"); c != 409 {
		t.Errorf("the refused body again, after the key holds an order: %d, want 409", c)
	}
}

// Every API answer — JSON, problems, webhooks' answers — is neither
// cached nor content-sniffed: they hold names, emails and balances.
func TestAPIAnswersAreNotCachedNorSniffed(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	for _, r := range []struct {
		method, path, token string
		body                []byte
	}{
		{"PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Acme"}`)},
		{"GET", "/v1/accounts/acme", appTok, nil},
		{"GET", "/v1/accounts/nope", appTok, nil},
		{"GET", "/v1/gateway-events", finTok, nil},
		{"POST", "/webhooks/midtrans", "", signed("pay_h", "200", "10.00")},
		{"GET", "/healthz", "", nil},
	} {
		c, _, h := do(t, srv, r.method, r.path, r.token, r.body)
		if h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s (%d): Cache-Control %q, X-Content-Type-Options %q", r.method, r.path, c, h.Get("Cache-Control"), h.Get("X-Content-Type-Options"))
		}
	}
}

// /metrics is on the public handler only when asked for (outside
// production, without LUNAS_METRICS_ADDR: cmd/lunas decides).
func TestMetricsOnThePublicHandlerOnlyWhenAsked(t *testing.T) {
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	for _, public := range []bool{false, true} {
		h := api.New(api.Options{Location: jkt, Logger: lunastest.Logger(), Registry: prometheus.NewRegistry(), PublicMetrics: public,
			Database: pinger{}, Redis: pinger{}})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if want := map[bool]int{false: 404, true: 200}[public]; rec.Code != want {
			t.Errorf("PublicMetrics %v: /metrics %d, want %d", public, rec.Code, want)
		}
	}
}

// A NUL or bytes that are not UTF-8 in the path, a query parameter or the
// Idempotency-Key reach SQL as parameters: each is a 400 naming where (a
// path with them names nothing: 404).
func TestURLTextAndKeysRefuseNUL(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	srv := newServer(t, pool)
	for _, tc := range []struct {
		path, token string
		hdr         []string
		field       string
	}{
		{"/v1/orders?account_id=ac%00me", finTok, nil, "account_id"},
		{"/v1/orders?account_id=ac%FFme", finTok, nil, "account_id"},
		{"/v1/orders/ord_%00x", appTok, nil, ""},
		{"/v1/accounts/ac%C3%28me", appTok, nil, ""},
	} {
		c, b, _ := do(t, srv, "GET", tc.path, tc.token, nil, tc.hdr...)
		var p problem
		_ = json.Unmarshal(b, &p)
		if tc.field == "" { // a path no resource can have
			if c != 404 || !strings.Contains(p.Detail, "without NUL") {
				t.Errorf("GET %s: %d %s, want 404", tc.path, c, b)
			}
			continue
		}
		if c != 400 || len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
			t.Errorf("GET %s: %d %s, want 400 naming %s", tc.path, c, b, tc.field)
		}
	}
	do(t, srv, "PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Acme"}`))
	body := []byte(`{"account_id":"acme","requester":{"name":"Sari","email":"sari@acme.example"},"items":[{"product":"wa_balance","quantity":1000000}]}`)
	c, b, _ := do(t, srv, "POST", "/v1/orders", appTok, body, "Idempotency-Key", "k\xff1")
	var p problem
	_ = json.Unmarshal(b, &p)
	if c != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
		t.Errorf("Idempotency-Key not UTF-8: %d %s", c, b)
	}
}
