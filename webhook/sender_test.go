package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
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
		for _, d := range ds {
			if d.Attempts != 1 {
				return false
			}
		}
		return len(ds) == n
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
				j := &job{attempt: a}
				if err := e.sndr.bodies(e.ctx, []*job{j}); err != nil || j.fail != nil {
					t.Error(err, j.fail)
				}
				bodies[i] = j.body
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

// A slow endpoint (its receiver holds every request until the test lets
// go) never has more than PerEndpoint posts in flight, though the sender
// claims a batch of its deliveries ahead into a local queue, and the
// deliveries to a healthy endpoint, committed one by one meanwhile, arrive
// within a bounded lag.
func TestASlowEndpointHoldsAtMostPerEndpointPosts(t *testing.T) {
	const perEndpoint, n = 2, 30
	e := newEnv(t, SenderOptions{Concurrency: 8, PerEndpoint: perEndpoint})
	healthy := webhooktest.Start(t)
	slow := webhooktest.Start(t)
	release := make(chan struct{})
	var mu sync.Mutex
	current, most, answered := 0, 0, 0
	slow.Respond = func(int, webhooktest.Delivery) int {
		mu.Lock()
		current++
		most = max(most, current)
		mu.Unlock()
		<-release
		mu.Lock()
		current--
		answered++
		mu.Unlock()
		return 200
	}
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	e.endpoint(slow, slow.URL, "*")
	e.endpoint(healthy, healthy.URL, "*")
	e.run()
	committed := map[string]time.Time{}
	for i := 0; i < n; i++ {
		subject := fmt.Sprintf("ord_%d", i)
		e.emit(OrderPaid, subject, map[string]any{"id": subject})
		committed[subject] = time.Now()
	}
	lunastest.Eventually(t, 20*time.Second, "every healthy delivery", func() bool { return len(healthy.Deliveries()) == n })
	var worst time.Duration
	for _, d := range healthy.Deliveries() {
		var body struct {
			Data struct{ ID string } `json:"data"`
		}
		if err := json.Unmarshal(d.Body, &body); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, d.At.Sub(committed[body.Data.ID]))
	}
	if worst > 5*time.Second {
		t.Fatalf("a healthy delivery arrived %s after its commit while the slow endpoint held its slots", worst)
	}
	mu.Lock()
	heldMost, heldNow, done := most, current, answered
	mu.Unlock()
	if done != 0 || heldNow != perEndpoint || heldMost != perEndpoint {
		t.Fatalf("the slow endpoint: %d requests in flight (at most %d), %d answered; want %d, 0 answered", heldNow, heldMost, done, perEndpoint)
	}
	t.Logf("%d healthy deliveries, the last arrived at most %s after its commit, while the slow endpoint held %d posts", n, worst.Round(time.Millisecond), heldMost)
	// Let go: the slow endpoint's queue drains, still PerEndpoint at a time.
	close(release)
	lunastest.Eventually(t, 20*time.Second, "every slow delivery", func() bool { return len(slow.Deliveries()) == n })
	mu.Lock()
	defer mu.Unlock()
	if most != perEndpoint {
		t.Fatalf("the slow endpoint had %d requests in flight at once, the cap is %d", most, perEndpoint)
	}
}

// One batch of results — 2xx, a 500 and a 410 among them, of two
// endpoints — is recorded whole in one transaction: each delivery gets its
// outcome, and the endpoint that answered 410 is disabled with its other
// pending deliveries ended.
func TestARecordedBatchWithA410DisablesItsEndpoint(t *testing.T) {
	e := newEnv(t, SenderOptions{})
	goneEP := e.endpoint(nil, "http://127.0.0.1:1/gone", "*")
	okEP := e.endpoint(nil, "http://127.0.0.1:1/ok", "*")
	for i := 0; i < 3; i++ {
		e.emit(BalanceLow, fmt.Sprintf("acct_%d", i), map[string]any{"i": i})
	}
	var mu sync.Mutex
	outcomes := map[string]int{}
	e.sndr.Outcome = func(o string) { mu.Lock(); outcomes[o]++; mu.Unlock() }
	rec := make(chan posted, 10)
	c := e.sndr.claim(e.ctx, rec, 100, nil, nil)
	if c.err != nil || len(c.jobs) != 6 {
		t.Fatalf("claimed %d: %v", len(c.jobs), c.err)
	}
	byEndpoint := map[string][]*job{}
	for _, j := range c.jobs {
		byEndpoint[j.endpointID] = append(byEndpoint[j.endpointID], j)
		if len(j.body) == 0 || j.secret == "" {
			t.Fatalf("job %d without its body or secret", j.id)
		}
	}
	at := e.clock.Now()
	g, k := byEndpoint[goneEP.ID], byEndpoint[okEP.ID]
	batch := []posted{
		{j: k[0], r: result{status: 200, response: "ok"}, at: at},
		{j: g[0], r: result{status: 204}, at: at},
		{j: k[1], r: result{status: 500, response: "boom"}, at: at},
		{j: g[1], r: result{status: http.StatusGone}, at: at},
		{j: k[2], r: result{status: 200}, at: at},
	}
	e.sndr.record(e.ctx, batch) // g[2] is left out: the 410 ends it
	status := func(j *job) (s DeliveryStatus, attempts int, last *int, lastErr *string, leased bool) {
		t.Helper()
		if err := e.pool.QueryRow(e.ctx, `SELECT status, attempts, last_status, last_error, lease_until IS NOT NULL FROM webhook_deliveries WHERE id = $1`, j.id).
			Scan(&s, &attempts, &last, &lastErr, &leased); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, w := range []struct {
		j        *job
		status   DeliveryStatus
		attempts int
		last     int
	}{{k[0], DeliveryDelivered, 1, 200}, {g[0], DeliveryDelivered, 1, 204}, {k[1], DeliveryPending, 1, 500}, {g[1], DeliveryFailed, 1, 410},
		{k[2], DeliveryDelivered, 1, 200}, {g[2], DeliveryFailed, 0, 0}} {
		s, attempts, last, lastErr, leased := status(w.j)
		if s != w.status || attempts != w.attempts || leased || (w.last != 0) != (last != nil) || (last != nil && *last != w.last) {
			t.Errorf("delivery %d: %s, %d attempts, last %v, leased %v; want %s, %d, %d, not leased", w.j.id, s, attempts, last, leased, w.status, w.attempts, w.last)
		}
		if w.j == g[2] && (lastErr == nil || *lastErr != "endpoint disabled: it answered 410 Gone") {
			t.Errorf("the gone endpoint's unposted delivery: last_error %v", lastErr)
		}
	}
	if d, _ := e.svc.GetDelivery(e.ctx, k[1].id); d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(at.Add(schedule[0])) {
		t.Errorf("the 500 is retried at %v, want %v", d.NextAttemptAt, at.Add(schedule[0]))
	}
	if ep, _ := e.svc.Get(e.ctx, goneEP.ID); ep.Status != EndpointDisabled || ep.DisabledReason == nil {
		t.Errorf("the endpoint that answered 410: %s (%v)", ep.Status, ep.DisabledReason)
	}
	if ep, _ := e.svc.Get(e.ctx, okEP.ID); ep.Status != EndpointEnabled {
		t.Errorf("the other endpoint: %s", ep.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes[OutcomeDelivered] != 3 || outcomes[OutcomeRetry] != 1 || outcomes[OutcomeGone] != 1 || len(outcomes) != 3 {
		t.Errorf("outcomes %v", outcomes)
	}
}

// A delivery queued in one sender whose window ends while it waits (here:
// the sender's local clock and the database lease both move past it) is
// not posted by that sender: another sender may hold it by then, and the
// endpoint would get it twice. Sender A holds the first delivery in flight
// (its receiver waits) and the two others queued; their leases lapse and
// sender B delivers them; when A's post ends, A releases its queued two
// unposted.
func TestAQueuedDeliveryIsNotPostedAfterItsWindow(t *testing.T) {
	// A claims once, at its start, and never polls: only the check before
	// a post stands between a stale queued delivery and the endpoint.
	e := newEnv(t, SenderOptions{Concurrency: 1, PerEndpoint: 1, Poll: time.Hour})
	recv := webhooktest.Start(t)
	e.endpoint(recv, recv.URL, "*")
	for i := 0; i < 3; i++ {
		e.emit(OrderPaid, fmt.Sprintf("ord_%d", i), map[string]any{"i": i})
	}
	var first string
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM webhook_events WHERE subject = 'ord_0'`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	recv.Respond = func(n int, d webhooktest.Delivery) int {
		if d.ID == first && n == 0 {
			arrived <- struct{}{}
			<-release
		}
		return 200
	}
	var ahead atomic.Int64 // how far sender A's local clock is moved
	e.sndr.now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	skipped := make(chan []int64, 10)
	e.sndr.skipped = func(ids []int64) { skipped <- ids }
	e.run()
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the first delivery never arrived")
	}
	var queued []int64
	rows, _ := e.pool.Query(e.ctx, `SELECT d.id FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
		WHERE ev.id <> $1 AND d.lease_until > now() AND d.attempts = 0 ORDER BY d.id`, first)
	queued, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(queued) != 2 {
		t.Fatalf("sender A holds %v queued (%v), want the two other deliveries", queued, err)
	}
	// Time passes for both clocks: A's windows end, the database's leases lapse.
	ahead.Store(int64(e.sndr.lease))
	if _, err := e.pool.Exec(e.ctx, `UPDATE webhook_deliveries SET lease_until = now() - interval '1 second' WHERE id = ANY($1)`, queued); err != nil {
		t.Fatal(err)
	}
	bo := e.sndr.o
	bo.Poll = 100 * time.Millisecond
	b := NewSender(bo)
	bctx, stopB := context.WithCancel(context.Background())
	bDone := make(chan struct{})
	go func() { b.Run(bctx); close(bDone) }()
	defer func() { stopB(); <-bDone }()
	lunastest.Eventually(t, 20*time.Second, "sender B delivers the two", func() bool { return len(recv.Deliveries()) == 2 })
	close(release)
	select {
	case ids := <-skipped:
		if !slices.Equal(ids, queued) {
			t.Fatalf("A released %v unposted, want %v", ids, queued)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("A never released its queued deliveries; the receiver got %d requests", len(recv.Deliveries()))
	}
	lunastest.Eventually(t, 10*time.Second, "all three delivered", func() bool {
		var n int
		_ = e.pool.QueryRow(e.ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered' AND lease_until IS NULL`).Scan(&n)
		return n == 3
	})
	seen := map[string]int{}
	for _, d := range recv.Deliveries() {
		seen[d.ID]++
	}
	if len(seen) != 3 {
		t.Fatalf("the receiver saw %v", seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s posted %d times", id, n)
		}
	}
}
