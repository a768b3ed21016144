package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	webhooks *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lunas_webhooks_total", Help: "Gateway webhooks by provider and outcome.",
		}, []string{"provider", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lunas_webhook_duration_seconds", Help: "Time to answer a gateway webhook.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"provider"}),
	}
	if reg != nil {
		reg.MustRegister(m.webhooks, m.latency)
	}
	return m
}

func (m *metrics) webhook(provider, outcome string, start time.Time) {
	m.webhooks.WithLabelValues(provider, outcome).Inc()
	m.latency.WithLabelValues(provider).Observe(time.Since(start).Seconds())
}
