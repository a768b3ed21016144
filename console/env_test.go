package console_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/shopspring/decimal"

	acc "github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/api"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/console"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/mailtest"
	"github.com/lunas-id/lunas/internal/midtranstest"
	"github.com/lunas-id/lunas/internal/peopletest"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/manual"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tariff"
	"github.com/lunas-id/lunas/taxbook"
	"github.com/lunas-id/lunas/templates"
	"github.com/lunas-id/lunas/usage"
	"github.com/lunas-id/lunas/worker"
)

const (
	appToken     = "console-test-app-token"
	financeToken = "console-test-finance-token"
	serverKey    = "SB-Mid-server-CONSOLE_TEST"
	// approvalThreshold is LUNAS_APPROVAL_THRESHOLD's default.
	approvalThreshold = 5_000_000
)

var jakarta = func() *time.Location { l, _ := time.LoadLocation("Asia/Jakarta"); return l }()

// listen takes a loopback port in 25000–25999, the range this package's
// test servers keep to.
func listen(t testing.TB) net.Listener {
	t.Helper()
	for range 300 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 25000+rand.IntN(1000)))
		if err == nil {
			return ln
		}
	}
	t.Fatal("no free port in 25000–25999")
	return nil
}

// env is lunas in this process with the real services: the API with the
// console mounted, the outbox relay and an asynq worker (so an accepted
// review really renders the PAID proforma and mails the confirmation),
// against a fresh PostgreSQL database and Redis; fake Midtrans and an SMTP
// sink at the edge. Several envs may share one database (two serve
// processes).
type env struct {
	t        *testing.T
	base     string
	pool     *store.DB
	dsn      string
	clock    *clock.Fixed
	accounts *acc.Service
	orders   *order.Service
	invoices *invoice.Service
	payments *payment.Service
	reviews  *review.Service
	docs     *proforma.Documents
	usage    *usage.Service
	midtrans *midtranstest.Server
	sink     *mailtest.Sink
	logs     lunastest.SyncBuffer
	reports  *fakeReports
	sendings *fakeSendings
	worker   bool
	people   *people.Users
	auditLog *people.AuditLog
	real     *peopletest.RealClock // the authenticators' time
	console  *console.Server
	manual   *manual.Service
}

type envOptions struct {
	dsn       string // share this database (a second serve process); "" creates one
	clock     *clock.Fixed
	worker    bool // run the relay and a worker
	publicURL string
	reports   bool              // wire test implementations of console.OverdueReports, Subscriptions and Sendings
	tax       bool              // wire the tax paperwork (taxbook)
	tokens    map[string]string // default: appToken and financeToken
}

type noMetrics struct{}

func (noMetrics) Task(string, string, time.Duration) {}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, clock: o.clock}
	if e.clock == nil {
		// Now, held still: times the database stamps itself (received_at,
		// sent_at) then agree with the service clock on the pages.
		e.clock = clock.NewFixed(time.Now().Truncate(time.Second))
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if o.dsn == "" {
		e.pool, e.dsn = lunastest.Pool(t)
	} else {
		e.dsn = o.dsn
		pool, err := store.Open(ctx, o.dsn, 10)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		e.pool = pool
	}
	log := slogTo(&e.logs) // printed when the test fails
	e.midtrans = midtranstest.New(serverKey)
	mt := httptest.NewUnstartedServer(e.midtrans)
	mt.Listener.Close()
	mt.Listener = listen(t)
	mt.Start()
	t.Cleanup(mt.Close)
	mc, err := midtrans.New(serverKey, "sandbox", mt.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bank := payment.BankAccount{Bank: "BCA", Number: "8881234567", Holder: "PT Lunas Indonesia"}
	e.accounts = acc.New(e.pool, e.clock, log)
	e.orders = order.New(e.pool, e.clock, jakarta, log)
	e.invoices = invoice.New(e.pool, e.orders, invoice.DefaultCatalog(), log)
	e.payments = payment.New(payment.Options{Pool: e.pool, Orders: e.orders, Invoices: e.invoices, Logger: log, Bank: bank,
		Gateways: map[string]payment.Gateway{gateway.ProviderMidtrans: mc},
		Decoders: map[string]payment.Decoder{gateway.ProviderMidtrans: midtrans.DecodeCallback}})
	e.reviews = review.New(e.pool, e.orders, e.payments, log)
	renderer, err := proforma.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	cat := invoice.DefaultCatalog()
	e.docs = proforma.NewDocuments(proforma.Options{Pool: e.pool, Clock: e.clock, Renderer: renderer,
		Seller: proforma.Seller{Name: "PT Lunas Indonesia", Address: "Jakarta", NPWP: "01.234.567.8-901.000"}, Location: jakarta,
		VATRate: cat.VATRate, CardFeeRate: cat.CardFeeRate})
	prices, err := tariff.Parse(tariff.Default)
	if err != nil {
		t.Fatal(err)
	}
	e.usage = usage.New(usage.Options{Pool: e.pool, Clock: e.clock, Prices: prices, Location: jakarta, LowBalanceRatio: decimal.RequireFromString("0.4"), Logger: log})
	signer := proforma.NewSigner("console-test-signing-key", e.clock)

	ln := listen(t)
	e.base = "http://" + ln.Addr().String()
	e.midtrans.NotifyURL = e.base + "/webhooks/midtrans"
	if o.publicURL == "" {
		o.publicURL = e.base
	}
	if o.worker {
		e.startWorker(ctx, log, signer)
	}
	e.worker = o.worker
	if o.tokens == nil {
		o.tokens = map[string]string{appToken: "app", financeToken: "finance"}
	}
	e.real = &peopletest.RealClock{}
	e.people = people.NewUsers(e.pool, people.Options{Clock: e.clock, RealNow: e.real.Now})
	e.auditLog = people.NewAuditLog(e.pool, e.clock)
	e.manual = manual.New(manual.Options{Pool: e.pool, Clock: e.clock, Accounts: e.accounts, Usage: e.usage, Threshold: approvalThreshold})
	copts := console.Options{Pool: e.pool, Accounts: e.accounts, Orders: e.orders, Payments: e.payments, Reviews: e.reviews, Documents: e.docs, Usage: e.usage,
		People: e.people, Audit: e.auditLog, Manual: e.manual, Clock: e.clock, Location: jakarta, Logger: log, PublicURL: o.publicURL}
	if o.reports {
		e.reports = &fakeReports{}
		copts.Overdue = e.reports
		copts.Subscriptions = fakeSubscriptions{}
		e.sendings = &fakeSendings{}
		copts.Sendings = e.sendings
	}
	if o.tax {
		copts.Tax = taxbook.New(e.pool, e.clock, jakarta, taxbook.Seller{NPWP: "01.234.567.8-901.000"}, log)
	}
	con, err := console.New(copts)
	if err != nil {
		t.Fatal(err)
	}
	e.console = con
	h := api.New(api.Options{Pool: e.pool, Accounts: e.accounts, Orders: e.orders, Invoices: e.invoices, Payments: e.payments, Reviews: e.reviews, Documents: e.docs, Signer: signer,
		Tokens: o.tokens, Location: jakarta, Logger: log, MidtransKey: serverKey,
		PublicURL: o.publicURL, Usage: e.usage, Console: con, Manual: e.manual, Audit: e.auditLog, Database: e.pool, Redis: okPinger{}})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	t.Cleanup(func() {
		if t.Failed() && e.logs.String() != "" {
			t.Logf("lunas logs:\n%s", tail(e.logs.String(), 20000))
		}
	})
	return e
}

type okPinger struct{}

func (okPinger) Ping(context.Context) error { return nil }

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// startWorker runs the outbox relay and an asynq worker with mail to the
// SMTP sink, as `lunas work` does.
func (e *env) startWorker(ctx context.Context, log *slog.Logger, signer proforma.Signer) {
	t := e.t
	smtpLn := listen(t)
	addr := smtpLn.Addr().String()
	smtpLn.Close()
	sink, err := mailtest.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Stop)
	e.sink = sink
	tpl, err := templates.Parse()
	if err != nil {
		t.Fatal(err)
	}
	transport, err := mail.NewTransport("smtp://"+sink.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { transport.Close() })
	mailer := mail.New(mail.Options{Pool: e.pool, Clock: e.clock, Documents: e.docs, Templates: tpl, Transport: transport, Signer: signer,
		From: "lunas <billing@lunas.test>", PublicURL: e.base, Location: jakarta, Logger: log})
	redisOpt, err := asynq.ParseRedisURI(lunastest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	relay := outbox.New(e.pool, client, e.clock, log)
	e.pool.OnCommit(outbox.Signal, relay.Kick)
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	w := worker.New(e.pool, e.orders, e.payments, e.reviews, e.docs, mailer, log, noMetrics{})
	pools, err := worker.Pools(4, nil)
	if err != nil {
		t.Fatal(err)
	}
	var servers []*asynq.Server
	for _, p := range pools {
		srv := worker.NewServer(redisOpt, p, log)
		if err := srv.Start(w.Mux()); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, srv)
	}
	t.Cleanup(func() {
		for _, srv := range servers {
			srv.Shutdown()
		}
		stop()
		<-done
	})
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fakeReports is a test implementation of console.OverdueReports: the
// report package that renders the real files is not on this branch.
type fakeReports struct{ asked []console.OverdueFilter }

var fakeXLSX = []byte("PK\x03\x04 console test workbook: sheet Overdue")

func (f *fakeReports) Overdue(_ context.Context, flt console.OverdueFilter) (console.OverdueReport, error) {
	f.asked = append(f.asked, flt)
	rows := []console.OverdueRow{{InvoiceNumber: "INV-2026-000101", OrderID: "ord_sub1", SubscriptionID: "sub_1", AccountID: "isp-merdeka",
		Customer: "Budi Santoso", PlanID: "home-50", Period: "2026-10", DueDate: "2026-10-20", Amount: 333000, DaysOverdue: 34}}
	return console.OverdueReport{AsOf: "2026-11-23", Rows: rows, Count: 1, Amount: 333000}, nil
}

func (f *fakeReports) WriteCSV(_ context.Context, w io.Writer, _ console.OverdueFilter) error {
	_, err := io.WriteString(w, "invoice_number,amount\nINV-2026-000101,333000\n")
	return err
}

func (f *fakeReports) WriteXLSX(_ context.Context, w io.Writer, _ console.OverdueFilter) error {
	_, err := w.Write(fakeXLSX)
	return err
}

// fakeSubscriptions lists one subscription (the subscription package is
// not on this branch).
type fakeSubscriptions struct{}

func (fakeSubscriptions) List(context.Context, console.SubscriptionFilter) ([]console.Subscription, error) {
	return []console.Subscription{{ID: "sub_1", AccountID: "isp-merdeka", PlanID: "home-50", Status: "active", CustomerName: "Budi Santoso",
		CustomerEmail: "budi@merdeka.example", CustomerPhone: "+6281234567890", DueDay: 20, NextDueDate: "2026-12-20", NextIssueDate: "2026-12-13"}}, nil
}

// fakeSendings is a sending that advances one message per look, so the
// page's polling script has progress to show.
type fakeSendings struct {
	mu      sync.Mutex
	started []console.SendingRequest
	looks   int
}

func (f *fakeSendings) Start(_ context.Context, actor string, req console.SendingRequest) (console.Sending, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, req)
	f.looks = 0
	return console.Sending{ID: "snd_1", Status: "running", Total: 3}, nil
}

func (f *fakeSendings) sending() console.Sending {
	s := console.Sending{ID: "snd_1", Status: "running", Total: 3, Sent: min(f.looks, 3), CreatedAt: time.Now()}
	if s.Sent == 3 {
		s.Status = "done"
	}
	return s
}

func (f *fakeSendings) Get(context.Context, string) (console.Sending, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.looks++
	return f.sending(), nil
}

func (f *fakeSendings) Recent(context.Context, int) ([]console.Sending, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.started) == 0 {
		return nil, nil
	}
	return []console.Sending{f.sending()}, nil
}

// receipt is a PNG that looks like a bank transfer receipt.
func receipt(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 360, 240))
	for y := range 240 {
		for x := range 360 {
			c := color.RGBA{250, 250, 247, 255}
			switch {
			case y < 40:
				c = color.RGBA{0, 84, 166, 255} // the bank's header
			case y > 60 && y < 70 && x > 20 && x < 300, y > 90 && y < 100 && x > 20 && x < 220,
				y > 120 && y < 130 && x > 20 && x < 260:
				c = color.RGBA{90, 90, 90, 255}
			case y > 170 && y < 195 && x > 20 && x < 200:
				c = color.RGBA{20, 120, 60, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// inReview creates account, an order of wa_balance and its proof: the
// order is in review.
func (e *env) inReview(account, email string, amount int64, proof []byte) *order.Order {
	e.t.Helper()
	ctx := context.Background()
	if _, _, err := e.accounts.Put(ctx, account, acc.Input{Name: "PT " + strings.ToUpper(account[:1]) + account[1:]}); err != nil {
		e.t.Fatal(err)
	}
	o := e.confirmed(account, email, amount)
	o, err := e.reviews.SubmitProof(ctx, o.ID, review.ProofInput{File: proof, Amount: o.Total, TransferredAt: e.clock.Now().Add(-20 * time.Minute),
		SenderBank: "BCA", SenderName: "Sari Dewi"})
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

func (e *env) confirmed(account, email string, amount int64) *order.Order {
	e.t.Helper()
	ctx := context.Background()
	o, err := e.invoices.CreateOrder(ctx, invoice.CreateInput{AccountID: account, Requester: order.Requester{Name: "Sari Dewi", Email: email},
		Items: []order.ItemRequest{{Product: "wa_balance", Quantity: amount}}})
	if err != nil {
		e.t.Fatal(err)
	}
	if o, err = e.invoices.Confirm(ctx, o.ID); err != nil {
		e.t.Fatal(err)
	}
	return o
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	lunastest.Eventually(t, d, what, cond)
}

// flagged makes Midtrans report a VA payment of another amount than the
// attempt's for a confirmed order of account: the callback arrives at the
// webhook and the event is flagged amount_mismatch (applied by the worker,
// or here when the env has none). It returns the event's id.
func (e *env) flagged(account string) int64 {
	e.t.Helper()
	ctx := context.Background()
	if _, _, err := e.accounts.Put(ctx, account, acc.Input{Name: "PT " + account}); err != nil {
		e.t.Fatal(err)
	}
	o := e.confirmed(account, "budi@"+account+".example", 1000000)
	a, err := e.payments.CreatePayment(ctx, o.ID, payment.PaymentInput{Method: "bca_va"})
	if err != nil {
		e.t.Fatal(err)
	}
	short := a.Amount - 10000
	body, err := e.midtrans.Notification(a.ID, "settlement", "", &short)
	if err != nil {
		e.t.Fatal(err)
	}
	if code, err := e.midtrans.Send(ctx, body); err != nil || code != 200 {
		e.t.Fatalf("webhook: %d %v", code, err)
	}
	var id int64
	if err := e.pool.QueryRow(ctx, `SELECT id FROM gateway_events WHERE order_id IS NULL OR order_id = $1 ORDER BY id DESC LIMIT 1`, o.ID).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	if !e.worker {
		if err := e.payments.ApplyEvent(ctx, id, fmt.Sprintf("apply:%d", id)); err != nil {
			e.t.Fatal(err)
		}
	}
	eventually(e.t, 20*time.Second, "the event to be flagged", func() bool {
		return e.count(`SELECT count(*) FROM gateway_events WHERE id = $1 AND flag = 'amount_mismatch'`, id) == 1
	})
	return id
}

// challenged opens a card payment that Midtrans holds in challenge.
func (e *env) challenged(account string) *order.Order {
	e.t.Helper()
	ctx := context.Background()
	if _, _, err := e.accounts.Put(ctx, account, acc.Input{Name: "PT " + account}); err != nil {
		e.t.Fatal(err)
	}
	o := e.confirmed(account, "rina@"+account+".example", 1000000)
	a, err := e.payments.CreatePayment(ctx, o.ID, payment.PaymentInput{Method: "credit_card", CardToken: "tok-3ds"})
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := e.midtrans.Notification(a.ID, "capture", "challenge", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if code, err := e.midtrans.Send(ctx, body); err != nil || code != 200 {
		e.t.Fatalf("webhook: %d %v", code, err)
	}
	var id int64
	if err := e.pool.QueryRow(ctx, `SELECT max(id) FROM gateway_events`).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	if !e.worker {
		if err := e.payments.ApplyEvent(ctx, id, fmt.Sprintf("apply:%d", id)); err != nil {
			e.t.Fatal(err)
		}
	}
	eventually(e.t, 20*time.Second, "the challenge to be recorded", func() bool {
		return e.count(`SELECT count(*) FROM payment_attempts WHERE id = $1 AND details->>'fraud_status' = 'challenge'`, a.ID) == 1
	})
	return o
}
