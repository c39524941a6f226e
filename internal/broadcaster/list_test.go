package broadcaster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestListPagesLiveFirst: pages of 3 over 4 live and 4 ended streams list
// each once, live ones first, with a Link to each next page.
func TestListPagesLiveFirst(t *testing.T) {
	h := newPipelineConfig(t, nil, func(cfg *Config) { cfg.SourceOnly = true })
	for i := range 4 {
		endStream(t, h.b, fmt.Sprintf("old%d", i))
		sink := startStream(t, h.b, fmt.Sprintf("on%d", i))
		defer sink.Close(nil)
	}
	var got []string
	pages := 0
	for path := "/api/streams?limit=3"; path != ""; pages++ {
		resp, body := getAPI(t, h.b, path)
		var rows []StreamInfo
		if err := json.Unmarshal([]byte(body), &rows); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, body)
		}
		for _, r := range rows {
			got = append(got, r.Name)
		}
		path = nextLink(resp.Header.Get("Link"))
		if e := resp.Header.Get("Access-Control-Expose-Headers"); path != "" && e != "Link" {
			t.Errorf("Access-Control-Expose-Headers %q: a page on another origin cannot follow Link", e)
		}
	}
	want := []string{"on0", "on1", "on2", "on3", "old0", "old1", "old2", "old3"}
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("listed %v in %d pages, want %v in 3", got, pages, want)
	}
}

func TestListRefusesBadPages(t *testing.T) {
	h := newPipelineConfig(t, nil, func(cfg *Config) { cfg.SourceOnly = true })
	for _, q := range []string{"limit=0", "limit=-1", "limit=x", "after=nope", "after=gone:x"} {
		if resp, body := getAPI(t, h.b, "/api/streams?"+q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: %d %s, want 400", q, resp.StatusCode, body)
		}
	}
	if resp, body := getAPI(t, h.b, "/api/streams?limit=5000"); resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("?limit=5000: %d %q, want an empty page (the limit capped at %d)", resp.StatusCode, body, MaxLimit)
	}
}
