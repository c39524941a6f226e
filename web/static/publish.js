// castnet publisher page: capture a camera or a screen, and go live over WHIP
// (RFC 9725). The page state is one of idle | preview | connecting | live |
// stopped | error, written to #state[data-state] and window.castnet.state.
(function () {
  'use strict';
  const C = globalThis.CastnetCommon;
  const $ = (id) => document.getElementById(id);
  const el = {
    form: $('form'), source: $('source'), stream: $('stream'), token: $('token'),
    startpreview: $('startpreview'), golive: $('golive'), stop: $('stop'),
    state: $('state'), error: $('error'), connection: $('connection'),
    bitrate: $('bitrate'), resolution: $('resolution'), elapsed: $('elapsed'),
    watchlink: $('watchlink'), copylink: $('copylink'),
    preview: $('preview'), placeholder: $('placeholder'), livebadge: $('livebadge'),
  };

  const STATE_TEXT = {
    idle: 'Idle — not live',
    preview: 'Previewing — not live yet',
    connecting: 'Connecting…',
    live: 'Live',
    stopped: 'Stopped',
    error: 'Not live — see the error below',
  };
  // The server gathers all its candidates before answering (RFC 9725
  // section 4.1) and this page does not trickle either, so the offer waits
  // for gathering to finish, but never longer than this.
  const ICE_GATHER_CAP_MS = 3000;
  const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

  const s = {
    state: 'idle',
    sessionURL: '',
    token: '', // the token the current session was created with
    media: null,
    mediaSource: '',
    pc: null,
    attempt: 0, // bumped by Stop so that an in-flight Go live gives up
    abort: null,
    startedAt: 0,
    statsTimer: 0,
    lastStats: null,
  };

  // window.castnet is the page's test surface; getters keep it current.
  window.castnet = Object.freeze({
    get state() { return s.state; },
    get sessionURL() { return s.sessionURL; },
    get error() { return el.error.textContent; },
  });

  function setState(state, text) {
    s.state = state;
    C.setState(el.state, state, text || STATE_TEXT[state]);
    const busy = state === 'connecting' || state === 'live';
    el.golive.disabled = busy;
    el.startpreview.disabled = busy;
    el.stop.disabled = !busy && !s.media;
    el.source.disabled = busy;
    el.stream.disabled = busy;
    el.token.disabled = busy;
    el.livebadge.hidden = state !== 'live';
  }

  function showError(message) {
    el.error.textContent = message;
  }

  function fail(message) {
    showError(message);
    setState('error');
  }

  // --- capture -------------------------------------------------------------

  async function acquireCamera() {
    const video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
    try {
      return await navigator.mediaDevices.getUserMedia({ video, audio: AUDIO });
    } catch (err) {
      if (err.name !== 'NotFoundError' && err.name !== 'OverconstrainedError') throw err;
      // Perhaps only the microphone is missing: a camera alone still streams.
      return navigator.mediaDevices.getUserMedia({ video });
    }
  }

  async function acquireScreen() {
    if (!navigator.mediaDevices.getDisplayMedia) {
      throw new C.UserError('This browser cannot share the screen; choose the camera instead.');
    }
    const display = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: { ideal: 30 } },
      audio: false,
    });
    try {
      const mic = await navigator.mediaDevices.getUserMedia({ audio: AUDIO });
      for (const t of mic.getAudioTracks()) display.addTrack(t);
    } catch (err) {
      // No microphone, or not allowed: share the screen without sound.
      console.info('castnet: screen share without microphone:', err.name);
    }
    return display;
  }

  function acquire(kind) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return Promise.reject(new C.UserError(
        'Capture is unavailable here: the page must be served over HTTPS or from localhost.'));
    }
    return kind === 'screen' ? acquireScreen() : acquireCamera();
  }

  // startPreview must call the capture API before its first await: browsers
  // only allow getDisplayMedia during the click that asked for it.
  async function startPreview() {
    const kind = el.source.value;
    if (s.media && s.mediaSource === kind) return s.media;
    stopMedia();
    let media;
    try {
      media = await acquire(kind);
    } catch (err) {
      fail(C.describeMediaError(err, kind));
      return null;
    }
    s.media = media;
    s.mediaSource = kind;
    el.preview.srcObject = media;
    el.placeholder.hidden = true;
    for (const t of media.getVideoTracks()) t.addEventListener('ended', onSourceEnded);
    if (s.state === 'connecting' || s.state === 'live') setState(s.state);
    else setState('preview');
    return media;
  }

  function stopMedia() {
    if (s.media) for (const t of s.media.getTracks()) t.stop();
    s.media = null;
    s.mediaSource = '';
    el.preview.srcObject = null;
    el.placeholder.hidden = false;
  }

  // onSourceEnded handles the browser's own "Stop sharing" button or an
  // unplugged camera: without video there is nothing left to send.
  function onSourceEnded() {
    if (s.state === 'connecting' || s.state === 'live') stop('Stopped — the video source ended');
    else {
      stopMedia();
      setState('idle');
    }
  }

  // --- WHIP session ---------------------------------------------------------

  function authHeaders(extra) {
    const h = Object.assign({}, extra);
    if (s.token) h.Authorization = 'Bearer ' + s.token;
    return h;
  }

  function preferH264(transceiver) {
    if (typeof transceiver.setCodecPreferences !== 'function') return;
    const caps = (window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities &&
      RTCRtpReceiver.getCapabilities('video')) ||
      (window.RTCRtpSender && RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities('video'));
    if (!caps || !caps.codecs) return;
    try {
      transceiver.setCodecPreferences(C.orderCodecs(caps.codecs));
    } catch (err) {
      console.warn('castnet: keeping the browser codec order:', err);
    }
  }

  function gatheringComplete(pc, capMs) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, capMs);
      function check() { if (pc.iceGatheringState === 'complete') done(); }
      function done() {
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      }
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  // publish runs the WHIP offer/answer exchange (RFC 9725 section 4.2); the
  // page turns live when the PeerConnection reports "connected".
  async function publish(media, name, attempt) {
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    s.pc = pc;
    pc.addEventListener('connectionstatechange', () => onConnectionState(pc));
    const [video] = media.getVideoTracks();
    const [audio] = media.getAudioTracks();
    preferH264(pc.addTransceiver(video, { direction: 'sendonly', streams: [media] }));
    if (audio) pc.addTransceiver(audio, { direction: 'sendonly', streams: [media] });
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc, ICE_GATHER_CAP_MS);
    if (attempt !== s.attempt) return;
    s.abort = new AbortController();
    const res = await fetch('/whip/' + encodeURIComponent(name), {
      method: 'POST',
      headers: authHeaders({ 'Content-Type': 'application/sdp' }),
      body: pc.localDescription.sdp,
      signal: s.abort.signal,
    });
    if (res.status !== 201) throw new C.UserError('The server refused the stream: ' + await C.responseReason(res));
    const location = res.headers.get('Location');
    if (!location) throw new C.UserError('The server accepted the stream but sent no session URL (Location header).');
    const sessionURL = new URL(location, res.url).href;
    const answer = await res.text();
    if (attempt !== s.attempt) {
      deleteSession(sessionURL, s.token, false); // Stop was pressed meanwhile
      return;
    }
    s.sessionURL = sessionURL;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  function onConnectionState(pc) {
    if (pc !== s.pc) return;
    const st = pc.connectionState;
    el.connection.textContent = st;
    if (st === 'connected') {
      if (s.state !== 'live') {
        s.startedAt = performance.now();
        startStats();
      }
      setState('live');
    } else if (st === 'disconnected' && s.state === 'live') {
      setState('live', 'Live — connection unstable, reconnecting…');
    } else if (st === 'failed') {
      closeSession();
      fail('Connection failed: media could not reach the server or the path was lost. Check that UDP traffic to the server is allowed, then go live again.');
    }
  }

  function deleteSession(url, token, keepalive) {
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    // keepalive lets the DELETE outlive the page on pagehide; sendBeacon
    // cannot send DELETE (RFC 9725 section 4.3 ends a session with DELETE).
    return fetch(url, { method: 'DELETE', headers, keepalive }).catch((err) => {
      console.warn('castnet: DELETE', url, 'failed:', err);
    });
  }

  // closeSession ends the WHIP session and the PeerConnection, keeping the
  // captured media so the preview goes on and Go live can be tried again.
  function closeSession() {
    stopStats();
    if (s.abort) s.abort.abort();
    s.abort = null;
    if (s.sessionURL) deleteSession(s.sessionURL, s.token, false);
    s.sessionURL = '';
    if (s.pc) s.pc.close();
    s.pc = null;
    el.connection.textContent = '—';
  }

  async function goLive(ev) {
    ev.preventDefault();
    if (s.state === 'connecting' || s.state === 'live') return;
    showError('');
    const name = el.stream.value.trim();
    if (!C.isValidStreamName(name)) {
      el.stream.setAttribute('aria-invalid', 'true');
      el.stream.focus();
      fail('The stream name must be 1–64 characters: letters, digits, "-" or "_".');
      return;
    }
    const attempt = ++s.attempt;
    const mediaReady = startPreview(); // before any await: see startPreview
    setState('connecting');
    const media = await mediaReady;
    if (!media || attempt !== s.attempt) return;
    if (media.getVideoTracks().length === 0) {
      fail('The chosen source has no video.');
      return;
    }
    s.token = el.token.value.trim();
    try {
      await publish(media, name, attempt);
    } catch (err) {
      if (attempt !== s.attempt) return;
      closeSession();
      fail(C.describePublishError(err));
    }
  }

  function stop(text) {
    s.attempt++;
    closeSession();
    stopMedia();
    resetStats();
    setState('stopped', typeof text === 'string' ? text : undefined);
  }

  // --- live statistics -------------------------------------------------------

  function startStats() {
    stopStats();
    s.lastStats = null;
    s.statsTimer = setInterval(pollStats, 1000);
    pollStats();
  }

  function stopStats() {
    clearInterval(s.statsTimer);
    s.statsTimer = 0;
  }

  function resetStats() {
    for (const e of [el.bitrate, el.resolution, el.elapsed, el.connection]) e.textContent = '—';
  }

  async function pollStats() {
    const pc = s.pc;
    if (!pc) return;
    el.elapsed.textContent = C.formatDuration(performance.now() - s.startedAt);
    let report;
    try {
      report = await pc.getStats();
    } catch (_) {
      return;
    }
    let out = null;
    report.forEach((r) => {
      if (r.type === 'outbound-rtp' && (r.kind || r.mediaType) === 'video' &&
          (!out || r.bytesSent > out.bytesSent)) out = r;
    });
    if (!out || pc !== s.pc) return;
    const last = s.lastStats;
    if (last && last.id === out.id && out.timestamp > last.timestamp) {
      const bps = (8 * (out.bytesSent - last.bytesSent) * 1000) / (out.timestamp - last.timestamp);
      el.bitrate.textContent = C.formatBitrate(bps);
    }
    s.lastStats = { id: out.id, timestamp: out.timestamp, bytesSent: out.bytesSent };
    if (out.frameWidth && out.frameHeight) {
      const fps = out.framesPerSecond ? ' @ ' + Math.round(out.framesPerSecond) + ' fps' : '';
      el.resolution.textContent = out.frameWidth + '×' + out.frameHeight + fps;
    }
  }

  // --- page wiring -----------------------------------------------------------

  function updateWatchLink() {
    const name = el.stream.value.trim();
    const ok = C.isValidStreamName(name);
    el.stream.setAttribute('aria-invalid', String(!ok));
    const path = '/watch/' + encodeURIComponent(name);
    el.watchlink.href = ok ? path : '/watch/';
    el.watchlink.textContent = ok ? location.origin + path : 'enter a valid stream name';
    el.watchlink.setAttribute('aria-disabled', String(!ok));
    el.copylink.disabled = !ok;
  }

  async function copyLink() {
    const label = el.copylink.textContent;
    try {
      await navigator.clipboard.writeText(el.watchlink.href);
      el.copylink.textContent = 'Copied';
    } catch (_) {
      el.copylink.textContent = 'Copy failed';
    }
    setTimeout(() => { el.copylink.textContent = label; }, 1500);
  }

  function onSourceChange() {
    // Switch the preview to the new source; while live the select is disabled.
    if (s.media) {
      showError('');
      startPreview();
    }
  }

  function onPageHide() {
    if (s.sessionURL) deleteSession(s.sessionURL, s.token, true);
    s.sessionURL = '';
    if (s.pc) s.pc.close();
    s.pc = null;
  }

  function init() {
    const params = new URLSearchParams(location.search);
    const wanted = params.get('stream');
    el.stream.value = C.isValidStreamName(wanted) ? wanted : C.randomStreamName();
    if (params.get('source') === 'screen') el.source.value = 'screen';
    el.form.addEventListener('submit', goLive);
    el.startpreview.addEventListener('click', () => { showError(''); startPreview(); });
    el.stop.addEventListener('click', () => stop());
    el.source.addEventListener('change', onSourceChange);
    el.stream.addEventListener('input', updateWatchLink);
    el.copylink.addEventListener('click', copyLink);
    window.addEventListener('pagehide', onPageHide);
    updateWatchLink();
    setState('idle');
  }

  init();
})();
