package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/mailtest"
	"github.com/lunas-id/lunas/redisconn"
)

// parsed is one caught mail: envelope recipients, header recipients, subject, attachments.
type parsed struct {
	rcpt, to, cc, bcc []string
	subject           string
	attachments       map[string][]byte
}

func parse(t *testing.T, m mailtest.Message) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{rcpt: m.To, attachments: map[string][]byte{}}
	for _, h := range []struct {
		name string
		dst  *[]string
	}{{"To", &p.to}, {"Cc", &p.cc}, {"Bcc", &p.bcc}} {
		if v := msg.Header.Get(h.name); v != "" {
			list, _ := mail.ParseAddressList(v)
			for _, a := range list {
				*h.dst = append(*h.dst, a.Address)
			}
		}
	}
	p.subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	walk(t, msg.Header.Get("Content-Type"), msg.Body, p.attachments)
	return p
}

func walk(t *testing.T, ct string, body interface{ Read([]byte) (int, error) }, out map[string][]byte) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return
		}
		if fn := part.FileName(); fn != "" {
			var buf bytes.Buffer
			dec := part.Header.Get("Content-Transfer-Encoding")
			_, _ = buf.ReadFrom(part)
			b := buf.Bytes()
			if strings.EqualFold(dec, "base64") {
				b = decodeBase64(b)
			}
			out[fn] = b
			continue
		}
		walk(t, part.Header.Get("Content-Type"), part, out)
	}
}

func TestMidtransVAPaymentEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 2})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	if code := s.call("POST", "/v1/accounts/acme/adjustments", financeToken,
		map[string]any{"product": "wa_balance", "kind": "charge", "amount": 5000, "reason": "October usage"}, nil); code != 201 {
		t.Fatalf("adjustment: %d", code)
	}
	// Other users of the account order too; they must never see this requester's mail.
	for _, other := range []string{"budi@acme.example", "citra@acme.example", "dewi@acme.example"} {
		var o order
		s.call("POST", "/v1/orders", appToken, map[string]any{"account_id": "acme", "requester": map[string]string{"name": "Other", "email": other},
			"items": []map[string]any{{"product": "muv", "quantity": 1}}}, &o)
	}
	o := s.confirmedOrder("acme", "sari@acme.example", 1_000_000)
	if o.ExpiresAt != "2026-11-23T23:59:00+07:00" {
		t.Errorf("expires_at = %s", o.ExpiresAt)
	}
	var a attempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "bca_va"}, &a); code != 201 {
		t.Fatalf("payment: %d", code)
	}
	tx, ok := s.midtrans.Tx(a.ID)
	if !ok || tx.GrossAmount != 1_110_000 || a.VANumber == "" || a.Amount != 1_110_000 {
		t.Fatalf("gateway tx %+v ok %v; attempt %+v", tx, ok, a)
	}
	deadline, _ := time.Parse(time.RFC3339, o.ExpiresAt)
	if !tx.ExpiryTime.Equal(deadline) {
		t.Errorf("VA expires at %s, want the invoice deadline %s", tx.ExpiryTime, deadline)
	}

	// The same settlement 50 times at once.
	body, err := s.midtrans.Notification(a.ID, "settlement", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, err := s.midtrans.Send(context.Background(), body); err != nil || code != 200 {
				t.Errorf("delivery: %d %v", code, err)
			}
		}()
	}
	wg.Wait()
	lunastest.Eventually(t, 15*time.Second, "order paid", func() bool { return s.order(o.ID).Status == "paid" })
	s.settled(20 * time.Second)
	// And again after every process restarted.
	s.stop("work#1")
	s.stop("work#2")
	s.stop("serve")
	s.start("serve")
	s.start("work#3")
	s.waitHealthy()
	for i := 0; i < 5; i++ {
		if code, err := s.midtrans.Send(context.Background(), body); err != nil || code != 200 {
			t.Fatalf("redelivery: %d %v", code, err)
		}
	}
	s.settled(20 * time.Second)

	b := s.balances("acme")
	if b.Balances.WABalance != 995_000 || b.Balances.Outstanding != 0 {
		t.Errorf("balances %+v, want 995,000 credited and outstanding 0", b.Balances)
	}
	if n := s.count(`SELECT count(*) FROM ledger_postings WHERE order_id = $1`, o.ID); n != 2 {
		t.Errorf("postings for the order = %d, want 2 (outstanding paid, rest credited)", n)
	}
	if n := s.count(`SELECT count(*) FROM documents WHERE order_id = $1`, o.ID); n != 2 {
		t.Errorf("documents = %d, want UNPAID and PAID once each", n)
	}
	msgs := s.sink.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d mails, want 3 (billing, how to pay the VA, confirmation)", len(msgs))
	}
	confirmed, instructions := 0, 0
	billingAt, instructionsAt := -1, -1
	for i, m := range msgs {
		p := parse(t, m)
		// Signed by the seller the customer buys from, not by the product.
		if body := mailText(t, m); !strings.Contains(body, "PT Lunas Contoh Indonesia") {
			t.Errorf("mail %d (%s) is not signed by the seller (LUNAS_SELLER_NAME):\n%s", i, p.subject, body)
		}
		switch {
		case strings.HasPrefix(p.subject, "Tagihan "+o.InvoiceNumber):
			billingAt = i
		case strings.HasPrefix(p.subject, "Cara membayar invoice "+o.InvoiceNumber):
			instructionsAt = i
		}
		if strings.Join(p.rcpt, ",") != "sari@acme.example" || strings.Join(p.to, ",") != "sari@acme.example" || len(p.cc)+len(p.bcc) != 0 {
			t.Errorf("mail %d: RCPT TO %v, To %v, Cc %v, Bcc %v: want only the requester", i, p.rcpt, p.to, p.cc, p.bcc)
		}
		if strings.HasPrefix(p.subject, "Cara membayar invoice "+o.InvoiceNumber) {
			instructions++
			if body := mailText(t, m); !strings.Contains(body, a.VANumber) || !strings.Contains(body, "Rp1.110.000") {
				t.Errorf("the instructions mail lacks the VA number %s or the amount:\n%s", a.VANumber, body)
			}
		}
		if strings.HasPrefix(p.subject, "Pembayaran diterima") {
			confirmed++
			pdf := p.attachments[o.InvoiceNumber+".pdf"]
			if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
				t.Errorf("confirmation has no PDF attachment (attachments: %d)", len(p.attachments))
			} else if txt := pdfText(t, pdf); !strings.Contains(txt, "LUNAS") || !strings.Contains(txt, "BCA Virtual Account") {
				t.Errorf("attached PDF does not show PAID by BCA VA:\n%s", txt)
			}
		}
	}
	if confirmed != 1 || instructions != 1 {
		t.Errorf("%d confirmation and %d instruction mails, want 1 and 1", confirmed, instructions)
	}
	// The attempt opened right after the confirm: its instructions follow
	// the bill, never overtake it (the finish issue).
	if billingAt < 0 || instructionsAt < billingAt {
		t.Errorf("the billing mail is mail %d and the instructions mail %d: the instructions must follow the bill", billingAt, instructionsAt)
	}
	if n := s.count(`SELECT count(*) FROM outbox WHERE done_at IS NULL AND task_type <> 'invoice:expire'`); n != 0 {
		t.Errorf("%d outbox rows left undone", n)
	}
}

func pdfText(t *testing.T, pdf []byte) string { return lunastest.PDFText(t, pdf) }

func TestExpiryWithTwoWorkers(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 2})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, s.confirmedOrder("acme", "sari@acme.example", 1_000_000).ID)
	}
	var draft order
	s.call("POST", "/v1/orders", appToken, map[string]any{"account_id": "acme", "requester": map[string]string{"name": "A", "email": "a@acme.example"},
		"items": []map[string]any{{"product": "muv", "quantity": 10}}}, &draft)

	// The clock runs on from the instant it is set to, so this checks within
	// the second before the deadline: the clock propagates in 200 ms, and at
	// least one sweep of each worker (every 300 ms) runs before the check.
	s.setClock("2026-11-23T23:58:59+07:00")
	time.Sleep(400 * time.Millisecond)
	if n := s.count(`SELECT count(*) FROM orders WHERE status = 'awaiting_payment'`); n != len(ids) {
		t.Fatalf("at 23:58:59, %d of %d orders still awaiting payment", n, len(ids))
	}
	s.setClock("2026-11-23T23:59:00+07:00")
	lunastest.Eventually(t, 5*time.Second, "every order expired", func() bool {
		return s.count(`SELECT count(*) FROM orders WHERE status = 'expired'`) == len(ids)
	})
	var stamps []time.Time
	rows, _ := s.pool.Query(context.Background(), `SELECT updated_at FROM orders WHERE status = 'expired' ORDER BY id`)
	for rows.Next() {
		var ts time.Time
		_ = rows.Scan(&ts)
		stamps = append(stamps, ts)
	}
	rows.Close()
	time.Sleep(time.Second) // more sweeps on both workers change nothing
	var again []time.Time
	rows, _ = s.pool.Query(context.Background(), `SELECT updated_at FROM orders WHERE status = 'expired' ORDER BY id`)
	for rows.Next() {
		var ts time.Time
		_ = rows.Scan(&ts)
		again = append(again, ts)
	}
	rows.Close()
	for i := range stamps {
		if !stamps[i].Equal(again[i]) {
			t.Errorf("order %d transitioned again", i)
		}
	}
	// The draft, made at 2026-11-22 10:00, closes at 120 h.
	s.setClock("2026-11-27T09:59:59+07:00")
	time.Sleep(time.Second)
	if st := s.order(draft.ID).Status; st != "draft" {
		t.Errorf("draft at 120 h - 1 s: %s", st)
	}
	s.setClock("2026-11-27T10:00:00+07:00")
	lunastest.Eventually(t, 5*time.Second, "draft closed", func() bool { return s.order(draft.ID).Status == "closed" })
}

func TestRedisOutageLosesNothing(t *testing.T) {
	t.Parallel()
	redis := lunastest.StartRedis(t)
	s := startStack(t, stackOptions{redisURL: redis.URL(), workers: 1})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, s.confirmedOrder("acme", "sari@acme.example", 1_000_000).ID)
	}
	redis.Kill() // with its data: queued and scheduled tasks are gone
	for i := 0; i < 5; i++ {
		ids = append(ids, s.confirmedOrder("acme", "sari@acme.example", 1_000_000).ID)
	}
	if code := s.call("GET", "/readyz", "", nil, nil); code != 503 {
		t.Errorf("/readyz with Redis down = %d", code)
	}
	time.Sleep(time.Second)
	redis.Start()
	s.settled(30 * time.Second)
	if n := len(s.sink.Messages()); n != len(ids) {
		t.Errorf("%d billing mails, want %d (one per order)", n, len(ids))
	}
	if n := s.count(`SELECT count(*) FROM documents WHERE kind = 'unpaid'`); n != len(ids) {
		t.Errorf("%d UNPAID documents, want %d", n, len(ids))
	}
	s.setClock("2026-11-23T23:59:00+07:00")
	lunastest.Eventually(t, 10*time.Second, "every order expired", func() bool {
		return s.count(`SELECT count(*) FROM orders WHERE status = 'expired'`) == len(ids)
	})
	lunastest.Eventually(t, 10*time.Second, "every outbox row done", func() bool {
		return s.count(`SELECT count(*) FROM outbox WHERE done_at IS NULL`) == 0
	})
}

func decodeBase64(b []byte) []byte {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, b)
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, _ := base64.StdEncoding.Decode(out, clean)
	return out[:n]
}

// Two deployments must not share a Redis database: each would run the
// other's tasks against the wrong rows.
func TestRefusesARedisDatabaseOfAnotherDeployment(t *testing.T) {
	t.Parallel()
	redisURL := lunastest.RedisURL(t)
	addr := lunastest.FreeAddr(t)
	env := func(db string) func(string) string {
		return func(k string) string {
			return map[string]string{"LUNAS_DATABASE_URL": db, "LUNAS_REDIS_URL": redisURL, "LUNAS_HTTP_ADDR": addr, "LUNAS_ENV": "test"}[k]
		}
	}
	first, second := lunastest.DatabaseURL(t), lunastest.DatabaseURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs lunastest.SyncBuffer
	go func() { done <- run(ctx, []string{"serve"}, env(first), io.Discard, &logs) }()
	// Stopped however the test ends: a serve left running would go on
	// claiming this Redis database for its deployment after the test gave
	// it back, and refuse the next test's stack.
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	lunastest.Eventually(t, time.Minute, "first deployment up", func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("first deployment exited: %v\n%s", err, logs.String())
		default:
		}
		return err == nil
	})
	if err := stop(); err != nil {
		t.Fatalf("first deployment: %v", err)
	}
	err := run(context.Background(), []string{"serve"}, env(second), io.Discard, io.Discard)
	if !errors.Is(err, redisconn.ErrClaimed) {
		t.Errorf("second deployment on the same Redis database: %v", err)
	}
}
