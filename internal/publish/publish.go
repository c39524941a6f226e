// Package publish is castnet's WHIP client: it encodes a file or a test
// pattern with ffmpeg into H.264 (Annex B) and Opus (Ogg), then sends both
// over WebRTC to a WHIP endpoint (RFC 9725), paced in real time.
//
// It doubles as a load generator: Prepare encodes once into a Media that
// any number of concurrent Publish calls share read-only.
//
// Prepare writes no files. ffmpeg writes each encoded stream into a pipe
// of its own (descriptors 3 and up), read into memory as it is encoded,
// so there is no temporary directory for any exit to leave behind, a
// SIGKILL included, and an ffmpeg whose publisher was killed dies on its
// next write instead of encoding on. The media is held in memory anyway,
// so streaming it in costs nothing a file would have saved.
//
// Publish is honest about how a session ended. It returns nil only when
// the media was sent to its end (the duration, the end of the file, or
// ctx ending) and the closing DELETE did not show the server gone; a
// refused offer is a *StatusError, a connection that never came up
// ErrConnectTimeout, and a session that connected and then ended early a
// *SessionError: ErrConnectionLost when the server stopped answering,
// ErrEndedByServer when it ended the session itself. To notice quickly it
// uses the node's ICE timeouts (consent checks every 2 s, disconnected
// after 5 s, failed 10 s later) and, when ICE reports disconnected, asks
// the session URL over HTTP whether the session still exists.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Errors returned by this package, wrapped with detail.
var (
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("publish: invalid config")
	// ErrFFmpeg reports that ffmpeg or ffprobe failed while preparing media.
	ErrFFmpeg = errors.New("publish: ffmpeg failed")
	// ErrNoMedia reports that the input has neither a video nor an audio stream.
	ErrNoMedia = errors.New("publish: no audio or video stream")
	// ErrMediaTooLarge reports that the encoded media exceeds the in-memory limit.
	ErrMediaTooLarge = errors.New("publish: encoded media too large")
	// ErrUnexpectedStatus reports a WHIP response other than 201 to the offer.
	ErrUnexpectedStatus = errors.New("publish: unexpected WHIP status")
	// ErrNoLocation reports a 201 without a usable Location header.
	ErrNoLocation = errors.New("publish: WHIP response lacks Location")
	// ErrConnectTimeout reports that ICE and DTLS did not connect: not in
	// time, or they failed first.
	ErrConnectTimeout = errors.New("publish: ICE/DTLS did not connect")
	// ErrConnectionLost reports, inside a SessionError, that the server
	// stopped answering while publishing.
	ErrConnectionLost = errors.New("publish: connection lost")
	// ErrEndedByServer reports, inside a SessionError, that the server
	// ended the session while publishing: its session URL answers 404 (a
	// castnet node does when it ends a session, its publisher's balance
	// run out, say).
	ErrEndedByServer = errors.New("publish: the server ended the session")
)

// Defaults applied by Config when a field is zero.
const (
	DefaultWidth   = 1280
	DefaultHeight  = 720
	DefaultFPS     = 30
	DefaultBitrate = 2_500_000
	// DefaultConnectTimeout bounds the time from the WHIP answer to a
	// connected PeerConnection; a publisher that cannot reach the server
	// should say so quickly rather than hang.
	DefaultConnectTimeout = 10 * time.Second
	// offerTimeout bounds the offer's HTTP exchange.
	offerTimeout = 15 * time.Second
	// deleteTimeout bounds the DELETE sent when publishing ends, so that
	// an unreachable server cannot delay shutdown.
	deleteTimeout = 3 * time.Second
)

// Config describes one publisher.
type Config struct {
	URL         string        // WHIP endpoint, e.g. http://127.0.0.1:8935/whip/cam
	Token       string        // optional bearer token
	Duration    time.Duration // 0: until ctx ends (test pattern loops) or the file ends
	File        string        // media file to publish (any format ffmpeg reads)
	TestPattern bool          // generate testsrc2 + sine instead of File

	// Width, Height and FPS shape the test pattern (default 1280x720@30).
	// FPS also sets the constant frame rate a File is encoded to, since raw
	// H.264 carries no timestamps. Bitrate (default 2.5 Mbit/s) caps the
	// video of both.
	Width, Height, FPS, Bitrate int

	// Sizes, with two or more sizes, makes the test pattern change
	// resolution mid-stream as a browser does under congestion: each size
	// lasts SwitchEvery (default 4 s, a multiple of 1/gcd(FPS, 50) s), then
	// the sequence repeats. Every switch is a new SPS, PPS and IDR on the
	// same track, with continuous timestamps and uninterrupted audio.
	// Bitrate is the largest size's, scaled down for the others by pixel
	// count. A single size is the same as Width and Height.
	Sizes       []Size
	SwitchEvery time.Duration

	// ConnectTimeout bounds ICE and DTLS after the answer (default 10 s).
	ConnectTimeout time.Duration

	FFmpeg  string // default "ffmpeg"
	FFprobe string // default "ffprobe" beside FFmpeg when FFmpeg is a path

	// HTTPClient sends the WHIP requests; nil: a private client whose idle
	// connections are closed when Publish returns. Load generators may
	// share one.
	HTTPClient *http.Client

	Progress io.Writer // progress lines (one per second), nil = none
	Logger   *slog.Logger
}

// Stats counts what one Publish sent.
type Stats struct {
	Bytes       int64         // RTP bytes (header and payload) handed to the transport, retransmissions included
	Packets     int64         // RTP packets handed to the transport
	VideoFrames int64         // access units written to the video track
	AudioFrames int64         // Opus packets written to the audio track
	PLIs        int64         // picture loss indications received (a prepared file cannot honour them)
	NACKs       int64         // NACK reports received
	Duration    time.Duration // wall time from connected to the end of sending
}

// checkSource requires exactly one media source.
func (c Config) checkSource() error {
	if c.TestPattern == (c.File != "") {
		return fmt.Errorf("%w: give exactly one of a file and the test pattern", ErrConfig)
	}
	return nil
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Width < 0 || c.Height < 0 || c.FPS < 0 || c.Bitrate < 0 || c.Duration < 0 || c.ConnectTimeout < 0 || c.SwitchEvery < 0 {
		return c, fmt.Errorf("%w: negative size, rate or duration", ErrConfig)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	c.Width = orDefault(c.Width, DefaultWidth)
	c.Height = orDefault(c.Height, DefaultHeight)
	c.FPS = orDefault(c.FPS, DefaultFPS)
	c.Bitrate = orDefault(c.Bitrate, DefaultBitrate)
	c = c.withSizeDefaults()
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.FFprobe == "" {
		c.FFprobe = siblingTool(c.FFmpeg, "ffprobe")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Run prepares the media described by cfg and publishes it once. It
// returns nil when the duration is reached, the file ends, or ctx ends
// after publishing began, and otherwise says what ended it (see Publish).
func Run(ctx context.Context, cfg Config) error {
	if cfg.URL == "" {
		return fmt.Errorf("%w: WHIP URL is required", ErrConfig)
	}
	m, err := Prepare(ctx, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	st, err := Publish(ctx, cfg, m)
	cfg.logger().Info("publish finished", "bytes", st.Bytes, "packets", st.Packets,
		"video_frames", st.VideoFrames, "audio_frames", st.AudioFrames, "duration", st.Duration)
	return err
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
