// Package mailtest is an in-process SMTP server (github.com/emersion/go-smtp)
// that keeps every message with its real envelope (MAIL FROM, RCPT TO), for
// tests and for the local demo's mail catcher. It can be stopped and
// started again on the same address, told to stall after the greeting, and
// told to drop the connection right after accepting a message.
package mailtest

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	User string // the SMTP AUTH user, if the client logged in
	From string
	To   []string
	Data []byte
	At   time.Time
}

// Sink is the SMTP server.
type Sink struct {
	mu       sync.Mutex
	msgs     []Message
	srv      *smtp.Server
	ln       net.Listener
	addr     string
	stall    chan struct{} // non-nil while stalled; closed to let the stalled sessions go on
	drop     bool
	received chan struct{}

	// replying is held (read) by a session from the moment it keeps a
	// message until its 250 is written, and taken (write) by Stop, so an
	// outage never falls between the two: a server that kept a message
	// and never said so (RFC 1047's duplicate) is not something a client
	// can resolve, and the fault suite must not count it as lunas's
	// doubled mail. gen counts Stops; a session of an earlier generation
	// keeps nothing.
	replying sync.RWMutex
	gen      int
}

// Start listens on addr ("127.0.0.1:0" for any port).
func Start(addr string) (*Sink, error) {
	s := &Sink{received: make(chan struct{}, 1<<16)}
	return s, s.listen(addr)
}

func (s *Sink) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 30 << 20
	s.mu.Lock()
	s.srv, s.ln, s.addr = srv, ln, ln.Addr().String()
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Addr is the listening address.
func (s *Sink) Addr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.addr }

// Stop closes the server: connections are refused until Restart.
//
// The listener is closed here too: Serve runs in a goroutine and may not
// have registered it with the server yet, and the port must be free when
// Stop returns.
func (s *Sink) Stop() {
	s.replying.Lock()
	defer s.replying.Unlock()
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.gen++
	s.mu.Unlock()
	_ = srv.Close()
	_ = ln.Close()
}

// Restart listens again on the same address.
func (s *Sink) Restart() error { return s.listen(s.Addr()) }

// Stall makes every new session hang after the greeting (a server that
// accepts and then stops answering).
// Stall(false) lets the sessions that are stalled go on.
func (s *Sink) Stall(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && s.stall == nil:
		s.stall = make(chan struct{})
	case !on && s.stall != nil:
		close(s.stall)
		s.stall = nil
	}
}

// DropAfterData makes the server close the connection right after it has
// answered 250 to a message's DATA: the message is accepted (kept), but the
// client finds the connection gone at its next command (the NOOP that
// checks a session before its next message, or RSET).
func (s *Sink) DropAfterData(on bool) { s.mu.Lock(); s.drop = on; s.mu.Unlock() }

// Messages returns a copy of what was accepted.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Received is signalled once for every accepted message.
func (s *Sink) Received() <-chan struct{} { return s.received }

type backend struct{ s *Sink }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	stall, gen := b.s.stall, b.s.gen
	b.s.mu.Unlock()
	if stall != nil {
		// The client's timeout must end this, not us (or Stall(false)).
		select {
		case <-stall:
		case <-time.After(time.Hour):
		}
	}
	return &session{s: b.s, conn: c, gen: gen}, nil
}

type session struct {
	s        *Sink
	conn     *smtp.Conn
	accepted bool // a message was accepted since the last reset; replying is held
	gen      int  // the sink's generation this session belongs to
	user     string
	from     string
	to       []string
}

// AuthMechanisms offers PLAIN, so clients configured with credentials can log in.
func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth accepts any PLAIN credentials and remembers the user.
func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		x.user = username
		return nil
	}), nil
}
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.replying.RLock()
	x.s.mu.Lock()
	if x.s.gen != x.gen {
		x.s.mu.Unlock()
		x.s.replying.RUnlock()
		return errors.New("mailtest: server stopped")
	}
	x.s.msgs = append(x.s.msgs, Message{User: x.user, From: x.from, To: x.to, Data: b, At: time.Now()})
	x.s.mu.Unlock()
	x.accepted = true
	select {
	case x.s.received <- struct{}{}:
	default:
	}
	return nil
}

// Reset runs at RSET and also right after the reply to DATA has been
// written, which is where DropAfterData cuts the connection.
func (x *session) Reset() {
	x.from, x.to = "", nil
	accepted := x.accepted
	x.accepted = false
	x.s.mu.Lock()
	drop := x.s.drop
	x.s.mu.Unlock()
	if drop && accepted {
		_ = x.conn.Conn().Close()
	}
	if accepted {
		x.s.replying.RUnlock()
	}
}

func (x *session) Logout() error { return nil }
