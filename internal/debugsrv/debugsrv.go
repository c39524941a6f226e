// Package debugsrv serves a node's profiling and runtime counters on a
// listener of their own (-debug-addr), never on the public port: pprof
// exposes memory contents and can keep a CPU busy, so an operator opts in
// and normally binds it to loopback.
package debugsrv

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"runtime"

	"github.com/castnet/castnet/internal/httpx"
)

// Runtime is what GET /debug/runtime reports: the figures a soak test
// watches return to their starting level.
type Runtime struct {
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heap_alloc_bytes"`  // live and not yet swept heap objects
	HeapInUse  uint64 `json:"heap_inuse_bytes"`  // heap spans in use
	Sys        uint64 `json:"sys_bytes"`         // all memory the Go runtime holds from the OS
	StackInUse uint64 `json:"stack_inuse_bytes"` // goroutine stacks
	NumGC      uint32 `json:"num_gc"`
	// OpenFDs is the number of open file descriptors (-1 where unknown).
	OpenFDs int `json:"open_fds"`
}

// ReadRuntime samples the current process. With gc it first runs a
// collection, so that heap figures show what is live, not garbage.
func ReadRuntime(gc bool) Runtime {
	if gc {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Runtime{Goroutines: runtime.NumGoroutine(), HeapAlloc: ms.HeapAlloc, HeapInUse: ms.HeapInuse,
		Sys: ms.Sys, StackInUse: ms.StackInuse, NumGC: ms.NumGC, OpenFDs: openFDs()}
}

// Handler serves /debug/pprof/ (net/http/pprof) and GET /debug/runtime
// (Runtime as JSON; ?gc=1 collects first).
func Handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /debug/runtime", httpx.Handle(log, func(w http.ResponseWriter, r *http.Request) error {
		return httpx.WriteJSON(w, ReadRuntime(r.URL.Query().Get("gc") == "1"))
	}))
	return mux
}
