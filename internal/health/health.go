// Package health answers the probes an orchestrator of processes (systemd,
// Kubernetes, a load balancer) sends a node:
//
//	GET /healthz  200 while the process serves HTTP (liveness)
//	GET /readyz   200 when every check passes, else 503 with the reasons
//
// Both answer JSON, never cached. A check is a function that says why the
// node should take no new work now, or nil.
package health

import (
	"encoding/json"
	"net/http"
)

// Check names one readiness condition.
type Check struct {
	Name string
	// Fn says why the node is not ready (nil: ready).
	Fn func() error
}

// Report is /readyz's body.
type Report struct {
	Ready bool `json:"ready"`
	// Failing maps each failing check's name to its reason.
	Failing map[string]string `json:"failing,omitempty"`
}

// Run runs every check.
func Run(checks []Check) Report {
	r := Report{Ready: true}
	for _, c := range checks {
		if err := c.Fn(); err != nil {
			if r.Failing == nil {
				r.Failing = map[string]string{}
			}
			r.Ready = false
			r.Failing[c.Name] = err.Error()
		}
	}
	return r
}

// Handler serves /healthz and /readyz.
func Handler(checks []Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		write(w, http.StatusOK, map[string]bool{"alive": true})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := Run(checks)
		code := http.StatusOK
		if !r.Ready {
			code = http.StatusServiceUnavailable
		}
		write(w, code, r)
	})
	return mux
}

func write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
