package main

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/outbox"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
	"github.com/lunas-id/lunas/webhook"
)

// metrics backs the worker's, mailer's and renderer's hooks with Prometheus.
type metrics struct {
	tasks      *prometheus.HistogramVec
	mails      *prometheus.CounterVec
	pdf        prometheus.Histogram
	settlement prometheus.Histogram
	relayedN   prometheus.Counter
	flags      *prometheus.CounterVec
	redrives   *prometheus.CounterVec
	alerts     *prometheus.CounterVec
	webhooks   *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, pool *store.DB, clk clock.Clock) *metrics {
	m := &metrics{
		tasks: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lunas_task_duration_seconds",
			Help: "asynq task durations by type and outcome (count = tasks run).", Buckets: prometheus.DefBuckets}, []string{"type", "outcome"}),
		mails: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lunas_mails_total", Help: "Mail send attempts by outcome."}, []string{"outcome"}),
		pdf: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lunas_pdf_render_seconds", Help: "Proforma PDF render time.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1}}),
		settlement: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lunas_settlement_latency_seconds",
			Help: "From a gateway event's arrival to the order being paid.", Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 60}}),
		relayedN: prometheus.NewCounter(prometheus.CounterOpts{Name: "lunas_outbox_relayed_total", Help: "Outbox rows relayed into asynq."}),
		flags: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lunas_gateway_events_flagged_total",
			Help: "Gateway events flagged for finance, by flag."}, []string{"flag"}),
		redrives: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lunas_outbox_redriven_total",
			Help: "Tasks asynq had archived (or completed early) that the relay ran again, by type."}, []string{"type"}),
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
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lunas_low_balance_alerts_total",
		Help: "Low-balance alert mails queued, by balance (wa_balance, muv)."}, []string{"balance"})
	reg.MustRegister(gatewaySilence{pool: pool, clock: clk, desc: prometheus.NewDesc("lunas_gateway_last_event_age_seconds",
		"Seconds since each gateway's last verified callback was recorded (a gateway gone quiet).", []string{"provider"}, nil)})
	reg.MustRegister(m.tasks, m.mails, m.pdf, m.settlement, m.relayedN, m.flags, m.redrives, lag, m.alerts)
	return m
}

func (m *metrics) Task(typ, outcome string, d time.Duration) {
	m.tasks.WithLabelValues(typ, outcome).Observe(d.Seconds())
}
func (m *metrics) mailResult(outcome string)   { m.mails.WithLabelValues(outcome).Inc() }
func (m *metrics) pdfRendered(d time.Duration) { m.pdf.Observe(d.Seconds()) }
func (m *metrics) settled(d time.Duration)     { m.settlement.Observe(d.Seconds()) }
func (m *metrics) relayed(n int)               { m.relayedN.Add(float64(n)) }
func (m *metrics) flagged(flag string)         { m.flags.WithLabelValues(flag).Inc() }
func (m *metrics) redriven(typ string)         { m.redrives.WithLabelValues(typ).Inc() }

func (m *metrics) lowBalanceAlert(balance string) { m.alerts.WithLabelValues(balance).Inc() }

// gatewaySilence reports, at each scrape, how long ago each gateway's last
// verified callback arrived: the signal that a gateway has gone quiet (its
// notifications blocked by a firewall, a wrong notification URL). One
// indexed query per scrape.
type gatewaySilence struct {
	pool  *store.DB
	clock clock.Clock // received_at is the service clock's
	desc  *prometheus.Desc
}

func (g gatewaySilence) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g gatewaySilence) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rows, err := g.pool.Query(ctx, `SELECT provider, extract(epoch FROM $1::timestamptz - max(received_at))::float8 FROM gateway_events GROUP BY provider`, g.clock.Now())
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var provider string
		var age float64
		if rows.Scan(&provider, &age) == nil {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, age, provider)
		}
	}
}

// watchQueues exports the number of tasks asynq holds in its archive (their
// retries ran out) per queue; the relay re-drives them, and an archive that
// stays non-empty needs an operator.
func (m *metrics) watchQueues(reg *prometheus.Registry, insp *asynq.Inspector) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lunas_tasks_archived",
		Help: "Tasks in asynq's archive across lunas's queues."}, func() float64 {
		n := 0
		for _, q := range task.Queues() {
			if info, err := insp.GetQueueInfo(q); err == nil {
				n += info.Archived
			}
		}
		return float64(n)
	}))
}

// registerWebhooks adds the outbound webhook metrics: attempts by outcome
// (delivered, retry, failed, gone) and the age of the oldest undelivered
// delivery on the service clock.
func (m *metrics) registerWebhooks(reg *prometheus.Registry, pool *store.DB, clk clock.Clock) {
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lunas_webhook_deliveries_total",
		Help: "Outbound webhook delivery attempts, by outcome (delivered, retry, failed, gone)."}, []string{"outcome"})
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lunas_webhook_oldest_undelivered_seconds",
		Help: "Age of the oldest outbound webhook delivery not yet delivered nor failed (0 when none)."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			d, err := webhook.OldestUndelivered(ctx, pool, clk.Now())
			if err != nil {
				return -1
			}
			return d.Seconds()
		})
	reg.MustRegister(m.webhooks, oldest)
}

func (m *metrics) webhookOutcome(outcome string) { m.webhooks.WithLabelValues(outcome).Inc() }
