/**
 * Turns the benchmark's JSON lines into bench/out/results.json, a printed
 * table with ratios against knockd from the same run, docs/benchmarks.png
 * (gnuplot) and docs/benchmarks.md.
 * usage: node dist/bench/report.js RESULTS.jsonl OUTDIR DOCSDIR "machine description"
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

type Row = Record<string, unknown>;
const [jsonl, outDir, docsDir, machine = ''] = process.argv.slice(2) as [
  string,
  string,
  string,
  string?,
];
const rows: Row[] = fs
  .readFileSync(jsonl, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Row);
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(
  path.join(outDir, 'results.json'),
  `${JSON.stringify({ machine, rows }, null, 2)}\n`,
);

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};
const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : 'n/a';
const md: string[] = [];
const say = (s = '') => {
  process.stdout.write(`${s}\n`);
  md.push(s);
};

say('# Benchmarks');
say();
say(
  `Measured by \`bench/run.sh\` on ${new Date().toISOString().slice(0, 10)}: ${machine}. knockd is Debian's knockd 0.8, run in the same namespaces in the same run. Rerun with \`sudo bench/run.sh\` (or \`--quick\`).`,
);
say();
say('![flood success and latency](benchmarks.png)');
say();
{
  // The issue's targets, checked against this run.
  const fl = rows.filter((r) => r.test === 'flood' && r.daemon === 'ours');
  const allIn = fl.length > 0 && fl.every((r) => r.opened === true);
  const drops100k = fl.filter((r) => Number(r.rate) > 0 && Number(r.rate) <= 100_000);
  const maxDrop = Math.max(...drops100k.map((r) => Number(r.dropped ?? 0)));
  const lt = rows.filter((r) => r.test === 'latency');
  const samples = (d: string, m: string) =>
    (
      (lt.find((r) => r.daemon === d && r.mode === m)?.samples as (number | null)[] | undefined) ??
      []
    ).filter((x): x is number => x !== null);
  const nft = samples('ours', 'nft');
  const cmdOurs = pct(samples('ours', 'command'), 50);
  const cmdKnockd = pct(samples('knockd', 'command'), 50);
  const mil = rows.find((r) => r.test === 'million' && r.daemon === 'ours');
  const c = rows.find((r) => r.test === 'core');
  const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
  say('## Targets');
  say();
  say('| target | measured | |');
  say('|---|---|---|');
  say(
    `| legitimate client gets in at every rate, up to the generator's top speed | ${fl.filter((r) => r.opened === true).length} of ${fl.length} trials | ${mark(allIn)} |`,
  );
  say(
    `| capture drops 0 packets up to 100,000 packets/s | at most ${maxDrop} | ${mark(maxDrop === 0)} |`,
  );
  say(
    `| nftables knock-to-open p50 <= 5 ms | ${fmt(pct(nft, 50))} ms | ${mark(pct(nft, 50) <= 5)} |`,
  );
  say(
    `| nftables knock-to-open p99 <= 20 ms | ${fmt(pct(nft, 99))} ms | ${mark(pct(nft, 99) <= 20)} |`,
  );
  say(
    `| knockd-style commands: p50 below knockd's | ${fmt(cmdOurs)} ms vs ${fmt(cmdKnockd)} ms | ${mark(cmdOurs < cmdKnockd)} |`,
  );
  say(
    `| peak RSS <= 150 MB with a million distinct spoofed sources | ${fmt(Number(mil?.peak_rss_kb) / 1024)} MB | ${mark(Number(mil?.peak_rss_kb) / 1024 <= 150)} |`,
  );
  say(
    `| idle RSS <= 60 MB | ${fmt(Number(mil?.idle_rss_kb) / 1024)} MB | ${mark(Number(mil?.idle_rss_kb) / 1024 <= 60)} |`,
  );
  say(
    `| core >= 2,000,000 packets/s from a pcap file | ${Number(c?.pps).toLocaleString('en')} packets/s | ${mark(Number(c?.pps) >= 2_000_000)} |`,
  );
  say();
}
say('## Floods: does the legitimate client get in?');
say();
say(
  '65,536 spoofed sources from 10.99.0.0/16 send SYNs (to the first port of the sequence, or to random ports) for 4 s with tcpreplay; after 1.5 s a legitimate client knocks 7000,8000,9000. "rate 0" is tcpreplay at top speed.',
);
say();
say(
  '| flood | rate asked | sent pps (ours / knockd) | ours opened | knockd opened | ours peak RSS MB | knockd peak RSS MB | ours capture drops | log lines ours / knockd |',
);
say('|---|---|---|---|---|---|---|---|---|');
const floods = rows.filter((r) => r.test === 'flood');
for (const kind of ['first', 'random']) {
  for (const rate of [
    ...new Set(floods.filter((r) => r.kind === kind).map((r) => r.rate as number)),
  ]) {
    const o = floods.find((r) => r.kind === kind && r.rate === rate && r.daemon === 'ours');
    const k = floods.find((r) => r.kind === kind && r.rate === rate && r.daemon === 'knockd');
    say(
      `| ${kind} port | ${rate === 0 ? 'top speed' : rate} | ${fmt(Number(o?.sent_pps), 0)} / ${fmt(Number(k?.sent_pps), 0)} | ${o?.opened ? 'yes' : 'NO'} | ${k?.opened ? 'yes' : 'NO'} | ${fmt(Number(o?.peak_rss_kb) / 1024)} | ${fmt(Number(k?.peak_rss_kb) / 1024)} | ${o?.dropped ?? 'n/a'} | ${o?.log_lines} / ${k?.log_lines} |`,
    );
  }
}
say();
say('## Knock-to-open latency');
say();
say(
  'From the last knock leaving the client to the first successful TCP connect to port 22 (a new connect every millisecond).',
);
say();
say('| daemon | rule change | knocks | failed | p50 ms | p99 ms | p50 vs knockd |');
say('|---|---|---|---|---|---|---|');
const lat = rows.filter((r) => r.test === 'latency');
const ok = (r: Row | undefined) =>
  ((r?.samples as (number | null)[] | undefined) ?? []).filter((x): x is number => x !== null);
const kd = lat.find((r) => r.daemon === 'knockd');
for (const r of lat) {
  const s = ok(r);
  const all = (r.samples as unknown[]).length;
  say(
    `| ${r.daemon} | ${r.mode === 'nft' ? 'nftables grant (Open)' : 'iptables command'} | ${all} | ${all - s.length} | ${fmt(pct(s, 50))} | ${fmt(pct(s, 99))} | ${r.daemon === 'knockd' ? '1.00x' : ratio(pct(s, 50), pct(ok(kd), 50))} |`,
  );
}
say();
say('## Memory');
say();
say('| daemon | idle RSS MB | distinct spoofed sources | peak RSS MB | capture drops |');
say('|---|---|---|---|---|');
for (const r of rows.filter((x) => x.test === 'million')) {
  say(
    `| ${r.daemon} | ${fmt(Number(r.idle_rss_kb) / 1024)} | ${r.sources} | ${fmt(Number(r.peak_rss_kb) / 1024)} | ${r.dropped ?? 'n/a'} |`,
  );
}
const core = rows.find((r) => r.test === 'core');
say();
say('## Core throughput (offline)');
say();
say(
  `${core?.packets} packets from a pcap file (spoofed first knocks from 1,000,000 sources and 2,000 full sequences) decoded and run through the state machine in ${core?.seconds} s: **${Number(core?.pps).toLocaleString('en')} packets/s**, ${core?.opens} opens. knockd cannot read pcap files; tcpdump is the comparison below.`,
);
const coreFlags = rows.find((r) => r.test === 'core-daemon-flags');
if (coreFlags !== undefined) {
  say();
  say(
    `With the V8 flags \`bin/knockd\` runs under (\`--max-semi-space-size=2 --optimize-for-size\`, chosen for bounded memory under floods): ${Number(coreFlags.pps).toLocaleString('en')} packets/s.`,
  );
}
const replays = rows.filter((r) => r.test === 'replay');
if (replays.length > 0) {
  const range = (k: string) => {
    const v = replays.map((r) => Number(r[k]));
    return `${Math.min(...v).toLocaleString('en')}-${Math.max(...v).toLocaleString('en')}`;
  };
  say();
  say(
    `\`knockd -r\` on the same file against \`tcpdump -r -w /dev/null\` with the doors' filter, packets per CPU second over ${replays.length} runs: knockd ${range('knockd_r_pps')}, tcpdump ${range('tcpdump_w_pps')}, ratio ${range('ratio_vs_tcpdump')} (bench/replay.sh).`,
  );
}
say();

// Plot: success per flood rate, and the latency distribution.
const dat = path.join(outDir, 'plot');
fs.mkdirSync(dat, { recursive: true });
for (const name of ['ours', 'knockd']) {
  const pts = floods
    .filter((r) => r.kind === 'first' && r.daemon === name)
    .map((r) => `${Math.max(1, Number(r.sent_pps))} ${r.opened ? 1 : 0}`);
  fs.writeFileSync(path.join(dat, `flood-${name}.dat`), `${pts.join('\n')}\n`);
}
for (const r of lat) {
  const s = ok(r).sort((a, b) => a - b);
  fs.writeFileSync(
    path.join(dat, `lat-${r.daemon}-${r.mode}.dat`),
    `${s.map((x, i) => `${x} ${(i + 1) / s.length}`).join('\n')}\n`,
  );
}
const png = path.join(docsDir, 'benchmarks.png');
const latPlots = lat
  .map(
    (r) =>
      `'${dat}/lat-${r.daemon}-${r.mode}.dat' with steps lw 2 title '${r.daemon === 'ours' ? 'knockd-ts' : 'knockd 0.8'} (${r.mode === 'nft' ? 'nftables grant' : 'iptables command'})'`,
  )
  .join(', ');
const gp = `set terminal pngcairo size 1200,480 font ',10'
set output '${png}'
set multiplot layout 1,2
set title 'Spoofed first-port flood: legitimate client got in?'
set logscale x
set xlabel 'flood packets/s actually sent'
set ylabel 'opened (1) / not (0)'
set yrange [-0.2:1.2]
set ytics ('no' 0, 'yes' 1)
plot '${dat}/flood-ours.dat' with linespoints lw 2 pt 7 title 'knockd-ts', '${dat}/flood-knockd.dat' with linespoints lw 2 pt 5 title 'knockd 0.8'
unset logscale x
set title 'Knock-to-open latency (CDF)'
set xlabel 'ms from last knock to first connect'
set ylabel 'fraction of knocks'
set yrange [0:1.05]
set ytics auto
set key bottom right
plot ${latPlots}
unset multiplot
`;
fs.writeFileSync(path.join(outDir, 'plot.gp'), gp);
execFileSync('gnuplot', [path.join(outDir, 'plot.gp')]);
fs.writeFileSync(path.join(docsDir, 'benchmarks.md'), `${md.join('\n')}\n`);
process.stdout.write(
  `wrote ${png}, ${path.join(docsDir, 'benchmarks.md')}, ${path.join(outDir, 'results.json')}\n`,
);
