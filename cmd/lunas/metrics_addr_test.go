package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/config"
	"github.com/lunas-id/lunas/internal/lunastest"
)

// With LUNAS_METRICS_ADDR, /metrics is served there and not on the public
// listener (404); every API answer is uncached and unsniffed.
func TestMetricsOnTheOperatorAddressOnly(t *testing.T) {
	t.Parallel()
	addr, metrics := lunastest.FreeAddr(t), lunastest.FreeAddr(t)
	env := map[string]string{"LUNAS_DATABASE_URL": lunastest.DatabaseURL(t), "LUNAS_REDIS_URL": lunastest.RedisURL(t),
		"LUNAS_HTTP_ADDR": addr, "LUNAS_METRICS_ADDR": metrics, "LUNAS_ENV": "test"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs lunastest.SyncBuffer
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, io.Discard, &logs)
	}()
	t.Cleanup(func() { cancel(); <-done })
	get := func(url string) (int, http.Header, string) {
		res, err := http.Get(url)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	lunastest.Eventually(t, time.Minute, "lunas serve up", func() bool {
		c, _, _ := get("http://" + addr + "/healthz")
		return c == 200
	})
	if c, _, body := get("http://" + metrics + "/metrics"); c != 200 || !strings.Contains(body, "# TYPE lunas_") {
		t.Errorf("operator address /metrics: %d %.300s", c, body)
	}
	for _, path := range []string{"/metrics", "/healthz", "/v1/orders/nope"} {
		c, h, _ := get("http://" + addr + path)
		if path == "/metrics" && c != 404 {
			t.Errorf("public /metrics: %d, want 404", c)
		}
		if h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Cache-Control %q, X-Content-Type-Options %q", path, h.Get("Cache-Control"), h.Get("X-Content-Type-Options"))
		}
	}
}

// The public listener serves /metrics only outside production and only
// without an operator address.
func TestPublicMetricsOnlyOutsideProduction(t *testing.T) {
	for _, tc := range []struct {
		env, addr string
		want      bool
	}{
		{config.EnvProduction, "", false},
		{config.EnvProduction, "127.0.0.1:9100", false},
		{"test", "127.0.0.1:9100", false},
		{"test", "", true},
	} {
		if got := publicMetrics(&config.Config{Env: tc.env, MetricsAddr: tc.addr}); got != tc.want {
			t.Errorf("env %q, LUNAS_METRICS_ADDR %q: public /metrics %v", tc.env, tc.addr, got)
		}
	}
}
