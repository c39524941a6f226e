// Package mpegts writes and reads MPEG-2 transport streams (ISO/IEC 13818-1)
// carrying one H.264 video stream and at most one audio stream (Opus or AAC
// ADTS) — the shape castnet's segments take.
//
// Timestamps are 90 kHz and wrap at 33 bits, as §2.4.3.7 of the standard
// defines them; the muxer takes time.Duration values and wraps them, the
// demuxer reports the 33-bit values as read, without unwrapping.
package mpegts

import (
	"errors"
	"time"
)

// PacketSize is the size of one transport stream packet (§2.4.3.2).
const PacketSize = 188

// syncByte starts every transport stream packet (§2.4.3.3).
const syncByte = 0x47

// PIDs the muxer uses. 0x1000 for the PMT matches what ffmpeg writes, which
// keeps hexdumps of castnet's and ffmpeg's output easy to compare.
const (
	PIDPAT   = 0x0000
	PIDPMT   = 0x1000
	PIDVideo = 0x0100
	PIDAudio = 0x0101
)

// Stream types of the program map table (Table 2-34 of ISO/IEC 13818-1 and
// its amendments).
const (
	StreamTypeAAC     = 0x0F // ISO/IEC 13818-7 audio with ADTS transport syntax
	StreamTypeH264    = 0x1B // ITU-T H.264 / ISO/IEC 14496-10 video
	StreamTypePrivate = 0x06 // PES packets containing private data (Opus)
)

// PES stream_id values (Table 2-22).
const (
	streamIDPrivate1 = 0xBD // private_stream_1: Opus, as the Opus-in-TS mapping asks
	streamIDAudio    = 0xC0 // first MPEG audio stream: AAC
	streamIDVideo    = 0xE0 // first MPEG video stream: H.264
)

// ticksPerSecond is the PTS/DTS clock rate (§2.4.3.7).
const ticksPerSecond = 90000

// tsMask keeps the low 33 bits of a PTS, DTS or PCR base.
const tsMask = 1<<33 - 1

// Errors the package returns, wrapped with detail.
var (
	// ErrSync reports bytes skipped to find the next packet's sync byte.
	ErrSync = errors.New("mpegts: lost sync")
	// ErrCorrupt reports a damaged table, PES or continuity counter jump; the
	// data it concerned was dropped.
	ErrCorrupt = errors.New("mpegts: corrupt stream")
	// ErrTooLarge reports a PES payload or table over the limits.
	ErrTooLarge = errors.New("mpegts: too large")
	// ErrInvalid reports bad arguments to the muxer.
	ErrInvalid = errors.New("mpegts: invalid input")
)

// Ticks converts d to the nearest 90 kHz tick, wrapped to 33 bits, so that
// Ticks(TicksToDuration(t)) == t. Negative durations wrap too, as the 33-bit
// clock does.
func Ticks(d time.Duration) uint64 {
	num := int64(d)*9 + 50000
	n := num / 100000
	if num < 0 && num%100000 != 0 {
		n-- // floor division, so negatives round like positives
	}
	return uint64(n) & tsMask
}

// TicksToDuration converts 90 kHz ticks to a duration.
func TicksToDuration(t uint64) time.Duration {
	return time.Duration(t * 100000 / 9)
}

// crc32MPEG computes the CRC-32/MPEG-2 that ends every PSI section (Annex A):
// polynomial 0x04C11DB7, initial value all ones, no reflection, no final XOR.
// Sections are a few dozen bytes per segment, so the bitwise form is fast
// enough and needs no table.
func crc32MPEG(b []byte) uint32 {
	crc := uint32(0xFFFFFFFF)
	for _, c := range b {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04C11DB7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
