package broadcaster

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/castnet/castnet/internal/httpx"
)

// Paging of GET /api/streams: DefaultLimit rows unless ?limit= asks for
// another number, at most MaxLimit.
const (
	DefaultLimit = 200
	MaxLimit     = 1000
)

// ErrBadPage refuses a limit or cursor that does not parse.
var ErrBadPage = fmt.Errorf("bad page: %w", httpx.ErrBadRequest)

// Page is one page of the stream list.
type Page struct {
	Streams []StreamInfo
	// Next is the cursor of the next page (?after=Next), "" on the last.
	Next string
}

// rowKey orders the list: streams not ended (live and starting) first,
// then ended ones, each by name. Its text, "live:NAME" or "ended:NAME", is
// the cursor, so a page boundary holds while streams come and go.
type rowKey struct {
	ended bool
	name  string
}

func (k rowKey) String() string {
	if k.ended {
		return "ended:" + k.name
	}
	return "live:" + k.name
}

func compareKeys(a, b rowKey) int {
	if a.ended != b.ended {
		if a.ended {
			return 1
		}
		return -1
	}
	return cmp.Compare(a.name, b.name)
}

// parseCursor reads a Next cursor; "" is before the first row.
func parseCursor(s string) (*rowKey, error) {
	if s == "" {
		return nil, nil
	}
	group, name, ok := strings.Cut(s, ":")
	if !ok || (group != "live" && group != "ended") {
		return nil, fmt.Errorf("%w: after=%q: want a cursor from the Link header (live:NAME or ended:NAME)", ErrBadPage, s)
	}
	return &rowKey{ended: group == "ended", name: name}, nil
}

// parseLimit reads ?limit=: DefaultLimit when absent, at most MaxLimit.
func parseLimit(s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: limit=%q: want a whole number from 1 to %d", ErrBadPage, s, MaxLimit)
	}
	return min(n, MaxLimit), nil
}

type row struct {
	key rowKey
	st  *Stream
}

// List returns up to limit streams after the cursor, live ones first
// (see rowKey), as an operator sees them.
func (b *Broadcaster) List(after string, limit int) (Page, error) {
	from, err := parseCursor(after)
	if err != nil {
		return Page{}, err
	}
	rows := b.rowsAfter(from)
	var p Page
	if len(rows) > limit {
		rows = rows[:limit]
		p.Next = rows[limit-1].key.String()
	}
	p.Streams = make([]StreamInfo, 0, len(rows))
	for _, r := range rows {
		p.Streams = append(p.Streams, r.st.Info())
	}
	return p, nil
}

// rowsAfter is every listed stream whose key follows from (all when nil),
// in order.
func (b *Broadcaster) rowsAfter(from *rowKey) []row {
	b.mu.Lock()
	b.forgetLocked()
	rows := make([]row, 0, len(b.streams))
	for name, st := range b.streams {
		st.mu.Lock()
		k := rowKey{ended: st.state == StateEnded, name: name}
		st.mu.Unlock()
		if from == nil || compareKeys(k, *from) > 0 {
			rows = append(rows, row{key: k, st: st})
		}
	}
	b.mu.Unlock()
	slices.SortFunc(rows, func(a, b row) int { return compareKeys(a.key, b.key) })
	return rows
}

// serveList answers GET /api/streams?limit=&after= with a JSON array and,
// when more follow, a Link header to the next page (RFC 8288 rel="next"),
// so that clients reading the array as before keep working.
func (b *Broadcaster) serveList(w http.ResponseWriter, r *http.Request) error {
	admin, err := b.admin(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		return err
	}
	p, err := b.List(q.Get("after"), limit)
	if err != nil {
		return err
	}
	for i := range p.Streams {
		p.Streams[i] = view(p.Streams[i], admin)
	}
	if p.Next != "" {
		next := url.Values{"limit": {strconv.Itoa(limit)}, "after": {p.Next}}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, next.Encode()))
	}
	return writeJSON(w, admin, p.Streams)
}
