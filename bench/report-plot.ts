/**
 * docs/benchmarks.png with gnuplot, four panels from one run: flood success
 * by rate, the latency distributions, throughput on the benchmark pcap file
 * (our core and `knockd -r` against `tcpdump -r`), and memory against
 * knockd and against an idle Node program.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Row } from './report.js';

export function plot(
  rows: Row[],
  floods: Row[],
  lat: Row[],
  ok: (r: Row | undefined) => number[],
  how: (r: Row) => string,
  outDir: string,
  docsDir: string,
): void {
  const dat = path.join(outDir, 'plot');
  fs.mkdirSync(dat, { recursive: true });
  const write = (name: string, lines: string[]) =>
    fs.writeFileSync(path.join(dat, name), `${lines.join('\n')}\n`);
  for (const name of ['ours', 'knockd'])
    write(
      `flood-${name}.dat`,
      floods
        .filter((r) => r.kind === 'first' && r.daemon === name)
        .map((r) => `${Math.max(1, Number(r.sent_pps))} ${r.opened ? 1 : 0}`),
    );
  for (const r of lat) {
    const s = ok(r).sort((a, b) => a - b);
    write(
      `lat-${r.daemon}-${r.mode}.dat`,
      s.map((x, i) => `${x} ${(i + 1) / s.length}`),
    );
  }
  // Throughput: the best run of each, in millions of packets per CPU second.
  const best = (xs: number[]) => (xs.length === 0 ? 0 : Math.max(...xs) / 1e6);
  const replays = rows.filter((r) => r.test === 'replay');
  const core = rows.find((r) => r.test === 'core');
  write('rate.dat', [
    `"tcpdump -r" ${best(replays.map((r) => Number(r.tcpdump_w_pps)))}`,
    `"knockd-ts core" ${Number(core?.pps ?? 0) / 1e6}`,
    `"knockd -r" ${best(replays.map((r) => Number(r.knockd_r_pps)))}`,
  ]);
  // Memory: idle and peak (a million spoofed sources), MB.
  const mil = (d: string) => rows.find((r) => r.test === 'million' && r.daemon === d);
  const esm = rows.find((r) => r.test === 'node-floor' && r.kind === 'esm');
  const mb = (kb: unknown) => Number(kb ?? 0) / 1024;
  write('mem.dat', [
    `"knockd 0.8" ${mb(mil('knockd')?.idle_rss_kb)} ${mb(mil('knockd')?.peak_rss_kb)}`,
    `"knockd-ts" ${mb(mil('ours')?.idle_rss_kb)} ${mb(mil('ours')?.peak_rss_kb)}`,
    `"empty ES module" ${mb(esm?.rss_kb)} ${mb(esm?.rss_kb)}`,
  ]);
  const png = path.join(docsDir, 'benchmarks.png');
  const label = (r: Row) =>
    r.daemon === 'ours' ? 'knockd-ts' : r.daemon === 'fwknopd' ? 'fwknopd 2.6.10' : 'knockd 0.8';
  const latPlots = lat
    .map(
      (r) =>
        `'${dat}/lat-${r.daemon}-${r.mode}.dat' with steps lw 2 title '${label(r)} (${how(r)})'`,
    )
    .join(', ');
  const gp = `set terminal pngcairo size 1200,900 font ',10'
set output '${png}'
set multiplot layout 2,2
set title 'Spoofed first-port flood: legitimate client got in?'
set logscale x
set xlabel 'flood packets/s actually sent'
set ylabel 'opened (1) / not (0)'
set yrange [-0.2:1.2]
set ytics ('no' 0, 'yes' 1)
plot '${dat}/flood-ours.dat' with linespoints lw 2 pt 7 title 'knockd-ts', '${dat}/flood-knockd.dat' with linespoints lw 2 pt 5 title 'knockd 0.8'
unset logscale x
set title 'Knock-to-open and SPA-to-open latency (CDF)'
set logscale x
set xlabel 'ms from last knock (or SPA packet) to first connect, log scale'
set ylabel 'fraction of knocks'
set yrange [0:1.05]
set ytics auto
set key bottom right
plot ${latPlots}
unset logscale x
set title 'The benchmark pcap file (2 M knock candidates)'
set style data histograms
set style fill solid 0.7 border -1
set boxwidth 0.6
set xlabel ''
set ylabel 'million packets per CPU second'
set yrange [0:*]
set key off
plot '${dat}/rate.dat' using 2:xtic(1) lc rgb '#4477aa'
set title 'Resident memory (MB): idle, and peak with a million spoofed sources'
set style histogram clustered gap 1
set ylabel 'MB'
set key top left
plot '${dat}/mem.dat' using 2:xtic(1) title 'idle' lc rgb '#66ccee', '' using 3 title 'peak' lc rgb '#ee6677'
unset multiplot
`;
  fs.writeFileSync(path.join(outDir, 'plot.gp'), gp);
  execFileSync('gnuplot', [path.join(outDir, 'plot.gp')]);
}
