#!/usr/bin/python3
"""gst-whip.py: a GStreamer webrtcbin WHIP publisher (RFC 9725), as foreign
WHIP clients built on GStreamer are (meetecho simple-whip-client, the
gst-plugins-rs whipsink): webrtcbin and libnice do the WebRTC side, this
script only the HTTP. It sends a live H.264 test pattern and an Opus tone.

usage: gst-whip.py [--trickle] [--duration S] [--connect-timeout S] URL
       gst-whip.py --check

Without --trickle it waits for libnice to gather every candidate and POSTs
the full offer, as whipsink does; with it, it POSTs at once and sends each
candidate in a PATCH (application/trickle-ice-sdpfrag), as simple-whip-client
does. It prints one line per step, and exits 0 after a DELETE once it has
been connected for the duration, 2 when ICE does not connect in time.
"""
import argparse
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

PIPELINE = """
webrtcbin name=webrtc bundle-policy=max-bundle
videotestsrc is-live=true pattern=ball
 ! video/x-raw,width=640,height=360,framerate=30/1 ! videoconvert
 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=800
 ! video/x-h264,profile=constrained-baseline
 ! rtph264pay config-interval=-1 pt=96
 ! application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000
 ! webrtc.
audiotestsrc is-live=true wave=sine volume=0.2 ! audioconvert ! audioresample
 ! opusenc ! rtpopuspay pt=111
 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000
 ! webrtc.
"""


def say(*parts):
    print(*parts, flush=True)


class Publisher:
    def __init__(self, url, trickle, duration, connect_timeout):
        self.url, self.trickle = url, trickle
        self.duration, self.connect_timeout = duration, connect_timeout
        self.location, self.etag = None, None
        self.pending, self.lock = [], threading.Lock()
        self.posted = False
        self.connected = False
        self.code = 0
        self.loop = GLib.MainLoop()
        self.pipe = Gst.parse_launch(PIPELINE)
        self.webrtc = self.pipe.get_by_name("webrtc")
        # WHIP offers are sendonly (RFC 9725 §4.2); webrtcbin's default is
        # sendrecv. (PyGObject cannot iterate get-transceivers' GArray.)
        i, tr = 0, self.webrtc.emit("get-transceiver", 0)
        while tr is not None:
            tr.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
            i += 1
            tr = self.webrtc.emit("get-transceiver", i)
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self.on_ice_candidate)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::ice-connection-state", self.on_ice_state)
        self.pipe.get_bus().add_signal_watch()
        self.pipe.get_bus().connect("message::error", self.on_error)

    def run(self):
        self.pipe.set_state(Gst.State.PLAYING)
        GLib.timeout_add_seconds(self.connect_timeout, self.on_connect_timeout)
        self.loop.run()
        self.pipe.set_state(Gst.State.NULL)
        return self.code

    def stop(self, code):
        self.code = code
        self.loop.quit()
        return False

    def on_error(self, _bus, msg):
        err, dbg = msg.parse_error()
        say("gstreamer error:", err.message, dbg)
        self.stop(1)

    def on_negotiation_needed(self, element):
        promise = Gst.Promise.new_with_change_func(self.on_offer, element, None)
        element.emit("create-offer", None, promise)

    def on_offer(self, promise, element, _):
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        if offer is None:
            say("create-offer failed:", reply.to_string())
            GLib.idle_add(self.stop, 1)
            return
        element.emit("set-local-description", offer, Gst.Promise.new())
        if self.trickle:
            self.post(offer.sdp.as_text())

    def on_gathering(self, element, _pspec):
        state = element.get_property("ice-gathering-state")
        say("ice-gathering-state:", state.value_nick)
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not self.trickle:
            self.post(element.get_property("local-description").sdp.as_text())

    def on_ice_candidate(self, _element, mline, candidate):
        say("local candidate:", candidate)
        if not self.trickle:
            return
        with self.lock:
            if not self.posted:
                self.pending.append((mline, candidate))
                return
        self.patch([(mline, candidate)])

    def on_ice_state(self, element, _pspec):
        state = element.get_property("ice-connection-state")
        say("ice-connection-state:", state.value_nick)
        up = (GstWebRTC.WebRTCICEConnectionState.CONNECTED, GstWebRTC.WebRTCICEConnectionState.COMPLETED)
        if state in up and not self.connected:
            self.connected = True
            GLib.timeout_add_seconds(self.duration, self.finish)
        elif state == GstWebRTC.WebRTCICEConnectionState.FAILED:
            GLib.idle_add(self.stop, 2)

    def on_connect_timeout(self):
        if not self.connected:
            say("ICE did not connect within", self.connect_timeout, "s")
            self.stop(2)
        return False

    def request(self, method, url, body=None, ctype=None, headers=None):
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        if ctype:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def post(self, sdp):
        say("offer candidates:", [l for l in sdp.splitlines() if l.startswith("a=candidate")])
        status, hdrs, body = self.request("POST", self.url, sdp.encode(), "application/sdp")
        say("POST", status)
        if status != 201:
            say("answer:", body)
            GLib.idle_add(self.stop, 1)
            return
        self.location = urllib.parse.urljoin(self.url, hdrs["Location"])
        self.etag = hdrs.get("ETag")
        ok, msg = GstSdp.SDPMessage.new_from_text(body)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        self.webrtc.emit("set-remote-description", answer, Gst.Promise.new())
        say("answer candidates:", [l for l in body.splitlines() if l.startswith("a=candidate")])
        with self.lock:
            self.posted, pending = True, self.pending
            self.pending = []
        if pending:
            self.patch(pending)

    def patch(self, cands):
        sdp = self.webrtc.get_property("local-description").sdp
        frag = "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n" % (
            sdp.get_media(0).get_attribute_val("ice-ufrag"),
            sdp.get_media(0).get_attribute_val("ice-pwd"))
        for mline, cand in cands:
            if not cand:
                frag += "a=end-of-candidates\r\n"
                continue
            frag += "m=%s 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:%s\r\na=%s\r\n" % (
                sdp.get_media(mline).get_media(), sdp.get_media(mline).get_attribute_val("mid"), cand)
        headers = {"If-Match": self.etag} if self.etag else {}
        status, _, body = self.request("PATCH", self.location, frag.encode(),
                                       "application/trickle-ice-sdpfrag", headers)
        say("PATCH", status, body.strip())

    def finish(self):
        status, _, _ = self.request("DELETE", self.location)
        say("DELETE", status)
        return self.stop(0 if status == 200 else 1)


ELEMENTS = ("webrtcbin", "nicesrc", "dtlssrtpenc", "videotestsrc", "x264enc", "rtph264pay",
            "audiotestsrc", "opusenc", "rtpopuspay")


def check():
    """Exit 3 naming the GStreamer elements this machine lacks."""
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    if missing:
        say("missing GStreamer elements:", " ".join(missing))
        sys.exit(3)
    say("GStreamer", Gst.version_string(), "has", " ".join(ELEMENTS))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="only check the GStreamer elements are there")
    ap.add_argument("--trickle", action="store_true")
    ap.add_argument("--duration", type=int, default=12)
    ap.add_argument("--connect-timeout", type=int, default=20)
    ap.add_argument("url", nargs="?")
    args = ap.parse_args()
    Gst.init(None)
    if args.check or not args.url:
        check()
        return
    pub = Publisher(args.url, args.trickle, args.duration, args.connect_timeout)
    sys.exit(pub.run())


if __name__ == "__main__":
    main()
