// Command lunas runs the payment-gateway webhook and invoice orchestration
// service: `lunas all | serve | work | migrate | users | audit | version`. All wiring lives
// here, in run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
	_ "time/tzdata" // Asia/Jakarta even in a minimal container image

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	acct "github.com/lunas-id/lunas/account" // the test files declare types account and order
	"github.com/lunas-id/lunas/api"
	"github.com/lunas-id/lunas/audit"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/config"
	"github.com/lunas-id/lunas/console"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/gateway/ovo"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/manual"
	ord "github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/paylink"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/redisconn"
	"github.com/lunas-id/lunas/report"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/sending"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/subscription"
	"github.com/lunas-id/lunas/tax"
	"github.com/lunas-id/lunas/taxbook"
	"github.com/lunas-id/lunas/templates"
	billing "github.com/lunas-id/lunas/usage" // main already has a usage text
	"github.com/lunas-id/lunas/webhook"
	"github.com/lunas-id/lunas/worker"
)

// gatewayTimeout bounds every call to a payment gateway.
const gatewayTimeout = 20 * time.Second

const usage = `usage: lunas <command>

commands:
  all       HTTP API + webhooks, outbox relay, asynq worker and sweeper in one process
  serve     HTTP API + webhooks + outbox relay (stateless; run many)
  work      asynq worker + sweeper + outbox relay (run many)
  migrate   apply database migrations (creating the database if needed) and exit
  users     add|list|disable|reset finance people (lunas users for flags)
  audit     check the books (balances, credits, confirmations, postings); exit 1 on any discrepancy; --json
  version   print the version, VCS revision and commit time
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lunas:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "users" {
		return runUsers(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || (len(args) > 1 && !(args[0] == "audit" && len(args) == 2 && args[1] == "--json")) {
		fmt.Fprint(stderr, usage)
		return errors.New("expected one command")
	}
	cmd := args[0]
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, versionLine(debug.ReadBuildInfo))
		return nil
	case "audit":
		return runAudit(ctx, getenv, len(args) == 2, stdout)
	case "all", "serve", "work", "migrate":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// go-redis (under asynq) logs dial failures through a package logger of
	// its own; route it into ours so an outage is logged once per line, as JSON.
	redisLoggerOnce.Do(func() { redis.SetLogger(redisLogger{log}) })
	fmt.Fprintf(stderr, "%s\nlunas %s with LUNAS_ENV=%s — effective configuration:\n", versionLine(debug.ReadBuildInfo), cmd, cfg.Env)
	cfg.Print(stderr)

	if cmd == "migrate" || cfg.AutoMigrate {
		if err := store.Migrate(ctx, cfg.DatabaseURL, log); err != nil {
			return err
		}
		if cmd == "migrate" {
			log.Info("migrations are up to date")
			return nil
		}
	}
	// Worker pools (one asynq server each) and the connections they may
	// hold at once: a mail task holds one through its SMTP exchange, so a
	// stalled SMTP server must not take the connections settlement needs.
	conns := 40
	var pools []worker.Pool
	if cmd == "all" || cmd == "work" {
		if pools, err = worker.Pools(cfg.WorkerConcurrency, cfg.WorkerPools); err != nil {
			return err
		}
		total := 0
		for _, p := range pools {
			total += p.Concurrency
		}
		conns = max(conns, total+20)
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL, int32(conns))
	if err != nil {
		return err
	}
	defer pool.Close()

	var clk clock.Clock = clock.Wall{}
	var testClock *clock.Test
	if cfg.Env == config.EnvTest {
		// The test clock reads its offset at every Now, on connections of
		// its own (see clock.Test).
		clockPool, err := store.Open(ctx, cfg.DatabaseURL, 4)
		if err != nil {
			return err
		}
		defer clockPool.Close()
		if testClock, err = clock.NewTest(ctx, clockPool.Pool); err != nil {
			return err
		}
		clk = testClock
		go testClock.Run(ctx, 200*time.Millisecond)
		log.Warn("LUNAS_ENV=test: the service clock can be set through PUT /v1/test/clock")
	}

	redisOpt, err := redisconn.Parse(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("LUNAS_REDIS_URL: %w", err)
	}
	client := asynq.NewClient(redisOpt)
	defer func() { _ = client.Close() }()
	deployment, err := store.DeploymentID(ctx, pool)
	if err != nil {
		return err
	}
	rc, _ := redisOpt.MakeRedisClient().(redis.UniversalClient)
	if rc != nil {
		defer func() { _ = rc.Close() }()
		if err := redisconn.Claim(ctx, rc, deployment, databaseIdentity(cfg.DatabaseURL)); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newMetrics(reg, pool, clk)

	gateways := map[string]payment.Gateway{}
	if cfg.MidtransServerKey != "" {
		mc, err := midtrans.New(cfg.MidtransServerKey, cfg.MidtransEnv, cfg.MidtransBaseURL, gatewayTimeout)
		if err != nil {
			return err
		}
		gateways[gateway.ProviderMidtrans] = mc
	} else {
		log.Warn("MIDTRANS_SERVER_KEY is unset: Midtrans methods are refused and /webhooks/midtrans answers 401")
	}
	if cfg.XenditSecretKey != "" {
		gateways[gateway.ProviderOVO] = ovo.New(cfg.XenditSecretKey, cfg.XenditBaseURL, gatewayTimeout)
	} else {
		log.Warn("XENDIT_SECRET_KEY is unset: OVO payments are refused")
	}
	cat := invoice.Catalog{WAMinTopUp: cfg.WAMinTopUp, WATopUpStep: cfg.WATopUpStep, MUVPackSize: cfg.MUVPackSize, MUVPackPrice: cfg.MUVPackPrice,
		VATRate: cfg.VATRate, CardFeeRate: cfg.CardFeeRate, TaxMode: tax.Mode(cfg.TaxInvoiceMode), PPh23Rate: cfg.PPh23Rate}
	orders := ord.New(pool, clk, cfg.Timezone, log)
	accounts := acct.New(pool, clk, log)
	invoices := invoice.New(pool, orders, cat, log)
	taxes := taxbook.New(pool, clk, cfg.Timezone, taxbook.Seller{NPWP: cfg.SellerNPWP, NITKU: cfg.SellerNITKU}, log)
	// The pay page's links (pay_url, qr_url), signed like the PDF links.
	links := paylink.New(cfg.SigningKey, cfg.PublicURL)
	payments := payment.New(payment.Options{
		Pool: pool, Orders: orders, Invoices: invoices, Logger: log, Gateways: gateways,
		Links: links, QRISAcquirer: cfg.QRISAcquirer,
		Decoders:       map[string]payment.Decoder{gateway.ProviderMidtrans: midtrans.DecodeCallback, gateway.ProviderOVO: ovo.Decode},
		Bank:           payment.BankAccount(cfg.BankAccount),
		ReconcileAfter: cfg.ReconcileAfter,
	})
	payments.Settled = m.settled
	payments.Flagged = m.flagged
	reviews := review.New(pool, orders, payments, log)
	renderer, err := proforma.NewRenderer()
	if err != nil {
		return err
	}
	if cfg.SellerLogo != "" {
		img, err := os.ReadFile(cfg.SellerLogo)
		if err != nil {
			return fmt.Errorf("LUNAS_SELLER_LOGO: %w", err)
		}
		if err := renderer.SetLogo(img); err != nil {
			return fmt.Errorf("LUNAS_SELLER_LOGO: %w", err)
		}
	}
	docs := proforma.NewDocuments(proforma.Options{Pool: pool, Clock: clk, Renderer: renderer,
		Seller: proforma.Seller{Name: cfg.SellerName, Address: cfg.SellerAddress, NPWP: cfg.SellerNPWP}, Location: cfg.Timezone,
		VATRate: cat.VATRate, CardFeeRate: cat.CardFeeRate,
		PayURL: links.PayURL, Bank: proforma.BankAccount{Bank: cfg.BankAccount.Bank, Number: cfg.BankAccount.Number, Holder: cfg.BankAccount.Holder}})
	docs.Rendered = m.pdfRendered
	signer := proforma.NewSigner(cfg.SigningKey, clk)
	sealer, err := webhook.NewSealer(cfg.SigningKey)
	if err != nil {
		return err
	}
	hookPolicy := webhook.Policy{Production: cfg.Env == config.EnvProduction, AllowHosts: cfg.WebhookAllowHosts, AllowNets: cfg.WebhookAllowNets}
	hooks := webhook.NewService(pool, clk, sealer, hookPolicy, log)
	m.registerWebhooks(reg, pool, clk)

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	relay := outbox.New(pool, client, clk, log)
	relay.Relayed = m.relayed
	relay.Stale = cfg.OutboxRequeueAfter
	relay.Inspector = asynq.NewInspector(redisOpt)
	defer func() { _ = relay.Inspector.Close() }()
	m.watchQueues(reg, relay.Inspector)
	relay.Redriven = m.redriven
	// Every transaction that writes outbox rows kicks this process's relay
	// when it commits (outbox.Enqueue raises outbox.Signal).
	pool.OnCommit(outbox.Signal, relay.Kick)
	spend := billing.New(billing.Options{Pool: pool, Clock: clk, Prices: cfg.WAPrices, Location: cfg.Timezone,
		LowBalanceRatio: cfg.LowBalanceRatio, Logger: log})
	spend.Alerted = m.lowBalanceAlert
	subs := subscription.New(pool, invoices, clk, cfg.Timezone, log)
	var wa sending.Sender
	if cfg.WhatsAppURL != "" {
		wa = sending.NewWhatsApp(cfg.WhatsAppURL, cfg.WhatsAppToken, 10*time.Second)
	}
	sendings := sending.New(sending.Options{Pool: pool, Orders: orders, Logger: log, WhatsApp: wa, Interval: cfg.WhatsAppInterval(),
		Signer: signer, PublicURL: cfg.PublicURL, Links: links})
	wg.Add(1)
	go func() { defer wg.Done(); relay.Run(ctx) }()

	errc := make(chan error, 3)
	if rc != nil {
		// Claimed again every 30 s: a Redis that lost its data may be
		// claimed by another deployment meanwhile; then this one stops.
		go func() {
			if err := redisconn.Guard(ctx, rc, deployment, databaseIdentity(cfg.DatabaseURL), 30*time.Second); err != nil {
				log.Error("stopping: the Redis database now serves another deployment", "err", err)
				errc <- err
			}
		}()
	}
	if addr := cfg.PprofAddr; addr != "" {
		// Profiling for operators and the load run, on its own listener,
		// never on the public one.
		pp := &http.Server{Addr: addr, Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = pp.ListenAndServe() }()
		defer pp.Close()
		log.Info("pprof listening", "addr", addr)
	}
	if addr := cfg.MetricsAddr; addr != "" {
		// /metrics for the scraper on an operator address, never on the
		// public listener (which serves it only outside production, and
		// only without this address).
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", api.MetricsHandler(reg))
		ms := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("LUNAS_METRICS_ADDR %s: %w", addr, err)
		}
		go func() { _ = ms.Serve(ln) }()
		defer ms.Close()
		log.Info("metrics listening", "addr", addr)
	}
	if cmd == "all" || cmd == "work" {
		tpl, err := templates.Parse()
		if err != nil {
			return err
		}
		transport, err := mail.NewTransport(cfg.SMTPURL, cfg.SMTPTimeout)
		if err != nil {
			return err
		}
		defer transport.Close()
		mailer := mail.New(mail.Options{Pool: pool, Clock: clk, Documents: docs, Templates: tpl, Transport: transport, Signer: signer, Links: links,
			From: cfg.MailFrom, PublicURL: cfg.PublicURL, Location: cfg.Timezone, Logger: log})
		mailer.Result = m.mailResult
		w := worker.New(pool, orders, payments, reviews, docs, mailer, log, m)
		w.Subscriptions, w.Sendings = subs, sendings
		w.Usage = spend
		w.Tax = taxes
		servers := make([]*asynq.Server, 0, len(pools))
		// Shut the pools down together: each waits for its in-flight tasks
		// (ShutdownTimeout), and one after another would add up.
		defer func() {
			var sw sync.WaitGroup
			for _, srv := range servers {
				sw.Add(1)
				go func() { defer sw.Done(); srv.Shutdown() }()
			}
			sw.Wait()
		}()
		mux := w.Mux()
		for _, p := range pools {
			srv := worker.NewServer(redisOpt, p, log)
			if err := srv.Start(mux); err != nil {
				return fmt.Errorf("worker pool %s: %w", p.Name, err)
			}
			servers = append(servers, srv)
			log.Info("worker pool started", "pool", p.Name, "queue", p.Queue, "concurrency", p.Concurrency)
		}
		wg.Add(1)
		go func() { defer wg.Done(); w.Sweep(ctx, cfg.SweepInterval) }()
		log.Info("worker started", "pools", len(pools), "sweep_interval", cfg.SweepInterval.String())
		// Outbound webhooks: their own pool of senders, apart from the asynq
		// worker, so a slow endpoint never holds settlement or mail.
		sender := webhook.NewSender(webhook.SenderOptions{Pool: pool, Clock: clk, Sealer: sealer, Policy: hookPolicy,
			Renderer: ord.Views{Location: cfg.Timezone, Links: links}, Location: cfg.Timezone, Logger: log,
			Concurrency: cfg.WebhookConcurrency, PerEndpoint: cfg.WebhookEndpointConcurrency})
		sender.Outcome = m.webhookOutcome
		wg.Add(1)
		go func() { defer wg.Done(); sender.Run(ctx) }()
	}
	if cmd == "all" || cmd == "serve" {
		var tc api.TestClock
		if testClock != nil {
			tc = testClock
		}
		// The finance console, on the same services as the API (recurring
		// billing through the adapters in console_billing.go).
		reports := report.New(pool, clk, cfg.Timezone)
		fourEyes := manual.New(manual.Options{Pool: pool, Clock: clk, Accounts: accounts, Usage: spend, Threshold: cfg.ApprovalThreshold})
		finance, err := console.New(console.Options{Pool: pool, Accounts: accounts, Orders: orders, Payments: payments, Reviews: reviews, Documents: docs,
			Usage: spend, People: people.NewUsers(pool, people.Options{Clock: clk}), Audit: people.NewAuditLog(pool, clk),
			Manual: fourEyes,
			Clock:  clk, Location: cfg.Timezone, Logger: log, PublicURL: cfg.PublicURL,
			Subscriptions: consoleSubscriptions{subs}, Overdue: consoleReports{reports}, Sendings: consoleSendings{sendings},
			Tax: taxes})
		if err != nil {
			return err
		}
		handler := api.New(api.Options{
			Pool: pool, Accounts: accounts, Orders: orders, Invoices: invoices, Payments: payments, Reviews: reviews, Documents: docs, Signer: signer, Tokens: cfg.APITokens, Location: cfg.Timezone, Logger: log,
			Registry: reg, Database: pool, Redis: redisPinger{client}, TestClock: tc,
			PublicMetrics: publicMetrics(cfg),
			MidtransKey:   cfg.MidtransServerKey, OVOCallbackToken: cfg.OVOCallbackToken, PublicURL: cfg.PublicURL,
			WAAppSecret: cfg.WAAppSecret, WAVerifyToken: cfg.WAVerifyToken,
			PayLinks: links, SellerName: cfg.SellerName, CardScript: cardScript(cfg), CardClientKey: cfg.MidtransClientKey, CardEnv: cfg.MidtransEnv,
			Usage: spend, Webhooks: hooks, Console: finance, Manual: fourEyes, Audit: people.NewAuditLog(pool, clk),
			Subscriptions: subs, Reports: reports, Sendings: sendings,
			Tax:        taxes,
			DBDeadline: cfg.DBDeadline, GatewayTimeout: gatewayTimeout, Liveness: store.LivenessOf(pool),
		})
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
		}
		hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
			WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		defer func() {
			sctx, c := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			defer c()
			_ = hs.Shutdown(sctx) // stop taking requests, finish in-flight ones
		}()
		log.Info("listening", "addr", ln.Addr().String())
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-errc:
		return err
	}
}

// runAudit checks the books of the database LUNAS_DATABASE_URL names and
// prints what it checked and every discrepancy; an error (exit 1) when
// the books do not hold. It needs PostgreSQL only.
func runAudit(ctx context.Context, getenv func(string) string, asJSON bool, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	rep, err := audit.Run(ctx, pool)
	if err != nil {
		return err
	}
	if asJSON {
		if err := rep.JSON(stdout); err != nil {
			return err
		}
	} else {
		rep.Print(stdout)
	}
	if !rep.OK() {
		return fmt.Errorf("audit: %d discrepancies", len(rep.Discrepancies))
	}
	return nil
}

// redisLoggerOnce guards go-redis's package logger, which is global to the
// process (tests run several lunas "processes" in one): the one global here
// mirrors the library's own.
var redisLoggerOnce sync.Once //nolint:gochecknoglobals // go-redis's logger is process-wide

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.Debug(fmt.Sprintf(format, v...), "component", "go-redis")
}

// publicMetrics says whether the public listener serves /metrics: never in
// production (anyone could read the traffic's shape), nor when an operator
// address serves it (LUNAS_METRICS_ADDR); a development stack without one
// keeps it where its tools look.
func publicMetrics(cfg *config.Config) bool {
	return cfg.MetricsAddr == "" && cfg.Env != config.EnvProduction
}

func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// databaseIdentity is host:port/dbname of a database URL, without credentials.
func databaseIdentity(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	return u.Host + u.Path
}

type redisPinger struct{ c *asynq.Client }

func (r redisPinger) Ping(ctx context.Context) error { return r.c.Ping() }

// cardScript is Midtrans's card-tokenizing script on the configured API
// host (a fake's stand-in under MIDTRANS_BASE_URL), when the pay page may
// offer card: a client key and a server key to charge with.
func cardScript(cfg *config.Config) string {
	if cfg.MidtransClientKey == "" || cfg.MidtransServerKey == "" {
		return ""
	}
	return cfg.MidtransBaseURL + "/v2/assets/js/midtrans-new-3ds.min.js"
}
