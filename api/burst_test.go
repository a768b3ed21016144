package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/api"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/store"
)

// deadlineServer is newServer with a short database deadline that watches
// the pool's liveness, as cmd/lunas wires it.
func deadlineServer(t *testing.T, pool *store.DB, deadline time.Duration) *httptest.Server {
	t.Helper()
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	orders := order.New(pool, clock.Wall{}, jkt, lunastest.Logger())
	svc := invoice.New(pool, orders, invoice.DefaultCatalog(), lunastest.Logger())
	pay := payment.New(payment.Options{Pool: pool, Orders: orders, Invoices: svc, Logger: lunastest.Logger()})
	h := api.New(api.Options{Pool: pool, Accounts: account.New(pool, clock.Wall{}, lunastest.Logger()), Orders: orders, Invoices: svc, Payments: pay, Reviews: review.New(pool, orders, pay, lunastest.Logger()),
		Documents: proforma.NewDocuments(proforma.Options{Pool: pool, Clock: clock.Wall{}, Location: jkt}), Signer: proforma.NewSigner("k", clock.Wall{}),
		Tokens: map[string]string{appTok: "app", finTok: "finance"}, Location: jkt, Logger: lunastest.Logger(),
		Database: pinger{}, Redis: pinger{}, PublicURL: "http://lunas.test",
		DBDeadline: deadline, Liveness: store.LivenessOf(pool)})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	checked(t, srv)
	return srv
}

func drafts(t *testing.T, srv *httptest.Server, n int) []string {
	t.Helper()
	if code, b, _ := do(t, srv, "PUT", "/v1/accounts/acme", appTok, []byte(`{"name":"Acme"}`)); code != 201 {
		t.Fatalf("put account: %d %s", code, b)
	}
	ids := make([]string, n)
	for i := range ids {
		body := fmt.Sprintf(`{"account_id":"acme","requester":{"name":"Sari","email":"sari-%d@acme.example"},"items":[{"product":"wa_balance","quantity":1000000}]}`, i)
		code, b, _ := do(t, srv, "POST", "/v1/orders", appTok, []byte(body))
		if code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		var o struct{ ID string }
		_ = json.Unmarshal(b, &o)
		ids[i] = o.ID
	}
	return ids
}

// 64 customers confirm at the same moment, with a database deadline far
// below what the burst takes: every confirm is answered 200 with its own
// number. Waiting its turn while PostgreSQL answers others is not an
// outage.
func TestBurstOfConfirmsAllAnswered200(t *testing.T) {
	t.Parallel()
	pool, _ := lunastest.Pool(t)
	// The deadline is short beside a burst of 64 on this machine, yet long
	// beside a pause in the answers when the whole suite loads its 2 cores
	// (a request is cancelled only after half of it passes with no answer).
	const deadline = time.Second
	srv := deadlineServer(t, pool, deadline)
	ids := drafts(t, srv, 64)
	start := make(chan struct{})
	codes := make([]int, len(ids))
	numbers := make([]string, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, b, _ := do(t, srv, "POST", "/v1/orders/"+id+"/confirm", appTok, nil)
			codes[i] = code
			var o struct {
				Number *string `json:"invoice_number"`
			}
			_ = json.Unmarshal(b, &o)
			if o.Number != nil {
				numbers[i] = *o.Number
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	// Not a check (timings vary): says whether the burst outlasted the
	// deadline on this machine, which is the case this test is about.
	t.Logf("64 confirms answered in %s with a %s database deadline", time.Since(began), deadline)
	seen := map[string]bool{}
	for i, code := range codes {
		if code != 200 {
			t.Errorf("confirm %d: %d, want 200", i, code)
		}
		if numbers[i] == "" || seen[numbers[i]] {
			t.Errorf("confirm %d: number %q missing or repeated", i, numbers[i])
		}
		seen[numbers[i]] = true
	}
}

// A confirm that waits on the invoice counter's lock longer than the
// deadline is answered 200 while PostgreSQL answers other statements, and
// 503 when it answers nothing else (from the pool's point of view, a
// stalled server: the case the deadline is for).
func TestLockWaitIsNotAnOutageButSilenceIs(t *testing.T) {
	t.Parallel()
	pool, dsn := lunastest.Pool(t)
	const deadline = 400 * time.Millisecond
	srv := deadlineServer(t, pool, deadline)
	ids := drafts(t, srv, 2)
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	year := time.Now().In(jkt).Format("2006")
	// The lock is held from a connection of its own, outside the pool.
	hold := func() (release func()) {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(context.Background(), `INSERT INTO invoice_counters (period, last) VALUES ($1, 0)
			ON CONFLICT (period) DO UPDATE SET last = invoice_counters.last`, year); err != nil {
			t.Fatal(err)
		}
		return func() { _ = tx.Commit(context.Background()); _ = conn.Close(context.Background()) }
	}

	// Busy: others' statements keep being answered while the confirm waits.
	release := hold()
	stop := make(chan struct{})
	var gap atomic.Int64
	go func() {
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				_, _ = pool.Exec(context.Background(), `SELECT 1`)
				if g := int64(time.Since(last)); g > gap.Load() {
					gap.Store(g)
				}
				last = time.Now()
			}
		}
	}()
	time.AfterFunc(6*deadline, release)
	code, b, _ := do(t, srv, "POST", "/v1/orders/"+ids[0]+"/confirm", appTok, nil)
	close(stop)
	if code != 200 {
		t.Errorf("confirm waiting on a lock while the database answers: %d %s, want 200 (longest gap between answers %s)", code, b, time.Duration(gap.Load()))
	}

	// Silent: nothing is answered while the confirm waits.
	release = hold()
	defer release()
	code, b, hdr := do(t, srv, "POST", "/v1/orders/"+ids[1]+"/confirm", appTok, nil)
	if code != 503 || hdr.Get("Retry-After") == "" {
		t.Errorf("confirm with no answer from the database: %d %s, want 503 with Retry-After", code, b)
	}
}
