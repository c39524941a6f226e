package httpx

import (
	"net/http"
	"strings"
)

// CORSConfig says what a cross-origin browser may do with an endpoint.
type CORSConfig struct {
	Methods []string // allowed methods, e.g. POST, PATCH, DELETE
	Headers []string // request headers a client may send
	Expose  []string // response headers a client may read
}

// CORS answers preflight requests and adds Access-Control headers to every
// response, so publisher pages served from other origins can use WHIP. A
// preflight carries no credentials, so it is answered before any auth check.
//
// A plain (non-preflight) OPTIONS also gets the method and header lists
// before next answers it: WHIP clients such as @eyevinn/whip-web-client
// send one and trickle only if its Access-Control-Allow-Methods names
// PATCH. A page reads that header only if Expose lists it.
func CORS(cfg CORSConfig, next http.Handler) http.Handler {
	methods := strings.Join(cfg.Methods, ", ")
	headers := strings.Join(cfg.Headers, ", ")
	expose := strings.Join(cfg.Expose, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if expose != "" {
			h.Set("Access-Control-Expose-Headers", expose)
		}
		if r.Method != http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", headers)
		if r.Header.Get("Access-Control-Request-Method") == "" {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	})
}
