#!/usr/bin/env bash
# The clips the video tests read (test/fixtures/video/), made with Debian's ffmpeg (`apt-get
# install ffmpeg`): test patterns in several codecs, containers and sizes, odd frame counts, a
# variable frame rate, a frames folder, and the bad clips the budgets must refuse. Committed (about
# 200 KB in all); rerun only to change them: `bash scripts/make_video_clips.sh [DIR]`.
set -euo pipefail
D="${1:-test/fixtures/video}"
mkdir -p "$D/frames" "$D/bad"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
SRC="testsrc2=size=%s:rate=%s,format=yuv420p"
# h264 in mp4, landscape 96x72, 30 fps, 270 frames (the 8x32 view spans 256)
ff -f lavfi -i "$(printf "$SRC" 96x72 30)" -frames:v 270 -c:v libx264 -preset veryslow -crf 32 -g 300 -bf 2 -pix_fmt yuv420p -movflags +faststart "$D/h264_96x72_30fps.mp4"
# vp9 in webm, 80x60, 25 fps, 240 frames
ff -f lavfi -i "$(printf "$SRC" 80x60 25)" -frames:v 240 -c:v libvpx-vp9 -crf 45 -b:v 0 -g 240 -deadline good -cpu-used 4 "$D/vp9_80x60_25fps.webm"
# mpeg4 part 2 in avi, 72x96 portrait, 24 fps, 101 frames (odd count, shorter than the view)
ff -f lavfi -i "$(printf "$SRC" 72x96 24)" -frames:v 101 -c:v mpeg4 -q:v 12 -g 120 "$D/mpeg4_72x96_24fps.avi"
# mjpeg in mkv, odd size 67x45, 30 fps, 41 frames
ff -f lavfi -i "testsrc2=size=68x46:rate=30,format=yuv444p,crop=67:45:0:0" -frames:v 41 -c:v mjpeg -q:v 20 -pix_fmt yuvj444p "$D/mjpeg_67x45_41frames.mkv"
# h264 at the model's size (64x64: no resize), 37 frames
ff -f lavfi -i "$(printf "$SRC" 64x64 30)" -frames:v 37 -c:v libx264 -preset veryslow -crf 30 -pix_fmt yuv420p "$D/h264_64x64_37frames.mp4"
# variable frame rate: 30 fps for 2 s, then 10 fps (mp4 keeps each frame's time)
ff -f lavfi -i "$(printf "$SRC" 96x72 30)" -frames:v 120 -vf "setpts='if(lt(N,60),N/30,2+(N-60)/10)/TB'" -fps_mode vfr -c:v libx264 -preset veryslow -crf 32 -pix_fmt yuv420p "$D/h264_vfr_96x72.mp4"
# a folder of frames: 20 JPEG frames 80x60 named frame_1.jpg .. frame_20.jpg (natural order)
ff -f lavfi -i "testsrc2=size=80x60:rate=30" -frames:v 20 -q:v 4 -start_number 1 "$D/frames/frame_%d.jpg"
# a folder of 12 PNG frames 48x80 (portrait; lossless: PIL and cv2 read the same pixels)
mkdir -p "$D/frames_png"
ff -f lavfi -i "testsrc2=size=48x80:rate=30" -frames:v 12 -start_number 0 "$D/frames_png/%03d.png"
# ---- bad clips ----
printf 'this is not a video\n' > "$D/bad/text.mp4"
ff -f lavfi -i "testsrc2=size=32x32:rate=1" -frames:v 1 "$D/bad/image.webm.png" && mv "$D/bad/image.webm.png" "$D/bad/image.webm"
# truncated: an mp4 whose index (moov) is at the end, cut in half
ff -f lavfi -i "$(printf "$SRC" 64x64 30)" -frames:v 30 -c:v libx264 -crf 35 "$D/bad/full.mp4"
head -c $(( $(stat -c %s "$D/bad/full.mp4") / 2 )) "$D/bad/full.mp4" > "$D/bad/truncated.mp4"; rm "$D/bad/full.mp4"
# zero frames: an mp4 of no frame (no video stream left), and a webm cut right after its header
ff -f lavfi -i "$(printf "$SRC" 64x64 30)" -frames:v 0 -c:v libx264 "$D/bad/zero_frames.mp4"
ff -f lavfi -i "$(printf "$SRC" 64x64 30)" -frames:v 5 -c:v libvpx-vp9 -crf 50 -b:v 0 "$D/bad/full.webm"
python3 - "$D/bad/full.webm" "$D/bad/zero_frames.webm" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
cluster = b.find(b'\x1f\x43\xb6\x75')  # the first Cluster: everything before it is header
open(sys.argv[2], 'wb').write(b[:cluster])
PY
rm "$D/bad/full.webm"
# a 16384x16384 PNG header (its pixels are never decoded)
python3 - "$D/bad/huge_16k.png" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack('>IIBBBBB', 16384, 16384, 8, 2, 0, 0, 0)
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0' * 64)) + chunk(b'IEND', b''))
PY
mkdir -p "$D/bad/huge_frames" && cp "$D/bad/huge_16k.png" "$D/bad/huge_frames/0001.png" && rm "$D/bad/huge_16k.png"
# a 10-hour duration header: an mp4 whose mvhd/mdhd durations say 36,000 s
ff -f lavfi -i "$(printf "$SRC" 64x64 30)" -frames:v 10 -c:v libx264 -crf 35 "$D/bad/ten_hours.mp4"
python3 - "$D/bad/ten_hours.mp4" <<'PY'
import struct, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
for box in (b'mvhd', b'mdhd'):
    i = b.find(box)
    while i >= 0:
        ver = b[i + 4]
        if ver == 0:
            ts = struct.unpack('>I', b[i + 16:i + 20])[0]
            b[i + 20:i + 24] = struct.pack('>I', 36000 * ts)
        i = b.find(box, i + 4)
# the edit list and tkhd would cap it: patch tkhd (version 0: duration at +24) too
i = b.find(b'tkhd')
if i >= 0 and b[i + 4] == 0:
    mv = b.find(b'mvhd'); ts = struct.unpack('>I', b[mv + 16:mv + 20])[0]
    b[i + 24:i + 28] = struct.pack('>I', 36000 * ts)
open(p, 'wb').write(bytes(b))
PY
du -sh "$D"; ls -la "$D" "$D/bad"
