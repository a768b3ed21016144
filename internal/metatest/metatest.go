// Package metatest is a fake of Meta's WhatsApp Cloud API webhooks, for
// tests and the README walkthrough: it builds status webhook envelopes the
// way Meta sends them (field order of Meta's reference, timestamps as
// strings, entry[].id the WABA id, non-ASCII escaped as \uXXXX), signs
// them with an app secret in X-Hub-Signature-256, posts them to lunas, and
// runs the GET subscription handshake. Builders make the statuses of
// Meta's examples (sent, delivered with pricing, read, failed).
package metatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lunas-id/lunas/tariff"
	"github.com/lunas-id/lunas/whatsapp"
)

// Defaults of Meta's reference examples, used where a Status leaves its
// ids empty.
const (
	WABAID             = "102290129340398"
	PhoneNumberID      = "106540352242922"
	DisplayPhoneNumber = "15550783881"
)

// Meta is the fake: it signs with the app secret it was made with.
type Meta struct {
	secret []byte
	client *http.Client
}

// New returns a fake Meta signing with appSecret.
func New(appSecret []byte) *Meta {
	return &Meta{secret: appSecret, client: &http.Client{Timeout: 30 * time.Second}}
}

// Signature is the X-Hub-Signature-256 value of body.
func (m *Meta) Signature(body []byte) string { return whatsapp.SignatureValue(m.secret, body) }

// Send posts body to url as Meta does (JSON, signed) and returns the
// HTTP status of the answer.
func (m *Meta) Send(ctx context.Context, url string, body []byte) (int, error) {
	return m.SendSigned(ctx, url, body, m.Signature(body))
}

// SendSigned posts body with the given X-Hub-Signature-256 value ("" sends
// none): for tests of bad and missing signatures.
func (m *Meta) SendSigned(ctx context.Context, url string, body []byte, signature string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	if signature != "" {
		req.Header.Set(whatsapp.SignatureHeader, signature)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// Post builds the envelope of statuses and sends it.
func (m *Meta) Post(ctx context.Context, url string, statuses ...whatsapp.Status) (int, error) {
	return m.Send(ctx, url, Envelope(statuses...))
}

// Handshake makes Meta's subscription check, GET
// url?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…, and returns
// the answer's status and body.
func Handshake(ctx context.Context, rawURL, token, challenge string) (int, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, "", err
	}
	// Meta's order of the parameters; url.Values would sort them.
	q := "hub.mode=subscribe&hub.challenge=" + url.QueryEscape(challenge) + "&hub.verify_token=" + url.QueryEscape(token)
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// Priced is Meta's pricing object of a per-message-priced message:
// billable exactly when typ is regular.
func Priced(typ whatsapp.PricingType, category tariff.Category) *whatsapp.Pricing {
	b := typ == whatsapp.Regular
	return &whatsapp.Pricing{Billable: &b, Model: whatsapp.PerMessage, Type: typ, Category: category}
}

// Sent is a `sent` status without pricing (on Graph v24+ pricing comes
// with one status only; put it here with Priced when wanted).
func Sent(id, recipient string, at time.Time) whatsapp.Status {
	return newStatus(id, recipient, whatsapp.Sent, at)
}

// Delivered is a `delivered` status priced by Meta.
func Delivered(id, recipient string, at time.Time, typ whatsapp.PricingType, category tariff.Category) whatsapp.Status {
	s := newStatus(id, recipient, whatsapp.Delivered, at)
	s.Pricing = Priced(typ, category)
	return s
}

// Read is a `read` status without pricing.
func Read(id, recipient string, at time.Time) whatsapp.Status {
	return newStatus(id, recipient, whatsapp.Read, at)
}

// Failed is a `failed` status with Meta's error, and no pricing.
func Failed(id, recipient string, at time.Time, code int, title string) whatsapp.Status {
	s := newStatus(id, recipient, whatsapp.Failed, at)
	s.ErrorCode, s.ErrorTitle = code, title
	return s
}

func newStatus(id, recipient string, st whatsapp.State, at time.Time) whatsapp.Status {
	return whatsapp.Status{MessageID: id, WABAID: WABAID, PhoneNumberID: PhoneNumberID, DisplayPhoneNumber: DisplayPhoneNumber,
		RecipientID: strings.TrimPrefix(recipient, "+"), Status: st, Timestamp: at.UTC().Truncate(time.Second)}
}

// The envelope, field for field in the order of Meta's reference.
type envelope struct {
	Object string  `json:"object"`
	Entry  []entry `json:"entry"`
}

type entry struct {
	ID      string   `json:"id"`
	Changes []change `json:"changes"`
}

type change struct {
	Value value  `json:"value"`
	Field string `json:"field"`
}

type value struct {
	MessagingProduct string   `json:"messaging_product"`
	Metadata         metadata `json:"metadata"`
	Statuses         []status `json:"statuses"`
}

type metadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

type status struct {
	ID           string        `json:"id"`
	Status       string        `json:"status"`
	Timestamp    string        `json:"timestamp"`
	RecipientID  string        `json:"recipient_id"`
	Conversation *conversation `json:"conversation,omitempty"`
	Pricing      *pricing      `json:"pricing,omitempty"`
	Errors       []metaError   `json:"errors,omitempty"`
}

type conversation struct {
	ID                  string `json:"id"`
	ExpirationTimestamp string `json:"expiration_timestamp,omitempty"`
	Origin              struct {
		Type string `json:"type"`
	} `json:"origin"`
}

type pricing struct {
	Billable     *bool  `json:"billable,omitempty"`
	PricingModel string `json:"pricing_model"`
	Type         string `json:"type"`
	Category     string `json:"category"`
}

type metaError struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
	Href string `json:"href"`
}

// Envelope is the webhook body Meta would send for statuses: one entry per
// WABA and, in it, one change per business phone number, in the order
// they first appear. Empty ids take the defaults above. As on Graph v24+,
// a conversation object appears only with a free entry point; Meta's
// category spelling "authentication-international" is used.
func Envelope(statuses ...whatsapp.Status) []byte {
	env := envelope{Object: whatsapp.Object, Entry: []entry{}}
	entryOf := map[string]int{}
	changeOf := map[[2]string]int{}
	for _, s := range statuses {
		waba, phone, display := or(s.WABAID, WABAID), or(s.PhoneNumberID, PhoneNumberID), or(s.DisplayPhoneNumber, DisplayPhoneNumber)
		i, ok := entryOf[waba]
		if !ok {
			i = len(env.Entry)
			entryOf[waba] = i
			env.Entry = append(env.Entry, entry{ID: waba})
		}
		e := &env.Entry[i]
		j, ok := changeOf[[2]string{waba, phone}]
		if !ok {
			j = len(e.Changes)
			changeOf[[2]string{waba, phone}] = j
			e.Changes = append(e.Changes, change{Field: "messages", Value: value{MessagingProduct: "whatsapp",
				Metadata: metadata{DisplayPhoneNumber: display, PhoneNumberID: phone}}})
		}
		v := &e.Changes[j].Value
		v.Statuses = append(v.Statuses, wire(s))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		panic("metatest: " + err.Error()) // strings, ints and bools only
	}
	return escapeNonASCII(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func wire(s whatsapp.Status) status {
	w := status{ID: s.MessageID, Status: string(s.Status), Timestamp: strconv.FormatInt(s.Timestamp.Unix(), 10), RecipientID: s.RecipientID}
	if p := s.Pricing; p != nil {
		cat := string(p.Category)
		if p.Category == tariff.AuthenticationInternational {
			cat = "authentication-international" // Meta's spelling in pricing.category
		}
		w.Pricing = &pricing{Billable: p.Billable, PricingModel: string(p.Model), Type: string(p.Type), Category: cat}
		if p.Type == whatsapp.FreeEntryPoint {
			// Unique per entry-point window at Meta; one per recipient here.
			w.Conversation = &conversation{ID: fmt.Sprintf("fep%x", s.RecipientID)}
			w.Conversation.Origin.Type = "referral_conversion"
			if s.Status == whatsapp.Sent {
				w.Conversation.ExpirationTimestamp = strconv.FormatInt(s.Timestamp.Add(72*time.Hour).Unix(), 10)
			}
		}
	}
	if s.Status == whatsapp.Failed || s.ErrorCode != 0 || s.ErrorTitle != "" {
		e := metaError{Code: s.ErrorCode, Title: s.ErrorTitle, Message: s.ErrorTitle,
			Href: "/documentation/business-messaging/whatsapp/support/error-codes"}
		e.ErrorData.Details = s.ErrorTitle
		w.Errors = []metaError{e}
	}
	return w
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// escapeNonASCII writes every non-ASCII character as \uXXXX (a surrogate
// pair above U+FFFF), as Meta's payloads do — and as its signature is
// computed over. Non-ASCII only occurs inside JSON strings, so this is safe
// on the whole document.
func escapeNonASCII(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf:
			out.WriteByte(b[0])
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		b = b[n:]
	}
	return out.Bytes()
}
