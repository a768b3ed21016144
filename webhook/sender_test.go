package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/webhooktest"
	"github.com/lunas-id/lunas/store"
)

var jakarta = func() *time.Location { l, _ := time.LoadLocation("Asia/Jakarta"); return l }()

type env struct {
	t     *testing.T
	ctx   context.Context
	pool  *store.DB
	clock *clock.Fixed
	svc   *Service
	sndr  *Sender
}

func newEnv(t *testing.T, o SenderOptions) *env {
	pool, _ := lunastest.Pool(t)
	clk := clock.NewFixed(time.Date(2026, 11, 22, 10, 0, 0, 0, jakarta))
	sealer, err := NewSealer("test signing key")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), pool: pool, clock: clk, svc: NewService(pool, clk, sealer, Policy{}, lunastest.Logger())}
	o.Pool, o.Clock, o.Sealer, o.Location, o.Logger = pool, clk, sealer, jakarta, lunastest.Logger()
	e.sndr = NewSender(o)
	return e
}

// run starts the sender until the test ends.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.sndr.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *env) endpoint(r *webhooktest.Receiver, url string, events ...string) Endpoint {
	e.t.Helper()
	ep, err := e.svc.Create(e.ctx, EndpointInput{URL: url, Events: events})
	if err != nil {
		e.t.Fatal(err)
	}
	if r != nil {
		r.SetSecret(ep.Secret)
	}
	return ep
}

// emit commits one event in its own transaction, as a domain change would.
func (e *env) emit(typ, subject string, data any) {
	e.t.Helper()
	err := store.InTx(e.ctx, e.pool, func(tx pgx.Tx) error { return EmitJSON(e.ctx, tx, typ, subject, data, e.clock.Now()) })
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deliveries(endpointID string) []Delivery {
	e.t.Helper()
	ds, err := e.svc.Deliveries(e.ctx, endpointID, 0, 500)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

func TestRetryCarriesTheSameIDAndBodyAndVerifies(t *testing.T) {
	e := newEnv(t, SenderOptions{})
	flaky := webhooktest.Start(t)
	flaky.Respond = func(n int, d webhooktest.Delivery) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	ep := e.endpoint(flaky, flaky.URL, OrderPaid)
	e.emit(OrderPaid, "ord_1", map[string]any{"id": "ord_1", "status": "paid"})
	e.emit(OrderCancelled, "ord_2", map[string]any{"id": "ord_2"}) // not asked for: no delivery
	e.run()

	lunastest.Eventually(t, 10*time.Second, "the first attempt", func() bool { return len(flaky.Deliveries()) == 1 })
	var d Delivery
	lunastest.Eventually(t, 5*time.Second, "the failure recorded", func() bool {
		ds := e.deliveries(ep.ID)
		d = ds[0]
		return len(ds) == 1 && d.Attempts == 1
	})
	if d.Status != DeliveryPending || d.LastStatus == nil || *d.LastStatus != 500 || d.NextAttemptAt == nil ||
		!d.NextAttemptAt.Equal(e.clock.Now().Add(5*time.Second)) || d.LastResponse == nil {
		t.Fatalf("after a 500: %+v", d)
	}
	time.Sleep(300 * time.Millisecond) // several polls: nothing is due before the service clock says so
	if n := len(flaky.Deliveries()); n != 1 {
		t.Fatalf("%d attempts before the retry was due", n)
	}
	e.clock.Set(e.clock.Now().Add(5 * time.Second))
	lunastest.Eventually(t, 10*time.Second, "the retry", func() bool { return len(flaky.Deliveries()) == 2 })
	got := flaky.Deliveries()
	if got[0].ID != got[1].ID || !bytes.Equal(got[0].Body, got[1].Body) {
		t.Fatalf("the retry differs: %s %s / %s %s", got[0].ID, got[0].Body, got[1].ID, got[1].Body)
	}
	for i, g := range got {
		if g.Verified != nil {
			t.Errorf("delivery %d: signature does not verify: %v", i, g.Verified)
		}
	}
	var env struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(got[0].Body, &env); err != nil || env.Type != OrderPaid || env.Timestamp != "2026-11-22T10:00:00+07:00" ||
		string(env.Data) != `{"id":"ord_1","status":"paid"}` {
		t.Fatalf("body %s (%v)", got[0].Body, err)
	}
	lunastest.Eventually(t, 5*time.Second, "delivered", func() bool { return e.deliveries(ep.ID)[0].Status == DeliveryDelivered })

	// A manual retry sends it again now, same id and body.
	if _, err := e.svc.Retry(e.ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	lunastest.Eventually(t, 10*time.Second, "the manual retry", func() bool { return len(flaky.Deliveries()) == 3 })
	if g := flaky.Deliveries()[2]; g.ID != got[0].ID || !bytes.Equal(g.Body, got[0].Body) || g.Verified != nil {
		t.Fatalf("manual retry: %+v", g)
	}
}

func TestScheduleEndsFailedAnd410DisablesTheEndpoint(t *testing.T) {
	e := newEnv(t, SenderOptions{})
	down := webhooktest.Start(t)
	down.Respond = func(int, webhooktest.Delivery) int { return http.StatusServiceUnavailable }
	gone := webhooktest.Start(t)
	gone.Respond = func(int, webhooktest.Delivery) int { return http.StatusGone }
	epDown := e.endpoint(down, down.URL, "*")
	e.emit(BalanceLow, "acme", map[string]any{"account_id": "acme"})
	e.run()
	// 1 + 7 retries, each due after its wait on the service clock.
	for i, wait := range append([]time.Duration{0}, schedule...) {
		e.clock.Set(e.clock.Now().Add(wait))
		lunastest.Eventually(t, 10*time.Second, fmt.Sprintf("attempt %d", i+1), func() bool {
			return e.deliveries(epDown.ID)[0].Attempts == i+1
		})
	}
	if d := e.deliveries(epDown.ID)[0]; d.Status != DeliveryFailed || d.NextAttemptAt != nil || len(down.Deliveries()) != 8 {
		t.Fatalf("after 8 failures: %+v, %d requests", d, len(down.Deliveries()))
	}

	epGone := e.endpoint(gone, gone.URL, "*")
	e.emit(BalanceLow, "acme", map[string]any{"n": 1})
	lunastest.Eventually(t, 10*time.Second, "the endpoint disabled", func() bool {
		got, _ := e.svc.Get(e.ctx, epGone.ID)
		return got.Status == EndpointDisabled
	})
	e.emit(BalanceLow, "acme", map[string]any{"n": 2}) // no delivery to a disabled endpoint
	if ds := e.deliveries(epGone.ID); len(ds) != 1 || ds[0].Status != DeliveryFailed || *ds[0].LastStatus != 410 {
		t.Fatalf("deliveries of the gone endpoint: %+v", ds)
	}
	if _, err := e.svc.Retry(e.ctx, e.deliveries(epGone.ID)[0].ID); err == nil {
		t.Fatal("retry to a disabled endpoint accepted")
	}
}

// A dead endpoint (connection refused) and a slow one (answers after 30 s)
// hold at most PerEndpoint of the sender's slots: every delivery to a
// healthy endpoint arrives while the slow one has not answered once.
func TestSlowAndDeadEndpointsDoNotDelayAHealthyOne(t *testing.T) {
	e := newEnv(t, SenderOptions{Concurrency: 8, PerEndpoint: 2})
	healthy := webhooktest.Start(t)
	slow := webhooktest.Start(t)
	release := make(chan struct{})
	slow.Respond = func(int, webhooktest.Delivery) int {
		select {
		case <-time.After(30 * time.Second):
		case <-release:
		}
		return 200
	}
	e.endpoint(slow, slow.URL, "*")
	dead := e.endpoint(nil, webhooktest.DeadURL(t), "*")
	epHealthy := e.endpoint(healthy, healthy.URL, "*")
	const n = 40
	start := time.Now()
	for i := 0; i < n; i++ {
		e.emit(OrderPaid, fmt.Sprintf("ord_%d", i), map[string]any{"i": i})
	}
	e.run()
	lunastest.Eventually(t, 25*time.Second, "every healthy delivery", func() bool { return len(healthy.Deliveries()) == n })
	took := time.Since(start)
	if got := len(slow.Deliveries()); got != 0 {
		t.Fatalf("the slow endpoint answered %d times already: the test proves nothing", got)
	}
	t.Logf("%d deliveries to the healthy endpoint in %s while the slow endpoint held its %d slots", n, took.Round(time.Millisecond), 2)
	lunastest.Eventually(t, 10*time.Second, "the dead endpoint's first attempts recorded", func() bool {
		ds := e.deliveries(dead.ID)
		return len(ds) == n && ds[n-1].Attempts == 1
	})
	for _, d := range e.deliveries(dead.ID)[:1] {
		if d.LastError == nil || d.LastStatus != nil {
			t.Fatalf("dead endpoint delivery: %+v", d)
		}
	}
	lunastest.Eventually(t, 5*time.Second, "the healthy deliveries recorded delivered", func() bool {
		for _, d := range e.deliveries(epHealthy.ID) {
			if d.Status != DeliveryDelivered {
				return false
			}
		}
		return true
	})
	close(release)
}

// Many senders render one event's body at once (its deliveries to several
// endpoints): each must send the one stored body, never an empty one. The
// read of the winner's body used to sit in the storing statement, whose
// snapshot could predate the winner's commit, and an empty body was signed
// and sent.
func TestEveryDeliverySendsTheStoredBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, SenderOptions{})
	for i := 0; i < 3; i++ {
		e.endpoint(nil, fmt.Sprintf("http://127.0.0.1:%d/hook", 20000+i), "*")
	}
	for round := 0; round < 10; round++ {
		e.emit("order.paid", fmt.Sprintf("ord_%d", round), map[string]any{"id": fmt.Sprintf("ord_%d", round)})
	}
	rows, err := e.pool.Query(e.ctx, `SELECT id, type, kind, snapshot, created_at FROM webhook_events`)
	if err != nil {
		t.Fatal(err)
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (attempt, error) {
		var a attempt
		return a, r.Scan(&a.eventID, &a.eventType, &a.kind, &a.snapshot, &a.eventAt)
	})
	if err != nil || len(events) != 10 {
		t.Fatalf("events %d: %v", len(events), err)
	}
	for _, a := range events {
		var wg sync.WaitGroup
		bodies := make([][]byte, 16)
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := e.sndr.body(e.ctx, a)
				if err != nil {
					t.Error(err)
				}
				bodies[i] = b
			}()
		}
		wg.Wait()
		for i, b := range bodies {
			if len(b) == 0 || !bytes.Equal(b, bodies[0]) {
				t.Fatalf("event %s: sender %d got body %q, sender 0 %q", a.eventID, i, b, bodies[0])
			}
		}
	}
}
