package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every endpoint secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// Headers of a delivery (Standard Webhooks).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// NewSecret returns a fresh endpoint secret: whsec_ and 24 random bytes
// in base64, the size the specification's reference implementations use.
func NewSecret() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// secretKey is the HMAC key of a whsec_ secret: the base64-decoded bytes
// after the prefix.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook: secret is not whsec_ and base64")
	}
	return key, nil
}

// Sign returns the webhook-signature value of one delivery attempt:
// "v1," and the base64 HMAC-SHA256, keyed with the secret's bytes, of
// "id.timestamp.body". The standard library suffices (ten lines); the
// specification's Go library verifies these signatures in the tests.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Sealer keeps endpoint secrets in the database so that they can sign:
// AES-256-GCM under a key derived from LUNAS_SIGNING_KEY, with the
// endpoint id as associated data (a sealed secret copied onto another
// endpoint's row does not open). A database dump alone does not reveal
// them; rotating LUNAS_SIGNING_KEY makes them unreadable (re-register the
// endpoints).
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the sealing key from the service signing key.
func NewSealer(signingKey string) (*Sealer, error) {
	if signingKey == "" {
		return nil, errors.New("webhook: empty signing key")
	}
	m := hmac.New(sha256.New, []byte(signingKey))
	m.Write([]byte("lunas/webhook-endpoint-secret/v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts an endpoint's secret.
func (s *Sealer) Seal(endpointID, secret string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return s.aead.Seal(nonce, nonce, []byte(secret), []byte(endpointID))
}

// Open decrypts an endpoint's secret.
func (s *Sealer) Open(endpointID string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("webhook: sealed secret too short")
	}
	b, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(endpointID))
	if err != nil {
		return "", fmt.Errorf("webhook: endpoint %s: secret does not open (was LUNAS_SIGNING_KEY changed?)", endpointID)
	}
	return string(b), nil
}
