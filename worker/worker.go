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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/store"
)

// Metrics receives what the worker measures; cmd/lunas backs it with Prometheus.
type Metrics interface {
	Task(taskType, outcome string, d time.Duration)
}

// Worker holds the handlers' dependencies.
type Worker struct {
	orders  *invoice.Service
	docs    *proforma.Documents
	mail    *mail.Service
	log     *slog.Logger
	metrics Metrics
}

// New returns a worker.
func New(orders *invoice.Service, docs *proforma.Documents, m *mail.Service, log *slog.Logger, metrics Metrics) *Worker {
	return &Worker{orders: orders, docs: docs, mail: m, log: log, metrics: metrics}
}

// Mux routes task types to handlers.
func (w *Worker) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(w.measure)
	mux.HandleFunc(invoice.TaskPaymentApply, w.applyPayment)
	mux.HandleFunc(invoice.TaskPaymentCancel, w.cancelPayment)
	mux.HandleFunc(invoice.TaskInvoiceExpire, w.expire)
	mux.HandleFunc(invoice.TaskPDFRender, w.renderPDF)
	mux.HandleFunc(invoice.TaskMailSend, w.sendMail)
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

func payload(t *asynq.Task) (invoice.TaskPayload, error) {
	var p invoice.TaskPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
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
	err = w.orders.ApplyEvent(ctx, p.EventID, taskID(ctx))
	if errors.Is(err, invoice.ErrPoison) {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	return err
}

func (w *Worker) cancelPayment(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	if err := w.orders.CancelAtGateway(ctx, p.AttemptID); err != nil {
		return err
	}
	return store.MarkDone(ctx, w.orders.Pool(), taskID(ctx))
}

func (w *Worker) expire(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	return w.orders.Expire(ctx, p.OrderID, taskID(ctx))
}

func (w *Worker) renderPDF(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	if _, err := w.docs.Ensure(ctx, p.OrderID, p.Kind); err != nil {
		return err
	}
	return store.MarkDone(ctx, w.orders.Pool(), taskID(ctx))
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

// NewServer returns the asynq server for lunas's queue.
func NewServer(redis asynq.RedisConnOpt, concurrency int, log *slog.Logger) *asynq.Server {
	return asynq.NewServer(redis, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{outbox.QueueCritical: 6, outbox.Queue: 1},
		RetryDelayFunc:           RetryDelay,
		ShutdownTimeout:          20 * time.Second,
		DelayedTaskCheckInterval: time.Second,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
	})
}

// Sweep runs the sweeper every interval until ctx ends.
func (w *Worker) Sweep(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := w.orders.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("sweep", "err", err)
		} else if res.Expired+res.Closed+res.Rejected > 0 {
			w.log.Info("sweep", "expired", res.Expired, "closed", res.Closed, "rejected", res.Rejected)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
