package httpx

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// WriteJSON answers 200 with v as indented JSON that caches must not keep:
// every /api state endpoint answers this way.
func WriteJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// JSON serves the value v returns at each request, with WriteJSON.
func JSON(log *slog.Logger, v func() any) http.Handler {
	return Handle(log, func(w http.ResponseWriter, r *http.Request) error { return WriteJSON(w, v()) })
}
