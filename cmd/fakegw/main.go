// Command fakegw runs lunas's local stand-ins for the outside world: a fake
// Midtrans Core API and a fake Xendit e-wallet API on one address, and an
// SMTP sink with a small web UI. `make run` starts it beside lunas so the
// whole payment flow can be walked without any gateway account:
//
//	curl -XPOST 'http://127.0.0.1:8090/_test/notify/{attempt_id}?status=settlement'
//	curl -XPOST 'http://127.0.0.1:8090/_test/ovo/notify/{attempt_id}?status=SUCCEEDED'
//	open http://127.0.0.1:8025/  (mail caught by the sink)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	stdmime "mime"
	"net/http"
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lunas-id/lunas/gateway/midtrans/midtranstest"
	"github.com/lunas-id/lunas/gateway/ovo/ovotest"
	"github.com/lunas-id/lunas/mail/mailtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fakegw:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fakegw", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "address of the fake Midtrans and Xendit APIs")
	smtpAddr := fs.String("smtp", "127.0.0.1:1025", "SMTP sink address (empty: none)")
	uiAddr := fs.String("ui", "127.0.0.1:8025", "mail web UI address")
	notifyMT := fs.String("notify-midtrans", "http://127.0.0.1:8080/webhooks/midtrans", "where Midtrans notifications go")
	notifyOVO := fs.String("notify-ovo", "http://127.0.0.1:8080/webhooks/ovo", "where OVO callbacks go")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	mt := midtranstest.New(env("MIDTRANS_SERVER_KEY", "SB-Mid-server-FAKE_LOCAL_KEY"))
	mt.NotifyURL = *notifyMT
	xd := ovotest.New(env("XENDIT_SECRET_KEY", "xnd_development_FAKE_LOCAL_KEY"), env("OVO_CALLBACK_TOKEN", "fake-ovo-callback-token"))
	xd.CallbackURL = *notifyOVO

	mux := http.NewServeMux()
	mux.Handle("/ewallets/", xd)
	mux.Handle("/_test/ovo/", xd)
	mux.Handle("/", mt)
	gw := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = gw.ListenAndServe() }()
	log.Info("fake Midtrans and Xendit listening", "addr", *addr)

	if *smtpAddr != "" {
		sink, err := mailtest.Start(*smtpAddr)
		if err != nil {
			return err
		}
		defer sink.Stop()
		ui := &http.Server{Addr: *uiAddr, Handler: mailUI(sink), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ui.ListenAndServe() }()
		defer ui.Close()
		log.Info("SMTP sink listening", "smtp", sink.Addr(), "ui", "http://"+*uiAddr+"/")
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return gw.Shutdown(sctx)
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

var page = template.Must(template.New("ui").Parse(`<!doctype html><title>lunas mail</title>
<h1>Mail caught by the sink ({{len .}})</h1><table border=1 cellpadding=4>
<tr><th>#</th><th>at</th><th>envelope from</th><th>envelope to</th><th>subject</th></tr>
{{range $i, $m := .}}<tr><td><a href="/raw/{{$i}}">{{$i}}</a></td><td>{{$m.At}}</td><td>{{$m.From}}</td><td>{{$m.To}}</td><td>{{$m.Subject}}</td></tr>{{end}}
</table><p>JSON: <a href="/api/messages">/api/messages</a></p>`))

type row struct {
	At      string   `json:"at"`
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
}

func mailUI(sink *mailtest.Sink) http.Handler {
	rows := func() []row {
		var out []row
		for _, m := range sink.Messages() {
			subj := ""
			if msg, err := mail.ReadMessage(strings.NewReader(string(m.Data))); err == nil {
				subj, _ = new(mime).decode(msg.Header.Get("Subject"))
			}
			out = append(out, row{At: m.At.Format(time.RFC3339), From: m.From, To: m.To, Subject: subj})
		}
		return out
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { _ = page.Execute(w, rows()) })
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rows())
	})
	mux.HandleFunc("GET /raw/{i}", func(w http.ResponseWriter, r *http.Request) {
		var i int
		msgs := sink.Messages()
		if _, err := fmt.Sscan(r.PathValue("i"), &i); err != nil || i < 0 || i >= len(msgs) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(msgs[i].Data)
	})
	return mux
}

type mime struct{}

type wordDecoder = stdmime.WordDecoder

func (mime) decode(s string) (string, error) {
	var d = new(wordDecoder)
	return d.DecodeHeader(s)
}
