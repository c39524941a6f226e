package app

import (
	"fmt"
	"log/slog"

	"github.com/castnet/castnet/internal/debugsrv"
	"github.com/castnet/castnet/internal/httpx"
)

// startDebug serves pprof and runtime counters on addr (nothing when addr
// is empty) and registers its close.
func startDebug(c *closers, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	srv, err := httpx.Listen(addr, debugsrv.Handler(log), log)
	if err != nil {
		return fmt.Errorf("-debug-addr %s: %w", addr, err)
	}
	c.add(srv.Close)
	log.Info("debug endpoints up", "pprof", "http://"+srv.Addr().String()+"/debug/pprof/",
		"runtime", "http://"+srv.Addr().String()+"/debug/runtime")
	return nil
}
