// Package worker runs lunas's background work: the asynq handlers for
// payment:apply, payment:cancel, invoice:expire, pdf:render and mail:send,
// and the sweeper that is the safety net for every deadline.
//
// Handlers decide retries on purpose: nil when done (or nothing to do),
// asynq.SkipRetry for poison that no retry can fix, a plain error for
// transient failures (database, SMTP, gateway), which asynq retries with
// backoff.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/sending"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/subscription"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/taxbook"
	"github.com/lunas-id/lunas/usage"
)

// Metrics receives what the worker measures; cmd/lunas backs it with Prometheus.
type Metrics interface {
	Task(taskType, outcome string, d time.Duration)
}

// Worker holds the handlers' dependencies.
type Worker struct {
	pool     *store.DB // marks the outbox rows of the tasks it does itself
	orders   *order.Service
	payments *payment.Service
	reviews  *review.Service
	docs     *proforma.Documents
	mail     *mail.Service
	log      *slog.Logger
	metrics  Metrics

	// Subscriptions and Sendings are set by cmd/lunas after New (nil:
	// none): the issuer runs in each sweep, sending:run is routed, and
	// stalled sendings are revived (worker/subscriptions.go).
	Subscriptions *subscription.Service
	Sendings      *sending.Service
	// Usage rates WhatsApp status webhooks (wa:rate); set by cmd/lunas
	// after New (nil: the task type is not routed).
	Usage *usage.Service
	// Tax is set by cmd/lunas (nil: none): each sweep tells the app of
	// withholding slips 30 days late (worker/tax.go).
	Tax *taxbook.Service
}

// New returns a worker.
func New(pool *store.DB, orders *order.Service, payments *payment.Service, reviews *review.Service, docs *proforma.Documents, m *mail.Service, log *slog.Logger, metrics Metrics) *Worker {
	return &Worker{pool: pool, orders: orders, payments: payments, reviews: reviews, docs: docs, mail: m, log: log, metrics: metrics}
}

// Mux routes task types to handlers.
func (w *Worker) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(w.measure)
	mux.HandleFunc(task.PaymentApply, w.applyPayment)
	mux.HandleFunc(task.PaymentCancel, w.cancelPayment)
	mux.HandleFunc(task.InvoiceExpire, w.expire)
	mux.HandleFunc(task.PDFRender, w.renderPDF)
	mux.HandleFunc(task.MailSend, w.sendMail)
	mux.HandleFunc(task.SendingRun, w.runSending)
	if w.Usage != nil {
		mux.HandleFunc(task.WARate, w.rateStatuses)
	}
	return mux
}

func (w *Worker) measure(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := next.ProcessTask(ctx, t)
		outcome := "ok"
		if err != nil {
			outcome = "error"
			if errors.Is(err, asynq.SkipRetry) {
				outcome = "poison"
			}
			id, _ := asynq.GetTaskID(ctx)
			w.log.Warn("task failed", "type", t.Type(), "task_id", id, "err", err)
		}
		w.metrics.Task(t.Type(), outcome, time.Since(start))
		return err
	})
}

func payload(t *asynq.Task) (task.Payload, error) {
	p, err := task.Decode(t.Payload())
	if err != nil {
		return p, fmt.Errorf("%w: payload: %v", asynq.SkipRetry, err)
	}
	return p, nil
}

func taskID(ctx context.Context) string {
	id, _ := asynq.GetTaskID(ctx)
	return id
}

func (w *Worker) applyPayment(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	err = w.payments.ApplyEvent(ctx, p.EventID, taskID(ctx))
	if errors.Is(err, payment.ErrPoison) {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	return err
}

// rateStatuses rates one WhatsApp status webhook body (API.md "Billing by
// message"); usage marks the outbox row done.
func (w *Worker) rateStatuses(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	return w.Usage.RateInbox(ctx, p.EventID, taskID(ctx))
}

func (w *Worker) cancelPayment(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	if err := w.payments.CancelAtGateway(ctx, p.AttemptID); err != nil {
		return err
	}
	return outbox.MarkDone(ctx, w.pool, taskID(ctx))
}

func (w *Worker) expire(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	return w.payments.Expire(ctx, p.OrderID, taskID(ctx))
}

func (w *Worker) renderPDF(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	if p.Fresh {
		// After a change of the order (a new price, a reversal): render it
		// as it is now and replace what is stored — a mail may have stored
		// the one it rendered before the change.
		if err := w.docs.Refresh(ctx, p.OrderID, p.Kind); err != nil {
			return err
		}
	} else if _, err := w.docs.Ensure(ctx, p.OrderID, p.Kind); err != nil {
		return err
	}
	return outbox.MarkDone(ctx, w.pool, taskID(ctx))
}

func (w *Worker) sendMail(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	err = w.mail.Send(ctx, p.MailID, taskID(ctx))
	if errors.Is(err, mail.ErrPermanent) {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	return err
}

// RetryDelay backs off from 1 s, doubling to at most 1 min: SMTP or a
// gateway that is down for a while is retried soon after it is back.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	d := time.Second << min(n, 6)
	return min(d, time.Minute)
}

// Pool is one asynq server of a work process: the queue it serves and how
// many of its tasks run at once. Each kind of work has its own pool, so a
// stalled SMTP server fills the mail pool's slots and no other.
type Pool struct {
	Name        string // as named in LUNAS_WORKER_POOLS
	Queue       string
	Concurrency int
}

// Pools returns the work process's pools: critical (payment:apply,
// invoice:expire), mail (mail:send) and default (pdf:render,
// payment:cancel, and anything relayed to the old shared queue). Each runs
// perPool[name] tasks at once when named there (LUNAS_WORKER_POOLS), else
// def (LUNAS_WORKER_CONCURRENCY). An unknown pool name is an error.
func Pools(def int, perPool map[string]int) ([]Pool, error) {
	pools := []Pool{
		{Name: "critical", Queue: task.QueueCritical},
		{Name: "mail", Queue: task.QueueMail},
		{Name: "default", Queue: task.Queue},
	}
	known := map[string]bool{}
	for i := range pools {
		known[pools[i].Name] = true
		pools[i].Concurrency = def
		if n, ok := perPool[pools[i].Name]; ok {
			pools[i].Concurrency = n
		}
	}
	var unknown []string
	for name := range perPool {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("LUNAS_WORKER_POOLS: unknown pool %s (pools are critical, mail, default)", strings.Join(unknown, ", "))
	}
	return pools, nil
}

// NewServer returns the asynq server of one pool. A work process runs one
// per pool (cmd/lunas), all with the same handlers.
func NewServer(redis asynq.RedisConnOpt, p Pool, log *slog.Logger) *asynq.Server {
	return asynq.NewServer(redis, asynq.Config{
		Concurrency:              p.Concurrency,
		Queues:                   map[string]int{p.Queue: 1},
		RetryDelayFunc:           RetryDelay,
		ShutdownTimeout:          20 * time.Second,
		DelayedTaskCheckInterval: time.Second,
		Logger:                   asynqLogger{log.With("pool", p.Name)},
		LogLevel:                 asynq.WarnLevel,
	})
}

// Sweep runs the sweeper every interval until ctx ends: deadlines of
// unpaid orders, the janitor for lost callbacks, old drafts, stale
// reviews. Each part goes on when another fails.
func (w *Worker) Sweep(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		w.SweepOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepOnce runs every part of the sweep once.
func (w *Worker) SweepOnce(ctx context.Context) {
	res, err := w.payments.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		w.log.Warn("sweep: payments", "err", err)
	}
	closed, err := w.orders.CloseDrafts(ctx)
	if err != nil && ctx.Err() == nil {
		w.log.Warn("sweep: drafts", "err", err)
	}
	rejected, err := w.reviews.RejectStale(ctx)
	if err != nil && ctx.Err() == nil {
		w.log.Warn("sweep: reviews", "err", err)
	}
	w.sweepSubscriptions(ctx)
	w.sweepTax(ctx)
	if res.Expired+res.Asked+closed+rejected > 0 {
		w.log.Info("sweep", "expired", res.Expired, "asked_gateway", res.Asked, "closed", closed, "rejected", rejected)
	}
}

type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
