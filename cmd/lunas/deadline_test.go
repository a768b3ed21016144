package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/harness"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/store"
)

// privatePostgres starts a PostgreSQL server of the test's own (on a port in
// this suite's range, 20000–20999) with a migrated database, and returns it
// and the database's URL.
func privatePostgres(t *testing.T) (*harness.Postgres, string) {
	t.Helper()
	dir := t.TempDir()
	// The server runs as the postgres user when tests run as root: it must
	// be able to reach its data directory.
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	port, err := harness.FreePortIn(20000, 20999)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := harness.StartPostgresOn(dir, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Thaw(); _ = pg.Stop() })
	dsn := pg.URL("lunas")
	if err := store.Migrate(context.Background(), dsn, lunastest.Logger()); err != nil {
		t.Fatal(err)
	}
	return pg, dsn
}

// A frozen PostgreSQL (SIGSTOP) must not hold webhooks: each is answered
// 503 with Retry-After within the database deadline, so the gateway retries;
// after SIGCONT the retries are answered 200 and each payment is applied once.
func TestFrozenPostgresAnswers503WithinTheDeadline(t *testing.T) {
	t.Parallel()
	pg, dsn := privatePostgres(t)
	const deadline = time.Second
	s := startStack(t, stackOptions{databaseURL: dsn, workers: 1, env: map[string]string{"LUNAS_DB_DEADLINE": deadline.String()}})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	const n = 10
	var orders []string
	var bodies [][]byte
	for i := 0; i < n; i++ {
		o, a := s.payable("acme", i)
		b, err := s.midtrans.Notification(a, "settlement", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		orders, bodies = append(orders, o), append(bodies, b)
	}
	s.settled(30 * time.Second) // billing mails out, nothing in flight

	if err := pg.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozeAt := time.Now()
	type answer struct {
		code       int
		retryAfter string
		took       time.Duration
	}
	answers := make([]answer, n+1)
	client := &http.Client{Timeout: 30 * time.Second} // far beyond the deadline: a hang shows as an error
	var wg sync.WaitGroup
	for i := 0; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req *http.Request
			if i < n {
				req, _ = http.NewRequest("POST", s.midtrans.NotifyURL, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
			} else { // an API path too
				req, _ = http.NewRequest("GET", s.base+"/v1/orders/"+orders[0], nil)
				req.Header.Set("Authorization", "Bearer "+appToken)
			}
			start := time.Now()
			res, err := client.Do(req)
			if err != nil {
				t.Errorf("request %d while PostgreSQL is frozen: %v", i, err)
				return
			}
			res.Body.Close()
			answers[i] = answer{res.StatusCode, res.Header.Get("Retry-After"), time.Since(start)}
		}()
	}
	wg.Wait()
	var took []time.Duration
	for i, a := range answers {
		if a.code != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Errorf("request %d while PostgreSQL is frozen: %d, Retry-After %q; want 503 with Retry-After", i, a.code, a.retryAfter)
		}
		took = append(took, a.took)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	if err := pg.Thaw(); err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL frozen: %d webhooks and 1 API read answered 503 + Retry-After; latency min %s, median %s, max %s (deadline %s); SIGCONT after %s frozen",
		n, took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), deadline,
		time.Since(frozeAt).Round(time.Millisecond))

	// The gateway retries: now 200, and each payment applied once.
	for i := range bodies {
		lunastest.Eventually(t, 30*time.Second, "the webhook answered 200 after SIGCONT", func() bool {
			c, err := s.midtrans.Send(context.Background(), bodies[i])
			return err == nil && c == 200
		})
	}
	lunastest.Eventually(t, 30*time.Second, "every order paid", func() bool {
		return s.count(`SELECT count(*) FROM orders WHERE id = ANY($1) AND status = 'paid'`, orders) == n
	})
	s.settled(60 * time.Second)
	if got := s.count(`SELECT count(*) FROM gateway_events`); got != n {
		t.Errorf("%d inbox events, want %d (one per payment, however often it was sent)", got, n)
	}
	if got := s.count(`SELECT count(DISTINCT order_id) FROM ledger_postings WHERE order_id = ANY($1)`, orders); got != n {
		t.Errorf("%d orders credited, want %d", got, n)
	}
	if got := s.count(`SELECT count(*) FROM ledger_postings WHERE order_id = ANY($1)`, orders); got != n {
		t.Errorf("%d postings for %d orders, want one credit each", got, n)
	}
	for id, c := range s.acceptedPerMessageID() {
		if c != 1 {
			t.Errorf("mail %s accepted %d times", id, c)
		}
	}
}
