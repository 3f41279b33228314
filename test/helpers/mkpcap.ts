/**
 * Writes a pcap file of crafted Ethernet frames for tcpreplay in the e2e
 * tests (e.g. ACK knocks that no client sends).
 * usage: mkpcap OUT DSTMAC SRC>DST:PORT[/udp][/flags=HEX][/vlan=ID] ...
 */
import fs from 'node:fs';
import { frame, pcapFile } from './frames.js';

const [out, mac, ...specs] = process.argv.slice(2);
if (out === undefined || mac === undefined) {
  process.stderr.write('usage: mkpcap OUT DSTMAC SRC>DST:PORT[/udp][/flags=HEX] ...\n');
  process.exit(64);
}
const macBytes = mac.split(':').map((h) => parseInt(h, 16));
const packets = specs.map((s, i) => {
  const m = /^(.+)>(.+):(\d+)((?:\/[^/]+)*)$/.exec(s);
  if (m === null) throw new Error(`bad spec ${s}`);
  const opts = (m[4] ?? '').split('/').filter(Boolean);
  const udp = opts.includes('udp');
  const flagsOpt = opts.find((o) => o.startsWith('flags='));
  const vlanOpt = opts.find((o) => o.startsWith('vlan='));
  const f = frame({
    src: m[1]!,
    dst: m[2]!,
    dport: Number(m[3]),
    proto: udp ? 'udp' : 'tcp',
    flags: flagsOpt === undefined ? 0x02 : parseInt(flagsOpt.slice(6), 16),
    sport: 40000 + i,
    ...(vlanOpt === undefined ? {} : { vlan: Number(vlanOpt.slice(5)) }),
  });
  f.set(macBytes, 0);
  return { tsMs: i, data: f };
});
fs.writeFileSync(out, pcapFile(1, packets));
