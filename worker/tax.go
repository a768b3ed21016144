package worker

import "context"

// sweepTax is the sweep's part for PPh 23 withholding: a paid order whose
// slip is 30 days late is told to the app once (withholding.slip_missing).
func (w *Worker) sweepTax(ctx context.Context) {
	if w.Tax == nil {
		return
	}
	if _, err := w.Tax.NotifyMissing(ctx); err != nil && ctx.Err() == nil {
		w.log.Warn("sweep: withholding slips", "err", err)
	}
}
