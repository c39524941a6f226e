package broadcaster

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/transcode"
)

// ErrNotAdmin refuses a bearer token that is not the node's admin token.
var ErrNotAdmin = fmt.Errorf("the bearer token is not this node's admin token: %w", httpx.ErrUnauthorized)

// StreamInfo is a stream's state as /api/streams reports it.
type StreamInfo struct {
	Name string `json:"name"`
	// Session is the WHIP session id, the secret part of the session URL
	// /whip/{stream}/{session} that may end or restart the session; and
	// Publisher is the address its POST came from. Only the operator's
	// view (Config.AdminToken) fills them, as it does Transport's
	// remote_address.
	Session    string     `json:"session,omitempty"`
	State      string     `json:"state"`
	Publisher  string     `json:"publisher,omitempty"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	Video      *TrackInfo `json:"video,omitempty"`
	Audio      *TrackInfo `json:"audio,omitempty"`
	Bitrate    int        `json:"bitrate_bps"`
	Segments   uint64     `json:"segments"`
	Published  uint64     `json:"segments_published"`
	Failures   uint64     `json:"transcode_failures"`
	SourceOnly uint64     `json:"segments_source_only"`
	// Failed counts segments cut but not published (the store could not
	// write them, say); Storage is "failing" while the last one could not
	// be stored, else "ok".
	Failed     uint64            `json:"segments_failed"`
	Storage    string            `json:"storage"`
	Renditions []RenditionInfo   `json:"renditions"`
	Transport  whip.SessionStats `json:"transport"`
	LastError  string            `json:"last_error"`
	// FirstSegmentLatency is the time from the first keyframe received to
	// the first segment playable in every rendition.
	FirstSegmentLatency string `json:"first_segment_latency,omitempty"`
	// Turnaround is the time from a segment's last byte arriving to every
	// rendition of it published, over recent segments.
	Turnaround *Turnaround `json:"turnaround,omitempty"`
	// Turnarounds lists the same recent segments' turnarounds in
	// milliseconds, oldest first, for benchmarks that pool streams; only
	// GET /api/streams/{stream}?turnarounds=1 fills it.
	Turnarounds []float64 `json:"turnarounds_ms,omitempty"`
	Playback    Playback  `json:"playback"`
	// Viewers counts the WHEP viewers forwarded the publisher's RTP now
	// (HLS viewers are not counted: they are plain HTTP GETs).
	Viewers int `json:"viewers"`
	// Recovered says the record was rebuilt from the stored session of an
	// earlier run of the node: it is ended, and knows the times, segments
	// and renditions but no live counters.
	Recovered bool `json:"recovered,omitempty"`
}

// TrackInfo describes one received track.
type TrackInfo struct {
	Codec     string  `json:"codec"`
	Profile   string  `json:"profile,omitempty"`
	Width     int     `json:"width,omitempty"`
	Height    int     `json:"height,omitempty"`
	FrameRate float64 `json:"fps,omitempty"`
}

// RenditionInfo describes one published rendition.
type RenditionInfo struct {
	Name      string `json:"name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Bandwidth int    `json:"bandwidth"`
	Codecs    string `json:"codecs"`
}

// Playback gives the stream's playback URLs.
type Playback struct {
	HLS string `json:"hls"`
	// WHEP is the WHEP endpoint (draft-ietf-wish-whep) playing the
	// publisher's own RTP, forwarded as it arrives.
	WHEP  string `json:"whep"`
	Watch string `json:"watch"`
}

// Info reports the stream's current state.
func (st *Stream) Info() StreamInfo {
	st.mu.Lock()
	defer st.mu.Unlock()
	in := StreamInfo{
		Name: st.pub.Stream, Session: st.pub.Session, State: st.state, Publisher: st.pub.RemoteAddr,
		StartedAt: st.stats.startedAt, Bitrate: int(st.bitrateNow()),
		Segments: st.stats.segments, Published: st.stats.published,
		Failures: st.stats.transcodeFailures, SourceOnly: st.stats.sourceOnly, Failed: st.stats.failed,
		Storage:   storageText(st.storageFailing),
		LastError: st.lastError, Renditions: []RenditionInfo{},
		Playback: Playback{HLS: "/hls/" + st.pub.Stream + "/index.m3u8", WHEP: "/whep/" + st.pub.Stream,
			Watch: "/watch/" + st.pub.Stream},
		Viewers:   st.viewers(),
		Recovered: st.recovered,
	}
	if st.state == StateEnded {
		t := st.endedAt
		in.EndedAt = &t
		in.Bitrate = 0
	}
	if st.pub.Video != "" {
		fps := st.src.fps
		if fps == 0 {
			fps = st.servedBy(transcode.SourceName).fps
		}
		in.Video = &TrackInfo{Codec: string(st.pub.Video), Profile: st.src.codec,
			Width: st.src.width, Height: st.src.height, FrameRate: fps}
	}
	if st.pub.Audio != "" {
		in.Audio = &TrackInfo{Codec: string(st.pub.Audio)}
	}
	vs := st.variants
	if st.hls != nil {
		vs = st.hls.Advertised()
	}
	for _, v := range vs {
		in.Renditions = append(in.Renditions, RenditionInfo{Name: v.Name, Width: v.Width, Height: v.Height,
			Bandwidth: v.Bandwidth, Codecs: v.Codecs})
	}
	in.Transport = st.transport
	if st.pub.Stats != nil {
		in.Transport = st.pub.Stats()
	}
	if !st.stats.firstPublished.IsZero() && !st.stats.firstKeyframe.IsZero() {
		in.FirstSegmentLatency = st.stats.firstPublished.Sub(st.stats.firstKeyframe).Round(time.Millisecond).String()
	}
	in.Turnaround = st.stats.turnaround.summary()
	return in
}

func storageText(failing bool) string {
	if failing {
		return "failing"
	}
	return "ok"
}

// public is in as anyone may see it: no capability, no publisher address.
func (in StreamInfo) public() StreamInfo {
	in.Session, in.Publisher, in.Transport.RemoteCandAddr = "", "", ""
	return in
}

// Handler serves GET /api/streams (paged, see List) and GET
// /api/streams/{stream}. Both are public and readable from any origin, so
// they carry nothing that acts on a session or locates a publisher. A
// request with "Authorization: Bearer TOKEN", TOKEN being
// Config.AdminToken, gets the operator's view (session ids and publisher
// addresses) with no CORS header: a browser cannot send that header to
// another origin without a preflight, which this handler does not grant.
func (b *Broadcaster) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/streams", httpx.Handle(b.log, b.serveList))
	mux.Handle("GET /api/streams/{stream}", httpx.Handle(b.log, b.serveStream))
	return mux
}

func (b *Broadcaster) serveStream(w http.ResponseWriter, r *http.Request) error {
	admin, err := b.admin(r)
	if err != nil {
		return err
	}
	in, err := b.streamInfo(r.PathValue("stream"), r.URL.Query().Get("turnarounds") == "1")
	if err != nil {
		return err
	}
	return writeJSON(w, admin, view(in, admin))
}

// view is in as the request may see it.
func view(in StreamInfo, admin bool) StreamInfo {
	if admin {
		return in
	}
	return in.public()
}

// admin reports whether r carries the admin token. A bearer token that is
// not it is refused rather than quietly answered with the public view, so
// an operator's typo shows; other schemes (a proxy's Basic auth) get the
// public view.
func (b *Broadcaster) admin(r *http.Request) (bool, error) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return false, nil
	}
	if b.cfg.AdminToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(b.cfg.AdminToken)) != 1 {
		return false, ErrNotAdmin
	}
	return true, nil
}

// streamInfo is Stream, with the recent turnarounds when asked for.
func (b *Broadcaster) streamInfo(name string, turnarounds bool) (StreamInfo, error) {
	st := b.lookup(name)
	if st == nil {
		return StreamInfo{}, ErrNoStream
	}
	in := st.Info()
	if turnarounds {
		st.mu.Lock()
		in.Turnarounds = st.stats.turnaround.recentMS()
		st.mu.Unlock()
	}
	return in, nil
}

// writeJSON writes v; the public view to any origin, which may read the
// Link header of a paged list. Every answer varies with Authorization, so
// no cache serves the operator's view to anyone else.
func writeJSON(w http.ResponseWriter, admin bool, v any) error {
	h := w.Header()
	h.Set("Vary", "Authorization")
	if !admin {
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Link")
	}
	return httpx.WriteJSON(w, v)
}
