package mail

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/lunas-id/lunas/internal/mailtest"
)

func TestTransportURLForms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url  string
		ok   bool
		host string
	}{
		{"smtp://127.0.0.1:1025", true, "127.0.0.1"},
		{"smtp://user:p%40ss@mail.example:587", true, "mail.example"},
		{"smtps://mail.example", true, "mail.example"},
		{"smtps://user:pass@mail.example:465", true, "mail.example"},
		{"http://mail.example", false, ""},
		{"smtp://mail.example:notaport", false, ""},
	}
	for _, tc := range cases {
		tr, err := NewTransport(tc.url, time.Second)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.url, err)
			continue
		}
		if tc.ok && (tr.host != tc.host || strings.Contains(tr.redacted, "pass")) {
			t.Errorf("%s: host %q redacted %q", tc.url, tr.host, tr.redacted)
		}
	}
}

func msg(t *testing.T) *gomail.Msg {
	m := gomail.NewMsg()
	if err := m.From("lunas <billing@localhost>"); err != nil {
		t.Fatal(err)
	}
	if err := m.To("sari@acme.example"); err != nil {
		t.Fatal(err)
	}
	m.Subject("test")
	m.SetBodyString(gomail.TypeTextPlain, "hello")
	return m
}

func TestTransportSendsOnlyToTheRecipient(t *testing.T) {
	t.Parallel()
	sink, err := mailtest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Stop()
	tr, err := NewTransport("smtp://user:secret@"+sink.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(context.Background(), msg(t)); err != nil {
		t.Fatal(err)
	}
	got := sink.Messages()
	if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "sari@acme.example" || got[0].User != "user" {
		t.Errorf("envelope %+v", got)
	}
}

func TestStalledServerDoesNotHang(t *testing.T) {
	t.Parallel()
	sink, err := mailtest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Stop()
	sink.Stall(true)
	tr, err := NewTransport("smtp://"+sink.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = tr.Send(context.Background(), msg(t))
	took := time.Since(start)
	if err == nil {
		t.Fatal("send to a stalled server succeeded")
	}
	// The bound is the timeout plus slack for a loaded machine, far below
	// the hour the stalled server would hold us.
	if took > 15*time.Second {
		t.Errorf("send took %s with a 1 s timeout", took)
	}
	t.Logf("stalled server: gave up after %s: %v", took.Round(time.Millisecond), err)
}

func TestInjectionInRecipientIsRefused(t *testing.T) {
	t.Parallel()
	m := gomail.NewMsg()
	if err := m.To("victim@x.example\r\nBcc: evil@x.example"); err == nil {
		t.Error("a recipient with CRLF was accepted")
	}
}

// A session kept for reuse goes stale when the server restarts; the next
// send must notice (NOOP) and open a new session, not fail.
func TestStaleSessionIsReplaced(t *testing.T) {
	t.Parallel()
	sink, err := mailtest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Stop()
	tr, err := NewTransport("smtp://"+sink.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Send(context.Background(), msg(t)); err != nil {
		t.Fatal(err)
	}
	sink.Stop()
	if err := sink.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(context.Background(), msg(t)); err != nil {
		t.Fatalf("send after the server restarted: %v", err)
	}
	if n := len(sink.Messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

// A server that answers 250 to DATA and then drops the connection has
// accepted the mail: Send reports success (it returns at the 250, with no
// RSET after it), and the next mail, finding the session dead at its NOOP
// check, goes over a fresh one.
func TestDropAfterAcceptanceCountsAsSent(t *testing.T) {
	t.Parallel()
	sink, err := mailtest.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Stop()
	sink.DropAfterData(true)
	tr, err := NewTransport("smtp://"+sink.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := 0; i < 3; i++ {
		if err := tr.Send(context.Background(), msg(t)); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	if n := len(sink.Messages()); n != 3 {
		t.Errorf("%d messages accepted, want 3 (one per send)", n)
	}
}

// Send returns at the server's 250 to DATA, before any further command:
// whatever the client said after it (go-mail's NOOP and RSET, by default) would
// widen the window in which a crash leaves an accepted mail unrecorded
// (Service.Send records it right after). The server here answers nothing
// after that 250 and notes what it is sent; Send must come back with
// nothing noted (with them it would wait for the 10 s timeout and the
// test would fail).
func TestSendReturnsAtThe250(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	after := make(chan string, 8) // commands sent after the 250
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		say := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
		say("220 localhost ESMTP")
		delivered := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			switch {
			case delivered:
				after <- cmd // and no answer
			case strings.HasPrefix(cmd, "EHLO"):
				say("250-localhost")
				say("250 8BITMIME")
			case cmd == "DATA":
				say("354 go ahead")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
				}
				say("250 2.0.0 queued")
				delivered = true
			default: // NOOP, MAIL, RCPT
				say("250 OK")
			}
		}
	}()
	tr, err := NewTransport("smtp://"+ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(context.Background(), msg(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case cmd := <-after:
		t.Fatalf("the client sent %q after the 250 before Send returned", cmd)
	default:
	}
}

// A recipient refused with 5xx is refused for good; a 4xx, or a server
// that breaks the connection at RCPT TO (the fault suite's SMTP outage
// caught one there), is tried again: before, a broken pipe at RCPT TO was
// taken for a refusal and the confirmation was never sent.
func TestOnlyA5xxAtRcptIsRefusedForGood(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rcpt    string // the answer to RCPT TO; "" closes the connection instead
		forGood bool
	}{
		{"550 no such user", "550 5.1.1 no such user", true},
		{"450 mailbox busy", "450 4.2.1 mailbox busy", false},
		{"connection closed", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				r := bufio.NewReader(c)
				say := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
				say("220 localhost ESMTP")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"):
						say("250-localhost")
						say("250 8BITMIME")
					case strings.HasPrefix(cmd, "RCPT"):
						if tc.rcpt == "" {
							return
						}
						say(tc.rcpt)
					case cmd == "QUIT":
						say("221 bye")
						return
					default:
						say("250 OK")
					}
				}
			}()
			tr, err := NewTransport("smtp://"+ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			err = tr.Send(context.Background(), msg(t))
			if err == nil {
				t.Fatal("send succeeded")
			}
			if got := refusedForGood(err); got != tc.forGood {
				t.Errorf("refusedForGood(%v) = %v, want %v", err, got, tc.forGood)
			}
		})
	}
}
