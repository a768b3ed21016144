package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/lunas-id/lunas/internal/mailtest"
)

// parsedMail is one caught mail, taken apart for the UI.
type parsedMail struct {
	ID          int          `json:"id"`
	At          string       `json:"at"`
	From        string       `json:"from"` // envelope
	To          []string     `json:"to"`   // envelope
	HeaderFrom  string       `json:"header_from"`
	HeaderTo    string       `json:"header_to"`
	Subject     string       `json:"subject"`
	Text        string       `json:"-"`
	HTML        string       `json:"-"`
	Attachments []attachment `json:"attachments"`
	Error       string       `json:"error,omitempty"` // why the MIME structure could not be read
}

type attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	data        []byte
}

var words = new(mime.WordDecoder)

// parseMail reads a mail's headers, its first text and HTML bodies and its
// attachments, through any nesting of multipart parts (go-mail writes
// multipart/mixed around multipart/alternative).
func parseMail(id int, m mailtest.Message) parsedMail {
	p := parsedMail{ID: id, At: m.At.Format(time.RFC3339), From: m.From, To: m.To}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		p.Error = err.Error()
		return p
	}
	dec := func(s string) string {
		if d, err := words.DecodeHeader(s); err == nil {
			return d
		}
		return s
	}
	p.Subject, p.HeaderFrom, p.HeaderTo = dec(msg.Header.Get("Subject")), dec(msg.Header.Get("From")), dec(msg.Header.Get("To"))
	if err := walk(textproto.MIMEHeader(msg.Header), msg.Body, &p, 0); err != nil {
		p.Error = err.Error()
	}
	return p
}

func walk(h textproto.MIMEHeader, body io.Reader, p *parsedMail, depth int) error {
	if depth > 10 {
		return fmt.Errorf("multipart nested deeper than 10")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ct, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// Raw: walk decodes the transfer encoding itself, for every part alike.
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(part.Header, part, p, depth+1); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // ignores line breaks
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%s part: %w", mt, err)
	}
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	if d, err := words.DecodeHeader(name); err == nil {
		name = d
	}
	switch {
	case disp != "attachment" && mt == "text/html" && p.HTML == "":
		p.HTML = string(data)
	case disp != "attachment" && mt == "text/plain" && p.Text == "":
		p.Text = string(data)
	default:
		if name == "" {
			name = fmt.Sprintf("part-%d", len(p.Attachments)+1)
		}
		p.Attachments = append(p.Attachments, attachment{Name: name, ContentType: mt, Size: len(data), data: data})
	}
	return nil
}

var (
	listPage = template.Must(template.New("list").Parse(`<!doctype html><meta charset="utf-8"><title>lunas mail</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>
<h1>Mail caught by the sink ({{len .}})</h1>
<table><tr><th>#</th><th>at</th><th>from</th><th>to</th><th>subject</th><th>attachments</th></tr>
{{range .}}<tr><td><a href="/mail/{{.ID}}">{{.ID}}</a></td><td>{{.At}}</td><td>{{.From}}</td><td>{{range .To}}{{.}} {{end}}</td>
<td><a href="/mail/{{.ID}}">{{.Subject}}</a></td><td>{{range .Attachments}}{{.Name}} {{end}}</td></tr>
{{end}}</table><p>JSON: <a href="/api/messages">/api/messages</a></p>`))

	detailPage = template.Must(template.New("detail").Parse(`<!doctype html><meta charset="utf-8"><title>{{.Subject}}</title>
<style>body{font-family:sans-serif;margin:2em}dt{font-weight:bold}iframe{width:100%;height:70vh;border:1px solid #ccc}pre{white-space:pre-wrap;background:#f6f6f6;padding:1em}</style>
<p><a href="/">← all mail</a> · <a href="/raw/{{.ID}}">raw message</a></p>
<h1>{{.Subject}}</h1>
<dl><dt>From</dt><dd>{{.HeaderFrom}} (envelope {{.From}})</dd><dt>To</dt><dd>{{.HeaderTo}} (envelope {{range .To}}{{.}} {{end}})</dd><dt>Received</dt><dd>{{.At}}</dd></dl>
{{if .Error}}<p><strong>Could not read the MIME structure:</strong> {{.Error}}</p>{{end}}
<h2>Attachments ({{len .Attachments}})</h2>
<ul>{{$id := .ID}}{{range $j, $a := .Attachments}}<li><a href="/mail/{{$id}}/attachments/{{$j}}">{{$a.Name}}</a> ({{$a.ContentType}}, {{$a.Size}} bytes)</li>{{end}}</ul>
{{if .HTML}}<h2>HTML body</h2><iframe sandbox src="/mail/{{.ID}}/html" title="HTML body"></iframe>{{end}}
{{if .Text}}<h2>Text body</h2><pre>{{.Text}}</pre>{{end}}`))
)

func mailUI(sink *mailtest.Sink) http.Handler {
	all := func() []parsedMail {
		msgs := sink.Messages()
		out := make([]parsedMail, len(msgs))
		for i, m := range msgs {
			out[i] = parseMail(i, m)
		}
		return out
	}
	one := func(w http.ResponseWriter, r *http.Request) (parsedMail, bool) {
		msgs := sink.Messages()
		i, err := strconv.Atoi(r.PathValue("i"))
		if err != nil || i < 0 || i >= len(msgs) {
			http.NotFound(w, r)
			return parsedMail{}, false
		}
		return parseMail(i, msgs[i]), true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { _ = listPage.Execute(w, all()) })
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(all())
	})
	mux.HandleFunc("GET /mail/{i}", func(w http.ResponseWriter, r *http.Request) {
		if p, ok := one(w, r); ok {
			_ = detailPage.Execute(w, p)
		}
	})
	mux.HandleFunc("GET /mail/{i}/html", func(w http.ResponseWriter, r *http.Request) {
		p, ok := one(w, r)
		if !ok {
			return
		}
		// The mail's own HTML, shown in a sandboxed frame: no scripts, no
		// access to the UI's origin.
		w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src data: http: https:; style-src 'unsafe-inline'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, p.HTML)
	})
	mux.HandleFunc("GET /mail/{i}/attachments/{j}", func(w http.ResponseWriter, r *http.Request) {
		p, ok := one(w, r)
		if !ok {
			return
		}
		j, err := strconv.Atoi(r.PathValue("j"))
		if err != nil || j < 0 || j >= len(p.Attachments) {
			http.NotFound(w, r)
			return
		}
		a := p.Attachments[j]
		w.Header().Set("Content-Type", a.ContentType)
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(a.data)
	})
	mux.HandleFunc("GET /raw/{i}", func(w http.ResponseWriter, r *http.Request) {
		msgs := sink.Messages()
		i, err := strconv.Atoi(r.PathValue("i"))
		if err != nil || i < 0 || i >= len(msgs) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(msgs[i].Data)
	})
	return mux
}
