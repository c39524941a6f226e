// Package app wires castnet's components together: it builds them from
// configuration, starts them in order and closes them in reverse. It holds
// no logic of its own.
package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/castnet/castnet/internal/broadcaster"
	"github.com/castnet/castnet/internal/config"
	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/netpool"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/rtc"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/web"
)

// Dev is a running `castnet dev` node: ingest, transcoding and playback in
// one process.
type Dev struct {
	RTC         *rtc.RTC
	WHIP        *whip.Server
	Broadcaster *broadcaster.Broadcaster
	Store       *hls.Store
	HTTP        *httpx.Server
	closers     closers
}

// StartDev builds and starts a dev node.
func StartDev(cfg config.Dev, log *slog.Logger) (_ *Dev, err error) {
	d := &Dev{}
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()
	tr, err := d.transcoder(cfg, log)
	if err != nil {
		return nil, err
	}
	if d.RTC, err = rtc.New(rtc.Config{UDPAddr: cfg.WebRTCUDP, NATIPs: cfg.NATIPs,
		ICEServers: cfg.ICEServers, Logger: log}); err != nil {
		return nil, err
	}
	d.closers.add(d.RTC.Close)
	if d.Store, err = hls.New(hls.Config{Dir: filepath.Join(cfg.DataDir, "hls"), Window: cfg.Window,
		Logger: log.With("component", "hls")}); err != nil {
		return nil, err
	}
	d.closers.add(d.Store.Close)
	if d.Broadcaster, err = broadcaster.New(broadcaster.Config{Transcoder: tr, Profiles: cfg.Profiles,
		Store: d.Store, Segment: cfg.Segment, Logger: log}); err != nil {
		return nil, err
	}
	d.closers.add(d.Broadcaster.Close)
	if d.WHIP, err = whip.New(whip.Config{RTC: d.RTC, Starter: d.Broadcaster, Token: cfg.PublishToken,
		MaxStreams: cfg.MaxStreams, Logger: log.With("component", "whip")}); err != nil {
		return nil, err
	}
	d.closers.add(d.WHIP.Close)
	pages, err := web.Handler(web.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/whip/", d.WHIP.Handler())
	mux.Handle("/hls/", d.Store.Handler())
	mux.Handle("/api/", d.Broadcaster.Handler())
	mux.Handle("/", pages)
	if d.HTTP, err = httpx.Listen(cfg.HTTPAddr, mux, log); err != nil {
		return nil, fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}
	d.closers.add(d.HTTP.Close)
	base := "http://" + d.HTTP.Addr().String()
	log.Info("castnet dev is up: open "+base+"/ to go live, "+base+"/watch/{stream} to watch",
		"publish", base+"/",
		"whip", base+"/whip/{stream}",
		"webrtc_udp", d.RTC.UDPAddr().String(), "data", cfg.DataDir,
		"ladder", ladderNames(cfg.Profiles))
	return d, nil
}

// transcoder is the local ffmpeg, or the orchestrators when configured.
func (d *Dev) transcoder(cfg config.Dev, log *slog.Logger) (transcode.Transcoder, error) {
	if len(cfg.Orchestrators) > 0 {
		return netpool.New(netpool.Config{URLs: cfg.Orchestrators, Logger: log.With("component", "netpool"),
			AttemptTimeout: 2*cfg.Segment + 5*time.Second})
	}
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{Path: cfg.FFmpeg, Logger: log.With("component", "ffmpeg")})
	if err != nil {
		return nil, err
	}
	d.closers.add(ff.Close)
	return ff, nil
}

// Close stops the node in reverse order of start: HTTP first so no new
// sessions arrive, then WHIP sessions (which end their streams), then the
// pipeline, then the UDP port. Idempotent.
func (d *Dev) Close() error {
	return d.closers.closeAll()
}

func ladderNames(ps []transcode.Profile) []string {
	out := []string{transcode.SourceName}
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}
