package usage

import (
	"fmt"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/tariff"
)

// event is a validated EventInput.
type event struct {
	id, kind, recipient, category, visitor string
	at                                     time.Time
	entryPoint                             bool
}

const (
	maxIDLength      = 200
	maxVisitorLength = 200
)

// parse validates a whole request and reports every malformed field at
// once, named events[i].field; one malformed event fails the request.
func parse(in Input) ([]event, error) {
	var ve lunas.ValidationError
	switch {
	case len(in.Events) == 0:
		ve.Add("events", "at least one event is required")
	case len(in.Events) > MaxEvents:
		ve.Add("events", "at most %d events per request", MaxEvents)
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	evs := make([]event, len(in.Events))
	for i, e := range in.Events {
		f := func(name string) string { return fmt.Sprintf("events[%d].%s", i, name) }
		ev := event{id: e.ID, kind: e.Kind, recipient: e.Recipient, category: e.Category, visitor: e.Visitor, entryPoint: e.EntryPoint}
		if e.EntryPoint && e.Kind != KindInbound {
			ve.Add(f("entry_point"), "is only for kind inbound")
		}
		if e.ID == "" {
			ve.Add(f("id"), "is required")
		} else if len(e.ID) > maxIDLength {
			ve.Add(f("id"), "must be at most %d characters", maxIDLength)
		}
		if e.At == "" {
			ve.Add(f("at"), "is required (RFC 3339 with offset)")
		} else if t, err := time.Parse(time.RFC3339, e.At); err != nil {
			ve.Add(f("at"), "must be an RFC 3339 time with offset")
		} else {
			// PostgreSQL keeps microseconds: decide on what is stored.
			ev.at = t.UTC().Truncate(time.Microsecond)
		}
		needRecipient := func() {
			if e.Recipient == "" {
				ve.Add(f("recipient"), "is required for %s", e.Kind)
			} else if !e164(e.Recipient) {
				ve.Add(f("recipient"), "must be E.164: + and 8-15 digits")
			}
			if e.Visitor != "" {
				ve.Add(f("visitor"), "is only for kind visitor")
			}
		}
		switch e.Kind {
		case KindSend:
			needRecipient()
			switch e.Category {
			case tariff.Marketing, tariff.Utility, tariff.Authentication:
			case "":
				ve.Add(f("category"), "is required for send (marketing, utility or authentication)")
			default:
				ve.Add(f("category"), "must be marketing, utility or authentication")
			}
		case KindInbound:
			needRecipient()
			if e.Category != "" {
				ve.Add(f("category"), "is not used for inbound")
			}
		case KindReply:
			needRecipient()
			if e.Category != "" && e.Category != tariff.Service {
				ve.Add(f("category"), "a reply is always service")
			}
			ev.category = tariff.Service
		case KindFailed:
			// id names the earlier send or reply; recipient is optional.
			if e.Recipient != "" && !e164(e.Recipient) {
				ve.Add(f("recipient"), "must be E.164: + and 8-15 digits")
			}
			if e.Category != "" {
				ve.Add(f("category"), "a failed event names its send or reply by id only")
			}
			if e.Visitor != "" {
				ve.Add(f("visitor"), "is only for kind visitor")
			}
		case KindVisitor:
			if e.Visitor == "" {
				ve.Add(f("visitor"), "is required for visitor")
			} else if len(e.Visitor) > maxVisitorLength {
				ve.Add(f("visitor"), "must be at most %d characters", maxVisitorLength)
			}
			if e.Recipient != "" || e.Category != "" {
				ve.Add(f("recipient"), "a visitor event has visitor, not recipient or category")
			}
		case "":
			ve.Add(f("kind"), "is required (send, inbound, reply, failed or visitor)")
		default:
			ve.Add(f("kind"), "unknown kind %q (send, inbound, reply, failed or visitor)", e.Kind)
		}
		evs[i] = ev
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	return evs, nil
}

// e164 reports whether s is "+" and 8–15 digits, the first not 0.
func e164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
