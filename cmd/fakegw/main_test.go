package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// freeAddr holds a free loopback port in this project's test range
// (21000–21999; the range is shared, so the start depends on the process).
func freeAddr(t *testing.T) net.Listener {
	t.Helper()
	start := 21600 + os.Getpid()%300
	for p := start; p < start+100; p++ {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			return ln
		}
	}
	t.Fatal("no free port in 21600–21999")
	return nil
}

// released returns n distinct free addresses, let go for fakegw to take.
func released(t *testing.T, n int) []string {
	var lns []net.Listener
	var out []string
	for range n {
		ln := freeAddr(t)
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func noEnv(string) string { return "" }

// A taken port stops fakegw at once, naming the port and how to move it;
// nothing is left serving.
func TestTakenPortIsAnError(t *testing.T) {
	for _, c := range []struct {
		taken string // which of the three addresses is held
		want  []string
	}{
		{"addr", []string{"gateway: cannot listen on", "-addr or FAKEGW_ADDR"}},
		{"smtp", []string{"SMTP sink: cannot listen on", "-smtp or FAKEGW_SMTP_ADDR"}},
		{"ui", []string{"mail UI: cannot listen on", "-ui or FAKEGW_UI_ADDR"}},
	} {
		held := freeAddr(t)
		free := released(t, 2)
		addrs := map[string]string{}
		for _, k := range []string{"addr", "smtp", "ui"} {
			if k == c.taken {
				addrs[k] = held.Addr().String()
			} else {
				addrs[k], free = free[0], free[1:]
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, []string{"-addr", addrs["addr"], "-smtp", addrs["smtp"], "-ui", addrs["ui"]}, noEnv, io.Discard)
		cancel()
		held.Close()
		if err == nil {
			t.Fatalf("%s taken: fakegw ran", c.taken)
		}
		for _, w := range append(c.want, addrs[c.taken]) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s taken: error %q lacks %q", c.taken, err, w)
			}
		}
		// What it had opened is closed again: the other ports are free.
		for k, a := range addrs {
			if k == c.taken {
				continue
			}
			ln, err := net.Listen("tcp", a)
			if err != nil {
				t.Errorf("%s taken: %s (%s) still held after the error: %v", c.taken, k, a, err)
				continue
			}
			ln.Close()
		}
	}
}

// The ports come from the environment when no flag is given.
func TestAddressesFromEnvironment(t *testing.T) {
	a := released(t, 3)
	env := map[string]string{"FAKEGW_ADDR": a[0], "FAKEGW_SMTP_ADDR": a[1], "FAKEGW_UI_ADDR": a[2]}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for _, a := range env {
		waitFor(t, a)
	}
}

func waitFor(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A mail as lunas sends it (go-mail: text and HTML alternatives, a PDF
// attachment) is shown with its HTML body and a download of the attachment.
func TestMailUIShowsBodyAndAttachment(t *testing.T) {
	a := released(t, 3)
	gwAddr, smtpAddr, uiAddr := a[0], a[1], a[2]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", gwAddr, "-smtp", smtpAddr, "-ui", uiAddr}, noEnv, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, smtpAddr)
	waitFor(t, uiAddr)

	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 5000)...)
	m := gomail.NewMsg()
	if err := m.From("lunas <billing@localhost>"); err != nil {
		t.Fatal(err)
	}
	if err := m.To("sari@acme.example"); err != nil {
		t.Fatal(err)
	}
	m.Subject("Faktur INV-2026-000042 — LUNAS")
	m.SetBodyString(gomail.TypeTextPlain, "Terima kasih, Sari.")
	m.AddAlternativeString(gomail.TypeTextHTML, `<p>Terima kasih, <b>Sari</b>. Total <span id="t">Rp1.776.000</span></p>`)
	if err := m.AttachReader("INV-2026-000042.pdf", bytes.NewReader(pdf), gomail.WithFileContentType(gomail.ContentType("application/pdf"))); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(smtpAddr)
	p, _ := strconv.Atoi(port)
	c, err := gomail.NewClient(host, gomail.WithPort(p), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithHELO("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DialAndSend(m); err != nil {
		t.Fatal(err)
	}

	base := "http://" + uiAddr
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	if _, list := get("/"); !strings.Contains(list, `href="/mail/0"`) || !strings.Contains(list, "Faktur INV-2026-000042 — LUNAS") {
		t.Errorf("list:\n%s", list)
	}
	_, detail := get("/mail/0")
	for _, want := range []string{"Faktur INV-2026-000042 — LUNAS", `<iframe sandbox src="/mail/0/html"`, `href="/mail/0/attachments/0"`,
		"INV-2026-000042.pdf", "application/pdf", fmt.Sprint(len(pdf)), "Terima kasih, Sari."} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail page lacks %q:\n%s", want, detail)
		}
	}
	res, html := get("/mail/0/html")
	if !strings.Contains(html, `<span id="t">Rp1.776.000</span>`) || !strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("HTML body (CSP %q):\n%s", res.Header.Get("Content-Security-Policy"), html)
	}
	res, body := get("/mail/0/attachments/0")
	if body != string(pdf) || res.Header.Get("Content-Type") != "application/pdf" ||
		res.Header.Get("Content-Disposition") != `attachment; filename=INV-2026-000042.pdf` {
		t.Errorf("attachment: %d bytes, %q, %q", len(body), res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	for _, path := range []string{"/mail/1", "/mail/x", "/mail/0/attachments/1", "/mail/-1/html"} {
		if res, _ := get(path); res.StatusCode != 404 {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
}
