// Command fakegw runs lunas's local stand-ins for the outside world: a fake
// Midtrans Core API and a fake Xendit e-wallet API on one address, and an
// SMTP sink with a small web UI that shows each mail (its HTML body, text
// body and attachments). `make run` starts it beside lunas so the whole
// payment flow can be walked without any gateway account:
//
//	curl -XPOST 'http://127.0.0.1:8090/_test/notify/{attempt_id}?status=settlement'
//	curl -XPOST 'http://127.0.0.1:8090/_test/ovo/notify/{attempt_id}?status=SUCCEEDED'
//	curl -XPOST 'http://127.0.0.1:8090/_test/scan/{attempt_id}?issuer=dana'  (a QRIS app pays a QRIS or GoPay QR)
//	curl -XPOST 'http://127.0.0.1:8090/_test/approve/{attempt_id}'  (approved in the GoPay / ShopeePay app)
//	xdg-open {deeplink_url}   (the fake wallet app a GoPay / ShopeePay deeplink opens: pay or decline)
//	curl http://127.0.0.1:8090/whatsapp/_test/messages  (WhatsApp messages the fake took)
//	xdg-open http://127.0.0.1:8025/   (mail caught by the sink)
//
// Every address is a flag, or an environment variable when the flag is not
// given:
//
//	-addr             FAKEGW_ADDR             fake Midtrans + Xendit     127.0.0.1:8090
//	-smtp             FAKEGW_SMTP_ADDR        SMTP sink ("" for none)    127.0.0.1:1025
//	-ui               FAKEGW_UI_ADDR          mail web UI                127.0.0.1:8025
//	-notify-midtrans  FAKEGW_NOTIFY_MIDTRANS  where notifications go     http://127.0.0.1:8080/webhooks/midtrans
//	-notify-ovo       FAKEGW_NOTIFY_OVO       where OVO callbacks go     http://127.0.0.1:8080/webhooks/ovo
//
// An address that is taken is an error at start: fakegw never runs beside
// another program on its ports (lunas would talk to whoever holds them).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lunas-id/lunas/internal/mailtest"
	"github.com/lunas-id/lunas/internal/midtranstest"
	"github.com/lunas-id/lunas/internal/ovotest"
	"github.com/lunas-id/lunas/internal/whatsapptest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fakegw:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	env := func(k, def string) string {
		if v, ok := lookupEnv(getenv, k); ok {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("fakegw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", env("FAKEGW_ADDR", "127.0.0.1:8090"), "address of the fake Midtrans and Xendit APIs (FAKEGW_ADDR)")
	smtpAddr := fs.String("smtp", env("FAKEGW_SMTP_ADDR", "127.0.0.1:1025"), "SMTP sink address, empty for none (FAKEGW_SMTP_ADDR)")
	uiAddr := fs.String("ui", env("FAKEGW_UI_ADDR", "127.0.0.1:8025"), "mail web UI address (FAKEGW_UI_ADDR)")
	notifyMT := fs.String("notify-midtrans", env("FAKEGW_NOTIFY_MIDTRANS", "http://127.0.0.1:8080/webhooks/midtrans"),
		"where Midtrans notifications go (FAKEGW_NOTIFY_MIDTRANS)")
	notifyOVO := fs.String("notify-ovo", env("FAKEGW_NOTIFY_OVO", "http://127.0.0.1:8080/webhooks/ovo"),
		"where OVO callbacks go (FAKEGW_NOTIFY_OVO)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	mt := midtranstest.New(env("MIDTRANS_SERVER_KEY", "SB-Mid-server-FAKE_LOCAL_KEY"))
	mt.NotifyURL = *notifyMT
	xd := ovotest.New(env("XENDIT_SECRET_KEY", "xnd_development_FAKE_LOCAL_KEY"), env("OVO_CALLBACK_TOKEN", "fake-ovo-callback-token"))
	xd.CallbackURL = *notifyOVO

	// Every port is taken before anything is served: one that is held by
	// another program stops fakegw with its name, instead of fakegw running
	// half-started while lunas talks to that program.
	gwLn, err := listen("gateway", *addr, "-addr", "FAKEGW_ADDR")
	if err != nil {
		return err
	}
	defer gwLn.Close()
	var sink *mailtest.Sink
	var uiLn net.Listener
	if *smtpAddr != "" {
		if sink, err = mailtest.Start(*smtpAddr); err != nil {
			return takenError("SMTP sink", *smtpAddr, "-smtp", "FAKEGW_SMTP_ADDR", err)
		}
		defer sink.Stop()
		if uiLn, err = listen("mail UI", *uiAddr, "-ui", "FAKEGW_UI_ADDR"); err != nil {
			return err
		}
		defer uiLn.Close()
	}

	mux := http.NewServeMux()
	// The fake Fonnte-compatible WhatsApp gateway (bulk sending):
	// POST /whatsapp/send; what it took: GET /whatsapp/_test/messages.
	mux.Handle("/whatsapp/", http.StripPrefix("/whatsapp", whatsapptest.New(env("LUNAS_WHATSAPP_TOKEN", "fake-whatsapp-token"))))
	mux.Handle("/ewallets/", xd)
	mux.Handle("/_test/ovo/", xd)
	mux.Handle("/", mt)
	gw := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- gw.Serve(gwLn) }()
	log.Info("fake Midtrans and Xendit listening", "addr", gwLn.Addr().String(),
		"notify_midtrans", *notifyMT, "notify_ovo", *notifyOVO)
	var ui *http.Server
	if sink != nil {
		ui = &http.Server{Handler: mailUI(sink), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- ui.Serve(uiLn) }()
		log.Info("SMTP sink listening", "smtp", sink.Addr(), "ui", "http://"+uiLn.Addr().String()+"/")
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ui != nil {
		_ = ui.Shutdown(sctx)
	}
	if err := gw.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func listen(what, addr, flagName, envName string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, takenError(what, addr, flagName, envName, err)
	}
	return ln, nil
}

func takenError(what, addr, flagName, envName string, err error) error {
	return fmt.Errorf("%s: cannot listen on %s (%v): is another fakegw, mail catcher or program holding it? "+
		"Stop it, or choose another address with %s or %s", what, addr, err, flagName, envName)
}

func lookupEnv(getenv func(string) string, k string) (string, bool) {
	v := getenv(k)
	return v, v != ""
}
