#!/usr/bin/env bash
# Turns a load-test results folder (requests.csv, events.csv, percentiles.csv, phases.csv)
# into SVG charts with gnuplot: throughput.svg, latency.svg, percentiles.svg, events.svg.
#
#   usage: bash benchmarks/LoadTest/plot.sh RESULTS_DIR [OUT_DIR] [TITLE]
#
# OUT_DIR defaults to RESULTS_DIR; TITLE (shown in chart titles) to RESULTS_DIR's basename.
# PLOT_FORMAT=png writes PNGs (pngcairo) instead, handy where no SVG viewer is at hand.
set -euo pipefail

die() { echo "plot.sh: $*" >&2; exit 1; }
[[ $# -ge 1 && $# -le 3 ]] || die "usage: bash benchmarks/LoadTest/plot.sh RESULTS_DIR [OUT_DIR] [TITLE]"
in=${1%/}; out=${2:-$in}
[[ -d $in ]] || die "results folder '$in' does not exist"
[[ -f $in/requests.csv ]] || die "'$in' has no requests.csv; is it a load-test results folder?"
command -v gnuplot >/dev/null || die "gnuplot is not installed; install it with: apt-get install -y gnuplot-nox"
title=${3:-$(basename "$(cd "$in" && pwd)")}
mkdir -p "$out" || die "cannot create output folder '$out'"
case ${PLOT_FORMAT:-svg} in
  svg) ext=svg; term="svg size 900,420 font 'sans-serif,12' background rgb 'white'" ;;
  png) ext=png; term="pngcairo size 900,420 font 'sans,10' background rgb 'white'" ;;
  *) die "PLOT_FORMAT must be svg or png" ;;
esac
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
q() { printf "'%s'" "${1//\'/\'\'}"; }   # quotes a string for gnuplot ('' escapes ')

# requests.csv -> one space-separated file per kind (second requests errors p50 p99), with a
# zero row for each second where the kind had no requests; prints the kinds and max errors/s of all.
mapfile -t kinds < <(awk -F, -v dir="$tmp" '
  { sub(/\r$/, "") }
  NR > 1 && NF >= 6 { s = $1 + 0; k = $2; if (!(k in seen)) { seen[k]; order[++n] = k }
    row[s, k] = $3 " " $4 " " $5 " " $6; if (k == "all" && $4 > maxerr) maxerr = $4 + 0
    if (!started) { lo = hi = s; started = 1 } if (s < lo) lo = s; if (s > hi) hi = s }
  END { for (i = 1; i <= n; i++) { k = order[i]; f = dir "/k_" k ".dat"
      for (s = lo; s <= hi; s++) print s, ((s, k) in row ? row[s, k] : "0 0 NaN NaN") > f
      close(f); print k }
    print "maxerr=" (maxerr + 0) }' "$in/requests.csv")
maxerr=${kinds[-1]#maxerr=}; unset "kinds[-1]"
[[ -f $tmp/k_all.dat ]] || die "requests.csv has no rows for kind 'all'"

# Throughput plot clause: known kinds in a fixed order and colour, any others in grey, then all and errors.
declare -A colour=([Availability]='#1f77b4' [Book]='#ff7f0e' [List]='#2ca02c' [QueueIssue]='#9467bd'
  [QueueCallNext]='#8c564b' [QueueSnapshot]='#e377c2' [Login]='#17becf')
ordered=(Availability Book List QueueIssue QueueCallNext QueueSnapshot Login)
for k in "${kinds[@]}"; do [[ $k == all || -v colour[$k] ]] || { ordered+=("$k"); colour[$k]='#7f7f7f'; }; done
series=""
for k in "${ordered[@]}"; do
  [[ -f $tmp/k_$k.dat ]] && series+="$(q "$tmp/k_$k.dat") using 1:2 with lines lw 1.5 lc rgb '${colour[$k]}' title $(q "$k"), "
done
series+="$(q "$tmp/k_all.dat") using 1:2 with lines lw 3 lc rgb 'black' title 'all', "
series+="'' using 1:3 axes x1y2 with lines lw 2 dt 2 lc rgb '#d62728' title"

# phases.csv -> a shaded band over each 'down' phase and a dashed line at each phase start, running up
# into the top margin where the phase names sit, alternating between two rows so neighbours don't collide.
awk -F, '{ sub(/\r$/, "") } NR > 1 && NF >= 3 { gsub(/\047/, "\047\047", $1); y = (n++ % 2) ? 2.0 : 0.7
    if ($1 ~ /down/) printf "set object rect from %s, graph 0 to %s, graph 1 fc rgb \"#f4c7c3\" fs solid 0.5 noborder behind\n", $2, $3
    printf "set arrow from %s, graph 0 to %s, graph 1 nohead dt 2 lc rgb \"#666666\" front\n", $2, $2
    printf "set arrow from %s, graph 1 rto first 0, character %s nohead dt 2 lc rgb \"#666666\"\n", $2, y + 0.5
    printf "set label \047%s\047 at %s, graph 1 left offset 0.4,%s font \",10\" tc rgb \"#333333\"\n", $1, $2, y }
  END { if (n) print "set tmargin 5; set title offset 0,2.2" }' "$in/phases.csv" 2>/dev/null > "$tmp/phases.gp" || true

# percentiles.csv -> rows without NaN (kind p50 p95 p99), and a log-axis range around their values.
awk -F, '{ sub(/\r$/, "") } NR > 1 && NF >= 4 && $0 !~ /NaN/ { print $1, $2, $3, $4 }' \
  "$in/percentiles.csv" 2>/dev/null > "$tmp/pct.dat" || true
prange=$(awk '{ for (i = 2; i <= 4; i++) if ($i > 0) { if (!lo || $i < lo) lo = $i; if ($i > hi) hi = $i } }
  END { printf "[10**floor(log10(%g)):%g]", (lo ? lo / 2 : 1), (hi ? hi * 1.5 : 10) }' "$tmp/pct.dat")
# events.csv -> space separated data rows (second events p50 p99).
awk -F, '{ sub(/\r$/, "") } NR > 1 && NF >= 4 { print $1, $2, $3, $4 }' "$in/events.csv" 2>/dev/null > "$tmp/events.dat" || true
has() { [[ -s $1 ]] && echo 1 || echo 0; }
(( maxerr > 0 )) && errtitle='errors/s (all)' || errtitle='errors/s (all): 0'

gnuplot <<EOF
set terminal $term noenhanced
set encoding utf8
set grid lc rgb '#dddddd'; set border lc rgb '#555555'
# The same plot area in every chart, so that the time axes line up; the key right of the right axis.
set lmargin at screen 0.09; set rmargin at screen 0.75; set key at screen 0.84, graph 1 left top Left reverse samplen 2
set autoscale xfix; set xlabel 'seconds into the measured window'
stats $(q "$tmp/k_all.dat") using 1 nooutput; if (STATS_max - STATS_min <= 12) { set xtics 1 }   # whole seconds on short runs
set ytics nomirror; set y2tics; log125 = '(0.2, 0.5, 2, 5, 20, 50, 200, 500, 2000, 5000, 20000, 50000, 200000)'
load $(q "$tmp/phases.gp")

set output $(q "$out/throughput.$ext")
set title $(q "$title: requests per second")
set ylabel 'requests / s'; set yrange [0:*]
set y2label 'errors / s' tc rgb '#d62728'; set y2range [0:($maxerr > 0 ? $maxerr * 1.1 : 1)]; set y2tics tc rgb '#d62728'
plot $series $(q "$errtitle")

set output $(q "$out/latency.$ext")
set title $(q "$title: latency of all requests (ms, log scale)")
unset y2label; unset y2tics; set ytics mirror; set autoscale y
set ylabel 'latency (ms)'; set logscale y; set format y '%g'; set ytics add @log125
plot $(q "$tmp/k_all.dat") using 1:(\$2 > 0 ? \$4 : NaN) with lines lw 2 lc rgb '#1f77b4' title 'p50', \
     '' using 1:(\$2 > 0 ? \$5 : NaN) with lines lw 2 lc rgb '#d62728' title 'p99'

if ($(has "$tmp/events.dat")) {
  set output $(q "$out/events.$ext")
  set title $(q "$title: Server-Sent Events delivered")
  unset logscale y; set ytics nomirror autofreq; set ylabel 'events / s'; set yrange [0:*]
  set y2tics tc default; set y2label 'delivery latency (ms)' tc default; set y2range [0:*]
  set style fill transparent solid 0.45 noborder; set boxwidth 0.9 relative
  plot $(q "$tmp/events.dat") using 1:2 with boxes lc rgb '#9ecae1' title 'events/s', \
       '' using 1:3 axes x1y2 with lines lw 2 lc rgb '#1f77b4' title 'p50 latency', \
       '' using 1:4 axes x1y2 with lines lw 2 lc rgb '#d62728' title 'p99 latency'
}

if ($(has "$tmp/pct.dat")) {
  set output $(q "$out/percentiles.$ext")
  set title $(q "$title: latency percentiles per kind (ms, log scale)")
  unset object; unset arrow; unset label; unset xlabel; unset y2label; unset y2tics; set grid noxtics
  set tmargin -1; set title offset 0,0; set rmargin at screen 0.86; set key at screen 0.88, graph 1   # no time axis here
  set ylabel 'latency (ms)'; set logscale y; set yrange $prange; set ytics mirror autofreq; set ytics add @log125
  set style data histograms; set style histogram clustered gap 1
  set style fill solid 0.85 border rgb '#555555'; set boxwidth 0.9; set xtics nomirror rotate by -20 scale 0
  plot $(q "$tmp/pct.dat") using 2:xtic(1) lc rgb '#9ecae1' title 'p50', '' using 3 lc rgb '#3182bd' title 'p95', \
       '' using 4 lc rgb '#08306b' title 'p99'
}
EOF

# Print the charts written, and say why any is missing.
echo "$out/throughput.$ext"; echo "$out/latency.$ext"
[[ -s $tmp/events.dat ]] && echo "$out/events.$ext" || echo "plot.sh: no data rows in events.csv; no events.$ext" >&2
[[ -s $tmp/pct.dat ]] && echo "$out/percentiles.$ext" || echo "plot.sh: no usable rows in percentiles.csv; no percentiles.$ext" >&2
