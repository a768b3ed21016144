package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/mailtest"
	"github.com/lunas-id/lunas/internal/midtranstest"
	"github.com/lunas-id/lunas/internal/openapitest"
	"github.com/lunas-id/lunas/internal/ovotest"
	"github.com/lunas-id/lunas/redisconn"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

const (
	appToken     = "dev-app-token"
	financeToken = "dev-finance-token"
	serverKey    = "SB-Mid-server-FAKE_TEST_KEY_123"
	xenditKey    = "xnd_development_FAKE"
	ovoToken     = "ovo-callback-token-test"
)

// stack is lunas running as separate serve and work "processes" (each a
// run() with its own pools and asynq server) against real PostgreSQL and
// Redis, with fake gateways and an SMTP sink at the edge.
type stack struct {
	t        *testing.T
	base     string
	env      map[string]string
	pool     *store.DB
	midtrans *midtranstest.Server
	xendit   *ovotest.Server
	sink     *mailtest.Sink
	mu       sync.Mutex
	procs    map[string]func()
	client   *http.Client         // checks every exchange against api/openapi.yaml
	logs     lunastest.SyncBuffer // the processes' logs, printed when a test fails
}

type stackOptions struct {
	redisURL    string
	workers     int
	databaseURL string            // a migrated database (default: a fresh one on LUNAS_DATABASE_URL)
	env         map[string]string // added to, or overriding, the processes' environment
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	if o.redisURL == "" {
		o.redisURL = lunastest.RedisURL(t)
	}
	var pool *store.DB
	dsn := o.databaseURL
	if dsn == "" {
		pool, dsn = lunastest.Pool(t)
	} else {
		var err error
		if pool, err = store.Open(context.Background(), dsn, 10); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
	}
	checker := openapitest.New(t)
	s := &stack{t: t, pool: pool, procs: map[string]func(){}, client: checker.Client()}
	s.midtrans = midtranstest.New(serverKey)
	// The fakes' notifications to lunas's webhooks are checked too.
	s.midtrans.Client.Transport = checker.Transport(nil)
	mtSrv := httptest.NewServer(s.midtrans)
	t.Cleanup(mtSrv.Close)
	s.xendit = ovotest.New(xenditKey, ovoToken)
	s.xendit.Client.Transport = checker.Transport(nil)
	xdSrv := httptest.NewServer(s.xendit)
	t.Cleanup(xdSrv.Close)
	sink, err := mailtest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Stop)
	s.sink = sink
	addr := lunastest.FreeAddr(t)
	s.base = "http://" + addr
	s.midtrans.NotifyURL = s.base + "/webhooks/midtrans"
	s.xendit.CallbackURL = s.base + "/webhooks/ovo"
	s.env = map[string]string{
		"LUNAS_ENV": "test", "LUNAS_HTTP_ADDR": addr, "LUNAS_DATABASE_URL": dsn, "LUNAS_REDIS_URL": o.redisURL,
		"LUNAS_SMTP_URL": "smtp://" + sink.Addr(), "LUNAS_PUBLIC_URL": s.base, "LUNAS_SWEEP_INTERVAL": "300ms",
		"LUNAS_OUTBOX_REQUEUE_AFTER": "2s", "LUNAS_AUTO_MIGRATE": "false",
		"MIDTRANS_SERVER_KEY": serverKey, "MIDTRANS_BASE_URL": mtSrv.URL, "XENDIT_SECRET_KEY": xenditKey,
		"XENDIT_BASE_URL": xdSrv.URL, "OVO_CALLBACK_TOKEN": ovoToken, "LUNAS_WORKER_CONCURRENCY": "8", "LUNAS_LOG_LEVEL": "INFO",
		// The suite runs with -race on two shared cores, where bursts of
		// 100 requests at once can take longer than the production deadline
		// (2 s) without anything being wrong; the deadline's own test sets
		// its own.
		"LUNAS_DB_DEADLINE": "10s",
	}
	for k, v := range o.env {
		s.env[k] = v
	}
	s.start("serve")
	for i := 0; i < max(o.workers, 1); i++ {
		s.start(fmt.Sprintf("work#%d", i+1))
	}
	t.Cleanup(func() {
		s.stopAll()
		if !t.Failed() {
			// Every end-to-end test leaves books that `lunas audit` proves.
			var out strings.Builder
			if err := run(context.Background(), []string{"audit"}, func(k string) string { return s.env[k] }, &out, io.Discard); err != nil {
				t.Errorf("lunas audit after the test: %v\n%s", err, out.String())
			}
		}
		if t.Failed() {
			logs := s.logs.String()
			if len(logs) > 20000 {
				logs = "…" + logs[len(logs)-20000:]
			}
			t.Logf("lunas logs:\n%s", logs)
		}
	})
	s.waitHealthy()
	return s
}

func (s *stack) waitHealthy() {
	s.t.Helper()
	lunastest.Eventually(s.t, 15*time.Second, "lunas to answer /healthz", func() bool {
		res, err := s.client.Get(s.base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
}

func mustRedisOpt(t *testing.T, u string) asynq.RedisConnOpt {
	opt, err := redisconn.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

type prefixed struct {
	name string
	w    io.Writer
}

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.name+" "), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// start runs one process (serve or work#n) until stop(name).
func (s *stack) start(name string) {
	cmd, _, _ := strings.Cut(name, "#")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{cmd}, func(k string) string { return s.env[k] }, io.Discard, prefixed{name, &s.logs})
	}()
	s.mu.Lock()
	s.procs[name] = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				s.t.Errorf("%s exited: %v", name, err)
			}
		case <-time.After(30 * time.Second):
			s.t.Errorf("%s did not drain within 30 s", name)
		}
	}
	s.mu.Unlock()
}

func (s *stack) stop(name string) {
	s.mu.Lock()
	stop := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (s *stack) stopAll() {
	s.mu.Lock()
	names := make([]string, 0, len(s.procs))
	for n := range s.procs {
		names = append(names, n)
	}
	s.mu.Unlock()
	for _, n := range names {
		s.stop(n)
	}
}

// call does an API request and decodes a JSON answer into out (when not nil).
func (s *stack) call(method, path, token string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, raw, err)
		}
	}
	return res.StatusCode
}

type order struct {
	ID            string            `json:"id"`
	Status        string            `json:"status"`
	StatusReason  string            `json:"status_reason"`
	Total         int64             `json:"total"`
	InvoiceNumber string            `json:"invoice_number"`
	ExpiresAt     string            `json:"expires_at"`
	Payments      []attempt         `json:"payments"`
	Items         []json.RawMessage `json:"items"`
}

type attempt struct {
	ID          string `json:"id"`
	Method      string `json:"method"`
	Status      string `json:"status"`
	Amount      int64  `json:"amount"`
	Fee         int64  `json:"fee"`
	FailureCode string `json:"failure_code"`
	VANumber    string `json:"va_number"`
	ExpiresAt   string `json:"expires_at"`
}

type account struct {
	Balances struct {
		WABalance   int64 `json:"wa_balance"`
		MUV         int64 `json:"muv"`
		Outstanding int64 `json:"outstanding"`
	} `json:"balances"`
}

func (s *stack) setClock(rfc3339 string) {
	s.t.Helper()
	if code := s.call("PUT", "/v1/test/clock", financeToken, map[string]string{"now": rfc3339}, nil); code != 200 {
		s.t.Fatalf("set clock: %d", code)
	}
	// No wait: every process reads the clock's offset at each Now.
}

func (s *stack) account(id string) {
	s.t.Helper()
	if code := s.call("PUT", "/v1/accounts/"+id, appToken, map[string]string{"name": "Acme " + id}, nil); code/100 != 2 {
		s.t.Fatalf("put account: %d", code)
	}
}

func (s *stack) confirmedOrder(accountID, email string, waQty int64) order {
	s.t.Helper()
	var o order
	body := map[string]any{"account_id": accountID, "requester": map[string]string{"name": "Sari Dewi", "email": email},
		"items": []map[string]any{{"product": "wa_balance", "quantity": waQty}}}
	if code := s.call("POST", "/v1/orders", appToken, body, &o); code != 201 {
		s.t.Fatalf("create order: %d", code)
	}
	if code := s.call("POST", "/v1/orders/"+o.ID+"/confirm", appToken, nil, &o); code != 200 {
		s.t.Fatalf("confirm: %d", code)
	}
	return o
}

func (s *stack) order(id string) order {
	s.t.Helper()
	var o order
	if code := s.call("GET", "/v1/orders/"+id, appToken, nil, &o); code != 200 {
		s.t.Fatalf("get order: %d", code)
	}
	return o
}

func (s *stack) balances(id string) account {
	s.t.Helper()
	var a account
	if code := s.call("GET", "/v1/accounts/"+id, appToken, nil, &a); code != 200 {
		s.t.Fatalf("get account: %d", code)
	}
	return a
}

func (s *stack) count(sql string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// settled waits until nothing is left to do: every outbox row done, every
// mail sent, every inbox event processed.
func (s *stack) settled(timeout time.Duration) {
	s.t.Helper()
	left := func() int {
		return s.count(`SELECT (SELECT count(*) FROM outbox WHERE done_at IS NULL AND (process_at IS NULL OR task_type <> 'invoice:expire'))
			+ (SELECT count(*) FROM mails WHERE status <> 'sent') + (SELECT count(*) FROM gateway_events WHERE processed_at IS NULL)`)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if left() == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	insp := asynq.NewInspector(mustRedisOpt(s.t, s.env["LUNAS_REDIS_URL"]))
	defer insp.Close()
	rows, _ := s.pool.Query(context.Background(), `SELECT id FROM outbox WHERE done_at IS NULL`)
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		for _, q := range task.Queues() {
			if info, err := insp.GetTaskInfo(q, id); err == nil {
				s.t.Logf("asynq task %s in %s: state %s, retried %d, last error %q, next %s", id, q, info.State, info.Retried, info.LastErr, info.NextProcessAt)
			}
		}
	}
	rows.Close()
	rows, _ = s.pool.Query(context.Background(), `SELECT 'outbox ' || id || ' relayed=' || coalesce(relayed_at::text, '-') FROM outbox WHERE done_at IS NULL
		UNION ALL SELECT 'mail ' || id || ' ' || status || ' attempts=' || attempts || ' ' || coalesce(last_error, '') FROM mails WHERE status <> 'sent'
		UNION ALL SELECT 'event ' || id FROM gateway_events WHERE processed_at IS NULL`)
	var undone []string
	for rows.Next() {
		var line string
		_ = rows.Scan(&line)
		undone = append(undone, line)
	}
	rows.Close()
	s.t.Fatalf("after %s, work is left undone:\n%s", timeout, strings.Join(undone, "\n"))
}
