package httpx

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs h on a Server with lim on 127.0.0.1 until the test ends.
func serve(t *testing.T, h http.Handler, lim Limits) string {
	t.Helper()
	s, err := ListenLimited("127.0.0.1:0", h, slog.New(slog.DiscardHandler), lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.Addr().String()
}

// echoBody answers with the length of the body it read, or the error.
var echoBody = Handle(nil, func(w http.ResponseWriter, r *http.Request) error {
	b, err := ReadBody(w, r, 64<<20)
	if err != nil {
		return err
	}
	fmt.Fprint(w, len(b))
	return nil
})

// chunked opens a connection and sends a chunked POST's headers.
func chunked(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	return c
}

// trickle sends a one-byte chunk every gap until the connection fails.
func trickle(c net.Conn, gap time.Duration) {
	for {
		if _, err := fmt.Fprint(c, "1\r\nx\r\n"); err != nil {
			return
		}
		time.Sleep(gap)
	}
}

// status reads the answer on c and returns its status line.
func status(t *testing.T, c net.Conn, br *bufio.Reader, within time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", within, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Status
}

// closed reports whether the server closed c after its answer (perhaps
// after a 400 for the trickle it read as the next request, perhaps with a
// reset for the trickle it did not read).
func closed(c net.Conn, br *bufio.Reader) bool {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := io.Copy(io.Discard, br)
	return !isTimeout(err)
}

func TestSlowBodyIsCutOff(t *testing.T) {
	tests := []struct {
		name     string
		gap      time.Duration
		lim      Limits
		want     string
		atLeast  time.Duration
		atMost   time.Duration
		handler  http.Handler
		wantText string
	}{
		{name: "a byte every 500 ms passes the 200 ms idle deadline", gap: 500 * time.Millisecond,
			lim:  Limits{BodyIdle: 200 * time.Millisecond, BodyTimeout: 10 * time.Second},
			want: "408 Request Timeout", atLeast: 200 * time.Millisecond, atMost: 2 * time.Second, handler: echoBody},
		{name: "a byte every 50 ms takes past the 600 ms total deadline", gap: 50 * time.Millisecond,
			lim:  Limits{BodyIdle: time.Second, BodyTimeout: 600 * time.Millisecond},
			want: "408 Request Timeout", atLeast: 600 * time.Millisecond, atMost: 2 * time.Second, handler: echoBody},
		{name: "an unread body is not waited for past the grace", gap: 500 * time.Millisecond,
			lim: Limits{BodyIdle: 10 * time.Second, BodyTimeout: 10 * time.Second}, want: "200 OK",
			atMost: bodyGrace + time.Second,
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "2")
				fmt.Fprint(w, "ok")
			})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := chunked(t, serve(t, tc.handler, tc.lim))
			start := time.Now()
			go trickle(c, tc.gap)
			br := bufio.NewReader(c)
			if got := status(t, c, br, 5*time.Second); got != tc.want {
				t.Errorf("status %q, want %q", got, tc.want)
			}
			if !closed(c, br) {
				t.Error("the connection stayed open")
			}
			if took := time.Since(start); took < tc.atLeast || took > tc.atMost {
				t.Errorf("closed after %v, want %v to %v", took, tc.atLeast, tc.atMost)
			}
		})
	}
}

// TestSteadyLongUploadWithRouteLimits: a route that streams long bodies
// sets its own deadlines; a large upload that keeps flowing passes even
// though it lasts longer than the server's default total.
func TestSteadyLongUploadWithRouteLimits(t *testing.T) {
	h := Handle(nil, func(w http.ResponseWriter, r *http.Request) error {
		n, err := io.Copy(io.Discard, LimitBody(w, r, 300*time.Millisecond, 0))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		fmt.Fprint(w, n)
		return nil
	})
	addr := serve(t, h, Limits{BodyIdle: 100 * time.Millisecond, BodyTimeout: 200 * time.Millisecond})
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 1<<20)
		for range 16 { // 16 MiB over about 800 ms
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := http.Post("http://"+addr+"/", "video/mp2t", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != fmt.Sprint(16<<20) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// TestLongResponsesOutliveBodyDeadlines: once a body is read (or when there
// is none), the deadlines are gone: a response that streams for many times
// the body deadlines (a transcoder session, a live playlist) is neither cut
// nor has its request context cancelled.
func TestLongResponsesOutliveBodyDeadlines(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		rc := http.NewResponseController(w)
		for i := range 8 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			fmt.Fprintf(w, "%d\n", i)
			_ = rc.Flush()
		}
	})
	addr := serve(t, h, Limits{BodyIdle: 50 * time.Millisecond, BodyTimeout: 100 * time.Millisecond})
	for _, body := range []string{"", "offer"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
		if body == "" {
			req.Method, req.Body = http.MethodGet, nil
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.Count(string(b), "\n"); got != 8 {
			t.Errorf("body %q: got %d of 8 lines in 400 ms: %q", body, got, b)
		}
	}
}

// TestConnectionCap: beyond MaxConns, a connection waits until one closes.
func TestConnectionCap(t *testing.T) {
	addr := serve(t, echoBody, Limits{MaxConns: 2})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx")
		if got := status(t, c, bufio.NewReader(c), 2*time.Second); got != "200 OK" {
			t.Fatalf("status %q", got)
		}
		held = append(held, c) // kept alive: each holds a place
	}
	client := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{}}
	if resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader("x")); err == nil {
		resp.Body.Close()
		t.Fatal("a third connection was served past MaxConns 2")
	}
	held[0].Close()
	client.Timeout = 2 * time.Second
	resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatalf("a place freed, yet: %v", err)
	}
	resp.Body.Close()
}
