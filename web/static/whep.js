// castnet — a WHEP player (draft-ietf-wish-whep) for the watch page: one
// RTCPeerConnection with recvonly video and audio, one POST of the whole
// offer (no trickle: the node gathers all of its candidates before it
// answers), DELETE of the session resource to stop. It watches its own
// health and reports one failure at most; the page decides what follows.
// Plain browser script, no modules: it defines one global, CastnetWHEP.
(function (root) {
  'use strict';
  const C = root.CastnetCommon;
  const P = root.CastnetPlayback;

  // GATHER_MS bounds the wait for our own candidates: on loopback or a LAN
  // host candidates come at once; the offer goes with what there is then.
  const GATHER_MS = 2000;
  // CONNECT_MS: ICE and DTLS must complete this long after the answer.
  const CONNECT_MS = 5000;
  // FRAME_MS: a video frame must be decoded this long after connecting,
  // and then at least one every FRAME_MS (else the session has stalled).
  const FRAME_MS = 5000;
  // DISCONNECTED_MS: how long 'disconnected' may last before it counts as
  // failed; ICE often recovers from a short loss by itself.
  const DISCONNECTED_MS = 3000;
  const TICK_MS = 1000;
  // POST_MS bounds the offer's round trip: the node answers once it has
  // gathered its candidates (5 s at most by default).
  const POST_MS = 10000;

  function supported() {
    return typeof root.RTCPeerConnection === 'function' && typeof root.MediaStream === 'function';
  }

  // failure builds what Session reports through onFailure.
  function failure(kind, reason, extra) {
    return Object.assign({ kind, reason }, extra || {});
  }

  // gathered resolves when ICE gathering completes or after ms.
  function gathered(pc, ms) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
      const check = () => { if (pc.iceGatheringState === 'complete') done(); };
      const timer = setTimeout(done, ms);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  // Session is one viewer session. on: {playing(), delay(ms), failed(f)};
  // each is called only while the session has not been stopped.
  class Session {
    constructor(endpoint, video, on) {
      this.endpoint = new URL(endpoint, root.location.href).href;
      this.video = video;
      this.on = on;
      this.pc = null;
      this.url = ''; // the session resource, from Location
      this.stopped = false;
      this.playing = false;
      this.ticking = false;
      this.timers = new Set();
      this.sample = null; // last webrtcSample
      this.lastFrameAt = 0;
    }

    // start sends the offer and applies the answer; a refusal or an error
    // is reported through on.failed.
    async start() {
      try {
        await this.negotiate();
      } catch (err) {
        if (err && err.failure) this.fail(err.failure);
        else this.fail(failure('error', (err && err.message) || String(err)));
        return;
      }
      this.after(CONNECT_MS, () => {
        if (this.pc.connectionState !== 'connected') this.fail(failure('timeout', 'no WebRTC connection within ' + CONNECT_MS / 1000 + ' s'));
      });
    }

    async negotiate() {
      const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
      this.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      pc.addEventListener('track', (e) => this.onTrack(stream, e.track));
      pc.addEventListener('connectionstatechange', () => this.onConnectionState());
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, GATHER_MS);
      if (this.stopped) return;
      const res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp' },
        body: pc.localDescription.sdp,
        cache: 'no-store',
        signal: AbortSignal.timeout ? AbortSignal.timeout(POST_MS) : undefined,
      }).catch((err) => {
        if (err && err.name === 'TimeoutError') throw { failure: failure('timeout', 'no answer to the offer within ' + POST_MS / 1000 + ' s') };
        throw err;
      });
      if (res.status !== 201) throw this.refusal(res, await C.responseReason(res));
      const location = res.headers.get('Location');
      if (location) this.url = new URL(location, this.endpoint).href;
      const answer = await res.text();
      if (this.stopped) { this.hangUp(false); return; }
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    }

    refusal(res, reason) {
      const retryAfterMs = P.retryAfterMs(res.headers.get('Retry-After'), Date.now());
      return { failure: failure('refused', reason, { status: res.status, retryAfterMs }) };
    }

    onTrack(stream, track) {
      stream.addTrack(track);
      if (this.video.srcObject !== stream) this.video.srcObject = stream;
      if (track.kind === 'video' && this.video.requestVideoFrameCallback) {
        this.video.requestVideoFrameCallback(() => this.onFrame());
      }
    }

    onConnectionState() {
      if (this.stopped) return;
      const state = this.pc.connectionState;
      if (state === 'connected' && !this.ticking) this.onConnected();
      else if (state === 'failed') this.fail(failure(this.playing ? 'failed' : 'timeout', 'the WebRTC connection failed'));
      else if (state === 'disconnected') {
        this.after(DISCONNECTED_MS, () => {
          if (this.pc.connectionState === 'disconnected') this.fail(failure('failed', 'the WebRTC connection was lost'));
        });
      }
    }

    onConnected() {
      this.ticking = true;
      this.lastFrameAt = performance.now();
      this.tick();
      this.every(TICK_MS, () => this.tick());
    }

    onFrame() {
      this.lastFrameAt = performance.now();
      if (this.playing || this.stopped) return;
      this.playing = true;
      this.on.playing();
      this.tick(); // the delay at once, not a second later
    }

    // tick reads the stats each second: decoded frames prove (and keep
    // proving) that video arrives, and give the delay.
    async tick() {
      let stats;
      try {
        stats = await this.pc.getStats();
      } catch (_) {
        return; // closed under us
      }
      if (this.stopped) return;
      const cur = P.webrtcSample(stats.values());
      const prev = this.sample;
      this.sample = cur;
      if (cur.framesDecoded > (prev ? prev.framesDecoded : 0)) this.onFrame();
      const delay = P.webrtcDelayMs(prev, cur);
      if (delay !== null) this.on.delay(delay);
      if (performance.now() - this.lastFrameAt > FRAME_MS) {
        this.fail(failure(this.playing ? 'failed' : 'timeout',
          this.playing ? 'no video for ' + FRAME_MS / 1000 + ' s' : 'no video frame within ' + FRAME_MS / 1000 + ' s'));
      }
    }

    fail(f) {
      if (this.stopped) return;
      this.stop();
      this.on.failed(f);
    }

    // stop ends the session: the PeerConnection closes and the node is
    // told with DELETE (keepalive, so it still goes out while the page
    // unloads). Safe to call more than once.
    stop() {
      if (this.stopped) return;
      this.stopped = true;
      for (const t of this.timers) { clearTimeout(t); clearInterval(t); }
      this.timers.clear();
      this.hangUp(true);
    }

    hangUp(closeVideo) {
      if (this.pc) this.pc.close();
      if (closeVideo && this.video.srcObject) this.video.srcObject = null;
      if (!this.url) return;
      const url = this.url;
      this.url = '';
      fetch(url, { method: 'DELETE', keepalive: true }).catch(() => {});
    }

    after(ms, fn) {
      const t = setTimeout(() => { this.timers.delete(t); if (!this.stopped) fn(); }, ms);
      this.timers.add(t);
    }

    every(ms, fn) {
      this.timers.add(setInterval(() => { if (!this.stopped) fn(); }, ms));
    }
  }

  root.CastnetWHEP = Object.freeze({
    supported,
    // play starts a session on endpoint into video and returns it.
    play(endpoint, video, on) {
      const s = new Session(endpoint, video, on);
      s.start();
      return s;
    },
  });
})(globalThis);
