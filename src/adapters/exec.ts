/** Runs a program with an argv array (never a shell), optional stdin, and a time limit. */
import { spawn } from 'node:child_process';
import { KnockError } from '../core/errors.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function execArgv(
  file: string,
  args: readonly string[],
  input?: string,
  timeoutMs = 10_000,
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: stderr + e.message }));
    child.on('close', (code) => resolve({ code: code ?? 128, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

export type Exec = (file: string, args: readonly string[], input?: string) => Promise<ExecResult>;

/** A firewall tool's failure, with what it printed. */
export function failed(what: string, r: ExecResult): KnockError {
  return new KnockError(
    'E_FIREWALL',
    `${what} failed (status ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`,
  );
}
