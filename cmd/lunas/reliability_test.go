package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/lunastest"
)

// payable creates and confirms an order for requester i and opens a BCA VA
// attempt at the fake Midtrans; it returns the order and attempt ids.
func (s *stack) payable(accountID string, i int) (string, string) {
	s.t.Helper()
	o := s.confirmedOrder(accountID, fmt.Sprintf("req-%d@acme.example", i), 1_000_000)
	var a attempt
	if code := s.call("POST", "/v1/orders/"+o.ID+"/payments", appToken, map[string]string{"method": "bca_va"}, &a); code != 201 {
		s.t.Fatalf("payment: %d", code)
	}
	return o.ID, a.ID
}

// callRetrying is call as a well-behaved client does it: a 503 (the
// database deadline passed; on two shared cores under -race a burst of
// serialised confirms can take that long) is retried after a pause, for up
// to a minute. It reports whether an earlier try had been answered 503, so
// a caller can tell "already done by the try that timed out" (409) apart.
func (s *stack) callRetrying(method, path, token string, body, out any) (code int, retried bool) {
	deadline := time.Now().Add(time.Minute)
	for {
		var raw json.RawMessage
		code = s.call(method, path, token, body, &raw)
		if code < 300 && out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				s.t.Errorf("%s %s: %v", method, path, err)
			}
		}
		if code != 503 || time.Now().After(deadline) {
			return code, retried
		}
		retried = true
		time.Sleep(500 * time.Millisecond)
	}
}

// confirmRetrying confirms an order, retrying on 503; a try that was
// answered 503 may still have committed, so a 409 after it is checked
// against the order's state.
func (s *stack) confirmRetrying(id string) error {
	var o struct {
		Status    string `json:"status"`
		ExpiresAt string `json:"expires_at"`
	}
	code, retried := s.callRetrying("POST", "/v1/orders/"+id+"/confirm", appToken, nil, &o)
	if code == 409 && retried {
		code, _ = s.callRetrying("GET", "/v1/orders/"+id, appToken, nil, &o)
	}
	if code != 200 || o.Status != "awaiting_payment" {
		return fmt.Errorf("confirm %s: %d, status %q", id, code, o.Status)
	}
	if o.ExpiresAt != "2026-11-23T23:59:00+07:00" {
		return fmt.Errorf("confirm %s: expires_at %s", id, o.ExpiresAt)
	}
	return nil
}

// notifyAll sends one settlement notification per attempt, concurrently.
func (s *stack) notifyAll(attempts []string) {
	s.t.Helper()
	var wg sync.WaitGroup
	for _, id := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.midtrans.Notify(context.Background(), id, "settlement", "", 1); err != nil {
				s.t.Errorf("notify %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
}

// acceptedPerMessageID counts the messages the sink accepted by Message-ID.
func (s *stack) acceptedPerMessageID() map[string]int {
	s.t.Helper()
	n := map[string]int{}
	for _, m := range s.sink.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			s.t.Fatal(err)
		}
		n[msg.Header.Get("Message-Id")]++
	}
	return n
}

// An SMTP server that answers 250 to DATA and then drops the connection has
// accepted the mail: it is recorded as sent at once and never sent again.
// Before, go-mail's failed RSET made lunas retry it (8 copies in 150 s).
func TestMailAcceptedOnceWhenTheConnectionDropsAfterData(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{workers: 2})
	s.sink.DropAfterData(true)
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	const n = 10
	var attempts []string
	for i := 0; i < n; i++ {
		_, a := s.payable("acme", i)
		attempts = append(attempts, a)
	}
	s.notifyAll(attempts)
	// Every billing and confirmation mail recorded sent, every job done.
	s.settled(60 * time.Second)
	// A wrong outcome would be retried by asynq within seconds (1 s, 2 s,
	// 4 s, …); give retries time to show, then count.
	time.Sleep(5 * time.Second)
	per := s.acceptedPerMessageID()
	if len(per) != 3*n {
		t.Errorf("%d distinct mails accepted, want %d (billing, how to pay the VA, confirmation per order)", len(per), 3*n)
	}
	for id, c := range per {
		if c != 1 {
			t.Errorf("mail %s accepted %d times", id, c)
		}
	}
	if got := s.count(`SELECT count(*) FROM mails WHERE status = 'sent' AND attempts = 1`); got != 3*n {
		t.Errorf("%d mails sent at the first attempt, want %d", got, 3*n)
	}
	t.Logf("drop after DATA: %d mails, each accepted once (%d messages in the sink), all recorded sent at the first attempt",
		len(per), len(s.sink.Messages()))
}

// An SMTP server that accepts connections and never answers fills the mail
// pool's slots only: 30 settlements are paid while every mail is still stuck.
func TestStalledSMTPDoesNotHoldSettlementsBack(t *testing.T) {
	t.Parallel()
	// Stalled sessions hold their mail task for as long as the test runs
	// (the SMTP timeout is far away), so settlement can only finish if it
	// never needs a slot a mail task holds.
	s := startStack(t, stackOptions{workers: 1, env: map[string]string{"LUNAS_SMTP_TIMEOUT": "10m"}})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	s.sink.Stall(true)
	const n = 30
	var orders, attempts []string
	for i := 0; i < n; i++ {
		o, a := s.payable("acme", i)
		orders, attempts = append(orders, o), append(attempts, a)
	}
	// The billing mails are queued and stuck in the stalled sessions.
	lunastest.Eventually(t, 10*time.Second, "mail tasks stuck on the stalled SMTP server", func() bool {
		return s.count(`SELECT count(*) FROM mails WHERE lease_until IS NOT NULL`) > 0
	})
	start := time.Now()
	s.notifyAll(attempts)
	lunastest.Eventually(t, 30*time.Second, "every order paid", func() bool {
		return s.count(`SELECT count(*) FROM orders WHERE id = ANY($1) AND status = 'paid'`, orders) == n
	})
	took := time.Since(start)
	sent := s.count(`SELECT count(*) FROM mails WHERE status = 'sent'`)
	ended := s.count(`SELECT count(*) FROM mails WHERE attempts > 0`)
	leased := s.count(`SELECT count(*) FROM mails WHERE lease_until IS NOT NULL`)
	accepted := len(s.sink.Messages())
	t.Logf("stalled SMTP: %d settlements paid %s after their notifications; meanwhile %d mail tasks stuck in stalled sessions, mails sent: %d, accepted: %d, send attempts ended: %d",
		n, took.Round(time.Millisecond), leased, sent, accepted, ended)
	// With one pool for every kind, the stuck mail tasks held the slots
	// settlement needed, and settlement waited for their SMTP timeout.
	if sent != 0 || accepted != 0 || ended != 0 {
		t.Fatalf("the SMTP server was stalled, yet %d mails were recorded sent (%d accepted, %d attempts ended)", sent, accepted, ended)
	}
	if q := s.count(`SELECT count(*) FROM mails WHERE status = 'queued'`); q != 3*n {
		t.Errorf("%d mails queued, want %d (billing, VA instructions, confirmation: all held by the stalled server)", q, 3*n)
	}
	// And once the server answers again, every mail goes out once.
	s.sink.Stall(false)
	s.settled(90 * time.Second)
	for id, c := range s.acceptedPerMessageID() {
		if c != 1 {
			t.Errorf("mail %s accepted %d times", id, c)
		}
	}
}

// Orders confirmed right after the clock moved back must not be expired by
// a process still on the old clock: every process reads the clock's offset
// at each Now, so the change is seen everywhere before the PUT answers.
// Before, processes refreshed it every 200 ms and a worker expired 13 of
// 100 such orders.
func TestClockMovedBackNoOrderExpires(t *testing.T) {
	t.Parallel()
	// Sweeps every 50 ms, so a worker on a stale clock would act within
	// the 200 ms the old refresh left it stale.
	s := startStack(t, stackOptions{workers: 2, env: map[string]string{"LUNAS_SWEEP_INTERVAL": "50ms"}})
	s.setClock("2026-11-22T10:00:00+07:00")
	s.account("acme")
	const n = 100
	ids := make([]string, n)
	for i := range ids {
		var o order
		body := map[string]any{"account_id": "acme", "requester": map[string]string{"name": "Sari Dewi", "email": fmt.Sprintf("req-%d@acme.example", i)},
			"items": []map[string]any{{"product": "wa_balance", "quantity": 1_000_000}}}
		if code := s.call("POST", "/v1/orders", appToken, body, &o); code != 201 {
			t.Fatalf("create order: %d", code)
		}
		ids[i] = o.ID
	}
	// Three days on: a deadline set on the 22nd is long past there.
	s.setClock("2026-11-25T10:00:00+07:00")
	// Let every worker run sweeps on the late clock.
	time.Sleep(time.Second)
	// Back to the 22nd, and at once confirm every order (deadline: the 23rd, 23:59).
	s.setClock("2026-11-22T10:00:00+07:00")
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.confirmRetrying(id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Give both workers' sweepers and the expire tasks the
	// relay hands them time to act on a stale clock, if they had one.
	lunastest.Eventually(t, 60*time.Second, "every expire job relayed", func() bool {
		return s.count(`SELECT count(*) FROM outbox WHERE task_type = 'invoice:expire' AND relayed_at IS NOT NULL`) == n
	})
	time.Sleep(2 * time.Second)
	expired := s.count(`SELECT count(*) FROM orders WHERE id = ANY($1) AND status = 'expired'`, ids)
	waiting := s.count(`SELECT count(*) FROM orders WHERE id = ANY($1) AND status = 'awaiting_payment'`, ids)
	t.Logf("clock moved back, %d orders confirmed at once with two workers: %d awaiting payment, %d expired", n, waiting, expired)
	if expired != 0 || waiting != n {
		t.Errorf("%d of %d orders expired on a stale clock (%d awaiting payment)", expired, n, waiting)
	}
}
