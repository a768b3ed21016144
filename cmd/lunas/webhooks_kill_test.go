package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/harness"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/webhooktest"
)

// One order.paid event and one delivery per endpoint for each paid order,
// under 50× duplicate settlement storms and a `work` process killed with
// SIGKILL mid-run — real processes (harness), not run() in goroutines.
func TestWebhooksSurviveAWorkSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real lunas processes")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "lunas")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx := context.Background()
	st, err := harness.New(ctx, harness.Config{Bin: bin, DatabaseURL: lunastest.DatabaseURL(t), RedisURL: lunastest.RedisURL(t), Dir: dir,
		Extra: map[string]string{"LUNAS_LOG_LEVEL": "INFO", "LUNAS_OUTBOX_REQUEUE_AFTER": "3s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, p := range [][2]string{{"serve", "serve"}, {"work-1", "work"}, {"work-2", "work"}} {
		if err := st.Start(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.WaitHealthy(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	app := webhooktest.Start(t)
	var ep struct {
		Secret string `json:"secret"`
	}
	if _, err := st.Call(ctx, "POST", "/v1/webhook-endpoints", harness.FinanceToken, map[string]any{"url": app.URL, "events": []string{"order.paid"}}, &ep); err != nil {
		t.Fatal(err)
	}
	app.SetSecret(ep.Secret)
	if _, err := st.Call(ctx, "PUT", "/v1/accounts/acme", harness.AppToken, map[string]string{"name": "Acme"}, nil); err != nil {
		t.Fatal(err)
	}
	const orders = 6
	var killedAt time.Time
	for i := 0; i < orders; i++ {
		o, err := st.PayableOrder(ctx, "acme", i)
		if err != nil {
			t.Fatal(err)
		}
		body, err := st.Midtrans.Notification(o.AttemptID, "settlement", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for j := 0; j < 50; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := st.Midtrans.Send(ctx, body); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if i == orders/2 {
			st.Kill("work-1") // SIGKILL, mid-run: its leases and tasks are left to work-2
			killedAt = time.Now()
		}
	}
	count := func(sql string) int {
		var n int
		if err := st.Pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A task work-1 held at the kill comes back when asynq's recoverer
	// finds its lease (30 s) expired by 30 s more, and the recoverer runs
	// once a minute: up to two minutes after the kill. The wait covers that
	// and the delivery after it, and on a timeout says where things stood.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		paid := count(`SELECT count(*) FROM orders WHERE status = 'paid'`)
		delivered := count(`SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'`)
		if paid == orders && delivered == orders {
			t.Logf("every order paid and delivered %s after the SIGKILL", time.Since(killedAt).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %d of %d orders paid, %d order.paid delivered; %d inbox events unprocessed, %d outbox rows undone, %d deliveries in all",
				paid, orders, delivered, count(`SELECT count(*) FROM gateway_events WHERE processed_at IS NULL`),
				count(`SELECT count(*) FROM outbox WHERE done_at IS NULL`), count(`SELECT count(*) FROM webhook_deliveries`))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(`SELECT count(*) FROM webhook_events WHERE type = 'order.paid'`); n != orders {
		t.Fatalf("%d order.paid events for %d payments", n, orders)
	}
	if n := count(`SELECT count(*) FROM webhook_deliveries`); n != orders {
		t.Fatalf("%d deliveries for %d events to one endpoint", n, orders)
	}
	ids := map[string]bool{}
	for _, d := range app.Deliveries() {
		if d.Verified != nil {
			t.Errorf("%s does not verify: %v", d.ID, d.Verified)
		}
		ids[d.ID] = true
	}
	// At least once: a post in flight when work-1 died is sent again with
	// the same webhook-id, so the app sees each event id, maybe twice.
	if len(ids) != orders {
		t.Fatalf("the app saw %d event ids, want %d", len(ids), orders)
	}
	t.Logf("%d orders, %d order.paid events, %d requests received (%s)", orders, len(ids), len(app.Deliveries()), fmt.Sprint(len(app.Deliveries())-len(ids))+" repeated after the kill")
}
