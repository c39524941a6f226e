// Package app wires castnet's components together: it builds them from
// configuration, starts them in order and closes them in reverse. It holds
// no logic of its own.
package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/castnet/castnet/internal/broadcaster"
	"github.com/castnet/castnet/internal/config"
	"github.com/castnet/castnet/internal/health"
	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/netpool"
	"github.com/castnet/castnet/internal/orchestrator"
	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/playback/whep"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/rtc"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcoder"
	"github.com/castnet/castnet/internal/trust"
	"github.com/castnet/castnet/web"
)

// Dev is a running `castnet dev` (every role in one process) or `castnet
// broadcaster` (ingest and playback, transcoding through orchestrators).
// In dev, the broadcaster reaches its own orchestrator, and the transcoder
// its own orchestrator, over the node's HTTP port: the same protocol and
// code as a network of separate machines.
type Dev struct {
	RTC         *rtc.RTC
	WHIP        *whip.Server
	WHEP        *whep.Server
	Broadcaster *broadcaster.Broadcaster
	Store       *hls.Store
	HTTP        *httpx.Server
	Pool        *netpool.Pool
	Trust       *trust.Broadcaster
	Ledger      *ledger.Ledger
	closers     closers
}

// StartDev builds and starts a dev or broadcaster node.
func StartDev(cfg config.Dev, log *slog.Logger) (_ *Dev, err error) {
	d := &Dev{}
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()
	// Bind first: the in-process orchestrator is reached at this node's URL.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}
	d.closers.add(func() error { // runs last: every role below talks through it
		if d.HTTP != nil {
			return d.HTTP.Close()
		}
		return ln.Close()
	})
	base := "http://" + ln.Addr().String()
	if err := startDebug(&d.closers, cfg.DebugAddr, log); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	if err := d.trust(cfg, log); err != nil {
		return nil, err
	}
	startT, err := d.transcoding(cfg, log, base, mux)
	if err != nil {
		return nil, err
	}
	if d.RTC, err = rtc.New(rtc.Config{UDPAddr: cfg.WebRTCUDP, NATIPs: cfg.NATIPs,
		ICEServers: cfg.ICEServers, Logger: log}); err != nil {
		return nil, err
	}
	d.closers.add(d.RTC.Close)
	if d.Store, err = hls.New(hls.Config{Dir: filepath.Join(cfg.DataDir, "hls"), Window: cfg.Window, PartTarget: partTarget(cfg.PartTarget),
		MinFree: minFree(cfg.MinFreeMB), Logger: log.With("component", "hls")}); err != nil {
		return nil, err
	}
	d.closers.add(d.Store.Close)
	var tr transcode.Transcoder // nil with -source-only: segments are published as cut
	if d.Pool != nil {
		tr = d.Pool
	}
	if d.Broadcaster, err = broadcaster.New(broadcaster.Config{Transcoder: tr, SourceOnly: cfg.SourceOnly,
		Profiles: cfg.Profiles, Store: d.Store, Segment: cfg.Segment, Logger: log,
		KeepEnded: cfg.API.KeepEnded, EndedTTL: cfg.API.EndedTTL, AdminToken: cfg.API.AdminToken,
		ReconnectGrace: reconnectGrace(cfg.ReconnectGrace), FFmpeg: cfg.FFmpeg,
		Custody: func(c broadcaster.Custody) error { return d.Trust.Record(trust.Published(c)) },
	}); err != nil {
		return nil, err
	}
	d.closers.add(d.Broadcaster.Close)
	if cfg.API.AdminToken != "" {
		log.Info("API admin token set: /api/streams shows WHIP session ids and publisher addresses to requests that carry it")
	}
	if err := d.endpoints(cfg, log); err != nil {
		return nil, err
	}
	if err := d.routes(mux, log); err != nil {
		return nil, err
	}
	d.HTTP = httpx.ServeLimited(ln, mux, log, httpx.Limits{MaxConns: cfg.Limits.MaxConns})
	startT()
	level, note := d.RTC.ReachNote(ln.Addr())
	log.Log(context.Background(), level, note)
	log.Info("castnet "+cfg.Role+" is up: open "+base+"/ to go live, "+base+"/watch/{stream} to watch",
		"publish", base+"/",
		"whip", base+"/whip/{stream}", "whep", base+"/whep/{stream}",
		"webrtc_udp", d.RTC.ListenAddr(), "data", cfg.DataDir,
		"ladder", ladderNames(cfg.Profiles))
	return d, nil
}

// endpoints builds WHIP ingest and WHEP playback over the broadcaster.
func (d *Dev) endpoints(cfg config.Dev, log *slog.Logger) (err error) {
	if d.WHIP, err = whip.New(whip.Config{RTC: d.RTC, Starter: d.Broadcaster, Token: cfg.PublishToken,
		Admitter: d.Trust, Accepting: d.Broadcaster.Accepting, MaxStreams: cfg.MaxStreams,
		Logger: log.With("component", "whip")}); err != nil {
		return err
	}
	d.closers.add(d.WHIP.Close)
	if d.WHEP, err = whep.New(whep.Config{RTC: d.RTC, Sources: d.Broadcaster,
		MaxViewers: noCapIsNegative(cfg.Limits.MaxViewers), MaxStreamViewers: noCapIsNegative(cfg.Limits.MaxStreamViewers),
		Logger: log.With("component", "whep")}); err != nil {
		return err
	}
	d.closers.add(d.WHEP.Close)
	return nil
}

// routes mounts every endpoint, the API and the pages on mux.
func (d *Dev) routes(mux *http.ServeMux, log *slog.Logger) error {
	pages, err := web.Handler(web.Config{Logger: log})
	if err != nil {
		return err
	}
	mux.Handle("/whip/", d.WHIP.Handler())
	mux.Handle("/whep/", d.WHEP.Handler())
	mux.Handle("/hls/", d.Store.Handler())
	mux.Handle("/api/streams", d.Broadcaster.Handler())
	mux.Handle("/api/streams/", d.Broadcaster.Handler())
	if d.Pool != nil {
		mux.Handle("GET /api/orchestrators", d.Pool.Handler())
	}
	mux.Handle("GET /api/eip712", d.Trust.PublishRequestHandler())
	mux.Handle(trust.CustodyPrefix, trust.CustodyHandler(d.sessionDir))
	ready := health.Handler([]health.Check{{Name: "store", Fn: d.Store.Writable}})
	mux.Handle("GET /healthz", ready)
	mux.Handle("GET /readyz", ready)
	mux.Handle("/", pages)
	return nil
}

// sessionDir is the directory of the named stream's current session.
func (d *Dev) sessionDir(stream string) (string, bool) {
	st, ok := d.Store.Stream(stream)
	if !ok {
		return "", false
	}
	return st.Dir(), true
}

// trust opens the ledger and builds the broadcaster's keys, permits,
// payments and custody log.
func (d *Dev) trust(cfg config.Dev, log *slog.Logger) error {
	key, err := loadKey(cfg.Identity, "broadcaster", log)
	if err != nil {
		return err
	}
	if d.Ledger, err = openLedger(cfg.Ledger, log); err != nil {
		return err
	}
	d.closers.add(d.Ledger.Close)
	sender, err := pm.NewSender(pm.SenderConfig{Key: key, Broker: d.Ledger, MaxPricePerPixel: cfg.MaxPrice,
		Log: log.With("component", "tickets")})
	if err != nil {
		return err
	}
	d.Trust = trust.NewBroadcaster(trust.BroadcasterConfig{
		Key: key, Domain: sign.DefaultDomain().WithChainID(chainID(cfg.ChainID)),
		Accounts: ledgerAccounts{d.Ledger}, Allowed: cfg.Publishers, RequirePermit: cfg.RequirePermit,
		MinPrice: d.minPrice, MaxPrice: cfg.MaxPrice,
		Sender: sender, Segment: cfg.Segment,
		End:    func(stream, session string, why error) { d.WHIP.End(stream, session, why) },
		Logger: log.With("component", "trust"),
	})
	if cfg.RequirePermit {
		log.Info("publishing needs a wallet-signed permit", "allowed_publishers", len(cfg.Publishers))
	}
	return nil
}

// minPrice is the lowest price per pixel among usable orchestrators; free
// (0) when nothing transcodes.
func (d *Dev) minPrice() *big.Int {
	if d.Pool == nil {
		return new(big.Int)
	}
	return d.Pool.MinPrice()
}

// transcoding builds the broadcaster's pool of orchestrators. In dev that
// is one orchestrator served on mux at base, with one transcoder node
// (started by the returned func, once base answers).
func (d *Dev) transcoding(cfg config.Dev, log *slog.Logger, base string, mux *http.ServeMux) (func(), error) {
	startT := func() {}
	if cfg.SourceOnly {
		return startT, nil
	}
	urls := cfg.Orchestrators
	if cfg.Role == "dev" {
		var err error
		if startT, err = d.ownNetwork(cfg, log, base, mux); err != nil {
			return nil, err
		}
		urls = []string{base}
	}
	pool, err := netpool.New(netpool.Config{URLs: urls, Webhook: cfg.OrchWebhook, MaxPrice: cfg.MaxPrice,
		SegmentDuration: cfg.Segment, WholeUpload: cfg.WholeUpload, Sealer: d.Trust.ForNode,
		Logger: log.With("component", "netpool")})
	if err != nil {
		return nil, err
	}
	d.Pool = pool
	d.closers.add(pool.Close)
	return startT, nil
}

// ownNetwork mounts an orchestrator in remote mode on mux and builds a
// transcoder node for it, sharing a fresh secret.
func (d *Dev) ownNetwork(cfg config.Dev, log *slog.Logger, base string, mux *http.ServeMux) (func(), error) {
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{Path: cfg.FFmpeg, Logger: log.With("component", "ffmpeg")})
	if err != nil {
		return nil, err
	}
	d.closers.add(ff.Close)
	secret := rand.Text()
	pool, err := dispatch.New(dispatch.Config{Secret: secret, Logger: log.With("role", "orchestrator")})
	if err != nil {
		return nil, err
	}
	d.closers.add(pool.Close)
	domain := sign.DefaultDomain().WithChainID(chainID(cfg.ChainID))
	oKey, err := sign.NewKey()
	if err != nil {
		return nil, err
	}
	tKey, err := sign.NewKey()
	if err != nil {
		return nil, err
	}
	seller, err := newSellerTrust(sellerConfig{key: oKey, domain: domain, price: cfg.Price, ledger: d.Ledger,
		winners: cfg.Winners, segment: cfg.Segment}, log.With("role", "orchestrator"))
	if err != nil {
		return nil, err
	}
	d.closers.add(seller.close)
	if cfg.Price != nil && cfg.Price.Sign() > 0 {
		if err := fundPlayMoney(d.Ledger, d.Trust.Address(), log); err != nil {
			return nil, err
		}
	}
	log.Info("dev: throwaway keys for the built-in orchestrator and transcoder", "orchestrator", oKey.Address.Hex(),
		"transcoder", tKey.Address.Hex(), "price_per_pixel", cfg.Price)
	orch, err := orchestrator.New(seller.config(orchestrator.Config{Workers: workers{pool},
		PricePerPixel: cfg.Price.Int64(), Segment: cfg.Segment, InputIdle: cfg.Limits.InputIdle,
		Logger: log.With("role", "orchestrator")}, oKey.Address))
	if err != nil {
		return nil, err
	}
	oh := orch.Handler()
	for _, p := range []string{"/v1/", "GET /api/info", "GET /api/transcoders"} {
		mux.Handle(p, oh)
	}
	node, err := transcoder.New(transcoder.Config{OrchestratorURL: base, Secret: secret, Capacity: cfg.Capacity,
		Name: "dev", Transcoder: ff, Vouch: trust.Vouch(tKey, domain), Logger: log.With("role", "transcoder")})
	if err != nil {
		return nil, err
	}
	d.closers.add(node.Close)
	return func() {
		go func() {
			if err := node.Run(context.Background()); err != nil {
				log.Error("the built-in transcoder stopped", "err", err)
			}
		}()
	}, nil
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

// partTarget is -hls-part as hls.Config.PartTarget: 0 there is the
// default, negative no parts.
func partTarget(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// noCapIsNegative maps a flag's 0 (no cap) onto whep.Config's -1 (0
// there takes the default).
func noCapIsNegative(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// minFree is -min-free-mb as hls.Config.MinFree: 0 is no minimum.
func minFree(mb int64) int64 {
	if mb == 0 {
		return -1
	}
	return mb << 20
}

// reconnectGrace is -reconnect-grace as broadcaster.Config's: 0 is none.
func reconnectGrace(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
