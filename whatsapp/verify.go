package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/url"
	"strings"
)

// SignatureHeader is the header Meta signs webhook bodies in.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Verify reports whether header (the value of X-Hub-Signature-256) is
// "sha256=" and the hex HMAC-SHA256 of body, the raw bytes as received,
// keyed with the app secret. The comparison takes constant time; a
// missing or malformed header, or an empty secret (a configuration that
// would accept anyone who signs with the empty key), is false.
func Verify(appSecret, body []byte, header string) bool {
	if len(appSecret) == 0 {
		return false
	}
	h, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok || len(h) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(h)
	if err != nil {
		return false
	}
	want := Sign(appSecret, body)
	return hmac.Equal(got, want[:])
}

// Sign is the HMAC-SHA256 of body keyed with the app secret.
func Sign(appSecret, body []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, appSecret)
	m.Write(body)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// SignatureValue is the X-Hub-Signature-256 value Meta sends for body:
// "sha256=" and the lower-case hex HMAC.
func SignatureValue(appSecret, body []byte) string {
	s := Sign(appSecret, body)
	return signaturePrefix + hex.EncodeToString(s[:])
}

// maxChallenge bounds the challenge echoed back: Meta's is a short number,
// and whatever is echoed is attacker-chosen text in our response.
const maxChallenge = 256

// Handshake answers Meta's subscription check, GET
// ?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…: ok when the mode
// is subscribe and the token equals verifyToken (compared in constant time,
// lengths included), with the challenge to send back as a 200 text/plain
// body. Anything else, an empty verifyToken, or a challenge that is empty,
// long or not printable ASCII, is not ok (answer 403).
func Handshake(q url.Values, verifyToken string) (challenge string, ok bool) {
	if verifyToken == "" || q.Get("hub.mode") != "subscribe" {
		return "", false
	}
	// Hashing first makes the comparison independent of the lengths.
	got, want := sha256.Sum256([]byte(q.Get("hub.verify_token"))), sha256.Sum256([]byte(verifyToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return "", false
	}
	c := q.Get("hub.challenge")
	if c == "" || len(c) > maxChallenge {
		return "", false
	}
	for i := range len(c) {
		if c[i] < 0x21 || c[i] > 0x7e {
			return "", false
		}
	}
	return c, true
}
