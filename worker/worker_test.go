package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/worker"
)

type metrics struct {
	mu       sync.Mutex
	outcomes map[string]string
}

func (m *metrics) Task(typ, outcome string, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outcomes[typ] = outcome
}

func setup(t *testing.T) (*paytest.Env, *worker.Worker, *metrics) {
	t.Helper()
	e := paytest.New(t)
	r, err := proforma.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	docs := proforma.NewDocuments(proforma.Options{Pool: e.Pool, Clock: e.Clock, Renderer: r, Seller: proforma.Seller{Name: "PT Lunas"}, Location: paytest.Jakarta})
	m := &metrics{outcomes: map[string]string{}}
	return e, worker.New(e.Pool, e.Orders, e.Payments, e.Reviews, docs, nil, lunastest.Logger(), m), m
}

// process runs t through the worker's mux as asynq would, with its TaskID.
func process(w *worker.Worker, j task.Job) error {
	return w.Mux().ProcessTask(context.Background(), asynq.NewTask(j.Type, j.Payload, asynq.TaskID(j.ID)))
}

// Every task whose payload cannot be read is archived (SkipRetry): no
// retry can fix it. Measured as poison.
func TestUnreadablePayloadsAreArchived(t *testing.T) {
	t.Parallel()
	_, w, m := setup(t)
	for _, typ := range []string{task.PaymentApply, task.PaymentCancel, task.InvoiceExpire, task.PDFRender, task.MailSend, task.SendingRun} {
		err := process(w, task.Job{ID: "x", Type: typ, Payload: []byte("{")})
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s with a broken payload: %v, want SkipRetry", typ, err)
		}
		if m.outcomes[typ] != "poison" {
			t.Errorf("%s measured %q, want poison", typ, m.outcomes[typ])
		}
	}
	// An apply of an event this database does not have is poison too.
	if err := process(w, task.Apply(424242)); !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("apply of a missing event: %v, want SkipRetry", err)
	}
}

// pdf:render, relayed from the outbox into Redis and run by an asynq
// server with the worker's handlers, renders and stores the document and
// marks its outbox row done.
func TestRenderTaskStoresTheDocumentAndIsDone(t *testing.T) {
	t.Parallel()
	e, w, m := setup(t)
	opt, err := asynq.ParseRedisURI(lunastest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	srv := worker.NewServer(opt, worker.Pool{Name: "default", Queue: task.Queue, Concurrency: 2}, lunastest.Logger())
	if err := srv.Start(w.Mux()); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000)) // its outbox: the UNPAID render, the expiry, the billing mail
	if _, err := outbox.New(e.Pool, client, e.Clock, lunastest.Logger()).RelayOnce(e.Ctx); err != nil {
		t.Fatal(err)
	}
	j := task.Render(o.ID, proforma.KindUnpaid, "")
	lunastest.Eventually(t, 20*time.Second, "the render's outbox row done", func() bool {
		return e.Count(`SELECT count(*) FROM outbox WHERE id = $1 AND done_at IS NOT NULL`, j.ID) == 1
	})
	if n := e.Count(`SELECT count(*) FROM documents WHERE order_id = $1 AND kind = 'unpaid'`, o.ID); n != 1 {
		t.Errorf("documents %d, want 1", n)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outcomes[task.PDFRender] != "ok" {
		t.Errorf("measured %q, want ok", m.outcomes[task.PDFRender])
	}
}

// The sweep expires what is past its deadline and closes old drafts.
func TestSweepExpiresAndCloses(t *testing.T) {
	t.Parallel()
	e, w, _ := setup(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	draft, err := e.Invoices.CreateOrder(e.Ctx, invoiceInput("acme"))
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(e.Clock.Now().Add(6 * 24 * time.Hour))
	w.SweepOnce(e.Ctx)
	if got := e.Order(o.ID); got.Status != "expired" {
		t.Errorf("confirmed order after its deadline: %s, want expired", got.Status)
	}
	if got := e.Order(draft.ID); got.Status != "closed" {
		t.Errorf("draft after 120 h: %s, want closed", got.Status)
	}
}

func TestPoolsAndRetryDelay(t *testing.T) {
	t.Parallel()
	pools, err := worker.Pools(10, map[string]int{"mail": 3})
	if err != nil || len(pools) != 3 {
		t.Fatalf("pools %+v %v", pools, err)
	}
	for _, p := range pools {
		want := 10
		if p.Name == "mail" {
			want = 3
		}
		if p.Concurrency != want || p.Queue == "" {
			t.Errorf("pool %+v, want concurrency %d", p, want)
		}
	}
	if _, err := worker.Pools(10, map[string]int{"nope": 1}); err == nil {
		t.Error("an unknown pool was accepted")
	}
	for n, want := range map[int]time.Duration{0: time.Second, 1: 2 * time.Second, 5: 32 * time.Second, 6: time.Minute, 20: time.Minute} {
		if got := worker.RetryDelay(n, nil, nil); got != want {
			t.Errorf("retry %d: %s, want %s", n, got, want)
		}
	}
}

func invoiceInput(account string) invoice.CreateInput {
	return invoice.CreateInput{AccountID: account, Requester: order.Requester{Name: "Sari", Email: "sari@acme.example"},
		Items: []order.ItemRequest{paytest.WA(1_000_000)}}
}

// A render after a change of the order (a version: a new price, a
// reversal) replaces what is stored: a mail that rendered the document
// before the change may have stored it after the change's own discard.
// A first render keeps a stored document.
func TestFreshRenderReplacesAStoredDocument(t *testing.T) {
	t.Parallel()
	e, w, _ := setup(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	stale := []byte("%PDF-1.3 rendered before the change")
	if _, err := e.Pool.Exec(e.Ctx, `INSERT INTO documents (order_id, kind, pdf, sha256, rendered_at) VALUES ($1, 'unpaid', $2, 'x', now())`, o.ID, stale); err != nil {
		t.Fatal(err)
	}
	stored := func() []byte {
		t.Helper()
		var pdf []byte
		if err := e.Pool.QueryRow(e.Ctx, `SELECT pdf FROM documents WHERE order_id = $1 AND kind = 'unpaid'`, o.ID).Scan(&pdf); err != nil {
			t.Fatal(err)
		}
		return pdf
	}
	if err := process(w, task.Render(o.ID, proforma.KindUnpaid, "")); err != nil {
		t.Fatal(err)
	}
	if string(stored()) != string(stale) {
		t.Fatal("a first render replaced the stored document")
	}
	if err := process(w, task.Render(o.ID, proforma.KindUnpaid, "42")); err != nil {
		t.Fatal(err)
	}
	if got := stored(); string(got) == string(stale) || !strings.Contains(lunastest.PDFText(t, got), "INV-") {
		t.Errorf("after a fresh render the stored document is %q…", got[:min(len(got), 40)])
	}
}
