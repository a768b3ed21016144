package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/task"
)

// `lunas audit` exits 0 on sound books and 1 naming the account when a
// balance or a posting was corrupted by hand.
func TestAuditCommand(t *testing.T) {
	t.Parallel()
	dsn := lunastest.DatabaseURL(t)
	env := func(k string) string {
		return map[string]string{"LUNAS_DATABASE_URL": dsn, "LUNAS_ENV": "test"}[k]
	}
	audit := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), append([]string{"audit"}, args...), env, &out, io.Discard)
		return out.String(), err
	}
	out, err := audit()
	if err != nil || !strings.Contains(out, "audit: the books hold") {
		t.Fatalf("empty books: %v\n%s", err, out)
	}
	pool, err := store.Open(context.Background(), dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), `WITH a AS (INSERT INTO accounts (id, name, created_at, updated_at) VALUES ('hacked', 'H', now(), now()) RETURNING id)
		INSERT INTO balances (account_id, wa_balance, updated_at) SELECT id, 5000, now() FROM a`); err != nil {
		t.Fatal(err)
	}
	out, err = audit()
	if err == nil || !strings.Contains(out, "discrepancy: balances account=hacked") {
		t.Fatalf("a balance set by hand: err %v\n%s", err, out)
	}
	out, err = audit("--json")
	var rep struct {
		OK            bool `json:"ok"`
		Discrepancies []struct {
			Check     string `json:"check"`
			AccountID string `json:"account_id"`
		} `json:"discrepancies"`
	}
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil || err == nil || rep.OK || len(rep.Discrepancies) != 1 || rep.Discrepancies[0].AccountID != "hacked" {
		t.Fatalf("--json: %v %v %+v\n%s", err, jerr, rep, out)
	}
}

// Refunds over HTTP through serve and work: a storm of identical refund
// notifications reverses once, and a settlement whose callback never came
// is found by the janitor once the test clock passes LUNAS_RECONCILE_AFTER.
func TestRefundStormAndLostCallbackEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 2})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	var a attempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "bca_va"}, &a); code != 201 {
		t.Fatalf("payment: %d", code)
	}
	if err := s.midtrans.Notify(context.Background(), a.ID, "settlement", "", 3); err != nil {
		t.Fatal(err)
	}
	lunastest.Eventually(t, 10*time.Second, "the order to be paid", func() bool { return s.order(o.ID).Status == "paid" })
	proformaText := func() string {
		req, _ := http.NewRequest("GET", s.base+"/v1/orders/"+o.ID+"/proforma.pdf", nil)
		req.Header.Set("Authorization", "Bearer "+appToken)
		res, err := s.client.Do(req)
		if err != nil {
			return ""
		}
		defer res.Body.Close()
		pdf, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			return ""
		}
		return pdfText(t, pdf)
	}
	// The PAID proforma as stored before anything is taken back.
	if txt := proformaText(); !strings.Contains(txt, "LUNAS") || strings.Contains(txt, "DIKEMBALIKAN") {
		t.Fatalf("PAID proforma before the refund:\n%s", txt)
	}
	body, err := s.midtrans.Refund(a.ID, 1_110_000, "refund")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for i := 0; i < 50; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			if code, err := s.midtrans.Send(context.Background(), body); err != nil || code != 200 {
				t.Errorf("refund delivery: %d %v", code, err)
			}
		}()
	}
	for i := 0; i < 50; i++ {
		<-done
	}
	lunastest.Eventually(t, 10*time.Second, "the order to be refunded", func() bool { return s.order(o.ID).Status == "refunded" })
	s.settled(15 * time.Second)
	if b := s.balances("acme").Balances; b.WABalance != 0 || b.Outstanding != 0 {
		t.Errorf("after the refund: %+v", b)
	}
	if n := s.count(`SELECT count(*) FROM reversals`); n != 1 {
		t.Errorf("reversals %d, want 1", n)
	}
	refundMails := 0
	for _, m := range s.sink.Messages() {
		p := parse(t, m)
		if strings.Contains(p.subject, "dikembalikan") || strings.Contains(p.subject, "returned") {
			refundMails++
			if len(p.rcpt) != 1 || p.rcpt[0] != "sari@acme.example" {
				t.Errorf("refund notice to %v", p.rcpt)
			}
		}
	}
	if refundMails != 1 {
		t.Errorf("refund notices %d, want 1", refundMails)
	}
	// The PAID proforma is rendered again with what was taken back: a
	// whole refund is stamped refunded, not LUNAS alone.
	lunastest.Eventually(t, 15*time.Second, "the PAID proforma to be rendered again", func() bool {
		txt := proformaText()
		return strings.Contains(txt, "DIKEMBALIKAN") && strings.Contains(txt, "-Rp1.110.000")
	})
	// Finance sees the reversal among the flagged events, in WIB, and
	// resolves it with a note (a note is required).
	var evs struct {
		Data []struct {
			ID         int64   `json:"id"`
			Flag       string  `json:"flag"`
			ReceivedAt string  `json:"received_at"`
			ResolvedBy *string `json:"resolved_by"`
		} `json:"data"`
	}
	if code := s.call("GET", "/v1/gateway-events?flag=reversed&resolved=false", financeToken, nil, &evs); code != 200 || len(evs.Data) != 1 {
		t.Fatalf("reversed events: %d %+v", code, evs)
	}
	if !strings.HasSuffix(evs.Data[0].ReceivedAt, "+07:00") {
		t.Errorf("received_at %q is not in WIB", evs.Data[0].ReceivedAt)
	}
	path := "/v1/gateway-events/" + strconv.FormatInt(evs.Data[0].ID, 10) + "/resolve"
	if code := s.call("POST", path, financeToken, map[string]string{"note": ""}, nil); code != 400 {
		t.Errorf("resolve without a note: %d, want 400", code)
	}
	if code := s.call("POST", path, appToken, map[string]string{"note": "ok"}, nil); code != 403 {
		t.Errorf("resolve as app: %d, want 403", code)
	}
	if code := s.call("POST", path, financeToken, map[string]string{"note": "customer refunded by Midtrans"}, nil); code != 200 {
		t.Errorf("resolve: %d", code)
	}
	if code := s.call("GET", "/v1/gateway-events?flag=reversed&resolved=false", financeToken, nil, &evs); code != 200 || len(evs.Data) != 0 {
		t.Errorf("open reversed events after resolving: %d %+v", code, evs)
	}

	// A lost callback: paid at the gateway, never notified.
	o2 := s.confirmedOrder("acme", "sari@acme.example", 2_000_000)
	var b attempt
	if code := s.call("POST", "/v1/orders/"+o2.ID+"/payments", appToken, map[string]string{"method": "mandiri_bill"}, &b); code != 201 {
		t.Fatalf("payment: %d", code)
	}
	if _, err := s.midtrans.Notification(b.ID, "settlement", "", nil); err != nil {
		t.Fatal(err)
	}
	s.setClock("2026-11-22T10:14:00+07:00")
	time.Sleep(time.Second) // a few sweeps: not yet due
	if got := s.order(o2.ID); got.Status != "awaiting_payment" {
		t.Fatalf("before LUNAS_RECONCILE_AFTER: %s", got.Status)
	}
	s.setClock("2026-11-22T10:15:01+07:00")
	lunastest.Eventually(t, 10*time.Second, "the janitor to find the settlement", func() bool { return s.order(o2.ID).Status == "paid" })
	s.settled(15 * time.Second)
}

// An apply task that asynq archived (its retries ran out while, say,
// PostgreSQL was down) is re-driven: the relay finds its outbox row undone,
// sees the archived task behind the TaskID, and enqueues it again.
func TestArchivedApplyTaskIsRedriven(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 1})
	s.stop("work#1")
	s.account("acme")
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	var a attempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "bni_va"}, &a); code != 201 {
		t.Fatalf("payment: %d", code)
	}
	if err := s.midtrans.Notify(context.Background(), a.ID, "settlement", "", 1); err != nil {
		t.Fatal(err)
	}
	var id string
	lunastest.Eventually(t, 10*time.Second, "the apply task to be relayed", func() bool {
		return s.pool.QueryRow(context.Background(), `SELECT id FROM outbox WHERE task_type = 'payment:apply' AND relayed_at IS NOT NULL`).Scan(&id) == nil
	})
	insp := asynq.NewInspector(mustRedisOpt(t, s.env["LUNAS_REDIS_URL"]))
	defer insp.Close()
	if err := insp.ArchiveTask(task.QueueCritical, id); err != nil {
		t.Fatalf("archive %s: %v", id, err)
	}
	s.start("work#2")
	lunastest.Eventually(t, 20*time.Second, "the archived apply to be re-driven", func() bool { return s.order(o.ID).Status == "paid" })
	s.settled(15 * time.Second)
	if info, err := insp.GetTaskInfo(task.QueueCritical, id); err != nil || info.State == asynq.TaskStateArchived {
		t.Errorf("task %s after the re-drive: %+v %v", id, info, err)
	}
}
