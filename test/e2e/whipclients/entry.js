// The browser bundle whipclients_test.go serves: two WHIP clients from npm,
// used as a page that picked them would use them.
import { WHIPClient as EyevinnWHIPClient } from '@eyevinn/whip-web-client';
import { WHIPClient as WhipWhepClient } from 'whip-whep/whip.js';

window.EyevinnWHIPClient = EyevinnWHIPClient;
window.WhipWhepClient = WhipWhepClient;
