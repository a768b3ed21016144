package webhook

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks specification's published vector, as its
// reference libraries test it (libraries/go/webhook_test.go
// TestWebhookSign, and the same values in the C#, Java, Python and Elixir
// suites).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheSpecificationVector(t *testing.T) {
	got, err := Sign(vectorSecret, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorPayload))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSignature {
		t.Fatalf("signature %s, the specification says %s", got, vectorSignature)
	}
	// The secret without its prefix is the same key (the libraries accept both).
	got2, _ := Sign(strings.TrimPrefix(vectorSecret, SecretPrefix), vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorPayload))
	if got2 != vectorSignature {
		t.Fatalf("unprefixed secret: %s", got2)
	}
}

// The specification's negative cases: what was signed must be exactly
// what is verified — another id, timestamp, body or secret does not verify.
func TestSignaturesVerifyWithTheSpecificationLibrary(t *testing.T) {
	secret := NewSecret()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) != 24 || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q: %v (%d bytes)", secret, err, len(key))
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"type":"order.paid","timestamp":"2026-11-22T10:00:00+07:00","data":{"id":"ord_1"}}`)
	sig, err := Sign(secret, "evt_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	headers := func(id, ts, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		return h
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	if err := wh.Verify(body, headers("evt_1", ts, sig)); err != nil {
		t.Fatalf("the library refuses our signature: %v", err)
	}
	other, _ := standardwebhooks.NewWebhook(NewSecret())
	for name, c := range map[string]struct {
		wh   *standardwebhooks.Webhook
		body []byte
		h    http.Header
	}{
		"another id":        {wh, body, headers("evt_2", ts, sig)},
		"another timestamp": {wh, body, headers("evt_1", strconv.FormatInt(now.Unix()+1, 10), sig)},
		"another body":      {wh, append([]byte{}, append(body, ' ')...), headers("evt_1", ts, sig)},
		"another secret":    {other, body, headers("evt_1", ts, sig)},
		"the vector's signature with a changed byte": {wh, body, headers("evt_1", ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=")},
	} {
		if err := c.wh.Verify(c.body, c.h); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestSealer(t *testing.T) {
	s, err := NewSealer("a signing key")
	if err != nil {
		t.Fatal(err)
	}
	sec := NewSecret()
	sealed := s.Seal("we_1", sec)
	if strings.Contains(string(sealed), strings.TrimPrefix(sec, SecretPrefix)) {
		t.Fatal("sealed secret holds the secret in clear")
	}
	if got, err := s.Open("we_1", sealed); err != nil || got != sec {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.Open("we_2", sealed); err == nil {
		t.Fatal("a sealed secret opened for another endpoint")
	}
	other, _ := NewSealer("another signing key")
	if _, err := other.Open("we_1", sealed); err == nil {
		t.Fatal("a sealed secret opened under another signing key")
	}
}
