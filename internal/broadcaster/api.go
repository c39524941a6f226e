package broadcaster

import (
	"net/http"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/transcode"
)

// StreamInfo is a stream's state as /api/streams reports it.
type StreamInfo struct {
	Name       string            `json:"name"`
	Session    string            `json:"session"`
	State      string            `json:"state"`
	Publisher  string            `json:"publisher"`
	StartedAt  time.Time         `json:"started_at"`
	EndedAt    *time.Time        `json:"ended_at,omitempty"`
	Video      *TrackInfo        `json:"video,omitempty"`
	Audio      *TrackInfo        `json:"audio,omitempty"`
	Bitrate    int               `json:"bitrate_bps"`
	Segments   uint64            `json:"segments"`
	Published  uint64            `json:"segments_published"`
	Failures   uint64            `json:"transcode_failures"`
	SourceOnly uint64            `json:"segments_source_only"`
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
	HLS   string `json:"hls"`
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
		Failures: st.stats.transcodeFailures, SourceOnly: st.stats.sourceOnly,
		LastError: st.lastError, Renditions: []RenditionInfo{},
		Playback: Playback{HLS: "/hls/" + st.pub.Stream + "/index.m3u8", Watch: "/watch/" + st.pub.Stream},
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

// Handler serves GET /api/streams and GET /api/streams/{stream}.
func (b *Broadcaster) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/streams", httpx.Handle(b.log, func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, b.Streams())
	}))
	mux.Handle("GET /api/streams/{stream}", httpx.Handle(b.log, func(w http.ResponseWriter, r *http.Request) error {
		in, err := b.streamInfo(r.PathValue("stream"), r.URL.Query().Get("turnarounds") == "1")
		if err != nil {
			return err
		}
		return writeJSON(w, in)
	}))
	return mux
}

// streamInfo is Stream, with the recent turnarounds when asked for.
func (b *Broadcaster) streamInfo(name string, turnarounds bool) (StreamInfo, error) {
	b.mu.Lock()
	st := b.streams[name]
	b.mu.Unlock()
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

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	return httpx.WriteJSON(w, v)
}
