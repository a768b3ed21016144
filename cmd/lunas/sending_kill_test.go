package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"net/mail"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/harness"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/whatsapptest"
)

// asLunas makes the test binary act as the lunas binary when the kill test
// starts it as a real process (harness), so the test needs no build step.
const asLunas = "LUNAS_TEST_AS_LUNAS"

func TestMain(m *testing.M) {
	if os.Getenv(asLunas) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// freeTestAddr is a loopback address in the tests' own port range.
func freeTestAddr(t *testing.T) string {
	t.Helper()
	for p := 22000 + int(time.Now().UnixNano()%1000); ; p++ {
		if p > 22999 {
			p = 22000
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			ln.Close()
			return ln.Addr().String()
		}
	}
}

// Acceptance 4: a sending over 1,000 invoices with the work process that
// runs it SIGKILLed midway. Nothing is lost (counted at the fakes),
// duplicates are counted and printed (the goal is 0), and the progress
// ends done with the right counts.
func TestSendingSurvivesKilledWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes; not in -short")
	}
	t.Parallel()
	const n = 1000
	wa := whatsapptest.New("wa-token")
	waSrv := httptest.NewServer(wa)
	t.Cleanup(waSrv.Close)
	dsn := lunastest.DatabaseURL(t)
	st, err := harness.New(context.Background(), harness.Config{Bin: os.Args[0], DatabaseURL: dsn, RedisURL: lunastest.RedisURL(t),
		Dir: t.TempDir(), HTTPAddr: freeTestAddr(t), Extra: map[string]string{asLunas: "1", "LUNAS_ENV": "test",
			"LUNAS_WHATSAPP_URL": waSrv.URL + "/send", "LUNAS_WHATSAPP_TOKEN": "wa-token", "LUNAS_WHATSAPP_RATE": "150",
			"LUNAS_OUTBOX_REQUEUE_AFTER": "5s", "LUNAS_WORKER_CONCURRENCY": "8"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	for _, p := range [][2]string{{"serve", "serve"}, {"work-1", "work"}} {
		if err := st.Start(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func(method, path, token string, body, out any) {
		t.Helper()
		if _, err := st.Call(ctx, method, path, token, body, out); err != nil {
			t.Fatal(err)
		}
	}
	call("PUT", "/v1/test/clock", harness.FinanceToken, map[string]string{"now": "2026-12-22T09:00:00+07:00"}, nil)
	call("PUT", "/v1/accounts/isp", harness.AppToken, map[string]string{"name": "ISP"}, nil)
	call("PUT", "/v1/plans/home", harness.FinanceToken, map[string]any{"name": "Internet", "amount": 150000, "vat": false, "lead_days": 7}, nil)
	// 1,000 customers whose invoices were due on 2026-12-20: each is
	// invoiced when created (late), and is overdue now. Customer 0 has no phone.
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				customer := map[string]any{"name": fmt.Sprintf("C%d", i), "email": fmt.Sprintf("c%d@net.example", i)}
				if i != 0 {
					customer["phone"] = fmt.Sprintf("08130%07d", i)
				}
				if _, err := st.Call(ctx, "POST", "/v1/subscriptions", harness.AppToken, map[string]any{"account_id": "isp", "plan_id": "home",
					"customer": customer, "first_due_date": "2026-12-20"}, nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	count := func(sql string) int {
		var c int
		if err := st.Pool.QueryRow(ctx, sql).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s", timeout, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if c := count(`SELECT count(*) FROM orders WHERE subscription_id IS NOT NULL`); c != n {
		t.Fatalf("%d invoices", c)
	}
	// The issue's own work (1,000 PDFs and billing mails) done first, so the
	// sending's task is not queued behind it.
	waitFor("the billing mails", 5*time.Minute, func() bool { return count(`SELECT count(*) FROM mails WHERE status = 'sent'`) == n })
	start := time.Now()

	var p sendingAnswer
	call("POST", "/v1/sendings", harness.FinanceToken, map[string]any{"filter": map[string]any{"overdue": true},
		"channels": []string{"email", "whatsapp"}, "message": "invoice"}, &p)
	if p.Total != 2*n {
		t.Fatalf("sending %+v", p)
	}
	waitFor("a third of the WhatsApp messages", 4*time.Minute, func() bool { return len(wa.Messages()) >= n/3 })
	if err := st.Start("work-2", "work"); err != nil {
		t.Fatal(err)
	}
	st.Kill("work-1") // SIGKILL, midway
	atKill := len(wa.Messages())
	waitFor("the sending to be done", 5*time.Minute, func() bool {
		call("GET", "/v1/sendings/"+p.ID, harness.FinanceToken, nil, &p)
		return p.Status == "done"
	})
	waitFor("every mail to be sent", 4*time.Minute, func() bool { return count(`SELECT count(*) FROM mails WHERE status <> 'sent'`) == 0 })

	// Count at the fakes: every WhatsApp message by (target, text), every
	// mail by Message-ID.
	waGot, waDup := len(wa.Messages()), wa.Duplicates()
	mails := map[string]int{}
	for _, m := range st.Sink.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		if id := msg.Header.Get("Message-Id"); strings.Contains(id, "_20261222") {
			mails[id]++
		}
	}
	mailDup := 0
	for _, c := range mails {
		mailDup += c - 1
	}
	t.Logf("kill test: the sending and every mail done %s after it was submitted", time.Since(start).Round(time.Second))
	t.Logf("kill test: work-1 SIGKILLed after %d WhatsApp messages; WhatsApp %d distinct of %d expected, %d duplicates; mail %d distinct of %d expected, %d duplicates; progress %+v",
		atKill, waGot-waDup, n-1, waDup, len(mails), n, mailDup, p)
	fmt.Fprintf(os.Stderr, "kill test: whatsapp distinct=%d/%d duplicates=%d; mail distinct=%d/%d duplicates=%d\n", waGot-waDup, n-1, waDup, len(mails), n, mailDup)
	if waGot-waDup != n-1 || len(mails) != n {
		t.Errorf("lost messages: WhatsApp %d of %d, mail %d of %d", waGot-waDup, n-1, len(mails), n)
	}
	if p.Sent != 2*n-1 || p.Skipped != 1 || p.Failed != 0 || p.Channels["whatsapp"].Skipped != 1 {
		t.Errorf("progress %+v", p)
	}
	// A WhatsApp duplicate is only possible for a delivery claimed by the
	// killed run and sent again: at most its one in-flight message. A mail
	// duplicate is one the SMTP sink accepted from the killed process before
	// it recorded it: at most one per mail task it was running.
	if waDup > 1 || mailDup > 16 {
		t.Errorf("duplicates: WhatsApp %d, mail %d", waDup, mailDup)
	}
	if out, err := st.Run(ctx, "audit"); err != nil {
		t.Errorf("lunas audit: %v\n%s", err, out)
	}
}
