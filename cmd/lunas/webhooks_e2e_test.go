package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/webhooktest"
)

type hookEnvelope struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		ID            string `json:"id"`
		Status        string `json:"status"`
		InvoiceNumber string `json:"invoice_number"`
		ProformaURL   string `json:"proforma_url"`
		UpdatedAt     string `json:"updated_at"`
		Payments      []struct {
			Status string `json:"status"`
		} `json:"payments"`
	} `json:"data"`
}

func envelope(t *testing.T, d webhooktest.Delivery) hookEnvelope {
	t.Helper()
	var e hookEnvelope
	if err := json.Unmarshal(d.Body, &e); err != nil {
		t.Fatalf("delivery body %s: %v", d.Body, err)
	}
	return e
}

// byType returns the deliveries of one event type, in arrival order.
func byType(t *testing.T, r *webhooktest.Receiver, typ string) []webhooktest.Delivery {
	var out []webhooktest.Delivery
	for _, d := range r.Deliveries() {
		if envelope(t, d).Type == typ {
			out = append(out, d)
		}
	}
	return out
}

type endpointAnswer struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
	Status string   `json:"status"`
}

func (s *stack) webhookEndpoint(url string, events ...string) endpointAnswer {
	s.t.Helper()
	var e endpointAnswer
	if code := s.call("POST", "/v1/webhook-endpoints", financeToken, map[string]any{"url": url, "events": events}, &e); code != 201 {
		s.t.Fatalf("register endpoint: %d", code)
	}
	return e
}

// Acceptance 1 and 2 of issue 18: order confirmed → order.confirmed; paid
// (under a 50× duplicate settlement storm) → one order.paid, whose first
// delivery gets 500 and whose retry ~5 s later carries the same
// webhook-id and body; every signature verifies with the endpoint's
// secret; a dead endpoint and a slow one (answers after 30 s) delay
// neither the healthy endpoint nor the settlement.
func TestWebhooksEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	s.setClock("2026-11-22T10:00:00+07:00")
	app := webhooktest.Start(t)
	app.Respond = func(n int, d webhooktest.Delivery) int {
		if n == 0 && bytes.Contains(d.Body, []byte(`"type":"order.paid"`)) {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	slow := webhooktest.Start(t)
	release := make(chan struct{})
	defer close(release)
	slow.Respond = func(int, webhooktest.Delivery) int {
		select {
		case <-time.After(30 * time.Second):
		case <-release:
		}
		return http.StatusOK
	}
	ep := s.webhookEndpoint(app.URL, "order.confirmed", "order.paid")
	if !strings.HasPrefix(ep.Secret, "whsec_") || ep.Status != "enabled" {
		t.Fatalf("endpoint: %+v", ep)
	}
	app.SetSecret(ep.Secret)
	s.webhookEndpoint(slow.URL, "*")
	dead := s.webhookEndpoint(webhooktest.DeadURL(t), "*")
	// The secret is shown once: the list does not carry it.
	var list struct {
		Data []map[string]any `json:"data"`
	}
	if code := s.call("GET", "/v1/webhook-endpoints", financeToken, nil, &list); code != 200 || len(list.Data) != 3 || list.Data[0]["secret"] != nil {
		t.Fatalf("list endpoints: %d %v", code, list.Data)
	}
	if code := s.call("GET", "/v1/webhook-endpoints", appToken, nil, nil); code != 403 {
		t.Fatalf("app token listed endpoints: %d", code)
	}

	s.account("acme")
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	lunastest.Eventually(t, 15*time.Second, "order.confirmed delivered", func() bool { return len(byType(t, app, "order.confirmed")) == 1 })
	conf := envelope(t, byType(t, app, "order.confirmed")[0])
	if conf.Data.ID != o.ID || conf.Data.Status != "awaiting_payment" || conf.Data.InvoiceNumber != o.InvoiceNumber ||
		!strings.HasSuffix(conf.Data.ProformaURL, "/v1/orders/"+o.ID+"/proforma.pdf") || !withinAMinute(t, conf.Timestamp, "2026-11-22T10:00:00+07:00") {
		t.Fatalf("order.confirmed: %+v", conf)
	}

	var a attempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "bca_va"}, &a); code != 201 {
		t.Fatalf("payment: %d", code)
	}
	body, err := s.midtrans.Notification(a.ID, "settlement", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	stormAt := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, err := s.midtrans.Send(context.Background(), body); err != nil || code != 200 {
				t.Errorf("notification: %d %v", code, err)
			}
		}()
	}
	wg.Wait()
	lunastest.Eventually(t, 15*time.Second, "order paid", func() bool { return s.order(o.ID).Status == "paid" })
	settledIn := time.Since(stormAt)
	lunastest.Eventually(t, 30*time.Second, "order.paid delivered after a retry", func() bool { return len(byType(t, app, "order.paid")) == 2 })
	paid := byType(t, app, "order.paid")
	if paid[0].Answered != 500 || paid[1].Answered != 200 {
		t.Fatalf("answers %d, %d", paid[0].Answered, paid[1].Answered)
	}
	if paid[0].ID != paid[1].ID || !bytes.Equal(paid[0].Body, paid[1].Body) {
		t.Fatalf("the retry differs:\n%s %s\n%s %s", paid[0].ID, paid[0].Body, paid[1].ID, paid[1].Body)
	}
	gap := paid[1].At.Sub(paid[0].At)
	if gap < 4*time.Second {
		t.Fatalf("retried after %s, the schedule says 5 s", gap)
	}
	pe := envelope(t, paid[0])
	if pe.Data.ID != o.ID || pe.Data.Status != "paid" || len(pe.Data.Payments) != 1 || pe.Data.Payments[0].Status != "succeeded" {
		t.Fatalf("order.paid data: %s", paid[0].Body)
	}
	for i, d := range app.Deliveries() {
		if d.Verified != nil {
			t.Errorf("delivery %d (%s) does not verify: %v", i, d.ID, d.Verified)
		}
	}
	// One event per change, one delivery per event per endpoint.
	if n := s.count(`SELECT count(*) FROM webhook_events WHERE type = 'order.paid'`); n != 1 {
		t.Fatalf("%d order.paid events for one payment", n)
	}
	if n := s.count(`SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries GROUP BY event_id, endpoint_id HAVING count(*) > 1) x`); n != 0 {
		t.Fatal("an event has two deliveries to one endpoint")
	}
	// Neither the slow endpoint nor the dead one held anything up.
	if got := len(slow.Deliveries()); got != 0 {
		t.Fatalf("the slow endpoint answered %d times: the test proves nothing", got)
	}
	t.Logf("settled %s after the storm; order.paid first attempt %s after it, retry %s later; the slow endpoint still had not answered",
		settledIn.Round(time.Millisecond), paid[0].At.Sub(stormAt).Round(time.Millisecond), gap.Round(time.Millisecond))
	var dl struct {
		Data []struct {
			EventType string `json:"event_type"`
			Status    string `json:"status"`
			Attempts  int    `json:"attempts"`
			LastError string `json:"last_error"`
		} `json:"data"`
	}
	if code := s.call("GET", "/v1/webhook-endpoints/"+dead.ID+"/deliveries", financeToken, nil, &dl); code != 200 || len(dl.Data) == 0 {
		t.Fatalf("dead endpoint's deliveries: %d %+v", code, dl)
	}
	lunastest.Eventually(t, 10*time.Second, "the dead endpoint's failures logged", func() bool {
		s.call("GET", "/v1/webhook-endpoints/"+dead.ID+"/deliveries", financeToken, nil, &dl)
		return dl.Data[0].Attempts >= 1 && dl.Data[0].Status == "pending" && dl.Data[0].LastError != ""
	})

	// The delivery log and a manual retry.
	var log struct {
		Data []struct {
			ID        int64  `json:"id"`
			EventType string `json:"event_type"`
			Status    string `json:"status"`
			Attempts  int    `json:"attempts"`
			LastCode  int    `json:"last_status_code"`
		} `json:"data"`
	}
	lunastest.Eventually(t, 10*time.Second, "order.paid logged delivered", func() bool {
		s.call("GET", "/v1/webhook-endpoints/"+ep.ID+"/deliveries", financeToken, nil, &log)
		return len(log.Data) == 2 && log.Data[0].EventType == "order.paid" && log.Data[0].Status == "delivered"
	})
	if log.Data[0].Attempts != 2 || log.Data[0].LastCode != 200 {
		t.Fatalf("log: %+v", log.Data)
	}
	if code := s.call("POST", "/v1/webhook-deliveries/"+itoa(log.Data[0].ID)+"/retry", financeToken, nil, nil); code != 202 {
		t.Fatalf("retry: %d", code)
	}
	lunastest.Eventually(t, 10*time.Second, "the manual retry", func() bool { return len(byType(t, app, "order.paid")) == 3 })
	if again := byType(t, app, "order.paid")[2]; again.ID != paid[0].ID || !bytes.Equal(again.Body, paid[0].Body) || again.Verified != nil {
		t.Fatalf("manual retry: %+v", again)
	}

	res, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// (lunas_webhook_deliveries_total counts in the process that sends: the
	// work processes here, whose registry this serve does not show.)
	for _, want := range []string{"lunas_webhook_oldest_undelivered_seconds "} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Endpoint deletion ends its pending deliveries.
	if code := s.call("DELETE", "/v1/webhook-endpoints/"+dead.ID, financeToken, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if n := s.count(`SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'`, dead.ID); n != 0 {
		t.Fatalf("%d deliveries still pending to a deleted endpoint", n)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// withinAMinute reports whether the RFC 3339 time got is at or up to a
// minute after want: the test clock runs forward from the instant it was
// set, so on a loaded machine an event may carry a second or two more.
func withinAMinute(t *testing.T, got, want string) bool {
	t.Helper()
	g, err1 := time.Parse(time.RFC3339, got)
	w, err2 := time.Parse(time.RFC3339, want)
	return err1 == nil && err2 == nil && !g.Before(w) && g.Sub(w) < time.Minute && strings.HasSuffix(got, "+07:00")
}
