// Package hls stores the rendition segments of live streams on disk and
// serves them as HTTP Live Streaming (RFC 8216).
//
// It knows nothing of WebRTC, transcoding or payments: a caller opens a
// stream with its variants, hands it one segment number at a time with the
// MPEG-TS bytes of every rendition it has, and ends it. Everything a player
// or a later tool needs lies on disk:
//
//	{Dir}/{stream}/index.m3u8             multivariant playlist (RFC 8216 §4.3.4)
//	{Dir}/{stream}/stream.json            session manifest (variants, segments)
//	{Dir}/{stream}/segments.jsonl         segments added since stream.json was written
//	{Dir}/{stream}/{rendition}/index.m3u8 media playlist (RFC 8216 §4.3.3)
//	{Dir}/{stream}/{rendition}/{seq}.ts   media segment
//	{Dir}/{stream}/{rendition}/{seq}.{i}.ts partial segment i (LL-HLS), while near the live edge
//	{ArchiveDir}/{stream}/{started}/      earlier sessions, moved aside, never deleted
//
// Every file is written to a temporary name and renamed into place, so a
// reader never sees a partial file, and segments are written before the
// playlists that reference them.
//
// Live media playlists are also served as Low-Latency HLS
// (draft-pantos-hls-rfc8216bis): a producer adds partial segments with
// Stream.AddPart as it cuts them, and the handler renders each live
// playlist from memory with the part tags, holds blocking reloads and
// hinted parts until they exist, and answers delta updates. The playlist
// files stay plain RFC 8216 playlists, which is what ended and archived
// sessions serve; parts are removed once they are no longer needed, and
// all of them when the session ends.
package hls
