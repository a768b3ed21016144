package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lunas-id/lunas/outbox"
)

// metrics backs the worker's, mailer's and renderer's hooks with Prometheus.
type metrics struct {
	tasks      *prometheus.HistogramVec
	mails      *prometheus.CounterVec
	pdf        prometheus.Histogram
	settlement prometheus.Histogram
	relayedN   prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, pool *pgxpool.Pool) *metrics {
	m := &metrics{
		tasks: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lunas_task_duration_seconds",
			Help: "asynq task durations by type and outcome (count = tasks run).", Buckets: prometheus.DefBuckets}, []string{"type", "outcome"}),
		mails: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lunas_mails_total", Help: "Mail send attempts by outcome."}, []string{"outcome"}),
		pdf: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lunas_pdf_render_seconds", Help: "Proforma PDF render time.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1}}),
		settlement: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lunas_settlement_latency_seconds",
			Help: "From a gateway event's arrival to the order being paid.", Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 60}}),
		relayedN: prometheus.NewCounter(prometheus.CounterOpts{Name: "lunas_outbox_relayed_total", Help: "Outbox rows relayed into asynq."}),
	}
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lunas_outbox_lag_seconds", Help: "Age of the oldest outbox row not yet relayed."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			d, err := outbox.Lag(ctx, pool)
			if err != nil {
				return -1
			}
			return d.Seconds()
		})
	reg.MustRegister(m.tasks, m.mails, m.pdf, m.settlement, m.relayedN, lag)
	return m
}

func (m *metrics) Task(typ, outcome string, d time.Duration) {
	m.tasks.WithLabelValues(typ, outcome).Observe(d.Seconds())
}
func (m *metrics) mailResult(outcome string)   { m.mails.WithLabelValues(outcome).Inc() }
func (m *metrics) pdfRendered(d time.Duration) { m.pdf.Observe(d.Seconds()) }
func (m *metrics) settled(d time.Duration)     { m.settlement.Observe(d.Seconds()) }
func (m *metrics) relayed(n int)               { m.relayedN.Add(float64(n)) }
