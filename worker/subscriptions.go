package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/lunas-id/lunas/sending"
)

// runSending works through a bulk sending (sending:run); every part of it
// resumes where it stopped, so a retry after any error is safe.
func (w *Worker) runSending(ctx context.Context, t *asynq.Task) error {
	p, err := payload(t)
	if err != nil {
		return err
	}
	if w.Sendings == nil {
		return fmt.Errorf("%w: bulk sending is not wired in this process", asynq.SkipRetry)
	}
	err = w.Sendings.Run(ctx, p.SendingID, taskID(ctx))
	if errors.Is(err, sending.ErrPoison) {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	return err
}

// sweepSubscriptions is the sweep's part for recurring billing: the issuer
// (every invoice whose issue moment has come, once) and the revival of
// sendings whose runs died.
func (w *Worker) sweepSubscriptions(ctx context.Context) {
	if w.Subscriptions != nil {
		if _, err := w.Subscriptions.IssueDue(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("sweep: subscription invoices", "err", err)
		}
	}
	if _, err := w.orders.NotifyOverdue(ctx); err != nil && ctx.Err() == nil {
		w.log.Warn("sweep: overdue invoices", "err", err)
	}
	if w.Sendings != nil {
		if _, err := w.Sendings.Sweep(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("sweep: sendings", "err", err)
		}
	}
}
