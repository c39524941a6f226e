// castnet publisher page: capture a camera or a screen, and go live over WHIP
// (RFC 9725). The page state is one of idle | preview | connecting | live |
// stopped | error, written to #state[data-state] and window.castnet.state.
//
// A node may take wallet-signed permits (GET /api/eip712 describes them):
// Connect wallet asks the browser wallet (EIP-1193, window.ethereum) for an
// account, and each Go live then has the wallet sign a fresh EIP-712 permit
// (wallet.js), sent as the session's bearer token. A refused permit (401 or
// 403) shows "Refused: <reason>" and returns the page to idle.
(function () {
  'use strict';
  const C = globalThis.CastnetCommon;
  const W = globalThis.CastnetWallet;
  const $ = (id) => document.getElementById(id);
  const el = {
    form: $('form'), source: $('source'), stream: $('stream'), token: $('token'),
    startpreview: $('startpreview'), golive: $('golive'), stop: $('stop'),
    state: $('state'), error: $('error'), connection: $('connection'),
    bitrate: $('bitrate'), resolution: $('resolution'), elapsed: $('elapsed'),
    watchlink: $('watchlink'), copylink: $('copylink'),
    preview: $('preview'), placeholder: $('placeholder'), livebadge: $('livebadge'),
    wallet: $('wallet'), connectwallet: $('connectwallet'), walletaddress: $('walletaddress'),
    walletstatus: $('wallet-status'), walletneed: $('wallet-need'),
    permit: $('permit'), permitStream: $('permit-stream'), permitExpires: $('permit-expires'),
    permitPrice: $('permit-price'), permitBroadcaster: $('permit-broadcaster'),
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
  // NEED_WALLET_TEXT is W.NEED_WALLET for plain text (the wallet status
  // shows the `quoted` command as code).
  const NEED_WALLET_TEXT = W.NEED_WALLET.replace(/`/g, '"');

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
    // Wallet permits. permitInfo is GET /api/eip712: undefined until it
    // answers (or after it failed), null when the node has no permits.
    permitInfo: undefined,
    permitInfoLoad: null, // the request in flight, or its settled promise
    permitInfoError: '',
    address: '', // the connected wallet account, '' when none
    walletBusy: false, // eth_requestAccounts is waiting for the person
    signed: null, // the last permit message the wallet signed
  };

  // window.castnet is the page's test surface; getters keep it current.
  window.castnet = Object.freeze({
    get state() { return s.state; },
    get sessionURL() { return s.sessionURL; },
    get error() { return el.error.textContent; },
    get wallet() {
      return {
        provider: !!provider(),
        address: s.address,
        requirePermit: !!(s.permitInfo && s.permitInfo.requirePermit),
        status: el.walletstatus.textContent,
        signed: s.signed,
      };
    },
  });

  // RefusedError is the node refusing the publisher (401 or 403): a missing
  // or bad token or permit, an expired or replayed permit, a publisher that
  // is not allowed or has no funds. The page goes back to idle.
  class RefusedError extends C.UserError {}

  function setState(state, text) {
    s.state = state;
    C.setState(el.state, state, text || STATE_TEXT[state]);
    updateControls();
  }

  function updateControls() {
    const busy = s.state === 'connecting' || s.state === 'live';
    // A node that only takes permits cannot be published to without a wallet.
    el.golive.disabled = busy || walletMissing();
    el.startpreview.disabled = busy;
    el.stop.disabled = !busy && !s.media;
    el.source.disabled = busy;
    el.stream.disabled = busy;
    el.token.disabled = busy;
    el.livebadge.hidden = s.state !== 'live';
    renderWallet(busy);
  }

  function showError(message) {
    el.error.textContent = message;
  }

  function fail(message) {
    showError(message);
    setState('error');
  }

  // backToIdle ends the attempt after a refusal (by the node or in the
  // wallet): nothing is sent and the camera is released.
  function backToIdle(message) {
    closeSession();
    stopMedia();
    resetStats();
    showError(message);
    setState('idle');
  }

  // --- wallet ----------------------------------------------------------------

  function provider() {
    const p = window.ethereum;
    return p && typeof p.request === 'function' ? p : null;
  }

  function permitRequired() {
    return !!(s.permitInfo && s.permitInfo.requirePermit);
  }

  function walletMissing() {
    return permitRequired() && !provider();
  }

  // loadPermitInfo asks the node how it takes permits, once; a failure is
  // forgotten so that the next Go live asks again.
  function loadPermitInfo() {
    if (s.permitInfoLoad) return s.permitInfoLoad;
    s.permitInfoLoad = (async () => {
      const res = await fetch('/api/eip712', { headers: { Accept: 'application/json' } });
      if (res.status === 404) return null; // a node without permits
      if (!res.ok) throw new Error(await C.responseReason(res));
      return W.checkInfo(await res.json());
    })().then((info) => {
      s.permitInfo = info;
      s.permitInfoError = '';
      updateControls();
      return info;
    }, (err) => {
      s.permitInfoLoad = null;
      s.permitInfoError = (err && err.message) || String(err);
      updateControls();
      throw err;
    });
    return s.permitInfoLoad;
  }

  function walletStatus() {
    const p = provider();
    const info = s.permitInfo;
    if (s.walletBusy) return { text: 'Waiting for your wallet: approve the connection there.' };
    if (info === undefined) {
      return s.permitInfoError
        ? { text: 'Could not ask the node about wallet permits (' + s.permitInfoError + '); Go live asks again.' }
        : { text: 'Checking whether this node takes wallet-signed permits…' };
    }
    if (info === null) return { text: 'This node does not take wallet-signed permits.' };
    if (info.requirePermit && !p) return { text: W.NEED_WALLET, warn: true };
    if (s.address) {
      return { text: 'Connected as ' + s.address + '. Each Go live asks your wallet to sign a fresh permit.' };
    }
    if (info.requirePermit) {
      return { text: 'This node only accepts wallet-signed streams: Go live connects your wallet and asks it to sign a permit.' };
    }
    if (!p) return { text: 'No browser wallet found. This node does not require one.' };
    return { text: 'Optional: connect a wallet to sign your streams with it.' };
  }

  function renderWallet(busy) {
    const p = provider();
    el.wallet.hidden = s.permitInfo === null; // the node takes no permits
    el.walletneed.textContent = permitRequired() ? '(required by this node)' : '(optional)';
    el.connectwallet.disabled = !p || busy || s.walletBusy || !!s.address || s.permitInfo === null;
    el.connectwallet.textContent = s.address ? 'Wallet connected' : 'Connect wallet';
    el.walletaddress.textContent = s.address ? W.shortAddress(s.address) : '';
    el.walletaddress.title = s.address;
    const st = walletStatus();
    if (el.walletstatus.dataset.text !== st.text) {
      el.walletstatus.dataset.text = st.text;
      setTextWithCode(el.walletstatus, st.text);
    }
    el.walletstatus.classList.toggle('warn', !!st.warn);
  }

  // setTextWithCode writes text into e with each `quoted` part as <code>
  // (DOM nodes, never HTML).
  function setTextWithCode(e, text) {
    e.textContent = '';
    text.split('`').forEach((part, i) => {
      if (!part) return;
      if (i % 2 === 0) {
        e.append(part);
      } else {
        const code = document.createElement('code');
        code.textContent = part;
        e.append(code);
      }
    });
  }

  function showPermit(message) {
    s.signed = message;
    el.permitStream.textContent = message.stream;
    el.permitExpires.textContent = W.formatExpires(message.expires);
    el.permitPrice.textContent = message.maxPricePerPixel + ' wei';
    el.permitBroadcaster.textContent = message.broadcaster;
    el.permit.hidden = false;
  }

  // connectWallet asks the wallet for an account (eth_requestAccounts).
  async function connectWallet() {
    const p = provider();
    if (!p) throw new C.UserError(NEED_WALLET_TEXT);
    s.walletBusy = true;
    updateControls();
    try {
      s.address = await W.requestAccounts(p);
    } finally {
      s.walletBusy = false;
      updateControls();
    }
    return s.address;
  }

  async function onConnectClick() {
    showError('');
    try {
      await connectWallet();
    } catch (err) {
      showError(err instanceof C.UserError ? err.message : W.describeWalletError(err));
    }
  }

  // onAccountsChanged follows the account chosen in the wallet; a live
  // session goes on under the permit it was started with.
  function onAccountsChanged(accounts) {
    if (!s.address) return; // not connected: the page does not use the wallet
    const next = Array.isArray(accounts) && accounts.length ? String(accounts[0]) : '';
    s.address = next;
    if (!next) showError('The wallet disconnected this site. Connect it again to sign permits.');
    updateControls();
  }

  // bearerFor returns the Authorization token for a new session of name.
  //
  // A node that requires permits gets one signed by the wallet, which is
  // connected first when it is not yet. A node that takes permits without
  // requiring them still gets a signed permit when a wallet is connected
  // (and no publish token was typed): connecting a wallet says "publish as
  // me", and the node may bill that wallet's balance; signing costs nothing
  // and the permit caps the price per pixel. A typed publish token wins
  // there because a request carries one Authorization header only, and a
  // node set up with a publish token expects that token. Every Go live
  // signs a fresh permit: the node spends its nonce.
  async function bearerFor(name) {
    const typed = el.token.value.trim();
    let info;
    try {
      info = await loadPermitInfo();
    } catch (err) {
      if (!s.address) return typed; // the node will say if it wanted a permit
      throw new C.UserError('Cannot sign a permit: the node did not describe it (' + err.message + ').');
    }
    if (!info || (!info.requirePermit && (typed || !s.address))) return typed;
    const p = provider();
    if (!p) throw new C.UserError(NEED_WALLET_TEXT);
    if (!s.address) {
      setState('connecting', 'Connecting your wallet…');
      await connectWallet();
    }
    setState('connecting', 'Waiting for your wallet to sign the permit…');
    const permit = await W.signPermit(p, s.address, info, name, Date.now());
    showPermit(permit.message);
    setState('connecting');
    return permit.token;
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
    if (res.status === 401 || res.status === 403) throw new RefusedError('Refused: ' + await C.responseReason(res));
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
    let token;
    try {
      token = await bearerFor(name);
    } catch (err) {
      if (attempt !== s.attempt) return;
      backToIdle(err instanceof C.UserError ? err.message : W.describeWalletError(err));
      return;
    }
    if (attempt !== s.attempt) return;
    s.token = token;
    try {
      await publish(media, name, attempt);
    } catch (err) {
      if (attempt !== s.attempt) return;
      if (err instanceof RefusedError) {
        // A permit that expires an hour after it was signed can only be
        // expired on arrival when this computer's clock is off.
        const hint = s.signed && /expired/i.test(err.message)
          ? ' (check that this computer\'s clock is right, then go live again)' : '';
        backToIdle(err.message + hint);
        return;
      }
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
    el.connectwallet.addEventListener('click', onConnectClick);
    window.addEventListener('pagehide', onPageHide);
    updateWatchLink();
    setState('idle');
    watchProvider();
    loadPermitInfo().catch((err) => console.warn('castnet: GET /api/eip712:', err));
  }

  // watchProvider follows the wallet's account, including a wallet that
  // injects window.ethereum after the page loaded (it then fires
  // "ethereum#initialized").
  function watchProvider() {
    const p = provider();
    if (p && typeof p.on === 'function') p.on('accountsChanged', onAccountsChanged);
    if (!p) {
      window.addEventListener('ethereum#initialized', () => {
        watchProvider();
        updateControls();
      }, { once: true });
    }
  }

  init();
})();
