#!/bin/sh
# gm_resize.sh CHECK_SAME PRELOAD DROPIN_DIR: GraphicsMagick's OpenMP resize
# (`gm convert -resize`, Debian's graphicsmagick, linked against libgomp)
# writes byte-identical output on libgomp, under LD_PRELOAD and through
# the drop-in libgomp.so.1. The input is a swirled gradient made by gm
# itself (deterministic, no image file in the repository).
set -u
gm=/usr/bin/gm
if [ ! -x $gm ]; then
  echo "SKIPPED: $gm not installed (apt-get install graphicsmagick; see docs/omp.md)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$gm convert -size 700x500 'gradient:#102030-#f0e0d0' -swirl 120 "$tmp/in.ppm" ||
  exit 1
sh "$1" gm-resize "$2" "$3" $gm $gm convert "$tmp/in.ppm" -resize 1333x947 'ppm:@OUT@'
